/**
 * Listener safety: loopback only by default, stale/live unix sockets, clean close. The busy port is one
 * a blocker bound on port 0; the non-loopback addresses (17041) are refused before any bind.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSiphonError } from '../../../host/errors/registry.js';
import { BinrpcServer } from '../../../host/rpc/binrpc.js';
import { startControlPlane } from '../../../host/rpc/control-plane.js';
import { MethodRegistry } from '../../../host/rpc/registry.js';

describe('control listeners', () => {
  let dir: string;
  const registry = new MethodRegistry();
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'siphon-rpc-listen-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses non-loopback TCP/UDP BINRPC and HTTP addresses by default', async () => {
    const server = new BinrpcServer({ registry });
    for (const a of ['tcp:0.0.0.0:17041', 'udp:*:17041', 'tcp:[::]:17041', 'tcp:192.0.2.1:17041']) {
      await expect(server.listen(a), a).rejects.toSatisfy((e) => isSiphonError(e, 'RPC_NON_LOOPBACK'));
    }
    await server.close();
    await expect(
      startControlPlane({ registry, ctl: [], http: { host: '0.0.0.0', port: 0 } }),
    ).rejects.toSatisfy((e) => isSiphonError(e, 'RPC_NON_LOOPBACK'));
  });

  it('reports a busy port as RPC_BIND and closes what it had opened', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const busy = (blocker.address() as AddressInfo).port;
    try {
      const sock = join(dir, 'partial_ctl');
      await expect(
        startControlPlane({ registry, ctl: [`unix:${sock}`, `tcp:127.0.0.1:${busy}`], http: null }),
      ).rejects.toSatisfy((e) => isSiphonError(e, 'RPC_BIND'));
      await expect(stat(sock)).rejects.toThrow(); // the unix socket opened first was removed again
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });

  it('replaces a stale socket file, refuses to steal a live one, leaves other files alone', async () => {
    const path = join(dir, 'sub', 'siphon_ctl');
    const first = await startControlPlane({ registry, ctl: [path], http: null });
    expect(first.ctlAddresses).toEqual([`unix:${path}`]);
    expect((await stat(join(dir, 'sub'))).mode & 0o777).toBe(0o700);
    await expect(startControlPlane({ registry, ctl: [path], http: null })).rejects.toSatisfy((e) =>
      isSiphonError(e, 'RPC_BIND'),
    );
    // a crashed server: a child process listens, then dies by SIGKILL and leaves its socket file behind
    const stalePath = join(dir, 'stale_ctl');
    const child = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(stalePath)}, () => console.log('ready'))`,
    ]);
    await new Promise<void>((r) => child.stdout.once('data', () => r()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await exited;
    expect((await stat(stalePath)).isSocket()).toBe(true);
    const second = await startControlPlane({ registry, ctl: [stalePath], http: null });
    expect((await stat(stalePath)).isSocket()).toBe(true);
    await second.close();
    await first.close();
    await expect(stat(path)).rejects.toThrow(); // close() unlinks the socket

    const plain = join(dir, 'not-a-socket');
    await writeFile(plain, 'data');
    await expect(startControlPlane({ registry, ctl: [plain], http: null })).rejects.toSatisfy((e) =>
      isSiphonError(e, 'RPC_BIND'),
    );
  });
});
