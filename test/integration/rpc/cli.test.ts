/** `siphon rpc` (host/cli/commands/rpc.ts run()) in-process against a live BINRPC listener. */
import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRpcArg, run, type RpcCommandIo } from '../../../host/cli/commands/rpc.js';
import { BinrpcClient } from '../../../host/rpc/binrpc-client.js';
import { RpcFault } from '../../../host/rpc/types.js';
import { freePort } from '../../helpers/ports.js';
import { startFixture, type Fixture } from './fixture.js';

function io(input = ''): { io: RpcCommandIo; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let o = '';
  let e = '';
  stdout.on('data', (d: Buffer) => (o += d.toString()));
  stderr.on('data', (d: Buffer) => (e += d.toString()));
  const stdin = new PassThrough();
  stdin.end(input);
  return { io: { stdout, stderr, stdin, terminal: false, historyFile: null, env: {} }, out: () => o, err: () => e };
}

describe('siphon rpc', () => {
  let fx: Fixture;
  let ctl: string;
  /** the fixture's BINRPC UDP listener */
  let udpPort = 0;
  beforeAll(async () => {
    udpPort = await freePort('udp');
    fx = await startFixture({ udp: udpPort });
    ctl = `unix:${fx.socketPath}`;
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('types arguments like kamcmd', () => {
    expect(parseRpcArg('42')).toBe(42);
    expect(parseRpcArg('-7')).toBe(-7);
    expect(parseRpcArg('1.5')).toBe(1.5);
    expect(parseRpcArg('s:42')).toBe('42');
    expect(parseRpcArg('alice')).toBe('alice');
    expect(parseRpcArg('sip:alice@example.com')).toBe('sip:alice@example.com');
  });

  it('prints a struct reply like kamcmd and exits 0', async () => {
    const t = io();
    expect(await run(['--ctl', ctl, 'core.uptime'], t.io)).toBe(0);
    expect(t.out()).toMatch(/^\{\n\tnow: .+\n\tup_since: .+\n\tuptime: \d+\n\}\n$/);
  });

  it('prints nested values readably and as JSON with --json', async () => {
    const t = io();
    expect(await run(['-s', ctl, 'test.dump'], t.io)).toBe(0);
    expect(t.out()).toContain('\ttargets: [\n\t\t{\n\t\t\turi: sip:a@127.0.0.1\n');
    expect(t.out()).toContain('\tratio: 0.250000\n');
    const j = io();
    expect(await run(['--json', `--ctl=${ctl}`, 'core.echo', 'a', '5', 's:5'], j.io)).toBe(0);
    expect(JSON.parse(j.out())).toEqual(['a', 5, '5']);
  });

  it('exits non-zero on a fault and prints it like kamcmd', async () => {
    const t = io();
    expect(await run(['--ctl', ctl, 'test.fail'], t.io)).toBe(1);
    expect(t.out()).toBe('error: 500 - reload failed: table missing\n');
    const u = io();
    expect(await run(['--ctl', ctl, 'no.such'], u.io)).toBe(1);
  });

  it('uses the default socket rule ($SIPHON_CTL) and the kamcmd aliases', async () => {
    const t = io();
    t.io.env = { SIPHON_CTL: ctl };
    expect(await run(['ls'], t.io)).toBe(0);
    expect(t.out().trimEnd().split('\n')).toEqual(fx.registry.list());
  });

  it('works over UDP too', async () => {
    const t = io();
    expect(await run(['--ctl', `udp:127.0.0.1:${udpPort}`, 'core.version'], t.io)).toBe(0);
    expect(t.out()).toMatch(/^siphon 0\.1\.0/);
  });

  it('exits 2 when the socket is unreachable or the usage is wrong', async () => {
    const t = io();
    expect(await run(['--ctl', `unix:${fx.dir}/missing`, 'core.uptime'], t.io)).toBe(2);
    expect(t.err()).toMatch(/cannot connect/);
    const u = io();
    expect(await run(['--bogus'], u.io)).toBe(2);
  });

  it('interactive mode reads commands until quit', async () => {
    const t = io('core.echo hi\nhelp core.uptime\n\ntest.fail\nls\nquit\ncore.echo never\n');
    expect(await run(['--ctl', ctl], t.io)).toBe(0);
    const out = t.out();
    expect(out).toContain('hi\n');
    expect(out).toContain('Returns uptime statistics.\n');
    expect(out).toContain('error: 500 - reload failed: table missing\n');
    expect(out).toContain('core.uptime\n');
    expect(out).not.toContain('never');
  });

  it('the client decodes big replies and keeps order on one connection', async () => {
    const c = await BinrpcClient.connect(ctl);
    try {
      const [a, b, big] = await Promise.all([c.call('core.echo', ['1']), c.call('core.echo', ['2']), c.call('test.big', [1000])]);
      expect(a).toEqual(['1']);
      expect(b).toEqual(['2']);
      expect(big).toHaveLength(1000);
      await expect(c.call('test.fail')).rejects.toBeInstanceOf(RpcFault);
    } finally {
      await c.close();
    }
  });

  it('drops a connection that sends garbage or an oversized request, and keeps serving others', async () => {
    const closedAfter = (bytes: Buffer): Promise<Buffer> =>
      new Promise((resolve) => {
        const sock = connect(fx.socketPath);
        const got: Buffer[] = [];
        sock.on('data', (d: Buffer) => got.push(d));
        sock.on('close', () => resolve(Buffer.concat(got)));
        sock.write(bytes);
      });
    expect((await closedAfter(Buffer.from('GET / HTTP/1.0\r\n\r\n'))).length).toBe(0);
    // header announcing a 1 MiB body: answered with a fault, then closed
    const reply = await closedAfter(Buffer.from([0xa1, 0x08, 0x10, 0x00, 0x00, 0x07]));
    const { decodePacket } = await import('../../../host/rpc/binrpc-codec.js');
    expect(decodePacket(reply)!.values).toEqual([400, 'request too big']);
    const t = io();
    expect(await run(['--ctl', ctl, 'core.echo', 'still-alive'], t.io)).toBe(0);
    expect(t.out()).toBe('still-alive\n');
  });
});
