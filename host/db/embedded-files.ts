/**
 * File formats and durable writes of the embedded store (embedded-table.ts keeps the rows):
 *
 *   <table>.json  the snapshot, one row per line so an error can name the line:
 *                   {"table":"t","version":1,"nextId":4,"gen":2,"rows":[
 *                   {"id":1,...},
 *                   {"id":3,...}
 *                   ]}
 *                 Files written before the log existed ({table, version, nextId, rows} on any number
 *                 of lines, no `gen`) load as generation 0: the upgrade is one-way (an older siphon
 *                 reading the directory would not see the changes kept in the log).
 *   <table>.log   JSON lines: the header {"gen":G}, then one line per committed change:
 *                   {"i":{row},"n":nextId}       insert
 *                   {"d":[key,...]}              delete the rows with these keys
 *                   {"u":[key,...],"s":{...}}    update them
 *                 A row's key is its position in load order (the snapshot's rows 0..n-1, then each
 *                 insert the next number), so every process replaying the same files agrees on it.
 *
 * A snapshot or log is replaced only through a temp file that is fsynced, renamed over the old
 * one, and then the directory is fsynced (the rename itself survives a crash: ext4/xfs need the
 * directory fsync for that, as PostgreSQL and SQLite do it).
 */
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { SiphonError } from '../errors/registry.js';
import type { Row } from './types.js';

export interface SnapshotFile {
  table: string;
  version: number;
  nextId: number;
  gen: number;
  rows: Row[];
}

/** One parsed log line. */
export type LogEntry = { i: Row; n?: number } | { d: number[] } | { u: number[]; s: Row };

let tmpCounter = 0;

/** fsync of a directory, so a rename inside it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** writes `text` to `file` atomically and durably (temp + fsync + rename + directory fsync); returns the bytes written. */
export async function replaceFile(file: string, text: string): Promise<number> {
  const tmp = `${file}.tmp-${process.pid}-${++tmpCounter}`;
  const buf = Buffer.from(text, 'utf8');
  const fh = await open(tmp, 'w', 0o640);
  try {
    await fh.writeFile(buf);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new SiphonError('DB_QUERY', `cannot replace ${file}: ${(e as Error).message}`, { cause: e });
  }
  await fsyncDir(path.dirname(file));
  return buf.length;
}

export function snapshotText(s: SnapshotFile, rows: Iterable<Row>): string {
  const parts = [`${JSON.stringify({ table: s.table, version: s.version, nextId: s.nextId, gen: s.gen }).slice(0, -1)},"rows":[`];
  let first = true;
  for (const r of rows) {
    parts.push(first ? `\n${JSON.stringify(r)}` : `,\n${JSON.stringify(r)}`);
    first = false;
  }
  parts.push('\n]}\n');
  return parts.join('');
}

export function logHeader(gen: number): string {
  return `${JSON.stringify({ gen })}\n`;
}

/** the line (1-based) a JSON.parse failure points at: its position when V8 gives one, else the first line that does not parse on its own. */
function errorLine(text: string, e: Error): number {
  const pos = /position (\d+)/.exec(e.message);
  if (pos) return lineAt(text, Number(pos[1]));
  const lines = text.split('\n');
  for (let i = 1; i < lines.length - 1; i++) {
    const l = lines[i]!.replace(/,\s*$/, '');
    if (l === '' || l === ']}' || l === ']' || l === '}') continue;
    try {
      JSON.parse(l);
    } catch {
      // in the one-row-per-line format this is the bad row; in a legacy multi-line file a guess
      if (l.startsWith('{')) return i + 1;
    }
  }
  return Math.max(1, lines.length - (text.endsWith('\n') ? 1 : 0));
}

function lineAt(text: string, pos: number): number {
  let n = 1;
  for (let i = 0; i < pos && i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/** parses a snapshot; a bad one is E5004 naming the file and line. */
export function parseSnapshot(file: string, table: string, text: string): SnapshotFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    throw new SiphonError('DB_STORE_CORRUPT', `${file}:${errorLine(text, e as Error)}: ${msg.length > 120 ? msg.slice(0, 120) + '...' : msg}`, { cause: e });
  }
  const f = parsed as Partial<SnapshotFile>;
  if (typeof f !== 'object' || f === null || !Array.isArray(f.rows) || typeof f.version !== 'number' || typeof f.nextId !== 'number') {
    throw new SiphonError('DB_STORE_CORRUPT', `${file}:1: expected {table, version, nextId, rows[]}`);
  }
  for (let i = 0; i < f.rows.length; i++) {
    const r = f.rows[i];
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new SiphonError('DB_STORE_CORRUPT', `${file}: row ${i + 1} is not an object`);
  }
  return { table: f.table ?? table, version: f.version, nextId: f.nextId, gen: typeof f.gen === 'number' ? f.gen : 0, rows: f.rows };
}

/** one log line, or null when it is not a valid entry. */
export function parseLogLine(line: string): LogEntry | { gen: number } | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.gen === 'number') return { gen: o.gen };
  if (typeof o.i === 'object' && o.i !== null && !Array.isArray(o.i)) return o as LogEntry;
  if (Array.isArray(o.d)) return o as LogEntry;
  if (Array.isArray(o.u) && typeof o.s === 'object' && o.s !== null) return o as LogEntry;
  return null;
}
