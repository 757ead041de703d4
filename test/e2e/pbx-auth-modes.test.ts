/**
 * route[AUTH]'s switches and its fail-closed answers through `npm start`'s configuration
 * (config/siphon.yaml, in-process nodes on ephemeral ports), with raw UDP user agents:
 *   - `routing.config.auth: off` (a lab): an unauthenticated REGISTER is saved;
 *   - `auth: on` with modules.auth / modules.auth_db removed: 500, never relayed nor saved;
 *   - auth_db on a MariaDB database (kamdbctl's schema) that stops answering (a black-holed TCP relay),
 *     then is not there at all (nothing listens): the REGISTER with good credentials gets 500, never 200.
 * Only what each test is about is changed beyond listen/data_dir/ctl/warmup/aliases.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../host/config/load.js';
import { createLogger } from '../../host/log/logger.js';
import { startNode, type SiphonNode } from '../../host/server/app.js';
import { moduleSchemas } from '../../host/server/modules.js';
import { createKamailioDb, type KamailioDb } from '../helpers/kamailio-db.js';
import { freePort } from '../helpers/ports.js';
import { shippedConfigText } from '../helpers/shipped-config.js';
import { TcpRelay } from '../helpers/tcp-relay.js';
import { Phone } from './pbx-phone.js';
import { finalFor, register, send, uniq, type Req } from './pbx-sip.js';

const DOMAIN = 'siphon.test';

let tmp: string;
const nodes: SiphonNode[] = [];
const phones: Phone[] = [];

/** an in-process node running config/siphon.yaml with `edit` applied; its port. */
async function node(name: string, edit?: (text: string) => string): Promise<number> {
  const port = await freePort('udp');
  const text = shippedConfigText({ port, dataDir: path.join(tmp, name), ctl: null, domain: DOMAIN, edit });
  nodes.push(await startNode(parseConfig(text, null, { moduleSchemas: moduleSchemas() }), createLogger({ level: 'silent' }), { controlPlane: false }));
  return port;
}

async function phone(user: string, port: number): Promise<Phone> {
  const p = await Phone.open(user, port);
  phones.push(p);
  return p;
}

/** a REGISTER without credentials. */
function plainRegister(p: Phone, user: string): Req {
  const aor = `sip:${user}@${DOMAIN}`;
  return {
    method: 'REGISTER',
    ruri: `sip:${DOMAIN}`,
    from: aor,
    fromTag: `r${uniq()}`,
    to: aor,
    callId: `reg-${uniq()}`,
    cseq: 1,
    via: `127.0.0.1:${p.port}`,
    contact: `sip:${user}@127.0.0.1:${p.port}`,
    extra: ['Expires: 300'],
  };
}

const withoutAuthModules = (text: string): string => text.replace(/^  auth:\n(    .*\n)+/m, '').replace(/^  auth_db:\n(    .*\n)+/m, '');

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'siphon-pbx-auth-modes-'));
});

afterAll(async () => {
  for (const p of phones) p.close();
  for (const n of nodes) await n.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("route[AUTH]'s switches in npm start's config", () => {
  it('auth: off (a lab) lets an unauthenticated REGISTER in', async () => {
    const port = await node('off', (t) => {
      const out = t.replace(/^    auth: on\b/m, '    auth: off');
      expect(out).toMatch(/^    auth: off\b/m);
      return out;
    });
    const p = await phone('lab', port);
    const req = plainRegister(p, 'lab');
    send(p, req);
    const r = await finalFor(p, req);
    expect(r?.status, r?.raw).toBe(200);
    expect(r!.header('Contact')).toContain(`127.0.0.1:${p.port}`);
  }, 60_000);

  it('auth: on without modules.auth / modules.auth_db answers 500 (fail closed): nothing saved, nothing relayed', async () => {
    const port = await node('on-without', (t) => {
      const out = withoutAuthModules(t);
      expect(out).not.toMatch(/^  auth(_db)?:/m);
      expect(out).toMatch(/^    auth: on\b/m);
      return out;
    });
    const p = await phone('lab', port);
    const req = plainRegister(p, 'lab');
    send(p, req);
    const r = await finalFor(p, req);
    expect(r?.status, r?.raw).toBe(500);

    // a call from one of "our" users to anyone: 500 too, the callee never sees it
    const callee = await phone('callee', port);
    const invite: Req = { ...plainRegister(p, 'lab'), method: 'INVITE', ruri: `sip:callee@127.0.0.1:${callee.port}`, to: `sip:callee@${DOMAIN}`, extra: [] };
    send(p, invite);
    expect((await finalFor(p, invite))?.status).toBe(500);
    expect(callee.peek((m) => m.method === 'INVITE')).toEqual([]);
  }, 60_000);
});

describe('auth_db on MariaDB, then the database unreachable: 500, never 200', () => {
  let kdb: KamailioDb;
  let relay: TcpRelay;

  beforeAll(async () => {
    kdb = await createKamailioDb('routeauth');
    await kdb.addSubscriber('erin', DOMAIN, 'erin-Db-1');
    relay = await TcpRelay.open({ host: '127.0.0.1', port: 3306 });
  });

  afterAll(async () => {
    await relay?.close();
    await kdb?.drop();
  });

  it('the REGISTER with good credentials: 200 while the database answers, 500 when it hangs and when nothing listens', async () => {
    const url = `mysql://root@127.0.0.1:${relay.port}/${kdb.name}`;
    const port = await node('mysql', (t) => {
      const out = t.replace(/^  auth_db:\n/m, `  auth_db:\n    db_url: ${JSON.stringify(url)}\n`);
      expect(out).toContain(`db_url: ${JSON.stringify(url)}`);
      return out;
    });
    const erin = await phone('erin', port);
    const ok = await register(erin, { user: 'erin', domain: DOMAIN, password: 'erin-Db-1' });
    expect(ok.reply?.status, ok.reply?.raw).toBe(200);

    // the database stops answering (connections held open, nothing comes back): query_timeout, then 500
    relay.blackhole();
    const hung = await register(erin, { user: 'erin', domain: DOMAIN, password: 'erin-Db-1' });
    expect(hung.reply?.status, hung.reply?.raw).toBe(500);

    // nothing listens where the database was: 500 as well
    await relay.close();
    const gone = await register(erin, { user: 'erin', domain: DOMAIN, password: 'erin-Db-1' });
    expect(gone.reply?.status, gone.reply?.raw).toBe(500);
    expect(erin.peek((m) => m.status === 200 && m.header('CSeq') === '2 REGISTER').length).toBe(0);
  }, 60_000);
});
