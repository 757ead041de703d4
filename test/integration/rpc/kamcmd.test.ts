/**
 * The stock kamcmd (Debian kamailio 5.6.3) against siphon's BINRPC listener: one-shot calls, structs,
 * faults, interactive mode, and the socket's permissions.
 */
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../helpers/ports.js';
import { startFixture, type Fixture } from './fixture.js';

const KAMCMD = '/usr/sbin/kamcmd';

function kamcmd(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(KAMCMD, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

describe('kamcmd against the BINRPC unix socket', () => {
  let fx: Fixture;
  /** the fixture's BINRPC TCP and UDP listeners */
  let tcpPort = 0;
  let udpPort = 0;
  let sock: string;
  beforeAll(async () => {
    [tcpPort, udpPort] = [await freePort('tcp'), await freePort('udp')];
    fx = await startFixture({ tcp: tcpPort, udp: udpPort });
    sock = `unixs:${fx.socketPath}`;
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('creates the control socket with mode 0600', async () => {
    const st = await stat(fx.socketPath);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
  });

  it('core.uptime prints the Kamailio structure', async () => {
    const r = await kamcmd(['-s', sock, 'core.uptime']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('{');
    expect(lines[1]).toMatch(/^\tnow: \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
    expect(lines[2]).toMatch(/^\tup_since: \w{3} \w{3} /);
    const uptime = Number(/^\tuptime: (\d+)$/.exec(lines[3]!)?.[1]);
    expect(uptime).toBeGreaterThanOrEqual(42);
    expect(uptime).toBeLessThan(600);
    expect(lines[4]).toBe('}');
  });

  it('system.listMethods lists every registered method, one per line', async () => {
    const r = await kamcmd(['-s', sock, 'system.listMethods']);
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toEqual(fx.registry.list());
  });

  it('the "ls" alias and unix: prefix work too', async () => {
    const r = await kamcmd(['-s', `unix:${fx.socketPath}`, 'ls']);
    expect(r.stdout).toContain('core.uptime\n');
  });

  it('prints nested structs and arrays (arrays inside structs sent as ctl does)', async () => {
    const r = await kamcmd(['-s', sock, 'test.dump']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('\tname: set-1\n');
    expect(r.stdout).toContain('\tcount: 2\n');
    expect(r.stdout).toContain('\tratio: 0.250000\n');
    expect(r.stdout).toContain('\tbig: 5000000000\n'); // integral doubles print without decimals
    expect(r.stdout).toContain('\tnegative: -17\n');
    expect(r.stdout).toContain('\t\turi: sip:a@127.0.0.1\n');
    expect(r.stdout).toContain('\t\turi: sip:b@127.0.0.1\n');
    expect(r.stdout).toContain('\tenabled: 1\n');
    expect(r.stdout).toMatch(/tags: \{\n\t*x\n\t*y\n/);
  });

  it('sends string and int arguments (core.echo) and honours s:', async () => {
    const r = await kamcmd(['-s', sock, 'core.echo', 'hello', '42', 's:7']);
    expect(r.stdout).toBe('hello\n42\n7\n');
  });

  it('a fault is printed as "error: code - message"', async () => {
    const r = await kamcmd(['-s', sock, 'test.fail']);
    expect(r.stdout).toBe('error: 500 - reload failed: table missing\n');
    const missing = await kamcmd(['-s', sock, 'no.such']);
    expect(missing.stdout).toBe('error: 404 - command no.such not found\n');
  });

  it('stats.get_statistics all / group: / name', async () => {
    const all = await kamcmd(['-s', sock, 'stats.get_statistics', 'all']);
    expect(all.stdout).toBe('secfilter:blocked = 3\nsecfilter:allowed = 7\n');
    const one = await kamcmd(['-s', sock, 'stats.get_statistics', 'allowed']);
    expect(one.stdout).toBe('secfilter:allowed = 7\n');
  });

  it('a reply larger than kamcmd buffers is refused with a fault, a big one within it passes', async () => {
    const ok = await kamcmd(['-s', sock, 'test.big', '1000']);
    expect(ok.stdout.split('\n').length).toBe(1001);
    const tooBig = await kamcmd(['-s', sock, 'test.big', '2000']);
    expect(tooBig.stdout).toBe('error: 500 - reply too big\n');
  });

  it('works over the loopback TCP and UDP listeners', async () => {
    const tcp = await kamcmd(['-s', `tcp:127.0.0.1:${tcpPort}`, 'core.version']);
    expect(tcp.stdout).toMatch(/^siphon 0\.1\.0 \(/);
    const udp = await kamcmd(['-s', `udp:127.0.0.1:${udpPort}`, 'core.uptime']);
    expect(udp.stdout).toMatch(/^\{\n\tnow: .*\n\tup_since: .*\n\tuptime: \d+\n\}\n$/);
  });

  it('interactive mode runs several commands on one connection', async () => {
    const r = await kamcmd(['-s', sock], 'core.version\ncore.echo abc\ntest.fail\nquit\n');
    expect(r.stdout).toContain('siphon 0.1.0');
    expect(r.stdout).toContain('abc');
    expect(r.stdout).toContain('error: 500 - reload failed: table missing');
  });
});
