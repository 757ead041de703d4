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
 */
import type { Endpoint, MessageContext } from '../core/context.js';
import type { SipMessage, SipUri } from '../sip/types.js';
import { parseNameAddr, parseUri } from '../sip/parser.js';

export type IsMyself = (host: string, port: number | undefined) => boolean;

/** Kamailio loose_route() results. */
export const LR_ROUTED = 1;
export const LR_NO_ROUTE = -1;
export const LR_PRELOADED = -3;

function hostForUri(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/** The Record-Route value record_route() inserts for a request received on `ctx.local`. */
export function recordRouteValue(ctx: MessageContext): string {
  return `<${recordRouteUri(ctx.local, ctx.msg.from?.tag, false)}>`;
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
  const top = msg.headerValues('record-route')[0];
  if (top === undefined || top !== `<${recordRouteUri(inbound, ftag, false)}>`) return false;
  msg.removeHeader('record-route', 0);
  msg.addHeader('Record-Route', `<${recordRouteUri(inbound, ftag, true)}>`, 'first');
  msg.addHeader('Record-Route', `<${recordRouteUri(outbound, ftag, true)}>`, 'first');
  return true;
}

/** the Record-Route the request would need doubled when sent from `outbound` (cheap test before copying it). */
export function needsDoubleRecordRoute(msg: SipMessage, inbound: Endpoint, outbound: Endpoint): boolean {
  if (inbound.proto === outbound.proto && inbound.address === outbound.address && inbound.port === outbound.port) return false;
  return msg.headerValues('record-route')[0] === `<${recordRouteUri(inbound, msg.from?.tag, false)}>`;
}

/** Kamailio record_route(): 1 inserted, -1 failed (not a request, or the header was refused). */
export function recordRoute(ctx: MessageContext): number {
  const msg = ctx.msg;
  if (msg.kind !== 'request' || msg.method === 'ACK' || msg.method === 'CANCEL') return -1;
  try {
    msg.addHeader('Record-Route', recordRouteValue(ctx), 'first');
    return 1;
  } catch {
    return -1;
  }
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
