/**
 * pike with several shards (core.workers): real PikeModule instances for shard 0 and two worker
 * shards linked by linkedShards(). A source whose requests are spread over two workers is blocked
 * at about the count one shard blocks it at (shard 0 sums the forwarded counts and broadcasts the
 * block), pike.unblock in shard 0 unblocks it on the workers, and failed authentications counted in
 * a worker (penalize) block the source everywhere.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { PikeModule, PIKE_BLOCKED, PIKE_OK } from '../../../host/modules/pike/index.js';
import { linkedShards } from '../../../host/shards/link.js';
import type { RpcValue } from '../../../host/rpc/types.js';

const log = pino({ level: 'silent' });
// one long window: the test's requests never straddle a window boundary
const config = { sampling_time_unit: 3600, reqs_density_per_unit: 30 };
const SRC = '203.0.113.7';
let shards: Awaited<ReturnType<typeof linkedShards>>;
let m0: PikeModule;
let workers: PikeModule[];

beforeEach(async () => {
  shards = await linkedShards(2);
  m0 = new PikeModule();
  await m0.init({ config, dataDir: '', log, shard: shards.main });
  workers = [];
  for (const w of shards.workers) {
    const m = new PikeModule();
    await m.init({ config, dataDir: '', log, shard: w });
    workers.push(m);
  }
});

afterEach(async () => {
  await Promise.all([m0, ...workers].map((m) => m.close()));
  shards.close();
});

async function rpc(name: string, ...params: RpcValue[]): Promise<unknown> {
  const m = m0.rpcMethods().find((r) => r.name === name);
  if (!m) throw new Error(`no ${name}`);
  return m.handler(params);
}

/** checks SRC on `pick(i)` until it is refused; each check reaches shard 0, and its answer every worker, before the next. */
async function requestsUntilBlocked(pick: (i: number) => PikeModule): Promise<number> {
  for (let i = 1; i <= 100; i++) {
    const m = pick(i);
    const v = m.pike.checkSource(SRC);
    await m.shardForwarder?.flush();
    // and a round trip on every worker's port, so shard 0's broadcasts are in everywhere
    await Promise.all(workers.map((w) => w.shardForwarder!.flush()));
    if (v !== PIKE_OK) return i;
  }
  return Infinity;
}

describe('pike with core.workers', () => {
  it('a source spread over two workers is blocked at about the count one shard blocks it at', async () => {
    const single = new PikeModule();
    await single.init({ config, dataDir: '', log });
    const alone = await requestsUntilBlocked(() => single);
    await single.close();
    expect(alone).toBe(30);

    const spread = await requestsUntilBlocked((i) => workers[i % 2]!);
    // the 30th request reaches shard 0 and blocks there; the next one, on either worker, is refused
    expect(spread).toBeGreaterThanOrEqual(alone);
    expect(spread).toBeLessThanOrEqual(alone + 1);
    for (const w of workers) expect(w.pike.checkSource(SRC)).toBe(PIKE_BLOCKED);
    const listed = (await rpc('pike.list')) as { list: Array<{ ip_addr: string }> };
    expect(listed.list.map((r) => r.ip_addr)).toEqual([SRC]);
    // each worker saw about half: none would have blocked alone
    expect(workers.every((w) => w.pike.state.blockedCount === 0)).toBe(true);
  });

  it('pike.unblock in shard 0 unblocks the source on every worker', async () => {
    await requestsUntilBlocked((i) => workers[i % 2]!);
    expect(await rpc('pike.unblock', SRC)).toBe(`Unblocked ${SRC}`);
    for (const w of workers) {
      await w.shardForwarder!.flush(); // a round trip on the worker's port: the unblock broadcast is in
      expect(w.pike.checkSource(SRC)).toBe(PIKE_OK);
    }
  });

  it('failed authentications counted in a worker (penalize) block the source on every shard', async () => {
    const w1 = workers[0]!;
    for (let i = 0; i < 3; i++) w1.pike.penalize('198.51.100.9', 10);
    await w1.shardForwarder!.flush();
    await workers[1]!.shardForwarder!.flush();
    expect(workers[1]!.pike.checkSource('198.51.100.9')).toBe(PIKE_BLOCKED);
    expect(m0.pike.checkSource('198.51.100.9')).toBe(PIKE_BLOCKED);
    expect(w1.statistics()).toEqual({ checks: 0, auto_dropped: 0, auto_rejected: 0, auth_failures: 3 });
    expect(m0.statistics()['blocked_ips']).toBe(1);
  });

  it('a worker started after a block takes the blocked sources from shard 0', async () => {
    await requestsUntilBlocked(() => m0);
    const late = await linkedShards(1);
    const m0b = new PikeModule();
    await m0b.init({ config, dataDir: '', log, shard: late.main });
    for (let i = 0; i < 30; i++) m0b.pike.checkSource(SRC);
    const w = new PikeModule();
    await w.init({ config, dataDir: '', log, shard: late.workers[0]! });
    expect(w.pike.checkSource(SRC)).toBe(PIKE_BLOCKED);
    await Promise.all([m0b.close(), w.close()]);
    late.close();
  });
});
