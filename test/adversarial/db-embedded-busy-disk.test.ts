/**
 * A disk that stops answering cannot stall the embedded store's readers or grow its memory without
 * bound (host/db/embedded-table.ts): with fdatasync held back (FileHandle.prototype.datasync gated in
 * this test worker), reads are still answered from memory, writes beyond core.db.write_queue are
 * refused at once with E5011, and once the disk answers every accepted write commits and a fresh
 * handle (another process) reads the same rows.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedDatabase } from '../../host/db/index.js';
import type { TableDef } from '../../host/db/types.js';
import { isSiphonError } from '../../host/errors/registry.js';

const T: TableDef = {
  name: 'busy',
  version: 1,
  columns: [
    { name: 'id', type: 'int', autoIncrement: true, notNull: true },
    { name: 'k', type: 'varchar', length: 32, notNull: true, default: '' },
  ],
  indexes: [{ name: 'k_idx', columns: ['k'] }],
};

let dir: string;
type Proto = { datasync(this: unknown): Promise<void> };
let proto: Proto;
let original: Proto['datasync'];
let release: () => void = () => undefined;
let held = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'siphon-busy-disk-'));
  const fh = await open(path.join(dir, 'probe'), 'w');
  proto = Object.getPrototypeOf(fh) as Proto;
  await fh.close();
  original = proto.datasync;
});

afterAll(async () => {
  proto.datasync = original;
  release();
  await rm(dir, { recursive: true, force: true });
});

/** from now on every fdatasync waits until release() is called. */
function holdTheDisk(): void {
  const gate = new Promise<void>((r) => (release = r));
  proto.datasync = async function (this: unknown) {
    held++;
    await gate;
    return original.call(this);
  };
}

describe('embedded store on a disk that stops answering', () => {
  it('keeps answering reads, refuses writes past write_queue, and commits the rest when the disk returns', async () => {
    const db = new EmbeddedDatabase(dir, { limits: { write_queue: 100 } });
    const t = db.table<{ id: number; k: string }>(T);
    await Promise.all(Array.from({ length: 10 }, (_, i) => t.insert({ k: `before-${i}` })));

    holdTheDisk();
    const group = Array.from({ length: 50 }, (_, i) => t.insert({ k: `group-${i}` }));
    // the group is being synced (held); nothing of it has settled
    await expect.poll(() => held, { timeout: 5000 }).toBeGreaterThan(0);
    let settled = 0;
    for (const p of group) void p.then(() => settled++);

    // reads do not wait for the disk
    const rows = await t.all();
    expect(rows.length).toBeGreaterThanOrEqual(10);
    expect((await t.find({ k: 'before-3' })).map((r) => r.k)).toEqual(['before-3']);

    // 100 more may wait; the 101st is refused at once
    const queued = Array.from({ length: 100 }, (_, i) => t.insert({ k: `queued-${i}` }));
    const refused = await t.insert({ k: 'one-too-many' }).catch((e: unknown) => e);
    expect(isSiphonError(refused, 'DB_BUSY')).toBe(true);
    expect(String(refused)).toMatch(/core\.db\.write_queue/);
    expect(settled).toBe(0);
    expect(db.counters.busy).toBe(1);

    release();
    proto.datasync = original;
    const ids = await Promise.all([...group, ...queued]);
    expect(new Set(ids).size).toBe(150);
    const fresh = new EmbeddedDatabase(dir);
    const all = await fresh.table<{ id: number; k: string }>(T).all();
    expect(all).toHaveLength(160);
    expect(all.some((r) => r.k === 'one-too-many')).toBe(false);
    await Promise.all([db.close(), fresh.close()]);
  });
});
