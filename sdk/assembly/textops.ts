/**
 * Editing messages (ABI 1.3, namespace `textops`; Kamailio textops / textopsx names and return
 * codes, host/textops/README.md): the body (`get_body` = $rb, `set_body`, `remove_body`,
 * `has_body`, `set_reply_body`), searches and sed-like substitutions on headers, body and R-URI,
 * header removal by regular expression.
 *
 *   import { has_body, subst_body, subst_hf, remove_hf_re, t_relay, relay } from "../../../sdk/assembly";
 *   if (has_body("application/sdp")) subst_body("/^a=sendrecv$/a=sendonly/s");
 *   subst_hf("User-Agent", "/^.*$/siphon/", "f");
 *   remove_hf_re("^X-Internal-");
 *
 * Regular expressions are POSIX extended (`.` `[]` `[^]` `[:digit:]` `* + ? {m,n}` `|` groups
 * `^ $`, plus `\d \w \s`) and run on the host's linear engine: no pattern can backtrack, so
 * `(a*)*b` costs what `a*b` costs. The search family is case-insensitive with `^`/`$` at line
 * ends (as Kamailio compiles them). Substitutions are `/re/replacement/flags` with `\0`..`\9` in
 * the replacement and flags `g` (all matches), `i` (case-insensitive), `s` (line mode).
 *
 * Return codes: 1 found / done; -1 not found / nothing done; -2 a pattern or expression that does
 * not compile (or a result that is no header line); -3 string outside memory or longer than
 * value_max_bytes; -4 no message in this hook; -5 over a limit (body 65,535 bytes, the message's
 * edit budget msg_edit_max_bytes). remove_hf_re returns how many headers it removed.
 */
import { encodeArg, encodeArgs, argPtrA, argLenA, argPtrB, argLenB } from "./buffer";
import { msg_get } from "./index";
import { Field } from "./types";

// @ts-ignore: decorator
@external("textops", "search")
declare function raw_search(rp: usize, rl: i32): i32;
// @ts-ignore: decorator
@external("textops", "search_body")
declare function raw_search_body(rp: usize, rl: i32): i32;
// @ts-ignore: decorator
@external("textops", "search_hf")
declare function raw_search_hf(hp: usize, hl: i32, rp: usize, rl: i32, flags: i32): i32;
// @ts-ignore: decorator
@external("textops", "is_present_hf_re")
declare function raw_is_present_hf_re(rp: usize, rl: i32): i32;
// @ts-ignore: decorator
@external("textops", "remove_hf_re")
declare function raw_remove_hf_re(rp: usize, rl: i32): i32;
// @ts-ignore: decorator
@external("textops", "subst")
declare function raw_subst(ep: usize, el: i32): i32;
// @ts-ignore: decorator
@external("textops", "subst_hf")
declare function raw_subst_hf(hp: usize, hl: i32, ep: usize, el: i32, flags: i32): i32;
// @ts-ignore: decorator
@external("textops", "subst_body")
declare function raw_subst_body(ep: usize, el: i32): i32;
// @ts-ignore: decorator
@external("textops", "subst_uri")
declare function raw_subst_uri(ep: usize, el: i32): i32;
// @ts-ignore: decorator
@external("textops", "subst_user")
declare function raw_subst_user(ep: usize, el: i32): i32;
// @ts-ignore: decorator
@external("textops", "has_body")
declare function raw_has_body(tp: usize, tl: i32): i32;
// @ts-ignore: decorator
@external("textops", "set_body")
declare function raw_set_body(bp: usize, bl: i32, tp: usize, tl: i32): i32;
// @ts-ignore: decorator
@external("textops", "remove_body")
declare function raw_remove_body(): i32;
// @ts-ignore: decorator
@external("textops", "set_reply_body")
declare function raw_set_reply_body(bp: usize, bl: i32, tp: usize, tl: i32): i32;

/** "a" (every field, the default), "f" (the first), "l" (the last) → the ABI's 0, 1, 2; -1 for anything else. */
function whichFlag(flags: string): i32 {
  if (flags == "" || flags == "a") return 0;
  if (flags == "f") return 1;
  if (flags == "l") return 2;
  return -1;
}

/** `$rb`: the message body, or null when it has none. */
export function get_body(): string | null {
  return msg_get(Field.BODY);
}

/** Kamailio `has_body()` / `has_body(mime)`: 1 when the message has a body (of that `type/subtype`), else -1. */
export function has_body(mime: string = ""): i32 {
  encodeArg(mime);
  return raw_has_body(argPtrA, argLenA);
}

/** Kamailio `set_body(text, content_type)`: replaces the body; Content-Type set, Content-Length follows. 1, -2 bad type, -5 too large. */
export function set_body(text: string, contentType: string): i32 {
  encodeArgs(text, contentType);
  return raw_set_body(argPtrA, argLenA, argPtrB, argLenB);
}

/** Kamailio textopsx `remove_body()`: the body and its Content-Type go, Content-Length: 0. 1, or -1 when there was no body. */
export function remove_body(): i32 {
  return raw_remove_body();
}

/** Kamailio `set_reply_body(text, content_type)`: the body of the next reply sl_reply / t_reply sends. 1, -2, -5. */
export function set_reply_body(text: string, contentType: string): i32 {
  encodeArgs(text, contentType);
  return raw_set_reply_body(argPtrA, argLenA, argPtrB, argLenB);
}

/** Kamailio `search(re)`: 1 when the message (start line, headers, body) matches, else -1; -2 bad pattern. */
export function search(re: string): i32 {
  encodeArg(re);
  return raw_search(argPtrA, argLenA);
}

/** Kamailio `search_body(re)`: 1 when the body matches, else -1. */
export function search_body(re: string): i32 {
  encodeArg(re);
  return raw_search_body(argPtrA, argLenA);
}

/** Kamailio textopsx `search_hf(hf, re, flags)`: 1 when a value of header `hf` matches ("a" any, "f" the first, "l" the last). */
export function search_hf(hf: string, re: string, flags: string = "a"): i32 {
  const w = whichFlag(flags);
  if (w < 0) return -2;
  encodeArgs(hf, re);
  return raw_search_hf(argPtrA, argLenA, argPtrB, argLenB, w);
}

/** Kamailio `is_present_hf_re(re)`: 1 when a header's name matches, else -1. */
export function is_present_hf_re(re: string): i32 {
  encodeArg(re);
  return raw_is_present_hf_re(argPtrA, argLenA);
}

/** Kamailio `remove_hf_re(re)`: removes the headers whose name matches; how many, or -1 when none. */
export function remove_hf_re(re: string): i32 {
  encodeArg(re);
  return raw_remove_hf_re(argPtrA, argLenA);
}

/**
 * Kamailio `subst('/re/repl/flags')` on the header fields, each matched as its line "Name: value"
 * (a line replaced by nothing removes the header). 1 replaced, -1 no match, -2 bad expression or a
 * result that is no header line (the message is then unchanged).
 */
export function subst(expr: string): i32 {
  encodeArg(expr);
  return raw_subst(argPtrA, argLenA);
}

/** Kamailio textopsx `subst_hf(hf, '/re/repl/flags', flags)`: on the values of header `hf` ("a", "f", "l"). 1 / -1 / -2. */
export function subst_hf(hf: string, expr: string, flags: string = "a"): i32 {
  const w = whichFlag(flags);
  if (w < 0) return -2;
  encodeArgs(hf, expr);
  return raw_subst_hf(argPtrA, argLenA, argPtrB, argLenB, w);
}

/** Kamailio `subst_body('/re/repl/flags')`: on the body (use flag `s` for line anchors). 1 / -1 / -2 / -5. */
export function subst_body(expr: string): i32 {
  encodeArg(expr);
  return raw_subst_body(argPtrA, argLenA);
}

/** Kamailio `subst_uri('/re/repl/flags')`: on the R-URI. 1 / -1 / -2 (the result is no URI). */
export function subst_uri(expr: string): i32 {
  encodeArg(expr);
  return raw_subst_uri(argPtrA, argLenA);
}

/** Kamailio `subst_user('/re/repl/flags')`: on the R-URI's user part ('' when it has none). 1 / -1 / -2. */
export function subst_user(expr: string): i32 {
  encodeArg(expr);
  return raw_subst_user(argPtrA, argLenA);
}
