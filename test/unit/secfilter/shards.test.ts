/**
 * secfilter with several shards (core.workers): real SecFilterModule instances for shard 0 (its
 * embedded store) and two worker shards linked by linkedShards(). Workers start with shard 0's
 * lists, and every RPC change made in shard 0 (add, del, reload, stats_reset) reaches both workers'
 * secf_check_* functions.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { SecFilterModule, TableRuleSource } from '../../../host/modules/secfilter/index.js';
import { linkedShards } from '../../../host/shards/link.js';
import type { RpcValue } from '../../../host/rpc/types.js';

const log = pino({ level: 'silent' });
let dir: string;
let shards: Awaited<ReturnType<typeof linkedShards>>;
let m0: SecFilterModule;
let workers: SecFilterModule[];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'smallshard-secf-'));
  shards = await linkedShards(2);
  m0 = new SecFilterModule();
  await m0.init({ config: { seed_ua_blacklist: ['friendly-scanner'], reload_delta: 0 }, dataDir: dir, log, shard: shards.main });
  workers = [];
  for (const w of shards.workers) {
    const m = new SecFilterModule();
    // a data_dir the worker must never open
    await m.init({ config: { seed_ua_blacklist: ['never-seeded'] }, dataDir: path.join(dir, `worker-${w.index}`), log, shard: w });
    workers.push(m);
  }
});

afterEach(async () => {
  await Promise.all([m0, ...workers].map((m) => m.close()));
  shards.close();
  await rm(dir, { recursive: true, force: true });
});

async function rpc(name: string, ...params: RpcValue[]): Promise<unknown> {
  const m = m0.rpcMethods().find((r) => r.name === name);
  if (!m) throw new Error(`no ${name}`);
  return m.handler(params);
}

/** every broadcast shard 0 posted before this reaches the workers before this resolves (one ordered port each). */
async function delivered(): Promise<void> {
  await Promise.all(shards.workers.map((w) => w.main!.call('secfilter', 'rules', [])));
}

describe('secfilter with core.workers', () => {
  it('workers start with shard 0 lists, without a database of their own', () => {
    for (const w of workers) {
      expect(w.secfilter.checkUa('friendly-scanner 1.0')).toBe(-2);
      expect(w.secfilter.checkUa('never-seeded')).toBe(1);
      expect(w.rpcMethods().length).toBeGreaterThan(0); // registered from shard 0 only by the node; harmless here
    }
  });

  it('add_bl / add_wl / add_dst in shard 0 reach both workers; del_* removes there too', async () => {
    await rpc('secfilter.add_bl', 'ua', 'evilbot');
    await rpc('secfilter.add_wl', 'user', 'boss');
    await rpc('secfilter.add_dst', '0900');
    await delivered();
    for (const w of workers) {
      expect(w.secfilter.checkUa('evilbot/2')).toBe(-2);
      expect(w.secfilter.checkUsernameFromHdr('<sip:boss@example.com>')).toBe(2);
      expect(w.secfilter.checkDst('0900')).toBe(-2);
    }
    await rpc('secfilter.del_bl', 'ua', 'evil');
    await rpc('secfilter.del_dst', '09');
    await delivered();
    for (const w of workers) {
      expect(w.secfilter.checkUa('evilbot/2')).toBe(1);
      expect(w.secfilter.checkDst('0900')).toBe(1);
      expect(w.secfilter.checkUsernameFromHdr('<sip:boss@example.com>')).toBe(2);
    }
  });

  it('reload in shard 0 gives the workers the table as shard 0 read it (RPC additions dropped, as in Kamailio)', async () => {
    await rpc('secfilter.add_bl', 'ip', '10.9.');
    const source = m0.secfilter.source as TableRuleSource;
    await source.add({ action: 0, type: 2, data: 'evil.example' });
    expect(await rpc('secfilter.reload')).toBe('Data reloaded');
    await delivered();
    for (const w of workers) {
      expect(w.secfilter.checkIp('10.9.8.7')).toBe(1);
      expect(w.secfilter.checkDomainFromHdr('<sip:x@evil.example>')).toBeLessThan(0);
      expect(w.secfilter.rules.toRules()).toEqual(m0.secfilter.rules.toRules());
    }
  });

  it('stats_reset in shard 0 resets the workers counters too (the node sums them)', async () => {
    for (const w of workers) w.secfilter.checkUa('friendly-scanner');
    expect(workers[0]!.statistics()['Blacklist-User-Agent']).toBe(1);
    await rpc('secfilter.stats_reset');
    await delivered();
    for (const w of workers) expect(w.statistics()['Blacklist-User-Agent']).toBe(0);
  });
});
