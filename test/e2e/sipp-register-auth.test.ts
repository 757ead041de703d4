/**
 * REGISTER with digest authentication driven by SIPp's [authentication] keyword
 * (bench/scenarios/register-auth.xml: REGISTER → 401 → REGISTER with Authorization → 200), against
 * Kamailio (bench/kamailio/kam-register-auth.cfg: auth_db + usrloc) and against siphon
 * (bench/siphon-register-auth.yaml's modules), both reading the same kamctl-style subscriber rows from
 * one MariaDB database created with kamdbctl's own tables. A small bounded load (rate 20/s, 60 calls):
 * every call succeeds with the right passwords, every call fails with wrong ones.
 * Every server and SIPp socket is on an ephemeral port; the database is dropped at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createKamailioDb, kamctlRow, type KamailioDb } from '../helpers/kamailio-db.js';
import { startKamailio, type KamailioProcess } from '../helpers/kamailio-process.js';
import { freePort } from '../helpers/ports.js';
import { ROOT, startSiphon, type SiphonProcess } from '../helpers/siphon-process.js';
import { runSipp } from '../helpers/sipp.js';

const SCENARIO = path.join(ROOT, 'bench/scenarios/register-auth.xml');
const KAM_CFG = path.join(ROOT, 'bench/kamailio/kam-register-auth.cfg');
const SIPHON_CFG = path.join(ROOT, 'bench/siphon-register-auth.yaml');
const BENCH_PLUGINS = path.join(ROOT, 'bench/plugins');
const PLUGIN = path.join(BENCH_PLUGINS, 'register-auth/build/register-auth.wasm');
const DOMAIN = 'bench.test';
const USERS = 20;
const CALLS = 60;
const RATE = 20;

let db: KamailioDb;
let tmp: string;
/** the injection files: right passwords, and the same users with wrong ones. */
let good: string;
let bad: string;

function injection(file: string, password: (i: number) => string): string {
  const lines = ['SEQUENTIAL'];
  for (let i = 0; i < USERS; i++) lines.push(`u${i};${DOMAIN};[authentication username=u${i} password=${password(i)}]`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

beforeAll(async () => {
  db = await createKamailioDb('sippauth');
  await db.addSubscribers(Array.from({ length: USERS }, (_, i) => kamctlRow(`u${i}`, DOMAIN, `pw-${i}-secret`)));
  tmp = mkdtempSync(path.join(tmpdir(), 'siphon-sipp-auth-'));
  good = injection(path.join(tmp, 'good.csv'), (i) => `pw-${i}-secret`);
  bad = injection(path.join(tmp, 'bad.csv'), (i) => `pw-${i}-wrong`);
});

afterAll(async () => {
  await db?.drop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/**
 * the two runs every server gets: right passwords (all succeed), wrong ones (all fail). SIPp's own
 * retransmissions are off (-nr): on a loaded machine a reply later than 500 ms would make SIPp resend
 * the first REGISTER, and the second 401 (a fresh nonce, so not recognised as a retransmission)
 * arriving while it waits for the 200 aborts the call. Loopback UDP at 20/s loses nothing.
 */
function sameRows(port: () => number): void {
  it(`${CALLS} REGISTERs with digest at ${RATE}/s: every one challenged, answered and saved`, async () => {
    const r = await runSipp(port(), SCENARIO, { rate: RATE, calls: CALLS, inf: good, extra: ['-nr'] });
    expect(r.successful, r.errors).toBe(CALLS);
    expect(r.failed, r.errors).toBe(0);
  }, 60_000);

  it('wrong passwords: every call fails (the second REGISTER is challenged again, not saved)', async () => {
    const r = await runSipp(port(), SCENARIO, { rate: RATE, calls: 10, inf: bad, recvTimeoutMs: 2000, extra: ['-nr'] });
    expect(r.successful).toBe(0);
    expect(r.failed).toBe(10);
    expect(r.errors).toMatch(/received 'SIP\/2\.0 (401|403) /);
  }, 60_000);
}

describe('Kamailio (the reference): auth_db + usrloc on the same rows', () => {
  let kam: KamailioProcess;
  let port: number;

  beforeAll(async () => {
    port = await freePort('udp');
    kam = await startKamailio(KAM_CFG, port, {
      KAM_PORT: String(port),
      KAM_CHILDREN: '1',
      DBURL: `"${db.url}"`,
      KAM_CTL: `"unixs:${path.join(tmp, 'kam.ctl')}"`,
    });
  }, 30_000);

  afterAll(async () => {
    await kam?.stop();
  });

  sameRows(() => port);
});

/** the same exchange against siphon's twin configuration and bench/plugins/register-auth (built here). */
describe('siphon: modules auth + auth_db + registrar on the same rows', () => {
  let srv: SiphonProcess;
  let port: number;

  beforeAll(async () => {
    await promisify(execFile)(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', BENCH_PLUGINS], { cwd: ROOT, timeout: 120_000 });
    port = await freePort('udp');
    // bench/siphon-register-auth.yaml with this test's database and a data_dir of its own
    const cfg = path.join(tmp, 'siphon.yaml');
    writeFileSync(
      cfg,
      readFileSync(SIPHON_CFG, 'utf8')
        .replace('mysql://root@127.0.0.1:3306/siphon_bench_register_auth', db.url)
        .replace(/data_dir: .*/, `data_dir: ${JSON.stringify(path.join(tmp, 'data'))}`)
        .replace(/  warmup: \d+/, '  warmup: 0\n  ctl: []'),
    );
    srv = await startSiphon(['-c', cfg, '--listen', `udp:127.0.0.1:${port}`, '--plugin', PLUGIN], { readyPorts: [{ proto: 'udp', port }] });
  }, 180_000);

  afterAll(async () => {
    await srv?.stop();
  });

  sameRows(() => port);
});
