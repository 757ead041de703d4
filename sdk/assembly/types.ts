/**
 * Numeric contracts of siphon plugin ABI v1 (docs/abi/v1.md): actions, status codes, message
 * field ids, log levels and variable scopes. The values are fixed by the spec; never renumber.
 */

/** What a hook decided; the value `request_route` returns (docs/abi/v1.md, "Actions"). */
export enum Action {
  /** End of route. A request nobody replied to is dropped, as at the end of Kamailio's request_route. */
  CONTINUE = 0,
  /** Discard the message silently (Kamailio `drop`). */
  DROP = 1,
  /** The plugin already answered (sl_reply); nothing else to do. */
  REPLIED = 2,
  /** Forward the request to $du, or to the R-URI when $du is unset (needs the relay capability). */
  RELAY = 3,
  /** Reserved for asynchronous processing. */
  SUSPEND = 4,
}

/** Negative return values of host imports. `>= 0` means success. */
export enum Status {
  NOT_FOUND = -1,
  BAD_ARGUMENT = -2,
  INVALID_MEMORY = -3,
  NOT_ALLOWED = -4,
  LIMIT = -5,
  UNIMPLEMENTED = -6,
  INTERNAL = -7,
}

/** Field ids of `msg_get` / `msg_set`, with the Kamailio pseudo-variable each mirrors. */
export enum Field {
  /** $rm */ METHOD = 0,
  /** $ru (writable) */ RURI = 1,
  /** $rU (writable) */ RURI_USER = 2,
  /** $rd (writable) */ RURI_HOST = 3,
  /** $rp (writable) */ RURI_PORT = 4,
  /** $rz */ RURI_SCHEME = 5,
  /** $du (writable; empty unsets) */ DST_URI = 6,
  /** $fu */ FROM_URI = 7,
  /** $fU */ FROM_USER = 8,
  /** $fd */ FROM_HOST = 9,
  /** $ft */ FROM_TAG = 10,
  /** $fn */ FROM_DISPLAY = 11,
  /** $tu */ TO_URI = 12,
  /** $tU */ TO_USER = 13,
  /** $td */ TO_HOST = 14,
  /** $tt */ TO_TAG = 15,
  /** $tn */ TO_DISPLAY = 16,
  /** $ci */ CALL_ID = 17,
  /** $cs */ CSEQ_NUM = 18,
  /** CSeq method */ CSEQ_METHOD = 19,
  /** $si */ SRC_IP = 20,
  /** $sp */ SRC_PORT = 21,
  /** $pr (udp, tcp) */ PROTO = 22,
  /** $ua */ USER_AGENT = 23,
  /** $ct */ CONTACT = 24,
  /** $Ri */ LOCAL_IP = 25,
  /** $Rp */ LOCAL_PORT = 26,
  /** Max-Forwards header value */ MAX_FORWARDS = 27,
  /** $rb */ BODY = 28,
  /** $ml */ MSG_LEN = 29,
  /** $rs (replies) */ STATUS = 30,
  /** $rr (replies) */ REASON = 31,
}

/** Kamailio log levels (dprint.h), as the `level` argument of `xlog` / `log`. */
export enum LogLevel {
  ALERT = -5,
  BUG = -4,
  CRIT2 = -3,
  CRIT = -2,
  ERR = -1,
  WARN = 0,
  NOTICE = 1,
  INFO = 2,
  DBG = 3,
}

// Kamailio's own constant names, so `xlog(L_INFO, "...")` reads like kamailio.cfg.
export const L_ALERT: i32 = -5;
export const L_BUG: i32 = -4;
export const L_CRIT2: i32 = -3;
export const L_CRIT: i32 = -2;
export const L_ERR: i32 = -1;
export const L_WARN: i32 = 0;
export const L_NOTICE: i32 = 1;
export const L_INFO: i32 = 2;
export const L_DBG: i32 = 3;

/** Lifetime of a host-side variable (`var_get` / `var_set`). */
export enum Scope {
  /** One message: gone when request_route returns (Kamailio $var / $avp of one request). */
  MSG = 0,
  /** Reserved for the transaction scope of a later minor version. */
  TX = 1,
  /** Per plugin, across messages; survives instance replacement (Kamailio $shv). */
  GLOBAL = 2,
}

/** The ABI minor version this SDK is built against (exported as `sip_abi_minor`). */
export const ABI_MINOR: i32 = 3;
