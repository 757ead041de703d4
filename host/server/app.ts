/**
 * Wires one siphon node from a validated config: modules → routing plugin → pipeline → transports.
 * No logic of its own; `siphon start`, `siphon check` and the integration tests all go through here.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { SiphonConfig } from '../config/types.js';
import type { ModuleInitContext, SiphonModule } from '../modules/types.js';
import { LocalRequests, type LocalRequestSender } from '../proxy/local-request.js';
import { SiphonError } from '../errors/registry.js';
import type { LoadedPlugin, PluginLimits } from '../wasm/types.js';
import { limitsFromConfig, resolvePluginPath } from '../wasm/runtime.js';
import { MODULE_FACTORIES, modulePrefetchers, wirePike } from './modules.js';
import { wireAuthDb } from '../modules/auth_db/index.js';
import { PACKAGE_ROOT, VERSION } from '../core/version.js';
import { SiphonServer } from './server.js';
import type { OverloadGuard } from './overload.js';
import { tcpStatistics } from '../transport/tcp.js';
import { tcpRpcMethods, tlsRpcMethods } from '../transport/rpc.js';
import { warmUp } from './warmup.js';
import { PluginManager, type ChainMember, type FailurePolicyOptions, type SlotOptions } from '../wasm/manager.js';
import { DEFAULT_GRANTS } from '../wasm/capabilities.js';
import { pluginRpcMethods } from '../wasm/rpc.js';
import { pluginPathPolicy, type PluginPathPolicy } from '../wasm/plugin-path.js';
import { readHttpToken } from '../rpc/http-token.js';
import { MethodRegistry } from '../rpc/registry.js';
import { registerCoreMethods, type LogLevelName, type StatisticsProvider } from '../rpc/core-methods.js';
import { startControlPlane, type ControlPlane } from '../rpc/control-plane.js';
import { defaultCtlPath } from '../rpc/ctl-address.js';
import { SiphonMetrics } from '../metrics/metrics.js';
import type { TransactionTimers } from '../transaction/index.js';
import type { SipMessage } from '../sip/types.js';
import { DbStatistics } from '../db/stats.js';
import { NathelperModule } from '../modules/nathelper/index.js';
import { RegistrarModule } from '../modules/registrar/index.js';
import { DialogModule } from '../modules/dialog/index.js';
import { RtpengineModule } from '../modules/rtpengine/index.js';
import { AccModule } from '../modules/acc/index.js';
import { UacModule } from '../modules/uac/index.js';
import type { UtilizationSource } from './overload.js';
import { ServiceRegistry } from '../shards/link.js';
import { ShardHub } from '../shards/hub.js';
import { consoleFromConfig, type OperatorConsole } from '../console/index.js';
import { shardedStatistics, shardedRpc } from '../shards/merge.js';

/**
 * The plugin file `routing.plugin` names: a bare name is `plugins/<name>/build/<name>.wasm` of the
 * siphon package; a path is relative to the config file's folder (or the working directory for
 * `--plugin` given on the command line, see cli/commands/start.ts).
 */
export function pluginFile(config: SiphonConfig, baseDir = config.source.dir): string {
  return configuredPluginFile(config.routing.plugin, baseDir);
}

/** A plugin name or path of the config (routing.plugin, a routing.chain entry) → its file, as pluginFile. */
export function configuredPluginFile(p: string, baseDir: string): string {
  return resolvePluginPath(p, /^[A-Za-z0-9_.-]+$/.test(p) && !p.endsWith('.wasm') ? PACKAGE_ROOT : baseDir);
}

/**
 * routing.chain as the plugin manager loads it (docs/plugins.md "Chains"): each member's file, its
 * own config (default {}), gas and memory budget (default routing's) and grants (default msg.read,
 * msg.reply); null when the config has no chain.
 */
export function chainMembersFrom(config: SiphonConfig): ChainMember[] | null {
  const chain = config.routing.chain;
  if (chain === undefined) return null;
  return chain.map((entry, i) => {
    const e = typeof entry === 'string' ? { plugin: entry } : entry;
    const limits: Partial<PluginLimits> = {};
    if (e.gas_per_hook !== undefined) limits.gasPerHook = e.gas_per_hook;
    if (e.memory_max_pages !== undefined) limits.memoryMaxPages = e.memory_max_pages;
    return {
      path: configuredPluginFile(e.plugin, config.source.dir),
      options: { config: e.config ?? {}, limits, grants: { grants: e.grants ?? DEFAULT_GRANTS, key: `routing.chain[${i}].grants` } },
    };
  });
}

/** The routing plugin's own options: routing.grants (absent: all it declares, the operator's own plugin). */
export function routingSlotOptions(config: SiphonConfig): SlotOptions {
  return { grants: { grants: config.routing.grants ?? 'all', key: 'routing.grants' } };
}

/** Loads what routes requests: routing.chain when configured, else the one routing plugin `file`. */
export async function loadRoutingInto(plugins: PluginManager, config: SiphonConfig, file: string): Promise<void> {
  const members = chainMembersFrom(config);
  if (members !== null) await plugins.loadChain(members);
  else await plugins.loadRouting(file, routingSlotOptions(config));
}

/**
 * Where plugin.load may read from (wasm/plugin-path.ts): routing.plugin_dirs (relative to the config
 * file's folder; default the package's plugins/) plus the folder of the plugin the node started with
 * (of every routing.chain member).
 */
export function pluginPolicyFrom(config: SiphonConfig, startedWith?: string): PluginPathPolicy {
  const dirs = config.routing.plugin_dirs?.map((d) => path.resolve(config.source.dir, d));
  const members = chainMembersFrom(config)?.map((m) => m.path) ?? [];
  return pluginPathPolicy({ dirs, packageRoot: PACKAGE_ROOT, configuredPlugin: startedWith ?? pluginFile(config), also: members, maxBytes: config.routing.max_module_bytes });
}

/** Initialises the modules that have a section in `modules`. */
export async function initModules(config: SiphonConfig, log: Logger, extra: Pick<ModuleInitContext, 'localRequests' | 'dbStats' | 'shard'> = {}): Promise<SiphonModule[]> {
  const started: SiphonModule[] = [];
  try {
    for (const [name, section] of Object.entries(config.modules)) {
      const make = MODULE_FACTORIES[name];
      if (!make) continue; // unreachable: the config schema refuses unknown modules
      const mod = make();
      await mod.init({ config: section, dataDir: config.core.data_dir, log, db: config.core.db, maxBranches: config.core.max_branches, ...extra });
      started.push(mod);
    }
    wireAuthDb(started, true);
  } catch (e) {
    await closeModules(started, log);
    throw e;
  }
  return started;
}

export async function closeModules(modules: readonly SiphonModule[], log: Logger): Promise<void> {
  for (const m of [...modules].reverse()) {
    try {
      await m.close();
    } catch (e) {
      log.warn({ module: m.name, err: (e as Error).message }, 'module close failed');
    }
  }
}

/** `routing:` keys → the runtime's PluginLimits (host/wasm/types.ts). */
export function pluginLimitsFrom(config: SiphonConfig): Partial<PluginLimits> {
  const r = config.routing;
  return {
    // memory_max_pages, gas_per_hook, max_module_bytes and routing.limits (host/wasm/runtime.ts)
    ...limitsFromConfig(r),
    hookTimeoutMs: r.hook_timeout_ms,
    initTimeoutMs: r.init_timeout_ms,
  };
}

export interface SiphonNode {
  readonly config: SiphonConfig;
  readonly server: SiphonServer;
  /** the routing plugin's current version (changes with hot swaps). */
  readonly plugin: LoadedPlugin;
  readonly modules: readonly SiphonModule[];
  /** current/previous/draining plugin versions; the server routes through it. (additive) */
  readonly plugins: PluginManager;
  /** the RPC registry every control transport serves. (additive) */
  readonly rpc: MethodRegistry;
  readonly metrics: SiphonMetrics;
  /** the BINRPC/HTTP listeners, or null when none could be opened. (additive) */
  readonly controlPlane: ControlPlane | null;
  /** the operator console on the control HTTP listener (core.http.console), or null. (additive) */
  readonly console: OperatorConsole | null;
  /** core.workers > 1: the worker shards and the steering (host/shards/); null with one shard. (additive) */
  readonly shards: ShardHub | null;
  /** closes sockets, the plugin and the modules. */
  stop(): Promise<void>;
}

/**
 * nathelper's keepalives (host/modules/nathelper/README.md): they ping the registrar's memory tables
 * from the listening sockets (4-byte UDP pings) or through tm (SIP pings). Called once the sockets
 * are open.
 */
export function wireNathelper(modules: readonly SiphonModule[], server: SiphonServer): void {
  const nat = modules.find((m): m is NathelperModule => m instanceof NathelperModule);
  if (!nat) return;
  const reg = modules.find((m): m is RegistrarModule => m instanceof RegistrarModule);
  nat.attach(reg ? reg.registrar : null, (buf, address, port) => {
    const channel = server.channelFor('udp', address.includes(':') ? 6 : 4, address, port);
    if (channel === null) return false;
    channel.send(buf, address, port);
    return true;
  });
}

/**
 * The dialog module (host/modules/dialog/README.md) on a server's transaction layer: dlg_manage()
 * binds dialogs to their INVITE transactions, in-dialog requests are matched before routing, and
 * the module's BYEs go out through `requests`. Every shard wires its own server.
 */
export function wireDialog(modules: readonly SiphonModule[], server: SiphonServer, requests: LocalRequests | null): void {
  const mod = modules.find((m): m is DialogModule => m instanceof DialogModule);
  if (!mod || server.proxy === null) return;
  server.setRouteObserver(mod.attach(server.proxy, requests ? (r) => requests.requestInDialog(r) : null));
}

/**
 * The uac module (host/modules/uac/README.md) on a server's proxy core: replies of the requests whose
 * From / To it replaced are restored there, in-dialog requests after loose_route(). Every shard
 * wires its own.
 */
export function wireUac(modules: readonly SiphonModule[], server: SiphonServer): void {
  const mod = modules.find((m): m is UacModule => m instanceof UacModule);
  if (mod && server.proxy !== null) mod.attach(server.proxy);
}

/**
 * The acc module (host/modules/acc/README.md) on the dialog module's events: accounting records
 * and CDRs of the calls this shard's dialog table holds. Every shard wires its own pair.
 */
export function wireAcc(modules: readonly SiphonModule[]): void {
  const acc = modules.find((m): m is AccModule => m instanceof AccModule);
  if (!acc) return;
  const dialog = modules.find((m): m is DialogModule => m instanceof DialogModule);
  acc.attach(dialog ? dialog.table : null);
}

/**
 * The rtpengine module (host/modules/rtpengine/README.md) on a server's proxy: offers and answers
 * the plugin records are done before the request's branches or the reply leave. Every shard wires
 * its own (each has its own ng socket and remembers the calls steered to it).
 */
export function wireRtpengine(modules: readonly SiphonModule[], server: SiphonServer): void {
  const mod = modules.find((m): m is RtpengineModule => m instanceof RtpengineModule);
  if (!mod || server.proxy === null) return;
  server.proxy.mediaGate = mod.gate;
}

/** core.tm (Kamailio tm names, ms) → the transaction layer's timers; absent keys keep the defaults. */
export function transactionTimersFrom(config: SiphonConfig): Partial<TransactionTimers> {
  const tm = config.core.tm;
  if (!tm) return {};
  return { fr: tm.fr_timer, frInv: tm.fr_inv_timer, wt: tm.wt_timer, t1: tm.t1, t2: tm.t2, t4: tm.t4 };
}

/** core.hot_swap (seconds) → the manager's options (ms). */
export function failurePolicyFrom(config: SiphonConfig): Partial<FailurePolicyOptions> {
  const p = config.core.hot_swap;
  if (!p) return {};
  return {
    maxFailures: p.max_failures,
    windowMs: p.window * 1000,
    watchMs: p.watch * 1000,
    backoffBaseMs: p.backoff_base * 1000,
    backoffMaxMs: p.backoff_max * 1000,
    backoffStatus: p.backoff_status,
  };
}

/**
 * The message path's counters go to `metrics`, and the plugin manager that routes through `server`
 * with the modules' imports: what every shard of a node (host/shards/worker.ts) wires the same way.
 */
export function routingManager(config: SiphonConfig, log: Logger, metrics: SiphonMetrics, server: SiphonServer, modules: readonly SiphonModule[]): PluginManager {
  server.metrics = metrics;
  if (server.proxy) server.proxy.metrics = metrics;
  const layer = server.transactions;
  if (layer) metrics.setTransactionSource(() => layer.stats);
  return new PluginManager({
    log,
    metrics,
    loadOptions: {
      limits: pluginLimitsFrom(config),
      config: config.routing.config,
      isMyself: server.isMyself,
      // module namespaces, then tm/rr (host/proxy/abi.ts)
      providers: [...modules.flatMap((m) => m.imports()), ...server.importProviders()],
    },
    failurePolicy: failurePolicyFrom(config),
    drainDeadlineMs: config.core.hot_swap ? config.core.hot_swap.drain_timeout * 1000 : undefined,
    // routing.chain: the next member runs only on a request still unanswered and not relayed
    passOn: (ctx) => !ctx.replied && (server.proxy === null || server.proxy.passOn(ctx)),
  });
}

/** The pipeline counters as a statistics group (`core:<name>` in stats.get_statistics and /metrics). */
export function pipelineStatistics(server: SiphonServer): StatisticsProvider {
  return {
    name: 'core',
    statistics: () => {
      const { transports: _transports, ...counters } = server.stats();
      return counters as unknown as Record<string, number>;
    },
  };
}

/**
 * core.overload's state as the `overload` statistics group, when it is on. With core.workers every
 * shard reports its own (a worker sheds on its batches' age); the node's view takes the highest
 * delay_ms / reject_share_pct and sums the rest: `shedding` is then the number of shards refusing.
 */
export function overloadStatistics(server: SiphonServer): StatisticsProvider | null {
  const guard: OverloadGuard | null = server.overload;
  if (guard === null) return null;
  return {
    name: 'overload',
    statistics: () => {
      const s = guard.stats();
      const probes = server.probeCounts();
      return {
        delay_ms: Math.round(s.delayMs),
        reject_share_pct: Math.round(s.rejectShare * 100),
        shedding: guard.shedding ? 1 : 0,
        episodes: s.episodes,
        overloaded_windows: s.overloadedWindows,
        probes_sent: probes.sent,
        probes_answered: probes.answered,
      };
    },
  };
}

/** Transaction layer and proxy counters as the `tm` statistics group (Kamailio tm stats), when transactions run. */
export function tmStatistics(server: SiphonServer): StatisticsProvider[] {
  const layer = server.transactions;
  const proxy = server.proxy;
  if (layer === null || proxy === null) return [];
  const dns = proxy.resolver;
  const tables = (): Record<string, number> => ({
    // table sizes next to their bounds (core.tm.max_transactions, core.dns_cache.max_entries)
    transactions: layer.serverCount,
    client_transactions: layer.clientCount,
    dns_cache_entries: dns.size,
    dns_pending: dns.pending,
    dns_hits: dns.stats.hits,
    dns_misses: dns.stats.misses,
    dns_evicted: dns.stats.evicted,
    dns_busy: dns.stats.busy,
  });
  return [{ name: 'tm', statistics: () => ({ ...layer.stats, ...proxy.stats, ...tables() }) as unknown as Record<string, number> }];
}

/** Plugin counters of the routing plugin's current version, as the `plugin` statistics group. */
export function pluginStatistics(plugins: PluginManager): StatisticsProvider {
  return {
    name: 'plugin',
    statistics: () => {
      // a chain's members summed (each member's own counters: plugin.stats NAME, /metrics by plugin label)
      const s = plugins.routingStats();
      return s ? { ...s } : {};
    },
  };
}

/**
 * Starts a node: modules, plugin manager with the routing plugin (with the modules' imports), the
 * listen sockets, then the control plane (core methods, plugin.*, the modules' RPC methods). A
 * control socket that cannot be opened at the default path is logged and skipped; one configured
 * in core.ctl / core.http is fatal.
 */
export async function startNode(
  config: SiphonConfig,
  log: Logger,
  opts: {
    pluginFile?: string;
    controlPlane?: boolean;
    /** for tests: where core.overload reads the loop's busy share (default: the event loop's own). */
    overloadUtilization?: UtilizationSource;
  } = {},
): Promise<SiphonNode> {
  // modules may send requests of their own (dispatcher keepalives) from the listening sockets
  // through tm; the sender exists once the server below does, and a request made before the
  // sockets are open (a keepalive timer firing during the warm-up) waits for them, as Kamailio's
  // keepalives start once its listeners are up
  let tmRequests: LocalRequests | null = null;
  let socketsOpened: () => void = () => {};
  const socketsOpen = new Promise<void>((resolve) => (socketsOpened = resolve));
  const localRequests: LocalRequestSender = {
    request: (r) =>
      socketsOpen.then(() => (tmRequests ? tmRequests.request(r) : Promise.reject(new SiphonError('TM_LOCAL_REQUEST', 'transaction layer not started')))),
  };
  const dbStats = new DbStatistics();
  // core.workers > 1: this thread is shard 0, owning the state the worker shards reach through services
  const shardCount = config.core.workers ?? 1;
  const services = shardCount > 1 ? new ServiceRegistry() : null;
  const modules = await initModules(config, log, { localRequests, dbStats, ...(services ? { shard: services.context(shardCount) } : {}) });
  // RFC 3261 §17 transactions and the stateful proxy are on for every node (Kamailio loads tm); timers from core.tm
  const server = new SiphonServer({ config, log, router: null, transactions: { timers: transactionTimersFrom(config) }, prefetchers: modulePrefetchers(modules), overloadUtilization: opts.overloadUtilization });
  if (server.transactions && server.proxy) tmRequests = new LocalRequests(server.transactions, server, server.proxy.resolver, { index: 0, count: shardCount });
  wirePike(modules, server);
  wireDialog(modules, server, tmRequests);
  wireAcc(modules);
  wireUac(modules, server);
  wireRtpengine(modules, server);
  const routingFile = opts.pluginFile ?? pluginFile(config);
  let hub: ShardHub | null = null;
  if (services !== null) {
    // the flood guard moves in front of the steering, so it counts every message of a source
    const flood = server.takeFloodGuard();
    hub = new ShardHub({
      config,
      log,
      shard0: server,
      listeners: () => server.listenerList(),
      services,
      pluginFile: routingFile,
      floodGuard: flood,
      shed: flood ? (buf, source, channel, shed) => server.receiveShed(buf, source, channel, flood, shed) : undefined,
      isOwnAddress: server.isOwnAddress,
      mainDelay: () => Math.max(0, server.overload?.stats().delayMs ?? 0),
    });
    server.setInbound(hub, flood !== null);
  }
  const metrics = new SiphonMetrics({ labels: { node: config.core.node_id } });
  // message-path counters (array increments) and the transaction counters, read when /metrics is scraped
  const plugins = routingManager(config, log, metrics, server, modules);
  const registry = new MethodRegistry();
  const startedAt = new Date();
  let statisticsProviders: StatisticsProvider[] = [pipelineStatistics(server), pluginStatistics(plugins), ...tmStatistics(server), ...modules];
  // the TCP limits' counters (host/transport/README.md)
  // timeouts, refusals and commits of the modules' databases (host/db/README.md)
  statisticsProviders.push({ name: 'db', statistics: () => dbStats.statistics() });
  statisticsProviders.push({ name: 'tcp', statistics: () => tcpStatistics(config.core.listenAddresses.map((a) => server.listenerFor(a.uri))) });
  // core.overload: the delay signal and the refused share (host/server/overload.ts)
  const overload = overloadStatistics(server);
  if (overload !== null) statisticsProviders.push(overload);
  let plane: ControlPlane | null = null;
  let operatorConsole: OperatorConsole | null = null;
  try {
    await loadRoutingInto(plugins, config, routingFile);
    // the manager is the router: every request asks it for the current version
    server.setRouter(plugins);
    // the worker shards load and warm up in their threads while this one warms up (start-up time is
    // the slower of the two, not their sum); a worker's failure is awaited (E3020) after the warm-up
    const workersStarted = hub?.start() ?? null;
    workersStarted?.catch(() => undefined);
    if (config.core.warmup > 0) await warmUpOrLog(config, log, plugins);
    if (workersStarted !== null) await workersStarted;
    await server.start();
    hub?.listenersOpened();
    socketsOpened();
    wireNathelper(modules, server);
    registerCoreMethods(registry, {
      name: 'siphon',
      version: VERSION,
      startedAt,
      statisticsProviders: () => statisticsProviders,
      getLogLevel: () => log.level as LogLevelName,
      setLogLevel: (l) => {
        log.level = l;
      },
    });
    registry.registerAll(pluginRpcMethods(plugins, { rootDir: PACKAGE_ROOT, pathPolicy: pluginPolicyFrom(config, opts.pluginFile), log }));
    registry.registerAll(tcpRpcMethods(() => config.core.listenAddresses.map((a) => server.listenerFor(a.uri))));
    registry.registerAll(tlsRpcMethods(() => server.tlsContexts(), () => config.core.listenAddresses.map((a) => server.listenerFor(a.uri))));
    for (const m of modules) registry.registerAll(m.rpcMethods());
    if (hub !== null) {
      // every group sums the worker shards' counters into shard 0's; stats.* refresh them first,
      // plugin.* and corex.debug run in every shard (host/shards/merge.ts)
      statisticsProviders = shardedStatistics(statisticsProviders, hub);
      shardedRpc(registry, hub);
      const h = hub;
      metrics.addPeers(() => h.metrics(), () => h.refreshStatistics());
    }
    if (opts.controlPlane !== false) {
      operatorConsole = await consoleFromConfig(config, registry, log, pluginPolicyFrom(config, opts.pluginFile).dirs);
      // its counters as the `console` group (host/console/README.md "Metrics")
      const con = operatorConsole;
      if (con !== null) statisticsProviders.push({ name: 'console', statistics: () => con.statistics() });
    }
    for (const p of statisticsProviders) metrics.addStatisticsProvider(p);
    if (opts.controlPlane !== false) plane = await openControlPlane(config, log, registry, metrics, operatorConsole);
  } catch (e) {
    operatorConsole?.close();
    tmRequests = null;
    socketsOpened(); // waiting keepalives then fail with TM_LOCAL_REQUEST instead of hanging
    await hub?.stop();
    await server.stop();
    plugins.closeAll();
    await closeModules(modules, log);
    throw e;
  }
  const routing = plugins.current()!;
  if (config.core.listenSkipped !== undefined) log.warn({ skipped: config.core.listenSkipped }, 'no IPv6 loopback on this host: [::1] listeners not opened');
  log.info({ plugin: `${routing.info.name}@${routing.info.version}`, chain: config.routing.chain ? plugins.chainNames() : undefined, listen: config.core.listen, ctl: plane?.ctlAddresses, http: plane?.httpUrl, workers: shardCount }, 'siphon started');
  let stopping: Promise<void> | null = null;
  return {
    config,
    server,
    get plugin(): LoadedPlugin {
      return plugins.current() ?? routing;
    },
    modules,
    plugins,
    rpc: registry,
    metrics,
    controlPlane: plane,
    console: operatorConsole,
    shards: hub,
    stop: () =>
      (stopping ??= (async () => {
        operatorConsole?.close();
        await plane?.close();
        await hub?.stop();
        await server.stop();
        plugins.closeAll();
        await closeModules(modules, log);
      })()),
  };
}

/** server/warmup.ts before the sockets open; a failure only means a colder start. */
async function warmUpOrLog(config: SiphonConfig, log: Logger, plugins: PluginManager): Promise<void> {
  try {
    const r = await warmUp(config, config.core.warmup, plugins.current(), { loopback: true });
    log.info(r, 'warm-up done');
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'warm-up failed; starting cold');
  }
}

async function openControlPlane(config: SiphonConfig, log: Logger, registry: MethodRegistry, metrics: SiphonMetrics, operatorConsole: OperatorConsole | null): Promise<ControlPlane | null> {
  const configured = config.core.ctl !== undefined;
  const ctl = config.core.ctl ?? [`unix:${defaultCtlPath()}`];
  const h = config.core.http;
  if (h?.token !== undefined && h.token_file !== undefined) {
    throw new SiphonError('CONFIG_SCHEMA', 'core.http: give token or token_file, not both', { where: config.source.where(['core', 'http', 'token_file']) });
  }
  const http = h
    ? {
        host: h.host ?? '127.0.0.1',
        port: h.port,
        // token_file relative to the config file's folder, read once at start (rpc/http-token.ts)
        token: h.token_file !== undefined ? await readHttpToken(path.resolve(config.source.dir, h.token_file), log) : (h.token ?? null),
        maxBodyBytes: h.max_body_bytes,
        maxConnections: h.max_connections,
        headersTimeoutMs: h.headers_timeout,
        requestTimeoutMs: h.request_timeout,
        console: operatorConsole,
      }
    : null;
  if (ctl.length === 0 && http === null) return null;
  try {
    return await startControlPlane({ registry, metrics, log, ctl, http });
  } catch (e) {
    if (configured || http !== null) throw e;
    // the default socket is taken (another node in this folder) or not creatable: serve SIP anyway
    log.warn({ err: (e as Error).message, ctl }, 'control socket not opened; RPC (siphon rpc, kamcmd, plugin deploy) unavailable');
    return null;
  }
}
