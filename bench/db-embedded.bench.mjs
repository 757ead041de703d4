// Embedded store write cost (host/db/embedded*.ts): single-row writes into a table of N rows.
// Usage: npm run build && node bench/db-embedded.bench.mjs [path/to/dist]   (env N, SEQ, BULK, SWEEP; 0 skips a phase)
// The optional dist folder lets the same bench run against another build (before/after a change).
// Bytes are the process's write(2) bytes (/proc/self/io wchar), so they count every rewrite.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, '../dist'));
const { EmbeddedDatabase } = await import(pathToFileURL(path.join(dist, 'host/db/index.js')).href);
const N = Number(process.env.N ?? 10_000);
const SEQ = Number(process.env.SEQ ?? 200);
const BULK = Number(process.env.BULK ?? 10_000);
const SWEEP = Number(process.env.SWEEP ?? 5000);

const DEF = {
  name: 'location',
  version: 9,
  columns: [
    { name: 'id', type: 'int', length: 10, unsigned: true, autoIncrement: true, notNull: true },
    { name: 'ruid', type: 'varchar', length: 64, notNull: true, default: '' },
    { name: 'username', type: 'varchar', length: 64, notNull: true, default: '' },
    { name: 'contact', type: 'varchar', length: 512, notNull: true, default: '' },
    { name: 'expires', type: 'datetime', notNull: true, default: '2030-05-28 21:32:15' },
    { name: 'callid', type: 'varchar', length: 255, notNull: true, default: '' },
    { name: 'user_agent', type: 'varchar', length: 255, notNull: true, default: '' },
  ],
  indexes: [{ name: 'ruid_idx', columns: ['ruid'], unique: true }, { name: 'account_contact_idx', columns: ['username', 'contact'] }],
};
const row = (i) => ({
  ruid: `uloc-${i.toString(16).padStart(8, '0')}-${process.pid}`,
  username: `user${i}`,
  contact: `sip:user${i}@192.0.2.${i % 250}:5060;transport=udp;ob`,
  expires: '2030-01-01 00:00:00',
  callid: `${i}-call-id-0123456789abcdef@192.0.2.1`,
  user_agent: 'Bench Phone 1.0 (rev 1234)',
});
const wchar = async () => Number(/wchar: (\d+)/.exec(await readFile('/proc/self/io', 'utf8'))[1]);

const dir = await mkdtemp(path.join(tmpdir(), 'siphon-dbbench-'));
try {
  const db = new EmbeddedDatabase(dir);
  await db.ensureTable(DEF);
  const t = db.table(DEF);
  let t0 = performance.now();
  for (let i = 0; i < N; i += 1000) await Promise.all(Array.from({ length: Math.min(1000, N - i) }, (_, j) => t.insert(row(i + j))));
  console.log(`fill ${N} rows in groups of 1000: ${(performance.now() - t0).toFixed(0)} ms`);

  let w0 = await wchar();
  t0 = performance.now();
  for (let i = 0; i < SEQ; i++) await t.insert(row(N + i));
  let ms = performance.now() - t0;
  let bytes = (await wchar()) - w0;
  console.log(`${SEQ} single inserts, one after the other, into ${N} rows: ${(ms / SEQ).toFixed(2)} ms and ${(bytes / SEQ / 1024).toFixed(1)} KiB written per insert`);

  if (BULK > 0) {
  w0 = await wchar();
  t0 = performance.now();
  const base = N + SEQ;
  await Promise.all(Array.from({ length: BULK }, (_, i) => t.insert(row(base + i))));
  ms = performance.now() - t0;
  bytes = (await wchar()) - w0;
  console.log(`${BULK} single inserts issued together: ${ms.toFixed(0)} ms (${((BULK / ms) * 1000).toFixed(0)}/s), ${(bytes / BULK).toFixed(0)} bytes written per insert`);
  }

  const all = await t.all();
  const victims = all.filter((r) => r.id % 2 === 0).slice(0, SWEEP);
  t0 = performance.now();
  await Promise.all(victims.map((r) => t.delete({ ruid: r.ruid })));
  console.log(`expiry-style sweep: ${victims.length} deletes by ruid from ${all.length} rows: ${(performance.now() - t0).toFixed(0)} ms`);
  await db.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
