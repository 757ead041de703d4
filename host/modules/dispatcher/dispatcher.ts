/**
 * The dispatcher: owns the current destination sets, runs selections, the state machine, the
 * keepalive rounds and call-load tracking. One object per server (no module globals); everything
 * the message path calls is synchronous and allocation-light.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Errors, SiphonError } from '../../errors/registry.js';
import { CallLoadTable, type CallLoadEntry } from './call-load.js';
import type { DispatcherConfig } from './config.js';
import type { DestinationSource } from './db.js';
import { DsFlag, isSkipped, type Destination, type DestinationSpec } from './destination.js';
import type { DsTargetList } from './failover.js';
import { matchFromList, type DsSource, type FromListMatch } from './from-list.js';
import { applyCongestion } from './latency.js';
import type { Prober, ProbeResult } from './prober.js';
import { selectTarget, type DsMessage, type SelectOptions } from './select.js';
import { buildSets, DispatcherSets, type DestinationSet } from './sets.js';
import {
  isPingSuccess,
  keepaliveRequestedState,
  parseReplyCodes,
  parseStateFlags,
  reinitState,
  shouldPing,
  StateMode,
  updateState,
  type ReplyCodeList,
  type StateChange,
  type Thresholds,
} from './state.js';

export { MatchMode, type DsSource, type FromListMatch } from './from-list.js';

export { SetOp, type DispatcherCounters, type DispatcherOptions, type DispatcherSync, type DsRouteTarget, type DsStateEvent, type SetOpValue } from './dispatcher-types.js';
import { SetOp, type DispatcherCounters, type DispatcherOptions, type DispatcherSync, type DsRouteTarget, type DsStateEvent, type SetOpValue } from './dispatcher-types.js';

const REPLY_CODES_NONE: ReplyCodeList = { codes: new Set(), classes: new Set() };

export class Dispatcher extends EventEmitter {
  readonly cfg: Readonly<DispatcherConfig>;
  private source: DestinationSource;
  private current: DispatcherSets = DispatcherSets.empty();
  /** the specs the current snapshot was built from (add/remove rebuild from these). */
  private specs: DestinationSpec[] = [];
  private readonly log?: Logger;
  private prober: Prober | null;
  private readonly resolve?: (host: string) => Promise<string[]>;
  private readonly selectOpts: SelectOptions;
  private replyCodes: ReplyCodeList;
  private thresholds: Thresholds;
  readonly callLoad: CallLoadTable | null;
  private pingTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private callLoadWarnAt = -Infinity;
  private lastReloadAt = 0;
  /** the shard layout's hook (shards.ts), null with one shard. */
  sync: DispatcherSync | null = null;
  /** global keepalive switch (dispatcher.ping_active). */
  pingActive = 1;
  readonly counters: DispatcherCounters = { selections: 0, selectionFailures: 0, pingsSent: 0, pingFailures: 0, reloads: 0, reloadFailures: 0 };

  constructor(cfg: DispatcherConfig, source: DestinationSource, opts: DispatcherOptions = {}) {
    super();
    this.cfg = cfg;
    this.source = source;
    this.log = opts.log;
    this.prober = opts.prober ?? null;
    this.resolve = opts.resolve;
    this.callLoad = cfg.ds_hash_size > 0
      ? new CallLoadTable(cfg.ds_hash_expire, cfg.ds_hash_initexpire, Date.now, cfg.ds_hash_max_entries, (e, evicted) => this.onCallLoadEvicted(e, evicted))
      : null;
    this.selectOpts = {
      useDefault: cfg.use_default !== 0,
      hashUserOnly: (cfg.flags & 1) !== 0,
      failover: (cfg.flags & 2) !== 0,
      callLoad: this.callLoad,
      warn: (m) => this.log?.warn(m),
    };
    this.replyCodes = cfg.ds_ping_reply_codes ? parseReplyCodes(cfg.ds_ping_reply_codes) : REPLY_CODES_NONE;
    this.thresholds = { probingThreshold: cfg.ds_probing_threshold, inactiveThreshold: cfg.ds_inactive_threshold };
  }

  /** the snapshot in use. */
  get sets(): DispatcherSets {
    return this.current;
  }

  /** the specs the snapshot in use was built from. */
  get specsInUse(): readonly DestinationSpec[] {
    return this.specs;
  }

  setProber(p: Prober | null): void {
    this.prober = p;
  }

  /** Runtime-tunable parameters (Kamailio cfg framework: thresholds and reply codes). */
  tune(t: { probingThreshold?: number; inactiveThreshold?: number; replyCodes?: string }): void {
    if (t.probingThreshold !== undefined) this.thresholds.probingThreshold = t.probingThreshold;
    if (t.inactiveThreshold !== undefined) this.thresholds.inactiveThreshold = t.inactiveThreshold;
    if (t.replyCodes !== undefined) this.replyCodes = t.replyCodes ? parseReplyCodes(t.replyCodes) : REPLY_CODES_NONE;
  }

  // ---- loading ---------------------------------------------------------------------------------

  private build(specs: DestinationSpec[], loadMode = this.cfg.ds_load_mode): Promise<DispatcherSets> {
    return buildSets(specs, {
      loadMode,
      attrsNone: this.cfg.ds_attrs_none !== 0,
      resolveAtLoad: (this.cfg.ds_dns_mode & 1) !== 0,
      retainLatencyFrom: this.cfg.ds_ping_latency_stats && this.cfg.ds_retain_latency_stats ? this.current : undefined,
      resolve: this.resolve,
    });
  }

  private publish(next: DispatcherSets, specs: DestinationSpec[]): void {
    this.current = next;
    this.specs = specs;
    this.sync?.published();
    for (const s of next.skipped) this.log?.warn({ module: 'dispatcher' }, `skipped destination: ${s}`);
    if (this.cfg.event_callback_mode === 2) {
      for (const set of next.ordered) {
        for (const d of set.dests) this.emitState(set.id, d.uri, !isSkipped(d.flags), 0, '', 'init');
      }
    }
  }

  /**
   * Reads the source and swaps in the new sets. On any failure the running sets stay and the error
   * (E8002 with the cause) is thrown. Honors reload_delta (fault "Ongoing reload").
   */
  async reload(): Promise<DispatcherSets> {
    this.checkReloadDelta();
    try {
      const specs = await this.source.load();
      const next = await this.build(specs);
      this.publish(next, specs);
      this.counters.reloads++;
      return next;
    } catch (e) {
      this.counters.reloadFailures++;
      throw new SiphonError('DS_RELOAD', `${this.source.description}: ${(e as Error).message}`, { cause: e });
    }
  }

  private checkReloadDelta(): void {
    const now = Date.now();
    if (this.cfg.reload_delta > 0 && this.lastReloadAt !== 0 && this.lastReloadAt > now - this.cfg.reload_delta * 1000) {
      throw new SiphonError('DS_RELOAD', 'Ongoing reload');
    }
    this.lastReloadAt = now;
  }

  /** Rebuilds from an edited spec list keeping every unchanged destination's runtime state (dispatcher.add/remove). */
  private async rebuildKeepingState(specs: DestinationSpec[], loadMode?: number): Promise<void> {
    const old = this.current;
    const next = await this.build(specs, loadMode);
    for (const set of next.ordered) {
      const prev = old.get(set.id);
      if (!prev) continue;
      for (const d of set.dests) {
        const i = prev.indexOfUri(d.uri);
        if (i < 0) continue;
        const p = prev.dests[i]!;
        d.flags = p.flags;
        d.probingCount = p.probingCount;
        d.load = p.load;
        d.latency.copyFrom(p.latency);
      }
      set.initRelativeWeights();
      set.initPriorityWeights();
    }
    this.current = next;
    this.specs = specs;
    this.sync?.published();
  }

  /**
   * Worker shards: puts in use the snapshot shard 0 built (shards.ts), without events. The call
   * load of an unchanged destination stays: each shard counts its own calls (README "Shards").
   */
  install(next: DispatcherSets, specs: DestinationSpec[]): void {
    const old = this.current;
    for (const set of next.ordered) {
      const prev = old.get(set.id);
      if (!prev) continue;
      for (const d of set.dests) {
        const i = prev.indexOfUri(d.uri);
        if (i >= 0) d.load = prev.dests[i]!.load;
      }
    }
    this.current = next;
    this.specs = specs;
  }

  /** In-memory add (lost on reload), like Kamailio ds_add_dst. */
  async add(setid: number, uri: string, flags = 0, priority = 0, attrs = ''): Promise<void> {
    this.checkReloadDelta();
    const specs = [...this.specs, { setid, uri, flags, priority, attrs, where: 'rpc' }];
    // a bad destination added by hand is an error, not a skipped line
    await this.rebuildKeepingState(specs, 1);
  }

  /** Removes every entry of the set with that URI (in memory). Returns how many were removed. */
  async remove(setid: number, uri: string): Promise<number> {
    this.checkReloadDelta();
    const lc = uri.toLowerCase();
    const norm = (u: string): string => (u.includes(':') ? u : 'sip:' + u).toLowerCase();
    const specs = this.specs.filter((s) => !(s.setid === setid && (s.uri.toLowerCase() === lc || norm(s.uri) === lc)));
    const removed = this.specs.length - specs.length;
    if (removed === 0) return 0;
    await this.rebuildKeepingState(specs);
    return removed;
  }

  // ---- selection -------------------------------------------------------------------------------

  /**
   * ds_select_dst / ds_select_domain / ds_select: picks a target of `setid` with `alg` and applies
   * it per `op`. Returns 1, or -1 (no such set, no usable target, $du already set with force_dst=0).
   */
  select(msg: DsMessage, target: DsRouteTarget, list: DsTargetList, setid: number, alg: number, limit: number, op: SetOpValue): number {
    const set = this.current.get(setid);
    if (!set || (op === SetOp.DST_URI && this.cfg.force_dst === 0 && target.dstUri)) {
      this.counters.selectionFailures++;
      return -1;
    }
    list.reset();
    const sel = selectTarget(set, alg, limit, msg, this.selectOpts, list);
    if (sel.index < 0) {
      this.counters.selectionFailures++;
      return -1;
    }
    this.apply(target, set.dests[sel.index]!.uri, op);
    this.counters.selections++;
    return 1;
  }

  private apply(target: DsRouteTarget, uri: string, op: SetOpValue): void {
    if (op === SetOp.DST_URI) target.dstUri = uri;
    else if (op === SetOp.RURI) target.setRequestUri(rewriteHostAll(target.requestUri, uri));
  }

  /** ds_next_dst / ds_next_domain: drops the current target and applies the next. 1 / -1. */
  next(target: DsRouteTarget, list: DsTargetList, op: SetOpValue, callId?: string): number {
    if (!this.selectOpts.failover) return -1;
    for (;;) {
      if (!list.current()) return -1;
      const t = list.advance();
      if (!t) return -1;
      this.apply(target, t.uri, op);
      if (t.dstid && callId !== undefined && this.callLoad) {
        const r = this.loadReplace(callId, t.dstid);
        if (r === -2) continue; // that destination vanished meanwhile: skip it
        if (r < 0) return -1;
      }
      return 1;
    }
  }

  /** ds_set_dst / ds_set_domain: re-applies the current target. 1 / -1. */
  applyCurrent(target: DsRouteTarget, list: DsTargetList, op: SetOpValue): number {
    const t = list.current();
    if (!t) return -1;
    this.apply(target, t.uri, op);
    return 1;
  }

  /**
   * ds_mark_dst([state]): sets the state of the current target. Without state: inactive (plus
   * probing when ds_probing_mode is 1). Returns 1 / -1 (-1 also when failover is off).
   */
  markDst(list: DsTargetList, stateText?: string, code = 820): number {
    if (!this.selectOpts.failover) return -1;
    const t = list.current();
    if (!t) return -1;
    let state: number;
    if (stateText === undefined || stateText.length === 0) {
      state = DsFlag.INACTIVE | (this.cfg.ds_probing_mode === 1 ? DsFlag.PROBING : 0);
    } else {
      state = parseStateFlags(stateText);
      if (state < 0) return -1;
    }
    return this.markAddr(state, t.setid, t.uri, code);
  }

  /** ds_mark_addr(state, set, uri): immediate state change of one target (thresholds bypassed). */
  markAddr(state: number, setid: number, uri: string, code = 820): number {
    const set = this.current.get(setid);
    const i = set ? set.indexOfUri(uri) : -1;
    if (!set || i < 0) return -1;
    const d = set.dests[i]!;
    const ch = updateState(d, state, StateMode.SET | StateMode.FUNC, this.thresholds);
    this.afterStateChange(set, d, ch, code, '', 'function');
    this.sync?.marked(state, setid, uri, code);
    return 1;
  }

  private afterStateChange(set: DestinationSet, d: Destination, ch: StateChange, code: number, reason: string, source: DsStateEvent['source']): void {
    if (ch.wasDown !== ch.isDown) {
      set.initRelativeWeights();
      set.initPriorityWeights();
    }
    if (this.sync) {
      this.sync.changed(set, d);
      if (this.sync.replica) return;
    }
    const mode = this.cfg.event_callback_mode;
    if (mode === 1 && source !== 'keepalive') return;
    if (mode === 2) {
      if ((!ch.wasDown && ch.isDown) || (ch.oldFlags === 0 && ch.isDown)) this.emitState(set.id, d.uri, false, code, reason, source);
      else if ((ch.wasDown && !ch.isDown) || (ch.oldFlags === 0 && !ch.isDown)) this.emitState(set.id, d.uri, true, code, reason, source);
      return;
    }
    if (!ch.wasDown && ch.isDown) this.emitState(set.id, d.uri, false, code, reason, source);
    else if (ch.wasDown && !ch.isDown) this.emitState(set.id, d.uri, true, code, reason, source);
  }

  private emitState(setid: number, uri: string, up: boolean, code: number, reason: string, source: DsStateEvent['source']): void {
    const ev: DsStateEvent = { name: up ? 'dispatcher:dst-up' : 'dispatcher:dst-down', setid, uri, code, reason, source };
    this.log?.info({ module: 'dispatcher', setid, uri, code, source }, ev.name);
    this.emit(up ? 'dst-up' : 'dst-down', ev);
  }

  /**
   * dispatcher.set_state / set_duid_state: replaces the state bits of one target (by URI or duid)
   * or of all targets of a set ("all"). No thresholds, no events (as in Kamailio). false when not found.
   */
  setState(state: number, setid: number, key: string, byDuid = false): boolean {
    const set = this.current.get(setid);
    if (!set) return false;
    const apply = (d: Destination): void => {
      const ch = reinitState(d, state);
      if (ch.wasDown !== ch.isDown) {
        set.initRelativeWeights();
        set.initPriorityWeights();
      }
      this.sync?.changed(set, d);
    };
    if (key === 'all') {
      for (const d of set.dests) apply(d);
      return true;
    }
    const lc = key.toLowerCase();
    for (const d of set.dests) {
      const k = byDuid ? d.attrs.duid : d.uri;
      if (k !== null && k.toLowerCase() === lc) {
        apply(d);
        return true;
      }
    }
    return false;
  }

  // ---- queries ---------------------------------------------------------------------------------

  /** ds_list_exists(set): 1 / -1. */
  listExists(setid: number): number {
    return this.current.get(setid) ? 1 : -1;
  }

  /** ds_is_active(set[, uri]): 1 when the set has a usable target (or that URI is usable), else -1. */
  isActive(setid: number, uri?: string): number {
    const set = this.current.get(setid);
    if (!set) return -1;
    for (const d of set.dests) {
      if (isSkipped(d.flags)) continue;
      if (uri === undefined || uri.length === 0 || d.uri === uri) return 1;
    }
    return -1;
  }

  /** ds_is_from_list(set, mode, uri?): see from-list.ts. */
  isFromList(setid: number, mode: number, src: DsSource, uri?: string): FromListMatch {
    return matchFromList(this.current, setid, mode, src, uri);
  }

  // ---- call load (alg 10) ----------------------------------------------------------------------

  private findByDuid(setid: number, duid: string): Destination | undefined {
    const set = this.current.get(setid);
    const lc = duid.toLowerCase();
    return set?.dests.find((d) => d.attrs.duid !== null && d.attrs.duid.toLowerCase() === lc);
  }

  /** moves a call's load to another duid (ds_next_dst with alg 10). 0 ok, -1 error, -2 new duid gone. */
  private loadReplace(callId: string, duid: string): number {
    const table = this.callLoad!;
    const e = table.get(callId);
    if (!e) return -1;
    const nd = this.findByDuid(e.setid, duid);
    if (!nd) return -2;
    const od = this.findByDuid(e.setid, e.duid);
    if (od && od.load > 0) od.load--;
    table.remove(callId);
    table.add(callId, e.setid, duid);
    nd.load++;
    return 0;
  }

  /**
   * ds_load_update: a BYE or CANCEL request releases the call's load; a 2xx reply to INVITE
   * confirms it. Returns 1 (Kamailio returns success even when nothing was tracked) or -1 when
   * call-load tracking is off.
   */
  loadUpdate(m: { kind: 'request' | 'response'; method: string; callId: string; status?: number; cseqMethod?: string }): number {
    if (!this.callLoad) return -1;
    if (m.kind === 'request') {
      if (m.method === 'BYE' || m.method === 'CANCEL') this.loadRemove(m.callId);
      return 1;
    }
    if (m.cseqMethod === 'INVITE' && m.status !== undefined && Math.trunc(m.status / 100) === 2) this.callLoad.confirm(m.callId);
    return 1;
  }

  /** ds_load_unset: releases the load of this call. 1 / -1 (nothing tracked). */
  loadUnset(callId: string): number {
    if (!this.callLoad) return -1;
    return this.loadRemove(callId) ? 1 : -1;
  }

  private loadRemove(callId: string): boolean {
    const e = this.callLoad?.remove(callId);
    if (!e) return false;
    const d = this.findByDuid(e.setid, e.duid);
    if (d && d.load > 0) d.load--;
    return true;
  }

  /** a call-load entry dropped to make room (table full) or replaced: its destination carries one call less. */
  private onCallLoadEvicted(e: CallLoadEntry, evicted: number): void {
    const d = this.findByDuid(e.setid, e.duid);
    if (d && d.load > 0) d.load--;
    const now = Date.now();
    if (evicted > 0 && now - this.callLoadWarnAt >= 10_000) {
      // at most every 10 s; the statistics count every one (call_load_evicted)
      this.callLoadWarnAt = now;
      this.log?.warn({ module: 'dispatcher', code: Errors.DS_CALL_LOAD_FULL.code, max: this.cfg.ds_hash_max_entries, evicted }, 'call-load table full: the oldest calls are forgotten [E8010]');
    }
  }

  /** drops expired call-load entries (ds_ht_timer). */
  sweepCallLoad(): number {
    if (!this.callLoad) return 0;
    const gone = this.callLoad.sweep();
    for (const e of gone) {
      const d = this.findByDuid(e.setid, e.duid);
      if (d && d.load > 0) d.load--;
    }
    return gone.length;
  }

  // ---- keepalives ------------------------------------------------------------------------------

  /**
   * One keepalive round (Kamailio ds_check_timer → ds_ping_set): pings every target the probing
   * mode selects, skipping one whose previous ping is still outstanding. Resolves when every
   * ping of the round has been answered or timed out and its result applied.
   */
  async pingRound(): Promise<void> {
    if (!this.pingActive || !this.prober) return;
    const waits: Promise<void>[] = [];
    const mode = this.cfg.ds_probing_mode;
    for (const set of this.current.ordered) {
      for (const d of set.dests) {
        if (d.pingInFlight || !shouldPing(d.flags, d.noDns, mode)) continue;
        waits.push(this.ping(set, d));
      }
    }
    await Promise.all(waits);
  }

  private async ping(set: DestinationSet, d: Destination): Promise<void> {
    const prober = this.prober!;
    d.pingInFlight = true;
    d.latency.start = performance.now();
    this.counters.pingsSent++;
    let result: ProbeResult;
    try {
      result = await prober.sendOptions({
        setid: set.id,
        uri: d.uri,
        method: this.cfg.ds_ping_method,
        from: d.attrs.pingFrom ?? this.cfg.ds_ping_from,
        fromTag: `${d.uid}-${Math.random().toString(36).slice(2, 6).padEnd(4, '0')}`,
        obproxy: d.attrs.obproxy,
        socket: d.attrs.pingSocket ?? d.attrs.sockname ?? d.attrs.socket,
        timeoutMs: this.cfg.ds_ping_fr_timer,
      });
    } catch (e) {
      d.pingInFlight = false;
      this.counters.pingFailures++;
      this.log?.warn({ module: 'dispatcher', uri: d.uri, err: (e as Error).message }, 'unable to ping');
      // could not be sent at all: a failure with 500 "Sending keepalive failed"
      if (!(d.flags & DsFlag.DISABLED)) {
        const st = DsFlag.TRYING | (this.cfg.ds_probing_mode !== 0 ? DsFlag.PROBING : 0);
        const ch = updateState(d, st, StateMode.KEEPALIVE, this.thresholds);
        this.afterStateChange(set, d, ch, 500, 'Sending keepalive failed', 'keepalive');
      }
      return;
    }
    d.pingInFlight = false;
    const code = 'timeout' in result ? 408 : result.code;
    const reason = 'timeout' in result ? 'Request Timeout' : (result.reason ?? '');
    this.keepaliveResult(set.id, d.uri, code, reason, d);
  }

  /**
   * Applies one keepalive outcome (Kamailio ds_options_callback). The target is looked up again in
   * the current sets by set id + URI, so a result that arrives after a reload updates the new
   * entry; `sent` short-cuts the lookup when it is still current.
   */
  keepaliveResult(setid: number, uri: string, code: number, reason = '', sent?: Destination): void {
    const set = this.current.get(setid);
    if (!set) return;
    let d = sent;
    if (!d || !set.dests.includes(d)) {
      const i = set.indexOfUri(uri);
      if (i < 0) return;
      d = set.dests[i]!;
    }
    if (this.cfg.ds_ping_latency_stats) {
      this.updateLatency(set, d, code);
      this.sync?.changed(set, d);
    }
    const success = isPingSuccess(code, this.replyCodes);
    if (!success) this.counters.pingFailures++;
    const requested = keepaliveRequestedState(success, d.flags, this.cfg.ds_probing_mode);
    if (requested === null) return;
    const ch = updateState(d, requested, StateMode.KEEPALIVE, this.thresholds);
    this.afterStateChange(set, d, ch, code, reason, 'keepalive');
  }

  /** ds_update_latency: RTT sample (or a 408 count) for a probed target, and congestion control. */
  private updateLatency(set: DestinationSet, d: Destination, code: number): void {
    if (!(d.flags & DsFlag.PROBING)) return;
    const st = d.latency;
    if (code === 408 && st.timeout < 0xffffffff) st.timeout++;
    if (st.start === 0) return;
    const ms = Math.trunc(performance.now() - st.start);
    if (code !== 408) st.add(ms, this.cfg.ds_latency_estimator_alpha / 1000);
    if (applyCongestion(set, d)) {
      set.initRelativeWeights();
      set.initPriorityWeights();
      // every target's relative weight may have changed
      for (const x of set.dests) this.sync?.changed(set, x);
    }
  }

  /** Starts the keepalive timer (ds_ping_interval) and the call-load sweep. */
  start(): void {
    // worker shards never probe: shard 0's keepalives decide for every shard
    if (this.cfg.ds_ping_interval > 0 && !this.pingTimer && !this.sync?.replica) {
      this.pingTimer = setInterval(() => {
        this.pingRound().catch((e: Error) => this.log?.error({ module: 'dispatcher', err: e.message }, 'keepalive round failed'));
      }, this.cfg.ds_ping_interval * 1000);
      this.pingTimer.unref();
    }
    if (this.callLoad && !this.sweepTimer) {
      this.sweepTimer = setInterval(() => this.sweepCallLoad(), this.cfg.ds_hash_check_interval * 1000);
      this.sweepTimer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.pingTimer = null;
    this.sweepTimer = null;
    await this.prober?.close?.();
  }
}

/**
 * Kamailio SET_HOSTALL_T as ds_select_domain uses it: keeps scheme and userinfo of the R-URI and
 * replaces host, port, parameters and headers with those of the destination URI.
 */
export function rewriteHostAll(ruri: string, dest: string): string {
  const destRest = dest.replace(/^sips?:/i, '');
  const colon = ruri.indexOf(':');
  if (colon < 0) return dest;
  const scheme = ruri.slice(0, colon + 1);
  const rest = ruri.slice(colon + 1);
  const at = rest.indexOf('@');
  const userinfo = at >= 0 ? rest.slice(0, at + 1) : '';
  return scheme + userinfo + destRest;
}
