/**
 * Dialogs with core.workers: 2 — each shard owns the dialogs its Call-IDs steer to, profiles are
 * node-wide (shard 0's counts): the per-caller limit counts calls on both shards; dlg.list and
 * dlg.stats_active merge the shards; dlg.end_dlg reaches the shard holding the dialog; and the
 * real kamcmd reads dlg.list over the control socket; a worker that exits releases its calls'
 * profile memberships at shard 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { shardOfCallId } from '../../../host/shards/steer.js';
import { answerBye, call, dialogNode, hangUp, isBye, Phone, records, tmpDir, until, type DialogNode } from './helpers.js';

const run = promisify(execFile);
const phones: Phone[] = [];
let n: DialogNode;
const dir = tmpDir();
const ctl = path.join(dir, 'ctl.sock');

async function phone(user: string): Promise<Phone> {
  const p = await Phone.open(user, n.port);
  phones.push(p);
  expect((await p.register(60))?.status).toBe(200);
  return p;
}

/** a Call-ID the node steers to `shard` (of 2). */
function callIdOn(shard: number, tag: string): string {
  for (let i = 0; ; i++) {
    const id = `dlg-shard-${tag}-${process.pid}-${i}`;
    if (shardOfCallId(id, 2) === shard) return id;
  }
}

beforeAll(async () => {
  n = await dialogNode({ dialog: ['profiles_with_value: caller'], pbx: '{ max_calls: 2 }', core: ['workers: 2'], dir, ctl });
}, 60_000);
afterAll(async () => {
  for (const p of phones) p.close();
  await n?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('dialog with core.workers: 2', () => {
  it('the per-caller limit is node-wide: one call on each shard, the third (either shard) is 486; dlg.list lists both shards', async () => {
    const dave = await phone('dave');
    const b = [await phone('201'), await phone('202'), await phone('203')];
    const c0 = await call(dave, b[0]!, '201', 200, { callId: callIdOn(0, 'a'), port: n.port });
    const c1 = await call(dave, b[1]!, '202', 200, { callId: callIdOn(1, 'b'), port: n.port });
    expect([c0.final.status, c1.final.status]).toEqual([200, 200]);
    expect(await n.rpc('dlg.profile_get_size', 'caller', 'dave')).toBe(2);
    // both shards refuse the third call: each sees the other's membership
    for (const shard of [0, 1]) {
      const c = await call(dave, null, '203', 200, { callId: callIdOn(shard, `x${shard}`), port: n.port });
      expect(c.final.status, `third call on shard ${shard}`).toBe(486);
    }
    const list = records(await n.rpc('dlg.list'));
    expect(list.map((d) => d['call-id']).sort()).toEqual([c0.callId, c1.callId].sort());
    // h_ids name their shard (Kamailio h_id_start / h_id_step): odd on shard 0, even on shard 1
    const byCall = new Map(list.map((d) => [d['call-id'], d.h_id as number]));
    expect(byCall.get(c0.callId)! % 2).toBe(1);
    expect(byCall.get(c1.callId)! % 2).toBe(0);
    expect(await n.rpc('dlg.stats_active')).toMatchObject({ active: { all: 2 } });

    // kamcmd over the BINRPC control socket prints every shard's dialogs
    const { stdout } = await run('kamcmd', ['-s', `unix:${ctl}`, 'dlg.list'], { timeout: 10_000 });
    expect(stdout).toContain(`call-id: ${c0.callId}`);
    expect(stdout).toContain(`call-id: ${c1.callId}`);
    expect((stdout.match(/\tstate: 4/g) ?? []).length).toBe(2);
    const size = await run('kamcmd', ['-s', `unix:${ctl}`, 'dlg.profile_get_size', 'caller', 'dave'], { timeout: 10_000 });
    expect(size.stdout.trim()).toBe('2');

    // the call on the worker shard ends by dlg.terminate_dlg (BYE both ways from shard 1)
    expect(await n.rpc('dlg.is_alive', c1.callId, c1.fromTag, c1.toTag)).toBeNull();
    await n.rpc('dlg.terminate_dlg', c1.callId, c1.fromTag, c1.toTag);
    const toCaller = await dave.next((m) => isBye(m) && m.header('Call-ID') === c1.callId);
    const toCallee = await b[1]!.next((m) => isBye(m) && m.header('Call-ID') === c1.callId);
    expect(toCaller).not.toBeNull();
    expect(toCallee).not.toBeNull();
    answerBye(dave, toCaller!);
    answerBye(b[1]!, toCallee!);
    // the worker's change reached shard 0's counts: a new call on shard 0 is admitted
    const c2 = await call(dave, b[2]!, '203', 200, { callId: callIdOn(0, 'c'), port: n.port });
    expect(c2.final.status).toBe(200);
    expect(await hangUp(dave, b[0]!, c0)).toBe(200);
    expect(await hangUp(dave, b[2]!, c2)).toBe(200);
    expect(records(await n.rpc('dlg.list'))).toHaveLength(0);
    expect(await n.rpc('dlg.profile_get_size', 'caller', 'dave')).toBe(0);
    // statistics are summed over the shards
    const st = (await n.rpc('stats.get_statistics', 'dialog:')) as string[];
    expect(st).toContain('dialog:processed_dialogs = 3');
    expect(st).toContain('dialog:active_dialogs = 0');
  }, 40_000);

  it("a worker shard that exits takes its calls' profile memberships with it (shard 0 counted them per worker)", async () => {
    const zoe = await phone('zoe');
    const callee = await phone('701');
    const c = await call(zoe, callee, '701', 200, { callId: callIdOn(1, 'crash'), port: n.port });
    expect(c.final.status).toBe(200);
    expect(await n.rpc('dlg.profile_get_size', 'caller', 'zoe')).toBe(1);
    // the worker thread goes away (as a crash would): the hub reports it, shard 0 releases its memberships
    const hub = n.node.shards as unknown as { workers: Array<{ worker: { terminate(): Promise<number> } | null }> };
    await hub.workers[0]!.worker!.terminate();
    await until(async () => (await n.rpc('dlg.profile_get_size', 'caller', 'zoe')) === 0, 'the exited worker\'s membership released', 5000);
  }, 30_000);
});
