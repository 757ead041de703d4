/**
 * The reverse of test/integration/auth_db/mysql.test.ts: a real Kamailio (auth + auth_db + db_mysql,
 * calculate_ha1 0: it reads the ha1 / ha1b columns) authenticates SIPp REGISTERs ([authentication],
 * bench/scenarios/register-auth.xml) against rows that `siphon subscriber add` wrote with plain SQL
 * into a database created by kamdbctl's own scripts: siphon's HA1 values are the ones Kamailio checks.
 * With the username "user@domain" Kamailio uses ha1b, so both columns are exercised; with the wrong
 * password every call fails. Kamailio and SIPp run on ephemeral ports; the modules directory is looked
 * up, not assumed; the database is dropped at the end.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as subscriberCli } from '../../host/cli/commands/subscriber.js';
import { createKamailioDb, kamctlRow, type KamailioDb } from '../helpers/kamailio-db.js';
import { kamailioModulesDir, startKamailio, type KamailioProcess } from '../helpers/kamailio-process.js';
import { freePort } from '../helpers/ports.js';
import { ROOT } from '../helpers/siphon-process.js';
import { runSipp } from '../helpers/sipp.js';

const SCENARIO = path.join(ROOT, 'bench/scenarios/register-auth.xml');
const CFG = path.join(import.meta.dirname, 'kamailio/auth-db-ha1.cfg');
const DOMAIN = 'rev.test';
const USERS = 5;

/** the directory holding Kamailio's auth_db.so and db_mysql.so. */
function kamailioModules(): string {
  return kamailioModulesDir(['auth_db.so', 'db_mysql.so']);
}

let db: KamailioDb;
let tmp: string;
let kam: KamailioProcess;
let port: number;

function injection(name: string, username: (i: number) => string, password: (i: number) => string): string {
  const lines = ['SEQUENTIAL'];
  for (let i = 0; i < USERS; i++) lines.push(`r${i};${DOMAIN};[authentication username=${username(i)} password=${password(i)}]`);
  const file = path.join(tmp, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

beforeAll(async () => {
  db = await createKamailioDb('authdbrev');
  tmp = mkdtempSync(path.join(tmpdir(), 'siphon-authdb-rev-'));
  // siphon's CLI writes the rows (MySQL: plain SQL, no node involved); the password column is left
  // empty so that only siphon's ha1 / ha1b values can authenticate
  const cfg = path.join(tmp, 'siphon.yaml');
  writeFileSync(cfg, `core:\n  data_dir: ${JSON.stringify(path.join(tmp, 'data'))}\nmodules:\n  auth_db:\n    db_url: ${JSON.stringify(db.url)}\n    store_password: 0\n`);
  const out: string[] = [];
  const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) } };
  for (let i = 0; i < USERS; i++) expect(await subscriberCli(['-c', cfg, 'add', `r${i}@${DOMAIN}`, `rev-pw-${i}`], io), out.join('')).toBe(0);
  for (let i = 0; i < USERS; i++) expect(await db.subscriber(`r${i}`, DOMAIN)).toEqual(kamctlRow(`r${i}`, DOMAIN, `rev-pw-${i}`, 'ha1'));
  port = await freePort('udp');
  kam = await startKamailio(CFG, port, { KAM_PORT: String(port), DBURL: `"${db.url}"`, MPATH: `"${kamailioModules()}/"` });
}, 60_000);

afterAll(async () => {
  await kam?.stop();
  await db?.drop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('Kamailio auth_db on rows written by siphon subscriber add', () => {
  it('authenticates every user with its password (ha1)', async () => {
    const r = await runSipp(port, SCENARIO, { rate: 10, calls: USERS, inf: injection('good.csv', (i) => `r${i}`, (i) => `rev-pw-${i}`) });
    // (SIPp's error log may hold a late 401 to a retransmission on a loaded machine: the counters decide)
    expect(r.successful, `${r.errors}\n${kam.log().slice(-2000)}`).toBe(USERS);
    expect(r.failed).toBe(0);
  }, 60_000);

  it('authenticates "user@domain" usernames (ha1b)', async () => {
    const r = await runSipp(port, SCENARIO, { rate: 10, calls: USERS, inf: injection('at.csv', (i) => `r${i}@${DOMAIN}`, (i) => `rev-pw-${i}`) });
    expect(r.successful, `${r.errors}\n${kam.log().slice(-2000)}`).toBe(USERS);
    expect(r.failed).toBe(0);
  }, 60_000);

  it('refuses wrong passwords', async () => {
    const r = await runSipp(port, SCENARIO, { rate: 10, calls: USERS, inf: injection('bad.csv', (i) => `r${i}`, (i) => `wrong-${i}`), recvTimeoutMs: 2000 });
    expect(r.successful).toBe(0);
    expect(r.failed).toBe(USERS);
  }, 60_000);
});
