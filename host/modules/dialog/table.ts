/**
 * The dialog table (Kamailio dialog: dlg_hash.c, dlg_handlers.c, dlg_timer.c): the dialogs of
 * this shard, indexed by Call-ID (in-dialog matching, RFC 3261 §12.2.2: Call-ID, local and remote
 * tag) and by h_id (RPC), with the state machine driven by the transaction layer:
 *
 *   dlg_manage() on an initial INVITE        → 1 unconfirmed (timer: early_timeout)
 *   1xx (101-199) sent upstream              → 2 early
 *   2xx sent upstream                        → 3 confirmed, waiting for the ACK (timer: noack_timeout;
 *                                              the lifetime when the 2xx has no Record-Route of ours)
 *   ACK of the INVITE (in-dialog, its CSeq)  → 4 confirmed (timer: the lifetime, default_timeout)
 *   BYE from either side                     → 5 deleted (removed)
 *   final >= 300 / 487 after CANCEL          → 5 deleted, counted failed
 *   lifetime or ACK wait ran out             → 5 deleted, counted expired; BYE to both sides when
 *                                              $dlg_ctx(timeout_bye) / send_bye
 *
 * Sequential requests refresh the lifetime (unless timeout_noreset). Timers are one reusable slot
 * per dialog in a min-heap (host/transaction/timer-queue.ts): O(log n) per change, one tick per
 * 100 ms, no per-dialog setTimeout.
 *
 * Bounds: max_dialogs in all (dlg_manage answers LIMIT past it), MAX_DIALOGS_PER_CALLID per
 * Call-ID, max_vars / max_profiles_per_dialog per dialog.
 */
import type { Logger } from 'pino';
import type { MessageContext } from '../../core/context.js';
import { Errors } from '../../errors/registry.js';
import type { InDialogRequest, LocalRequestResult } from '../../proxy/local-request.js';
import type { CellObserver, ProxyTransaction } from '../../proxy/cell.js';
import type { SipMessage } from '../../sip/types.js';
import { parseNameAddr } from '../../sip/name-addr.js';
import { parseUri } from '../../sip/uri.js';
import { TimerQueue, TimerSlot, type TimerOwner } from '../../transaction/index.js';
import { MAX_DIALOGS_PER_CALLID, type DialogConfig } from './config.js';
import { Dialog, DlgState, DlgTimer, Leg, type DialogLeg } from './dialog.js';
import { DialogEvents, type DialogEndReason, type DialogEvent, type DialogEventType, type EventExtras } from './events.js';
import type { ProfileDef } from './profiles.js';

/** dlg_manage() and friends: Kamailio codes and the ABI's LIMIT. */
export const DLG_OK = 1;
export const DLG_FAIL = -1;
export const DLG_LIMIT = -5;

/** the counts profiles are kept in: local (one shard) or shard 0's through the service (shard.ts). */
export interface ProfileBackend {
  add(profile: string, value: string, delta: number): void;
  size(profile: string, value: string | null): number;
}

/** Where dialogs go when db_mode is on (db.ts). */
export interface DialogPersistence {
  /** the dialog changed (created, confirmed, ACKed, vars, timeout). */
  changed(d: Dialog): void;
  /** the dialog ended. */
  removed(d: Dialog): void;
}

export interface DialogTableOptions {
  cfg: DialogConfig;
  log: Logger;
  profiles: ReadonlyMap<string, ProfileDef>;
  counts: ProfileBackend;
  /** sends a BYE inside a dialog (LocalRequests.requestInDialog); null until the sockets are open. */
  sendRequest?: ((req: InDialogRequest) => Promise<LocalRequestResult>) | null;
  /** our own addresses (to find our Record-Route in a 2xx). */
  isMyself?: (host: string, port: number | undefined) => boolean;
  /** h_id of this shard: first value and step (Kamailio h_id_start / h_id_step). */
  hIdStart?: number;
  hIdStep?: number;
  /** clock (ms since the epoch) and a manual timer queue, for tests. */
  now?: () => number;
  timers?: TimerQueue;
}

/** what db.ts reads back from a `dialog` row. */
export interface RestoredDialog {
  hEntry: number;
  hId: number;
  callId: string;
  fromUri: string;
  toUri: string;
  reqUri: string;
  caller: DialogLeg;
  callee: DialogLeg;
  state: number;
  startTs: number;
  /** ms since the epoch; 0 = none stored. */
  timeoutAt: number;
  sflags: number;
  iflags: number;
  vars: Array<[string, string]>;
  profiles: Array<[string, string]>;
}

export interface DialogStats {
  /** dialogs in state 3 or 4 (Kamailio active_dialogs). */
  active: number;
  /** dialogs in state 2 (Kamailio early_dialogs). */
  early: number;
  /** dialogs that reached the 2xx since start (Kamailio processed_dialogs). */
  processed: number;
  /** dialogs ended by their timeout (Kamailio expired_dialogs). */
  expired: number;
  /** dialogs whose INVITE failed (Kamailio failed_dialogs). */
  failed: number;
  /** siphon: dlg_manage refused because max_dialogs were held (or MAX_DIALOGS_PER_CALLID). */
  table_full: number;
  /** siphon: BYEs the module sent / that could not be sent. */
  byes_sent: number;
  byes_failed: number;
}

/** the slot a dialog's timer lives in. */
class DialogSlot extends TimerSlot {
  constructor(owner: TimerOwner, readonly dialog: Dialog) {
    super(owner, 0);
  }
}

/** FNV-1a over the UTF-16 code units of a string (h_entry of a Call-ID). */
function hashOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** the URI inside a Contact / Record-Route value, or ''. */
function uriOf(value: string | undefined): string {
  if (value === undefined) return '';
  return parseNameAddr(value, false)?.uri ?? '';
}

function socketOf(ctx: MessageContext): string {
  const l = ctx.local;
  return `${l.proto}:${l.address}:${l.port}`;
}

export class DialogTable implements TimerOwner {
  readonly cfg: DialogConfig;
  readonly events: DialogEvents;
  readonly stats: DialogStats = { active: 0, early: 0, processed: 0, expired: 0, failed: 0, table_full: 0, byes_sent: 0, byes_failed: 0 };
  /** dialogs per state (index 1..4), for dlg.stats_active. */
  readonly perState = [0, 0, 0, 0, 0, 0];
  readonly profiles: ReadonlyMap<string, ProfileDef>;
  counts: ProfileBackend;
  persistence: DialogPersistence | null = null;
  sendRequest: ((req: InDialogRequest) => Promise<LocalRequestResult>) | null;
  isMyself: (host: string, port: number | undefined) => boolean;
  private readonly byCallId = new Map<string, Dialog[]>();
  private readonly byId = new Map<number, Dialog>();
  private readonly timers: TimerQueue;
  private readonly now: () => number;
  private readonly log: Logger;
  private nextId: number;
  private readonly idStep: number;
  private fullWarnAt = -Infinity;
  /** the timer queue is owned (closed with the table) unless a test gave one. */
  private readonly ownTimers: boolean;

  constructor(o: DialogTableOptions) {
    this.cfg = o.cfg;
    this.log = o.log;
    this.profiles = o.profiles;
    this.counts = o.counts;
    this.sendRequest = o.sendRequest ?? null;
    this.isMyself = o.isMyself ?? (() => false);
    this.now = o.now ?? Date.now;
    this.ownTimers = o.timers === undefined;
    this.timers = o.timers ?? new TimerQueue({ tickMs: 100, now: this.now });
    this.nextId = o.hIdStart ?? 1;
    this.idStep = o.hIdStep ?? 1;
    this.events = new DialogEvents((e) => this.log.error({ err: (e as Error).message }, 'dialog event listener failed'));
  }

  get size(): number {
    return this.byId.size;
  }

  /** every dialog (RPC listings), h_id order. */
  dialogs(): IterableIterator<Dialog> {
    return this.byId.values();
  }

  get(hEntry: number, hId: number): Dialog | null {
    const d = this.byId.get(hId);
    return d !== undefined && d.hEntry === hEntry ? d : null;
  }

  /** the dialog of Call-ID + tags (either direction), or null. */
  find(callId: string, fromTag: string | undefined, toTag: string | undefined): Dialog | null {
    const list = this.byCallId.get(callId);
    if (list === undefined) return null;
    for (const d of list) if (d.matches(fromTag, toTag)) return d;
    return null;
  }

  /** the dialog a message belongs to: ctx.dialog, else matched by Call-ID and tags (replies, branch copies). */
  dialogOf(ctx: MessageContext): Dialog | null {
    const d = ctx.dialog;
    if (d instanceof Dialog) return d.active ? d : null;
    const msg = ctx.msg;
    if (msg.kind === 'response') return this.find(msg.callId, msg.from?.tag, undefined);
    return this.find(msg.callId, msg.from?.tag, msg.to?.tag);
  }

  // ==== creation (dlg_manage) ===================================================================

  /**
   * dlg_manage() on an initial INVITE: a new dialog in state 1 bound to the request's transaction
   * (now or when relay()/t_reply() creates it). A spiral (the same INVITE routed through us again,
   * Kamailio detect_spirals) gets the existing dialog. Returns the dialog, or DLG_FAIL (not an
   * initial INVITE) / DLG_LIMIT (max_dialogs or MAX_DIALOGS_PER_CALLID).
   */
  create(ctx: MessageContext, observe: (ctx: MessageContext, o: CellObserver) => void): Dialog | number {
    const msg = ctx.msg;
    if (msg.kind !== 'request' || msg.method !== 'INVITE' || msg.from?.tag === undefined) return DLG_FAIL;
    const fromTag = msg.from.tag;
    const list = this.byCallId.get(msg.callId);
    if (list !== undefined) {
      for (const d of list) {
        if (d.fromTag === fromTag && d.state <= DlgState.EARLY) {
          ctx.dialog = d; // a spiral: the same dialog
          return d;
        }
      }
      if (list.length >= MAX_DIALOGS_PER_CALLID) return this.refuseFull(msg);
    }
    if (this.byId.size >= this.cfg.max_dialogs) return this.refuseFull(msg);
    const hId = this.nextId;
    this.nextId = hId + this.idStep > 0x7fffffff ? (hId % this.idStep) + this.idStep : hId + this.idStep;
    const caller: DialogLeg = {
      tag: fromTag,
      contact: uriOf(msg.header('contact')),
      cseq: String(msg.cseq?.seq ?? 0),
      routeSet: [],
      socket: socketOf(ctx),
    };
    const d = new Dialog(
      hashOf(msg.callId) & (this.cfg.hash_size - 1), hId, msg.callId, msg.from.uri, msg.to?.uri ?? '', msg.requestUri,
      caller, msg.cseq?.seq ?? 0, this.now(), this.cfg.default_timeout, this.cfg.send_bye === 1,
    );
    d.slot = new DialogSlot(this, d);
    this.byId.set(hId, d);
    if (list === undefined) this.byCallId.set(msg.callId, [d]);
    else list.push(d);
    this.perState[DlgState.UNCONFIRMED]++;
    this.arm(d, DlgTimer.EARLY, this.cfg.early_timeout);
    ctx.dialog = d;
    observe(ctx, new InviteObserver(this, d));
    this.emit('created', d, { message: msg, source: ctx.source });
    this.persistence?.changed(d);
    return d;
  }

  /**
   * A dialog loaded back from the database (db.ts): confirmed (state 3 or 4), with its stored
   * timeout (at least 1 s from now), variables and profiles. null when it cannot be taken (the
   * table is full, the state is not a confirmed one, the h_id is in use).
   */
  restore(r: RestoredDialog): Dialog | null {
    if (r.state !== DlgState.CONFIRMED && r.state !== DlgState.CONFIRMED_NA) return null;
    if (this.byId.size >= this.cfg.max_dialogs || this.byId.has(r.hId) || r.callId === '') return null;
    const d = new Dialog(r.hEntry, r.hId, r.callId, r.fromUri, r.toUri, r.reqUri, r.caller, Number(r.caller.cseq) || 0, this.now(), this.cfg.default_timeout, this.cfg.send_bye === 1);
    Object.assign(d.legs[Leg.CALLEE], r.callee);
    d.startTs = r.startTs;
    d.status = 200;
    d.sflags = r.sflags >>> 0;
    d.iflags = r.iflags >>> 0;
    for (const [k, v] of r.vars.slice(0, this.cfg.max_vars)) d.vars.set(k, v);
    d.slot = new DialogSlot(this, d);
    this.byId.set(d.hId, d);
    const list = this.byCallId.get(d.callId);
    if (list === undefined) this.byCallId.set(d.callId, [d]);
    else list.push(d);
    if (r.hId >= this.nextId) this.nextId = r.hId + this.idStep;
    this.perState[DlgState.UNCONFIRMED]++;
    this.setState(d, r.state === DlgState.CONFIRMED ? DlgState.CONFIRMED : DlgState.CONFIRMED_NA);
    for (const [p, v] of r.profiles.slice(0, this.cfg.max_profiles_per_dialog)) this.setProfile(d, p, v);
    const left = r.timeoutAt > 0 ? Math.max(1, Math.ceil((r.timeoutAt - this.now()) / 1000)) : d.lifetime;
    this.arm(d, DlgTimer.LIFETIME, left);
    return d;
  }

  private refuseFull(msg: SipMessage): number {
    this.stats.table_full++;
    const t = this.now();
    if (t - this.fullWarnAt >= 10_000) {
      this.fullWarnAt = t;
      this.log.warn({ code: Errors.DLG_TABLE_FULL.code, max: this.cfg.max_dialogs, refused: this.stats.table_full, callid: msg.callId }, 'dialog table full: dlg_manage refused [E9201]');
    }
    return DLG_LIMIT;
  }

  // ==== the initial INVITE's responses (CellObserver) ===========================================

  /** a response to the initial INVITE went upstream. */
  onInviteResponse(d: Dialog, status: number, resp: SipMessage | null, toTag: string | undefined, reason = ''): void {
    if (!d.active || status <= 100) return;
    if (status < 200) {
      // RFC 3261 §12.1: a provisional with a To tag creates an early dialog (Kamailio: any 1xx > 100)
      if (d.state === DlgState.UNCONFIRMED) this.setState(d, DlgState.EARLY);
      return;
    }
    if (status < 300) {
      if (d.state >= DlgState.CONFIRMED_NA) return; // a 2xx retransmission or another fork's 2xx
      const callee = d.legs[Leg.CALLEE];
      callee.tag = toTag ?? '';
      // a 2xx tm built itself (the plugin answered the INVITE) passes no Record-Route: we are the UAS side
      let recorded = resp === null;
      if (resp !== null) {
        callee.contact = uriOf(resp.header('contact'));
        recorded = this.routeSets(d, resp.headerValues('record-route'));
      }
      d.status = status;
      d.startTs = Math.floor(this.now() / 1000);
      this.setState(d, DlgState.CONFIRMED_NA);
      this.stats.processed++;
      // without our Record-Route the ACK (and every in-dialog request) goes around us: waiting for it
      // would end a healthy call at noack_timeout, so only the lifetime runs
      if (recorded) this.arm(d, DlgTimer.NOACK, Math.min(this.cfg.noack_timeout, d.lifetime));
      else this.arm(d, DlgTimer.LIFETIME, d.lifetime);
      this.emit('confirmed', d, { sipReason: reason, message: resp });
      this.persistence?.changed(d);
      return;
    }
    if (d.state >= DlgState.CONFIRMED_NA) return; // a late failure of another branch
    d.status = status;
    this.stats.failed++;
    this.end(d, 'rejected', 'failed', { sipReason: reason, message: resp });
  }

  /**
   * RFC 3261 §12.1.1/§12.1.2: the 2xx's Record-Route list, top first, runs from the callee to the
   * caller. The entries above ours lead to the callee (reversed: nearest first), those below ours
   * to the caller (in order). Without our own entry, in-dialog requests do not pass us.
   */
  private routeSets(d: Dialog, rr: string[]): boolean {
    let ours = -1;
    for (let i = 0; i < rr.length && i < 64; i++) {
      const u = parseUri(uriOf(rr[i]));
      if (u !== null && this.isMyself(u.host, u.port)) {
        ours = i;
        break;
      }
    }
    if (ours < 0) return false;
    d.legs[Leg.CALLEE].routeSet = rr.slice(0, ours).reverse();
    d.legs[Leg.CALLER].routeSet = rr.slice(ours + 1, 64);
    return true;
  }

  // ==== in-dialog requests (RouteObserver.beforeRoute) ==========================================

  /** a request with a To tag, before request_route: ACK confirms, BYE ends, others refresh the timeout. */
  onSequentialRequest(ctx: MessageContext): void {
    const msg = ctx.msg;
    const toTag = msg.to?.tag;
    if (toTag === undefined || this.byCallId.size === 0) return;
    const d = this.find(msg.callId, msg.from?.tag, toTag);
    if (d === null || !d.active) return;
    ctx.dialog = d;
    const seq = msg.cseq?.seq ?? 0;
    const method = msg.method;
    if (method === 'ACK') {
      if (d.state === DlgState.CONFIRMED_NA && seq === d.inviteCseq) {
        this.setState(d, DlgState.CONFIRMED);
        this.arm(d, DlgTimer.LIFETIME, d.lifetime);
        this.persistence?.changed(d);
      }
      return;
    }
    if (method === 'CANCEL') return;
    const leg = d.legs[d.senderOf(msg.from?.tag)];
    if (seq > Number(leg.cseq)) leg.cseq = String(seq);
    if (method === 'BYE') {
      this.end(d, 'bye', 'terminated', { message: msg, source: ctx.source });
      return;
    }
    // Kamailio: every sequential request restarts the lifetime unless timeout_noreset
    if (d.state === DlgState.CONFIRMED && this.cfg.timeout_noreset === 0) this.arm(d, DlgTimer.LIFETIME, d.lifetime);
  }

  // ==== ending ==================================================================================

  /** dlg_bye / dlg.end_dlg / timeout: BYE to the sides asked (1 caller, 2 callee, 3 both), then the dialog ends. */
  bye(d: Dialog, sides: number, reason: DialogEndReason): boolean {
    if (!d.active || d.state < DlgState.CONFIRMED_NA) return false;
    if ((sides & 2) !== 0) this.sendBye(d, Leg.CALLEE);
    if ((sides & 1) !== 0) this.sendBye(d, Leg.CALLER);
    this.end(d, reason, 'terminated');
    return true;
  }

  /** RFC 3261 §15.1.1 from the proxy's place in the dialog: the other side's tags swapped in. */
  private sendBye(d: Dialog, to: Leg): void {
    const send = this.sendRequest;
    const target = d.legs[to];
    const from = d.legs[to === Leg.CALLEE ? Leg.CALLER : Leg.CALLEE];
    if (send === null || target.contact === '') {
      this.stats.byes_failed++;
      return;
    }
    const seq = Number(from.cseq) + 1;
    from.cseq = String(seq);
    const callerSide = `<${d.fromUri}>;tag=${d.fromTag}`;
    const calleeSide = `<${d.toUri}>;tag=${d.toTag}`;
    const extra = this.cfg.dlg_extra_hdrs.split(/\r?\n/).filter((l) => l.length > 0);
    this.stats.byes_sent++;
    send({
      method: 'BYE', uri: target.contact, routes: target.routeSet, callId: d.callId, cseq: seq,
      from: to === Leg.CALLEE ? callerSide : calleeSide,
      to: to === Leg.CALLEE ? calleeSide : callerSide,
      extraHeaders: extra,
    }).then(
      () => undefined,
      (e: unknown) => {
        this.stats.byes_failed++;
        this.log.warn({ code: Errors.DLG_BYE.code, callid: d.callId, err: (e as Error).message }, 'dialog BYE not sent [E9202]');
      },
    );
  }

  /** the dialog is over: state 5, out of the table and its profiles, event, persistence. */
  end(d: Dialog, reason: DialogEndReason, type: DialogEventType, extras?: EventExtras): void {
    if (!d.active) return;
    this.setState(d, DlgState.DELETED);
    d.endTs = Math.floor(this.now() / 1000);
    if (d.slot !== null) this.timers.cancel(d.slot);
    this.byId.delete(d.hId);
    const list = this.byCallId.get(d.callId);
    if (list !== undefined) {
      const i = list.indexOf(d);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byCallId.delete(d.callId);
    }
    for (const p of d.profiles) this.counts.add(p.profile, p.value, -1);
    this.emit(type, d, { ...extras, reason });
    this.persistence?.removed(d);
  }

  // ==== timers ==================================================================================

  private arm(d: Dialog, kind: DlgTimer, seconds: number): void {
    d.timerKind = kind;
    d.timeoutAt = this.now() + seconds * 1000;
    if (d.slot !== null) this.timers.schedule(d.slot, seconds * 1000);
  }

  /** dlg_set_timeout: the lifetime from now (a confirmed dialog's timer restarts with it). */
  setTimeout(d: Dialog, seconds: number): void {
    d.lifetime = seconds;
    if (d.state === DlgState.CONFIRMED) this.arm(d, DlgTimer.LIFETIME, seconds);
    else if (d.state === DlgState.CONFIRMED_NA) this.arm(d, DlgTimer.NOACK, Math.min(this.cfg.noack_timeout, seconds));
    this.persistence?.changed(d);
  }

  onTimer(slot: TimerSlot): void {
    const d = (slot as DialogSlot).dialog;
    if (!d.active) return;
    try {
      if (d.timerKind === DlgTimer.EARLY) {
        // no final reply within early_timeout: forgotten without BYE (there is no dialog to end yet)
        this.stats.failed++;
        this.end(d, 'early_timeout', 'failed');
        return;
      }
      this.stats.expired++;
      if (d.timeoutBye) this.bye(d, 3, 'timeout');
      else this.end(d, 'timeout', 'terminated');
    } catch (e) {
      this.log.error({ err: (e as Error).message, callid: d.callId }, 'dialog timer failed');
    }
  }

  /** runs due timers now (tests with a manual queue). */
  runTimers(): number {
    return this.timers.runDue();
  }

  // ==== profiles, variables, flags ==============================================================

  /** set_dlg_profile: 1 added (or already a member), -1 unknown profile, -5 max_profiles_per_dialog. */
  setProfile(d: Dialog, profile: string, value: string | null): number {
    const def = this.profiles.get(profile);
    if (def === undefined) return DLG_FAIL;
    const v = def.hasValue ? (value ?? '') : '';
    for (const p of d.profiles) if (p.profile === profile && p.value === v) return DLG_OK;
    if (d.profiles.length >= this.cfg.max_profiles_per_dialog) return DLG_LIMIT;
    d.profiles.push({ profile, value: v });
    this.counts.add(profile, v, 1);
    return DLG_OK;
  }

  /** unset_dlg_profile: 1 removed, -1 not a member / unknown profile. */
  unsetProfile(d: Dialog, profile: string, value: string | null): number {
    const def = this.profiles.get(profile);
    if (def === undefined) return DLG_FAIL;
    for (let i = 0; i < d.profiles.length; i++) {
      const p = d.profiles[i]!;
      if (p.profile !== profile || (def.hasValue && value !== null && p.value !== value)) continue;
      d.profiles.splice(i, 1);
      this.counts.add(profile, p.value, -1);
      return DLG_OK;
    }
    return DLG_FAIL;
  }

  /** is_in_profile: 1 the dialog is a member (with that value when given), -1 not. */
  inProfile(d: Dialog, profile: string, value: string | null): number {
    const def = this.profiles.get(profile);
    if (def === undefined) return DLG_FAIL;
    for (const p of d.profiles) if (p.profile === profile && (!def.hasValue || value === null || p.value === value)) return DLG_OK;
    return DLG_FAIL;
  }

  /** $dlg_var(name) = value (null deletes): 1, -5 max_vars. */
  setVar(d: Dialog, name: string, value: string | null): number {
    if (value === null) {
      d.vars.delete(name);
    } else {
      if (!d.vars.has(name) && d.vars.size >= this.cfg.max_vars) return DLG_LIMIT;
      d.vars.set(name, value);
    }
    this.persistence?.changed(d);
    return DLG_OK;
  }

  // ==== internals ===============================================================================

  private setState(d: Dialog, s: DlgState): void {
    const old = d.state;
    if (old === s) return;
    this.perState[old]--;
    if (s !== DlgState.DELETED) this.perState[s]++;
    d.state = s;
    d.dirty = true;
    this.stats.active = this.perState[DlgState.CONFIRMED_NA]! + this.perState[DlgState.CONFIRMED]!;
    this.stats.early = this.perState[DlgState.EARLY]!;
  }

  private emit(type: DialogEventType, d: Dialog, extras?: EventExtras): void {
    if (!this.events.active) return;
    this.events.emit(snapshot(type, d, this.now(), extras));
  }

  /** stops the timers (the node stops; persisted dialogs stay in the DB). */
  close(): void {
    if (this.ownTimers) this.timers.close();
  }
}

/** A dialog's view of its INVITE transaction (one per dialog). */
class InviteObserver implements CellObserver {
  constructor(
    private readonly table: DialogTable,
    private readonly d: Dialog,
  ) {}

  onUpstreamResponse(_cell: ProxyTransaction, status: number, resp: SipMessage | null, toTag: string | undefined, reason: string): void {
    this.table.onInviteResponse(this.d, status, resp, toTag, reason);
  }
}

export function snapshot(type: DialogEventType, d: Dialog, atMs: number, x: EventExtras = {}): DialogEvent {
  const e: DialogEvent = {
    type, hEntry: d.hEntry, hId: d.hId, callId: d.callId, fromUri: d.fromUri, fromTag: d.fromTag, toUri: d.toUri, toTag: d.toTag,
    reqUri: d.reqUri, state: d.state, status: d.status, initTs: d.initTs, startTs: d.startTs, endTs: d.endTs, atMs,
    vars: Object.fromEntries(d.vars),
  };
  if (x.reason !== undefined) e.reason = x.reason;
  if (x.sipReason !== undefined) e.sipReason = x.sipReason;
  if (x.message !== undefined && x.message !== null) e.message = x.message;
  if (x.source !== undefined) e.source = x.source;
  return e;
}
