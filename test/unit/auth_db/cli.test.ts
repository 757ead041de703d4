/**
 * `siphon subscriber`: with no node on the control socket it writes the embedded store itself; with a
 * node answering it goes through the node's subscriber.* RPCs (the node owns the files) and writes
 * nothing itself; argument checks happen before anything is opened; exit codes.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as subscriberCli, type SubscriberCommandIo } from '../../../host/cli/commands/subscriber.js';
import { openDatabase } from '../../../host/db/index.js';
import { AuthDbModule, resolveAuthDbConfig, SubscriberStore } from '../../../host/modules/auth_db/index.js';
import { ha1Of } from '../../../host/modules/auth/hash.js';
import type { RpcValue } from '../../../host/rpc/types.js';

let dir: string;
let cfg: string;

function io(extra: Partial<SubscriberCommandIo> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const calls: string[] = [];
  return {
    out,
    err,
    calls,
    io: {
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => err.push(s) },
      callNode: async (_ctl: string | undefined, method: string) => {
        calls.push(method);
        return null; // no node
      },
      ...extra,
    } as SubscriberCommandIo,
  };
}

async function readStore(dataDir: string): Promise<SubscriberStore> {
  const db = await openDatabase(null, { dataDir });
  const s = new SubscriberStore(db, resolveAuthDbConfig());
  await s.prepare();
  return s;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'siphon-sub-cli-'));
  cfg = path.join(dir, 'siphon.yaml');
  await writeFile(cfg, `core:\n  data_dir: ${JSON.stringify(path.join(dir, 'data'))}\n`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('siphon subscriber without a running node', () => {
  it('add, list, passwd, rm on the embedded store', async () => {
    const c = io();
    expect(await subscriberCli(['-c', cfg, 'add', 'alice@example.com', 's3cret'], c.io)).toBe(0);
    expect(c.calls).toEqual(['subscriber.add']); // asked the node first
    expect(await subscriberCli(['-c', cfg, 'add', 'alice@example.com', 'again'], c.io)).toBe(1);
    expect(c.err.join('')).toMatch(/already exists/);
    const l = io();
    expect(await subscriberCli(['-c', cfg, 'list'], l.io)).toBe(0);
    expect(l.out.join('')).toMatch(/^ID\s+USERNAME\s+DOMAIN\n1\s+alice\s+example\.com\n$/);
    const p = io({ readPassword: async () => 'from-stdin' });
    expect(await subscriberCli(['-c', cfg, 'passwd', 'alice@example.com', '-'], p.io)).toBe(0);
    const s = await readStore(path.join(dir, 'data'));
    expect((await s.lookup('subscriber', 'alice', 'example.com'))?.ha1).toBe(ha1Of('MD5', 'alice', 'example.com', 'from-stdin'));
    await s.db.close();
    expect(await subscriberCli(['-c', cfg, 'rm', 'alice@example.com'], c.io)).toBe(0);
    expect(await subscriberCli(['-c', cfg, 'rm', 'alice@example.com'], c.io)).toBe(1);
    // nothing printed ever holds the password
    expect([...c.out, ...c.err, ...l.out, ...p.out].join('')).not.toMatch(/s3cret|from-stdin/);
  });

  it('bad command lines exit 2 before anything is opened or asked', async () => {
    for (const argv of [[], ['frob'], ['add', 'alice@example.com'], ['add', 'alice', 'pw'], ['add', 'alice@example.com', 'bad\u0007pw'], ['rm'], ['list', 'bad domain']]) {
      const c = io();
      expect(await subscriberCli(['-c', cfg, ...argv], c.io), JSON.stringify(argv)).toBe(2);
      expect(c.calls).toEqual([]);
    }
  });
});

describe('siphon subscriber with a running node', () => {
  it('goes through subscriber.* RPC: the node writes, the CLI does not touch the files', async () => {
    const nodeDir = path.join(dir, 'node');
    const mod = new AuthDbModule();
    await mod.init({ config: {}, dataDir: nodeDir, log: pino({ level: 'silent' }) });
    const methods = new Map(mod.rpcMethods().map((m) => [m.name, m]));
    const viaNode = async (_ctl: string | undefined, method: string, params: RpcValue[]): Promise<RpcValue[]> => [await methods.get(method)!.handler(params)];
    try {
      const c = io({ callNode: viaNode });
      expect(await subscriberCli(['-c', cfg, 'add', 'bob@example.com', 'pw'], c.io)).toBe(0);
      expect(c.out.join('')).toMatch(/through the running node/);
      expect((await mod.store.lookup('subscriber', 'bob', 'example.com'))?.ha1).toBe(ha1Of('MD5', 'bob', 'example.com', 'pw'));
      const l = io({ callNode: viaNode });
      expect(await subscriberCli(['-c', cfg, 'list', 'example.com'], l.io)).toBe(0);
      expect(l.out.join('')).toMatch(/\bbob\s+example\.com\n$/);
      const dup = io({ callNode: viaNode });
      expect(await subscriberCli(['-c', cfg, 'add', 'bob@example.com', 'pw'], dup.io)).toBe(1);
      expect(await subscriberCli(['-c', cfg, 'rm', 'bob@example.com'], c.io)).toBe(0);
      expect(await mod.store.lookup('subscriber', 'bob', 'example.com')).toBeNull();
      // the CLI's own data dir got nothing
      const s = await readStore(path.join(dir, 'data'));
      expect(await s.list('subscriber')).toEqual([]);
      await s.db.close();
    } finally {
      await mod.close();
    }
  });
});
