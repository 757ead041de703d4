/**
 * One dialog as Kamailio's dialog module keeps it (dlg_hash.h dlg_cell): identity (h_entry/h_id,
 * Call-ID, the two tags), both legs (contact, CSeq, route set, socket), the state of the initial
 * INVITE (RFC 3261 §12.1: early on a provisional with a To tag, confirmed on the 2xx, the ACK
 * completes it), timestamps, flags, `$dlg_var` variables and profile memberships.
 *
 * Kamailio's states (README "Dialog states"): 1 unconfirmed, 2 early, 3 confirmed (2xx, waiting
 * for the ACK), 4 confirmed (ACKed, the call is up), 5 deleted.
 */
import type { TimerSlot } from '../../transaction/index.js';

export const enum DlgState {
  UNCONFIRMED = 1,
  EARLY = 2,
  CONFIRMED_NA = 3,
  CONFIRMED = 4,
  DELETED = 5,
}

/** which side of the dialog (Kamailio DLG_CALLER_LEG / DLG_CALLEE_LEG). */
export const enum Leg {
  CALLER = 0,
  CALLEE = 1,
}

export interface DialogLeg {
  tag: string;
  contact: string;
  /** the last CSeq number this side sent (text, as Kamailio stores it). */
  cseq: string;
  /** Route values towards this side, first hop first (RFC 3261 §12.1.1, §12.1.2). */
  routeSet: string[];
  /** the local socket this side talks to (`udp:127.0.0.1:5060`). */
  socket: string;
}

/** one profile membership (Kamailio dlg_profile_link). */
export interface ProfileLink {
  profile: string;
  /** '' for profiles without value. */
  value: string;
}

/** timer kinds of a dialog's slot. */
export const enum DlgTimer {
  /** unconfirmed / early: no final reply within early_timeout. */
  EARLY = 1,
  /** confirmed, no ACK within noack_timeout. */
  NOACK = 2,
  /** the dialog's lifetime (default_timeout or dlg_set_timeout). */
  LIFETIME = 3,
}

export class Dialog {
  state: DlgState = DlgState.UNCONFIRMED;
  /** seconds since the epoch: dialog creation (init_ts), 2xx (start_ts), end (end_ts); 0 = not yet. */
  initTs: number;
  startTs = 0;
  endTs = 0;
  /** seconds of lifetime once confirmed (default_timeout unless set). */
  lifetime: number;
  /** ms (Date.now()) at which the current timer fires; 0 = none. */
  timeoutAt = 0;
  /** Kamailio dflags (internal) and sflags (script flags, dlg_setflag). */
  dflags = 0;
  sflags = 0;
  iflags = 0;
  /** $dlg_ctx(timeout_bye): BYE to both sides when the dialog times out. */
  timeoutBye: boolean;
  /** the status of the final reply to the initial INVITE (0 none yet). */
  status = 0;
  readonly legs: [DialogLeg, DialogLeg];
  readonly vars = new Map<string, string>();
  readonly profiles: ProfileLink[] = [];
  /** the reused timer slot of this dialog (set by the table) and what it times now. */
  slot: TimerSlot | null = null;
  timerKind: DlgTimer = DlgTimer.EARLY;
  /** the INVITE's CSeq number (an ACK with it confirms). */
  readonly inviteCseq: number;
  /** written to the DB since the last change (db_mode 2). */
  dirty = true;
  /** the DB row id once stored (db_mode 1/2/3). */
  dbStored = false;

  constructor(
    readonly hEntry: number,
    readonly hId: number,
    readonly callId: string,
    readonly fromUri: string,
    readonly toUri: string,
    /** the initial INVITE's Request-URI (Kamailio req_uri). */
    readonly reqUri: string,
    caller: DialogLeg,
    inviteCseq: number,
    nowMs: number,
    lifetime: number,
    timeoutBye: boolean,
  ) {
    this.initTs = Math.floor(nowMs / 1000);
    this.lifetime = lifetime;
    this.timeoutBye = timeoutBye;
    this.inviteCseq = inviteCseq;
    this.legs = [caller, { tag: '', contact: '', cseq: '0', routeSet: [], socket: caller.socket }];
  }

  get fromTag(): string {
    return this.legs[Leg.CALLER].tag;
  }

  get toTag(): string {
    return this.legs[Leg.CALLEE].tag;
  }

  /** a request with these tags belongs to this dialog (either direction; no To tag: an initial request of it). */
  matches(fromTag: string | undefined, toTag: string | undefined): boolean {
    const caller = this.legs[Leg.CALLER].tag;
    const callee = this.legs[Leg.CALLEE].tag;
    if (toTag === undefined || toTag === '') return fromTag === caller;
    if (fromTag === caller) return callee === '' || toTag === callee;
    return fromTag === callee && toTag === caller;
  }

  /** which leg sent a request with this From tag. */
  senderOf(fromTag: string | undefined): Leg {
    return fromTag === this.legs[Leg.CALLER].tag ? Leg.CALLER : Leg.CALLEE;
  }

  get active(): boolean {
    return this.state !== DlgState.DELETED;
  }

  /**
   * `$dlg(name)` (Kamailio dialog dlg_var.c pv_get_dlg): an attribute as text; null for unknown
   * names. Also what host/core/pv.ts evaluates `$dlg(name)` with (MessageContext.dialog).
   */
  field(name: string, nowMs: number): string | null {
    const caller = this.legs[Leg.CALLER];
    const callee = this.legs[Leg.CALLEE];
    switch (name) {
      case 'h_id':
        return String(this.hId);
      case 'h_entry':
        return String(this.hEntry);
      case 'state':
        return String(this.state);
      case 'callid':
        return this.callId;
      case 'from_uri':
        return this.fromUri;
      case 'from_tag':
        return caller.tag;
      case 'to_uri':
        return this.toUri;
      case 'to_tag':
        return callee.tag;
      case 'from_cseq':
        return caller.cseq;
      case 'to_cseq':
        return callee.cseq;
      case 'from_contact':
        return caller.contact;
      case 'to_contact':
        return callee.contact;
      case 'from_rs':
        return caller.routeSet.join(',');
      case 'to_rs':
        return callee.routeSet.join(',');
      case 'from_bsock':
        return caller.socket;
      case 'to_bsock':
        return callee.socket;
      case 'start_ts':
        return String(this.startTs);
      case 'init_ts':
        return String(this.initTs);
      case 'end_ts':
        return String(this.endTs);
      case 'lifetime':
        // Kamailio $dlg(lifetime): seconds since the 2xx (0 before it)
        return String(this.startTs === 0 ? 0 : Math.max(0, Math.floor(nowMs / 1000) - this.startTs));
      case 'timeout':
        return String(this.lifetime);
      case 'dflags':
        return String(this.dflags);
      case 'sflags':
        return String(this.sflags);
      case 'ruri':
        return this.reqUri;
      case 'ref':
        return '1';
      default:
        return null;
    }
  }

  /** `$dlg_var(name)` for host/core/pv.ts. */
  pvVar(name: string): string | null {
    return this.vars.get(name) ?? null;
  }

  /** `$dlg(name)` for host/core/pv.ts (the clock of the call). */
  pvField(name: string): string | null {
    return this.field(name, Date.now());
  }
}
