/**
 * Oracle for registrar/usrloc: Kamailio (test/oracle/kamailio/registrar.cfg: save() for REGISTER,
 * lookup() + t_relay for the rest, usrloc db_mode 3 in MariaDB) and siphon (plugins/registrar: the same
 * route; host/modules/registrar in db_mode 3 on the same database) get the same REGISTER scenarios
 * (registrar-cases.ts): what each one answers (status, the 200's Contact list with expires and q,
 * Min-Expires, Retry-After ...) and where a lookup relays (R-URI, branches in q order) is compared.
 *
 * Two phases:
 *   own tables  Kamailio saves in `location_k`, siphon in `location_s` (one database, Kamailio's
 *               schema from kamdbctl's SQL): the same steps, answers compared;
 *   shared      both use `location` ("X-Oracle-Table: shared"): one server writes a binding (or
 *               refreshes or removes one the other wrote), then both answer the same query and the
 *               same INVITE, which both relay to a third next hop the contacts point at: rows written
 *               by either are read by the other, both ways.
 * Remaining expires are counted down from a DATETIME (second resolution) at two moments: values
 * within 2 s of each other compare equal (alignExpires). Every other difference is fixed or listed
 * in KNOWN with its reason (host/modules/registrar/README.md "Differences from Kamailio").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/siphon-process.js';
import { createKamailioDb, type KamailioDb } from '../helpers/kamailio-db.js';
import { FORMS, formName, register, request, scenario, type Register } from './registrar-cases.js';
import {
  assertKamailioWhenRequired, callIdOf, compare, kamailioInstalled, kamailioRequired, NextHopSink, normalise, OraclePair, OracleReport,
  type KnownDifference, type Outcome, type OutcomeView, type Side,
} from './harness/index.js';

const HERE = import.meta.dirname;

/** the deliberate differences (host/modules/registrar/README.md "Differences from Kamailio"). */
const KNOWN: KnownDifference[] = [
  {
    case: /./,
    path: /^replies\[0\]\.header\.p-registrar-error$/,
    reason: 'Kamailio adds P-Registrar-Error (not a standard header) to its error replies; siphon states the cause in the reason phrase (RFC 3261 §21)',
  },
  {
    case: /(beyond max_contacts|q=1\.5 out of range|q not a number|older CSeq|Contact: \* (without Expires: 0|with another contact|and no Expires))$/,
    path: /^replies\[0\]\.header\.contact$/,
    values: (d) => d.siphon === '(none)',
    reason: 'error replies (400, 503): Kamailio lists the current bindings in them too; siphon lists them only in the 200 (RFC 3261 §10.3 step 8)',
  },
  {
    case: /older CSeq$/,
    path: /^replies\[0\]\.line$/,
    reason: 'same Call-ID with a lower CSeq: Kamailio 400 Invalid CSeq; siphon 200 with the bindings unchanged unless strict_cseq (its default, host/modules/registrar/README.md)',
  },
];

let pair: OraclePair;
let db: KamailioDb;
let shared: NextHopSink;
const report = new OracleReport('registrar/usrloc', KNOWN);

/** top-level commas of a header value (not inside <...> or quotes). */
function splitTopLevel(v: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < v.length; i++) {
    const ch = v[i];
    if (ch === '"' && v[i - 1] !== '\\') quoted = !quoted;
    else if (!quoted && ch === '<') depth++;
    else if (!quoted && ch === '>') depth--;
    else if (!quoted && depth === 0 && ch === ',') {
      out.push(v.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(v.slice(start).trim());
  return out;
}

/**
 * Contacts of a reply one value each (Kamailio lists them in one field, comma-separated; siphon in
 * one field each: the same header, RFC 3261 §7.3.1) and the parameters after the URI sorted (their
 * order carries no meaning, §20.10 / §25.1 generic-param).
 */
function normaliseContacts(v: OutcomeView): void {
  for (const r of v.replies) {
    const cs = r.headers['contact'];
    if (!cs) continue;
    r.headers['contact'] = cs.flatMap(splitTopLevel).map((c) => {
      const end = c.lastIndexOf('>');
      if (end < 0) return c;
      const params = c.slice(end + 1).split(';').map((x) => x.trim()).filter((x) => x !== '');
      return c.slice(0, end + 1) + params.sort().map((x) => `;${x}`).join('');
    });
  }
}

/** expires=N of the Contacts in replies: within 2 s of Kamailio's counts as Kamailio's (clock granularity). */
function alignExpires(k: OutcomeView, s: OutcomeView): void {
  for (let i = 0; i < Math.min(k.replies.length, s.replies.length); i++) {
    const kc = k.replies[i]!.headers['contact'];
    const sc = s.replies[i]!.headers['contact'];
    if (!kc || !sc || kc.length !== sc.length) continue;
    s.replies[i]!.headers['contact'] = sc.map((v, j) => {
      const ke = /;expires=(\d+)/.exec(kc[j]!)?.[1];
      return v.replace(/;expires=(\d+)/, (whole, se: string) => (ke !== undefined && Math.abs(Number(ke) - Number(se)) <= 2 ? `;expires=${ke}` : whole));
    });
  }
}

async function runStep(name: string, bytes: (side: Side) => string): Promise<void> {
  const out = await pair.exchange(bytes, { awaitFinal: true });
  const k = normalise(out.kamailio, pair.kamailio, bytes(pair.kamailio));
  const s = normalise(out.siphon, pair.siphon, bytes(pair.siphon));
  normaliseContacts(k);
  normaliseContacts(s);
  alignExpires(k, s);
  report.add(name, compare(k, s));
}

/** the side seen with the shared next hop's address replaced too. */
const withShared = (side: Side): Side => ({ ...side, substitutions: [[`127.0.0.1:${shared.port}`, '<shared-hop>'], ...side.substitutions] });

/** sends to one server and waits for its final reply; what reached the shared next hop meanwhile. */
async function sendOne(side: Side, bytes: string): Promise<Outcome> {
  const callId = /\r\nCall-ID: ([^\r]+)/.exec(bytes)![1]!;
  const r0 = side.client.received.length;
  const f0 = shared.received.length;
  side.client.send(bytes, side.port);
  const final = await side.client.waitFor((m) => m.kind === 'response' && (m.status ?? 0) >= 200 && callIdOf(m) === callId, r0, 5000);
  if (final === null) throw new Error(`${side.name} did not answer ${callId}`);
  const acksComplete = await shared.acksSettled(5000);
  return {
    replies: side.client.received.slice(r0).map((r) => r.msg).filter((m) => callIdOf(m) === callId),
    forwarded: shared.received.slice(f0).filter((r) => callIdOf(r.msg) === callId),
    acksComplete,
  };
}

/** the same bytes to Kamailio, then to siphon (both read the shared table), compared. */
async function sharedStep(name: string, bytes: (side: Side) => string): Promise<void> {
  const ks = withShared(pair.kamailio);
  const ss = withShared(pair.siphon);
  const kb = bytes(pair.kamailio);
  const sb = bytes(pair.siphon);
  const k = normalise(await sendOne(ks, kb), ks, kb);
  const s = normalise(await sendOne(ss, sb), ss, sb);
  normaliseContacts(k);
  normaliseContacts(s);
  alignExpires(k, s);
  report.add(name, compare(k, s));
}

/** a REGISTER to one server only (the writer); its status. */
async function writeOn(side: Side, r: Register, form = FORMS[0]!): Promise<number> {
  const out = await sendOne(withShared(side), register(r, form)(side));
  return out.replies.at(-1)?.status ?? 0;
}

beforeAll(async () => {
  assertKamailioWhenRequired();
  if (!kamailioInstalled) return;
  await promisify(execFile)(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', path.join(HERE, 'plugins'), 'registrar'], { cwd: ROOT, timeout: 120_000 });
  db = await createKamailioDb('oracle_registrar', ['usrloc']);
  for (const t of ['location_k', 'location_s']) {
    await db.conn.query(`CREATE TABLE \`${t}\` LIKE location`);
    await db.conn.query('INSERT INTO version (table_name, table_version) VALUES (?, 9)', [t]);
  }
  shared = await NextHopSink.open();
  const limits = { default_expires: 3600, min_expires: 60, max_expires: 7200, max_contacts: 3 };
  pair = await OraclePair.start({
    kamailio: {
      cfg: path.join(HERE, 'kamailio/registrar.cfg'),
      modules: ['sl.so', 'tm.so', 'registrar.so', 'usrloc.so', 'db_mysql.so'],
      defines: (hop) => ({ NEXT_HOP: `"${hop}"`, DBURL: `"${db.url}"` }),
    },
    siphon: {
      plugin: path.join(HERE, 'plugins/registrar/build/registrar.wasm'),
      yaml: () =>
        [
          'modules:',
          '  registrar:',
          '    db_mode: 3',
          `    db_url: ${JSON.stringify(db.url)}`,
          '    tables: [location_s, location]',
          ...Object.entries(limits).map(([k, v]) => `    ${k}: ${v}`),
        ].join('\n'),
      config: (hop) => ({ next_hop: hop, table: 'location_s' }),
    },
  });
}, 60_000);

afterAll(async () => {
  try {
    await pair?.stop();
    await shared?.close();
  } finally {
    await db?.drop();
  }
});

describe.skipIf(!kamailioInstalled && !kamailioRequired)('oracle registrar/usrloc (Kamailio save/lookup, db_mode 3 vs siphon)', () => {
  it('own tables: every scenario step in every form', async () => {
    let n = 0;
    for (const [i, form] of FORMS.entries()) {
      for (const step of scenario(`u${i}x${process.pid}`, form)) {
        await runStep(`${formName(form)}: ${step.name}`, step.bytes);
        n++;
      }
    }
    expect(n).toBeGreaterThanOrEqual(500);
  }, 60_000);

  it('shared table: rows written by one server are read by the other, both ways', async () => {
    const c = (user: string, n: number): string => `sip:${user}-c${n}@127.0.0.1:${shared.port}`;
    for (const [first, second] of [[pair.siphon, pair.kamailio], [pair.kamailio, pair.siphon]] as const) {
      for (const [i, form] of FORMS.slice(0, 4).entries()) {
        const user = `x${first.name[0]}${i}p${process.pid}`;
        const tag = `${first.name} writes, ${formName(form)}`;
        const q = (): ((side: Side) => string) => register({ user, callId: `${user}-q`, cseq: 1, contacts: [], shared: true }, form);
        expect(await writeOn(first, { user, callId: `${user}-a`, cseq: 1, contacts: [{ uri: c(user, 1) }], expires: '600', shared: true }, form)).toBe(200);
        await sharedStep(`${tag}: query reads the row`, q());
        await sharedStep(`${tag}: INVITE relays to it`, request('INVITE', user, { shared: true }));
        expect(await writeOn(second, { user, callId: `${user}-b`, cseq: 1, contacts: [{ uri: c(user, 2), params: ';q=0.5' }], expires: '900', shared: true }, form)).toBe(200);
        await sharedStep(`${tag}: query after the other adds one`, q());
        await sharedStep(`${tag}: INVITE forks to both`, request('INVITE', user, { shared: true }));
        expect(await writeOn(second, { user, callId: `${user}-a`, cseq: 2, contacts: [{ uri: c(user, 1) }], expires: '300', shared: true }, form)).toBe(200);
        await sharedStep(`${tag}: query after the other refreshes it`, q());
        expect(await writeOn(first, { user, callId: `${user}-b`, cseq: 2, contacts: [{ uri: c(user, 2) }], expires: '0', shared: true }, form)).toBe(200);
        await sharedStep(`${tag}: query after removing the other's`, q());
        await sharedStep(`${tag}: MESSAGE relays to the one left`, request('MESSAGE', user, { shared: true }));
        expect(await writeOn(second, { user, callId: `${user}-c`, cseq: 1, contacts: [{ uri: '*' }], expires: '0', shared: true }, form)).toBe(200);
        await sharedStep(`${tag}: query after Contact: *`, q());
        await sharedStep(`${tag}: INVITE finds nobody`, request('INVITE', user, { shared: true }));
      }
    }
    expect(report.cases.filter((r) => r.name.includes(' writes, ')).length).toBe(2 * 4 * 9);
  }, 60_000);

  it('every difference is a known, documented one', () => {
    console.log(report.summary());
    expect(report.compared).toBeGreaterThanOrEqual(500);
    expect(report.identical).toBeGreaterThanOrEqual(300);
    expect(report.unexpected()).toEqual([]);
    expect(report.unusedKnown()).toEqual([]);
  });
});
