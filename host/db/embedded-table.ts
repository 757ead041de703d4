/**
 * One table of the embedded store: its rows in memory, a snapshot and an append-only log on disk
 * (formats in embedded-files.ts).
 *
 * Cost: a write appends its own line (O(row)), never the table. Writes are queued and committed in
 * groups: every write that arrived while the previous group was being fsynced goes out in one
 * append + one fdatasync (group commit), through fs.promises, so the event loop never waits for the
 * disk. The promise of a write settles once its line is durable. When the log outgrows both the
 * snapshot and `compact_min_bytes`, the table is rewritten once (compaction): the cost is O(table)
 * per O(table) bytes of log, so O(1) amortized per write. At most `write_queue` writes wait per
 * table; further ones are refused at once (E5011), so a disk that stops answering costs memory
 * bounded by the queue, not the heap.
 *
 * Reads are served from memory after a cheap check (two stats) that no other process changed the
 * files: a grown log is read from where this process stopped, a replaced snapshot or log is read
 * again in full. While a group is being committed, reads do not wait for the disk and may see the
 * writes of that group (read-uncommitted). Equality lookups on an indexed column (the table's id
 * and the first column of each of its indexes) use a hash index, so deleting expired rows one by
 * one is linear in the rows deleted.
 *
 * Two processes writing the same table at the same instant can still lose one change (no
 * cross-process lock, as before); a writer that notices the log grew under its own append reloads.
 */
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { SiphonError } from '../errors/registry.js';
import { logHeader, parseLogLine, parseSnapshot, replaceFile, snapshotText, type LogEntry } from './embedded-files.js';
import type { DbLimits, Row, RowValue } from './types.js';

/** A change asked for by EmbeddedTable; applied in order when its group is committed. */
export type Change =
  | { kind: 'insert'; values: Row; idCol: string | undefined }
  | { kind: 'delete'; where: Row }
  | { kind: 'update'; where: Row; set: Row };

interface Pending {
  change: Change;
  resolve: (n: number) => void;
  reject: (e: unknown) => void;
}

/** Counters shared by the tables of one EmbeddedDatabase. */
export interface EmbeddedCounters {
  /** bytes written to snapshots and logs. */
  bytesWritten: number;
  /** groups committed (one append + one fdatasync each). */
  commits: number;
  /** writes committed. */
  writes: number;
  compactions: number;
  /** writes refused because write_queue was full (E5011). */
  busy: number;
  /** logs found with a torn last line (E5012). */
  tornTails: number;
}

interface FileId {
  ino: number;
  size: number;
  mtimeMs: number;
}

const sameFile = (a: FileId | null, b: Stats | null): boolean =>
  a === null ? b === null : b !== null && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;

async function statOrNull(file: string): Promise<Stats | null> {
  try {
    return await stat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SiphonError('DB_QUERY', `cannot stat ${file}: ${(e as Error).message}`, { cause: e });
  }
}

type Bucket = number | Set<number>;

function matches(row: Row, where: Row, keys: readonly string[]): boolean {
  for (const k of keys) if (row[k] !== where[k]) return false;
  return true;
}

export class TableStore {
  readonly snapFile: string;
  readonly logFile: string;
  /** false until loaded, and again after a failure that left memory unlike the disk. */
  private loaded = false;
  private exists = false;
  private version = 0;
  private nextId = 1;
  private gen = 0;
  private rows = new Map<number, Row>();
  private nextKey = 0;
  /** column → value → the row key, or a set of them (a set only where values repeat: fewer allocations). */
  private readonly indexes = new Map<string, Map<RowValue, Bucket>>();

  private snapId: FileId | null = null;
  /** the log as this process has read it: inode, and the bytes consumed (complete lines). */
  private logIno = -1;
  private logSize = 0;
  /** the log's header is older than the snapshot (a crash between the two renames of a compaction), or it is missing. */
  private logStale = true;
  /** bytes past logSize that are a torn line (to cut before the next append). */
  private tornBytes = 0;
  private fh: FileHandle | null = null;

  /** the tail of the table's lock (loads, refreshes and commits run one at a time). */
  private lock: Promise<unknown> = Promise.resolve();
  private refreshing: Promise<void> | null = null;
  private pending: Pending[] = [];
  /** a commit loop is scheduled or running. */
  private committing = false;

  constructor(
    private readonly dir: string,
    readonly name: string,
    private readonly limits: Required<DbLimits>,
    private readonly counters: EmbeddedCounters,
    private readonly log?: Logger,
  ) {
    this.snapFile = path.join(dir, `${name}.json`);
    this.logFile = path.join(dir, `${name}.log`);
  }

  /** the version a table gets when its first insert creates it (the TableDef's). */
  createVersion = 0;

  /** indexes `col` for equality lookups (built now if loaded, kept up to date from then on). */
  addIndex(col: string): void {
    if (this.indexes.has(col)) return;
    const idx = new Map<RowValue, Bucket>();
    this.indexes.set(col, idx);
    for (const [k, r] of this.rows) this.indexAdd(idx, r[col] ?? null, k);
  }

  // ---- reads ----------------------------------------------------------------------------------

  /** the table's version, or null when it does not exist. */
  async tableVersion(): Promise<number | null> {
    await this.fresh();
    return this.exists ? this.version : null;
  }

  /** copies of the rows matching `where` (every row for an empty filter), in insertion order. */
  async select(where: Row): Promise<Row[]> {
    await this.fresh();
    const out: Row[] = [];
    for (const k of this.keysOf(where)) out.push({ ...this.rows.get(k)! });
    return out;
  }

  /** up to date with the files, unless a commit is under way (then memory is at least as new). */
  private fresh(): Promise<void> {
    if (this.loaded && this.committing) return Promise.resolve();
    if (!this.refreshing) {
      this.refreshing = this.locked(() => this.refresh()).finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  // ---- writes ---------------------------------------------------------------------------------

  /** queues a change; resolves with the new id (insert) or the rows affected once it is durable. */
  write(change: Change): Promise<number> {
    if (this.pending.length >= this.limits.write_queue) {
      this.counters.busy++;
      return Promise.reject(new SiphonError('DB_BUSY', `${this.name}: ${this.pending.length} writes waiting for the disk (core.db.write_queue)`, { where: this.dir }));
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ change, resolve, reject });
      if (!this.committing) {
        this.committing = true;
        // next macrotask: the writes issued in this tick form the first group
        setImmediate(() => void this.locked(() => this.commitLoop()));
      }
    });
  }

  /** creates the table (an empty snapshot) when it does not exist. */
  ensure(version: number): Promise<void> {
    return this.locked(async () => {
      await this.refresh();
      if (!this.exists) await this.create(version);
    });
  }

  /** an empty table: snapshot at generation 0; the log is created by the first append. */
  private async create(version: number): Promise<void> {
    this.exists = true;
    this.version = version;
    this.nextId = 1;
    this.gen = 0;
    this.rows = new Map();
    this.nextKey = 0;
    for (const idx of this.indexes.values()) idx.clear();
    this.logStale = true;
    await this.writeSnapshot();
  }

  private async commitLoop(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const group = this.pending;
        this.pending = [];
        await this.commit(group);
      }
    } finally {
      this.committing = false;
      // a write that arrived after the loop's last check
      if (this.pending.length > 0) {
        this.committing = true;
        setImmediate(() => void this.locked(() => this.commitLoop()));
      }
    }
  }

  private async commit(group: Pending[]): Promise<void> {
    const results: number[] = [];
    const lines: string[] = [];
    try {
      await this.refresh();
      if (!this.exists && group.some((p) => p.change.kind === 'insert')) {
        // first insert into a table nobody created: the store creates it on use (empty snapshot first)
        await this.create(this.createVersion);
      }
      for (const p of group) results.push(this.apply(p.change, lines));
      if (lines.length > 0) await this.append(lines.join(''));
    } catch (e) {
      // memory may hold changes the disk does not: read the files again next time
      this.invalidate();
      const err = e instanceof SiphonError ? e : new SiphonError('DB_QUERY', `${this.logFile}: ${(e as Error).message}`, { cause: e });
      for (const p of group) p.reject(err);
      return;
    }
    this.counters.commits++;
    this.counters.writes += group.length;
    for (let i = 0; i < group.length; i++) group[i]!.resolve(results[i]!);
    if (this.logSize > this.limits.compact_min_bytes && this.logSize > (this.snapId?.size ?? 0)) {
      try {
        await this.compact();
      } catch (e) {
        this.invalidate();
        this.log?.error({ table: this.name, err: (e as Error).message }, 'embedded store: compaction failed; the log is kept');
      }
    }
  }

  /** applies one change to memory and adds its log line; returns the id / the count. */
  private apply(c: Change, lines: string[]): number {
    if (c.kind === 'insert') {
      let row = c.values;
      let id = 0;
      if (c.idCol) {
        id = this.nextId++;
        row = { [c.idCol]: id, ...row };
      }
      this.insertRow(row);
      lines.push(`${JSON.stringify(c.idCol ? { i: row, n: this.nextId } : { i: row })}\n`);
      return id;
    }
    const keys = this.keysOf(c.where);
    if (keys.length === 0) return 0;
    if (c.kind === 'delete') {
      this.deleteRows(keys);
      lines.push(`${JSON.stringify({ d: keys })}\n`);
    } else {
      this.updateRows(keys, c.set);
      lines.push(`${JSON.stringify({ u: keys, s: c.set })}\n`);
    }
    return keys.length;
  }

  /** appends to the log and waits for fdatasync. */
  private async append(text: string): Promise<void> {
    const fh = await this.logHandle();
    const buf = Buffer.from(text, 'utf8');
    await fh.write(buf, 0, buf.length, null);
    await fh.datasync();
    this.counters.bytesWritten += buf.length;
    const st = await fh.stat();
    if (st.size !== this.logSize + buf.length) {
      // another process appended at the same time: our picture of the keys may be off
      this.log?.warn({ table: this.name, file: this.logFile }, 'embedded store: another process wrote the same table concurrently; reloading');
      this.invalidate();
      return;
    }
    this.logSize = st.size;
  }

  /** the open log, created (header for this generation) when missing or stale, a torn tail cut off. */
  private async logHandle(): Promise<FileHandle> {
    if (this.logStale) {
      await this.closeLog();
      this.counters.bytesWritten += await replaceFile(this.logFile, logHeader(this.gen));
      this.logStale = false;
      this.tornBytes = 0;
    }
    if (!this.fh) {
      this.fh = await open(this.logFile, 'a+', 0o640);
      const st = await this.fh.stat();
      this.logIno = st.ino;
      if (this.tornBytes === 0) this.logSize = st.size;
    }
    if (this.tornBytes > 0) {
      await this.fh.truncate(this.logSize);
      await this.fh.datasync();
      this.tornBytes = 0;
    }
    return this.fh;
  }

  /** folds the log into a new snapshot (generation + 1) and starts an empty log. */
  private async compact(): Promise<void> {
    this.gen++;
    // keys are positions in load order: renumber, as a process loading the new snapshot would
    const rows = [...this.rows.values()];
    this.rows = new Map();
    this.nextKey = 0;
    for (const idx of this.indexes.values()) idx.clear();
    for (const r of rows) this.insertRow(r);
    await this.writeSnapshot();
    // crash here: the snapshot's generation is newer than the log's header, so the log is ignored
    this.logStale = true;
    await this.logHandle();
    this.counters.compactions++;
  }

  private async writeSnapshot(): Promise<void> {
    const text = snapshotText({ table: this.name, version: this.version, nextId: this.nextId, gen: this.gen, rows: [] }, this.rows.values());
    this.counters.bytesWritten += await replaceFile(this.snapFile, text);
    const st = await stat(this.snapFile);
    this.snapId = { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
  }

  private invalidate(): void {
    this.loaded = false;
  }

  // ---- loading --------------------------------------------------------------------------------

  /** brings memory up to date with the files (caller holds the lock). */
  private async refresh(): Promise<void> {
    const [snap, log] = await Promise.all([statOrNull(this.snapFile), statOrNull(this.logFile)]);
    if (!this.loaded || !sameFile(this.snapId, snap) || (log === null) !== (this.logIno === -1) || (log !== null && (log.ino !== this.logIno || log.size < this.logSize))) {
      await this.load(snap);
      return;
    }
    if (log !== null && !this.logStale && log.size > this.logSize + this.tornBytes) await this.readTail(log.size);
  }

  private async load(snap: Stats | null): Promise<void> {
    await this.closeLog();
    this.rows = new Map();
    this.nextKey = 0;
    for (const idx of this.indexes.values()) idx.clear();
    this.logIno = -1;
    this.logSize = 0;
    this.tornBytes = 0;
    this.logStale = true;
    this.loaded = false;
    if (snap === null) {
      this.exists = false;
      this.version = 0;
      this.nextId = 1;
      this.gen = 0;
      this.snapId = null;
      this.loaded = true;
      return;
    }
    const text = await this.read(this.snapFile);
    if (text === null) return this.load(null);
    const s = parseSnapshot(this.snapFile, this.name, text);
    this.exists = true;
    this.version = s.version;
    this.nextId = s.nextId;
    this.gen = s.gen;
    this.snapId = { ino: snap.ino, size: snap.size, mtimeMs: snap.mtimeMs };
    for (const r of s.rows) this.insertRow(r);
    await this.loadLog();
    this.loaded = true;
  }

  private async read(file: string): Promise<string | null> {
    try {
      return await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new SiphonError('DB_QUERY', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
    }
  }

  private async loadLog(): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await open(this.logFile, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new SiphonError('DB_QUERY', `cannot read ${this.logFile}: ${(e as Error).message}`, { cause: e });
    }
    let buf: Buffer;
    let ino: number;
    try {
      ino = (await fh.stat()).ino;
      buf = await fh.readFile();
    } finally {
      await fh.close();
    }
    const nl = buf.indexOf(10);
    const header = nl < 0 ? null : parseLogLine(buf.subarray(0, nl).toString('utf8'));
    if (header === null || !('gen' in header)) throw new SiphonError('DB_STORE_CORRUPT', `${this.logFile}:1: expected the header {"gen":N}`);
    if (header.gen > this.gen) throw new SiphonError('DB_STORE_CORRUPT', `${this.logFile}:1: generation ${header.gen} is newer than the snapshot's (${this.gen})`);
    this.logIno = ino;
    if (header.gen < this.gen) {
      // left over from a compaction that crashed after writing the snapshot: already in it
      this.logSize = buf.length;
      return;
    }
    this.logStale = false;
    this.logSize = nl + 1;
    this.applyLines(buf, nl + 1, 2, true);
  }

  /** reads what other processes appended since this process last looked. */
  private async readTail(size: number): Promise<void> {
    const fh = await open(this.logFile, 'r');
    let buf: Buffer;
    try {
      buf = Buffer.alloc(size - this.logSize);
      const { bytesRead } = await fh.read(buf, 0, buf.length, this.logSize);
      buf = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
    this.applyLines(buf, 0, 0, false);
  }

  /**
   * Replays complete lines of `buf` from `from`, advancing logSize. At load (`atLoad`), a last line
   * that is cut short or does not parse is a torn write: ignored with a warning (E5012) and cut off
   * before the next append; a bad line followed by others is corruption (E5004, file and line).
   * Reading another process's tail, an incomplete last line is simply not read yet.
   */
  private applyLines(buf: Buffer, from: number, firstLine: number, atLoad: boolean): void {
    const base = atLoad ? 0 : this.logSize;
    let pos = from;
    let lineNo = firstLine;
    while (pos < buf.length) {
      const nl = buf.indexOf(10, pos);
      const end = nl < 0 ? buf.length : nl;
      const entry = parseLogLine(buf.subarray(pos, end).toString('utf8'));
      const last = nl < 0 || nl + 1 >= buf.length;
      if (entry === null || 'gen' in entry || nl < 0) {
        if (!last) throw new SiphonError('DB_STORE_CORRUPT', `${this.logFile}${lineNo ? `:${lineNo}` : ''}: not a log entry`);
        if (!atLoad && nl < 0) return; // being written by another process
        this.tornBytes = buf.length - pos;
        this.counters.tornTails++;
        const e = new SiphonError('DB_LOG_TORN', `${this.logFile}${lineNo ? `:${lineNo}` : ''}: last line cut short (${this.tornBytes} bytes), ignored`);
        this.log?.warn({ table: this.name, code: e.code }, e.message);
        return;
      }
      this.replay(entry);
      pos = end + 1;
      this.logSize = base + pos;
      if (lineNo) lineNo++;
    }
  }

  private replay(e: LogEntry): void {
    if ('i' in e) {
      this.insertRow(e.i);
      if (typeof e.n === 'number' && e.n > this.nextId) this.nextId = e.n;
    } else if ('d' in e) {
      this.deleteRows(e.d);
    } else {
      this.updateRows(e.u, e.s);
    }
  }

  // ---- rows and indexes -----------------------------------------------------------------------

  /** the keys of the rows matching `where`, through an index when one of its columns has one. */
  private keysOf(where: Row): number[] {
    const cols = Object.keys(where);
    let candidates: Iterable<number> | null = null;
    for (const c of cols) {
      const idx = this.indexes.get(c);
      if (idx) {
        const b = idx.get(where[c] ?? null);
        candidates = b === undefined ? [] : typeof b === 'number' ? [b] : b;
        break;
      }
    }
    const out: number[] = [];
    for (const k of candidates ?? this.rows.keys()) {
      const r = this.rows.get(k);
      if (r && matches(r, where, cols)) out.push(k);
    }
    // the rows map is in key (insertion) order; an index bucket may not be after updates moved rows
    if (candidates !== null && out.length > 1) out.sort((a, b) => a - b);
    return out;
  }

  private insertRow(row: Row): void {
    const k = this.nextKey++;
    this.rows.set(k, row);
    for (const [col, idx] of this.indexes) this.indexAdd(idx, row[col] ?? null, k);
  }

  private deleteRows(keys: readonly number[]): void {
    for (const k of keys) {
      const r = this.rows.get(k);
      if (!r) continue;
      for (const [col, idx] of this.indexes) this.indexRemove(idx, r[col] ?? null, k);
      this.rows.delete(k);
    }
  }

  private updateRows(keys: readonly number[], set: Row): void {
    for (const k of keys) {
      const r = this.rows.get(k);
      if (!r) continue;
      for (const col of Object.keys(set)) {
        const idx = this.indexes.get(col);
        if (idx && r[col] !== set[col]) {
          this.indexRemove(idx, r[col] ?? null, k);
          this.indexAdd(idx, set[col] ?? null, k);
        }
      }
      Object.assign(r, set);
    }
  }

  private indexAdd(idx: Map<RowValue, Bucket>, v: RowValue, k: number): void {
    const b = idx.get(v);
    if (b === undefined) idx.set(v, k);
    else if (typeof b === 'number') idx.set(v, new Set([b, k]));
    else b.add(k);
  }

  private indexRemove(idx: Map<RowValue, Bucket>, v: RowValue, k: number): void {
    const b = idx.get(v);
    if (b === undefined) return;
    if (typeof b === 'number') {
      if (b === k) idx.delete(v);
      return;
    }
    b.delete(k);
    if (b.size === 1) idx.set(v, b.values().next().value!);
  }

  // ---- shutdown -------------------------------------------------------------------------------

  private async closeLog(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    if (fh) await fh.close().catch(() => undefined);
  }

  /** waits for queued writes, then closes the log. */
  async close(): Promise<void> {
    while (this.committing || this.pending.length > 0) {
      await this.lock;
      await new Promise((r) => setImmediate(r));
    }
    await this.locked(() => this.closeLog());
  }
}
