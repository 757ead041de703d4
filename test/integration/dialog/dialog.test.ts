/**
 * The dialog module through plugins/pbx over real UDP (phones as caller and callee): the state
 * machine (1 → 2 → 3 → 4 → gone on BYE), dlg.list shapes and counts, the events an accounting
 * module subscribes to, the per-user call limit (profiles), timeout BYE to both sides, CANCEL and
 * rejected calls counted failed, the table bound (503), dialogs surviving a plugin hot swap.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DialogEvent } from '../../../host/modules/dialog/index.js';
import { answerBye, call, dialogNode, hangUp, inviteWithCallId, isBye, isInvite, Phone, records, shard0CallId, stats, until, type DialogNode } from './helpers.js';

const phones: Phone[] = [];
async function phone(user: string, n: DialogNode): Promise<Phone> {
  const p = await Phone.open(user, n.port);
  phones.push(p);
  expect((await p.register(60))?.status).toBe(200);
  return p;
}

afterAll(() => {
  for (const p of phones) p.close();
});

describe('dialog state machine through plugins/pbx', () => {
  let n: DialogNode;
  const events: DialogEvent[] = [];
  beforeAll(async () => {
    n = await dialogNode({ dialog: ['profiles_with_value: caller', 'profiles_no_value: "inbound ; outbound"'], pbx: '{ max_calls: 2 }' });
    n.dialog.table.events.subscribe((e) => events.push(e));
  });
  afterAll(() => n?.stop());

  it('INVITE/180/200/ACK makes a confirmed dialog listed by dlg.list; BYE ends it; events and statistics follow', async () => {
    const alice = await phone('alice', n);
    const bob = await phone('101', n);
    // on shard 0 (SIPHON_WORKERS=2): the events are read from shard 0's module
    const inv = inviteWithCallId(alice, '101', shard0CallId(n, 'a'), n.port);
    const got = await bob.next((m) => isInvite(m) && m.header('Call-ID') === inv.callId);
    // the INVITE was record-routed and created a dialog in state 1
    let list = records(await n.rpc('dlg.list'));
    expect(list).toHaveLength(1);
    expect(list[0]!.state).toBe(1);
    bob.reply(got!, 180, 'Ringing');
    await until(async () => records(await n.rpc('dlg.list'))[0]?.state === 2, 'early state');
    bob.reply(got!, 200, 'OK');
    const ok = await alice.next((m) => m.status === 200 && m.header('Call-ID') === inv.callId);
    expect(ok).not.toBeNull();
    await until(async () => records(await n.rpc('dlg.list'))[0]?.state === 3, 'confirmed, waiting for the ACK');
    const c = { callId: inv.callId, fromTag: inv.fromTag, toTag: 'callee-101', rr: ok!.headers('Record-Route'), calleeContact: bob.contact, final: ok! };
    const { inDialog } = await import('./helpers.js');
    inDialog(alice, c, 'ACK', 1);
    await until(async () => records(await n.rpc('dlg.list'))[0]?.state === 4, 'ACKed');

    list = records(await n.rpc('dlg.list'));
    const d = list[0]!;
    expect(d['call-id']).toBe(inv.callId);
    expect(d.from_uri).toBe('sip:alice@127.0.0.1');
    expect(d.to_uri).toBe('sip:101@127.0.0.1');
    expect(d.start_ts).toBeGreaterThan(0);
    expect((d.caller as Record<string, unknown>).tag).toBe(inv.fromTag);
    expect((d.callee as Record<string, unknown>).tag).toBe('callee-101');
    expect((d.callee as Record<string, unknown>).contact).toBe(bob.contact);
    expect(d.profiles).toEqual([{ caller: 'alice' }]);
    expect(await n.rpc('dlg.profile_get_size', 'caller', 'alice')).toBe(1);
    expect(await n.rpc('dlg.profile_get_size', 'caller')).toBe(1);
    expect(await n.rpc('dlg.stats_active')).toEqual({ active: { starting: 0, connecting: 0, answering: 0, ongoing: 1, all: 1 } });
    expect(records(await n.rpc('dlg.list_ctx'))[0]!.context).toEqual({ on: 1, timeout: { bye: 0, route: '' } });
    expect(records(await n.rpc('dlg.dlg_list', inv.callId, inv.fromTag))).toHaveLength(1);

    expect(await hangUp(alice, bob, c)).toBe(200);
    expect(records(await n.rpc('dlg.list'))).toHaveLength(0);
    expect(await n.rpc('dlg.profile_get_size', 'caller', 'alice')).toBe(0);
    const st = await stats(n);
    expect(st).toMatchObject({ active_dialogs: 0, processed_dialogs: 1, failed_dialogs: 0, expired_dialogs: 0 });
    const mine = events.filter((e) => e.callId === inv.callId);
    expect(mine.map((e) => e.type)).toEqual(['created', 'confirmed', 'terminated']);
    // what accounting reads besides the dialog: the messages behind the events, the caller's address
    expect(mine[0]!.message?.method).toBe('INVITE');
    expect(mine[0]!.source).toMatchObject({ address: '127.0.0.1', port: alice.port });
    expect(mine[1]!.sipReason).toBe('OK');
    expect(mine[1]!.message?.status).toBe(200);
    expect(mine[2]!.message?.method).toBe('BYE');
    expect(mine[2]!.reason).toBe('bye');
    expect(mine[2]!.status).toBe(200);
    expect(mine[2]!.endTs).toBeGreaterThanOrEqual(mine[1]!.startTs);
  });

  it('a rejected call and a CANCELed call count as failed dialogs and leave no dialog behind', async () => {
    const carol = await phone('carol', n);
    const busy = await phone('102', n);
    const before = (await stats(n)).failed_dialogs!;
    const c = await call(carol, busy, '102', 486);
    expect(c.final.status).toBe(486);
    // CANCEL: RFC 3261 §9.2, the INVITE gets 487
    const inv = inviteWithCallId(carol, '102', shard0CallId(n, 'c'), n.port);
    const got = await busy.next((m) => isInvite(m) && m.header('Call-ID') === inv.callId);
    busy.reply(got!, 180, 'Ringing');
    await until(async () => records(await n.rpc('dlg.list')).some((d) => d['call-id'] === inv.callId && d.state === 2), 'early dialog');
    carol.cancel('102', inv);
    const cancelled = await busy.next((m) => m.method === 'CANCEL');
    busy.reply(cancelled!, 200, 'OK');
    busy.reply(got!, 487, 'Request Terminated');
    const final = await carol.next((m) => m.status >= 300 && m.header('Call-ID') === inv.callId);
    expect(final?.status).toBe(487);
    await until(async () => (await stats(n)).failed_dialogs === before + 2, 'two failed dialogs');
    expect(records(await n.rpc('dlg.list'))).toHaveLength(0);
    const failed = events.filter((e) => e.type === 'failed' && e.callId === inv.callId);
    expect(failed[0]?.status).toBe(487);
    expect(failed[0]?.reason).toBe('rejected');
    expect(failed[0]?.sipReason).toBe('Request Terminated');
  });

  it('max_calls 2 per caller: the third concurrent call is refused 486, one hangs up, the next is admitted', async () => {
    const dave = await phone('dave', n);
    const callees = [await phone('201', n), await phone('202', n), await phone('203', n)];
    const c1 = await call(dave, callees[0]!, '201');
    const c2 = await call(dave, callees[1]!, '202');
    expect(c1.final.status).toBe(200);
    expect(c2.final.status).toBe(200);
    expect(await n.rpc('dlg.profile_get_size', 'caller', 'dave')).toBe(2);
    const c3 = await call(dave, null, '203');
    expect(c3.final.status).toBe(486);
    expect(callees[2]!.peek(isInvite)).toHaveLength(0);
    // the refused call's dialog is gone with its profile membership
    expect(await n.rpc('dlg.profile_get_size', 'caller', 'dave')).toBe(2);
    expect(records(await n.rpc('dlg.profile_list', 'caller', 'dave'))).toHaveLength(2);
    // another caller is not limited by dave's calls
    const erin = await phone('erin', n);
    const e1 = await call(erin, callees[2]!, '203');
    expect(e1.final.status).toBe(200);
    expect(await hangUp(erin, callees[2]!, e1)).toBe(200);

    expect(await hangUp(dave, callees[0]!, c1)).toBe(200);
    expect(await n.rpc('dlg.profile_get_size', 'caller', 'dave')).toBe(1);
    const c4 = await call(dave, callees[2]!, '203');
    expect(c4.final.status).toBe(200);
    expect(await hangUp(dave, callees[1]!, c2)).toBe(200);
    expect(await hangUp(dave, callees[2]!, c4)).toBe(200);
    expect(records(await n.rpc('dlg.list'))).toHaveLength(0);
  });

  it('dlg.end_dlg sends BYE to both sides and ends the dialog; unknown ids are 404', async () => {
    const fred = await phone('fred', n);
    const gina = await phone('301', n);
    const c = await call(fred, gina, '301');
    await until(async () => records(await n.rpc('dlg.list'))[0]?.state === 4, 'ACKed');
    const d = records(await n.rpc('dlg.list'))[0]!;
    await expect(n.rpc('dlg.end_dlg', 1, 999999)).rejects.toMatchObject({ faultCode: 404 });
    // dlg.is_alive by the tags (either direction); unknown tags are 404
    expect(await n.rpc('dlg.is_alive', c.callId, c.fromTag, 'callee-301')).toBeNull();
    expect(await n.rpc('dlg.is_alive', c.callId, 'callee-301', c.fromTag)).toBeNull();
    await expect(n.rpc('dlg.is_alive', c.callId, c.fromTag, 'nope')).rejects.toMatchObject({ faultCode: 404 });
    await n.rpc('dlg.end_dlg', d.h_entry!, d.h_id!);
    const toCaller = await fred.next((m) => isBye(m) && m.header('Call-ID') === c.callId);
    const toCallee = await gina.next((m) => isBye(m) && m.header('Call-ID') === c.callId);
    expect(toCaller).not.toBeNull();
    expect(toCallee).not.toBeNull();
    // RFC 3261 §12.2.1.1: the callee's BYE carries the caller's tags as From, CSeq past the INVITE's
    expect(toCallee!.header('From')).toContain(`tag=${c.fromTag}`);
    expect(toCallee!.header('To')).toContain('tag=callee-301');
    expect(toCallee!.firstLine).toBe(`BYE ${gina.contact} SIP/2.0`);
    expect(toCaller!.header('From')).toContain('tag=callee-301');
    expect(toCaller!.header('To')).toContain(`tag=${c.fromTag}`);
    answerBye(fred, toCaller!);
    answerBye(gina, toCallee!);
    expect(records(await n.rpc('dlg.list'))).toHaveLength(0);
    expect((await stats(n)).byes_sent).toBeGreaterThanOrEqual(2);
  });

  it('dialogs, profiles and variables survive a plugin hot swap; the BYE after it ends them', async () => {
    const hank = await phone('hank', n);
    const ivy = await phone('401', n);
    const c = await call(hank, ivy, '401');
    await until(async () => records(await n.rpc('dlg.list'))[0]?.state === 4, 'ACKed');
    const before = records(await n.rpc('dlg.list'));
    const r = (await n.rpc('plugin.reload')) as Record<string, unknown>;
    expect(JSON.stringify(r)).toMatch(/pbx/);
    expect(records(await n.rpc('dlg.list'))).toEqual(before);
    expect(await n.rpc('dlg.profile_get_size', 'caller', 'hank')).toBe(1);
    expect(await hangUp(hank, ivy, c)).toBe(200);
    expect(records(await n.rpc('dlg.list'))).toHaveLength(0);
  });
});

describe('dialog timeouts and bounds', () => {
  let n: DialogNode;
  beforeAll(async () => {
    n = await dialogNode({ dialog: ['profiles_with_value: caller', 'max_dialogs: 2'], pbx: '{ call_timeout: 1 }' });
  });
  afterAll(() => n?.stop());

  it('a call that outlives its timeout gets BYE on both sides from the node (timeout_bye) and counts expired', async () => {
    const a = await phone('jack', n);
    const b = await phone('501', n);
    const c = await call(a, b, '501');
    expect(c.final.status).toBe(200);
    const t0 = Date.now();
    const toCaller = await a.next((m) => isBye(m) && m.header('Call-ID') === c.callId, 5000);
    const toCallee = await b.next((m) => isBye(m) && m.header('Call-ID') === c.callId, 5000);
    expect(toCaller).not.toBeNull();
    expect(toCallee).not.toBeNull();
    expect(Date.now() - t0).toBeLessThan(3000);
    answerBye(a, toCaller!);
    answerBye(b, toCallee!);
    expect(await stats(n)).toMatchObject({ expired_dialogs: 1, active_dialogs: 0 });
    expect(records(await n.rpc('dlg.list'))).toHaveLength(0);
  });

  it('max_dialogs: with the table full a new call is answered 503 by the plugin and counted', async () => {
    const a = await phone('kate', n);
    const b1 = await phone('601', n);
    const b2 = await phone('602', n);
    const b3 = await phone('603', n);
    // two calls ringing (no final yet) fill the table of 2 (max_dialogs is per shard: all on shard 0)
    const i1 = inviteWithCallId(a, '601', shard0CallId(n, 'f1'), n.port);
    const i2 = inviteWithCallId(a, '602', shard0CallId(n, 'f2'), n.port);
    const g1 = await b1.next(isInvite);
    const g2 = await b2.next(isInvite);
    expect(records(await n.rpc('dlg.list'))).toHaveLength(2);
    const c3 = await call(a, null, '603', 200, { callId: shard0CallId(n, 'f3'), port: n.port });
    expect(c3.final.status).toBe(503);
    expect(b3.peek(isInvite)).toHaveLength(0);
    expect((await stats(n)).table_full).toBe(1);
    b1.reply(g1!, 486, 'Busy Here');
    b2.reply(g2!, 486, 'Busy Here');
    await until(async () => records(await n.rpc('dlg.list')).length === 0, 'failed dialogs removed');
    expect(i1.callId).not.toBe(i2.callId);
  });
});
