/**
 * The dialog table on a manual clock (no sockets): the state machine's edges the integration tests
 * do not reach quickly — early_timeout, noack_timeout, the lifetime refreshed by sequential requests
 * (and not with timeout_noreset), spirals, the per-Call-ID and max_dialogs bounds, the per-dialog
 * bounds of variables and profiles, the route sets taken from a 2xx, restore() of a stored dialog,
 * and the profile counts with shards (shard 0's broadcasts, a worker's pending deltas).
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { MessageContext } from '../../../host/core/context.js';
import type { CellObserver, ProxyTransaction } from '../../../host/proxy/cell.js';
import { parseMessage } from '../../../host/sip/parser.js';
import type { SipMessage } from '../../../host/sip/types.js';
import { TimerQueue } from '../../../host/transaction/index.js';
import { resolveDialogConfig, type DialogConfig } from '../../../host/modules/dialog/config.js';
import { Dialog, DlgState } from '../../../host/modules/dialog/dialog.js';
import { ProfileCounts, profileDefs } from '../../../host/modules/dialog/profiles.js';
import { DialogTable, DLG_FAIL, DLG_LIMIT } from '../../../host/modules/dialog/table.js';
import { provideProfiles, ShardProfiles } from '../../../host/modules/dialog/shard.js';
import type { ShardContext } from '../../../host/shards/context.js';
import type { DialogEvent } from '../../../host/modules/dialog/events.js';

const log = pino({ level: 'silent' });

function msg(text: string): SipMessage {
  const r = parseMessage(Buffer.from(text.replace(/\n/g, '\r\n'), 'latin1'));
  if (!r.ok) throw new Error(`unparsable: ${r.failure.reason}`);
  return r.message;
}

function request(method: string, o: { callId?: string; fromTag?: string; toTag?: string; cseq?: number } = {}): SipMessage {
  const to = o.toTag ? `<sip:bob@b.example>;tag=${o.toTag}` : '<sip:bob@b.example>';
  return msg(`${method} sip:bob@192.0.2.2:5062 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5061;branch=z9hG4bK-${Math.random().toString(36).slice(2)}
From: <sip:alice@a.example>;tag=${o.fromTag ?? 'ft'}
To: ${to}
Call-ID: ${o.callId ?? 'c1'}
CSeq: ${o.cseq ?? 1} ${method}
Contact: <sip:alice@192.0.2.1:5061>
Content-Length: 0

`);
}

function ok200(callId = 'c1', rr: string[] = []): SipMessage {
  return msg(`SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.1:5061;branch=z9hG4bK-x
${rr.map((r) => `Record-Route: ${r}`).join('\n')}${rr.length ? '\n' : ''}From: <sip:alice@a.example>;tag=ft
To: <sip:bob@b.example>;tag=tt
Call-ID: ${callId}
CSeq: 1 INVITE
Contact: <sip:bob@192.0.2.2:5062>
Content-Length: 0

`);
}

function ctx(m: SipMessage): MessageContext {
  return {
    id: 1, msg: m, source: { address: '192.0.2.1', port: 5061, proto: 'udp', family: 4 }, local: { address: '127.0.0.1', port: 5060, proto: 'udp', family: 4 },
    dstUri: null, vars: new Map(), replied: false, log, slReply: () => false,
  };
}

function setup(over: Partial<DialogConfig> = {}) {
  let now = 1_000_000;
  const cfg = resolveDialogConfig({ profiles_with_value: 'caller', profiles_no_value: ['trunk'], early_timeout: 10, noack_timeout: 5, default_timeout: 60, ...over });
  const timers = new TimerQueue({ manual: true, now: () => now });
  const defs = profileDefs(cfg.profiles_with_value, cfg.profiles_no_value);
  const counts = new ProfileCounts(defs);
  const sent: string[] = [];
  const table = new DialogTable({
    cfg, log, profiles: defs, counts, timers, now: () => now,
    isMyself: (h, p) => h === '127.0.0.1' && (p ?? 5060) === 5060,
    sendRequest: async (r) => (sent.push(`${r.method} ${r.uri} ${r.cseq} ${r.routes.join('|')}`), { code: 200, reason: 'OK' }),
  });
  const events: DialogEvent[] = [];
  table.events.subscribe((e) => events.push(e));
  const observers: CellObserver[] = [];
  const observe = (_c: MessageContext, o: CellObserver): void => void observers.push(o);
  const cell = {} as ProxyTransaction;
  const create = (o: { callId?: string; fromTag?: string } = {}): Dialog | number => table.create(ctx(request('INVITE', o)), observe);
  const respond = (i: number, status: number, m: SipMessage | null = null, tag?: string): void => observers[i]!.onUpstreamResponse(cell, status, m, tag, m?.reason ?? 'Local');
  const advance = (ms: number): number => {
    now += ms;
    return timers.runDue(now);
  };
  return { table, events, create, respond, advance, sent, counts };
}

describe('dialog state machine edges', () => {
  it('no final reply within early_timeout: forgotten as failed, no BYE', () => {
    const t = setup();
    const d = t.create() as Dialog;
    t.respond(0, 180);
    expect(d.state).toBe(DlgState.EARLY);
    t.advance(9_900);
    expect(t.table.size).toBe(1);
    t.advance(200);
    expect(t.table.size).toBe(0);
    expect(t.events.map((e) => `${e.type}:${e.reason ?? ''}`)).toEqual(['created:', 'failed:early_timeout']);
    expect(t.sent).toEqual([]);
    expect(t.table.stats.failed).toBe(1);
  });

  it('2xx without ACK: noack_timeout ends it (expired); with timeout_bye both sides get BYE, CSeq one past each side', () => {
    const t = setup();
    const d = t.create() as Dialog;
    d.timeoutBye = true;
    t.respond(0, 200, ok200('c1', ['<sip:127.0.0.1:5060;lr>', '<sip:192.0.2.9;lr>']), 'tt');
    expect(d.state).toBe(DlgState.CONFIRMED_NA);
    t.advance(5_100);
    expect(t.table.size).toBe(0);
    expect(t.table.stats.expired).toBe(1);
    // Record-Route of the 2xx: ours at the top, so nothing toward the callee, 192.0.2.9 toward the caller
    expect(t.sent).toEqual(['BYE sip:bob@192.0.2.2:5062 2 ', 'BYE sip:alice@192.0.2.1:5061 1 <sip:192.0.2.9;lr>']);
    expect(t.events.at(-1)).toMatchObject({ type: 'terminated', reason: 'timeout', status: 200 });
  });

  it('the lifetime restarts with each sequential request, unless timeout_noreset', () => {
    for (const noreset of [0, 1]) {
      const t = setup({ timeout_noreset: noreset });
      const d = t.create() as Dialog;
      t.respond(0, 200, ok200(), 'tt');
      t.table.onSequentialRequest(ctx(request('ACK', { toTag: 'tt' })));
      expect(d.state).toBe(DlgState.CONFIRMED);
      t.advance(50_000);
      t.table.onSequentialRequest(ctx(request('INFO', { toTag: 'tt', cseq: 2 })));
      t.advance(20_000);
      expect(t.table.size, `timeout_noreset ${noreset}`).toBe(noreset === 0 ? 1 : 0);
    }
  });

  it('a BYE from the callee (tags swapped) ends the dialog; a request with other tags does not match', () => {
    const t = setup();
    t.create();
    t.respond(0, 200, ok200(), 'tt');
    const stranger = ctx(request('BYE', { fromTag: 'tt', toTag: 'other' }));
    t.table.onSequentialRequest(stranger);
    expect(stranger.dialog).toBeUndefined();
    expect(t.table.size).toBe(1);
    const bye = msg(`BYE sip:alice@192.0.2.1:5061 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.2:5062;branch=z9hG4bK-cb
From: <sip:bob@b.example>;tag=tt
To: <sip:alice@a.example>;tag=ft
Call-ID: c1
CSeq: 7 BYE
Content-Length: 0

`);
    const c = ctx(bye);
    t.table.onSequentialRequest(c);
    expect(c.dialog).toBeInstanceOf(Dialog);
    expect((c.dialog as Dialog).legs[1].cseq).toBe('7');
    expect(t.table.size).toBe(0);
    expect(t.events.at(-1)).toMatchObject({ type: 'terminated', reason: 'bye' });
  });

  it('a spiral gets the same dialog; at most 4 dialogs per Call-ID; max_dialogs answers LIMIT', () => {
    const t = setup({ max_dialogs: 6 });
    const d = t.create() as Dialog;
    expect(t.create()).toBe(d);
    for (const tag of ['b', 'c', 'd']) expect(t.create({ fromTag: tag })).toBeInstanceOf(Dialog);
    expect(t.create({ fromTag: 'e' })).toBe(DLG_LIMIT);
    expect(t.create({ callId: 'c2' })).toBeInstanceOf(Dialog);
    expect(t.create({ callId: 'c3' })).toBeInstanceOf(Dialog);
    expect(t.create({ callId: 'c4' })).toBe(DLG_LIMIT);
    expect(t.table.stats.table_full).toBe(2);
    expect(t.table.create(ctx(request('OPTIONS')), () => {})).toBe(DLG_FAIL);
  });

  it('bounds per dialog: max_vars, max_profiles_per_dialog; memberships are not counted twice; unset and end release them', () => {
    const t = setup({ max_vars: 2, max_profiles_per_dialog: 2 });
    const d = t.create() as Dialog;
    expect(t.table.setVar(d, 'a', '1')).toBe(1);
    expect(t.table.setVar(d, 'b', '2')).toBe(1);
    expect(t.table.setVar(d, 'c', '3')).toBe(DLG_LIMIT);
    expect(t.table.setVar(d, 'a', '9')).toBe(1);
    expect(t.table.setProfile(d, 'caller', 'alice')).toBe(1);
    expect(t.table.setProfile(d, 'caller', 'alice')).toBe(1);
    expect(t.counts.size('caller', 'alice')).toBe(1);
    expect(t.table.setProfile(d, 'nope', null)).toBe(DLG_FAIL);
    expect(t.table.setProfile(d, 'trunk', 'ignored')).toBe(1);
    expect(t.table.setProfile(d, 'caller', 'bob')).toBe(DLG_LIMIT);
    expect(t.counts.size('trunk', null)).toBe(1);
    expect(t.counts.size('trunk', 'anything')).toBe(1); // a profile without value ignores the value
    expect(t.table.unsetProfile(d, 'trunk', null)).toBe(1);
    expect(t.table.unsetProfile(d, 'trunk', null)).toBe(DLG_FAIL);
    t.respond(0, 486);
    expect(t.counts.size('caller', 'alice')).toBe(0);
    expect(t.counts.size('caller', null)).toBe(0);
  });

  it('restore(): a stored confirmed dialog comes back with its profile counted and its remaining timeout', () => {
    const t = setup();
    const d = t.table.restore({
      hEntry: 7, hId: 41, callId: 'r1', fromUri: 'sip:a@x', toUri: 'sip:b@y', reqUri: 'sip:b@y',
      caller: { tag: 'f', contact: 'sip:a@192.0.2.1', cseq: '3', routeSet: [], socket: 'udp:127.0.0.1:5060' },
      callee: { tag: 't', contact: 'sip:b@192.0.2.2', cseq: '0', routeSet: [], socket: 'udp:127.0.0.1:5060' },
      state: 4, startTs: 999, timeoutAt: 1_000_000 + 30_000, sflags: 2, iflags: 0, vars: [['k', 'v']], profiles: [['caller', 'a']],
    })!;
    expect(d.state).toBe(DlgState.CONFIRMED);
    expect(t.counts.size('caller', 'a')).toBe(1);
    expect(t.table.get(7, 41)).toBe(d);
    expect(t.table.restore({ ...({} as never), state: 1 } as never)).toBeNull();
    t.advance(29_000);
    expect(t.table.size).toBe(1);
    t.advance(1_200);
    expect(t.table.size).toBe(0);
    expect(t.counts.size('caller', 'a')).toBe(0);
    // the next h_id of this table is past the restored one
    expect((t.create({ callId: 'n1' }) as Dialog).hId).toBeGreaterThan(41);
  });
});

describe('profile counts across shards', () => {
  it("shard 0 broadcasts every change; a worker's own change counts at once and is not counted twice when shard 0 echoes it", async () => {
    const defs = profileDefs(['caller'], []);
    const main = new ProfileCounts(defs);
    const listeners = new Map<string, (p: unknown) => void>();
    let handlers: Record<string, (...a: never[]) => unknown> = {};
    let exited: (index: number) => void = () => {};
    const shard0: ShardContext = {
      index: 0, count: 2, main: null,
      provide: (_s, h) => void (handlers = h as never),
      broadcast: (topic, payload) => listeners.get(topic)?.(structuredClone(payload)),
      on: () => {},
      onShardExit: (l) => void (exited = l),
    };
    const backend0 = provideProfiles(main, shard0);
    const worker: ShardContext = {
      index: 1, count: 2,
      main: { call: async (_s, method, args) => structuredClone(await (handlers[method] as (...a: unknown[]) => unknown)(...args.map((a) => structuredClone(a)))) },
      provide: () => {},
      broadcast: () => {},
      on: (topic, l) => void listeners.set(topic, l),
    };
    backend0.add('caller', 'dave', 1);
    backend0.flush();
    const mirror = new ProfileCounts(defs);
    const w = new ShardProfiles(worker, mirror, (e) => {
      throw e;
    });
    await w.start();
    expect(w.size('caller', 'dave')).toBe(1);
    w.add('caller', 'dave', 1);
    expect(w.size('caller', 'dave')).toBe(2); // pending, not yet at shard 0
    expect(backend0.size('caller', 'dave')).toBe(1);
    await w.flush();
    expect(backend0.size('caller', 'dave')).toBe(2);
    expect(w.size('caller', 'dave')).toBe(2); // the echo replaced the pending delta
    expect(w.size('caller', null)).toBe(2);
    backend0.add('caller', 'dave', -1);
    backend0.flush();
    expect(w.size('caller', 'dave')).toBe(1);
    // hostile batches: unknown profiles, long values and odd deltas are ignored
    await worker.main!.call('dialog', 'apply', [[['nope', '', 1], ['caller', 'x'.repeat(300), 1], ['caller', 'dave', 5], 'junk']]);
    expect(backend0.size('caller', 'dave')).toBe(1);
    expect(main.entries()).toEqual([['caller', 'dave', 1]]);

    // the worker adds two memberships, then crashes: shard 0 takes back what it counted for it
    w.add('caller', 'erin', 1);
    w.add('caller', 'dave', 1);
    await w.flush();
    expect(backend0.size('caller', 'dave')).toBe(2);
    expect(backend0.size('caller', 'erin')).toBe(1);
    exited(1);
    expect(backend0.size('caller', 'dave')).toBe(0); // the worker counted dave twice; shard 0's own +1 -1 leave 0
    expect(backend0.size('caller', 'erin')).toBe(0);
    backend0.add('caller', 'dave', 1);
    expect(backend0.size('caller', 'dave')).toBe(1);
  });
});

describe('a 2xx without our Record-Route', () => {
  it('waits for no ACK (it goes around the node): the call lives its lifetime', () => {
    const t = setup();
    t.create();
    t.respond(0, 200, ok200('c1', ['<sip:192.0.2.9;lr>']), 'tt');
    t.advance(30_000); // past noack_timeout (5 s)
    expect(t.table.size).toBe(1);
    t.advance(31_000); // past default_timeout (60 s)
    expect(t.table.size).toBe(0);
    expect(t.table.stats.expired).toBe(1);
  });
});
