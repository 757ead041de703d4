/** The validated configuration (defaults applied) as the rest of the host sees it. */
import type { TlsSettings } from '../transport/tls-options.js';
import type { WsSettings } from '../transport/ws.js';
import type { LogLevel } from '../log/logger.js';
import type { ListenAddress } from '../transport/listen-uri.js';

export interface CoreConfig {
  listen: string[];
  /** `listen` parsed (same order). */
  listenAddresses: ListenAddress[];
  log_level: LogLevel;
  /** `Server:` header value of local replies; '' = none. */
  server_header: string;
  node_id: string;
  /** absolute path (relative values are resolved against the config file's folder). */
  data_dir: string;
  max_message_size: number;
  max_headers: number;
  /** calls of the start-up warm-up (host/server/warmup.ts); 0 = none. */
  warmup: number;
  /** core.udp_batch: batched UDP (recvmmsg/sendmmsg) when the native addon is built. */
  udp_batch: boolean;
  /** shards of the message path (host/shards/); parseConfig resolves an absent value. (additive) */
  workers?: number;
  tcp: {
    idle_timeout: number;
    max_connections: number;
    /** hostile-peer limits (host/transport/tcp-options.ts); times in seconds. */
    outbound_reserve: number;
    accept_iplimit: number;
    /** RFC 5923 connection aliases (Kamailio tcp_accept_aliases). (additive) */
    accept_aliases?: boolean;
    conn_wq_max: number;
    wq_max: number;
    send_timeout: number;
    connect_timeout: number;
    msg_read_timeout: number;
    msg_data_timeout: number;
  };
  /** TLS profiles of tls: listeners and outgoing TLS (host/transport/tls-options.ts); absent = no TLS. */
  tls?: TlsSettings;
  /** ws:/wss: listeners (host/transport/ws.ts); defaults applied by the schema. (additive) */
  ws?: WsSettings;
  /** Kamailio max_branches: branches one transaction may create (R-URI + destination set). */
  max_branches: number;
  /** next-hop DNS cache bounds (host/proxy/resolver.ts); ttl/negative_ttl in s. */
  dns_cache: { max_entries: number; ttl: number; negative_ttl: number; max_pending: number; min_ttl?: number; max_ttl?: number };
  /** RFC 3263 resolution (host/proxy/resolver.ts); timeout in ms. (additive) */
  dns?: { servers: string[]; timeout: number; tries: number; try_naptr: boolean; srv_lb: boolean; use_failover: boolean; max_targets: number };
  aliases: string[];
  /** [::1] listen entries not opened: the host has no IPv6 loopback (logged at start). (additive) */
  listenSkipped?: string[];
  /** BINRPC control listeners; undefined = the default socket, [] = none. (additive: plugins at runtime) */
  ctl?: string[];
  /** load shedding (host/server/overload.ts); parseConfig fills it (on by default); undefined = off. (additive) */
  overload?: { enabled: boolean; max_delay: number; window: number; sustain: number; retry_after: number; probe_interval: number; min_rate?: number; startup_grace?: number; utilization?: number };
  /** hot swap / crash-loop policy of the routing plugin, seconds; undefined = defaults. (additive) */
  hot_swap?: {
    max_failures: number;
    window: number;
    watch: number;
    backoff_base: number;
    backoff_max: number;
    backoff_status: 500 | 503;
    drain_timeout: number;
  };
  /** transaction timers in ms (Kamailio tm names); undefined = Kamailio's defaults. (additive) */
  tm?: { fr_timer: number; fr_inv_timer: number; wt_timer: number; t1: number; t2: number; t4: number; max_transactions?: number; retry_after?: number };
  /** DB layer bounds (host/db/limits.ts); undefined or a key left out = the default. (additive) */
  db?: import('../db/types.js').DbLimits;
  /** loopback JSON-RPC + /metrics listener; undefined = off. (additive) */
  http?: {
    host: string;
    port: number;
    /** bearer token (or token_file, resolved against the config's folder); absent: none. (additive) */
    token?: string;
    token_file?: string;
    /** absent: CONTROL_HTTP_DEFAULTS (host/rpc/http-guard.ts). */
    max_body_bytes?: number;
    max_connections?: number;
    headers_timeout?: number;
    request_timeout?: number;
    /** the operator console (host/console/config.ts); undefined = off. (additive) */
    console?: import('../console/config.js').ConsoleConfig;
  };
}

export interface RoutingConfig {
  /** a plugin name (plugins/<name>/build/<name>.wasm) or a path to a .wasm file. */
  plugin: string;
  memory_max_pages: number;
  gas_per_hook: number;
  /** folders plugin.load may read (relative to the config's folder); undefined = the package's plugins/. (additive) */
  plugin_dirs?: string[];
  /** largest plugin file plugin.load reads; undefined = 8 MiB (wasm/plugin-path.ts). (additive) */
  max_module_bytes?: number;
  /** wall-clock bound of one hook call, ms (host/wasm/watchdog). */
  hook_timeout_ms: number;
  /** wall-clock bound of start + plugin_init, ms. */
  init_timeout_ms: number;
  /** free-form, passed to the plugin as JSON (sip.cfg_read). */
  config: Record<string, unknown>;
  /** capabilities granted to `plugin` (host/wasm/capabilities.ts); undefined = all it declares. (additive) */
  grants?: 'all' | string[];
  /** plugins run in order on each request; replaces plugin/config when given (docs/plugins.md "Chains"). (additive) */
  chain?: Array<string | ChainEntryConfig>;
  /** sandbox limits (schema ROUTING_LIMIT_KEYS); absent or a key left out: the default. (additive) */
  limits?: Partial<Record<(typeof import('./schema.js').ROUTING_LIMIT_KEYS)[number], number>>;
}

/** one routing.chain entry in its object form. */
export interface ChainEntryConfig {
  plugin: string;
  config?: Record<string, unknown>;
  /** undefined = msg.read, msg.reply. */
  grants?: 'all' | string[];
  gas_per_hook?: number;
  memory_max_pages?: number;
}

export interface ConfigSource {
  /** the file it was read from; null for the built-in defaults. */
  file: string | null;
  /** folder relative paths are resolved against (the file's folder, or the working directory). */
  dir: string;
  /** `file:line:col` of the value at `path` (e.g. ['core','listen',1]), or the file name alone. */
  where(path: ReadonlyArray<string | number>): string;
}

export interface SiphonConfig {
  core: CoreConfig;
  /** `modules.<name>` sections, validated by each module's schema, defaults applied. */
  modules: Record<string, Record<string, unknown>>;
  routing: RoutingConfig;
  source: ConfigSource;
}
