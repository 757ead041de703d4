/**
 * End to end, a plugin chain through the real `siphon start` (dist/): routing.chain =
 * [plugins/vendor-filter (a third party's: msg.read, msg.reply, msg.write granted), plugins/pbx (the
 * operator's: grants all)], registrar in memory.
 *   - calls: SIPp UAC → siphon → SIPp UAS registered as extension 101; every INVITE reaching a
 *     phone carries the vendor's header; a scanner's User-Agent gets 403 from the vendor;
 *   - hot swap of the vendor alone under 1,000 calls/s (SIPp, bounded count): plugin.load swaps it
 *     three times while the calls run (both builds were loaded once before, so the metering of a new
 *     file, a child process's CPU, does not compete with the load on a shared 2-core machine); every call completes, and siphon's own counters show
 *     that no request was dropped unanswered or answered 500 by the chain during the swaps; pbx keeps
 *     its version. SIPp retransmits as a phone does (the machine is shared with other suites: a
 *     starved moment must not fail calls); load shedding is off (its 503s are not the point here);
 *   - a vendor build importing `tm` (not granted to chain member 0) is refused at load with E4070
 *     naming the namespace; the running vendor keeps serving;
 *   - rollback of the vendor leaves pbx as it was;
 *   - a transaction started on chain version X (vendor v1, pbx-1) finishes its onreply_route and
 *     failure_route on pbx-1 after pbx-2 and a new vendor were swapped in; a new call runs on the new
 *     chain version;
 *   - with core.workers: 2 both shards run the same chain, and a deploy reaches both (fan-out).
 * Ports: free ephemeral ones; control sockets in a temp dir.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { BinrpcClient } from '../../host/rpc/binrpc-client.js';
import { RpcFault } from '../../host/rpc/types.js';
import { freePort } from '../helpers/ports.js';
import { sharedDir } from '../helpers/shared.js';
import { ROOT, SIPHON_BIN, startSiphon, type SiphonProcess } from '../helpers/siphon-process.js';
import { startSipp, udpDrops, type SippProcess, type SippRun } from '../helpers/sipp.js';
import { Phone, type SipText } from './pbx-phone.js';

const run = promisify(execFile);
/**
 * calls/s of the swap run (SIPHON_CHAIN_SWAP_RATE overrides): 1,000 needs about 40 % of a core for
 * siphon plus the two SIPps. On this shared 2-core machine at a load average past ~15 (other suites)
 * the kernel drops datagrams on siphon's socket and calls fail with or without a chain or a swap; the
 * failure message lists the drops per socket.
 */
const RATE = Number(process.env.SIPHON_CHAIN_SWAP_RATE ?? 1000);
const CALLS = RATE * 4;
const SWAPS = 3;

let tmp: string;
/** vendor-filter builds: v2 (header vendor-filter-2), tm (imports tm.t_relay). */
const dirs = { v1: path.join(ROOT, 'plugins'), v2: '', tm: '', pbx2: '' };
const procs: SiphonProcess[] = [];
const sipps: SippProcess[] = [];
const phones: Phone[] = [];

type Row = Record<string, unknown>;

/** a copy of plugins/vendor-filter under `dir`, with its build label, version and an optional source edit. */
function vendorCopy(dir: string, version: string, build: string, edit: (src: string) => string = (s) => s): void {
  const target = path.join(dir, 'vendor-filter');
  cpSync(path.join(ROOT, 'plugins/vendor-filter'), target, { recursive: true, filter: (f) => !f.includes(`${path.sep}build`) });
  const pkg = JSON.parse(readFileSync(path.join(target, 'package.json'), 'utf8')) as { version: string; siphon: { capabilities: string[] } };
  pkg.version = version;
  if (build === 'vendor-filter-tm') pkg.siphon.capabilities.push('tm');
  writeFileSync(path.join(target, 'package.json'), JSON.stringify(pkg));
  const src = path.join(target, 'assembly/index.ts');
  const sdk = path.relative(path.dirname(src), path.join(ROOT, 'sdk/assembly')).split(path.sep).join('/');
  const text = readFileSync(src, 'utf8').replace('"../../../sdk/assembly"', `"${sdk}"`).replace('"vendor-filter-1"', `"${build}"`);
  writeFileSync(src, edit(text));
}

function config(file: string, port: number, ctl: string, workers: number): void {
  writeFileSync(
    file,
    [
      'core:',
      `  listen: ["udp:127.0.0.1:${port}"]`,
      '  log_level: warn',
      `  data_dir: ${path.dirname(file)}`,
      `  ctl: ["unix:${ctl}"]`,
      `  workers: ${workers}`,
      '  overload: { enabled: false }',
      '  tm: { fr_timer: 2000, fr_inv_timer: 30000, wt_timer: 1000 }',
      'modules:',
      '  registrar: { db_mode: 0, min_expires: 60, min_expires_mode: 1, nat_received: 0 }',
      'routing:',
      `  plugin_dirs: [${JSON.stringify(path.join(ROOT, 'plugins'))}, ${JSON.stringify(tmp)}]`,
      '  chain:',
      '    - plugin: vendor-filter',
      '      grants: [msg.read, msg.reply, msg.write]',
      '      gas_per_hook: 200000',
      '    - plugin: pbx',
      '      grants: all',
      '      config: { forward: { "601": "602" } }',
    ].join('\n'),
  );
}

async function startNode(name: string, workers: number): Promise<{ srv: SiphonProcess; port: number; ctl: string }> {
  const dir = path.join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const port = await freePort('udp');
  const ctl = path.join(dir, 'ctl.sock');
  config(path.join(dir, 'siphon.yaml'), port, ctl, workers);
  const srv = await startSiphon(['-c', path.join(dir, 'siphon.yaml')], { readyPorts: [{ proto: 'udp', port }] });
  procs.push(srv);
  // the control plane opens after the SIP sockets (host/server/app.ts startNode)
  const deadline = Date.now() + 20_000;
  while (!existsSync(ctl)) {
    if (Date.now() > deadline) throw new Error(`no control socket ${ctl}: ${srv.stdout()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { srv, port, ctl };
}

async function rpc(ctl: string, method: string, params: unknown[] = []): Promise<unknown> {
  const client = await BinrpcClient.connect(`unix:${ctl}`);
  try {
    return await client.call(method, params as never);
  } finally {
    await client.close();
  }
}

/** `siphon plugin deploy vendor-filter --plugins-dir DIR` (builds when not up to date, then plugin.load). */
async function deploy(dir: string, ctl: string): Promise<{ code: number; out: string }> {
  const child = spawn(process.execPath, [SIPHON_BIN, 'plugin', 'deploy', 'vendor-filter', '--plugins-dir', dir, '--ctl', `unix:${ctl}`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code: code ?? -1, out };
}

async function phone(user: string, port: number): Promise<Phone> {
  const p = await Phone.open(user, port);
  phones.push(p);
  return p;
}

const isInvite = (m: SipText): boolean => m.method === 'INVITE';
const final = (m: SipText): boolean => m.status >= 200;

/** one call from `caller` to `callee` (registered): the vendor header on the INVITE that reaches the callee; answered 486. */
async function probeCall(caller: Phone, callee: Phone, ext: string): Promise<string | null> {
  caller.invite(ext);
  const inv = await callee.next(isInvite);
  if (inv === null) return 'no INVITE';
  callee.reply(inv, 486, 'Busy Here');
  await caller.next(final);
  return inv.header('X-Vendor-Filter') ?? null;
}

function versionsOf(rows: Row[], name: string): Array<[unknown, unknown]> {
  return rows.filter((r) => r.name === name).map((r) => [r.version, r.state]);
}

function summary(name: string, r: SippRun): string {
  return `${name}: exit ${r.code}, created ${r.created}, successful ${r.successful}, failed ${r.failed}; ${r.errors.slice(0, 4000)}`;
}

beforeAll(async () => {
  // inside the checkout (ROOT/tmp is git-ignored): the plugin build resolves the SDK relative to the package root
  mkdirSync(path.join(ROOT, 'tmp'), { recursive: true });
  tmp = mkdtempSync(path.join(ROOT, 'tmp', 'chain-'));
  dirs.v2 = path.join(tmp, 'v2');
  dirs.tm = path.join(tmp, 'tm');
  vendorCopy(dirs.v2, '2.0.0', 'vendor-filter-2');
  vendorCopy(dirs.tm, '3.0.0', 'vendor-filter-tm', (src) =>
    src
      .replace('import { onRequest,', 'import { t_relay, onRequest,')
      .replace('  append_hf("X-Vendor-Filter: "', '  if (is_method("MESSAGE")) t_relay();\n  append_hf("X-Vendor-Filter: "'),
  );
  // both built up front (a deploy then finds them up to date and only loads them)
  // pbx with PBX_BUILD "pbx-2", version 2.0.0
  dirs.pbx2 = path.join(tmp, 'pbx2');
  const pbx = path.join(dirs.pbx2, 'pbx');
  cpSync(path.join(ROOT, 'plugins/pbx'), pbx, { recursive: true, filter: (f) => !f.includes(`${path.sep}build`) });
  const pbxSrc = path.join(pbx, 'assembly/index.ts');
  const sdk = path.relative(path.dirname(pbxSrc), path.join(ROOT, 'sdk/assembly')).split(path.sep).join('/');
  writeFileSync(pbxSrc, readFileSync(pbxSrc, 'utf8').replace('const PBX_BUILD = "pbx-1"', 'const PBX_BUILD = "pbx-2"').split('"../../../sdk/assembly"').join(`"${sdk}"`));
  const pkg = JSON.parse(readFileSync(path.join(pbx, 'package.json'), 'utf8')) as { version: string };
  writeFileSync(path.join(pbx, 'package.json'), JSON.stringify({ ...pkg, version: '2.0.0' }));
  for (const [d, name] of [[dirs.v2, 'vendor-filter'], [dirs.tm, 'vendor-filter'], [dirs.pbx2, 'pbx']] as const) {
    await run(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', d, name], { cwd: ROOT, timeout: 120_000 });
  }
}, 240_000);

afterAll(async () => {
  for (const s of sipps) await s.kill().catch(() => undefined);
  for (const p of phones) p.close();
  for (const p of procs) await p.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// These nodes pin `core.workers: 1`, so the two-worker pass of `npm test` (SIPHON_WORKERS=2, test/e2e
// again) would only rerun them unchanged, beside another file's two-shard node and SIPp on the same two
// cores: the 1,000 calls/s swap test then lost calls to datagrams the kernel dropped on siphon's full
// socket buffer (CI of 5dc2cc0 and 167d89b), a loss of the shared machine that the main pass does not
// have. That pass runs the describe 'routing.chain with core.workers: 2' below.
describe.skipIf(process.env.SIPHON_WORKERS === '2')('routing.chain [vendor-filter, pbx] on one shard', () => {
  let node: { srv: SiphonProcess; port: number; ctl: string };
  let uas: SippProcess;
  beforeAll(async () => {
    node = await startNode('one', 1);
    // the SIPp UAS is extension 101: registered from its own port before SIPp binds it
    const uasPort = await freePort('udp');
    const reg = await Phone.open('101', node.port, uasPort);
    const r = await reg.register(600);
    reg.close();
    expect(r?.status).toBe(200);
    uas = await startSipp(null, path.join(sharedDir(), 'bench/scenarios/uas.xml'), { port: uasPort });
    sipps.push(uas);
  }, 90_000);

  it('routes calls end to end: the vendor marks each INVITE, pbx finds the callee; a scanner gets 403 from the vendor', async () => {
    const callee = await phone('102', node.port);
    expect((await callee.register(600))?.status).toBe(200);
    const caller = await phone('alice', node.port);
    expect(await probeCall(caller, callee, '102')).toBe('vendor-filter-1');

    const scanner = await phone('scan', node.port);
    scanner.send(
      `OPTIONS sip:102@127.0.0.1:${node.port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${scanner.port};branch=z9hG4bK-scan1;rport\r\n` +
        `Max-Forwards: 70\r\nFrom: <sip:100@127.0.0.1>;tag=s1\r\nTo: <sip:102@127.0.0.1>\r\nCall-ID: scan-1\r\nCSeq: 1 OPTIONS\r\n` +
        `User-Agent: Friendly-Scanner 1.0\r\nContent-Length: 0\r\n\r\n`,
    );
    expect((await scanner.next(final))?.status).toBe(403);

    const rows = (await rpc(node.ctl, 'plugin.list')) as Row[];
    const vendor = rows.find((r) => r.name === 'vendor-filter' && r.state === 'current')!;
    const pbx = rows.find((r) => r.name === 'pbx' && r.state === 'current')!;
    // each member counted on its own: request_route samples (the scanner's OPTIONS never reached pbx)
    expect(Number(vendor.hook_samples)).toBe(Number(pbx.hook_samples) + 1);
    expect(vendor.capabilities).toEqual(['msg.read', 'msg.reply', 'msg.write']);
    expect(pbx.capabilities).toEqual(['msg.read', 'msg.reply', 'msg.write', 'relay', 'tm', 'rr', 'registrar', 'dialog', 'htable']);
    // per-plugin metrics: one hook histogram per member
    const stats = (await rpc(node.ctl, 'plugin.stats')) as Row[];
    expect(stats.map((s) => [s.name, s.chain_index])).toEqual([
      ['vendor-filter', 0],
      ['pbx', 1],
    ]);
  });

  it(`swaps the vendor ${SWAPS} times under ${RATE} calls/s: no call lost, pbx untouched`, async () => {
    const v1File = path.join(dirs.v1, 'vendor-filter/build/vendor-filter.wasm');
    const v2File = path.join(dirs.v2, 'vendor-filter/build/vendor-filter.wasm');
    for (const f of [v2File, v1File]) expect(await rpc(node.ctl, 'plugin.load', ['vendor-filter', f])).toMatchObject([{ name: 'vendor-filter' }]);
    const pbxBefore = ((await rpc(node.ctl, 'plugin.list')) as Row[]).find((r) => r.name === 'pbx' && r.state === 'current')!;
    const core = async (): Promise<Record<string, number>> =>
      Object.fromEntries(((await rpc(node.ctl, 'stats.get_statistics', ['core:'])) as string[]).map((l) => {
        const [k, v] = l.split(' = ');
        return [k!.slice('core:'.length), Number(v)];
      }));
    const coreBefore = await core();
    const uac = await startSipp(`127.0.0.1:${node.port}`, path.join(sharedDir(), 'bench/scenarios/invite.xml'), {
      rate: RATE, calls: CALLS, limit: RATE * 5, recvTimeoutMs: 30_000, extra: ['-s', '101'],
    });
    sipps.push(uac);
    // wait until calls flow through both members
    for (;;) {
      const rows = (await rpc(node.ctl, 'plugin.list')) as Row[];
      if (Number(rows.find((r) => r.name === 'pbx' && r.state === 'current')?.calls) > Number(pbxBefore.calls) + 100) break;
      expect(uac.proc.exitCode, 'UAC still running').toBeNull();
      await new Promise((r) => setTimeout(r, 50));
    }
    const seen: string[] = [];
    for (let i = 0; i < SWAPS; i++) {
      const swapped = (await rpc(node.ctl, 'plugin.load', ['vendor-filter', i % 2 === 0 ? v2File : v1File])) as [Row];
      seen.push(String(swapped[0]!.version));
      expect(uac.proc.exitCode, `UAC still running after swap ${i + 1}: the swap happened under load`).toBeNull();
    }
    expect(seen).toEqual(['2.0.0', '1.0.0', '2.0.0']);
    // the UAC ends by itself after CALLS calls
    const [code] = (await once(uac.proc, 'exit')) as [number | null];
    const dropsAt = { uac: udpDrops(uac.port), uas: udpDrops(uas.port), siphon: udpDrops(node.port) };
    const drops = dropsAt.uac + dropsAt.uas + dropsAt.siphon;
    const r = await uac.finish();
    sipps.splice(sipps.indexOf(uac), 1);
    const coreAfter = await core();
    const why = `exit ${code}, kernel drops ${JSON.stringify(dropsAt)}, retransmissions ${r.retransmissions}; ${summary('uac', r)}`;
    expect(r.created, why).toBe(CALLS);
    expect(r.failed, why).toBe(0);
    expect(r.successful, why).toBe(CALLS);
    // nothing the chain routed during the swaps was dropped unanswered or answered 500
    expect(coreAfter.dropped! - coreBefore.dropped!, why).toBe(0);
    expect(coreAfter.pluginErrors! - coreBefore.pluginErrors!, why).toBe(0);

    const rows = (await rpc(node.ctl, 'plugin.list')) as Row[];
    const pbxAfter = rows.find((r) => r.name === 'pbx' && r.state === 'current')!;
    expect([pbxAfter.version, pbxAfter.sha256, pbxAfter.loaded_at]).toEqual([pbxBefore.version, pbxBefore.sha256, pbxBefore.loaded_at]);
    expect(versionsOf(rows, 'pbx')).toEqual([['1.0.0', 'current']]);
    const callee = await phone('103', node.port);
    expect((await callee.register(600))?.status).toBe(200);
    expect(await probeCall(await phone('bob', node.port), callee, '103')).toBe('vendor-filter-2');
  }, 180_000);

  it('refuses a vendor build importing tm (not granted to chain member 0) with E4070 naming the namespace; the running vendor stays', async () => {
    const file = path.join(dirs.tm, 'vendor-filter/build/vendor-filter.wasm');
    const fault = await rpc(node.ctl, 'plugin.load', ['vendor-filter', file]).catch((e: unknown) => e);
    expect(fault).toBeInstanceOf(RpcFault);
    const msg = (fault as RpcFault).message;
    expect(msg).toContain('E4070');
    expect(msg).toContain('imports tm.t_relay: namespace "tm" needs capability "tm", which is not granted to it (routing.chain[0].grants: msg.read, msg.reply, msg.write)');
    expect(msg).toContain('running: vendor-filter@2.0.0');
    // the same through the deploy CLI
    const res = await deploy(dirs.tm, node.ctl);
    expect(res.code).not.toBe(0);
    expect(res.out).toMatch(/E4070/);
    const callee = await phone('104', node.port);
    expect((await callee.register(600))?.status).toBe(200);
    expect(await probeCall(await phone('carol', node.port), callee, '104')).toBe('vendor-filter-2');
  });

  it('rolls back the vendor alone: pbx keeps its version', async () => {
    const before = ((await rpc(node.ctl, 'plugin.list')) as Row[]).filter((r) => r.name === 'pbx');
    const [rb] = (await rpc(node.ctl, 'plugin.rollback', ['vendor-filter'])) as [Row];
    expect(rb).toMatchObject({ name: 'vendor-filter', version: '1.0.0' });
    const rows = (await rpc(node.ctl, 'plugin.list')) as Row[];
    expect(versionsOf(rows, 'vendor-filter').filter(([, s]) => s !== 'draining')).toEqual([
      ['1.0.0', 'current'],
      ['2.0.0', 'previous'],
    ]);
    expect(rows.filter((r) => r.name === 'pbx').map((r) => [r.version, r.sha256, r.state])).toEqual(before.map((r) => [r.version, r.sha256, r.state]));
    const callee = await phone('105', node.port);
    expect((await callee.register(600))?.status).toBe(200);
    expect(await probeCall(await phone('dave', node.port), callee, '105')).toBe('vendor-filter-1');
    // pbx has no previous version: its rollback is refused, and changes nothing
    const fault = await rpc(node.ctl, 'plugin.rollback', ['pbx']).catch((e: unknown) => e);
    expect((fault as RpcFault).message).toMatch(/E4021/);
  });
});

describe('transaction pinning covers the whole chain version', () => {
  it('a call started on [vendor v1, pbx-1] finishes its onreply/failure routes on pbx-1 after both members were swapped', async () => {
    const node = await startNode('pin', 1);
    const callee = await phone('601', node.port);
    const fwd = await phone('602', node.port);
    expect((await callee.register(300))?.status).toBe(200);
    expect((await fwd.register(300))?.status).toBe(200);
    const caller = await phone('frank', node.port);
    caller.invite('601');
    const inv = await callee.next(isInvite);
    expect(inv?.header('X-Vendor-Filter')).toBe('vendor-filter-1');
    callee.reply(inv!, 180, 'Ringing');
    expect((await caller.next((m) => m.status === 180))?.header('X-PBX-Build')).toBe('pbx-1');

    // both members swapped while the INVITE transaction is pending: chain version X stays pinned
    expect(await rpc(node.ctl, 'plugin.load', ['pbx', path.join(dirs.pbx2, 'pbx/build/pbx.wasm')])).toMatchObject([{ version: '2.0.0' }]);
    expect(await rpc(node.ctl, 'plugin.load', ['vendor-filter', path.join(dirs.v2, 'vendor-filter/build/vendor-filter.wasm')])).toMatchObject([{ version: '2.0.0' }]);
    const pinned = ((await rpc(node.ctl, 'plugin.list')) as Row[]).filter((r) => r.state === 'previous').map((r) => [r.name, r.version, Number(r.pins)]);
    expect(pinned).toEqual([
      ['vendor-filter', '1.0.0', 1],
      ['pbx', '1.0.0', 1],
    ]);

    callee.reply(inv!, 183, 'Session Progress');
    expect((await caller.next((m) => m.status === 183))?.header('X-PBX-Build')).toBe('pbx-1');
    // busy: failure_route of pbx-1 forwards to 602 (routing config forward 601 → 602)
    callee.reply(inv!, 486, 'Busy Here');
    const forwarded = await fwd.next(isInvite);
    expect(forwarded).not.toBeNull();
    fwd.reply(forwarded!, 200, 'OK');
    const answer = await caller.next(final);
    expect(answer?.status).toBe(200);
    expect(answer?.header('X-PBX-Build')).toBe('pbx-1');

    // a new call is a new transaction on chain version Y: vendor v2 and pbx-2
    const caller2 = await phone('grace', node.port);
    caller2.invite('601');
    const inv2 = await callee.next(isInvite);
    expect(inv2?.header('X-Vendor-Filter')).toBe('vendor-filter-2');
    callee.reply(inv2!, 180, 'Ringing');
    expect((await caller2.next((m) => m.status === 180))?.header('X-PBX-Build')).toBe('pbx-2');
    callee.reply(inv2!, 486, 'Busy Here');
    await caller2.next(final);
  }, 90_000);
});

describe('routing.chain with core.workers: 2', () => {
  it('every shard runs the chain, and a deploy of the vendor reaches every shard', async () => {
    const node = await startNode('two', 2);
    const callee = await phone('201', node.port);
    expect((await callee.register(600))?.status).toBe(200);
    const caller = await phone('erin', node.port);
    // Call-IDs are steered by hash (host/shards/steer.ts): 12 calls reach both shards
    const before: Array<string | null> = [];
    for (let i = 0; i < 12; i++) before.push(await probeCall(caller, callee, '201'));
    expect(new Set(before)).toEqual(new Set(['vendor-filter-1']));
    const res = await deploy(dirs.v2, node.ctl);
    expect(res.code, res.out).toBe(0);
    const after: Array<string | null> = [];
    for (let i = 0; i < 12; i++) after.push(await probeCall(caller, callee, '201'));
    expect(new Set(after)).toEqual(new Set(['vendor-filter-2']));
    const stats = (await rpc(node.ctl, 'stats.get_statistics', ['shards:'])) as string[];
    const steered = stats.filter((l) => /^shards:steered_\d+ = [1-9]/.test(l));
    expect(steered.length, stats.join('\n')).toBe(2);
  }, 90_000);
});
