/**
 * End to end, hot swap under load: the real `siphon start` (dist/) serves two SIPp UACs at once while
 * the real `siphon plugin deploy` swaps between two builds of one plugin ten times:
 *   - OPTIONS answered by the plugin itself (stateless, sl_reply), 300/s;
 *   - INVITE calls relayed statefully (record_route + t_relay) to a SIPp UAS that holds each INVITE
 *     transaction 1.5 s between its 180 and its 200, 30/s, so every swap happens while transactions
 *     are pinned to the old version (host/wasm/manager.ts pinning; plugin.list counts the pins).
 * A lost request cannot be hidden by a retransmission: every SIPp runs with -nr (no UDP
 * retransmissions), so a request or reply lost during a swap leaves its call waiting until
 * -recv_timeout and it counts as failed. The test asserts, by counters only: each of the ten swaps
 * found INVITE transactions in flight on the old version; every call of both UACs completed and the
 * UAS completed exactly as many calls as the INVITE UAC created (each INVITE, ACK and BYE arrived) —
 * except for as many calls as the kernel dropped datagrams on the test's sockets (/proc/net/udp
 * drops: a receive buffer overflowing on a loaded machine), which siphon never saw;
 * a probe after each deploy sees the new build's header; broken builds (one that does not compile, one
 * that is not WebAssembly) are refused while the running version keeps serving.
 * Ports: free ephemeral ones; the control socket is a temp unix socket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { BinrpcClient } from '../../host/rpc/binrpc-client.js';
import { RpcFault } from '../../host/rpc/types.js';
import { freePort } from '../helpers/ports.js';
import { sharedDir } from '../helpers/shared.js';
import { ROOT, SIPHON_BIN, startSiphon, type SiphonProcess } from '../helpers/siphon-process.js';
import { startSipp, udpDrops, type SippProcess, type SippRun } from '../helpers/sipp.js';

const run = promisify(execFile);
const OPTIONS_RATE = 300;
const INVITE_RATE = 30;
/** how long the UAS holds each INVITE transaction open (180 → 200). */
const UAS_HOLD_MS = 1500;
const SWAPS = 10;

let tmp: string;
let ctl: string;
let sipPort = 0;
let srv: SiphonProcess | null = null;
let uas: SippProcess | null = null;
const uacs: SippProcess[] = [];
/** plugins dirs holding the same plugin "swap" in two versions, and a build that does not compile. */
const dirs = { v1: '', v2: '', broken: '' };

/** plugin "swap": answers OPTIONS itself (with its version), relays INVITE dialogs to the UAS through tm. */
function writePlugin(dir: string, version: string, uasPort: number, body: string): void {
  const assembly = path.join(dir, 'swap', 'assembly');
  mkdirSync(assembly, { recursive: true });
  const sdk = path.relative(assembly, path.join(ROOT, 'sdk', 'assembly')).split(path.sep).join('/');
  writeFileSync(
    path.join(assembly, 'index.ts'),
    `import { onRequest, Context, is_method, sl_reply, append_to_reply, exit, drop, has_totag, loose_route, record_route, t_relay, setdsturi } from "${sdk}";\n` +
      `onRequest((ctx: Context): i32 => {\n` +
      // in-dialog ACK/BYE follow the Record-Route set (RFC 3261 §16.12), as plugins/lb does
      `  if (has_totag()) {\n` +
      `    loose_route();\n` +
      `    if (t_relay() < 0 && !is_method("ACK")) sl_reply(500, "Relay failed");\n` +
      `    return exit();\n` +
      `  }\n` +
      `  if (is_method("ACK")) return drop();\n` +
      `  if (is_method("INVITE")) {\n` +
      `    record_route();\n` +
      `    setdsturi("sip:127.0.0.1:${uasPort}");\n` +
      `    if (t_relay() < 0) sl_reply(500, "Relay failed");\n` +
      `    return exit();\n` +
      `  }\n` +
      `${body}\n` +
      `  sl_reply(200, "OK");\n` +
      `  return exit();\n` +
      `});\n`,
  );
  writeFileSync(path.join(dir, 'swap', 'package.json'), JSON.stringify({ name: 'swap', version }));
}

/**
 * The UAS: like the shared bench uas.xml, but it holds the INVITE transaction UAS_HOLD_MS after its
 * 180 and waits for the ACK (not optional): run with -nr, a lost ACK fails the call.
 */
function writeUasScenario(file: string): void {
  const reply = (status: string, extra: string, body = ''): string =>
    `  <send>\n    <![CDATA[\n\n      SIP/2.0 ${status}\n      [last_Via:]\n${extra}      [last_From:]\n      [last_To:];tag=[pid]hs[call_number]\n` +
    `      [last_Call-ID:]\n      [last_CSeq:]\n      Contact: <sip:[local_ip]:[local_port];transport=[transport]>\n${body}\n    ]]>\n  </send>\n`;
  const sdp =
    '      Content-Type: application/sdp\n      Content-Length: [len]\n\n      v=0\n      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]\n' +
    '      s=-\n      c=IN IP[media_ip_type] [media_ip]\n      t=0 0\n      m=audio [media_port] RTP/AVP 0\n';
  writeFileSync(
    file,
    '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n<scenario name="hotswap UAS">\n' +
      '  <recv request="INVITE" crlf="true" rrs="true"/>\n' +
      reply('180 Ringing', '      [last_Record-Route:]\n', '      Content-Length: 0\n') +
      `  <pause milliseconds="${UAS_HOLD_MS}"/>\n` +
      reply('200 OK', '      [last_Record-Route:]\n', sdp) +
      '  <recv request="ACK" crlf="true"/>\n  <recv request="BYE"/>\n' +
      reply('200 OK', '', '      Content-Length: 0\n') +
      '</scenario>\n',
  );
}

/** One OPTIONS from an ephemeral port; resolves with the final reply text (or null). */
async function probe(timeoutMs = 4000): Promise<string | null> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const port = sock.address().port;
  const tag = `${Date.now()}${Math.random().toString(16).slice(2, 8)}`;
  const req =
    `OPTIONS sip:127.0.0.1:${sipPort} SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-probe-${tag};rport\r\n` +
    `Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=${tag}\r\nTo: <sip:127.0.0.1:${sipPort}>\r\n` +
    `Call-ID: probe-${tag}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;
  try {
    return await new Promise<string | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      sock.on('message', (m) => {
        const text = m.toString('latin1');
        if (!text.includes(`probe-${tag}@`) || /^SIP\/2\.0 1\d\d/.test(text)) return;
        clearTimeout(timer);
        resolve(text);
      });
      sock.send(req, sipPort, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

function versionHeader(reply: string | null): string | null {
  return reply === null ? null : (/^X-Plugin-Version: (.*)\r$/m.exec(reply)?.[1] ?? null);
}

/** `siphon plugin deploy swap --plugins-dir DIR`: exit code and output. */
async function deploy(dir: string): Promise<{ code: number; out: string }> {
  const child = spawn(process.execPath, [SIPHON_BIN, 'plugin', 'deploy', 'swap', '--plugins-dir', dir, '--ctl', `unix:${ctl}`], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code: code ?? -1, out };
}

type Row = Record<string, unknown>;

/** plugin.list over BINRPC (one top-level value per row, as kamcmd prints them). */
async function pluginList(): Promise<Row[]> {
  const client = await BinrpcClient.connect(`unix:${ctl}`);
  try {
    return (await client.call('plugin.list')) as Row[];
  } finally {
    await client.close();
  }
}

function summary(name: string, r: SippRun): string {
  return `${name}: exit ${r.code}, created ${r.created}, successful ${r.successful}, failed ${r.failed}; ${r.errors.slice(0, 600)}`;
}

beforeAll(async () => {
  // inside the checkout (ROOT/tmp is git-ignored): the plugin build resolves the SDK by its path
  // relative to the package root, so plugin folders outside it would get a second copy of the SDK
  mkdirSync(path.join(ROOT, 'tmp'), { recursive: true });
  tmp = mkdtempSync(path.join(ROOT, 'tmp', 'hotswap-'));
  ctl = path.join(tmp, 'ctl.sock');
  writeUasScenario(path.join(tmp, 'uas.xml'));
  uas = await startSipp(null, path.join(tmp, 'uas.xml'), { extra: ['-nr'] });
  sipPort = await freePort('udp');
  dirs.v1 = path.join(tmp, 'v1');
  dirs.v2 = path.join(tmp, 'v2');
  dirs.broken = path.join(tmp, 'broken');
  writePlugin(dirs.v1, '1.0.0', uas.port, '  append_to_reply("X-Plugin-Version: 1");');
  writePlugin(dirs.v2, '2.0.0', uas.port, '  append_to_reply("X-Plugin-Version: 2");');
  writePlugin(dirs.broken, '3.0.0', uas.port, '  this is not AssemblyScript;');
  // build both versions up front (deploys then find them up to date and only load them)
  for (const d of [dirs.v1, dirs.v2]) {
    await run(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', d, 'swap'], { cwd: ROOT, timeout: 120_000 });
  }
  writeFileSync(
    path.join(tmp, 'siphon.yaml'),
    [
      'core:',
      `  listen: [udp:127.0.0.1:${sipPort}]`,
      '  log_level: warn',
      `  data_dir: ${path.join(tmp, 'data')}`,
      `  ctl: [unix:${ctl}]`,
      'routing:',
      `  plugin: ${path.join(dirs.v1, 'swap/build/swap.wasm')}`,
      // plugin.load reads only inside the plugin directories (host/wasm/plugin-path.ts): the builds and garbage.wasm
      `  plugin_dirs: [${JSON.stringify(tmp)}]`,
    ].join('\n'),
  );
  srv = await startSiphon(['-c', path.join(tmp, 'siphon.yaml')], { readyPorts: [{ proto: 'udp', port: sipPort }] });
}, 180_000);

afterAll(async () => {
  for (const s of [...uacs, uas]) await s?.kill().catch(() => undefined);
  await srv?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('hot swap under SIPp load', () => {
  it('serves the first version', async () => {
    expect(versionHeader(await probe())).toBe('1');
  });

  it(`swaps ${SWAPS} times with INVITE transactions in flight; no request lost, every call completes; broken builds are refused`, async () => {
    const target = `127.0.0.1:${sipPort}`;
    // -nr: no retransmissions, so nothing lost can come back as a success; -m is never reached (SIGUSR1 ends the runs)
    const options = await startSipp(target, path.join(ROOT, 'bench/scenarios/options-keepalive.xml'), {
      rate: OPTIONS_RATE, calls: 1_000_000, limit: OPTIONS_RATE * 5, extra: ['-nr'],
    });
    uacs.push(options);
    const invites = await startSipp(target, path.join(sharedDir(), 'bench/scenarios/invite.xml'), {
      rate: INVITE_RATE, calls: 1_000_000, limit: 1000, extra: ['-nr'],
    });
    uacs.push(invites);

    // wait until INVITE transactions are pinned to version 1 (the load is flowing)
    for (;;) {
      const cur = (await pluginList()).find((r) => r.state === 'current');
      if (Number(cur?.pins) > 0 && Number(cur?.calls) > 0) break;
      expect(options.proc.exitCode, 'OPTIONS UAC still running').toBeNull();
      expect(invites.proc.exitCode, 'INVITE UAC still running').toBeNull();
      await new Promise((r) => setTimeout(r, 100));
    }

    const seen: string[] = [];
    /** per swap: the INVITE transactions still pinned to the version it replaced, right after it. */
    const pinnedAtSwap: number[] = [];
    for (let i = 0; i < SWAPS; i++) {
      const want = i % 2 === 0 ? '2' : '1';
      const res = await deploy(want === '2' ? dirs.v2 : dirs.v1);
      expect(res.code, res.out).toBe(0);
      expect(res.out).toMatch(new RegExp(`deployed swap@${want}\\.0\\.0 `));
      const rows = await pluginList();
      const previous = rows.find((r) => r.state === 'previous');
      expect(previous?.version, `after deploy #${i + 1}`).toBe(want === '2' ? '1.0.0' : '2.0.0');
      pinnedAtSwap.push(Number(previous?.pins));
      const got = versionHeader(await probe());
      seen.push(got ?? 'none');
      expect(got, `after deploy #${i + 1}`).toBe(want);

      if (i === 4) {
        // a build that does not compile: deploy fails before touching the server
        const bad = await deploy(dirs.broken);
        expect(bad.code).toBe(1);
        expect(bad.out).toMatch(/does not compile/);
        expect(bad.out).toMatch(/E4023/);
        // a file that is not WebAssembly: the server refuses it, naming the file
        const garbage = path.join(tmp, 'garbage.wasm');
        writeFileSync(garbage, 'definitely not wasm');
        const client = await BinrpcClient.connect(`unix:${ctl}`);
        try {
          const fault = await client.call('plugin.load', ['swap', garbage]).catch((e: unknown) => e);
          expect(fault).toBeInstanceOf(RpcFault);
          expect((fault as RpcFault).message).toContain(garbage);
          expect((fault as RpcFault).message).toMatch(/E400[12]/);
          expect((fault as RpcFault).message).toContain(`running: swap@${want}.0.0`);
        } finally {
          await client.close();
        }
        expect(versionHeader(await probe())).toBe(want);
      }
      expect(options.proc.exitCode, 'OPTIONS UAC still running: the swap happened under load').toBeNull();
      expect(invites.proc.exitCode, 'INVITE UAC still running: the swap happened under load').toBeNull();
    }
    expect(seen).toEqual(['2', '1', '2', '1', '2', '1', '2', '1', '2', '1']);
    // every swap happened while INVITE transactions were running on the version it replaced
    expect(pinnedAtSwap.filter((n) => n > 0), `pins per swap: ${pinnedAtSwap.join(',')}`).toHaveLength(SWAPS);

    // the plugin manager's view: current + warm previous, counters moving
    const client = await BinrpcClient.connect(`unix:${ctl}`);
    try {
      const all = (await client.call('plugin.list')) as Row[];
      // older versions still pinned by running transactions are listed as draining
      const list = all.filter((v) => v.state !== 'draining');
      expect(all.filter((v) => v.state === 'draining').every((v) => Number(v.pins) > 0)).toBe(true);
      expect(list.map((v) => [v.version, v.state])).toEqual([
        ['1.0.0', 'current'],
        ['2.0.0', 'previous'],
      ]);
      expect(list[0]!.traps).toBe(0);
      expect(Number(list[0]!.calls)).toBeGreaterThan(0);
      const [rb] = (await client.call('plugin.rollback', ['swap'])) as [Row];
      expect(rb.version).toBe('2.0.0');
      expect(versionHeader(await probe())).toBe('2');
      // kamcmd reads the nested plugin.stats reply
      const kam = await run('kamcmd', ['-s', `unixs:${ctl}`, 'plugin.stats', 'swap'], { timeout: 10_000 });
      expect(kam.stdout).toMatch(/backoff_ms: 0/);
      expect(kam.stdout).toMatch(/kind: rollback/);
      expect(kam.stdout).toMatch(/version: 1\.0\.0/);
    } finally {
      await client.close();
    }

    // SIGUSR1: the UACs stop creating calls, let the running ones end (a call that lost a message
    // ends at -recv_timeout as failed), write their counters and exit; then the UAS
    const sippDrops = udpDrops(options.port) + udpDrops(invites.port) + udpDrops(uas!.port);
    const [o, inv] = await Promise.all([options.finish(), invites.finish()]);
    uacs.length = 0;
    const u = await uas!.finish();
    uas = null;
    // datagrams the kernel dropped on this test's sockets (a receive buffer full on an overloaded
    // machine): the only losses that are not siphon's; each can fail at most one call per side
    const drops = sippDrops + udpDrops(sipPort);
    const why = [`kernel drops ${drops}`, summary('options', o), summary('invite', inv), summary('uas', u)].join('\n');
    expect(o.created, why).toBeGreaterThan(0);
    expect(inv.created, why).toBeGreaterThan(0);
    expect(o.successful + o.failed, why).toBe(o.created);
    expect(inv.successful + inv.failed, why).toBe(inv.created);
    // no call failed beyond what the kernel dropped: with no drop, every call of both UACs completed
    expect(o.failed + inv.failed, why).toBeLessThanOrEqual(drops);
    // the UAS completed each call once: its INVITE, the ACK and the BYE all arrived through siphon
    expect(u.failed, why).toBeLessThanOrEqual(drops);
    expect(u.successful, why).toBeLessThanOrEqual(inv.created);
    expect(u.successful, why).toBeGreaterThanOrEqual(inv.created - drops);
    if (drops === 0) expect([o.code, inv.code, u.code], why).toEqual([0, 0, 0]);
  }, 240_000);
});
