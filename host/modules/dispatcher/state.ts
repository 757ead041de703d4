/**
 * The destination state machine (Kamailio ds_update_state / ds_options_callback / ds_ping_set),
 * as pure functions over a destination's `flags` and `probingCount`.
 *
 * States: ACTIVE (no bit), TRYING (2: failed keepalives, still selectable), INACTIVE (1),
 * DISABLED (4: admin), plus PROBING (8: keepalives are sent) and NOPING (32). Selection skips
 * INACTIVE and DISABLED only.
 */
import { DsFlag, isSkipped } from './destination.js';

/** What a state change does with counters and thresholds. */
export const StateMode = {
  /** keepalive result: thresholds apply. */
  KEEPALIVE: 0,
  /** set from script/plugin or RPC-like path: applied immediately (DS_STATE_MODE_SET). */
  SET: 1,
  /** it came from a plugin function (DS_STATE_MODE_FUNC), for event gating. */
  FUNC: 2,
} as const;

export interface StateHolder {
  flags: number;
  probingCount: number;
}

export interface Thresholds {
  /** `ds_probing_threshold`: failures before TRYING becomes INACTIVE. */
  probingThreshold: number;
  /** `ds_inactive_threshold`: successes before INACTIVE becomes ACTIVE. */
  inactiveThreshold: number;
}

/** The two RPC letters: I/D/T/A (checked in that order), then P/N/X. */
export function stateLetters(flags: number): string {
  const a =
    flags & DsFlag.INACTIVE ? 'I' : flags & DsFlag.DISABLED ? 'D' : flags & DsFlag.TRYING ? 'T' : 'A';
  const b = flags & DsFlag.PROBING ? 'P' : flags & DsFlag.NOPING ? 'N' : 'X';
  return a + b;
}

/**
 * `ds_mark_dst`/`ds_mark_addr` state text (Kamailio ds_parse_flags): any of a, i, d, t, p
 * (case-insensitive; `a` clears what came before). -1 for any other character.
 */
export function parseStateFlags(text: string): number {
  let flag = 0;
  for (const c of text.toLowerCase()) {
    if (c === 'a') flag &= ~DsFlag.STATES_ALL;
    else if (c === 'i') flag |= DsFlag.INACTIVE;
    else if (c === 'd') flag |= DsFlag.DISABLED;
    else if (c === 't') flag |= DsFlag.TRYING;
    else if (c === 'p') flag |= DsFlag.PROBING;
    else return -1;
  }
  return flag;
}

/**
 * `dispatcher.set_state` state text: first char a/1 active, i/0 inactive, d/2 disabled, t/3
 * trying; a second char p adds probing (not for disabled). null when unknown.
 */
export function parseRpcState(text: string): number | null {
  if (text.length === 0) return null;
  const c = text[0]!.toLowerCase();
  const p = text.length > 1 && text[1]!.toLowerCase() === 'p' ? DsFlag.PROBING : 0;
  if (c === '0' || c === 'i') return DsFlag.INACTIVE | p;
  if (c === '1' || c === 'a') return p;
  if (c === '2' || c === 'd') return DsFlag.DISABLED;
  if (c === '3' || c === 't') return DsFlag.TRYING | p;
  return null;
}

/** Outcome of a state change, for events and weight-table rebuilds. */
export interface StateChange {
  oldFlags: number;
  newFlags: number;
  wasDown: boolean;
  isDown: boolean;
}

/**
 * Applies a requested state the way ds_update_state does:
 *  - TRYING requested while INACTIVE stays INACTIVE (it must become ACTIVE first);
 *  - DISABLED wins over every other bit;
 *  - each TRYING request counts a failure; at `probingThreshold` (or at once with SET) the
 *    destination becomes INACTIVE and the counter resets;
 *  - a non-TRYING request while INACTIVE counts a success; below `inactiveThreshold` (keepalive
 *    mode) it stays INACTIVE (keeping PROBING if it had it); at the threshold, or at once with
 *    SET, it becomes what was requested and the counter resets.
 */
export function updateState(d: StateHolder, requested: number, mode: number, th: Thresholds): StateChange {
  const old = d.flags;
  const init = requested;
  let state = requested;
  d.flags &= ~DsFlag.STATES_ALL;
  if (state & DsFlag.TRYING && old & DsFlag.INACTIVE) {
    state &= ~DsFlag.TRYING;
    state |= DsFlag.INACTIVE;
  }
  if (state & DsFlag.DISABLED) d.flags |= DsFlag.DISABLED;
  else d.flags |= state;

  if (state & DsFlag.TRYING) {
    d.probingCount++;
    if (mode & StateMode.SET || d.probingCount >= th.probingThreshold) {
      d.flags &= ~DsFlag.TRYING;
      d.flags |= DsFlag.INACTIVE;
      d.probingCount = 0;
    }
  } else if (!(init & DsFlag.TRYING) && old & DsFlag.INACTIVE) {
    d.probingCount++;
    if ((mode & StateMode.SET) === 0 && d.probingCount < th.inactiveThreshold) {
      d.flags |= DsFlag.INACTIVE;
      if (old & DsFlag.PROBING) d.flags |= DsFlag.PROBING;
    } else {
      d.probingCount = 0;
    }
  } else {
    d.probingCount = 0;
  }
  return { oldFlags: old, newFlags: d.flags, wasDown: isSkipped(old), isDown: isSkipped(d.flags) };
}

/** RPC `set_state` / reload-style change: state bits replaced, counters untouched (ds_reinit_state). */
export function reinitState(d: StateHolder, state: number): StateChange {
  const old = d.flags;
  d.flags = (d.flags & ~DsFlag.STATES_ALL) | state;
  return { oldFlags: old, newFlags: d.flags, wasDown: isSkipped(old), isDown: isSkipped(d.flags) };
}

/** `ds_probing_mode` values. */
export const ProbingMode = {
  /** ping targets flagged P; a result clears P. */
  FLAGGED_ONCE: 0,
  /** ping every target; failures set T+P, successes keep P. */
  ALL: 1,
  /** ping only targets that are I and P. */
  INACTIVE: 2,
  /** ping targets flagged P and never clear P from results. */
  ONLY_FLAGGED: 3,
} as const;

/**
 * Whether the keepalive timer pings this target (ds_ping_set + ds_ping_result_helper): never a
 * disabled, no-ping or no-DNS one; otherwise per probing mode.
 */
export function shouldPing(flags: number, noDns: boolean, probingMode: number): boolean {
  if (flags & (DsFlag.DISABLED | DsFlag.NOPING) || noDns) return false;
  if (probingMode === ProbingMode.ALL) return true;
  if (probingMode !== ProbingMode.INACTIVE && flags & DsFlag.PROBING) return true;
  return probingMode === ProbingMode.INACTIVE && (flags & DsFlag.PROBING) !== 0 && (flags & DsFlag.INACTIVE) !== 0;
}

/** A parsed `ds_ping_reply_codes` value: exact codes and classes accepted besides 2xx. */
export interface ReplyCodeList {
  codes: ReadonlySet<number>;
  classes: ReadonlySet<number>;
}

/** Parses `code=NNN;class=N;...` (codes 100..699, classes 1..6; others ignored, as Kamailio does). */
export function parseReplyCodes(text: string): ReplyCodeList {
  const codes = new Set<number>();
  const classes = new Set<number>();
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    const v = part.slice(eq + 1).trim();
    if (!/^[+-]?[0-9]+$/.test(v)) continue;
    const n = Number.parseInt(v, 10);
    if (name === 'code' && n >= 100 && n < 700) codes.add(n);
    else if (name === 'class' && n >= 1 && n < 7) classes.add(n);
  }
  return { codes, classes };
}

/** A keepalive reply counts as success: any 2xx, or a listed code/class. */
export function isPingSuccess(code: number, extra: ReplyCodeList): boolean {
  return (code >= 200 && code <= 299) || extra.codes.has(code) || extra.classes.has(Math.trunc(code / 100));
}

/**
 * The state a keepalive result requests (ds_options_callback), or null when the result must be
 * ignored (mode 3 and P was removed meanwhile; or the target is disabled).
 */
export function keepaliveRequestedState(success: boolean, currentFlags: number, probingMode: number): number | null {
  if (probingMode === ProbingMode.ONLY_FLAGGED && !(currentFlags & DsFlag.PROBING)) return null;
  if (currentFlags & DsFlag.DISABLED) return null;
  if (success) {
    let state = 0;
    if (probingMode === ProbingMode.ALL || (probingMode === ProbingMode.ONLY_FLAGGED && currentFlags & DsFlag.PROBING)) {
      state |= DsFlag.PROBING;
    }
    return state;
  }
  let state: number = DsFlag.TRYING;
  if (probingMode !== ProbingMode.FLAGGED_ONCE) state |= DsFlag.PROBING;
  return state;
}
