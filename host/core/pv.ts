/**
 * Kamailio pseudo-variables (the `pv` module's core set) evaluated against a MessageContext.
 *
 * Used by `sip.pv_get` / `sip.pv_set` and by `sip.xlog`, which expands a format string host-side the
 * way Kamailio's xlog does: `$rm from $si`, `$hdr(Name)`, `$var(x)`, `$(ci)`; a variable that is
 * unknown or has no value prints as `<null>`.
 *
 * Names are parsed once: a spec cache maps a name to its compiled form and a format cache maps a
 * format string to its segment list, so a plugin calling xlog with the same format per message
 * never reparses it. Both caches are process-wide and bounded in entries and in characters, and
 * only short keys are cached (cleared when full), so a plugin building names or formats dynamically
 * (or passing huge ones) cannot grow host memory: at most CACHE_LIMIT × (key max + its spec).
 */
import type { DialogPvSource, MessageContext } from './context.js';
import type { NameAddr, SipMessage } from '../sip/types.js';
import { parseDigestCredentials, type DigestCredentials } from '../sip/digest.js';
import { parseXavpArg, TxData } from './avp.js';

/** The variables we know. Values are stable only within this file. */
const enum Pv {
  RM, RU, RUSER, RHOST, RPORT, RSCHEME, DU, SI, SP, PR, RI, RP,
  FU, FUSER, FHOST, FNAME, FTAG, TU, TUSER, THOST, TNAME, TTAG,
  UA, CI, CS, CT, HDR, HDRC, VAR, RB, ML, RS, RR, TS, TV, SHV,
  AU, AD, AUW, AR, ADU, AA, ADN, ADC, ADR, ADO,
  BF,
  DLG, DLGVAR,
  MF, AVP, XAVP, CNT, ROUTE_URI,
  SHT,
}

/** id of `$shv(name)`: the plugin's GLOBAL variables, which the caller passes to evalSpec. */
export const PV_SHV: number = Pv.SHV;
/** id of `$var(name)`: the message's variables (ctx.vars); sip.pv_set budgets writes to it. */
export const PV_VAR: number = Pv.VAR;

const PV_BY_NAME: ReadonlyMap<string, Pv> = new Map<string, Pv>([
  ['rm', Pv.RM], ['ru', Pv.RU], ['rU', Pv.RUSER], ['rd', Pv.RHOST], ['rp', Pv.RPORT], ['rz', Pv.RSCHEME],
  ['du', Pv.DU], ['si', Pv.SI], ['sp', Pv.SP], ['pr', Pv.PR], ['proto', Pv.PR], ['Ri', Pv.RI], ['Rp', Pv.RP],
  ['fu', Pv.FU], ['fU', Pv.FUSER], ['fd', Pv.FHOST], ['fn', Pv.FNAME], ['ft', Pv.FTAG],
  ['tu', Pv.TU], ['tU', Pv.TUSER], ['td', Pv.THOST], ['tn', Pv.TNAME], ['tt', Pv.TTAG],
  ['ua', Pv.UA], ['ci', Pv.CI], ['cs', Pv.CS], ['ct', Pv.CT], ['hdr', Pv.HDR], ['hdrc', Pv.HDRC],
  ['var', Pv.VAR], ['rb', Pv.RB], ['ml', Pv.ML], ['rs', Pv.RS], ['rr', Pv.RR], ['Ts', Pv.TS], ['TV', Pv.TV],
  ['shv', Pv.SHV],
  // digest credentials (Kamailio pv_get_authattr)
  ['au', Pv.AU], ['ad', Pv.AD], ['aU', Pv.AUW], ['ar', Pv.AR], ['adu', Pv.ADU], ['aa', Pv.AA],
  ['adn', Pv.ADN], ['adc', Pv.ADC], ['adr', Pv.ADR], ['ado', Pv.ADO],
  ['bf', Pv.BF],
  // the dialog module's $dlg(attr) / $dlg_var(name) (MessageContext.dialog, host/modules/dialog)
  ['dlg', Pv.DLG], ['dlg_var', Pv.DLGVAR],
  // per-transaction message flags and AVPs (host/core/avp.ts); the Route loose_route consumed (rr)
  ['mf', Pv.MF], ['avp', Pv.AVP], ['xavp', Pv.XAVP], ['cnt', Pv.CNT], ['route_uri', Pv.ROUTE_URI],
  // the htable module's $sht(table=>key) (ModulePvs.sht, host/modules/htable)
  ['sht', Pv.SHT],
]);

/** variables that take a `(name)` argument. */
const NEEDS_ARG = new Set<Pv>([Pv.HDR, Pv.HDRC, Pv.VAR, Pv.TV, Pv.SHV, Pv.DLG, Pv.DLGVAR, Pv.AVP, Pv.XAVP, Pv.CNT, Pv.SHT]);

/**
 * Pseudo-variables that live in modules, not in the message (the plugin's import providers offer
 * them, host/wasm/types.ts ImportProvider.pv): the core evaluates the name, the module the value.
 */
export interface ModulePvs {
  /** `$sht(table=>key)`: the item as text (an integer in decimal), the table's initval when absent, null when neither or no such table. */
  sht?(table: string, key: string): string | null;
}

/** `$sht(table=>key)`: a table name as the htable config allows, then `=>`, then the key (it may hold variables: `$sht(ipban=>$si)`). */
const SHT_ARG = /^([A-Za-z0-9_]{1,64})=>([\s\S]+)$/;
/** most characters a `$sht` key expands to (a longer key is no key of any table: max_key_length is at most this). */
const SHT_KEY_MAX = 4096;

/** A compiled pseudo-variable: which one, and its argument (header name, var name, TV format). */
export interface PvSpec {
  readonly id: number;
  readonly arg: string | null;
  /** for $hdr/$hdrc: the canonical lower-case header key the argument names; for $sht: the key (a format when it holds variables). */
  readonly key: string | null;
  /** `$(avp(x)[n])`: n (0 = the value set last); -1 for `[*]`. Absent: 0. */
  readonly index?: number;
}

/** Printed for unknown variables and variables without a value (Kamailio xlog's null marker). */
export const PV_NULL_TEXT = '<null>';

const CACHE_LIMIT = 1024;
/** longest name / format kept in the caches (characters); longer ones are parsed every time. */
const SPEC_KEY_MAX = 256;
const FORMAT_KEY_MAX = 1024;
const specCache = new Map<string, PvSpec | null>();
const formatCache = new Map<string, ReadonlyArray<string | PvSpec>>();

/** RFC 3261 §7.3.3 compact forms (and the later RFCs' ones) → canonical long names. */
const COMPACT: Readonly<Record<string, string>> = {
  a: 'accept-contact', b: 'referred-by', c: 'content-type', d: 'request-disposition', e: 'content-encoding',
  f: 'from', i: 'call-id', j: 'reject-contact', k: 'supported', l: 'content-length', m: 'contact',
  n: 'identity-info', o: 'event', r: 'refer-to', s: 'subject', t: 'to', u: 'allow-events', v: 'via',
  x: 'session-expires', y: 'identity',
};

/** the HeaderField.key a header name (any case, compact or long) corresponds to. */
export function headerKey(name: string): string {
  const lower = name.toLowerCase();
  return lower.length === 1 ? (COMPACT[lower] ?? lower) : lower;
}

/**
 * Parses `rm`, `$rm`, `$(rm)`, `hdr(X-Foo)`, `$hdr(X-Foo)`, `$(hdr(X-Foo))` into a spec; null when
 * the name is not a variable we know.
 */
export function compilePv(name: string): PvSpec | null {
  const cached = specCache.get(name);
  if (cached !== undefined) return cached;
  const spec = parseSpec(name);
  if (name.length > SPEC_KEY_MAX) return spec;
  if (specCache.size >= CACHE_LIMIT) specCache.clear();
  specCache.set(name, spec);
  return spec;
}

function parseSpec(text: string): PvSpec | null {
  let s = text.trim();
  if (s.startsWith('$')) s = s.slice(1);
  if (s.startsWith('(') && s.endsWith(')')) s = s.slice(1, -1);
  // `avp(x)[n]` / `avp(x)[*]` (Kamailio's AVP index, inside `$( )`)
  let index: number | undefined;
  if (s.startsWith('avp(') && s.endsWith(']')) {
    const open = s.lastIndexOf('[');
    const idx = s.slice(open + 1, -1);
    if (open < 0 || !(idx === '*' || /^[0-9]{1,4}$/.test(idx))) return null;
    index = idx === '*' ? -1 : Number(idx);
    s = s.slice(0, open);
  }
  let base = s;
  let arg: string | null = null;
  const open = s.indexOf('(');
  if (open >= 0) {
    if (!s.endsWith(')')) return null;
    base = s.slice(0, open);
    arg = s.slice(open + 1, -1).trim();
  }
  const id = PV_BY_NAME.get(base);
  if (id === undefined) return null;
  if (NEEDS_ARG.has(id) !== (arg !== null) || arg === '') return null;
  if (index !== undefined && id !== Pv.AVP) return null;
  if (id === Pv.XAVP && parseXavpArg(arg!) === null) return null;
  if (id === Pv.CNT) {
    // $cnt($avp(x)) / $cnt($xavp(x)): the argument is the counted variable's name
    const xavp = /^\$?xavp\(([^()=[\]]+)\)$/.exec(arg!);
    if (xavp !== null) return { id, arg: xavp[1]!.trim(), key: 'xavp' };
    const inner = parseSpec(arg!);
    if (inner === null || (inner.id !== Pv.AVP && inner.id !== Pv.XAVP) || inner.index !== undefined) return null;
    return { id, arg: inner.arg, key: inner.id === Pv.AVP ? 'avp' : 'xavp' };
  }
  if (id === Pv.SHT) {
    // Kamailio $sht(htname=>key): the key is text with variables, expanded at each read
    const m = SHT_ARG.exec(arg!);
    return m === null ? null : { id, arg: m[1]!, key: m[2]! };
  }
  const key = id === Pv.HDR || id === Pv.HDRC ? headerKey(arg!) : null;
  return index === undefined ? { id, arg, key } : { id, arg, key, index };
}

// ---- URI pieces ------------------------------------------------------------------------------

/** offsets of the parts of a sip/sips/tel URI inside its text; -1 when a part is absent. */
interface UriSpans {
  schemeEnd: number; // index of ':'
  userStart: number;
  userEnd: number; // -1: no userinfo
  hostStart: number;
  hostEnd: number;
  portStart: number; // -1: no port (index after ':')
  portEnd: number;
}

/** Locates user, host and port in a URI (RFC 3261 §19.1.1); null when it has no scheme. */
function uriSpans(uri: string): UriSpans | null {
  const colon = uri.indexOf(':');
  if (colon <= 0) return null;
  const scheme = uri.slice(0, colon).toLowerCase();
  const start = colon + 1;
  if (scheme === 'tel') {
    // RFC 3966: the number is the "user"; there is no host.
    let end = uri.indexOf(';', start);
    if (end < 0) end = uri.length;
    return { schemeEnd: colon, userStart: start, userEnd: end, hostStart: end, hostEnd: end, portStart: -1, portEnd: -1 };
  }
  const at = uri.indexOf('@', start);
  let userEnd = -1;
  let hostStart = start;
  if (at >= 0) {
    const pw = uri.indexOf(':', start); // user:password@ — the user stops at the ':'
    userEnd = pw >= 0 && pw < at ? pw : at;
    hostStart = at + 1;
  }
  let i = hostStart;
  if (uri.charCodeAt(i) === 0x5b /* [ */) {
    const close = uri.indexOf(']', i);
    i = close < 0 ? uri.length : close + 1;
  }
  while (i < uri.length) {
    const c = uri.charCodeAt(i);
    if (c === 0x3a /* : */ || c === 0x3b /* ; */ || c === 0x3f /* ? */ || c === 0x3e /* > */) break;
    i++;
  }
  const hostEnd = i;
  let portStart = -1;
  let portEnd = -1;
  if (uri.charCodeAt(i) === 0x3a) {
    portStart = i + 1;
    portEnd = portStart;
    while (portEnd < uri.length && uri.charCodeAt(portEnd) >= 0x30 && uri.charCodeAt(portEnd) <= 0x39) portEnd++;
  }
  return { schemeEnd: colon, userStart: start, userEnd, hostStart, hostEnd, portStart, portEnd };
}

/** user part of a URI, or null. */
export function uriUser(uri: string): string | null {
  const s = uriSpans(uri);
  return s && s.userEnd >= 0 ? uri.slice(s.userStart, s.userEnd) : null;
}

/** host part of a URI, or null. */
export function uriHost(uri: string): string | null {
  const s = uriSpans(uri);
  return s && s.hostEnd > s.hostStart ? uri.slice(s.hostStart, s.hostEnd) : null;
}

/** port of a URI, or undefined when it has none. */
export function uriPort(uri: string): number | undefined {
  const s = uriSpans(uri);
  return s && s.portStart >= 0 && s.portEnd > s.portStart ? Number(uri.slice(s.portStart, s.portEnd)) : undefined;
}

/** Replaces the user (null/'' removes it, with its '@'), host or port (null/'' removes it) of a URI. */
function rewriteUri(uri: string, part: 'user' | 'host' | 'port', value: string): string | null {
  const s = uriSpans(uri);
  if (!s) return null;
  if (part === 'user') {
    if (s.userEnd >= 0) {
      // keep ":password" if present; drop the whole userinfo when the new user is empty
      if (value === '') return uri.slice(0, s.userStart) + uri.slice(s.hostStart);
      return uri.slice(0, s.userStart) + value + uri.slice(s.userEnd);
    }
    return value === '' ? uri : uri.slice(0, s.userStart) + value + '@' + uri.slice(s.userStart);
  }
  if (part === 'host') {
    if (value === '') return null;
    return uri.slice(0, s.hostStart) + value + uri.slice(s.hostEnd);
  }
  if (value !== '' && !/^\d{1,5}$/.test(value)) return null;
  if (s.portStart >= 0) {
    return value === '' ? uri.slice(0, s.hostEnd) + uri.slice(s.portEnd) : uri.slice(0, s.portStart) + value + uri.slice(s.portEnd);
  }
  return value === '' ? uri : uri.slice(0, s.hostEnd) + ':' + value + uri.slice(s.hostEnd);
}

// ---- evaluation ------------------------------------------------------------------------------

/** full value of the first header field with that key (Kamailio $hdr: the whole body, commas included). */
function firstField(msg: SipMessage, key: string): string | null {
  const fields = msg.fields();
  for (let i = 0; i < fields.length; i++) if (fields[i].key === key) return fields[i].value;
  return null;
}

function countFields(msg: SipMessage, key: string): number {
  const fields = msg.fields();
  let n = 0;
  for (let i = 0; i < fields.length; i++) if (fields[i].key === key) n++;
  return n;
}

function nameAddrPart(na: NameAddr | undefined, part: Pv): string | null {
  if (!na) return null;
  switch (part) {
    case Pv.FU: case Pv.TU: return na.uri;
    case Pv.FUSER: case Pv.TUSER: return uriUser(na.uri);
    case Pv.FHOST: case Pv.THOST: return uriHost(na.uri);
    case Pv.FNAME: case Pv.TNAME: return na.displayName || null; // an empty display name is absent
    default: return na.tag ?? null;
  }
}

/**
 * The credentials `$au $ad $aU $ar $adu $aa $adn $adc $adr $ado` read: those the auth functions
 * chose (ctx.auth, the header matching their realm), else, as Kamailio's pv_get_authattr, the first
 * Proxy-Authorization or, without one, the first Authorization. None for ACK and CANCEL.
 */
function credentialsOf(ctx: MessageContext): DigestCredentials | null {
  if (ctx.auth?.cred) return ctx.auth.cred;
  const msg = ctx.msg;
  if (msg.kind !== 'request' || msg.method === 'ACK' || msg.method === 'CANCEL') return null;
  const proxy = firstField(msg, 'proxy-authorization');
  if (proxy !== null) return parseDigestCredentials(proxy, 'proxy');
  const www = firstField(msg, 'authorization');
  return www === null ? null : parseDigestCredentials(www, 'www');
}

function authPart(ctx: MessageContext, part: Pv): string | null {
  const c = credentialsOf(ctx);
  if (c === null) return null;
  switch (part) {
    case Pv.AU: return c.user;
    case Pv.AD: return c.domain;
    case Pv.AUW: return c.username;
    case Pv.AR: return c.realm;
    case Pv.ADU: return c.uri || null;
    case Pv.AA: return c.algorithmText;
    case Pv.ADN: return c.nonce;
    case Pv.ADC: return c.cnonce;
    case Pv.ADR: return c.response;
    default: return c.opaque;
  }
}

/** wall clock in microseconds (for $TV(u) and $TV(sn)). */
function nowMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

/**
 * Evaluates a compiled spec; null when the variable has no value. Without a context (plugin_init)
 * only the clock and `$shv` have values. `globals` backs `$shv(name)` (Kamailio's shared variables,
 * here the plugin's GLOBAL scope); without it `$shv` is null.
 */
export function evalSpec(spec: PvSpec, ctx: MessageContext | null, globals?: ReadonlyMap<string, string>, modules?: ModulePvs): string | null {
  switch (spec.id as Pv) {
    case Pv.SHV: return globals?.get(spec.arg!) ?? null;
    case Pv.SHT: {
      // without the htable module (or outside a plugin) $sht has no value, as an unknown variable
      if (modules?.sht === undefined) return null;
      const k = spec.key!;
      const key = k.indexOf('$') < 0 ? k : expandFormat(k, ctx, globals, SHT_KEY_MAX, modules);
      return modules.sht(spec.arg!, key);
    }
    case Pv.TS: return String(Math.floor(Date.now() / 1000));
    case Pv.TV: return timeValue(spec.arg!);
    default: break;
  }
  if (ctx === null) return null;
  const msg = ctx.msg;
  const isRequest = msg.kind === 'request';
  switch (spec.id as Pv) {
    case Pv.RM: return msg.method;
    case Pv.RU: return isRequest ? msg.requestUri : null;
    case Pv.RUSER: return isRequest ? (msg.uri?.user ?? null) : null;
    case Pv.RHOST: return isRequest ? (msg.uri?.host ?? null) : null;
    // Kamailio's $rp gives 5060 when the R-URI carries no port.
    case Pv.RPORT: return isRequest && msg.uri ? String(msg.uri.port ?? 5060) : null;
    case Pv.RSCHEME: return isRequest ? (msg.uri?.scheme ?? null) : null;
    case Pv.DU: return ctx.dstUri;
    case Pv.SI: return ctx.source.address;
    case Pv.SP: return String(ctx.source.port);
    case Pv.PR: return ctx.source.proto;
    case Pv.RI: return ctx.local.address;
    case Pv.RP: return String(ctx.local.port);
    case Pv.FU: case Pv.FUSER: case Pv.FHOST: case Pv.FNAME: case Pv.FTAG:
      return nameAddrPart(msg.from, spec.id as Pv);
    case Pv.TU: return nameAddrPart(msg.to, Pv.FU);
    case Pv.TUSER: return nameAddrPart(msg.to, Pv.FUSER);
    case Pv.THOST: return nameAddrPart(msg.to, Pv.FHOST);
    case Pv.TNAME: return nameAddrPart(msg.to, Pv.FNAME);
    case Pv.TTAG: return nameAddrPart(msg.to, Pv.FTAG);
    case Pv.UA: return firstField(msg, 'user-agent');
    case Pv.CI: return msg.callId || null;
    case Pv.CS: return msg.cseq ? String(msg.cseq.seq) : null;
    case Pv.CT: return firstField(msg, 'contact');
    case Pv.HDR: return firstField(msg, spec.key!);
    case Pv.HDRC: return String(countFields(msg, spec.key!));
    case Pv.VAR: return ctx.vars.get(spec.arg!) ?? null;
    case Pv.RB: return msg.body.length > 0 ? msg.body.toString('utf8') : null;
    case Pv.ML: return String(msg.raw.length);
    case Pv.RS: return isRequest ? null : String(msg.status);
    case Pv.RR: return isRequest ? null : msg.reason;
    case Pv.AU: case Pv.AD: case Pv.AUW: case Pv.AR: case Pv.ADU: case Pv.AA:
    case Pv.ADN: case Pv.ADC: case Pv.ADR: case Pv.ADO:
      return authPart(ctx, spec.id as Pv);
    // Kamailio $bf: the branch flags of branch 0, decimal (setbflag/isbflagset in the SDK)
    case Pv.BF: return String((ctx.bflags ?? 0) >>> 0);
    case Pv.DLG: return dialogOf(ctx)?.pvField(spec.arg!) ?? null;
    case Pv.DLGVAR: return dialogOf(ctx)?.pvVar(spec.arg!) ?? null;
    case Pv.MF: return String((ctx.tx?.mflags ?? 0) >>> 0);
    case Pv.AVP: return spec.index === -1 ? null : ctx.tx?.avpGet(spec.arg!, spec.index ?? 0) ?? null;
    case Pv.XAVP: {
      const x = parseXavpArg(spec.arg!)!;
      return ctx.tx?.xavpGet(x.name, x.index ?? 0, x.key) ?? null;
    }
    case Pv.CNT: return String(spec.key === 'avp' ? ctx.tx?.avpCount(spec.arg!) ?? 0 : ctx.tx?.xavpCount(spec.arg!) ?? 0);
    // Kamailio rr $route_uri: the URI of the Route header loose_route() processed
    case Pv.ROUTE_URI: return ctx.rr?.routeUri ?? null;
    default: return null;
  }
}

/** the dialog a request belongs to (dlg_manage / in-dialog matching), null without the dialog module. */
function dialogOf(ctx: MessageContext): DialogPvSource | null {
  const d = ctx.dialog as Partial<DialogPvSource> | undefined;
  return d !== undefined && d !== null && typeof d.pvField === 'function' ? (d as DialogPvSource) : null;
}

/** Kamailio $TV(s) seconds, $TV(u) microseconds part, $TV(sn)/$TV(Sn) "sec.usec", $TV(Sm) ms. */
function timeValue(fmt: string): string | null {
  const us = nowMicros();
  const sec = Math.floor(us / 1e6);
  const micro = us % 1e6;
  switch (fmt) {
    case 's': return String(sec);
    case 'u': return String(micro);
    case 'sn': case 'Sn': return `${sec}.${String(micro).padStart(6, '0')}`;
    case 'Sm': return String(Math.floor(us / 1000));
    default: return null;
  }
}

/** `evalPv('$rU', ctx)`: the value of a pseudo-variable, or null (unknown name or no value). */
export function evalPv(name: string, ctx: MessageContext): string | null {
  const spec = compilePv(name);
  return spec ? evalSpec(spec, ctx) : null;
}

/** setPv results (the ABI status codes of sip.pv_set). */
export const PV_SET_OK = 0;
export const PV_SET_BAD_VALUE = -2;
export const PV_SET_READ_ONLY = -4;
export const PV_SET_UNSUPPORTED = -6;
export const PV_SET_LIMIT = -5;

/**
 * Assigns a writable pseudo-variable: `$ru $rU $rd $rp $du $var(x) $bf $mf $avp(x) $(avp(x)[*])
 * $xavp(x=>k) $xavp(x[0]=>k)`. An empty value unsets `$du` and removes the user or port of the R-URI
 * (Kamailio: assigning $null), and deletes the AVP when assigned to `$(avp(x)[*])`. Returns 0, -2
 * (bad value), -4 (read-only variable, or an R-URI part on a reply), -5 (the transaction's AVP
 * store is full, host/core/avp.ts) or -6 (unknown variable).
 */
export function setPv(name: string, value: string, ctx: MessageContext): number {
  const spec = compilePv(name);
  if (!spec) return PV_SET_UNSUPPORTED;
  const msg = ctx.msg;
  switch (spec.id as Pv) {
    case Pv.VAR:
      ctx.vars.set(spec.arg!, value);
      return PV_SET_OK;
    case Pv.DU:
      ctx.dstUri = value === '' ? null : value;
      return PV_SET_OK;
    case Pv.RU:
      if (msg.kind !== 'request') return PV_SET_READ_ONLY;
      if (uriSpans(value) === null) return PV_SET_BAD_VALUE;
      return trySetRuri(msg, value);
    case Pv.RUSER: case Pv.RHOST: case Pv.RPORT: {
      if (msg.kind !== 'request') return PV_SET_READ_ONLY;
      const part = spec.id === Pv.RUSER ? 'user' : spec.id === Pv.RHOST ? 'host' : 'port';
      const next = rewriteUri(msg.requestUri, part, value);
      return next === null ? PV_SET_BAD_VALUE : trySetRuri(msg, next);
    }
    case Pv.BF: {
      // 0 .. 2^32-1 in decimal; the registrar stores them as the contacts' cflags (Kamailio save)
      if (!/^[0-9]{1,10}$/.test(value) || Number(value) > 0xffffffff) return PV_SET_BAD_VALUE;
      ctx.bflags = Number(value) >>> 0;
      return PV_SET_OK;
    }
    case Pv.MF: {
      // Kamailio $mf: the message flags, kept in the transaction (setflag/isflagset in the SDK)
      if (!/^[0-9]{1,10}$/.test(value) || Number(value) > 0xffffffff) return PV_SET_BAD_VALUE;
      txOf(ctx).mflags = Number(value) >>> 0;
      return PV_SET_OK;
    }
    case Pv.AVP:
      return spec.index === -1 ? txOf(ctx).avpReplaceAll(spec.arg!, value) : spec.index ? PV_SET_BAD_VALUE : txOf(ctx).avpPush(spec.arg!, value);
    case Pv.XAVP: {
      const x = parseXavpArg(spec.arg!)!;
      return txOf(ctx).xavpSet(x.name, x.index, x.key, value);
    }
    case Pv.SHV:
      return PV_SET_UNSUPPORTED; // needs the plugin's GLOBAL store: sip.pv_set handles it
    default:
      return PV_SET_READ_ONLY;
  }
}

/** the context's transaction data, created on first use (host/core/avp.ts). */
export function txOf(ctx: MessageContext): TxData {
  return (ctx.tx ??= new TxData());
}

/** AVP, XAVP and `$mf` writes: not message edits (no msg_edit_max_bytes), bounded by the store. */
export function isTxPv(spec: PvSpec): boolean {
  return spec.id === Pv.AVP || spec.id === Pv.XAVP || spec.id === Pv.MF;
}

function trySetRuri(msg: SipMessage, uri: string): number {
  try {
    msg.setRequestUri(uri);
    return PV_SET_OK;
  } catch {
    return PV_SET_BAD_VALUE; // the message layer refused the URI (SIP_BAD_URI)
  }
}

// ---- xlog formats ----------------------------------------------------------------------------

/** Splits a format into literal text and compiled variables; cached per format text. */
export function compileFormat(fmt: string): ReadonlyArray<string | PvSpec> {
  const cached = formatCache.get(fmt);
  if (cached !== undefined) return cached;
  const out: Array<string | PvSpec> = [];
  const close = matchParens(fmt);
  let lit = '';
  let i = 0;
  while (i < fmt.length) {
    const c = fmt.charCodeAt(i);
    if (c !== 0x24 /* $ */ || i + 1 >= fmt.length) {
      lit += fmt[i++];
      continue;
    }
    const end = pvEnd(fmt, i + 1, close);
    if (end < 0) {
      lit += fmt[i++];
      continue;
    }
    if (lit) out.push(lit);
    lit = '';
    const text = fmt.slice(i, end);
    // an unknown name still becomes a segment so it prints <null>, like Kamailio's xlog
    out.push(compilePv(text) ?? { id: -1, arg: text, key: null });
    i = end;
  }
  if (lit) out.push(lit);
  if (fmt.length > FORMAT_KEY_MAX) return out;
  if (formatCache.size >= CACHE_LIMIT) formatCache.clear();
  formatCache.set(fmt, out);
  return out;
}

const isNameChar = (c: number): boolean =>
  (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f;

/** end index (exclusive) of the variable starting after '$' at `i`, or -1 when none starts there. */
function pvEnd(fmt: string, i: number, close: Int32Array | null): number {
  if (fmt.charCodeAt(i) === 0x28 /* ( */) return close ? close[i] : -1;
  if (!isNameChar(fmt.charCodeAt(i))) return -1;
  let j = i;
  while (j < fmt.length && isNameChar(fmt.charCodeAt(j))) j++;
  if (fmt.charCodeAt(j) === 0x28) {
    const end = close ? close[j] : -1;
    return end < 0 ? j : end;
  }
  return j;
}

/**
 * For every '(' the index after its matching ')' (-1 when unmatched), in one pass with a stack, so
 * a format of many unclosed `$(` costs O(n), not O(n²) rescans; null when there is no '('.
 */
function matchParens(fmt: string): Int32Array | null {
  if (fmt.indexOf('(') < 0) return null;
  const close = new Int32Array(fmt.length).fill(-1);
  const open: number[] = [];
  for (let j = 0; j < fmt.length; j++) {
    const c = fmt.charCodeAt(j);
    if (c === 0x28) open.push(j);
    else if (c === 0x29 && open.length > 0) close[open.pop()!] = j + 1;
  }
  return close;
}

/**
 * Kamailio xlog expansion: each variable replaced by its value, `<null>` when unknown or unset.
 * `globals` backs `$shv(name)`, `modules` the modules' variables (`$sht`). The result is cut at `max`
 * characters (Kamailio xlog's buf_size): expansion stops there, so a format repeating `$hdr(X)`
 * cannot build a huge string.
 */
export function expandFormat(fmt: string, ctx: MessageContext | null, globals?: ReadonlyMap<string, string>, max = Infinity, modules?: ModulePvs): string {
  const segs = compileFormat(fmt);
  let out = '';
  for (let i = 0; i < segs.length && out.length < max; i++) {
    const s = segs[i];
    if (typeof s === 'string') out += s;
    else out += (s.id >= 0 ? evalSpec(s, ctx, globals, modules) : null) ?? PV_NULL_TEXT;
  }
  return out.length > max ? out.slice(0, max) : out;
}
