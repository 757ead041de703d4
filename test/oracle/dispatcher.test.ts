/**
 * Oracle for dispatcher: Kamailio (test/oracle/kamailio/dispatcher.cfg) and siphon
 * (plugins/dispatcher: the same route) load the same dispatcher.list, naming the same gateways (UDP
 * sockets of this test, dispatcher-cases.ts). Each request names its set, algorithm and limit in
 * X-DS-* headers; both servers get the same request, pick with ds_select_dst, relay, and fail over
 * with ds_next_dst on a 5xx. Compared per request: the replies, the requests at the gateways and the
 * order of the gateways tried; at the end the states both print for `kamcmd dispatcher.list`.
 * Algorithms 6 (random), 9 (weight) and 11 (relative weight) shuffle or draw at random: their
 * targets are compared per block instead (9 and 11 give each target exactly its share of 100
 * slots; 6 loosely). A second pair probes gateways that answer, fail and recover by script, and
 * both servers' dispatcher.list is compared after each keepalive round. Every difference is gone or
 * listed below with its reason, which host/modules/dispatcher/README.md ("Differences from
 * Kamailio") explains.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/siphon-process.js';
import { dsCases, dsExchange, GatewayFarm, readDsList, rng, type DsCase, type GatewayAnswer } from './dispatcher-cases.js';
import { assertKamailioWhenRequired, compare, kamailioInstalled, kamailioRequired, normalise, OraclePair, OracleReport, type Difference, type KnownDifference, type ServerName } from './harness/index.js';

const HERE = import.meta.dirname;

/** the deliberate differences (host/modules/dispatcher/README.md "Differences from Kamailio"). */
const KNOWN: KnownDifference[] = [];

const OK = ['gw1', 'gw2', 'gw3', 'gw4', 'gw5', 'gw6'];
const FAILING = ['f1', 'f2', 'f3', 'm1', 'm2'];
const PROBED = ['pA', 'pB', 'pC', 'pD', 'pE', 'pF', 'pG', 'pH', 'pI'];
const FAIL: GatewayAnswer = { status: 503, reason: 'Service Unavailable' };
/** algorithms whose choice is random or from a shuffled table: targets compared per block. */
const RANDOM_ALGS = new Set([6, 9, 11]);

const report = new OracleReport('dispatcher', KNOWN);
let dir = '';
const run = promisify(execFile);

async function buildPlugin(): Promise<void> {
  await run(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', path.join(HERE, 'plugins'), 'dispatcher'], { cwd: ROOT, timeout: 120_000 });
}

async function startPair(farm: GatewayFarm, list: string, name: string, siphonModule: string[], probing: boolean): Promise<{ pair: OraclePair; ctl: Record<ServerName, string> }> {
  const file = path.join(dir, `${name}.list`);
  writeFileSync(file, list);
  const ctl = { kamailio: `unix:${path.join(dir, `${name}-kam.ctl`)}`, siphon: `unix:${path.join(dir, `${name}-siphon.ctl`)}` };
  const pair = await OraclePair.start({
    kamailio: {
      cfg: path.join(HERE, 'kamailio/dispatcher.cfg'),
      modules: ['sl.so', 'tm.so', 'dispatcher.so', 'ctl.so'],
      defines: (hop) => ({ NEXT_HOP: `"${hop}"`, DS_LIST: `"${file}"`, CTL: `"${ctl.kamailio}"`, ...(probing ? { PROBING: '1' } : {}) }),
    },
    siphon: {
      plugin: path.join(HERE, 'plugins/dispatcher/build/dispatcher.wasm'),
      // one shard, whatever SIPHON_WORKERS says: the cases compare Kamailio's selections, whose call-load
      // table (alg 10) and shuffled weight tables (alg 9/11) all processes share in shm; with
      // core.workers each shard keeps its own (host/modules/dispatcher/README.md, Shards)
      yaml: () => ['  workers: 1', `  data_dir: ${dir}`, 'modules:', '  dispatcher:', `    list_file: ${JSON.stringify(file)}`, '    flags: 2', '    hash_pvar: "$fU@$ci"', '    ds_hash_size: 4', ...siphonModule.map((l) => `    ${l}`)].join('\n'),
      config: (hop) => ({ next_hop: hop }),
      ctl: ctl.siphon,
    },
  });
  farm.attach(pair);
  return { pair, ctl };
}

beforeAll(async () => {
  assertKamailioWhenRequired();
  if (!kamailioInstalled) return;
  dir = mkdtempSync(path.join(tmpdir(), 'oracle-dispatcher-'));
  await buildPlugin();
}, 120_000);
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** line by line differences of two `dispatcher.list` readings (readDsList). */
function listDiffs(k: string[], s: string[]): Difference[] {
  const diffs: Difference[] = [];
  for (let i = 0; i < Math.max(k.length, s.length); i++) if (k[i] !== s[i]) diffs.push({ path: `dispatcher.list[${i}]`, kamailio: k[i] ?? '(none)', siphon: s[i] ?? '(none)' });
  return diffs;
}

/** forwarded requests grouped by gateway in the order tried (an ACK and the next try race to two sockets). */
function byTarget<T extends { gateway: string; seq: number }>(recs: T[]): T[] {
  const first = new Map<string, number>();
  for (const r of recs) if (!first.has(r.gateway)) first.set(r.gateway, first.size);
  return [...recs].sort((a, b) => first.get(a.gateway)! - first.get(b.gateway)! || a.seq - b.seq);
}

describe.skipIf(!kamailioInstalled && !kamailioRequired)('oracle dispatcher (Kamailio dispatcher vs siphon)', () => {
  describe('ds_select_dst, failover and marking over the same list', () => {
    let farm: GatewayFarm;
    let pair: OraclePair;
    let ctl: Record<ServerName, string>;
    const seed = Number(process.env.ORACLE_SEED ?? 0) || 1 + Math.floor(Math.random() * 0xfffffff);
    /** per (set, alg) block of a random algorithm: the gateways chosen on each side. */
    const blocks = new Map<string, Record<ServerName, Map<string, number>>>();

    beforeAll(async () => {
      if (!kamailioInstalled) return;
      farm = await GatewayFarm.open([...OK, ...FAILING]);
      for (const f of FAILING) farm.gw(f).script = () => FAIL;
      const g = (n: string): string => farm.gw(n).uri;
      const list = [
        `1 ${g('gw1')} 0 0 duid=d1;weight=40;rweight=40`,
        `1 ${g('gw2')} 0 0 duid=d2;weight=30;rweight=10`,
        `1 ${g('gw3')} 0 5 duid=d3;weight=20;rweight=30`,
        `1 ${g('gw4')} 0 0 duid=d4;weight=10;rweight=20`,
        `2 ${g('gw1')} 0 0 weight=25;rweight=25`,
        `2 ${g('gw5')} 1 0 weight=25;rweight=25`,
        `2 ${g('gw2')} 0 10 weight=25;rweight=25`,
        `2 ${g('gw6')} 4 0 weight=25;rweight=25`,
        `2 ${g('gw3')} 0 0 weight=25;rweight=25`,
        `3 ${g('f1')} 0 0 duid=e1;weight=30;rweight=30`,
        `3 ${g('f2')} 0 0 duid=e2;weight=30;rweight=30`,
        `3 ${g('gw4')} 0 0 duid=e3;weight=20;rweight=20`,
        `3 ${g('f3')} 0 0 duid=e4;weight=20;rweight=20`,
        `4 ${g('m1')} 0 0`,
        `4 ${g('m2')} 0 0`,
        `4 ${g('gw5')} 0 0`,
        `5 ${g('f1')} 0 0`,
        `5 ${g('f2')} 0 2`,
        '',
      ].join('\n');
      ({ pair, ctl } = await startPair(farm, list, 'select', [], false));
    }, 60_000);
    afterAll(async () => {
      await pair?.stop();
      await farm?.close();
    });

    async function runDs(c: DsCase): Promise<void> {
      const out = await dsExchange(pair, farm, c);
      const k = normalise({ ...out.kamailio, forwarded: byTarget(out.kamailio.forwarded) }, farm.side(pair.kamailio), out.bytes.kamailio);
      const s = normalise({ ...out.siphon, forwarded: byTarget(out.siphon.forwarded) }, farm.side(pair.siphon), out.bytes.siphon);
      const diffs: Difference[] = compare(k, s);
      if (RANDOM_ALGS.has(c.alg)) {
        const key = `set ${c.set} alg ${c.alg}`;
        const b = blocks.get(key) ?? { kamailio: new Map(), siphon: new Map() };
        blocks.set(key, b);
        for (const side of ['kamailio', 'siphon'] as const) for (const t of out[side].targets) b[side].set(t, (b[side].get(t) ?? 0) + 1);
      } else if (out.kamailio.targets.join(' ') !== out.siphon.targets.join(' ')) {
        diffs.push({ path: 'targets', kamailio: out.kamailio.targets.join(' '), siphon: out.siphon.targets.join(' ') });
      }
      report.add(c.name, diffs);
    }

    it('algorithms 0-11 over sets with priorities, inactive and disabled targets, failing gateways', async () => {
      const rand = rng(seed);
      console.log(`oracle dispatcher: seed ${seed} (ORACLE_SEED=${seed} repeats the run)`);
      const cases: DsCase[] = [];
      for (let alg = 0; alg <= 11; alg++) {
        const methods = alg === 10 ? ['INVITE', 'INVITE', 'INVITE', 'MESSAGE'] : undefined;
        cases.push(...dsCases(rand, 1, alg, 100, { methods }));
        cases.push(...dsCases(rand, 2, alg, RANDOM_ALGS.has(alg) ? 100 : 40, { methods }));
        if (!RANDOM_ALGS.has(alg)) cases.push(...dsCases(rand, 3, alg, 30, { methods }));
      }
      for (const c of cases) await runDs(c);
      expect(report.compared).toBeGreaterThanOrEqual(1500);
    }, 120_000);

    it('failover: limits, an all-failing set, an unknown set, and ds_mark_dst("ip") taking gateways out', async () => {
      const rand = rng(seed + 1);
      const cases = [
        ...dsCases(rand, 3, 8, 10, { limit: 1 }),
        ...dsCases(rand, 3, 8, 10, { limit: 2 }),
        ...dsCases(rand, 3, 4, 12, { limit: 3 }),
        ...dsCases(rand, 3, 0, 20, { limit: 2 }),
        ...dsCases(rand, 5, 0, 10),
        ...dsCases(rand, 5, 8, 10, { methods: ['INVITE'] }),
        ...dsCases(rand, 9, 0, 10),
        ...dsCases(rand, 4, 4, 20, { mark: true }),
        ...dsCases(rand, 4, 0, 20, { mark: true }),
      ];
      for (const c of cases) await runDs(c);
      const sub = (side: 'kamailio' | 'siphon'): Array<[string, string]> => farm.side(pair[side]).substitutions;
      const [k, s] = await Promise.all([readDsList(ctl.kamailio, sub('kamailio')), readDsList(ctl.siphon, sub('siphon'))]);
      expect(k.length).toBeGreaterThan(10);
      report.add('dispatcher.list after the selections and marks', listDiffs(k, s));
    }, 60_000);

    it('random and shuffled algorithms: the share each gateway got', () => {
      expect(blocks.size).toBe(6);
      for (const [key, b] of blocks) {
        const alg = Number(/alg (\d+)/.exec(key)![1]);
        const show = (m: Map<string, number>): string => [...m].sort().map(([g, n]) => `${g}=${n}`).join(' ');
        const diffs: Difference[] = [];
        if (alg === 6) {
          // random (Kamailio rand()): the same gateways, each with at least 10% on both sides
          const names = new Set([...b.kamailio.keys(), ...b.siphon.keys()]);
          const total = (m: Map<string, number>): number => [...m.values()].reduce((x, y) => x + y, 0);
          const fair = [...names].every((g) => (b.kamailio.get(g) ?? 0) >= total(b.kamailio) / 10 && (b.siphon.get(g) ?? 0) >= total(b.siphon) / 10);
          if (!fair) diffs.push({ path: 'share', kamailio: show(b.kamailio), siphon: show(b.siphon) });
        } else if (show(b.kamailio) !== show(b.siphon)) {
          // 100 consecutive selections walk the 100-slot table once: exactly each target's share
          diffs.push({ path: 'share', kamailio: show(b.kamailio), siphon: show(b.siphon) });
        }
        report.add(`${key} share of 100 selections`, diffs);
      }
    });
  });

  describe('keepalive states: the same gateways answering, failing and recovering', () => {
    let farm: GatewayFarm;
    let pair: OraclePair;
    let ctl: Record<ServerName, string>;
    /** answers per keepalive number (1-based); the last one repeats. */
    const SCRIPTS: Record<string, number[]> = {
      pA: [200],
      pB: [503],
      pC: [503, 503, 503, 200],
      pD: [200, 503, 200, 503, 200, 503, 200],
      pE: [200],
      pF: [200],
      pG: [503, 200, 503, 503, 200],
      pH: [404],
      pI: [486, 486, 200],
    };
    const ROUNDS = 7;

    beforeAll(async () => {
      if (!kamailioInstalled) return;
      farm = await GatewayFarm.open(PROBED);
      for (const [name, codes] of Object.entries(SCRIPTS)) {
        farm.gw(name).script = (_req, _side, n) => {
          const code = codes[Math.min(n, codes.length) - 1]!;
          return { status: code, reason: code === 200 ? 'OK' : 'Not OK' };
        };
      }
      const g = (n: string): string => farm.gw(n).uri;
      // both start with a disabled target only (never pinged), then load the gateways by
      // dispatcher.reload: keepalives begin on both with the states of the list, at the next round
      const idle = '9 sip:127.0.0.1:9 4 0\n';
      const list = [idle.trim(), `1 ${g('pA')} 8 0`, `1 ${g('pB')} 8 0`, `1 ${g('pC')} 8 0`, `1 ${g('pD')} 8 0`, `1 ${g('pE')} 9 0`, `1 ${g('pF')} 12 0`, `2 ${g('pG')} 8 0`, `2 ${g('pH')} 8 5`, `2 ${g('pI')} 0 0`, ''].join('\n');
      ({ pair, ctl } = await startPair(farm, idle, 'probe', ['ds_ping_interval: 1', 'ds_probing_mode: 1', 'ds_probing_threshold: 2', 'ds_inactive_threshold: 2', "ds_ping_reply_codes: 'code=404'"], true));
      writeFileSync(path.join(dir, 'probe.list'), list);
      for (const p of PROBED) farm.gw(p).holding.kamailio = farm.gw(p).holding.siphon = true;
      await Promise.all([run('kamcmd', ['-s', ctl.kamailio, 'dispatcher.reload']), run('kamcmd', ['-s', ctl.siphon, 'dispatcher.reload'])]);
    }, 60_000);
    afterAll(async () => {
      await pair?.stop();
      await farm?.close();
    });

    it('dispatcher.list after every keepalive round', async () => {
      // the barrier: each gateway holds every keepalive unanswered until both states were read, so
      // a snapshot shows exactly n answered rounds (a round's answers are processed long before the
      // next round, 1 s later, is sent)
      const pinged = PROBED.filter((p) => p !== 'pF');
      const snapshots: Record<ServerName, string[][]> = { kamailio: [], siphon: [] };
      const counts: Record<ServerName, string[]> = { kamailio: [], siphon: [] };
      await Promise.all(
        (['kamailio', 'siphon'] as const).map(async (side) => {
          for (let n = 0; n < ROUNDS; n++) {
            await farm.until(() => pinged.every((p) => farm.gw(p).heldFor(side) > 0), 4000);
            snapshots[side].push(await readDsList(ctl[side], farm.side(pair[side]).substitutions));
            counts[side].push(PROBED.map((p) => `${p}=${farm.gw(p).count(side, 'OPTIONS')}`).join(' '));
            if (n === ROUNDS - 1) for (const p of PROBED) farm.gw(p).holding[side] = false;
            for (const p of PROBED) farm.gw(p).release(side);
          }
        }),
      );
      for (let n = 0; n < ROUNDS; n++) {
        const k = snapshots.kamailio[n]!;
        const s = snapshots.siphon[n]!;
        const diffs = listDiffs(k, s);
        if (counts.kamailio[n] !== counts.siphon[n]) diffs.push({ path: 'keepalives', kamailio: counts.kamailio[n]!, siphon: counts.siphon[n]! });
        report.add(`keepalive states after ${n} answered rounds`, diffs);
      }
      if (process.env.ORACLE_DEBUG) for (const side of ['kamailio', 'siphon'] as const) console.log(snapshots[side].map((x, i) => `${side} ${i}: ${x.join(', ')} ${counts[side][i]}`).join('\n'));
      expect(snapshots.kamailio[0]!.length).toBe(PROBED.length + 1);
      // the scripts move the states: the rounds are not all alike
      expect(new Set(snapshots.kamailio.map((x) => x.join('|'))).size).toBeGreaterThanOrEqual(4);

    }, 60_000);
  });

  it('every difference is a known, documented one', () => {
    console.log(report.summary());
    expect(report.compared).toBeGreaterThanOrEqual(1700);
    expect(report.identical).toBeGreaterThanOrEqual(1500);
    expect(report.unexpected()).toEqual([]);
    expect(report.unusedKnown()).toEqual([]);
  });
});
