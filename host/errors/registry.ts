/**
 * The one error registry of siphon.
 *
 * Every error a user or operator can see carries a stable code from this table. Codes never change
 * meaning once released; new ones are appended inside their area's range:
 *
 *   1xxx config and CLI      2xxx SIP parsing       3xxx transports
 *   4xxx Wasm runtime        5xxx database layer    6xxx RPC / control plane
 *   7xxx secfilter           8xxx dispatcher        9xxx transactions, registrar
 *
 * Add entries with a targeted edit in your area's block; keep the list sorted by code.
 */

export interface ErrorSpec {
  /** Stable numeric code, unique across siphon. */
  readonly code: number;
  /** Short human title; the instance message adds the specifics (file, line, value). */
  readonly title: string;
}

export const Errors = {
  // ---- 1xxx config and CLI -------------------------------------------------------------------
  CONFIG_READ: { code: 1001, title: 'cannot read config file' },
  CONFIG_YAML: { code: 1002, title: 'config is not valid YAML' },
  CONFIG_SCHEMA: { code: 1003, title: 'config does not match the schema' },
  CLI_USAGE: { code: 1010, title: 'bad command line' },

  // ---- 2xxx SIP parsing ----------------------------------------------------------------------
  SIP_PARSE: { code: 2001, title: 'malformed SIP message' },
  SIP_TOO_LARGE: { code: 2002, title: 'SIP message exceeds size limit' },
  SIP_TOO_MANY_HEADERS: { code: 2003, title: 'SIP message exceeds header count limit' },
  SIP_BAD_URI: { code: 2004, title: 'malformed URI' },
  SIP_BAD_EDIT: { code: 2005, title: 'refused SIP message edit' },

  // ---- 3xxx transports -----------------------------------------------------------------------
  TRANSPORT_LISTEN_URI: { code: 3001, title: 'bad listen address' },
  TRANSPORT_BIND: { code: 3002, title: 'cannot bind listen socket' },
  TRANSPORT_SEND: { code: 3003, title: 'cannot send message' },
  /** core.overload: the event loop is saturated; new dialogs get 503 (host/server/overload.ts). */
  OVERLOADED: { code: 3004, title: 'overloaded: refusing new dialogs' },
  /** core.workers (host/shards/README.md): a worker shard that cannot start, or one that crashed. */
  SHARD_START: { code: 3020, title: 'worker shard did not start' },
  SHARD_CRASHED: { code: 3021, title: 'worker shard crashed' },
  /** core.tls: a file that cannot be read or a certificate/key OpenSSL refuses (start, tls.reload). */
  TLS_CONFIG: { code: 3030, title: 'bad tls settings' },
  /** an accepted or opened TLS connection whose handshake failed (protocol, cipher, client certificate). */
  TLS_HANDSHAKE: { code: 3031, title: 'tls handshake failed' },
  /** an outgoing TLS connection whose server certificate was not accepted (chain, name: RFC 5922). */
  TLS_VERIFY: { code: 3032, title: 'tls server certificate not accepted' },
  /** a WebSocket opening handshake refused: Origin not in core.ws.origins, no `sip` subprotocol (RFC 7118 §4.1). */
  WS_UPGRADE_REFUSED: { code: 3033, title: 'websocket upgrade refused' },
  /** core.udp_batch on, but the udp_batch addon is not built or not usable here: Node's dgram serves UDP. */
  UDP_BATCH_UNAVAILABLE: { code: 3039, title: 'batched udp unavailable: using dgram' },
  /** core.tcp limits (host/transport/README.md): refusals and limit closes of TCP connections. */
  TCP_CONN_LIMIT: { code: 3010, title: 'tcp connection refused: max_connections reached' },
  TCP_IP_LIMIT: { code: 3011, title: 'tcp connection refused: accept_iplimit reached for that peer address' },
  TCP_WRITE_QUEUE_FULL: { code: 3012, title: 'tcp connection closed: write queue full (peer not reading)' },
  TCP_SEND_TIMEOUT: { code: 3013, title: 'tcp connection closed: write queue stalled for send_timeout' },
  TCP_READ_TIMEOUT: { code: 3014, title: 'tcp connection closed: message not complete within msg_read_timeout' },
  TCP_DATA_TIMEOUT: { code: 3015, title: 'tcp connection closed: no SIP message within msg_data_timeout' },
  TCP_CONNECT_TIMEOUT: { code: 3016, title: 'tcp connect timed out (connect_timeout)' },

  // ---- 4xxx Wasm runtime ---------------------------------------------------------------------
  PLUGIN_NOT_FOUND: { code: 4001, title: 'plugin file not found' },
  PLUGIN_INVALID_WASM: { code: 4002, title: 'plugin is not a valid WebAssembly module' },
  PLUGIN_ABI: { code: 4003, title: 'plugin does not speak a supported ABI' },
  PLUGIN_IMPORT: { code: 4004, title: 'plugin imports something the host does not provide' },
  PLUGIN_EXPORT: { code: 4005, title: 'plugin lacks a required export' },
  PLUGIN_MEMORY: { code: 4006, title: 'plugin memory declaration refused' },
  PLUGIN_INIT: { code: 4007, title: 'plugin_init failed' },
  PLUGIN_TRAP: { code: 4010, title: 'plugin trapped' },
  PLUGIN_GAS: { code: 4011, title: 'plugin exhausted its gas budget' },
  PLUGIN_ABORT: { code: 4012, title: 'plugin aborted' },
  PLUGIN_METERING: { code: 4013, title: 'cannot instrument plugin' },
  /** the wall-clock guard stopped a hook past routing.hook_timeout_ms (host/wasm/watchdog). */
  PLUGIN_TIMEOUT: { code: 4030, title: 'plugin hook exceeded its time limit' },
  PLUGIN_GUARD_UNAVAILABLE: { code: 4031, title: 'wall-clock guard unavailable: hooks bounded by gas alone' },
  PLUGIN_SLOT_UNKNOWN: { code: 4020, title: 'no plugin loaded under that name' },
  PLUGIN_NO_PREVIOUS: { code: 4021, title: 'no previous plugin version to roll back to' },
  PLUGIN_BACKOFF: { code: 4022, title: 'plugin in crash-loop backoff' },
  PLUGIN_BUILD: { code: 4023, title: 'plugin build failed' },
  /** plugin.load / plugin.reload: the path is not a regular file inside routing.plugin_dirs (host/wasm/plugin-path.ts). */
  PLUGIN_PATH_REFUSED: { code: 4060, title: 'plugin path refused' },
  PLUGIN_FILE_TOO_LARGE: { code: 4061, title: 'plugin file exceeds routing.max_module_bytes' },
  PLUGIN_LIMIT: { code: 4040, title: 'plugin refused: over a load-time limit' },
  PLUGIN_BUDGET: { code: 4041, title: 'plugin call refused: over a host memory budget' },
  /** an import whose capability the plugin's manifest does not declare or config does not grant (host/wasm/capabilities.ts). */
  PLUGIN_CAPABILITY: { code: 4070, title: 'plugin imports a namespace it was not granted' },
  /** the sip.plugin manifest's capabilities list is malformed or names an unknown capability. */
  PLUGIN_MANIFEST: { code: 4071, title: 'plugin manifest refused' },
  /** the RELAY action of a plugin not granted `relay` (answered 500). */
  PLUGIN_RELAY_REFUSED: { code: 4072, title: 'plugin returned RELAY without the relay capability' },
  /** routing.chain: two members with one plugin name, or an empty chain. */
  PLUGIN_CHAIN: { code: 4073, title: 'plugin chain refused' },

  // ---- 5xxx database layer -------------------------------------------------------------------
  DB_URL: { code: 5001, title: 'bad database URL' },
  DB_UNREACHABLE: { code: 5002, title: 'database unreachable' },
  DB_QUERY: { code: 5003, title: 'database query failed' },
  DB_STORE_CORRUPT: { code: 5004, title: 'embedded store file is corrupt' },
  DB_TABLE_VERSION: { code: 5005, title: 'table missing or at an unsupported version' },
  /** host/db: a query (or the wait for a connection) outlived core.db.query_timeout; the connection is destroyed. */
  DB_TIMEOUT: { code: 5010, title: 'database query timed out' },
  /** host/db: every connection busy and core.db.queue_limit callers waiting (MySQL), or core.db.write_queue writes pending (embedded). */
  DB_BUSY: { code: 5011, title: 'database busy: request refused' },
  /** host/db/embedded: the last line of a table log was cut short (crash mid-write); it is ignored. */
  DB_LOG_TORN: { code: 5012, title: 'embedded table log ends in a torn line (ignored)' },
  /** host/db/remote: a worker shard could not reach shard 0's embedded store (no `db` service, link closed, too many calls waiting). */
  DB_SHARD_LINK: { code: 5020, title: "worker shard cannot reach shard 0's embedded store" },
  /** host/db/remote: shard 0 refused a worker shard's call (store not open for it, or over a bound of the db service). */
  DB_SHARD_REFUSED: { code: 5021, title: "shard 0's embedded store refused a worker shard's call" },

  // ---- 6xxx RPC / control plane --------------------------------------------------------------
  RPC_METHOD_NOT_FOUND: { code: 6001, title: 'no such RPC method' },
  RPC_BAD_PARAMS: { code: 6002, title: 'bad RPC parameters' },
  RPC_INTERNAL: { code: 6003, title: 'RPC method failed' },
  RPC_LISTEN_ADDRESS: { code: 6004, title: 'bad control listen address' },
  RPC_NON_LOOPBACK: { code: 6005, title: 'control listener refuses a non-loopback address' },
  RPC_BIND: { code: 6006, title: 'cannot bind control listener' },
  RPC_PROTOCOL: { code: 6007, title: 'malformed BINRPC packet' },
  RPC_CONNECT: { code: 6008, title: 'cannot reach the control socket' },
  // control HTTP listener (host/rpc/http-guard.ts, docs/operations.md)
  RPC_HTTP_HOST: { code: 6010, title: 'control HTTP request refused: Host is not a loopback name' },
  RPC_HTTP_ORIGIN: { code: 6011, title: 'control HTTP request refused: cross-origin request' },
  RPC_HTTP_CONTENT_TYPE: { code: 6012, title: 'JSON-RPC request is not application/json' },
  RPC_HTTP_AUTH: { code: 6013, title: 'control HTTP request lacks the bearer token' },
  RPC_HTTP_TOO_LARGE: { code: 6014, title: 'JSON-RPC request body too large' },
  RPC_HTTP_TOKEN: { code: 6015, title: 'cannot use the control HTTP token' },
  RPC_HTTP_BUSY: { code: 6016, title: 'too many JSON-RPC requests in progress' },
  // ---- 6030-6049 operator console (host/console) ----
  /** no valid console session cookie (never logged in, expired, logged out). */
  CONSOLE_NO_SESSION: { code: 6030, title: 'console request without a valid session' },
  /** wrong user name or password at the console login. */
  CONSOLE_LOGIN_FAILED: { code: 6031, title: 'console login refused: wrong user or password' },
  /** too many failed logins from one address within login_window. */
  CONSOLE_LOGIN_LIMITED: { code: 6032, title: 'console login rate-limited' },
  /** a mutating request without the session's CSRF token or without a same-origin Origin. */
  CONSOLE_CSRF: { code: 6033, title: 'console request refused: CSRF token or Origin missing' },
  /** the session's role may not call this RPC method (read-only role, or a method the console does not offer). */
  CONSOLE_FORBIDDEN: { code: 6034, title: 'console request refused: method not allowed for this role' },
  /** the console passwd file or a password hash cannot be used. */
  CONSOLE_PASSWD: { code: 6035, title: 'cannot use the console passwd file' },
  /** max_streams live streams are open already. */
  CONSOLE_BUSY: { code: 6036, title: 'console: too many live streams or logins in progress' },
  /** HEP export: bad address or the socket could not be opened. */
  CONSOLE_HEP: { code: 6037, title: 'HEP export cannot be started' },

  // ---- 7xxx secfilter ------------------------------------------------------------------------
  SECF_BAD_RULE: { code: 7001, title: 'bad secfilter rule' },
  SECF_RELOAD: { code: 7002, title: 'secfilter reload failed' },
  SECF_RELOAD_TOO_SOON: { code: 7003, title: 'secfilter reload refused: ongoing reload or reload_delta not elapsed' },
  // ---- 7100-7119 pike (flood detection) ----
  /** a source went over reqs_density_per_unit requests per sampling_time_unit (host/modules/pike). */
  PIKE_BLOCKED: { code: 7100, title: 'pike: source blocked for flooding' },
  /** every slot of the pike table holds a blocked source: a new source is not tracked. */
  PIKE_TABLE_FULL: { code: 7101, title: 'pike table full of blocked sources: new sources not tracked' },
  // ---- 7220-7239 auth_db (subscribers, authorize functions) ----
  /** a subscriber lookup failed (database down, timeout, busy): the authorize function answers -1, the route 500 (host/modules/auth_db). */
  AUTHDB_LOOKUP: { code: 7220, title: 'auth_db: subscriber lookup failed; authentication fails closed' },
  /** an authorize function named a table or credentials whose row was not loaded before routing: -1. */
  AUTHDB_NOT_LOADED: { code: 7221, title: 'auth_db: subscriber row not loaded before routing' },
  AUTHDB_BAD_SUBSCRIBER: { code: 7222, title: 'bad subscriber (user, domain or password)' },
  AUTHDB_SUBSCRIBER_EXISTS: { code: 7223, title: 'subscriber already exists' },
  AUTHDB_NO_SUBSCRIBER: { code: 7224, title: 'no such subscriber' },
  AUTHDB_UNKNOWN_TABLE: { code: 7225, title: 'no such subscriber table (modules.auth_db.tables)' },
  /** more Authorization/Proxy-Authorization headers than modules.auth_db.max_credentials: the rest are not looked up. */
  AUTHDB_TOO_MANY_CREDENTIALS: { code: 7226, title: 'auth_db: too many credentials in one request; extra ones ignored' },

  // ---- 7200-7219 auth (digest authentication) ----
  /** modules.auth: the nonce secret could not be read from or created in the database (host/modules/auth/secret.ts). */
  AUTH_SECRET: { code: 7200, title: 'auth: cannot load the nonce secret' },

  // ---- 7300-7319 nathelper (NAT traversal, keepalives) ----
  /** a NAT keepalive could not be sent (no listening socket reaches the contact, no route). */
  NAT_PING_SEND: { code: 7300, title: 'nathelper: keepalive could not be sent' },
  /** a pinged contact did not answer SIP keepalives for keepalive_timeout seconds and was removed. */
  NAT_CONTACT_REMOVED: { code: 7301, title: 'nathelper: contact removed, no answer to keepalives within keepalive_timeout' },
  /** more contacts to ping than natping_max_contacts: the rest wait for the next round. */
  NAT_PING_CAPPED: { code: 7302, title: 'nathelper: natping_max_contacts reached, contacts left for the next round' },

  // ---- 7500-7519 htable (named shared tables) ----
  /** a `modules.htable` table definition that cannot be used (host/modules/htable/config.ts). */
  HTABLE_CONFIG: { code: 7500, title: 'htable: bad table definition' },
  /** a table reached max_entries or max_bytes: new items are refused (-5, RPC 500); logged once a minute per table. */
  HTABLE_FULL: { code: 7501, title: 'htable: table full, new items refused' },
  /** a dbtable could not be loaded or written back, or rows / items were skipped (bad value_type 1 value, too long for the columns). */
  HTABLE_DB: { code: 7502, title: 'htable: database load or write-back problem' },
  /** a worker shard could not deliver its writes to shard 0's tables (host/modules/htable/shard.ts). */
  HTABLE_SHARD_SYNC: { code: 7503, title: 'htable: shard state sync failed' },

  // ---- 7600-7619 rtpengine (media relay control, ng protocol) ----
  /** modules.rtpengine.rtpengine_sock names no usable instance (host/modules/rtpengine/config.ts). */
  RTPENGINE_CONFIG: { code: 7600, title: 'rtpengine: bad rtpengine_sock' },
  /** an offer/answer failed on every instance tried (timeouts or an error answer): the message goes on unchanged, or failure_reply answers the request. */
  RTPENGINE_FAILED: { code: 7601, title: 'rtpengine: offer/answer failed, SDP left unchanged' },
  /** max_pending ng requests were waiting: a new one fails at once. */
  RTPENGINE_BUSY: { code: 7602, title: 'rtpengine: too many ng requests waiting' },
  /** an instance did not answer rtpengine_retr tries: disabled for rtpengine_disable_tout seconds, then pinged. */
  RTPENGINE_DISABLED: { code: 7603, title: 'rtpengine: instance disabled after a timeout' },

  // ---- 8xxx dispatcher -----------------------------------------------------------------------
  DS_LIST: { code: 8001, title: 'bad dispatcher list' },
  DS_RELOAD: { code: 8002, title: 'dispatcher reload failed' },
  DS_DESTINATION: { code: 8003, title: 'bad dispatcher destination' },
  DS_DB_LOAD: { code: 8004, title: 'cannot load the dispatcher table' },
  DS_PROBER: { code: 8005, title: 'dispatcher keepalive prober failed' },
  /** the call-load table (alg 10) is full: the oldest call is forgotten (host/modules/dispatcher/call-load.ts). */
  DS_CALL_LOAD_FULL: { code: 8010, title: 'dispatcher call-load table full' },
  /** a worker shard could not get shard 0's destination sets, apply a change, or forward a ds_mark_dst (host/modules/dispatcher/shards.ts). */
  DS_SHARD_SYNC: { code: 8011, title: 'dispatcher shard state sync failed' },

  // ---- 9xxx transactions, registrar ----------------------------------------------------------
  TM_NO_TRANSACTION: { code: 9001, title: 'no transaction' },
  TM_BAD_TIMER: { code: 9002, title: 'bad transaction timer value' },
  TM_RELAY: { code: 9003, title: 'cannot relay request' },
  TM_HOOK: { code: 9004, title: 'transaction hook failed' },
  TM_LOCAL_REQUEST: { code: 9005, title: 'cannot send a locally originated request' },
  /** core.max_branches reached: further branches of the transaction are not created (host/proxy). */
  TM_TOO_MANY_BRANCHES: { code: 9010, title: 'maximum number of branches exceeded' },
  /** core.tm.max_transactions reached: new requests get 503 + Retry-After (host/transaction/layer.ts). */
  TM_TABLE_FULL: { code: 9011, title: 'transaction table full' },
  /** core.dns_cache.max_pending lookups in flight: the next hop is treated as unresolvable (host/proxy/resolver.ts). */
  TM_DNS_BUSY: { code: 9012, title: 'too many DNS lookups in flight' },
  REG_BAD_CONTACT: { code: 9101, title: 'bad Contact in REGISTER' },
  REG_STORAGE: { code: 9102, title: 'location storage failed' },
  REG_UNKNOWN_TABLE: { code: 9103, title: 'no such location table' },
  /** registrar max_contacts exceeded: 503 Too Many Registered Contacts. */
  REG_TOO_MANY_CONTACTS: { code: 9110, title: 'too many registered contacts' },
  /** db_mode 3: too many REGISTERs for one AOR waiting for the previous one to commit. */
  REG_AOR_BUSY: { code: 9111, title: 'too many concurrent REGISTERs for one AOR' },
  /** registrar max_location_contacts: a memory location table is full; REGISTERs adding contacts get 503. */
  REG_TABLE_FULL: { code: 9112, title: 'location table full' },
  /** dialog max_dialogs held: dlg_manage() answers -5 (the plugin answers 503) (host/modules/dialog/table.ts). */
  DLG_TABLE_FULL: { code: 9201, title: 'dialog table full' },
  /** a BYE the dialog module originates (timeout, dlg_bye, dlg.end_dlg) could not be sent. */
  DLG_BYE: { code: 9202, title: 'cannot send dialog BYE' },
  /** a write to the dialog / dialog_vars tables failed (db_mode 1-3); the dialog stays in memory. */
  DLG_DB: { code: 9203, title: 'dialog database write failed' },
  ACC_DB: { code: 9301, title: 'accounting database write failed' },
  ACC_QUEUE_FULL: { code: 9302, title: 'accounting write queue full, record dropped' },
  /** a uac `vsf` / `vst` Route parameter failed authentication (tampered, or sealed by another key): not restored (host/modules/uac). */
  UAC_BAD_PARAM: { code: 9401, title: 'uac restore parameter refused' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorName = keyof typeof Errors;

/**
 * An error a caller is expected to handle or show to an operator. Bugs stay plain `Error`.
 * `where` names the file/line/column or object the error is about, when known.
 */
export class SiphonError extends Error {
  readonly code: number;
  readonly errorName: ErrorName;
  readonly where?: string;
  /** the specifics, without the location prefix and the code suffix. */
  readonly detail: string;

  constructor(name: ErrorName, detail: string, options?: { where?: string; cause?: unknown }) {
    const spec = Errors[name];
    const prefix = options?.where ? `${options.where}: ` : '';
    super(`${prefix}${detail} [E${spec.code} ${spec.title}]`, { cause: options?.cause });
    this.name = 'SiphonError';
    this.code = spec.code;
    this.errorName = name;
    this.where = options?.where;
    this.detail = detail;
  }
}

export function isSiphonError(e: unknown, name?: ErrorName): e is SiphonError {
  return e instanceof SiphonError && (name === undefined || e.errorName === name);
}
