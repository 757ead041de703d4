/**
 * siphon plugin SDK: the idiomatic API over ABI v1, named after the Kamailio functions a
 * kamailio.cfg author already knows (KEMI names where the native one is a keyword).
 *
 *   import { onRequest, Context, Action, is_method, sl_reply, exit, drop } from "../../../sdk/assembly";
 *
 *   onRequest((ctx: Context): i32 => {
 *     if (is_method("ACK")) return drop();
 *     sl_reply(501, "Not Implemented");
 *     return exit();
 *   });
 *
 * Return conventions:
 * - predicates (is_method, has_totag, is_myself, is_present_hf ...) return `bool`: Kamailio's
 *   "1 = true, -1 = false" would be truthy either way in AssemblyScript;
 * - actions (sl_reply, append_hf, seturi, mf_process_maxfwd_header ...) return Kamailio's i32 code:
 *   positive = success, negative = failure. Test them with `< 0`, never with `!`.
 * - readers return `string | null`; null means absent (status -1) or not allowed in this hook.
 */
import * as env from "./env";
import { outPtr, outCap, growOut, decodeOut, encodeArg, encodeArgs, argPtrA, argLenA, argPtrB, argLenB } from "./buffer";
import { current, hookSerial } from "./hooks";
import { Action, Field, Scope, L_ALERT, L_CRIT, L_ERR, L_WARN, L_NOTICE, L_INFO, L_DBG } from "./types";

export { Context, onRequest, onInit } from "./hooks";
export {
  onBranch, onReply, onFailure,
  t_relay, t_on_branch, t_on_reply, t_on_failure, t_reply, t_is_canceled, t_branch_index, t_set_timeouts,
  forward, record_route, loose_route, t_reply_code,
  add_rr_param, check_route_param, is_direction,
} from "./tm";
export {
  Action, Status, Field, LogLevel, Scope, ABI_MINOR,
  L_ALERT, L_BUG, L_CRIT2, L_CRIT, L_ERR, L_WARN, L_NOTICE, L_INFO, L_DBG,
} from "./types";

// =============================================================================================
// Actions: what the request_route handler returns
// =============================================================================================

/**
 * Kamailio `exit`: stop the route here. Returns Action.REPLIED when sl_reply() succeeded in this
 * hook, else Action.CONTINUE (the host then drops the unanswered request, like Kamailio does at the
 * end of request_route). Use as `return exit();`.
 */
export function exit(): i32 {
  return current.replied ? Action.REPLIED : Action.CONTINUE;
}

/** Kamailio `drop`: discard the request without answering. Use as `return drop();`. */
export function drop(): i32 {
  return Action.DROP;
}

/** Forward the request to $du, or to the R-URI when $du is unset (Kamailio forward()/t_relay()). Use as `return relay();`. */
export function relay(): i32 {
  return Action.RELAY;
}

// =============================================================================================
// Message fields and pseudo-variables
// =============================================================================================

/** Reads message field `field` (see Field); null when absent. */
export function msg_get(field: i32): string | null {
  let n = env.msg_get(field, outPtr, outCap);
  if (n > outCap) {
    growOut(n);
    n = env.msg_get(field, outPtr, outCap);
  }
  return n < 0 ? null : decodeOut(n);
}

/** Writes a writable field (RURI, RURI_USER, RURI_HOST, RURI_PORT, DST_URI; empty DST_URI unsets $du). 1 ok, negative status on error. */
export function msg_set(field: i32, value: string): i32 {
  encodeArg(value);
  const r = env.msg_set(field, argPtrA, argLenA);
  return r < 0 ? r : 1;
}

/**
 * Maps the pseudo-variables that are plain message fields to their Field id without any host work:
 * $rm $ru $rU $rd $rp $rz $du $fu $fU $fd $ft $fn $tu $tU $td $tt $tn $ci $cs $si $sp $pr $ua $ct
 * $Ri $Rp $rb $ml $rs $rr. Returns -1 for anything else ($hdr(..), $var(..), ...).
 */
function pvFieldId(name: string): i32 {
  if (name.length != 3 || name.charCodeAt(0) != 0x24 /* $ */) return -1;
  const a = name.charCodeAt(1);
  const b = name.charCodeAt(2);
  switch (a) {
    case 0x72: // r
      switch (b) {
        case 0x6d: return Field.METHOD; // $rm
        case 0x75: return Field.RURI; // $ru
        case 0x55: return Field.RURI_USER; // $rU
        case 0x64: return Field.RURI_HOST; // $rd
        case 0x70: return Field.RURI_PORT; // $rp
        case 0x7a: return Field.RURI_SCHEME; // $rz
        case 0x62: return Field.BODY; // $rb
        case 0x73: return Field.STATUS; // $rs
        case 0x72: return Field.REASON; // $rr
      }
      return -1;
    case 0x66: // f
      switch (b) {
        case 0x75: return Field.FROM_URI; // $fu
        case 0x55: return Field.FROM_USER; // $fU
        case 0x64: return Field.FROM_HOST; // $fd
        case 0x74: return Field.FROM_TAG; // $ft
        case 0x6e: return Field.FROM_DISPLAY; // $fn
      }
      return -1;
    case 0x74: // t
      switch (b) {
        case 0x75: return Field.TO_URI; // $tu
        case 0x55: return Field.TO_USER; // $tU
        case 0x64: return Field.TO_HOST; // $td
        case 0x74: return Field.TO_TAG; // $tt
        case 0x6e: return Field.TO_DISPLAY; // $tn
      }
      return -1;
    case 0x63: // c
      switch (b) {
        case 0x69: return Field.CALL_ID; // $ci
        case 0x73: return Field.CSEQ_NUM; // $cs
        case 0x74: return Field.CONTACT; // $ct
      }
      return -1;
    case 0x73: // s
      if (b == 0x69) return Field.SRC_IP; // $si
      if (b == 0x70) return Field.SRC_PORT; // $sp
      return -1;
    case 0x64: return b == 0x75 ? Field.DST_URI : -1; // $du
    case 0x70: return b == 0x72 ? Field.PROTO : -1; // $pr
    case 0x75: return b == 0x61 ? Field.USER_AGENT : -1; // $ua
    case 0x6d: return b == 0x6c ? Field.MSG_LEN : -1; // $ml
    case 0x52: // R
      if (b == 0x69) return Field.LOCAL_IP; // $Ri
      if (b == 0x70) return Field.LOCAL_PORT; // $Rp
      return -1;
  }
  return -1;
}

/**
 * Kamailio `$name` / KEMI `KSR.pv.get("$name")`: the value of a pseudo-variable, or null when it is
 * $null. Message fields go straight to msg_get by id; $hdr(name), $var(x) and the rest are evaluated
 * host-side by pv_get.
 */
export function pv(name: string): string | null {
  const field = pvFieldId(name);
  if (field >= 0) return msg_get(field);
  encodeArg(name);
  let n = env.pv_get(argPtrA, argLenA, outPtr, outCap);
  if (n > outCap) {
    growOut(n);
    n = env.pv_get(argPtrA, argLenA, outPtr, outCap);
  }
  return n < 0 ? null : decodeOut(n);
}

/**
 * KEMI `KSR.pv.sets("$name", value)`: assigns a writable pseudo-variable. $ru $rU $rd $rp $du map to
 * msg_set; $var(x) and others go to the host's pv_set. 1 ok, negative status on error
 * (-4: read-only variable, -2: bad value).
 */
export function pv_set(name: string, value: string): i32 {
  const field = pvFieldId(name);
  if (field == Field.RURI || field == Field.RURI_USER || field == Field.RURI_HOST ||
      field == Field.RURI_PORT || field == Field.DST_URI) {
    return msg_set(field, value);
  }
  encodeArgs(name, value);
  const r = env.pv_set(argPtrA, argLenA, argPtrB, argLenB);
  return r < 0 ? r : 1;
}

/** Kamailio core `seturi(uri)` / `rewriteuri`: replaces the R-URI. 1 ok, -1 failed. */
export function seturi(uri: string): i32 {
  return msg_set(Field.RURI, uri) > 0 ? 1 : -1;
}

/** Kamailio core `setuser(user)` / `rewriteuser`: replaces the R-URI user part. 1 ok, -1 failed. */
export function setuser(user: string): i32 {
  return msg_set(Field.RURI_USER, user) > 0 ? 1 : -1;
}

/** Kamailio core `sethost(host)` / `rewritehost`: replaces the R-URI host. 1 ok, -1 failed. */
export function sethost(host: string): i32 {
  return msg_set(Field.RURI_HOST, host) > 0 ? 1 : -1;
}

/** Kamailio core `setport(port)` / `rewriteport`: replaces the R-URI port. 1 ok, -1 failed. */
export function setport(port: string): i32 {
  return msg_set(Field.RURI_PORT, port) > 0 ? 1 : -1;
}

/** Kamailio core `setdsturi(uri)` ($du): the next hop, the R-URI staying unchanged. 1 ok, -1 failed. */
export function setdsturi(uri: string): i32 {
  return msg_set(Field.DST_URI, uri) > 0 ? 1 : -1;
}

/** Kamailio core `resetdsturi()`: unsets $du. 1 ok, -1 failed. */
export function resetdsturi(): i32 {
  return msg_set(Field.DST_URI, "") > 0 ? 1 : -1;
}

// =============================================================================================
// Routing checks
// =============================================================================================

// The method is read once per hook into this small unmanaged buffer so repeated is_method()
// calls cost no host call and no allocation.
const METHOD_CAP: i32 = 32;
const methodBuf: usize = heap.alloc(<usize>METHOD_CAP);
let methodLen: i32 = -1;
let methodSerial: u32 = 0;

function loadMethod(): void {
  if (methodSerial == hookSerial && methodLen >= 0) return;
  const n = env.msg_get(Field.METHOD, methodBuf, METHOD_CAP);
  // a method longer than METHOD_CAP cannot equal any name a plugin would test cheaply; keep its
  // length so comparisons fail, and never read past the buffer
  methodLen = n < 0 ? 0 : n;
  methodSerial = hookSerial;
}

@inline function lowerAscii(c: i32): i32 {
  return c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
}

/**
 * Kamailio textops `is_method("INVITE|REGISTER")`: true when the request method is one of the
 * '|'-separated names. Like Kamailio's method parser the comparison ignores ASCII case.
 * (Kamailio: 1 = matches, -1 = does not.)
 */
export function is_method(names: string): bool {
  loadMethod();
  const total = names.length;
  let start = 0;
  while (start <= total) {
    let end = start;
    while (end < total && names.charCodeAt(end) != 0x7c /* | */) end++;
    const len = end - start;
    if (len == methodLen && len <= METHOD_CAP) {
      let i = 0;
      while (i < len && lowerAscii(names.charCodeAt(start + i)) == lowerAscii(<i32>load<u8>(methodBuf + <usize>i))) i++;
      if (i == len) return true;
    }
    start = end + 1;
  }
  return false;
}

/** Kamailio siputils `has_totag()`: true when the To header has a tag (an in-dialog request). */
export function has_totag(): bool {
  // the tag itself is not needed: a zero-capacity read returns its length
  return env.msg_get(Field.TO_TAG, outPtr, 0) > 0;
}

/** Kamailio corex `has_ruri_user()`: true when the R-URI has a user part. */
export function has_ruri_user(): bool {
  return env.msg_get(Field.RURI_USER, outPtr, 0) > 0;
}

/** The opposite of has_ruri_user(): true when the R-URI has no user part (e.g. OPTIONS sip:host). */
export function is_ruri_user_empty(): bool {
  return !has_ruri_user();
}

/**
 * Kamailio core `is_myself(uri)`: true when the URI's host (and port, when given) is one of the
 * addresses siphon listens on or an alias of them.
 */
export function is_myself(uri: string): bool {
  encodeArg(uri);
  return env.is_myself(argPtrA, argLenA) > 0;
}

/** KEMI `KSR.is_myself_ruri()`, kamailio.cfg `uri == myself`: is_myself() applied to the R-URI. */
export function is_myself_ruri(): bool {
  const ruri = msg_get(Field.RURI);
  return ruri !== null && is_myself(ruri);
}

/**
 * Kamailio maxfwd `mf_process_maxfwd_header(limit)` (RFC 3261 §16.3 step 3, §16.6 step 3):
 * - 2: no Max-Forwards header, one was added with value `limit`;
 * - 1: the header was present and has been decremented;
 * - -1: the value was already 0 — answer `483 Too Many Hops`;
 * - -2: the header could not be parsed.
 * kamailio.cfg tests `if (!mf_process_maxfwd_header("10"))`; here write `< 0`.
 */
export function mf_process_maxfwd_header(limit: i32): i32 {
  return env.maxfwd_process(limit);
}

// =============================================================================================
// Headers
// =============================================================================================

/**
 * KEMI `KSR.hdr.get_idx(name, idx)`: value #idx of header `name` (case-insensitive, compact forms
 * accepted; comma-separated values count one each). Negative idx counts from the end (-1 = last).
 * null when there is no such value.
 */
export function hdr_get(name: string, idx: i32 = 0): string | null {
  encodeArg(name);
  let n = env.hdr_get(argPtrA, argLenA, idx, outPtr, outCap);
  if (n > outCap) {
    growOut(n);
    n = env.hdr_get(argPtrA, argLenA, idx, outPtr, outCap);
  }
  return n < 0 ? null : decodeOut(n);
}

/** Number of values of header `name` (0 when absent); negative status on error. */
export function hdr_count(name: string): i32 {
  encodeArg(name);
  return env.hdr_count(argPtrA, argLenA);
}

/** Kamailio textops `is_present_hf(name)`: true when the message has at least one such header. */
export function is_present_hf(name: string): bool {
  return hdr_count(name) > 0;
}

/**
 * Splits the encoded header line in the input buffer ("Name: value" with optional trailing CRLF)
 * into (argPtrA, argLenA) = name and (argPtrB, argLenB) = value, in place. false when there is no
 * ':' or the name is empty.
 */
function splitEncodedLine(): bool {
  const base = argPtrA;
  let end = argLenA;
  while (end > 0 && isLineSpace(load<u8>(base + <usize>(end - 1)))) end--;
  let colon = 0;
  while (colon < end && load<u8>(base + <usize>colon) != 0x3a /* : */) colon++;
  if (colon >= end) return false;
  let nameEnd = colon;
  while (nameEnd > 0 && isLineSpace(load<u8>(base + <usize>(nameEnd - 1)))) nameEnd--;
  let nameStart = 0;
  while (nameStart < nameEnd && isLineSpace(load<u8>(base + <usize>nameStart))) nameStart++;
  if (nameStart == nameEnd) return false;
  let valueStart = colon + 1;
  while (valueStart < end && isLineSpace(load<u8>(base + <usize>valueStart))) valueStart++;
  argPtrB = base + <usize>valueStart;
  argLenB = end - valueStart;
  argPtrA = base + <usize>nameStart;
  argLenA = nameEnd - nameStart;
  return true;
}

@inline function isLineSpace(c: u8): bool {
  return c == 0x20 || c == 0x09 || c == 0x0d || c == 0x0a;
}

/**
 * Kamailio textops `append_hf("X-Foo: bar\r\n")`: adds the header after the last header of the
 * message. The trailing CRLF is optional here. 1 ok, -1 failed (no ':' in the line, or refused).
 */
export function append_hf(line: string): i32 {
  encodeArg(line);
  if (!splitEncodedLine()) return -1;
  return env.hdr_add(argPtrA, argLenA, argPtrB, argLenB, 0) > 0 ? 1 : -1;
}

/** Kamailio textops `insert_hf("X-Foo: bar\r\n")`: adds the header before the first header. 1 ok, -1 failed. */
export function insert_hf(line: string): i32 {
  encodeArg(line);
  if (!splitEncodedLine()) return -1;
  return env.hdr_add(argPtrA, argLenA, argPtrB, argLenB, 1) > 0 ? 1 : -1;
}

/**
 * Kamailio textops `remove_hf(name)`: removes every header of that name. Returns how many values
 * were removed, or -1 when there was none (Kamailio: false when nothing was removed).
 */
export function remove_hf(name: string): i32 {
  encodeArg(name);
  const n = env.hdr_remove(argPtrA, argLenA, -1);
  return n > 0 ? n : -1;
}

// =============================================================================================
// Replies
// =============================================================================================

/**
 * Kamailio sl `sl_send_reply(code, reason)` (RFC 3261 §8.2.6): answers the request statelessly.
 * 1 sent, -1 failed. After a successful reply, `exit()` returns Action.REPLIED.
 */
export function sl_reply(code: i32, reason: string): i32 {
  encodeArg(reason);
  const r = env.sl_reply(code, argPtrA, argLenA);
  if (r > 0) {
    current.replied = true;
    return 1;
  }
  return -1;
}

/** Kamailio's own name for sl_reply(). */
export function sl_send_reply(code: i32, reason: string): i32 {
  return sl_reply(code, reason);
}

/**
 * Kamailio textops `append_to_reply("Name: value\r\n")`: a header for the reply this request will
 * get (sl_reply or the host's own). The trailing CRLF is optional. 1 ok, -1 failed.
 */
export function append_to_reply(line: string): i32 {
  encodeArg(line);
  let len = argLenA;
  while (len > 0 && isLineSpace(load<u8>(argPtrA + <usize>(len - 1)))) len--;
  if (len == 0) return -1;
  return env.reply_hdr_add(argPtrA, len) > 0 ? 1 : -1;
}

// =============================================================================================
// Logging
// =============================================================================================

/**
 * Kamailio xlog `xlog("L_INFO", "$rm from $si\n")`: logs `fmt` after the host expanded the
 * pseudo-variables in it. Nothing is encoded when the level is disabled. 1 logged (or filtered out).
 */
export function xlog(level: i32, fmt: string): i32 {
  if (env.log_enabled(level) == 0) return 1;
  encodeArg(fmt);
  return env.xlog(level, argPtrA, argLenA);
}

/** xlog at L_ALERT (Kamailio xalert). */
export function xalert(fmt: string): i32 { return xlog(L_ALERT, fmt); }
/** xlog at L_CRIT (Kamailio xcrit). */
export function xcrit(fmt: string): i32 { return xlog(L_CRIT, fmt); }
/** xlog at L_ERR (Kamailio xerr). */
export function xerr(fmt: string): i32 { return xlog(L_ERR, fmt); }
/** xlog at L_WARN (Kamailio xwarn). */
export function xwarn(fmt: string): i32 { return xlog(L_WARN, fmt); }
/** xlog at L_NOTICE (Kamailio xnotice). */
export function xnotice(fmt: string): i32 { return xlog(L_NOTICE, fmt); }
/** xlog at L_INFO (Kamailio xinfo). */
export function xinfo(fmt: string): i32 { return xlog(L_INFO, fmt); }
/** xlog at L_DBG (Kamailio xdbg). */
export function xdbg(fmt: string): i32 { return xlog(L_DBG, fmt); }

/** Kamailio core `log(level, text)` / KEMI `KSR.log`: logs the text as is (no $ expansion). */
export function log_text(level: i32, text: string): i32 {
  if (env.log_enabled(level) == 0) return 1;
  encodeArg(text);
  return env.log(level, argPtrA, argLenA);
}

/** True when a message at `level` would be printed; lets a plugin skip building costly log text. */
export function log_enabled(level: i32): bool {
  return env.log_enabled(level) != 0;
}

// =============================================================================================
// Host-side variables
// =============================================================================================

/**
 * Reads a host-side variable (Kamailio $var(name) for Scope.MSG, $shv(name) for Scope.GLOBAL).
 * null when unset. Stored in the host, so GLOBAL values survive instance replacement.
 */
export function var_get(name: string, scope: i32 = Scope.MSG): string | null {
  encodeArg(name);
  let n = env.var_get(scope, argPtrA, argLenA, outPtr, outCap);
  if (n > outCap) {
    growOut(n);
    n = env.var_get(scope, argPtrA, argLenA, outPtr, outCap);
  }
  return n < 0 ? null : decodeOut(n);
}

/** Sets a host-side variable. 1 ok, negative status on error (-5: over the host's size limits). */
export function var_set(name: string, value: string, scope: i32 = Scope.MSG): i32 {
  encodeArgs(name, value);
  const r = env.var_set(scope, argPtrA, argLenA, argPtrB, argLenB);
  return r < 0 ? r : 1;
}

/** Deletes a host-side variable (Kamailio `$var(x) = $null`). 1 ok, negative status on error. */
export function var_del(name: string, scope: i32 = Scope.MSG): i32 {
  encodeArg(name);
  const r = env.var_set(scope, argPtrA, argLenA, 0, -1);
  return r < 0 ? r : 1;
}

// =============================================================================================
// Config and misc
// =============================================================================================

let configCache: string | null = null;

/**
 * The plugin's config (`routing.config` of siphon.yaml, as JSON text); "" when none. Read once from
 * the host and cached: the config of a loaded plugin version never changes.
 */
export function cfg_read(): string {
  const cached = configCache;
  if (cached !== null) return cached;
  let n = env.cfg_read(0, outPtr, outCap);
  if (n > outCap) {
    growOut(n);
    n = env.cfg_read(0, outPtr, outCap);
  }
  const text = n < 0 ? "" : decodeOut(n);
  configCache = text;
  return text;
}

/** @internal used by exports.ts (plugin_init). */
export function readConfig(): string {
  return cfg_read();
}

/** Wall clock, milliseconds since the Unix epoch. */
export function now_ms(): i64 {
  return env.now_ms();
}

/** 32 random bits from the host (not Math.random: no seeding import needed). */
export function random_u32(): u32 {
  return <u32>env.random_u32();
}

// =============================================================================================
// Module namespaces (secfilter, dispatcher): Kamailio's secf_* and ds_* functions. Each answers
// -6 UNIMPLEMENTED when its module is not configured on the node (docs/abi/v1.md "Module namespaces").
// =============================================================================================

export * from "./secfilter";
export * from "./dispatcher";
// registrar (save/lookup/registered/unregister), Kamailio return codes; -6 without modules.registrar
export * from "./registrar";
// pike (pike_check_req/pike_check_ip), Kamailio return codes; -6 without modules.pike
export * from "./pike";
// auth (www_challenge/proxy_challenge/auth_challenge/has_credentials/consume_credentials, AUTH_* codes); -6 without modules.auth
export * from "./auth";
// auth_db (www_authorize/proxy_authorize/auth_check), Kamailio auth return codes; -6 without modules.auth_db
export * from "./auth_db";
// nathelper (nat_uac_test, fix_nated_contact/register, add_rcv_param, aliases, force_rport,
// is_rfc1918), Kamailio return codes; -6 without modules.nathelper
export * from "./nathelper";
// htable ($sht, $shtinc, $shtex, sht_rm*, iterators), Kamailio return codes; -6 without modules.htable
export * from "./htable";
// acc (acc_log_request, acc_db_request), Kamailio return codes; -6 without modules.acc
export * from "./acc";
// branch flags of branch 0 (setbflag/resetbflag/isbflagset) over $bf
export * from "./flags";
// dialog (dlg_manage, profiles, $dlg, $dlg_var, dlg_bye ...), ABI 1.2, Kamailio return codes; -6 without modules.dialog
export * from "./dialog";
// uac (uac_replace_from / uac_replace_to), ABI 1.3, Kamailio return codes; -6 without modules.uac
export * from "./uac";
// per-transaction message flags (setflag/resetflag/isflagset over $mf) and AVPs ($avp, $xavp), ABI 1.3
export * from "./avp";

// rtpengine (rtpengine_offer, rtpengine_answer, rtpengine_manage, rtpengine_delete), ABI 1.3, Kamailio return codes; -6 without modules.rtpengine
export * from "./rtpengine";
// ABI 1.3: editing messages (host/textops)
export * from "./textops";
export * from "./sdpops";
