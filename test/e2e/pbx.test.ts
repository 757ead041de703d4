/**
 * A working PBX through the real `siphon start` binary with plugins/pbx (registrar in memory,
 * transactions with short timers): SIPp calls to a SIPp UAS registered through siphon, CANCEL,
 * call-forward on busy, INVITE timeout, retransmission absorption, ACK of a 2xx by Route headers,
 * REGISTER expiry and 423, and a plugin hot swap with calls in flight.
 * Ports from freePorts() (siphon, the SIPp UAS and its media and control ports; runSipp picks the UAC's);
 * control socket in a temp dir.
 */
import { sharedDir } from '../helpers/shared.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, SIPHON_BIN, startSiphon, type SiphonProcess } from '../helpers/siphon-process.js';
import { freePorts } from '../helpers/ports.js';
import { runSipp, startSipp, type SippProcess } from '../helpers/sipp.js';
import { Phone, type SipText } from './pbx-phone.js';

const run = promisify(execFile);
/** siphon's SIP port; the SIPp UAS's SIP port (freePorts() in beforeAll) */
let SIP_PORT = 0;
let SIPP_UAS_PORT = 0;
const SCENARIOS = path.join(sharedDir(), 'bench/scenarios');

let tmp: string;
let ctl: string;
let srv: SiphonProcess;
const phones: Phone[] = [];

async function phone(user: string): Promise<Phone> {
  const p = await Phone.open(user, SIP_PORT);
  phones.push(p);
  return p;
}

/** waits until the siphon log contains `text` (pino writes asynchronously). */
async function logged(text: string | RegExp, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  const has = (): boolean => (typeof text === 'string' ? srv.stdout().includes(text) : text.test(srv.stdout()));
  while (!has() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  return has();
}

/** one `tm:` statistic of the running node, through its control socket (`siphon rpc`). */
async function tmStatistic(name: string): Promise<number> {
  const { stdout } = await run(process.execPath, [SIPHON_BIN, 'rpc', '--ctl', `unix:${ctl}`, '--json', 'stats.get_statistics', 'tm:'], { cwd: ROOT, timeout: 30_000 });
  const line = (JSON.parse(stdout) as string[]).find((l) => l.startsWith(`tm:${name} = `));
  if (line === undefined) throw new Error(`no tm:${name} in ${stdout}`);
  return Number(line.slice(`tm:${name} = `.length));
}

const isInvite = (m: SipText): boolean => m.method === 'INVITE';
const final = (m: SipText): boolean => m.status >= 200;

beforeAll(async () => {
  [SIP_PORT, SIPP_UAS_PORT] = (await freePorts(2)) as [number, number];
  tmp = mkdtempSync(path.join(tmpdir(), 'siphon-pbx-'));
  ctl = path.join(tmp, 'ctl.sock');
  const cfg = path.join(tmp, 'siphon.yaml');
  writeFileSync(
    cfg,
    [
      'core:',
      `  listen: ["udp:127.0.0.1:${SIP_PORT}"]`,
      '  log_level: info',
      `  data_dir: ${tmp}`,
      `  ctl: ["unix:${ctl}"]`,
      '  tm: { fr_timer: 1500, fr_inv_timer: 30000, wt_timer: 1000 }',
      'modules:',
      '  registrar: { db_mode: 0, min_expires: 60, min_expires_mode: 1, nat_received: 0 }',
      '  htable: { tables: ["dnd=>size=8"] }',
      'routing:',
      '  plugin: pbx',
      // plugin.load reads only inside the plugin directories (host/wasm/plugin-path.ts): pbx-2 is built under tmp
      `  plugin_dirs: [${JSON.stringify(path.join(ROOT, 'plugins'))}, ${JSON.stringify(tmp)}]`,
      '  config: { forward: { "301": "302", "601": "602" } }',
    ].join('\n'),
  );
  srv = await startSiphon(['-c', cfg], { readyPorts: [{ proto: 'udp', port: SIP_PORT }] });
}, 60_000);

afterAll(async () => {
  for (const p of phones) p.close();
  await srv?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('registrar through plugins/pbx', () => {
  it('REGISTER is saved (200 lists the binding), too-short expires is 423 with Min-Expires, expires=0 removes it', async () => {
    const p = await phone('201');
    const brief = await p.register(30);
    expect(brief?.status).toBe(423);
    expect(brief?.header('Min-Expires')).toBe('60');
    const ok = await p.register(120);
    expect(ok?.status).toBe(200);
    expect(ok?.header('Contact')).toContain(`${p.contact}>;expires=120`);

    const caller = await phone('alice');
    caller.invite('201');
    const inv = await p.next(isInvite);
    expect(inv?.firstLine).toBe(`INVITE ${p.contact} SIP/2.0`);
    p.reply(inv!, 486, 'Busy Here');
    expect((await caller.next(final))?.status).toBe(486); // 201 has no forward target

    // RFC 3261 §10.2.2: expires=0 removes the binding; the extension is then not found
    expect((await p.register(0))?.status).toBe(200);
    caller.invite('201');
    expect((await caller.next(final))?.status).toBe(404);
  });
});

describe('do not disturb: an htable flag set over RPC (kamcmd)', () => {
  it('a DND extension gets 486 without ringing; deleting the flag lets the next call ring', async () => {
    const kamcmd = (...args: string[]) => run('/usr/sbin/kamcmd', ['-s', `unixs:${ctl}`, ...args], { timeout: 15_000 });
    const p = await phone('701');
    expect((await p.register(120))?.status).toBe(200);
    const caller = await phone('bob');
    expect((await kamcmd('htable.seti', 'dnd', '701', '1')).stdout).toBe('Ok. Key set to new value.\n');
    caller.invite('701');
    const busy = await caller.next(final);
    expect(busy?.status).toBe(486);
    expect(busy?.firstLine).toBe('SIP/2.0 486 Busy Here - Do Not Disturb');
    expect((await kamcmd('htable.delete', 'dnd', '701')).stdout).toBe('Ok. Key deleted.\n');
    caller.invite('701');
    const inv = await p.next(isInvite);
    expect(inv?.firstLine).toBe(`INVITE ${p.contact} SIP/2.0`);
    p.reply(inv!, 486, 'Busy Here');
    expect((await caller.next(final))?.status).toBe(486);
  });
});

describe('SIPp calls through siphon to a SIPp UAS registered through siphon', () => {
  let uas: SippProcess | null = null;
  afterAll(async () => {
    await uas?.kill();
  });

  it('50 calls/s for 10 s: INVITE/180/200/ACK/BYE with zero failed calls', async () => {
    // the UAS's Contact is registered as extension 101 (the REGISTER comes from the UAS port itself)
    const reg = await Phone.open('101', SIP_PORT, SIPP_UAS_PORT);
    const r = await reg.register(300);
    reg.close();
    expect(r?.status).toBe(200);

    // startSipp resolves once the UAS's SIP socket is bound (a loaded CI machine can take longer than
    // any fixed wait: the calls then all timed out into 480) and throws with SIPp's stderr if it exits
    uas = await startSipp(null, path.join(SCENARIOS, 'uas.xml'), { port: SIPP_UAS_PORT, extra: ['-m', '500', '-bind_local'] });
    // the UAC on free SIP, media and control ports (runSipp), reading SIPp's statistics file
    const uac = await runSipp(SIP_PORT, path.join(SCENARIOS, 'invite.xml'), { rate: 50, calls: 500, timeoutS: 40, recvTimeoutMs: 8000, extra: ['-s', '101'] });
    expect(uac.successful, uac.errors).toBe(500);
    expect(uac.failed).toBe(0);
  }, 90_000);
});

describe('transactions through plugins/pbx', () => {
  it('CANCEL during ringing: the callee gets the CANCEL, the caller 200 for it and 487 for the INVITE', async () => {
    const callee = await phone('401');
    expect((await callee.register(300))?.status).toBe(200);
    const caller = await phone('bob');
    const call = caller.invite('401');
    const inv = await callee.next(isInvite);
    expect(inv).not.toBeNull();
    callee.reply(inv!, 180, 'Ringing');
    const ringing = await caller.next((m) => m.status === 180);
    expect(ringing?.header('X-PBX-Build')).toBe('pbx-1'); // onreply_route edited the forwarded reply
    caller.cancel('401', call);
    const cancelOk = await caller.next((m) => m.status === 200 && /CANCEL/.test(m.header('CSeq') ?? ''));
    expect(cancelOk).not.toBeNull();
    const cancel = await callee.next((m) => m.method === 'CANCEL');
    expect(cancel).not.toBeNull();
    callee.reply(cancel!, 200, 'OK');
    callee.reply(inv!, 487, 'Request Terminated');
    const terminated = await caller.next((m) => m.status >= 300);
    expect(terminated?.status).toBe(487);
  });

  it('busy (486) is forwarded through failure_route to the configured extension', async () => {
    const busy = await phone('301');
    const other = await phone('302');
    expect((await busy.register(300))?.status).toBe(200);
    expect((await other.register(300))?.status).toBe(200);
    const caller = await phone('carol');
    caller.invite('301');
    const first = await busy.next(isInvite);
    busy.reply(first!, 486, 'Busy Here');
    const second = await other.next(isInvite);
    expect(second?.firstLine).toBe(`INVITE ${other.contact} SIP/2.0`);
    other.reply(second!, 200, 'OK');
    const answer = await caller.next(final);
    expect(answer?.status).toBe(200);
    expect(answer?.header('Contact')).toContain(other.contact);
    expect(await logged(/pbx pbx-1 failure_route: call-[^ ]+ got 486/)).toBe(true);
  });

  it('an unanswered INVITE times out (fr_timer 1.5 s, timer B counted): failure_route turns the 408 into 480', async () => {
    const mute = await phone('501');
    expect((await mute.register(300))?.status).toBe(200);
    const caller = await phone('dave');
    const timeoutsBefore = await tmStatistic('clientTimeouts');
    const call = caller.invite('501');
    expect(await mute.next(isInvite)).not.toBeNull();
    const r = await caller.next(final, 8000);
    expect(r?.status).toBe(480);
    // the 408 came from timer B firing on that branch (counted), not from anything answered at once
    expect(await tmStatistic('clientTimeouts')).toBe(timeoutsBefore + 1);
    expect(await logged(`failure_route: ${call.callId} got 408`)).toBe(true);
  });

  it('a retransmitted INVITE is absorbed; the ACK of the 2xx follows the Route set to the callee', async () => {
    const callee = await phone('701');
    expect((await callee.register(300))?.status).toBe(200);
    const caller = await phone('erin');
    const call = caller.invite('701');
    const inv = await callee.next(isInvite);
    caller.send(call.text); // RFC 3261 §17.2.3: same branch → the same server transaction
    expect((await caller.next((m) => m.status === 100))).not.toBeNull();
    await new Promise((r) => setTimeout(r, 300));
    expect(callee.peek(isInvite)).toHaveLength(0);
    const rr = inv!.header('Record-Route');
    expect(rr).toMatch(new RegExp(`^<sip:127\\.0\\.0\\.1:${SIP_PORT};lr`));
    callee.reply(inv!, 200, 'OK');
    const ok = await caller.next(final);
    expect(ok?.status).toBe(200);
    // RFC 3261 §12.2.1.1 / §13.2.2.4: the ACK goes to the remote target with the route set
    const toTag = /;tag=([^;]+)/.exec(ok!.header('To')!)![1];
    caller.send(
      `ACK ${callee.contact} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-ack-${call.callId};rport\r\n` +
        `Route: ${rr}\r\nMax-Forwards: 70\r\nFrom: <sip:erin@127.0.0.1>;tag=${call.fromTag}\r\nTo: <sip:701@127.0.0.1>;tag=${toTag}\r\n` +
        `Call-ID: ${call.callId}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n`,
    );
    const ack = await callee.next((m) => m.method === 'ACK');
    expect(ack?.firstLine).toBe(`ACK ${callee.contact} SIP/2.0`);
    expect(ack?.header('Route')).toBeUndefined(); // our own Route entry was consumed
  });
});

describe('hot swap with calls in flight', () => {
  it('a transaction created by pbx-1 runs its onreply/failure routes on pbx-1 after pbx-2 is deployed', async () => {
    const callee = await phone('601');
    const fwd = await phone('602');
    expect((await callee.register(300))?.status).toBe(200);
    expect((await fwd.register(300))?.status).toBe(200);
    // build pbx with PBX_BUILD "pbx-2" up front (the deploy then only loads it)
    const dir = path.join(tmp, 'plugins-v2');
    cpSync(path.join(ROOT, 'plugins', 'pbx'), path.join(dir, 'pbx'), { recursive: true, filter: (s) => !s.includes(`${path.sep}build`) });
    const src = path.join(dir, 'pbx', 'assembly', 'index.ts');
    writeFileSync(src, readFileSync(src, 'utf8').replace('const PBX_BUILD = "pbx-1"', 'const PBX_BUILD = "pbx-2"').split('"../../../sdk/assembly"').join(JSON.stringify(path.relative(path.dirname(src), path.join(ROOT, 'sdk', 'assembly')).split(path.sep).join('/'))));
    writeFileSync(path.join(dir, 'pbx', 'package.json'), JSON.stringify({ name: 'pbx', version: '2.0.0' }));
    await run(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', dir, 'pbx'], { cwd: ROOT, timeout: 120_000 });

    const caller = await phone('frank');
    const call = caller.invite('601');
    const inv = await callee.next(isInvite);
    expect(inv).not.toBeNull();
    callee.reply(inv!, 180, 'Ringing');
    expect((await caller.next((m) => m.status === 180))?.header('X-PBX-Build')).toBe('pbx-1');

    // deploy pbx-2 over BINRPC while the INVITE transaction is pending (fr_inv_timer 30 s)
    const dep = await run(process.execPath, [SIPHON_BIN, 'plugin', 'deploy', 'pbx', '--plugins-dir', dir, '--ctl', `unix:${ctl}`], { cwd: ROOT, timeout: 60_000 }).catch((e) => e);
    expect(String(dep.stdout) + String(dep.stderr)).toMatch(/deployed pbx@2\.0\.0/);

    // the pending call's replies still go through pbx-1's onreply_route and failure_route
    callee.reply(inv!, 183, 'Session Progress');
    expect((await caller.next((m) => m.status === 183))?.header('X-PBX-Build')).toBe('pbx-1');
    callee.reply(inv!, 486, 'Busy Here');
    const forwarded = await fwd.next(isInvite);
    expect(forwarded).not.toBeNull();
    fwd.reply(forwarded!, 200, 'OK');
    const answer = await caller.next(final);
    expect(answer?.status).toBe(200);
    expect(answer?.header('X-PBX-Build')).toBe('pbx-1');
    expect(await logged(`pbx pbx-1 failure_route: ${call.callId} got 486`)).toBe(true);

    // a new INVITE right after the deploy is a new transaction: served (100, relay, onreply_route) by pbx-2
    const caller2 = await phone('grace');
    const call2 = caller2.invite('601');
    expect(await caller2.next((m) => m.status === 100, 8000)).not.toBeNull();
    const inv2 = await callee.next(isInvite, 8000);
    expect(inv2?.header('Call-ID')).toBe(call2.callId);
    callee.reply(inv2!, 180, 'Ringing');
    expect((await caller2.next((m) => m.status === 180, 8000))?.header('X-PBX-Build')).toBe('pbx-2');
    callee.reply(inv2!, 200, 'OK');
    const answer2 = await caller2.next(final);
    expect(answer2?.status).toBe(200);
    expect(answer2?.header('X-PBX-Build')).toBe('pbx-2');
  }, 150_000);
});
