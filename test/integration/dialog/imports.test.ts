/**
 * Every import of the `dialog` namespace through a test plugin (plugins/dlg-probe), which writes
 * what it reads into the requests it relays: is_in_dlg, $dlg(...), $dlg_var, dlg flags,
 * $dlg_ctx(timeout_bye), is_in_profile / unset_dlg_profile / get_profile_size, is_in_dlg in
 * onreply_route, and dlg_bye(3) from an in-dialog INFO.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { answerBye, call, dialogNode, inDialog, isBye, Phone, records, ROOT, type DialogNode } from './helpers.js';

const run = promisify(execFile);
const PLUGINS = path.join(import.meta.dirname, 'plugins');
const PROBE = path.join(PLUGINS, 'dlg-probe/build/dlg-probe.wasm');

let n: DialogNode;
const phones: Phone[] = [];

beforeAll(async () => {
  await run(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', PLUGINS], { cwd: ROOT, timeout: 120_000 });
  n = await dialogNode({ dialog: ['profiles_with_value: caller', 'profiles_no_value: trunk'], plugin: PROBE });
}, 150_000);
afterAll(async () => {
  for (const p of phones) p.close();
  await n?.stop();
});

async function open(user: string): Promise<Phone> {
  const p = await Phone.open(user, n.port);
  phones.push(p);
  return p;
}

describe('dialog imports through a plugin', () => {
  it('dlg_manage, profiles, $dlg, $dlg_var, flags, $dlg_ctx and is_in_dlg read back in-dialog; unset_dlg_profile; dlg_bye(3)', async () => {
    const alice = await open('alice');
    const bob = await open('bob');
    const c = await call(alice, bob, 'bob', 200, { callId: `probe-${process.pid}`, port: bob.port, extra: ['X-Var: v-42'] });
    expect(c.final.status).toBe(200);
    // onreply_route ran on a reply matched to the dialog by Call-ID and tags
    expect(c.final.header('X-Dlg-Reply')).toBe('1');
    const d = records(await n.rpc('dlg.list'))[0]!;

    inDialog(alice, c, 'INFO', 2);
    let info = await bob.next((m) => m.method === 'INFO');
    expect(info?.header('X-Dlg-In')).toBe(`1 state=4 h_id=${d.h_id} ftag=${c.fromTag}`);
    expect(info?.header('X-Dlg-Var')).toBe('v-42 flag3=1 bye=1');
    expect(info?.header('X-Dlg-Prof')).toBe('caller=1 trunk=1 size=1');
    // the pseudo-variables through pv_get (host/core/pv.ts) read the same dialog
    expect(info?.header('X-Dlg-Pv')).toBe(`${d.h_id} v-42 callee-bob`);
    bob.reply(info!, 200, 'OK');
    expect(records(await n.rpc('dlg.list'))[0]!.variables).toEqual([{ k: 'v-42' }]);
    expect(await n.rpc('dlg.profile_get_size', 'trunk')).toBe(1);

    inDialog(alice, c, 'INFO', 3, ['X-Do: unset']);
    info = await bob.next((m) => m.method === 'INFO');
    expect(info?.header('X-Dlg-Prof')).toBe('caller=1 trunk=0 size=0');
    bob.reply(info!, 200, 'OK');
    expect(await n.rpc('dlg.profile_get_size', 'trunk')).toBe(0);
    expect(await n.rpc('dlg.profile_get_size', 'caller', 'alice')).toBe(1);

    // dlg_bye(3) from the route: BYE to both sides, the dialog ends, the INFO is answered 200 by the plugin
    inDialog(alice, c, 'INFO', 4, ['X-Do: bye']);
    const toCaller = await alice.next((m) => isBye(m));
    const toCallee = await bob.next((m) => isBye(m));
    expect(toCaller?.header('Call-ID')).toBe(c.callId);
    expect(toCallee?.header('Call-ID')).toBe(c.callId);
    // CSeq: the caller's 4 (its INFO) + 1 toward the callee
    expect(toCallee?.header('CSeq')).toBe('5 BYE');
    const infoOk = await alice.next((m) => m.status > 0 && /INFO/.test(m.header('CSeq') ?? '') && m.header('CSeq') === '4 INFO');
    expect(infoOk?.status).toBe(200);
    answerBye(alice, toCaller!);
    answerBye(bob, toCallee!);
    expect(records(await n.rpc('dlg.list'))).toHaveLength(0);
    expect(await n.rpc('dlg.profile_get_size', 'caller', 'alice')).toBe(0);

    // a request of no dialog (the one it belonged to ended): is_in_dlg 0, $dlg(...) null
    inDialog(alice, c, 'INFO', 5);
    const stray = await bob.next((m) => m.method === 'INFO', 3000);
    expect(stray?.header('X-Dlg-In')).toBe('0 state=<null> h_id=<null> ftag=<null>');
    expect(stray?.header('X-Dlg-Pv')).toBe('<null> <null> <null>');
  }, 30_000);
});
