/**
 * Plugin imports, namespaces `textops` and `sdpops` (ABI 1.3; Kamailio textops, textopsx and
 * sdpops function names and return codes; docs/abi/v1.md "Namespaces textops and sdpops", README.md).
 *
 * Every function acts on the message of the running hook (the request in request_route,
 * failure_route and branch_route, the reply in onreply_route); outside a message: -4.
 * Strings are (ptr, len) UTF-8; longer than `value_max_bytes` or outside memory: -3. Flags of
 * search_hf / subst_hf: 0 = every field ("a"), 1 = the first ("f"), 2 = the last ("l").
 *
 * Gas: 20 per call (the import wrapper), GAS_BASE here, 1 per 8 bytes read from the guest and of
 * text scanned, GAS_PER_STEP (textops.ts) per regex VM step.
 */
import type { HostCallApi, ImportProvider } from '../wasm/types.js';
import { GasExhausted } from '../wasm/budget.js';
import type { MessageContext } from '../core/context.js';
import { BAD_ARGUMENT, FOUND, NOT_FOUND, Textops, type Which } from './textops.js';
import { codecNames, Sdp } from './sdp.js';

type Fn = (...args: never[]) => number;

const INVALID_MEMORY = -3;
const NOT_ALLOWED = -4;
const GAS_BASE = 5;

/** the message of the running hook, charged GAS_BASE; null outside a message hook. */
function message(api: HostCallApi): MessageContext | null {
  api.charge(GAS_BASE);
  return api.current();
}

/** the edit budget of the running message (sip's msg_edit_max_bytes); hosts without one: unlimited. */
function editBudget(api: HostCallApi): (ctx: MessageContext, bytes: number) => boolean {
  return (_ctx, bytes) => api.spendEdit?.(bytes) ?? true;
}

/** reads (ptr, len) strings for a call: null when one is outside memory or too long. */
function strings(api: HostCallApi, ...args: number[]): string[] | null {
  const out: string[] = [];
  for (let i = 0; i < args.length; i += 2) {
    const len = args[i + 1]!;
    if (len < 0) return null;
    const s = len === 0 ? '' : api.readString(args[i]!, len);
    if (s === null) return null;
    out.push(s);
  }
  return out;
}

/**
 * Imports never throw into the plugin (docs/abi/v1.md "Global rules" 1): a host failure is logged
 * and answered -2; exhausted gas still ends the hook.
 */
function guarded(api: HostCallApi, ns: string, fns: Record<string, Fn>): Record<string, Fn> {
  const out: Record<string, Fn> = {};
  for (const [name, f] of Object.entries(fns)) {
    out[name] = ((...args: never[]) => {
      try {
        return f(...args);
      } catch (e) {
        if (e instanceof GasExhausted) throw e;
        api.current()?.log.error({ hostFunction: `${ns}.${name}`, err: e }, 'host function failed');
        return BAD_ARGUMENT;
      }
    }) as Fn;
  }
  return out;
}

/** a `which` flag of search_hf / subst_hf, or null. */
function which(flags: number): Which | null {
  return flags === 0 || flags === 1 || flags === 2 ? (flags as Which) : null;
}

export class TextopsImports implements ImportProvider {
  readonly namespace = 'textops';

  functions(api: HostCallApi): Record<string, Fn> {
    // one Textops per instance: its pattern caches are the plugin's own
    const t = new Textops((u) => api.charge(u), editBudget(api));
    /** runs `f` on the message with the string arguments read, or answers -4 / -3 */
    const call = (f: (ctx: MessageContext, s: string[]) => number, ...args: number[]): number => {
      const ctx = message(api);
      if (ctx === null) return NOT_ALLOWED;
      const s = strings(api, ...args);
      return s === null ? INVALID_MEMORY : f(ctx, s);
    };
    const requestOnly = (ctx: MessageContext): boolean => ctx.msg.kind === 'request';
    return guarded(api, this.namespace, {
      search: (rp: number, rl: number) => call((c, [re]) => t.search(c, re!), rp, rl),
      search_body: (rp: number, rl: number) => call((c, [re]) => t.searchBody(c, re!), rp, rl),
      search_hf: (hp: number, hl: number, rp: number, rl: number, flags: number) => {
        const w = which(flags);
        return w === null ? BAD_ARGUMENT : call((c, [hf, re]) => (hf === '' ? BAD_ARGUMENT : t.searchHf(c, hf!, re!, w)), hp, hl, rp, rl);
      },
      is_present_hf_re: (rp: number, rl: number) => call((c, [re]) => t.isPresentHfRe(c, re!), rp, rl),
      remove_hf_re: (rp: number, rl: number) => call((c, [re]) => t.removeHfRe(c, re!), rp, rl),
      subst: (ep: number, el: number) => call((c, [e]) => t.substHeaders(c, e!), ep, el),
      subst_hf: (hp: number, hl: number, ep: number, el: number, flags: number) => {
        const w = which(flags);
        return w === null ? BAD_ARGUMENT : call((c, [hf, e]) => (hf === '' ? BAD_ARGUMENT : t.substHf(c, hf!, e!, w)), hp, hl, ep, el);
      },
      subst_body: (ep: number, el: number) => call((c, [e]) => t.substBody(c, e!), ep, el),
      subst_uri: (ep: number, el: number) => call((c, [e]) => t.substUri(c, e!, false), ep, el),
      subst_user: (ep: number, el: number) => call((c, [e]) => t.substUri(c, e!, true), ep, el),
      has_body: (tp: number, tl: number) => call((c, [type]) => t.hasBody(c, type!), tp, tl),
      set_body: (bp: number, bl: number, tp: number, tl: number) =>
        call((c, [body, type]) => t.setBody(c, Buffer.from(body!, 'utf8'), type!), bp, bl, tp, tl),
      remove_body: () => call((c) => t.removeBody(c)),
      set_reply_body: (bp: number, bl: number, tp: number, tl: number) =>
        call((c, [body, type]) => (requestOnly(c) ? t.setReplyBody(c, Buffer.from(body!, 'utf8'), type!) : NOT_ALLOWED), bp, bl, tp, tl),
    });
  }
}

export class SdpopsImports implements ImportProvider {
  readonly namespace = 'sdpops';

  functions(api: HostCallApi): Record<string, Fn> {
    /** the message's SDP, charged per 8 bytes of body before it is read; null: no SDP. */
    const sdpOf = (ctx: MessageContext): Sdp | null => {
      const n = ctx.msg.body.length;
      if (n > 64) api.charge((n + 7) >>> 3);
      return Sdp.of(ctx);
    };
    const call = (f: (ctx: MessageContext, sdp: Sdp, s: string[]) => number, ...args: number[]): number => {
      const ctx = message(api);
      if (ctx === null) return NOT_ALLOWED;
      const s = strings(api, ...args);
      if (s === null) return INVALID_MEMORY;
      const sdp = sdpOf(ctx);
      return sdp === null ? NOT_FOUND : f(ctx, sdp, s);
    };
    /** an edit: stored back (and charged for the bytes written) when it changed something */
    const edit = (ctx: MessageContext, sdp: Sdp, changed: number, ok: number): number => {
      if (changed <= 0) return NOT_FOUND;
      api.charge((ctx.msg.body.length + 7) >>> 3);
      sdp.store(ctx);
      return ok;
    };
    return guarded(api, this.namespace, {
      sdp_with_media: (mp: number, ml: number) => call((_c, sdp, [m]) => (sdp.withMedia(m!) ? FOUND : NOT_FOUND), mp, ml),
      sdp_get_line_startswith: (pp: number, pl: number, out: number, cap: number) =>
        call((_c, sdp, [prefix]) => {
          if (prefix === '' || cap < 0) return BAD_ARGUMENT;
          const line = sdp.lineStartingWith(prefix!);
          return line === null ? NOT_FOUND : api.writeString(out, cap, Buffer.from(line, 'latin1').toString('utf8'));
        }, pp, pl),
      sdp_remove_line_by_prefix: (pp: number, pl: number, mp: number, ml: number) =>
        call((c, sdp, [prefix, m]) => (prefix === '' ? BAD_ARGUMENT : edit(c, sdp, sdp.removeLinesByPrefix(prefix!, m!), FOUND)), pp, pl, mp, ml),
      sdp_remove_codecs_by_name: (lp: number, ll: number, mp: number, ml: number) =>
        call((c, sdp, [list, m]) => {
          const names = codecNames(list!);
          if (names.size === 0) return BAD_ARGUMENT;
          // Kamailio: 1 when the SDP was processed, also when none of the codecs was there
          edit(c, sdp, sdp.filterCodecs(names, m!, false), FOUND);
          return FOUND;
        }, lp, ll, mp, ml),
      sdp_keep_codecs_by_name: (lp: number, ll: number, mp: number, ml: number) =>
        call((c, sdp, [list, m]) => {
          const names = codecNames(list!);
          if (names.size === 0) return BAD_ARGUMENT;
          edit(c, sdp, sdp.filterCodecs(names, m!, true), FOUND);
          return FOUND;
        }, lp, ll, mp, ml),
    });
  }
}

/** the textops and sdpops providers every node links (no module config: they edit the message). */
export function textImportProviders(): ImportProvider[] {
  return [new TextopsImports(), new SdpopsImports()];
}
