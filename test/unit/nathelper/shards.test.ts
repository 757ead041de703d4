/**
 * nathelper with several shards (core.workers): NAT keepalives walk the registrar's tables (shared
 * state), so only shard 0's NathelperModule starts them; a worker shard's attach() starts nothing and
 * its statistics carry only the per-message counters. nat_uac_test / fix_nated_* need no shard state.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { NathelperModule } from '../../../host/modules/nathelper/index.js';
import { linkedShards } from '../../../host/shards/link.js';
import { memoryRegistrar } from '../registrar/helpers.js';

const log = pino({ level: 'silent' });
let shards: Awaited<ReturnType<typeof linkedShards>>;

beforeEach(async () => {
  shards = await linkedShards(1);
});
afterEach(() => shards.close());

describe('nathelper with core.workers', () => {
  it('keepalives start in shard 0 only', async () => {
    const { reg } = memoryRegistrar({ max_contacts: 0 });
    const m0 = new NathelperModule();
    const w = new NathelperModule();
    await m0.init({ config: { natping_interval: 30 }, dataDir: '', log, shard: shards.main });
    await w.init({ config: { natping_interval: 30 }, dataDir: '', log, shard: shards.workers[0]! });
    const sent: string[] = [];
    m0.attach(reg, (_b, a) => (sent.push(a), true));
    w.attach(reg, (_b, a) => (sent.push(a), true));
    expect(m0.pinger.running).toBe(true);
    expect(w.pinger.running).toBe(false);
    expect(Object.keys(w.statistics()).sort()).toEqual(['contacts_fixed', 'nat_detected', 'registers_fixed']);
    expect(m0.statistics()).toHaveProperty('natping_rounds');
    await Promise.all([m0.close(), w.close()]);
  });
});
