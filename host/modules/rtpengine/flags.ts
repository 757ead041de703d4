/**
 * Kamailio rtpengine's flags string (`rtpengine_offer("trust-address replace-origin ICE=force")`)
 * turned into the ng dictionary keys rtpengine reads (rtpengine's ng protocol documentation, "offer"
 * message: flags, replace, ICE, DTLS, SDES, rtcp-mux, transport-protocol, direction, codec ...).
 *
 * Space-separated tokens, as Kamailio parses them:
 *   RTP/AVP, RTP/SAVP, RTP/AVPF, RTP/SAVPF, UDP/TLS/RTP/SAVP(F)  → transport-protocol
 *   replace-<what>            → replace: [<what>]             (replace-origin, replace-session-connection)
 *   rtcp-mux-<how>            → rtcp-mux: [<how>]             (offer, demux, accept, reject, require)
 *   SDES-<what>               → SDES: [<what>]                (SDES-off ...)
 *   codec-<op>-<codec>        → codec: { <op>: [<codec>] }    (strip, offer, transcode, mask, set, except)
 *   direction=<iface>         → direction: [...]              (twice: from, to)
 *   in-iface= / out-iface=    → direction: [in, out]          (Kamailio's spelling)
 *   via-branch=...            → ignored (Kamailio uses it to tell branches apart; one session per call here)
 *   <key>=<value>             → <key>: <value>                (ICE=force, DTLS=passive, address-family=IP4,
 *                                                              media-address=..., call-id=, from-tag=, to-tag= ...)
 *   <word>                    → flags: [<word>]               (trust-address, symmetric, port-latching ...)
 * `command` and `sdp` cannot be set from flags (the host sets them).
 */
import type { BDict, BValue } from './bencode.js';

/** longest flags string a plugin may pass (Kamailio has no limit; one line of flags is < 300 bytes). */
export const MAX_FLAGS_LENGTH = 1024;
/** tokens one flags string may hold. */
export const MAX_FLAG_TOKENS = 64;

const TRANSPORTS = new Set(['RTP/AVP', 'RTP/SAVP', 'RTP/AVPF', 'RTP/SAVPF', 'UDP/TLS/RTP/SAVP', 'UDP/TLS/RTP/SAVPF']);
const CODEC_OPS = ['strip', 'offer', 'transcode', 'mask', 'set', 'except', 'consume', 'accept'] as const;
const RESERVED = new Set(['command', 'sdp', '__proto__', 'constructor', 'prototype']);
const TOKEN = /^[A-Za-z0-9][A-Za-z0-9_./+:=@%*,;#~-]{0,199}$/;

/** What a flags string sets: the dictionary keys, or a reason it is refused. */
export type ParsedFlags = { ok: true; dict: BDict } | { ok: false; reason: string };

function pushTo(dict: BDict, key: string, v: string): void {
  const cur = dict[key];
  if (Array.isArray(cur)) cur.push(v);
  else dict[key] = [v];
}

/** Parses a Kamailio rtpengine flags string (bounded: MAX_FLAGS_LENGTH bytes, MAX_FLAG_TOKENS tokens). */
export function parseFlags(text: string): ParsedFlags {
  if (text.length > MAX_FLAGS_LENGTH) return { ok: false, reason: `flags longer than ${MAX_FLAGS_LENGTH}` };
  const dict: BDict = Object.create(null) as BDict;
  const tokens = text.split(/\s+/).filter((t) => t !== '');
  if (tokens.length > MAX_FLAG_TOKENS) return { ok: false, reason: `more than ${MAX_FLAG_TOKENS} flags` };
  for (const t of tokens) {
    if (!TOKEN.test(t)) return { ok: false, reason: `bad flag "${t.slice(0, 40)}"` };
    if (TRANSPORTS.has(t)) {
      dict['transport-protocol'] = t;
      continue;
    }
    const eq = t.indexOf('=');
    const key = eq < 0 ? t : t.slice(0, eq);
    const value = eq < 0 ? '' : t.slice(eq + 1);
    if (eq < 0) {
      if (key.startsWith('replace-')) pushTo(dict, 'replace', key.slice(8));
      else if (key.startsWith('rtcp-mux-')) pushTo(dict, 'rtcp-mux', key.slice(9));
      else if (key.startsWith('SDES-')) pushTo(dict, 'SDES', key.slice(5));
      else if (key.startsWith('codec-') && codecOp(dict, key)) continue;
      else pushTo(dict, 'flags', key);
      continue;
    }
    if (RESERVED.has(key)) return { ok: false, reason: `flag "${key}" is set by the host` };
    if (key === 'via-branch') continue;
    if (key === 'direction') pushTo(dict, 'direction', value);
    else if (key === 'in-iface') setDirection(dict, 0, value);
    else if (key === 'out-iface') setDirection(dict, 1, value);
    else if (key === 'transport-protocol' && !TRANSPORTS.has(value)) return { ok: false, reason: `unknown transport-protocol "${value.slice(0, 40)}"` };
    else dict[key] = value;
  }
  return { ok: true, dict };
}

/** `codec-<op>-<codec>`: false when <op> is not one rtpengine knows (the token is then a plain flag). */
function codecOp(dict: BDict, key: string): boolean {
  const rest = key.slice(6);
  const dash = rest.indexOf('-');
  if (dash <= 0 || dash === rest.length - 1) return false;
  const op = rest.slice(0, dash);
  if (!(CODEC_OPS as readonly string[]).includes(op)) return false;
  let codec = dict['codec'] as BDict | undefined;
  if (codec === undefined) dict['codec'] = codec = Object.create(null) as BDict;
  const list = (codec[op] ??= []) as BValue[];
  list.push(rest.slice(dash + 1));
  return true;
}

function setDirection(dict: BDict, i: 0 | 1, iface: string): void {
  const cur = Array.isArray(dict['direction']) ? (dict['direction'] as string[]) : ['', ''];
  while (cur.length < 2) cur.push('');
  cur[i] = iface;
  dict['direction'] = cur;
}
