/**
 * Plugins at run time: hot swap, pinning, draining, rollback and the crash-loop policy
 * (wasm-host.md §5.2, §5.3 and §4.1).
 *
 * Per plugin name (a "slot") the manager holds:
 *   current    the version new requests run on;
 *   previous   the version before it, kept compiled and instantiated so a rollback is a pointer swap;
 *   draining   older versions still pinned by in-flight transactions. A draining version is closed
 *              when its pin count drops to 0, or at the drain deadline (default 5 min: Timer C plus
 *              Timer B/H bound an INVITE transaction; a non-INVITE one ends after Timer F, 32 s).
 * At most current + previous + the draining ones are alive (each is one instance + one spare).
 *
 * Loading runs the whole validation pipeline (read, sha256, validate, import/export checks, metering,
 * compile, instantiate, start, sip_abi_minor, plugin_init) before anything changes; a failure leaves
 * the running version untouched and is returned as a SiphonError naming the file (Envoy's
 * on_configure rule: a refused update keeps the old configuration). On success the new version is
 * assigned in the promise continuation — between two messages on the event loop, so one message never
 * sees two versions (Kamailio's cfg framework switches at the next message the same way).
 *
 * Pinning (Envoy: streams already running keep the old VM): a transaction calls `pin()` when it is
 * created and keeps the LoadedPlugin it got; its later hooks run on that version; `release()` when it
 * ends. New transactions bind to whatever is current then.
 *
 * Failure policy (wasm-host.md §4.1): each hook failure (trap, abort, exhausted gas) of the current
 * version is recorded in a sliding window. More than `maxFailures` within `windowMs`:
 *   - while the version is young (`watchMs` since it became current) and a previous version is warm:
 *     automatic rollback to it; the failed version is retired (draining if pinned);
 *   - otherwise: crash-loop backoff (Envoy FAIL_RELOAD style): the plugin is not called for
 *     1 s, 2 s, 4 s ... (capped), every request gets 503 with Retry-After (RFC 3261 §21.5.4) — or 500
 *     when so configured — and ACKs are dropped. The backoff level is forgotten after a quiet period.
 *
 * Hot path: `requestRoute()` is one property read, one call, two `performance.now()` reads and a few
 * array writes; nothing is allocated per message.
 */
import type { Logger } from 'pino';
import { Action, type MessageContext } from '../core/context.js';
import { SiphonError, isSiphonError, type ErrorName } from '../errors/registry.js';
import type { SiphonMetrics } from '../metrics/metrics.js';
import { loadPlugin } from './runtime.js';
import type { LoadPluginOptions, LoadedPlugin, PluginStats } from './types.js';
import { ChainPin, ChainVersion, LATENCY_SAMPLES, PluginVersion, type VersionState } from './version.js';
import { DEFAULT_DRAIN_DEADLINE_MS, DEFAULT_FAILURE_POLICY, PluginSlot, type ChainMember, type FailurePolicyOptions, type PluginManagerOptions, type PluginSlotView, type SlotEvent, type SlotOptions, type SwapResult } from './slot.js';

export { LATENCY_SAMPLES, type PluginVersionView, type VersionState } from './version.js';
export { DEFAULT_DRAIN_DEADLINE_MS, DEFAULT_FAILURE_POLICY, type ChainMember, type FailurePolicyOptions, type PluginManagerOptions, type PluginSlotView, type SlotEvent, type SlotOptions, type SwapResult } from './slot.js';

const notReplied = (ctx: MessageContext): boolean => !ctx.replied;

export class PluginManager {
  private readonly slots = new Map<string, PluginSlot>();
  private readonly byPlugin = new Map<LoadedPlugin, PluginVersion>();
  /** the slot the SIP pipeline routes through (a chain's first member). */
  private routing: PluginSlot | null = null;
  /** routing.chain with two members or more, in order; null: the single routing slot. */
  private chain: PluginSlot[] | null = null;
  /** the member running (or, after request_route, the one that ended the chain): a new transaction's owner. */
  private chainAt = 0;
  /** the pins of the chain version transactions last pinned (rebuilt when a member's version changed). */
  private chainVersion: ChainVersion | null = null;
  private readonly passOn: (ctx: MessageContext) => boolean;
  private readonly log: Logger;
  private readonly policy: FailurePolicyOptions;
  private readonly drainDeadlineMs: number;
  private readonly metrics: SiphonMetrics | null;
  private readonly now: () => number;
  private readonly loader: (path: string, options: LoadPluginOptions) => Promise<LoadedPlugin>;
  private readonly loadOptions: LoadPluginOptions;
  private closed = false;

  constructor(opts: PluginManagerOptions) {
    this.log = opts.log;
    this.policy = { ...DEFAULT_FAILURE_POLICY };
    for (const [k, v] of Object.entries(opts.failurePolicy ?? {})) {
      if (v !== undefined) (this.policy as unknown as Record<string, number>)[k] = v as number;
    }
    if (!Number.isInteger(this.policy.maxFailures) || this.policy.maxFailures < 1) throw new RangeError('failurePolicy.maxFailures must be a positive integer');
    this.drainDeadlineMs = opts.drainDeadlineMs ?? DEFAULT_DRAIN_DEADLINE_MS;
    this.metrics = opts.metrics ?? null;
    this.now = opts.now ?? Date.now;
    this.loader = opts.loader ?? loadPlugin;
    this.loadOptions = { ...opts.loadOptions, log: opts.loadOptions.log ?? opts.log };
    this.passOn = opts.passOn ?? notReplied;
  }

  // ---- the message path -----------------------------------------------------------------------

  /** The current version of `name` (default: the routing plugin), or null. No allocation. */
  current(name?: string): LoadedPlugin | null {
    const slot = name === undefined ? this.routing : this.slots.get(name);
    return slot?.current?.plugin ?? null;
  }

  /** The name of the routing plugin's slot, or null before the first load. */
  get routingName(): string | null {
    return this.routing?.name ?? null;
  }

  /**
   * request_route through the routing plugin's current version, with the crash-loop policy. The
   * SIP pipeline uses the manager itself as its RequestRouter.
   */
  requestRoute(ctx: MessageContext): Action {
    if (this.chain !== null) return this.runChain(this.chain, ctx);
    const slot = this.routing;
    if (slot === null) return Action.ERROR;
    if (slot.backoffUntil !== 0 && this.inBackoff(slot)) return this.answerBackoff(ctx, slot);
    const v = slot.current;
    if (v === null) return Action.ERROR;
    return this.runOn(v, ctx);
  }

  /**
   * routing.chain (docs/plugins.md "Chains"): the members in order, each on its own current version
   * with its own crash-loop policy. CONTINUE from a member that neither answered nor relayed the
   * request passes it to the next member; any other action (DROP, REPLIED, RELAY, an error) ends
   * the chain and is what the pipeline acts on; the last member's CONTINUE is the end of routing.
   */
  private runChain(chain: PluginSlot[], ctx: MessageContext): Action {
    const last = chain.length - 1;
    for (let i = 0; ; i++) {
      const slot = chain[i]!;
      this.chainAt = i;
      if (slot.backoffUntil !== 0 && this.inBackoff(slot)) return this.answerBackoff(ctx, slot);
      const v = slot.current;
      if (v === null) return Action.ERROR;
      const action = this.runOn(v, ctx);
      if (action !== Action.CONTINUE || i === last || !this.passOn(ctx)) return action;
    }
  }

  /**
   * request_route on a pinned version (a transaction's hooks). A version closed at its drain deadline
   * falls through to the current one (wasm-host.md §5.2).
   */
  requestRouteOn(plugin: LoadedPlugin, ctx: MessageContext): Action {
    const v = this.byPlugin.get(plugin);
    if (v === undefined) return this.requestRoute(ctx);
    return this.runOn(v, ctx);
  }

  private runOn(v: PluginVersion, ctx: MessageContext): Action {
    const plugin = v.plugin;
    const h = v.hookMetrics;
    const gasBefore = h === null ? 0 : plugin.stats.gasUsedTotal;
    const t0 = performance.now();
    const action = plugin.requestRoute(ctx);
    const ms = performance.now() - t0;
    v.latencyMs[v.latencyNext] = ms;
    v.latencyNext = (v.latencyNext + 1) & (LATENCY_SAMPLES - 1);
    if (v.latencyCount < LATENCY_SAMPLES) v.latencyCount++;
    if (h !== null) {
      h.observe(ms / 1000);
      h.gas(plugin.stats.gasUsedTotal - gasBefore);
    }
    if (action === Action.ERROR) this.onHookError(v);
    return action;
  }

  // tm hooks on the current version, for a caller that routes through the manager without pinning
  // (a transaction that pinned a version calls that LoadedPlugin directly); a missing export continues.
  // In a chain: the member that ended the chain.
  branchRoute(ctx: MessageContext, route: number, branch: number): Action {
    const p = this.hooksPlugin();
    return p?.branchRoute ? p.branchRoute(ctx, route, branch) : Action.CONTINUE;
  }

  onReplyRoute(ctx: MessageContext, route: number, code: number): Action {
    const p = this.hooksPlugin();
    return p?.onReplyRoute ? p.onReplyRoute(ctx, route, code) : Action.CONTINUE;
  }

  failureRoute(ctx: MessageContext, route: number): Action {
    const p = this.hooksPlugin();
    return p?.failureRoute ? p.failureRoute(ctx, route) : Action.CONTINUE;
  }

  private hooksPlugin(): LoadedPlugin | null {
    const slot = this.chain !== null ? this.chain[this.chainAt]! : this.routing;
    return slot?.current?.plugin ?? null;
  }

  // ---- pinning ---------------------------------------------------------------------------------

  /**
   * Pins the current version of `name` (default: routing) for a new transaction and returns it; the
   * transaction keeps the reference and calls release() when it ends. Null when nothing is loaded.
   * With a chain and no name: the whole chain version (every member's current version) is pinned
   * and the ChainPin runs the tm hooks of the member that ended the chain.
   */
  pin(name?: string): LoadedPlugin | ChainPin | null {
    if (name === undefined && this.chain !== null) return this.pinChain(this.chain);
    const slot = name === undefined ? this.routing : this.slots.get(name);
    const v = slot?.current ?? null;
    if (v === null) return null;
    v.pins++;
    return v.plugin;
  }

  private pinChain(chain: PluginSlot[]): ChainPin | null {
    let cv = this.chainVersion;
    let same = cv !== null;
    for (let i = 0; same && i < chain.length; i++) same = cv!.versions[i] === chain[i]!.current;
    if (!same) {
      const versions: PluginVersion[] = [];
      for (const slot of chain) {
        if (slot.current === null) return null;
        versions.push(slot.current);
      }
      this.chainVersion = cv = new ChainVersion(versions);
    }
    for (const v of cv!.versions) v.pins++;
    return cv!.pins[this.chainAt] ?? null;
  }

  /** Ends a pin taken with pin(); a draining version whose last pin goes is closed. */
  release(pinned: LoadedPlugin | ChainPin): void {
    if (pinned instanceof ChainPin) {
      for (const v of pinned.versions) this.unpin(v);
      return;
    }
    const v = this.byPlugin.get(pinned);
    if (v !== undefined) this.unpin(v);
  }

  private unpin(v: PluginVersion): void {
    if (v.pins === 0 || v.state === 'retired') return;
    v.pins--;
    if (v.pins === 0 && v.state === 'draining') this.close(v, 'drained');
  }

  /** Pin count of a version (0 when unknown or closed). */
  pins(plugin: LoadedPlugin): number {
    return this.byPlugin.get(plugin)?.pins ?? 0;
  }

  /** State of a version; 'retired' once closed or unknown. */
  stateOf(plugin: LoadedPlugin): VersionState {
    return this.byPlugin.get(plugin)?.state ?? 'retired';
  }

  // ---- loading, reloading, rollback ----------------------------------------------------------------

  /**
   * Loads the routing plugin at startup (its slot is named after the plugin's identity); throws the
   * SiphonError when it cannot be loaded.
   */
  async loadRouting(path: string, options: SlotOptions = {}): Promise<LoadedPlugin> {
    const plugin = await this.loadFile(path, options);
    let slot = this.slots.get(plugin.info.name);
    if (!slot) this.slots.set(plugin.info.name, (slot = new PluginSlot(plugin.info.name, path, options)));
    slot.path = path;
    this.activate(slot, plugin, 'load');
    this.routing = slot;
    this.chain = null;
    return plugin;
  }

  /**
   * Loads routing.chain at startup: every member (each its own slot named after its identity, with
   * its config, budget and grants), in order. Throws the first member's SiphonError, or E4073 when
   * two members have one name; nothing is routed then. One member is the single-plugin path.
   */
  async loadChain(members: readonly ChainMember[]): Promise<LoadedPlugin[]> {
    if (members.length === 0) throw new SiphonError('PLUGIN_CHAIN', 'routing.chain is empty');
    if (members.length === 1) return [await this.loadRouting(members[0]!.path, members[0]!.options)];
    const loaded: LoadedPlugin[] = [];
    try {
      for (const m of members) {
        const plugin = await this.loadFile(m.path, m.options);
        loaded.push(plugin);
        const twin = loaded.find((p) => p !== plugin && p.info.name === plugin.info.name);
        if (twin !== undefined || this.slots.has(plugin.info.name)) {
          throw new SiphonError('PLUGIN_CHAIN', `two chain members are named "${plugin.info.name}" (${twin?.info.path ?? this.slots.get(plugin.info.name)!.path} and ${m.path}); each needs its own name (package.json "name")`, { where: m.path });
        }
      }
    } catch (e) {
      for (const p of loaded) p.close();
      throw e;
    }
    const chain = loaded.map((plugin, i) => {
      const slot = new PluginSlot(plugin.info.name, members[i]!.path, members[i]!.options);
      this.slots.set(slot.name, slot);
      this.activate(slot, plugin, 'load');
      return slot;
    });
    this.chain = chain;
    this.routing = chain[0]!;
    return loaded;
  }

  /** The chain's member names in order (one name without a chain, none before the first load). */
  chainNames(): string[] {
    if (this.chain !== null) return this.chain.map((s) => s.name);
    return this.routing ? [this.routing.name] : [];
  }

  /** Counters of every routing plugin's current version summed (the chain's members, or the one plugin). */
  routingStats(): PluginStats | null {
    const slots = this.chain ?? (this.routing ? [this.routing] : []);
    let sum: PluginStats | null = null;
    for (const s of slots) {
      const st = s.current?.plugin.stats;
      if (!st) continue;
      if (sum === null) sum = { ...st };
      else for (const k of Object.keys(st) as Array<keyof PluginStats>) sum[k] += st[k];
    }
    return sum;
  }

  /**
   * Loads `path` as the new version of plugin `name`. A name not loaded yet is refused (E4020) unless
   * `create` is set. Never throws: a refusal leaves the running version in place and carries the
   * reason (a SiphonError naming the file).
   */
  load(name: string, path: string, opts: { create?: boolean } = {}): Promise<SwapResult> {
    let slot = this.slots.get(name);
    if (!slot) {
      if (!opts.create) {
        const known = [...this.slots.keys()].join(', ') || 'none';
        return Promise.resolve({
          ok: false,
          name,
          current: null,
          error: new SiphonError('PLUGIN_SLOT_UNKNOWN', `no plugin named "${name}" is loaded (loaded: ${known})`, { where: path }),
        });
      }
      this.slots.set(name, (slot = new PluginSlot(name, path)));
      this.routing ??= slot;
    }
    const s = slot;
    const run = s.queue.then(() => this.swapIn(s, path));
    s.queue = run.catch(() => undefined);
    return run;
  }

  /** Loads the file the current version of `name` came from again (e.g. after a rebuild). */
  reload(name?: string): Promise<SwapResult> {
    const slot = name === undefined ? this.routing : this.slots.get(name);
    if (!slot) {
      return Promise.resolve({
        ok: false,
        name: name ?? '',
        current: null,
        error: new SiphonError('PLUGIN_SLOT_UNKNOWN', `no plugin named "${name ?? '(routing)'}" is loaded`),
      });
    }
    return this.load(slot.name, slot.path);
  }

  /** Makes the previous (still warm) version current again; the current one becomes the previous. */
  rollback(name?: string): SwapResult {
    const slot = name === undefined ? this.routing : this.slots.get(name);
    if (!slot) {
      return { ok: false, name: name ?? '', current: null, error: new SiphonError('PLUGIN_SLOT_UNKNOWN', `no plugin named "${name ?? '(routing)'}" is loaded`) };
    }
    const t0 = performance.now();
    const prev = slot.previous;
    const cur = slot.current;
    if (prev === null || cur === null) {
      return {
        ok: false,
        name: slot.name,
        current: cur?.plugin.info ?? null,
        error: new SiphonError('PLUGIN_NO_PREVIOUS', `plugin "${slot.name}" has no previous version`),
      };
    }
    slot.current = prev;
    prev.state = 'current';
    prev.activatedAt = this.now();
    prev.resetFailures();
    slot.previous = cur;
    cur.state = 'previous';
    slot.path = prev.plugin.info.path;
    this.clearBackoff(slot);
    this.event(slot, 'rollback', `${cur.label} → ${prev.label}`);
    this.log.warn({ plugin: slot.name, from: cur.label, to: prev.label, sha256: prev.plugin.info.sha256 }, 'plugin rolled back');
    return { ok: true, name: slot.name, current: prev.plugin.info, previous: cur.plugin.info, durationMs: performance.now() - t0 };
  }

  // ---- reporting --------------------------------------------------------------------------------

  names(): string[] {
    return [...this.slots.keys()];
  }

  slot(name: string): PluginSlotView | null {
    const s = this.slots.get(name);
    return s ? this.viewSlot(s) : null;
  }

  slotsView(): PluginSlotView[] {
    return [...this.slots.values()].map((s) => this.viewSlot(s));
  }

  /** Closes every version and timer. */
  closeAll(): void {
    this.closed = true;
    for (const v of [...this.byPlugin.values()]) this.close(v, 'shutdown');
    this.slots.clear();
    this.routing = null;
    this.chain = null;
    this.chainVersion = null;
  }

  // ---- internals -------------------------------------------------------------------------------

  /** the manager's load options with a slot's own config, limits and grants. */
  private optionsFor(o: SlotOptions): LoadPluginOptions {
    const base = this.loadOptions;
    return {
      ...base,
      ...(o.config !== undefined ? { config: o.config } : {}),
      ...(o.limits !== undefined ? { limits: { ...base.limits, ...o.limits } } : {}),
      ...(o.grants !== undefined ? { grants: o.grants } : {}),
    };
  }

  private async loadFile(path: string, options: SlotOptions): Promise<LoadedPlugin> {
    try {
      return await this.loader(path, this.optionsFor(options));
    } catch (e) {
      if (isSiphonError(e)) {
        // the reason must name the file
        if (e.message.includes(path)) throw e;
        throw new SiphonError(e.errorName, e.message, { where: path, cause: e });
      }
      const name: ErrorName = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'PLUGIN_NOT_FOUND' : 'PLUGIN_INIT';
      throw new SiphonError(name, e instanceof Error ? e.message : String(e), { where: path, cause: e });
    }
  }

  private async swapIn(slot: PluginSlot, path: string): Promise<SwapResult> {
    const t0 = performance.now();
    let plugin: LoadedPlugin;
    try {
      plugin = await this.loadFile(path, slot.options);
    } catch (e) {
      const error = e as SiphonError;
      this.event(slot, 'load-refused', error.message);
      this.log.error({ plugin: slot.name, path, code: error.code, err: error.message, running: slot.current?.label }, 'plugin load refused; the running version stays');
      return { ok: false, name: slot.name, error, current: slot.current?.plugin.info ?? null };
    }
    if (this.closed) {
      plugin.close();
      return { ok: false, name: slot.name, error: new SiphonError('PLUGIN_INIT', 'plugin manager is closed', { where: path }), current: null };
    }
    if (plugin.info.name !== slot.name) {
      this.log.warn({ plugin: slot.name, identity: plugin.info.name, path }, 'loaded file names itself differently from the plugin it replaces');
    }
    // this continuation runs between two messages: the assignment is the swap (wasm-host.md §5.2)
    const previous = slot.current?.plugin.info ?? null;
    slot.path = path;
    this.activate(slot, plugin, 'load');
    return { ok: true, name: slot.name, current: plugin.info, previous, durationMs: performance.now() - t0 };
  }

  private activate(slot: PluginSlot, plugin: LoadedPlugin, kind: 'load'): void {
    const hookMetrics = this.metrics?.hook(`${plugin.info.name}@${plugin.info.version}`, 'request_route') ?? null;
    const v = new PluginVersion(plugin, slot.name, this.policy.maxFailures, hookMetrics);
    v.activatedAt = this.now();
    this.byPlugin.set(plugin, v);
    const old = slot.current;
    slot.current = v;
    if (old !== null) {
      if (slot.previous !== null) this.retire(slot, slot.previous);
      slot.previous = old;
      old.state = 'previous';
    }
    this.clearBackoff(slot);
    const info = plugin.info;
    this.event(slot, kind, `${v.label} sha256 ${info.sha256.slice(0, 12)} from ${info.path}`);
    this.log.info({ plugin: slot.name, version: info.version, sha256: info.sha256, path: info.path, previous: old?.label }, 'plugin version active');
  }

  /** Takes a version out of rotation: closed now when unpinned, else draining until released or the deadline. */
  private retire(slot: PluginSlot, v: PluginVersion): void {
    if (v.pins === 0) {
      this.close(v, 'replaced');
      return;
    }
    v.state = 'draining';
    slot.draining.push(v);
    v.drainTimer = setTimeout(() => {
      v.drainTimer = null;
      if (v.state !== 'draining') return;
      this.log.warn({ plugin: slot.name, version: v.label, pins: v.pins }, 'drain deadline reached: closing a version still pinned by transactions');
      this.close(v, 'drain deadline');
    }, this.drainDeadlineMs);
    v.drainTimer.unref();
    this.log.info({ plugin: slot.name, version: v.label, pins: v.pins }, 'plugin version draining');
  }

  private close(v: PluginVersion, why: string): void {
    if (v.state === 'retired') return;
    const slot = this.slots.get(v.slotName);
    if (slot) {
      const i = slot.draining.indexOf(v);
      if (i >= 0) slot.draining.splice(i, 1);
      if (slot.previous === v) slot.previous = null;
      if (slot.current === v) slot.current = null;
    }
    if (v.drainTimer) clearTimeout(v.drainTimer);
    v.drainTimer = null;
    v.state = 'retired';
    this.byPlugin.delete(v.plugin);
    v.plugin.close();
    if (why !== 'shutdown') this.log.info({ plugin: v.slotName, version: v.label, why }, 'plugin version released');
  }

  /** A hook returned ERROR: count new failures (not error actions) in the window and apply the policy. */
  private onHookError(v: PluginVersion): void {
    const s = v.plugin.stats;
    const seen = s.traps + s.aborts + s.gasExhausted + s.timeouts;
    const fresh = seen - v.failuresSeen;
    if (fresh <= 0) return; // a negative action: answered 500, not a crash
    const h = v.hookMetrics;
    if (h !== null) {
      for (let i = v.trapsSeen; i < s.traps; i++) h.trap('trap');
      for (let i = v.abortsSeen; i < s.aborts; i++) h.trap('abort');
      for (let i = v.gasSeen; i < s.gasExhausted; i++) h.trap('gas');
      for (let i = v.timeoutsSeen; i < s.timeouts; i++) h.trap('timeout');
    }
    v.trapsSeen = s.traps;
    v.abortsSeen = s.aborts;
    v.gasSeen = s.gasExhausted;
    v.timeoutsSeen = s.timeouts;
    v.failuresSeen = seen;
    const slot = this.slots.get(v.slotName);
    if (!slot || slot.current !== v) return; // previous/draining versions only answer pinned work
    const now = this.now();
    const ring = v.failureTimes;
    const n = ring.length;
    for (let i = 0; i < fresh; i++) {
      ring[v.failureNext] = now;
      v.failureNext = (v.failureNext + 1) % n;
      if (v.failureCount < n) v.failureCount++;
    }
    // the slot after the newest is the oldest of the last maxFailures+1
    if (v.failureCount < n || now - ring[v.failureNext]! > this.policy.windowMs) return;
    this.onCrashLoop(slot, v, now);
  }

  private onCrashLoop(slot: PluginSlot, v: PluginVersion, now: number): void {
    const { maxFailures, windowMs } = this.policy;
    v.resetFailures();
    const prev = slot.previous;
    if (prev !== null && now - v.activatedAt <= this.policy.watchMs) {
      slot.current = prev;
      prev.state = 'current';
      prev.activatedAt = now;
      prev.resetFailures();
      slot.previous = null;
      slot.path = prev.plugin.info.path;
      this.retire(slot, v);
      const detail = `${v.label} failed more than ${maxFailures} times within ${windowMs} ms; back to ${prev.label}`;
      this.event(slot, 'auto-rollback', detail);
      this.log.error({ code: 4010, plugin: slot.name, from: v.label, to: prev.label, maxFailures, windowMs }, `automatic rollback: ${detail}`);
      return;
    }
    // no warm previous version (or past the watch period): stop calling it for a while
    if (now - slot.lastBreachAt > 2 * (windowMs + this.policy.backoffMaxMs)) slot.backoffLevel = 0;
    slot.lastBreachAt = now;
    const delay = Math.min(this.policy.backoffBaseMs * 2 ** slot.backoffLevel, this.policy.backoffMaxMs);
    slot.backoffLevel++;
    slot.backoffUntil = now + delay;
    const e = new SiphonError('PLUGIN_BACKOFF', `${v.label} failed more than ${maxFailures} times within ${windowMs} ms; not calling it for ${delay} ms`);
    this.event(slot, 'backoff', e.message);
    this.log.error({ code: e.code, plugin: slot.name, version: v.label, delayMs: delay, level: slot.backoffLevel }, e.message);
  }

  private inBackoff(slot: PluginSlot): boolean {
    if (this.now() < slot.backoffUntil) return true;
    slot.backoffUntil = 0;
    return false;
  }

  private clearBackoff(slot: PluginSlot): void {
    slot.backoffUntil = 0;
    slot.backoffLevel = 0;
    slot.lastBreachAt = 0;
  }

  /** During backoff: 503 + Retry-After (or 500) statelessly; an ACK is never answered. */
  private answerBackoff(ctx: MessageContext, slot: PluginSlot): Action {
    if (ctx.msg.method === 'ACK') return Action.DROP;
    const status = this.policy.backoffStatus;
    const retryAfter = Math.max(1, Math.ceil((slot.backoffUntil - this.now()) / 1000));
    const ok =
      status === 503
        ? ctx.slReply(503, 'Service Unavailable', [`Retry-After: ${retryAfter}`])
        : ctx.slReply(500, 'Server Internal Error');
    return ok ? Action.REPLIED : Action.ERROR;
  }

  private event(slot: PluginSlot, kind: SlotEvent['kind'], detail: string): void {
    slot.lastEvent = { at: new Date(this.now()).toISOString(), kind, detail };
  }

  private viewSlot(s: PluginSlot): PluginSlotView {
    const versions: PluginVersion[] = [];
    if (s.current) versions.push(s.current);
    if (s.previous) versions.push(s.previous);
    versions.push(...s.draining);
    const backoffMs = s.backoffUntil === 0 ? 0 : Math.max(0, s.backoffUntil - this.now());
    const chainIndex = this.chain === null ? -1 : this.chain.indexOf(s);
    const routing = s === this.routing || chainIndex >= 0;
    const now = this.now();
    return {
      name: s.name,
      path: s.path,
      routing,
      chainIndex: chainIndex >= 0 ? chainIndex : null,
      backoffMs,
      backoffLevel: s.backoffLevel,
      lastEvent: s.lastEvent,
      versions: versions.map((v) => v.view(routing, now, this.policy.windowMs)),
    };
  }
}
