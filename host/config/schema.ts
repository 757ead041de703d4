/**
 * JSON schema of siphon.yaml. Like kamailio.cfg it has three parts (kamailio.md §6.1): `core`
 * (global parameters), `modules` (Kamailio's modparam, one section per module) and `routing`
 * (where kamailio.cfg has request_route: here the Wasm plugin and its settings).
 *
 * Every object is closed (additionalProperties: false) so a typo is an error naming the key,
 * never a silently ignored setting. Defaults are filled in by ajv (`useDefaults`).
 */

import { TCP_LIMIT_DEFAULTS } from '../transport/tcp-options.js';
import { TLS_DEFAULTS } from '../transport/tls-options.js';
import { CAPABILITIES } from '../wasm/capabilities.js';
import { WS_DEFAULTS } from '../transport/ws.js';
import { CONSOLE_SCHEMA } from '../console/config.js';

/**
 * core.overload (host/server/overload.ts, docs/operations.md "Load shedding"): on by default. A
 * standing queueing delay above `max_delay` ms for `sustain` windows of `window` ms starts refusing a
 * share of new dialogs with 503 + Retry-After `retry_after` s; UDP queue probes every
 * `probe_interval` ms; below `min_rate` messages/s nothing counts as overload; during the first
 * `startup_grace` ms of busy traffic the delay must pass 4 × `max_delay`. Kamailio has no equivalent in its core (ratelimit/pike are called by a route).
 */
export const OVERLOAD_DEFAULTS = {
  enabled: true,
  max_delay: 50,
  min_rate: 1000,
  window: 100,
  sustain: 2,
  retry_after: 5,
  probe_interval: 10,
  startup_grace: 3000,
} as const;

/** Defaults also used when no config file is given. */
export const CORE_DEFAULTS = {
  listen: ['udp:127.0.0.1:5060', 'tcp:127.0.0.1:5060'],
  log_level: 'info',
  node_id: 'siphon',
  data_dir: 'data',
  /** Kamailio's BUF_SIZE is 65535; a UDP datagram cannot be larger anyway. */
  max_message_size: 65535,
  max_headers: 256,
  /** calls driven through a private copy of the message path before the sockets open (server/warmup.ts); 0 = off. */
  warmup: 2000,
  /** UDP through recvmmsg/sendmmsg (host/transport/udp-native) when the addon is built; false = Node's dgram. */
  udp_batch: true,
  /**
   * tcp_connection_lifetime (120 s), tcp_max_connections (2048), and the hostile-peer limits
   * (host/transport/tcp-options.ts: Kamailio's tcp_conn_wq_max, tcp_wq_max, tcp_send_timeout, ...).
   */
  tcp: {
    idle_timeout: 120,
    max_connections: 2048,
    outbound_reserve: TCP_LIMIT_DEFAULTS.outboundReserve,
    accept_iplimit: TCP_LIMIT_DEFAULTS.acceptIpLimit,
    accept_aliases: true,
    conn_wq_max: TCP_LIMIT_DEFAULTS.connWqMax,
    wq_max: TCP_LIMIT_DEFAULTS.wqMax,
    send_timeout: TCP_LIMIT_DEFAULTS.sendTimeout,
    connect_timeout: TCP_LIMIT_DEFAULTS.connectTimeout,
    msg_read_timeout: TCP_LIMIT_DEFAULTS.msgReadTimeout,
    msg_data_timeout: TCP_LIMIT_DEFAULTS.msgDataTimeout,
  },
  /** Kamailio core `max_branches` (default 12, at most 31): branches of one transaction (host/proxy). */
  max_branches: 12,
  /** next-hop DNS cache (host/proxy/resolver.ts): LRU size, TTLs in s, lookups in flight. */
  dns_cache: { max_entries: 4096, ttl: 60, negative_ttl: 5, max_pending: 256, min_ttl: 1, max_ttl: 3600 },
  /**
   * RFC 3263 next-hop resolution (host/proxy/resolver.ts): DNS servers (empty = /etc/resolv.conf),
   * query timeout (ms) and tries, Kamailio dns_try_naptr, dns_srv_lb, use_dns_failover, and the
   * targets one name yields at most.
   */
  dns: { servers: [] as string[], timeout: 2000, tries: 2, try_naptr: true, srv_lb: true, use_failover: true, max_targets: 8 },
} as const;

/** routing.chain: most members (each is one instance + a spare per version and shard). */
export const CHAIN_MAX_MEMBERS = 16;

/**
 * routing.grants / routing.chain[i].grants: capability names (host/wasm/capabilities.ts) or "all". One
 * schema for both forms (keywords apply to their own type) so an error names the bad item, not the branch.
 */
const GRANTS_SCHEMA = {
  type: ['string', 'array'],
  pattern: '^all$',
  maxItems: CAPABILITIES.length,
  uniqueItems: true,
  items: { type: 'string', enum: [...CAPABILITIES] },
};

/** keys of routing.limits (each a positive integer; defaults in host/wasm/types.ts DEFAULT_PLUGIN_LIMITS). */
export const ROUTING_LIMIT_KEYS = [
  'functions_max', 'tables_max', 'table_max_elements', 'data_max_bytes', 'globals_max',
  'metering_timeout_ms', 'name_max_bytes', 'value_max_bytes', 'global_vars_max', 'global_vars_max_bytes',
  'msg_vars_max', 'msg_vars_max_bytes', 'msg_edit_max_bytes', 'log_line_max_bytes', 'log_lines_max',
] as const;

export const ROUTING_DEFAULTS = {
  plugin: 'default',
  memory_max_pages: 256,
  gas_per_hook: 2_000_000,
  /** wall-clock bound of one hook (host/wasm/watchdog); Kamailio has none (its config script is trusted). */
  hook_timeout_ms: 100,
  /** wall-clock bound of a plugin's start function + plugin_init. */
  init_timeout_ms: 1000,
} as const;

/** Kamailio tm defaults in ms (fr_timer, fr_inv_timer, wt_timer, retr_timer1/2 = T1/T2, T4 of RFC 3261). */
export const TM_DEFAULTS = {
  fr_timer: 30_000,
  fr_inv_timer: 120_000,
  wt_timer: 5000,
  t1: 500,
  t2: 4000,
  t4: 5000,
  /** server transactions at once; more new requests get 503 + Retry-After (host/transaction/layer.ts). */
  max_transactions: 65_536,
  /** Retry-After (s) of that 503. */
  retry_after: 5,
} as const;

/** PluginManager defaults (host/wasm/manager.ts), in seconds. */
export const HOT_SWAP_DEFAULTS = {
  max_failures: 20,
  window: 10,
  watch: 600,
  backoff_base: 1,
  backoff_max: 30,
  backoff_status: 503,
  /** INVITE Timer C (> 3 min) plus Timer B/H: the longest a transaction can pin a version. */
  drain_timeout: 300,
} as const;

export function buildConfigSchema(moduleSchemas: Readonly<Record<string, object>>): object {
  const moduleProps: Record<string, object> = {};
  for (const [name, schema] of Object.entries(moduleSchemas)) moduleProps[name] = schema;
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      core: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          listen: {
            type: 'array',
            items: { type: 'string', minLength: 1 },
            minItems: 1,
            default: [...CORE_DEFAULTS.listen],
          },
          log_level: {
            type: 'string',
            enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
            default: CORE_DEFAULTS.log_level,
          },
          /** `Server:` header of locally generated replies; "" disables it; absent = "siphon (<version>)". */
          server_header: { type: 'string' },
          node_id: { type: 'string', minLength: 1, default: CORE_DEFAULTS.node_id },
          data_dir: { type: 'string', minLength: 1, default: CORE_DEFAULTS.data_dir },
          max_message_size: { type: 'integer', minimum: 512, maximum: 1_048_576, default: CORE_DEFAULTS.max_message_size },
          max_headers: { type: 'integer', minimum: 8, maximum: 4096, default: CORE_DEFAULTS.max_headers },
          /**
           * shards of the message path (host/shards/README.md): 1 = this thread only; N = this thread and
           * N-1 worker threads, messages steered by Call-ID; absent = 1 on machines with at most 2 cores,
           * else the number of cores (at most 8). SIPHON_WORKERS in the environment sets it when the file does not.
           */
          workers: { type: 'integer', minimum: 1, maximum: 64 },
          /** warm-up calls before the sockets open (host/server/warmup.ts); 0 disables it. */
          warmup: { type: 'integer', minimum: 0, maximum: 100_000, default: CORE_DEFAULTS.warmup },
          /** batched UDP receive/send (host/transport/udp-native); without the addon: Node's dgram and E3039. */
          udp_batch: { type: 'boolean', default: CORE_DEFAULTS.udp_batch },
          tcp: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              idle_timeout: { type: 'number', exclusiveMinimum: 0, default: CORE_DEFAULTS.tcp.idle_timeout },
              max_connections: { type: 'integer', minimum: 1, default: CORE_DEFAULTS.tcp.max_connections },
              // hostile-peer limits (host/transport/README.md); times in seconds
              outbound_reserve: { type: 'integer', minimum: 0, default: CORE_DEFAULTS.tcp.outbound_reserve },
              accept_iplimit: { type: 'integer', minimum: 0, default: CORE_DEFAULTS.tcp.accept_iplimit },
              accept_aliases: { type: 'boolean', default: CORE_DEFAULTS.tcp.accept_aliases },
              conn_wq_max: { type: 'integer', minimum: 1024, maximum: 1 << 30, default: CORE_DEFAULTS.tcp.conn_wq_max },
              wq_max: { type: 'integer', minimum: 1024, maximum: 1 << 30, default: CORE_DEFAULTS.tcp.wq_max },
              send_timeout: { type: 'number', exclusiveMinimum: 0, default: CORE_DEFAULTS.tcp.send_timeout },
              connect_timeout: { type: 'number', exclusiveMinimum: 0, default: CORE_DEFAULTS.tcp.connect_timeout },
              msg_read_timeout: { type: 'number', exclusiveMinimum: 0, default: CORE_DEFAULTS.tcp.msg_read_timeout },
              msg_data_timeout: { type: 'number', exclusiveMinimum: 0, default: CORE_DEFAULTS.tcp.msg_data_timeout },
            },
          },
          /**
           * TLS (host/transport/tls-options.ts, docs/tls.md): the default server profile, per-domain profiles
           * by SNI, the client profile of outgoing connections. Paths are relative to the config file.
           */
          tls: {
            type: 'object',
            additionalProperties: false,
            properties: {
              certificate: { type: 'string', minLength: 1 },
              private_key: { type: 'string', minLength: 1 },
              ca_list: { type: 'string', minLength: 1 },
              min_version: { type: 'string', enum: ['TLSv1.2', 'TLSv1.3'], default: TLS_DEFAULTS.min_version },
              cipher_list: { type: 'string', minLength: 1 },
              verify_client: { type: 'string', enum: ['off', 'optional', 'required'], default: TLS_DEFAULTS.verify_client },
              verify_server: { type: 'boolean', default: TLS_DEFAULTS.verify_server },
              system_ca: { type: 'boolean', default: TLS_DEFAULTS.system_ca },
              client_certificate: { type: 'string', minLength: 1 },
              client_private_key: { type: 'string', minLength: 1 },
              domains: {
                type: 'array',
                maxItems: 1024,
                default: [],
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['server_name', 'certificate', 'private_key'],
                  properties: {
                    server_name: { type: 'string', minLength: 1, maxLength: 253, pattern: '^(\\*\\.)?[A-Za-z0-9.-]+$' },
                    certificate: { type: 'string', minLength: 1 },
                    private_key: { type: 'string', minLength: 1 },
                    ca_list: { type: 'string', minLength: 1 },
                    verify_client: { type: 'string', enum: ['off', 'optional', 'required'] },
                  },
                },
              },
            },
          },
          /** WebSocket listeners ws:/wss: (host/transport/ws.ts, RFC 7118); the core.tcp limits apply too. */
          ws: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              origins: { type: 'array', maxItems: 256, items: { type: 'string', minLength: 1, maxLength: 512 }, default: [...WS_DEFAULTS.origins] },
              keepalive_interval: { type: 'number', minimum: 1, maximum: 3600, default: WS_DEFAULTS.keepalive_interval },
              max_connections: { type: 'integer', minimum: 1, maximum: 1_000_000, default: WS_DEFAULTS.max_connections },
            },
          },
          /** fan-out and table bounds (Kamailio max_branches; dns_cache_* in spirit), docs/operations.md */
          max_branches: { type: 'integer', minimum: 1, maximum: 31, default: CORE_DEFAULTS.max_branches },
          dns_cache: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              max_entries: { type: 'integer', minimum: 1, maximum: 1_000_000, default: CORE_DEFAULTS.dns_cache.max_entries },
              ttl: { type: 'integer', minimum: 1, maximum: 86_400, default: CORE_DEFAULTS.dns_cache.ttl },
              negative_ttl: { type: 'integer', minimum: 1, maximum: 86_400, default: CORE_DEFAULTS.dns_cache.negative_ttl },
              max_pending: { type: 'integer', minimum: 1, maximum: 65_536, default: CORE_DEFAULTS.dns_cache.max_pending },
              min_ttl: { type: 'integer', minimum: 0, maximum: 86_400, default: CORE_DEFAULTS.dns_cache.min_ttl },
              max_ttl: { type: 'integer', minimum: 1, maximum: 604_800, default: CORE_DEFAULTS.dns_cache.max_ttl },
            },
          },
          /** RFC 3263 resolution (host/proxy/resolver.ts; Kamailio dns_try_naptr, dns_srv_lb, use_dns_failover). */
          dns: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              servers: {
                type: 'array', maxItems: 8, default: [],
                items: { type: 'string', minLength: 1, maxLength: 64, pattern: '^(\\d{1,3}(\\.\\d{1,3}){3}(:\\d{1,5})?|\\[[0-9a-fA-F:.]+\\](:\\d{1,5})?|[0-9a-fA-F:]+)$' },
              },
              timeout: { type: 'integer', minimum: 10, maximum: 30_000, default: CORE_DEFAULTS.dns.timeout },
              tries: { type: 'integer', minimum: 1, maximum: 5, default: CORE_DEFAULTS.dns.tries },
              try_naptr: { type: 'boolean', default: CORE_DEFAULTS.dns.try_naptr },
              srv_lb: { type: 'boolean', default: CORE_DEFAULTS.dns.srv_lb },
              use_failover: { type: 'boolean', default: CORE_DEFAULTS.dns.use_failover },
              max_targets: { type: 'integer', minimum: 1, maximum: 31, default: CORE_DEFAULTS.dns.max_targets },
            },
          },
          /** Kamailio `alias`: other host[:port] names this server answers to (check_self). */
          aliases: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
          /**
           * BINRPC control listeners (kamcmd, `siphon rpc`, `siphon plugin deploy`), written like ctl's
           * `binrpc` parameter: unix:/path, tcp:127.0.0.1:2049. Absent: the default socket
           * (defaultCtlPath(): $SIPHON_CTL, $RUNTIME_DIRECTORY/siphon_ctl, ...); [] disables the control socket.
           */
          ctl: { type: 'array', items: { type: 'string', minLength: 1 } },
          /**
           * Hot swap of the routing plugin (host/wasm/manager.ts, docs/plugins.md; wasm-host.md §4.1, §5.2);
           * absent: the defaults. Times in seconds. (It belongs with `routing`, whose key list is pinned by
           * the config tests.)
           */
          /** Load shedding on queueing delay (host/server/overload.ts, OVERLOAD_DEFAULTS above); on unless enabled: false. */
          overload: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              enabled: { type: 'boolean', default: OVERLOAD_DEFAULTS.enabled },
              max_delay: { type: 'integer', minimum: 5, maximum: 10_000, default: OVERLOAD_DEFAULTS.max_delay },
              window: { type: 'integer', minimum: 10, maximum: 10_000, default: OVERLOAD_DEFAULTS.window },
              sustain: { type: 'integer', minimum: 1, maximum: 100, default: OVERLOAD_DEFAULTS.sustain },
              retry_after: { type: 'integer', minimum: 0, maximum: 3600, default: OVERLOAD_DEFAULTS.retry_after },
              probe_interval: { type: 'integer', minimum: 1, maximum: 1000, default: OVERLOAD_DEFAULTS.probe_interval },
              min_rate: { type: 'integer', minimum: 0, maximum: 10_000_000, default: OVERLOAD_DEFAULTS.min_rate },
              /** ms of the first busy traffic during which only STARTUP_FACTOR × max_delay counts as overload (0 = none). */
              startup_grace: { type: 'integer', minimum: 0, maximum: 600_000, default: OVERLOAD_DEFAULTS.startup_grace },
              /** optional second signal: the event loop's busy share (0-1); absent = not used. */
              utilization: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
            },
          },
          hot_swap: {
            type: 'object',
            additionalProperties: false,
            properties: {
              /** more than this many traps within `window` seconds is a crash loop. */
              max_failures: { type: 'integer', minimum: 1, default: HOT_SWAP_DEFAULTS.max_failures },
              window: { type: 'number', exclusiveMinimum: 0, default: HOT_SWAP_DEFAULTS.window },
              /** seconds after a swap during which a crash loop rolls back automatically to the previous version. */
              watch: { type: 'number', minimum: 0, default: HOT_SWAP_DEFAULTS.watch },
              /** crash-loop backoff when there is nothing to roll back to: base, doubled each time, capped. */
              backoff_base: { type: 'number', exclusiveMinimum: 0, default: HOT_SWAP_DEFAULTS.backoff_base },
              backoff_max: { type: 'number', exclusiveMinimum: 0, default: HOT_SWAP_DEFAULTS.backoff_max },
              /** answer during backoff: 503 with Retry-After, or 500. */
              backoff_status: { type: 'integer', enum: [500, 503], default: HOT_SWAP_DEFAULTS.backoff_status },
              /** how long a replaced version stays alive for the transactions pinned to it. */
              drain_timeout: { type: 'number', exclusiveMinimum: 0, default: HOT_SWAP_DEFAULTS.drain_timeout },
            },
          },
          /**
           * Transaction timers in ms (host/transaction/config.ts), Kamailio tm parameter names; absent or
           * a key left out: Kamailio's defaults (TM_DEFAULTS). (additive)
           */
          tm: {
            type: 'object',
            additionalProperties: false,
            properties: {
              fr_timer: { type: 'integer', minimum: 1, default: TM_DEFAULTS.fr_timer },
              fr_inv_timer: { type: 'integer', minimum: 1, default: TM_DEFAULTS.fr_inv_timer },
              wt_timer: { type: 'integer', minimum: 1, default: TM_DEFAULTS.wt_timer },
              t1: { type: 'integer', minimum: 1, default: TM_DEFAULTS.t1 },
              t2: { type: 'integer', minimum: 1, default: TM_DEFAULTS.t2 },
              t4: { type: 'integer', minimum: 1, default: TM_DEFAULTS.t4 },
              max_transactions: { type: 'integer', minimum: 1, default: TM_DEFAULTS.max_transactions },
              retry_after: { type: 'integer', minimum: 0, maximum: 3600, default: TM_DEFAULTS.retry_after },
            },
          },
          /** DB layer bounds (host/db/README.md; defaults DB_LIMIT_DEFAULTS in host/db/limits.ts); absent: the defaults. (additive) */
          db: {
            type: 'object',
            additionalProperties: false,
            properties: {
              query_timeout: { type: 'integer', minimum: 10, maximum: 600_000 },
              connect_timeout: { type: 'integer', minimum: 10, maximum: 600_000 },
              max_connections: { type: 'integer', minimum: 1, maximum: 1000 },
              queue_limit: { type: 'integer', minimum: 0, maximum: 1_000_000 },
              write_queue: { type: 'integer', minimum: 1, maximum: 10_000_000 },
              compact_min_bytes: { type: 'integer', minimum: 4096 },
            },
          },
          /** JSON-RPC (POST /RPC) and Prometheus /metrics over HTTP on a loopback address; absent: off. */
          http: {
            type: 'object',
            additionalProperties: false,
            required: ['port'],
            // hardening (host/rpc/http-guard.ts, docs/operations.md): absent keys take CONTROL_HTTP_DEFAULTS
            properties: {
              host: { type: 'string', minLength: 1, default: '127.0.0.1' },
              port: { type: 'integer', minimum: 0, maximum: 65535 },
              /** bearer token every request must carry (RFC 6750); or token_file, relative to this file (not both). */
              token: { type: 'string', minLength: 16, maxLength: 4096, pattern: '^\\S+$' },
              token_file: { type: 'string', minLength: 1 },
              max_body_bytes: { type: 'integer', minimum: 1024, maximum: 67_108_864 },
              max_connections: { type: 'integer', minimum: 1, maximum: 4096 },
              headers_timeout: { type: 'integer', minimum: 100, maximum: 600_000 },
              request_timeout: { type: 'integer', minimum: 100, maximum: 600_000 },
              /** the operator console under /console (host/console/README.md, docs/console.md); absent: off. */
              console: CONSOLE_SCHEMA,
            },
          },
        },
      },
      modules: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: moduleProps,
      },
      routing: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          plugin: { type: 'string', minLength: 1, default: ROUTING_DEFAULTS.plugin },
          memory_max_pages: { type: 'integer', minimum: 1, maximum: 65536, default: ROUTING_DEFAULTS.memory_max_pages },
          gas_per_hook: { type: 'integer', minimum: 1000, default: ROUTING_DEFAULTS.gas_per_hook },
          /** folders plugin.load may read (wasm/plugin-path.ts); absent: the package's plugins/. The started plugin's folder is always allowed. */
          plugin_dirs: { type: 'array', items: { type: 'string', minLength: 1 } },
          /** largest plugin file plugin.load reads (checked before reading); absent: 8 MiB. */
          max_module_bytes: { type: 'integer', minimum: 1024, maximum: 1_073_741_824 },
          hook_timeout_ms: { type: 'integer', minimum: 1, maximum: 60_000, default: ROUTING_DEFAULTS.hook_timeout_ms },
          init_timeout_ms: { type: 'integer', minimum: 1, maximum: 600_000, default: ROUTING_DEFAULTS.init_timeout_ms },
          config: { type: 'object', default: {} },
          /** capabilities granted to routing.plugin (host/wasm/capabilities.ts); absent: all it declares (operator trust). */
          grants: GRANTS_SCHEMA,
          /**
           * plugins run in order on each request (docs/plugins.md "Chains"); when given, routing.plugin
           * and routing.config are not used. An entry is a plugin name/path or an object.
           */
          chain: {
            type: 'array',
            minItems: 1,
            maxItems: CHAIN_MAX_MEMBERS,
            // a bare name/path, or an object (one schema: keywords apply to their own type)
            items: {
              type: ['string', 'object'],
              minLength: 1,
              additionalProperties: false,
              required: ['plugin'],
              properties: {
                plugin: { type: 'string', minLength: 1 },
                /** the member's sip.cfg_read JSON; absent: {} */
                config: { type: 'object' },
                /** absent: msg.read, msg.reply (DEFAULT_GRANTS) */
                grants: GRANTS_SCHEMA,
                /** absent: routing.gas_per_hook / routing.memory_max_pages */
                gas_per_hook: { type: 'integer', minimum: 1000, maximum: 2_147_483_647 },
                memory_max_pages: { type: 'integer', minimum: 1, maximum: 65536 },
              },
            },
          },
          /** sandbox limits (docs/abi/v1.md "Limits", host/wasm/types.ts DEFAULT_PLUGIN_LIMITS); absent keys: the defaults. */
          limits: {
            type: 'object',
            additionalProperties: false,
            properties: Object.fromEntries(ROUTING_LIMIT_KEYS.map((k) => [k, { type: 'integer', minimum: 1 }])),
          },
        },
      },
    },
  };
}
