/**
 * Plugin imports of namespaces `tm` and `rr` (docs/abi/v1.md, "Namespaces tm and rr", ABI 1.1).
 * Return values are Kamailio's (1 success / -1 failure, loose_route's 1/-1/-3) or ABI statuses:
 * -2 bad argument, -3 bad memory, -4 not callable in this hook (or outside a message hook).
 *
 * A t_relay() only records the relay: the host performs it when the hook returns, so branch_route
 * never re-enters a running plugin instance (Kamailio too sends the branches when the route ends).
 */
import type { MessageContext } from '../core/context.js';
import type { HostCallApi, ImportProvider } from '../wasm/types.js';
import type { ProxyCore } from './proxy.js';
import { addRrParam, checkRouteParam, compileRouteParamPattern, isDirection, looseRoute, recordRoute, RR_PARAMS_MAX } from './record-route.js';
import { PatternCache, type Program } from '../core/regex/index.js';
import { GAS_PER_STEP, PATTERN_CACHE_SIZE } from '../textops/textops.js';

const BAD_ARGUMENT = -2;
const INVALID_MEMORY = -3;
const NOT_ALLOWED = -4;

/** gas charged per tm/rr call (host work beyond the call itself: parsing, a copy of the request). */
const GAS_PER_CALL = 200;

type HookName = 'request_route' | 'failure_route' | 'branch_route' | 'onreply_route';

function hookIn(api: HostCallApi, allowed: readonly HookName[]): MessageContext | null {
  const ctx = api.current();
  if (ctx === null) return null;
  return (allowed as readonly string[]).includes(api.hook()) ? ctx : null;
}

const REQUEST_OR_FAILURE: readonly HookName[] = ['request_route', 'failure_route'];
const REQUEST_ONLY: readonly HookName[] = ['request_route'];
const ANY_TM_HOOK: readonly HookName[] = ['request_route', 'failure_route', 'branch_route', 'onreply_route'];

/** namespace `tm`: Kamailio tm functions (kamailio.md §4.2). */
export class TmImports implements ImportProvider {
  readonly namespace = 'tm';

  constructor(private readonly proxy: ProxyCore) {}

  functions(api: HostCallApi): Record<string, (...args: never[]) => number> {
    const proxy = this.proxy;
    const arm = (route: number, set: (ctx: MessageContext, route: number) => number): number => {
      const ctx = hookIn(api, REQUEST_OR_FAILURE);
      if (ctx === null) return NOT_ALLOWED;
      if (!Number.isInteger(route) || route < 0) return BAD_ARGUMENT;
      return set(ctx, route);
    };
    return {
      /** t_relay() -> 1 relay recorded (performed when the hook returns), -1 no usable destination. */
      t_relay: (): number => {
        const ctx = hookIn(api, REQUEST_OR_FAILURE);
        if (ctx === null) return NOT_ALLOWED;
        api.charge(GAS_PER_CALL);
        return proxy.requestRelay(ctx);
      },
      /** t_on_branch(route) -> 1. */
      t_on_branch: (route: number): number => arm(route, (c, r) => proxy.tOnBranch(c, r)),
      /** t_on_reply(route) -> 1. */
      t_on_reply: (route: number): number => arm(route, (c, r) => proxy.tOnReply(c, r)),
      /** t_on_failure(route) -> 1 (inside failure_route: re-arms for the next round). */
      t_on_failure: (route: number): number => arm(route, (c, r) => proxy.tOnFailure(c, r)),
      /** t_reply(code, rp, rl) -> 1 sent statefully, -1 failed, -2 code outside 100-699. */
      t_reply: (code: number, rp: number, rl: number): number => {
        const ctx = hookIn(api, REQUEST_OR_FAILURE);
        if (ctx === null) return NOT_ALLOWED;
        if (!Number.isInteger(code) || code < 100 || code > 699) return BAD_ARGUMENT;
        if (rl < 0) return BAD_ARGUMENT;
        const reason = api.readString(rp, rl);
        if (reason === null) return INVALID_MEMORY;
        api.charge(GAS_PER_CALL + rl);
        return proxy.tReply(ctx, code, reason.length > 0 ? reason : defaultReason(code));
      },
      /** t_is_canceled() -> 1 the transaction was CANCELed, -1 not (or no transaction). */
      t_is_canceled: (): number => {
        const ctx = hookIn(api, ANY_TM_HOOK);
        if (ctx === null) return NOT_ALLOWED;
        return proxy.tIsCanceled(ctx);
      },
      /** t_branch_index() -> index of the branch of the running branch_route/onreply_route, -1 elsewhere. */
      t_branch_index: (): number => {
        if (hookIn(api, ANY_TM_HOOK) === null) return NOT_ALLOWED;
        return proxy.tBranchIndex();
      },
      /** t_reply_code() -> Kamailio $T_reply_code: the best final status of the transaction (408 on timeout), 0 none. (additive) */
      t_reply_code: (): number => {
        const ctx = hookIn(api, REQUEST_OR_FAILURE);
        if (ctx === null) return NOT_ALLOWED;
        return proxy.tReplyCode(ctx);
      },
      /** t_set_timeouts(fr_ms, fr_inv_ms) -> 1; 0 keeps the default; negative → -2. */
      t_set_timeouts: (frMs: number, frInvMs: number): number => {
        const ctx = hookIn(api, REQUEST_OR_FAILURE);
        if (ctx === null) return NOT_ALLOWED;
        if (frMs < 0 || frInvMs < 0) return BAD_ARGUMENT;
        return proxy.tSetTimeouts(ctx, frMs, frInvMs);
      },
      /** forward() -> 1 sent statelessly (or resolving), -1 no usable destination. */
      forward: (): number => {
        const ctx = hookIn(api, REQUEST_ONLY);
        if (ctx === null) return NOT_ALLOWED;
        api.charge(GAS_PER_CALL);
        return proxy.forward(ctx);
      },
    };
  }
}

/** namespace `rr`: Kamailio rr functions (kamailio.md §4.3). */
export class RrImports implements ImportProvider {
  readonly namespace = 'rr';

  constructor(private readonly proxy: ProxyCore) {}

  functions(api: HostCallApi): Record<string, (...args: never[]) => number> {
    const proxy = this.proxy;
    // check_route_param's compiled patterns, per plugin instance; the VM's steps are charged as gas
    const patterns = new PatternCache<Program>(PATTERN_CACHE_SIZE, compileRouteParamPattern);
    const meter = (steps: number): void => api.charge(steps * GAS_PER_STEP);
    return {
      /** record_route() -> 1 inserted, -1 failed. */
      record_route: (): number => {
        const ctx = hookIn(api, ['request_route', 'branch_route']);
        if (ctx === null) return NOT_ALLOWED;
        api.charge(GAS_PER_CALL);
        return recordRoute(ctx);
      },
      /** loose_route() -> 1 routed, -1 no route / not for us, -3 preloaded route. */
      loose_route: (): number => {
        const ctx = hookIn(api, REQUEST_ONLY);
        if (ctx === null) return NOT_ALLOWED;
        api.charge(GAS_PER_CALL);
        const rc = looseRoute(ctx, proxy.isMyself);
        proxy.afterLooseRoute(ctx); // rr callbacks (uac restoration) when a Route of ours was consumed
        return rc;
      },
      /** add_rr_param(p, l) -> 1 added to our Record-Route, -1 refused (syntax, length, not a request). (ABI 1.3) */
      add_rr_param: (p: number, l: number): number => withRrText(api, p, l, addRrParam),
      /** check_route_param(p, l) -> 1 the consumed Route's parameters match the ERE, -1 not, -2 it does not compile. (ABI 1.3) */
      check_route_param: (p: number, l: number): number => withRrText(api, p, l, (ctx, re) => checkRouteParam(ctx, re, patterns, meter)),
      /** is_direction(dir) -> 1 holds, -1 not or unknown; dir 0 downstream, 1 upstream, else -2. (ABI 1.3) */
      is_direction: (dir: number): number => {
        const ctx = hookIn(api, REQUEST_ONLY);
        if (ctx === null) return NOT_ALLOWED;
        return isDirection(ctx, dir === 0 ? 'downstream' : dir === 1 ? 'upstream' : '');
      },
    };
  }
}

const UNIMPLEMENTED = -6;
const LIMIT = -5;

/** the rr imports ABI 1.3 added. */
const RR_1_3 = ['add_rr_param', 'check_route_param', 'is_direction'];

/**
 * A request_route rr import taking one string of at most RR_PARAMS_MAX bytes: -4 elsewhere, -2
 * negative length, -5 too long, -3 outside memory; else `fn`'s answer (charged GAS_PER_CALL).
 */
function withRrText(api: HostCallApi, p: number, l: number, fn: (ctx: MessageContext, text: string) => number): number {
  const ctx = hookIn(api, REQUEST_ONLY);
  if (ctx === null) return NOT_ALLOWED;
  if (l < 0) return BAD_ARGUMENT;
  if (l > RR_PARAMS_MAX) return LIMIT;
  const text = api.readString(p, l);
  if (text === null) return INVALID_MEMORY;
  api.charge(GAS_PER_CALL);
  return fn(ctx, text);
}

/**
 * The `tm` and `rr` providers of a node. Without a proxy (transactions disabled) every function
 * answers -6 UNIMPLEMENTED, so a plugin using them still loads (as the module namespaces do).
 */
export function tmImportProviders(proxy: ProxyCore | null): ImportProvider[] {
  if (proxy !== null) return [new TmImports(proxy), new RrImports(proxy)];
  const stub = (namespace: string, names: string[]): ImportProvider => ({
    namespace,
    functions: () => Object.fromEntries(names.map((n) => [n, () => UNIMPLEMENTED])),
  });
  return [
    stub('tm', ['t_relay', 't_on_branch', 't_on_reply', 't_on_failure', 't_reply', 't_is_canceled', 't_branch_index', 't_set_timeouts', 'forward', 't_reply_code']),
    stub('rr', ['record_route', 'loose_route', ...RR_1_3]),
  ];
}

/** RFC 3261 §21 reason phrases for the codes tm answers most. */
function defaultReason(code: number): string {
  switch (code) {
    case 100: return 'Trying';
    case 180: return 'Ringing';
    case 183: return 'Session Progress';
    case 200: return 'OK';
    case 202: return 'Accepted';
    case 302: return 'Moved Temporarily';
    case 400: return 'Bad Request';
    case 401: return 'Unauthorized';
    case 403: return 'Forbidden';
    case 404: return 'Not Found';
    case 407: return 'Proxy Authentication Required';
    case 408: return 'Request Timeout';
    case 480: return 'Temporarily Unavailable';
    case 481: return 'Call/Transaction Does Not Exist';
    case 483: return 'Too Many Hops';
    case 486: return 'Busy Here';
    case 487: return 'Request Terminated';
    case 500: return 'Server Internal Error';
    case 501: return 'Not Implemented';
    case 503: return 'Service Unavailable';
    case 603: return 'Decline';
    default: return code < 200 ? 'Session Progress' : code < 300 ? 'OK' : code < 400 ? 'Redirect' : code < 500 ? 'Client Error' : code < 600 ? 'Server Error' : 'Global Failure';
  }
}
