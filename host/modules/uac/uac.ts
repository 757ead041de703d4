/**
 * Kamailio uac's From / To replacement with restore mode `auto` (README.md):
 *
 *   - uac_replace_from(display, uri) on an initial request rewrites its From (the tag and the other
 *     header parameters stay), records the original and the new value in a parameter of our
 *     Record-Route (`vsf`, Kamailio's `rr_from_store_param`), and every response of the transaction
 *     going upstream gets the original From back (Kamailio's TM callback on the replies);
 *   - the dialog's later requests come back through us (RFC 3261 §12.2.1.1 route set), loose_route()
 *     finds the parameter in our Route and rewrites by direction (§12.2.1.1: the caller's requests
 *     carry its From, the callee's carry the caller's URI as To):
 *       downstream (From tag = the Route's ftag): From original → replaced, replies From → original;
 *       upstream (the callee's requests): To replaced → original, replies To → replaced.
 *     uac_replace_to is the mirror (`vst`): downstream To original → replaced, replies To back;
 *     upstream From replaced → original, replies From back.
 *
 * The parameter value is ours (Kamailio XORs the two URIs and base64-encodes them, optionally with
 * `restore_passwd`): AES-256-GCM of `orig display \0 orig URI \0 new display \0 new URI` under a key
 * derived from `restore_passwd` (or a random key per start), with the parameter name and the
 * dialog's From tag as associated data. The UAs in the route set cannot read the original (the
 * point of replacing a From is often to hide it), and a changed, truncated or transplanted value
 * fails authentication: it is refused (not restored, logged with E9401, counted), never decoded.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { MessageContext } from '../../core/context.js';
import { Errors } from '../../errors/registry.js';
import { addRrParam, directionIsDownstream } from '../../proxy/record-route.js';
import { parseNameAddr, parseUri } from '../../sip/parser.js';
import type { NameAddr, SipMessage } from '../../sip/types.js';
import type { UacConfig } from './config.js';

/** longest URI uac_replace_* takes (Kamailio: MAX_URI_SIZE 1024; half keeps the Record-Route short). */
export const UAC_URI_MAX = 512;
/** longest display name. */
export const UAC_DISPLAY_MAX = 128;
/** a parameter value longer than this is not decoded (it cannot be one of ours). */
const PARAM_VALUE_MAX = 4 * Math.ceil((12 + 16 + 2 * (UAC_URI_MAX + UAC_DISPLAY_MAX) + 3) / 3);

/** the two header values a restoration swaps between (display '' = none). */
interface Pair {
  origDisplay: string;
  origUri: string;
  newDisplay: string;
  newUri: string;
}

type Which = 'from' | 'to';

/** What the module needs from the proxy core (host/proxy/proxy.ts). */
export interface UacProxy {
  addReplyFixup(ctx: MessageContext, fix: (resp: SipMessage) => void): void;
  onLooseRoute(cb: (ctx: MessageContext) => void): void;
}

export interface UacStats {
  replaced_from: number;
  replaced_to: number;
  /** in-dialog requests rewritten from a Record-Route parameter. */
  restored: number;
  /** parameters that failed authentication (tampered, truncated, another node's key). */
  refused_params: number;
}

export class Uac {
  readonly stats: UacStats = { replaced_from: 0, replaced_to: 0, restored: 0, refused_params: 0 };
  private readonly key: Buffer;
  private proxy: UacProxy | null = null;

  constructor(
    readonly cfg: UacConfig,
    private readonly log: Logger,
  ) {
    this.key = cfg.restore_passwd !== '' ? createHash('sha256').update(`siphon-uac\0${cfg.restore_passwd}`).digest() : randomBytes(32);
  }

  /** wires the module to a server's proxy core: replies are fixed there, in-dialog requests after loose_route(). */
  attach(proxy: UacProxy): void {
    this.proxy = proxy;
    if (this.cfg.restore_mode === 'auto') proxy.onLooseRoute((ctx) => this.afterLooseRoute(ctx));
  }

  /**
   * uac_replace_from / uac_replace_to. `display` null keeps the display name, '' removes it; `uri`
   * '' keeps the URI. 1 replaced; -1 refused: not an initial request (in-dialog requests are
   * rewritten by loose_route), no From tag, restore mode auto without record_route() first, a URI
   * that does not parse or is over UAC_URI_MAX, a display name over UAC_DISPLAY_MAX or with CR/LF.
   */
  replace(ctx: MessageContext, which: Which, display: string | null, uri: string): number {
    const msg = ctx.msg;
    if (msg.kind !== 'request' || msg.method === 'ACK' || msg.method === 'CANCEL') return -1;
    if (msg.to?.tag !== undefined || msg.from?.tag === undefined) return -1;
    const cur = which === 'from' ? msg.from : msg.to;
    if (cur === undefined || this.proxy === null) return -1;
    if (uri.length > UAC_URI_MAX || (uri !== '' && parseUri(uri) === null)) return -1;
    if (display !== null && (display.length > UAC_DISPLAY_MAX || /[\r\n\0]/.test(display))) return -1;
    const auto = this.cfg.restore_mode === 'auto';
    // Kamailio auto mode keeps the original in our Record-Route: without one the dialog cannot be restored
    if (auto && (ctx.rr?.inserted ?? null) === null) return -1;
    const pair: Pair = {
      origDisplay: cur.displayName ?? '',
      origUri: cur.uri,
      newDisplay: display ?? cur.displayName ?? '',
      newUri: uri === '' ? cur.uri : uri,
    };
    if (pair.origUri.length > UAC_URI_MAX || pair.origDisplay.length > UAC_DISPLAY_MAX) return -1;
    if (auto) {
      const name = which === 'from' ? this.cfg.rr_from_store_param : this.cfg.rr_to_store_param;
      if (addRrParam(ctx, `;${name}=${this.seal(pair, name, msg.from!.tag!)}`) !== 1) return -1;
    }
    setNameAddr(msg, which, pair.newDisplay, pair.newUri);
    // every response going upstream shows the original again (Kamailio restores replies in auto and manual mode)
    this.proxy.addReplyFixup(ctx, (resp) => setNameAddr(resp, which, pair.origDisplay, pair.origUri));
    if (which === 'from') this.stats.replaced_from++;
    else this.stats.replaced_to++;
    return 1;
  }

  /** rr callback: a Route of ours was consumed; restore what its vsf / vst parameters hold. */
  private afterLooseRoute(ctx: MessageContext): void {
    const rr = ctx.rr!;
    const ftag = rr.routeFtag;
    for (const which of ['from', 'to'] as const) {
      const name = which === 'from' ? this.cfg.rr_from_store_param : this.cfg.rr_to_store_param;
      const sealed = paramOf(rr.routeParams, name);
      if (sealed === null) continue;
      const pair = ftag === null ? null : this.open(sealed, name, ftag);
      if (pair === null) {
        this.stats.refused_params++;
        ctx.log.warn({ code: Errors.UAC_BAD_PARAM.code, param: name }, `uac: Route parameter ${name} does not authenticate, not restored [E${Errors.UAC_BAD_PARAM.code}]`);
        continue;
      }
      const down = directionIsDownstream(ctx);
      if (down === null) continue;
      this.restoreInDialog(ctx, which, down, pair);
    }
  }

  private restoreInDialog(ctx: MessageContext, which: Which, downstream: boolean, p: Pair): void {
    const msg = ctx.msg;
    // the header that carries the replaced party in this direction (see the file comment)
    const hdr: Which = downstream ? which : which === 'from' ? 'to' : 'from';
    if (downstream) {
      setNameAddr(msg, hdr, p.newDisplay, p.newUri);
      this.proxy!.addReplyFixup(ctx, (resp) => setNameAddr(resp, hdr, p.origDisplay, p.origUri));
    } else {
      setNameAddr(msg, hdr, p.origDisplay, p.origUri);
      this.proxy!.addReplyFixup(ctx, (resp) => setNameAddr(resp, hdr, p.newDisplay, p.newUri));
    }
    this.stats.restored++;
  }

  /** base64url(iv | GCM tag | ciphertext) of the pair, bound to the parameter name and the From tag. */
  private seal(p: Pair, name: string, ftag: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(`${name}\0${ftag}`));
    const body = Buffer.concat([c.update(`${p.origDisplay}\0${p.origUri}\0${p.newDisplay}\0${p.newUri}`, 'utf8'), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64url');
  }

  /** the pair a parameter value holds; null when it does not authenticate or is malformed. */
  private open(value: string, name: string, ftag: string): Pair | null {
    if (value.length > PARAM_VALUE_MAX || !/^[A-Za-z0-9_-]+$/.test(value)) return null;
    const raw = Buffer.from(value, 'base64url');
    if (raw.length < 12 + 16 + 3) return null;
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      d.setAAD(Buffer.from(`${name}\0${ftag}`));
      d.setAuthTag(raw.subarray(12, 28));
      const text = Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
      const parts = text.split('\0');
      if (parts.length !== 4) return null;
      return { origDisplay: parts[0]!, origUri: parts[1]!, newDisplay: parts[2]!, newUri: parts[3]! };
    } catch {
      return null; // authentication failed
    }
  }
}

/** the value of URI parameter `name` in `;a=b;c` text; null when absent or valueless. */
function paramOf(params: string, name: string): string | null {
  for (const part of params.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).toLowerCase() === name) return part.slice(eq + 1);
  }
  return null;
}

/** RFC 3261 §25.1 quoted-string of a display name. */
function quoteDisplay(d: string): string {
  return `"${d.replace(/["\\]/g, (c) => `\\${c}`)}" `;
}

/** sets display name and URI of From / To, keeping its header parameters (tag ...); unchanged when unparsable. */
export function setNameAddr(msg: SipMessage, which: Which, display: string, uri: string): void {
  const value = msg.header(which);
  if (value === undefined) return;
  const na: NameAddr | null = parseNameAddr(value, false);
  if (na === null) return;
  let params = '';
  for (const [n, v] of na.params) params += v === null ? `;${n}` : `;${n}=${v}`;
  const text = `${display === '' ? '' : quoteDisplay(display)}<${uri}>${params}`;
  if (text !== value) msg.setHeader(which === 'from' ? 'From' : 'To', text);
}
