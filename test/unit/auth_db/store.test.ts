/**
 * auth_db's subscriber table on the embedded store: kamctl's HA1 values (checked against md5sum's
 * output for the same strings, which is what kamctl.base _gen_ha1/_gen_ha1b run), add / passwd / rm /
 * list, the lookup rules of use_domain, the input checks of the CLI and RPC, and the RPC methods.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../../host/db/index.js';
import pino from 'pino';
import {
  AuthDbModule,
  AuthDbStats,
  authDbRpcMethods,
  checkPassword,
  parseAccount,
  resolveAuthDbConfig,
  SubscriberStore,
  subscriberTableDef,
  columnsOf,
} from '../../../host/modules/auth_db/index.js';
import { ha1Of } from '../../../host/modules/auth/hash.js';
import { RpcFault, type RpcValue } from '../../../host/rpc/types.js';

// `echo -n "alice:example.com:s3cret" | md5sum` and `echo -n "alice@example.com:example.com:s3cret" | md5sum`
const HA1 = 'd2d0c8958e1b1c2b989afda0efb9663e';
const HA1B = 'bd29b5fa6d5950d315d827af71f63c91';

let dir: string;
let db: Database;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'siphon-authdb-'));
  db = await openDatabase(null, { dataDir: dir });
});

afterEach(async () => {
  await db.close();
  await rm(dir, { recursive: true, force: true });
});

async function store(section: Record<string, unknown> = {}): Promise<SubscriberStore> {
  const s = new SubscriberStore(db, resolveAuthDbConfig(section));
  await s.prepare();
  return s;
}

describe('HA1 values', () => {
  it('are the ones kamctl computes (MD5 of user:domain:password and user@domain:domain:password)', () => {
    expect(ha1Of('MD5', 'alice', 'example.com', 's3cret')).toBe(HA1);
    expect(ha1Of('MD5', 'alice@example.com', 'example.com', 's3cret')).toBe(HA1B);
    // RFC 7616 §3.9.1: SHA-256 of "Mufasa:http-auth@example.org:Circle of Life"
    expect(ha1Of('SHA-256', 'Mufasa', 'http-auth@example.org', 'Circle of Life')).toBe('7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232');
  });
});

describe('subscriber table', () => {
  it('has Kamailio 5.x columns, widths and keys (version 7)', () => {
    const def = subscriberTableDef('subscriber', columnsOf(resolveAuthDbConfig()));
    expect(def.version).toBe(7);
    expect(def.columns.map((c) => [c.name, c.length])).toEqual([
      ['id', 10],
      ['username', 64],
      ['domain', 64],
      ['password', 64],
      ['ha1', 128],
      ['ha1b', 128],
    ]);
    expect(def.indexes).toEqual([
      { name: 'account_idx', columns: ['username', 'domain'], unique: true },
      { name: 'username_idx', columns: ['username'] },
    ]);
  });

  it('add stores ha1, ha1b and the password (kamctl STORE_PLAINTEXT_PW=1); passwd rewrites them; rm removes', async () => {
    const s = await store();
    await s.add('subscriber', parseAccount('alice@Example.COM'), 's3cret');
    expect(await s.lookup('subscriber', 'alice', 'example.com')).toEqual({ user: 'alice', domain: 'example.com', ha1: HA1, ha1b: HA1B, password: 's3cret' });
    await expect(s.add('subscriber', parseAccount('alice@example.com'), 'x')).rejects.toThrow(/E7223/);
    await s.passwd('subscriber', parseAccount('alice@example.com'), 'other');
    const row = await s.lookup('subscriber', 'alice', 'example.com');
    expect(row?.ha1).toBe(ha1Of('MD5', 'alice', 'example.com', 'other'));
    expect(row?.password).toBe('other');
    await expect(s.passwd('subscriber', parseAccount('bob@example.com'), 'x')).rejects.toThrow(/E7224/);
    await s.rm('subscriber', parseAccount('alice@example.com'));
    expect(await s.lookup('subscriber', 'alice', 'example.com')).toBeNull();
    await expect(s.rm('subscriber', parseAccount('alice@example.com'))).rejects.toThrow(/E7224/);
  });

  it('store_password off keeps the password column empty (kamctl STORE_PLAINTEXT_PW=0)', async () => {
    const s = await store({ store_password: 0 });
    await s.add('subscriber', parseAccount('alice@example.com'), 's3cret');
    expect(await s.lookup('subscriber', 'alice', 'example.com')).toMatchObject({ ha1: HA1, password: '' });
  });

  it('looks up by user alone without use_domain (the requested domain preferred), by user and domain with it', async () => {
    const s = await store();
    await s.add('subscriber', parseAccount('bob@a.example'), 'pa');
    await s.add('subscriber', parseAccount('bob@b.example'), 'pb');
    expect((await s.lookup('subscriber', 'bob', 'b.example'))?.domain).toBe('b.example');
    expect((await s.lookup('subscriber', 'bob', 'elsewhere.example'))?.domain).toBe('a.example');
    const strict = await store({ use_domain: 1 });
    expect(await strict.lookup('subscriber', 'bob', 'elsewhere.example')).toBeNull();
    expect((await strict.lookup('subscriber', 'bob', 'b.example'))?.password).toBe('pb');
    expect((await strict.lookup('subscriber', 'bob', 'B.Example'))?.password).toBe('pb'); // hosts are case-insensitive
    expect(await strict.lookup('subscriber', 'BOB', 'b.example')).toBeNull(); // user parts are not
  });

  it('list shows id, user and domain only, optionally of one domain', async () => {
    const s = await store();
    await s.add('subscriber', parseAccount('a@one.example'), 'p1');
    await s.add('subscriber', parseAccount('b@two.example'), 'p2');
    const all = await s.list('subscriber');
    expect(all.map((r) => `${r.user}@${r.domain}`)).toEqual(['a@one.example', 'b@two.example']);
    expect(Object.keys(all[0]!).sort()).toEqual(['domain', 'id', 'user']);
    expect((await s.list('subscriber', 'two.example')).map((r) => r.user)).toEqual(['b']);
  });

  it('a table not in modules.auth_db.tables is refused (E7225)', async () => {
    const s = await store();
    await expect(s.lookup('other', 'a', 'b')).rejects.toThrow(/E7225/);
  });
});

describe('input checks', () => {
  it('accounts: USER@DOMAIN, user part characters, column widths', () => {
    expect(parseAccount('alice@example.com')).toEqual({ user: 'alice', domain: 'example.com' });
    expect(parseAccount('+4930123@[2001:db8::1]')).toEqual({ user: '+4930123', domain: '[2001:db8::1]' });
    for (const bad of ['alice', '@example.com', 'alice@', 'al ice@example.com', 'al\nice@example.com', 'a:b@example.com', `${'u'.repeat(65)}@example.com`, `alice@${'d'.repeat(65)}`, 'alice@exa mple.com', 42]) {
      expect(() => parseAccount(bad), String(bad)).toThrow(/E7222/);
    }
  });

  it('passwords: 1-64 characters, no control characters', () => {
    expect(checkPassword('pä ss;word\'"')).toBe('pä ss;word\'"');
    for (const bad of ['', 'a\nb', 'a\u0000b', 'tab\there', 'del\u007f', 'c1\u0085', 'x'.repeat(65), null]) {
      expect(() => checkPassword(bad), JSON.stringify(bad)).toThrow(/E7222/);
    }
  });
});

describe('subscriber.* RPC', () => {
  it('add, passwd, list (no secrets), rm; faults for bad input, duplicates and unknown accounts', async () => {
    const s = await store();
    const stats = new AuthDbStats();
    const methods = new Map(authDbRpcMethods(s, stats).map((m) => [m.name, m]));
    const call = (name: string, ...params: RpcValue[]): Promise<RpcValue> => Promise.resolve(methods.get(name)!.handler(params));
    const fault = async (p: Promise<unknown>): Promise<number> => {
      try {
        await p;
      } catch (e) {
        if (e instanceof RpcFault) return e.faultCode;
        throw e;
      }
      throw new Error('expected a fault');
    };
    expect(await call('subscriber.add', 'carol@example.com', 'pw1')).toMatch(/added/);
    expect(await fault(call('subscriber.add', 'carol@example.com', 'pw1'))).toBe(409);
    expect(await fault(call('subscriber.add', 'carol@example.com', 'bad\u0001'))).toBe(400);
    expect(await fault(call('subscriber.add', 'carol', 'pw'))).toBe(400);
    expect(await fault(call('subscriber.add', 'dave@example.com', 'pw', 'nosuchtable'))).toBe(404);
    expect(await call('subscriber.passwd', 'carol@example.com', 'pw2')).toMatch(/changed/);
    expect((await s.lookup('subscriber', 'carol', 'example.com'))?.ha1).toBe(ha1Of('MD5', 'carol', 'example.com', 'pw2'));
    const listed = (await call('subscriber.list')) as { subscribers: Array<Record<string, RpcValue>>; number_of_rows: number };
    expect(listed.number_of_rows).toBe(1);
    expect(JSON.stringify(listed)).not.toMatch(/pw2|ha1|password/);
    expect(await call('subscriber.rm', 'carol@example.com')).toMatch(/removed/);
    expect(await fault(call('subscriber.rm', 'carol@example.com'))).toBe(404);
    expect(stats.rpcWrites).toBe(3);
  });
});

describe('start-up hint', () => {
  it('an empty subscriber table is said once at start, with the command that adds one', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
    const first = new AuthDbModule();
    await first.init({ config: {}, dataDir: dir, log });
    expect(lines.join('')).toMatch(/no subscribers in \\"subscriber\\" yet.*siphon subscriber add USER@DOMAIN PASSWORD/);
    await first.store.add('subscriber', parseAccount('a@example.com'), 'pw');
    await first.close();
    lines.length = 0;
    const second = new AuthDbModule();
    await second.init({ config: {}, dataDir: dir, log });
    expect(lines.join('')).not.toMatch(/no subscribers/);
    await second.close();
  });
});
