/**
 * db_mode 3 serialisation per AOR (host/modules/registrar/aor-gate.ts) over a backend stand-in:
 * a second copy of a REGISTER reads only after the first one's write committed (so it is answered
 * as a retransmission, one binding), at most 8 REGISTERs hold or wait for one AOR (the 9th is
 * answered 500 without a read, E9111), and a hold ends on its own after its time limit.
 */
import { describe, expect, it } from 'vitest';
import { AorGate } from '../../../host/modules/registrar/aor-gate.js';
import type { Contact } from '../../../host/modules/registrar/contact.js';
import { Location } from '../../../host/modules/registrar/location.js';
import type { LocationBackend } from '../../../host/modules/registrar/location-db.js';
import { Registrar } from '../../../host/modules/registrar/registrar.js';
import { resolveRegistrarConfig } from '../../../host/modules/registrar/config.js';
import { Clock, LOCAL, log, register, SRC } from './helpers.js';

/** rows in memory; every call waits one macrotask, as a DB round trip would. */
class FakeBackend implements LocationBackend {
  readonly table = 'location';
  rows: Contact[] = [];
  reads = 0;
  private tick = () => new Promise((r) => setImmediate(r));
  async prepare(): Promise<void> {}
  async loadAll(): Promise<Contact[]> {
    return [...this.rows];
  }
  async loadAor(username: string): Promise<Contact[]> {
    this.reads++;
    await this.tick();
    return this.rows.filter((c) => c.username === username);
  }
  async insert(c: Contact): Promise<void> {
    await this.tick();
    this.rows.push(c);
  }
  async update(c: Contact): Promise<void> {
    await this.tick();
    this.rows = this.rows.map((r) => (r.ruid === c.ruid ? c : r));
  }
  async deleteRuid(ruid: string): Promise<number> {
    const n = this.rows.length;
    this.rows = this.rows.filter((r) => r.ruid !== ruid);
    return n - this.rows.length;
  }
  async deleteAor(): Promise<number> {
    return 0;
  }
  async deleteExpired(): Promise<number> {
    return 0;
  }
}

function dbOnly(): { reg: Registrar; backend: FakeBackend } {
  const clock = new Clock();
  const backend = new FakeBackend();
  const reg = new Registrar(resolveRegistrarConfig({ db_mode: 3 }), log);
  reg.addTable(new Location({ name: 'location', dbMode: 3, backend, timerInterval: 3600, log, now: clock.now }));
  return { reg, backend };
}

/** what the pipeline does for one REGISTER: prefetch, route (save), done. */
async function pipeline(reg: Registrar, copy: ReturnType<typeof register>): Promise<number> {
  await reg.prefetch(copy);
  const r = reg.saveSync('location', copy, SRC, LOCAL);
  reg.prefetchDone(copy);
  if (r.committed) await r.committed;
  return r.reply.code;
}

describe('db_mode 3 AOR gate', () => {
  it('two copies of one REGISTER in flight together store one binding; both are answered 200', async () => {
    const { reg, backend } = dbOnly();
    const spec = { to: 'sip:erin@example.com', callId: 'gate-1', contacts: ['<sip:erin@10.0.0.1>'] };
    const codes = await Promise.all([pipeline(reg, register(spec)), pipeline(reg, register(spec))]);
    expect(codes).toEqual([200, 200]);
    expect(backend.rows).toHaveLength(1);
    expect(reg.heldAors).toBe(0);
  });

  it('the 9th REGISTER for one AOR in flight is answered 500 without reading or writing (E9111)', async () => {
    const { reg, backend } = dbOnly();
    const spec = { to: 'sip:frank@example.com', callId: 'gate-2', contacts: ['<sip:frank@10.0.0.1>'] };
    const copies = Array.from({ length: 9 }, () => register(spec));
    const prefetches = copies.map((c) => reg.prefetch(c));
    await prefetches[8]; // the refused one returns at once, without its AOR
    const refused = reg.saveSync('location', copies[8]!, SRC, LOCAL);
    expect(refused.reply.code).toBe(500);
    expect(reg.counters.aorBusy).toBe(1);
    // the eight others go one after the other
    for (let i = 0; i < 8; i++) {
      await prefetches[i];
      const r = reg.saveSync('location', copies[i]!, SRC, LOCAL);
      reg.prefetchDone(copies[i]!);
      if (r.committed) await r.committed;
      expect(r.reply.code).toBe(200);
    }
    expect(backend.rows).toHaveLength(1);
    await new Promise((r) => setImmediate(r));
    expect(reg.heldAors).toBe(0);
  });

  it('a hold that is never released ends after its time limit', async () => {
    const gate = new AorGate(8, 20);
    const first = await gate.acquire('a')!;
    const second = gate.acquire('a')!;
    expect(gate.size).toBe(1);
    const release = await second; // resolves once the first hold timed out
    release();
    first(); // idempotent after the timeout
    expect(gate.size).toBe(0);
  });
});
