/**
 * Record-routing (Kamailio rr module, kamailio.md §4.3; RFC 3261 §16.6 step 4, §16.4, §16.12).
 *
 * record_route(): inserts `Record-Route: <sip:ip:port;lr;ftag=<From tag>>` above any existing
 * Record-Route, so both ends put this proxy in their route set (`;transport=tcp` when the request
 * came over TCP; `lr` because siphon is a loose router; `ftag` as Kamailio's append_fromtag).
 *
 * loose_route(): processes the Route set of a request, with Kamailio's return codes:
 *   1  routed: the next hop is set ($du for a loose next hop, or the R-URI rewritten for a strict one)
 *  -1  nothing to do: no Route header, or the only Route was ours on an out-of-dialog request
 *  -3  the first Route is not ours and the request is out of dialog (a preloaded route): $du set
 * Steps (§16.4): if the R-URI is ours, the previous hop was a strict router: the R-URI becomes the
 * last Route value, which is removed. Then a top Route naming us is removed. If the next Route has
 * `lr`, it becomes $du; if not, the next hop is a strict router (§16.6 step 6 / §16.12): the R-URI is
 * appended as the last Route, and the R-URI becomes that Route's URI.
 *
 * Route parameters (Kamailio rr add_rr_param / check_route_param / is_direction / $route_uri):
 * add_rr_param(";p=v") puts parameters into our Record-Route URI (before or after record_route(),
 * as Kamailio's lumps do); loose_route() keeps the URI and parameters of our Route it consumed, which
 * check_route_param() matches (a linear regex engine) and is_direction() reads (`ftag`: RFC 3261 §12.2.1.1, the caller's
 * From tag; a request whose From tag is that tag goes downstream, one carrying it as To tag upstream).
 */
import type { Endpoint, MessageContext } from '../core/context.js';
import type { SipMessage, SipUri } from '../sip/types.js';
import { parseNameAddr, parseUri } from '../sip/parser.js';
import { compile, RegexError, test, type Meter, type PatternCache, type Program } from '../core/regex/index.js';

export type IsMyself = (host: string, port: number | undefined) => boolean;

/** MessageContext.rr: record-routing state of one request. */
export interface RrState {
  /** record_route() inserted our Record-Route (its value is `inserted`). */
  inserted: string | null;
  /** add_rr_param() parameters (`;a=b;c`), placed into our Record-Route URI. */
  params: string;
  /** the URI of our Route that loose_route() consumed ($route_uri); null when none. */
  routeUri: string | null;
  /** that Route's URI parameters as `;name=value` text (check_route_param), '' when none. */
  routeParams: string;
  /** its `ftag` (is_direction); null when absent. */
  routeFtag: string | null;
}

function rrOf(ctx: MessageContext): RrState {
  return (ctx.rr ??= { inserted: null, params: '', routeUri: null, routeParams: '', routeFtag: null });
}

/** add_rr_param(): the parameters' longest total length (Kamailio: the RR header's lump, BUF_SIZE). */
export const RR_PARAMS_MAX = 2048;
/** `;name[=value]` pairs of URI parameter characters (RFC 3261 §25.1 uri-parameter; no `>`, `,`, CR/LF). */
const RR_PARAM_SYNTAX = /^(;[A-Za-z0-9\-_.!~*'()[\]/:&+$%]+(=[A-Za-z0-9\-_.!~*'()[\]/:&+$%]*)?)+$/;

/** Kamailio loose_route() results. */
export const LR_ROUTED = 1;
export const LR_NO_ROUTE = -1;
export const LR_PRELOADED = -3;

function hostForUri(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/** The Record-Route value record_route() inserts for a request received on `ctx.local` (with add_rr_param's parameters). */
export function recordRouteValue(ctx: MessageContext): string {
  return `<${recordRouteUri(ctx.local, ctx.msg.from?.tag, false)}${ctx.rr?.params ?? ''}>`;
}

/** our Record-Route URI for the socket `local`; `r2` marks one of a double Record-Route. */
function recordRouteUri(local: Endpoint, ftag: string | undefined, r2: boolean): string {
  let uri = `sip:${hostForUri(local.address)}:${local.port}`;
  if (local.proto !== 'udp') uri += `;transport=${local.proto}`; // Kamailio: transport=tls, not a sips: URI
  if (r2) uri += ';r2=on';
  uri += ';lr';
  if (ftag !== undefined && ftag.length > 0) uri += `;ftag=${ftag}`;
  return uri;
}

/**
 * Kamailio's double Record-Route (enable_double_rr, on by default): a request that record_route()
 * marked and that leaves on another socket than it came in on (another transport, address or port:
 * a WebSocket browser calling a UDP phone, TLS to UDP) gets two Record-Route entries, the outgoing
 * socket's above the incoming one's, both with `r2=on`. Each side of the dialog then reaches us on
 * its own transport (RFC 3261 §16.6 step 4 allows a proxy to record-route more than once), and
 * loose_route() removes both. Returns true when it changed `msg`.
 */
export function doubleRecordRoute(msg: SipMessage, inbound: Endpoint, outbound: Endpoint): boolean {
  if (inbound.proto === outbound.proto && inbound.address === outbound.address && inbound.port === outbound.port) return false;
  const ftag = msg.from?.tag;
  const extra = ourRecordRouteParams(msg.headerValues('record-route')[0], inbound, ftag);
  if (extra === null) return false;
  msg.removeHeader('record-route', 0);
  msg.addHeader('Record-Route', `<${recordRouteUri(inbound, ftag, true)}${extra}>`, 'first');
  msg.addHeader('Record-Route', `<${recordRouteUri(outbound, ftag, true)}${extra}>`, 'first');
  return true;
}

/** the add_rr_param() text of `top` when it is the Record-Route record_route() made on `inbound`; null when not ours. */
function ourRecordRouteParams(top: string | undefined, inbound: Endpoint, ftag: string | undefined): string | null {
  if (top === undefined) return null;
  const prefix = `<${recordRouteUri(inbound, ftag, false)}`;
  if (!top.startsWith(prefix) || !top.endsWith('>')) return null;
  const extra = top.slice(prefix.length, -1);
  return extra === '' || RR_PARAM_SYNTAX.test(extra) ? extra : null;
}

/** the Record-Route the request would need doubled when sent from `outbound` (cheap test before copying it). */
export function needsDoubleRecordRoute(msg: SipMessage, inbound: Endpoint, outbound: Endpoint): boolean {
  if (inbound.proto === outbound.proto && inbound.address === outbound.address && inbound.port === outbound.port) return false;
  return ourRecordRouteParams(msg.headerValues('record-route')[0], inbound, msg.from?.tag) !== null;
}

/** Kamailio record_route(): 1 inserted, -1 failed (not a request, or the header was refused). */
export function recordRoute(ctx: MessageContext): number {
  const msg = ctx.msg;
  if (msg.kind !== 'request' || msg.method === 'ACK' || msg.method === 'CANCEL') return -1;
  try {
    const value = recordRouteValue(ctx);
    msg.addHeader('Record-Route', value, 'first');
    rrOf(ctx).inserted = value;
    return 1;
  } catch {
    return -1;
  }
}

/**
 * Kamailio add_rr_param(";p=v"): parameters for our Record-Route URI, before or after record_route()
 * (then the header it inserted is rewritten). 1 added; -1 not a request, bad syntax (`;name[=value]`
 * of URI parameter characters), over RR_PARAMS_MAX in total, or our header is gone.
 */
export function addRrParam(ctx: MessageContext, param: string): number {
  const msg = ctx.msg;
  if (msg.kind !== 'request' || !RR_PARAM_SYNTAX.test(param)) return -1;
  const rr = rrOf(ctx);
  if (rr.params.length + param.length > RR_PARAMS_MAX) return -1;
  if (rr.inserted !== null) {
    const values = msg.headerValues('record-route');
    const at = values.indexOf(rr.inserted);
    if (at < 0) return -1;
    const value = `${rr.inserted.slice(0, -1)}${param}>`;
    msg.removeHeader('record-route', at);
    // our header goes back on top (record_route() inserted it first; branch copies are made later)
    msg.addHeader('Record-Route', value, 'first');
    rr.inserted = value;
  }
  rr.params += param;
  return 1;
}

/**
 * Kamailio check_route_param(re): 1 when the parameters of the Route loose_route() consumed match the
 * POSIX ERE `re` (case-insensitive, as Kamailio compiles it), -1 not (or no such Route), -2 `re`
 * does not compile. The match runs on the linear engine (host/core/regex: a Pike VM, never
 * backtracking); `cache` keeps compiled patterns, `meter` is charged its steps.
 */
export function checkRouteParam(ctx: MessageContext, pattern: string, cache?: PatternCache<Program>, meter?: Meter): number {
  let prog: Program | RegexError;
  if (cache !== undefined) prog = cache.get(pattern);
  else {
    try {
      prog = compileRouteParamPattern(pattern);
    } catch (e) {
      if (!(e instanceof RegexError)) throw e;
      prog = e;
    }
  }
  if (prog instanceof RegexError) return -2;
  const rr = ctx.rr;
  if (rr === undefined || rr.routeUri === null) return -1;
  return test(prog, rr.routeParams, meter) ? 1 : -1;
}

/** check_route_param's compilation (Kamailio: REG_EXTENDED | REG_ICASE). */
export function compileRouteParamPattern(pattern: string): Program {
  return compile(pattern, { icase: true });
}

/**
 * Kamailio is_direction("downstream" | "upstream") after loose_route(): downstream when the
 * request's From tag is the `ftag` of our Route (the caller sends it), upstream otherwise. 1 the
 * direction holds, -1 not or unknown (no Route of ours, no ftag), -2 another direction name.
 */
export function isDirection(ctx: MessageContext, dir: string): number {
  if (dir !== 'downstream' && dir !== 'upstream') return -2;
  const down = directionIsDownstream(ctx);
  if (down === null) return -1;
  return down === (dir === 'downstream') ? 1 : -1;
}

/** true downstream, false upstream, null unknown (see isDirection). */
export function directionIsDownstream(ctx: MessageContext): boolean | null {
  const ftag = ctx.rr?.routeFtag ?? null;
  if (ftag === null) return null;
  return ctx.msg.from?.tag === ftag;
}

/** the URI of a Route value (`<sip:...;lr>` or a bare URI), parsed; null when unparsable. */
export function routeUri(value: string): SipUri | null {
  const na = parseNameAddr(value);
  return na === null ? null : parseUri(na.uri);
}

function routeUriText(value: string): string | null {
  const na = parseNameAddr(value);
  return na === null ? null : na.uri;
}

function isLooseRouter(uri: SipUri): boolean {
  for (const [name] of uri.params) if (name === 'lr') return true;
  return false;
}

function isOurs(uri: SipUri | null, isMyself: IsMyself): boolean {
  return uri !== null && uri.scheme !== 'tel' && isMyself(uri.host, uri.port);
}

/** Kamailio loose_route() (see the file comment for the steps and codes). */
export function looseRoute(ctx: MessageContext, isMyself: IsMyself): number {
  const msg = ctx.msg;
  if (msg.kind !== 'request') return LR_NO_ROUTE;
  let routes = msg.headerValues('route');
  if (routes.length === 0) return LR_NO_ROUTE;
  const inDialog = msg.to?.tag !== undefined && msg.to.tag.length > 0;

  // §16.4: the previous hop was a strict router: it put our Record-Route URI into the R-URI
  const ruri = msg.uri;
  if (ruri !== undefined && ruri.scheme !== 'tel' && isMyself(ruri.host, ruri.port)) {
    const last = routeUriText(routes[routes.length - 1]!);
    if (last === null) return LR_NO_ROUTE;
    msg.setRequestUri(last);
    msg.removeHeader('route', routes.length - 1);
    routes = msg.headerValues('route');
    if (routes.length === 0) return LR_ROUTED; // the R-URI is now the destination
  }

  const first = routeUri(routes[0]!);
  if (first === null) return LR_NO_ROUTE;
  if (!isOurs(first, isMyself)) {
    // a Route that is not ours on top: preloaded (out of dialog), or a loose route set we follow
    ctx.dstUri = isLooseRouter(first) ? first.raw : null;
    if (!isLooseRouter(first)) strictNextHop(ctx, routes[0]!);
    return inDialog ? LR_ROUTED : LR_PRELOADED;
  }
  // our own Route: remove it (§16.4); with r2=on (double Record-Route) our second one goes too
  noteRoute(ctx, first);
  msg.removeHeader('route', 0);
  routes = msg.headerValues('route');
  if (routes.length > 0 && first.params.some(([n]) => n === 'r2') && isOurs(routeUri(routes[0]!), isMyself)) {
    msg.removeHeader('route', 0);
    routes = msg.headerValues('route');
  }
  if (routes.length === 0) {
    // the R-URI is the next hop; Kamailio: an out-of-dialog request with a single Route to us is "not routed"
    return inDialog ? LR_ROUTED : LR_NO_ROUTE;
  }
  const next = routeUri(routes[0]!);
  if (next === null) return LR_NO_ROUTE;
  if (isLooseRouter(next)) {
    ctx.dstUri = next.raw;
  } else {
    strictNextHop(ctx, routes[0]!);
  }
  return LR_ROUTED;
}

/** keeps the URI and parameters of our Route loose_route() consumed (check_route_param, is_direction, $route_uri). */
function noteRoute(ctx: MessageContext, uri: SipUri): void {
  const rr = rrOf(ctx);
  rr.routeUri = uri.raw;
  let params = '';
  let ftag: string | null = null;
  for (const [n, v] of uri.params) {
    params += v === null ? `;${n}` : `;${n}=${v}`;
    if (n === 'ftag' && v !== null) ftag = v;
  }
  rr.routeParams = params;
  rr.routeFtag = ftag;
}

/**
 * RFC 3261 §16.6 step 6 / §16.12: the next hop is a strict router: the R-URI goes to the end of the
 * Route set and the strict router's URI becomes the R-URI (its Route entry is removed).
 */
function strictNextHop(ctx: MessageContext, topRoute: string): void {
  const msg = ctx.msg;
  const uri = routeUriText(topRoute);
  if (uri === null) return;
  const oldRuri = msg.requestUri;
  msg.removeHeader('route', 0);
  msg.addHeader('Route', `<${oldRuri}>`, 'last');
  msg.setRequestUri(uri);
  ctx.dstUri = null;
}
