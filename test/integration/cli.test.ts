/**
 * The real `siphon` CLI from dist/ (built by `npm test`; here only when missing): check, --help, --version, and start/stop
 * with SIGTERM. The started node's port from freePort(); the checked config's 15220 is parsed, never bound.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import dgram from 'node:dgram';
import path from 'node:path';
import { once } from 'node:events';
import { freePort } from '../helpers/ports.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'dist/host/cli/siphon.js');

async function siphon(args: string[]): Promise<{ code: number; out: string }> {
  return run(process.execPath, [BIN, ...args], { cwd: ROOT, timeout: 30_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, out: `${stdout}${stderr}` }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: `${e.stdout}${e.stderr}` }),
  );
}

beforeAll(async () => {
  // `npm test` builds dist/ before vitest starts. Rebuilding it here raced with the other worker's
  // suites spawning dist/host/cli/siphon.js (half-written modules: "does not provide an export
  // named ..."), so only a missing build is made (vitest run straight after a clone).
  if (!existsSync(BIN)) await run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, timeout: 120_000 });
  await run(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), 'hello'], { cwd: ROOT, timeout: 60_000 });
}, 180_000);

describe('siphon check', () => {
  it('exits non-zero naming file:line:col of a typo', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'siphon-check-'));
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'core:\n  listen:\n    - udp:127.0.0.1:15220\n  lsten: 3\nrouting:\n  plugin: hello\n');
    const r = await siphon(['check', '-c', file]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`${file}:4:3: unknown key 'lsten' in core (did you mean 'listen'?)`);
  });

  it('exits non-zero when the plugin cannot be loaded', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'siphon-check-'));
    const file = path.join(dir, 'nop.yaml');
    writeFileSync(file, 'routing:\n  plugin: ./missing.wasm\n');
    const r = await siphon(['check', '-c', file]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/missing\.wasm.*E4001/);
  });

  it('exits 0 for a valid config with a loadable plugin', async () => {
    const r = await siphon(['check', '-c', 'config/siphon.yaml', '--plugin', 'hello']);
    expect(r.out).toMatch(/config OK; plugin hello@/);
    expect(r.code).toBe(0);
  });

  it('a bad --listen is E3001', async () => {
    const r = await siphon(['check', '--listen', 'udp:nowhere', '--plugin', 'hello']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/command line --listen: 'udp:nowhere'.*E3001/);
  });
});

describe('siphon --help / --version / unknown', () => {
  it('--version prints the package version', async () => {
    const r = await siphon(['--version']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^siphon \d+\.\d+\.\d+/);
  });
  it('--help lists the commands', async () => {
    const r = await siphon(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['start', 'check', 'rpc']) expect(r.out).toContain(`  ${c}`);
  });
  it('an unknown command exits 2', async () => {
    const r = await siphon(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/unknown command 'frobnicate'.*E1010/);
  });
});

describe('siphon start', () => {
  it('serves, logs JSON lines with the Call-ID, and exits 0 on SIGTERM', async () => {
    const port = await freePort('udp');
    const proc = spawn(process.execPath, [BIN, 'start', '--plugin', 'hello', '--listen', `udp:127.0.0.1:${port}`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      const lp = sock.address().port;
      let reply: string | null = null;
      sock.on('message', (m) => (reply = m.toString()));
      // the node answers once it has logged 'siphon started' (after its warm-up; seconds on a loaded machine)
      await new Promise<void>((resolve, reject) => {
        const check = () => { if (out.includes('siphon started')) resolve(); };
        proc.stdout.on('data', check);
        proc.once('exit', (code) => reject(new Error(`siphon exited ${code} before starting: ${out}`)));
        check();
      });
      const msg = `OPTIONS sip:x@127.0.0.1:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${lp};branch=z9hG4bK-cli;rport\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: cli-start-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;
      for (let i = 0; i < 50 && reply === null; i++) {
        sock.send(msg, port, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 100));
      }
      sock.close();
      expect(reply).toMatch(/^SIP\/2\.0 501 Not Implemented/);
      proc.kill('SIGTERM');
      const [code] = await once(proc, 'exit');
      expect(code).toBe(0);
      const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.some((l) => l.msg === 'siphon started')).toBe(true);
      expect(lines.some((l) => l.callid === 'cli-start-1' && String(l.msg).includes('I got a message'))).toBe(true);
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
  }, 60_000);
});
