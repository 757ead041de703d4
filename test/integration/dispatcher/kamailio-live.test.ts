/**
 * Compares with the real Kamailio when it is installed (/usr/sbin/kamailio + kamcmd; with CI set a
 * missing Kamailio fails the file instead of skipping it): a throwaway
 * instance on 127.0.0.1 (a port from freePort()) with ctl on a unix socket in a temp dir, the same list file, then
 * `kamcmd dispatcher.hash` for fixed and random inputs, and `dispatcher.list` ordering and flags.
 * The fixed expectations also live in test/unit/dispatcher/kamailio-hash-table.ts, so the unit
 * test keeps the guarantee where Kamailio is absent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { dsHash } from '../../../host/modules/dispatcher/hash.js';
import { Dispatcher } from '../../../host/modules/dispatcher/dispatcher.js';
import { resolveDispatcherConfig } from '../../../host/modules/dispatcher/config.js';
import { ListFileSource } from '../../../host/modules/dispatcher/db.js';
import { listSets } from '../../../host/modules/dispatcher/rpc.js';
import { KAMAILIO_HASH_TABLE } from '../../unit/dispatcher/kamailio-hash-table.js';
import { kamailioModulesDir } from '../../helpers/kamailio-process.js';
import { freePort } from '../../helpers/ports.js';

const run = promisify(execFile);
const KAMAILIO = '/usr/sbin/kamailio';
const available = existsSync(KAMAILIO) && existsSync('/usr/sbin/kamcmd');
/** CI installs Kamailio (.ci/run): there a missing binary is a failure, not a skip. */
const required = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
const LIST = [
  '1 sip:127.0.0.1:18101 0 0 duid=a',
  '1 sip:127.0.0.1:18102 0 0 duid=b',
  '1 sip:127.0.0.1:18103 0 5 weight=50',
  '2 sip:127.0.0.1:18104 8 10',
  '2 sip:127.0.0.1:18105 4 5',
  '3 sip:127.0.0.1:18106 1',
  '7 sip:127.0.0.1:18107',
  '4 sip:127.0.0.1:18108 0 2',
  '4 sip:127.0.0.1:18109 0 2',
].join('\n');

let dir = '';
let ctl = '';

async function kamcmd(...args: string[]): Promise<string> {
  const { stdout } = await run('kamcmd', ['-s', `unixs:${ctl}`, ...args], { timeout: 10_000 });
  return stdout;
}

beforeAll(async () => {
  if (!available) {
    if (required) throw new Error(`CI=${process.env.CI}: Kamailio is required (${KAMAILIO} and /usr/sbin/kamcmd; .ci/run installs the kamailio package)`);
    return;
  }
  dir = mkdtempSync(path.join(tmpdir(), 'siphon-kam-'));
  ctl = path.join(dir, 'ctl.sock');
  writeFileSync(path.join(dir, 'dispatcher.list'), LIST + '\n');
  writeFileSync(
    path.join(dir, 'k.cfg'),
    [
      '#!KAMAILIO',
      'debug=1',
      'log_stderror=yes',
      'fork=yes',
      'children=1',
      `listen=udp:127.0.0.1:${await freePort('udp')}`,
      `mpath="${kamailioModulesDir(['dispatcher.so', 'ctl.so'])}/"`,
      'loadmodule "tm.so"',
      'loadmodule "sl.so"',
      'loadmodule "pv.so"',
      'loadmodule "ctl.so"',
      'loadmodule "dispatcher.so"',
      `modparam("ctl", "binrpc", "unixs:${ctl}")`,
      `modparam("dispatcher", "list_file", "${path.join(dir, 'dispatcher.list')}")`,
      'request_route { sl_send_reply("404", "Not here"); exit; }',
      '',
    ].join('\n'),
  );
  const child = spawn(KAMAILIO, ['-f', path.join(dir, 'k.cfg'), '-P', path.join(dir, 'k.pid'), '-Y', dir, '-w', dir], { stdio: 'ignore' });
  await new Promise<void>((resolve) => child.on('exit', () => resolve()));
  for (let i = 0; i < 100 && !existsSync(ctl); i++) await new Promise((r) => setTimeout(r, 100));
}, 30_000);

afterAll(() => {
  if (!dir) return;
  const pidFile = path.join(dir, 'k.pid');
  if (existsSync(pidFile)) {
    try {
      process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
  setTimeout(() => rmSync(dir, { recursive: true, force: true }), 500).unref();
});

function parseHash(out: string): number {
  return Number(/hashid: (-?[0-9]+)/.exec(out)![1]) >>> 0;
}

describe.skipIf(!available && !required)('against a live Kamailio', () => {
  it('dispatcher.hash gives the same hashid for fixed and random inputs', async () => {
    for (const r of KAMAILIO_HASH_TABLE) {
      const out = await kamcmd('dispatcher.hash', String(r.nslots), `s:${r.val1}`, ...(r.val2 !== undefined ? [`s:${r.val2}`] : []));
      expect(parseHash(out)).toBe(r.hashid);
    }
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@.-_:;=éü中';
    for (let i = 0; i < 25; i++) {
      const len = 1 + Math.floor(Math.random() * 40);
      let v = '';
      for (let k = 0; k < len; k++) v += alphabet[Math.floor(Math.random() * alphabet.length)];
      const out = await kamcmd('dispatcher.hash', '0', `s:${v}`, `s:host${i}.example.com:50${i}`);
      expect({ v, h: parseHash(out) }).toEqual({ v, h: dsHash(v, `host${i}.example.com:50${i}`) });
    }
  });

  it('dispatcher.list orders sets and targets and prints flags as Kamailio does', async () => {
    const kam = await kamcmd('dispatcher.list');
    const kamSets = [...kam.matchAll(/ID: ([0-9]+)/g)].map((m) => Number(m[1]));
    const kamUris = [...kam.matchAll(/URI: (\S+)/g)].map((m) => m[1]);
    const kamFlags = [...kam.matchAll(/FLAGS: (\S+)/g)].map((m) => m[1]);
    const file = path.join(dir, 'dispatcher.list');
    const ds = new Dispatcher(resolveDispatcherConfig({ list_file: file }), new ListFileSource(file));
    await ds.reload();
    const ours = listSets(ds) as any;
    expect(ours.RECORDS.map((r: any) => r.SET.ID)).toEqual(kamSets);
    const targets = ours.RECORDS.flatMap((r: any) => r.SET.TARGETS.map((t: any) => t.DEST));
    expect(targets.map((d: any) => d.URI)).toEqual(kamUris);
    expect(targets.map((d: any) => d.FLAGS)).toEqual(kamFlags);
  });
});
