/**
 * Kamailio textops / textopsx on siphon's message model: body read/write, searches and sed-like
 * substitutions on headers, the body and the R-URI, header removal by regular expression
 * (README.md "Functions for plugins"). Every regular expression runs on the linear engine
 * (host/core/regex): a plugin's pattern can never backtrack over message text.
 *
 * Return codes are Kamailio's (1 found / done, -1 not found / nothing done) plus the ABI statuses
 * (-2 bad argument: a pattern that does not compile, a result that is no header line; -5 over a
 * limit). The message is edited only when the whole operation succeeds.
 *
 * Text: header values are the message layer's strings; the body and the whole message are matched
 * as bytes (latin1 strings), the plugin's pattern and replacement converted to their UTF-8 bytes.
 *
 * Gas: `gas(units)` is charged for the text before it is scanned (1 unit per 8 bytes), and
 * GAS_PER_STEP per VM step every 1,024 steps as they run and for the rest at the end
 * (host/core/regex/vm.ts: at most 1,024 steps run past an exhausted budget).
 */
import { compile, parseSubst, PatternCache, RegexError, substitute, SubstTooLong, exec, type Program, type SubstExpr } from '../core/regex/index.js';
import type { MessageContext } from '../core/context.js';
import { setPv } from '../core/pv.js';
import { headerKey } from '../sip/headers.js';
import { isToken } from '../sip/chars.js';

export const FOUND = 1;
export const NOT_FOUND = -1;
export const BAD_ARGUMENT = -2;
export const LIMIT = -5;
export const UNIMPLEMENTED = -6;

/**
 * Largest body set_body, set_reply_body and subst_body may produce (bytes). Kamailio's equivalent:
 * the message buffer, BUF_SIZE 65,535 bytes.
 */
export const BODY_MAX_BYTES = 65_535;
/** longest header line a substitution may produce (characters; value_max_bytes' default). */
export const LINE_MAX = 65_536;
/** compiled patterns and substitution expressions kept per plugin instance (each cache). */
export const PATTERN_CACHE_SIZE = 128;
/**
 * Gas per VM step (one thread visiting one instruction). A step costs ~10-15 ns of optimized code
 * on the 2-core CI VM and ~1 µs before V8 optimizes the VM (a guest loop iteration, ~1.7 ns, is one
 * unit): the 2,000,000-unit hook budget buys 125,000 steps, ~2 ms warm; cold, the 100 ms time guard
 * (E4030) may stop a pathological search before gas does. Positions a match cannot start at are
 * skipped without steps (paid by the per-byte scan charge).
 */
export const GAS_PER_STEP = 16;

/** which fields search_hf / subst_hf visit (Kamailio flags "a", "f", "l"). */
export const enum Which { ALL = 0, FIRST = 1, LAST = 2 }

export type Gas = (units: number) => void;
/** a field edit: its position in fields(), the new name and value (null: remove the field). */
type FieldEdit = [number, string, string | null];
/** reserves bytes of the message's edit budget (routing.limits.msg_edit_max_bytes); false when over. */
export type SpendEdit = (ctx: MessageContext, bytes: number) => boolean;

/** the UTF-8 bytes of `s` as a latin1 string (one character per byte), to match byte text. */
export function utf8Bytes(s: string): string {
  // ASCII (the usual pattern) is its own byte string
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(s) ? s : Buffer.from(s, 'utf8').toString('latin1');
}

/** Kamailio's textops on one plugin instance: caches compiled patterns, charges gas through `gas`. */
export class Textops {
  // search family: REG_EXTENDED | REG_ICASE | REG_NEWLINE, as Kamailio's fixup_regexp_* compile them
  private readonly patterns = new PatternCache<Program>(PATTERN_CACHE_SIZE, (p) => compile(p, { icase: true, newline: true }));
  private readonly substs = new PatternCache<SubstExpr>(PATTERN_CACHE_SIZE, parseSubst);
  private readonly meter: (steps: number) => void;

  constructor(private readonly gas: Gas, private readonly spendEdit: SpendEdit) {
    this.meter = (steps) => gas(steps * GAS_PER_STEP);
  }

  private scan(text: string): void {
    if (text.length > 64) this.gas((text.length + 7) >>> 3);
  }

  /** the compiled search pattern, or null when it does not compile. */
  private pattern(p: string): Program | null {
    const r = this.patterns.get(p);
    return r instanceof RegexError ? null : r;
  }

  private subst(e: string): SubstExpr | null {
    const r = this.substs.get(e);
    return r instanceof RegexError ? null : r;
  }

  private found(prog: Program, text: string): boolean {
    this.scan(text);
    return exec(prog, text, 0, this.meter, false) !== null;
  }

  // ---- searches ------------------------------------------------------------------------------

  /** search(re): the whole message as it would be sent (start line, headers, body). */
  search(ctx: MessageContext, re: string): number {
    const prog = this.pattern(utf8Bytes(re));
    if (prog === null) return BAD_ARGUMENT;
    const wire = ctx.msg.toBuffer();
    this.gas((wire.length + 7) >>> 3);
    return this.found(prog, wire.toString('latin1')) ? FOUND : NOT_FOUND;
  }

  /** search_body(re). */
  searchBody(ctx: MessageContext, re: string): number {
    const prog = this.pattern(utf8Bytes(re));
    if (prog === null) return BAD_ARGUMENT;
    const body = ctx.msg.body;
    if (body.length === 0) return NOT_FOUND;
    return this.found(prog, body.toString('latin1')) ? FOUND : NOT_FOUND;
  }

  /** search_hf(hf, re, flags): the values of the fields named `hf` (all, the first or the last). */
  searchHf(ctx: MessageContext, hf: string, re: string, which: Which): number {
    const prog = this.pattern(re);
    if (prog === null) return BAD_ARGUMENT;
    for (const i of this.fieldsNamed(ctx, hf, which)) {
      if (this.found(prog, ctx.msg.fields()[i]!.value)) return FOUND;
    }
    return NOT_FOUND;
  }

  /** is_present_hf_re(re): a header whose name matches. */
  isPresentHfRe(ctx: MessageContext, re: string): number {
    const prog = this.pattern(re);
    if (prog === null) return BAD_ARGUMENT;
    for (const f of ctx.msg.fields()) if (this.found(prog, f.name)) return FOUND;
    return NOT_FOUND;
  }

  /** remove_hf_re(re): removes every header whose name matches; how many, or -1 for none. */
  removeHfRe(ctx: MessageContext, re: string): number {
    const prog = this.pattern(re);
    if (prog === null) return BAD_ARGUMENT;
    const msg = ctx.msg;
    if (msg.replaceField === undefined) return UNIMPLEMENTED;
    const fields = msg.fields();
    const hit: number[] = [];
    for (let i = 0; i < fields.length; i++) if (this.found(prog, fields[i]!.name)) hit.push(i);
    for (let k = hit.length - 1; k >= 0; k--) msg.replaceField(hit[k]!, '', null);
    return hit.length > 0 ? hit.length : NOT_FOUND;
  }

  // ---- substitutions -------------------------------------------------------------------------

  /**
   * subst('/re/repl/flags') on the header fields, each matched as its line `Name: value` (a match
   * never spans two fields; Kamailio's spans the buffer from the second line to the end of the body:
   * use subst_body for the body). Without `g` only the first match in the first matching line is
   * replaced. A line replaced by nothing removes the field; a result that is not a header line
   * refuses the whole call (-2, message unchanged).
   */
  substHeaders(ctx: MessageContext, expr: string): number {
    const e = this.fieldSubst(ctx, expr);
    if (typeof e === 'number') return e;
    const fields = ctx.msg.fields();
    const edits: FieldEdit[] = [];
    let grow = 0;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      const line = `${f.name}: ${f.value}`;
      const r = this.apply(e, line, LINE_MAX);
      if (typeof r === 'number') return r;
      if (r === null) continue;
      if (r.length === 0) {
        edits.push([i, f.name, null]);
      } else {
        const colon = r.indexOf(':');
        const name = colon < 0 ? '' : r.slice(0, colon).trim();
        const value = r.slice(colon + 1).trim();
        if (!isToken(name) || /[\r\n]/.test(value)) return BAD_ARGUMENT;
        edits.push([i, name, value]);
        grow += Math.max(0, r.length - line.length);
      }
      if (!e.global) break;
    }
    return this.commitFields(ctx, edits, grow);
  }

  /** subst_hf(hf, '/re/repl/flags', flags): the values of the fields named `hf`. */
  substHf(ctx: MessageContext, hf: string, expr: string, which: Which): number {
    const e = this.fieldSubst(ctx, expr);
    if (typeof e === 'number') return e;
    const fields = ctx.msg.fields();
    const edits: FieldEdit[] = [];
    let grow = 0;
    for (const i of this.fieldsNamed(ctx, hf, which)) {
      const f = fields[i]!;
      const r = this.apply(e, f.value, LINE_MAX);
      if (typeof r === 'number') return r;
      if (r === null) continue;
      if (/[\r\n]/.test(r)) return BAD_ARGUMENT;
      edits.push([i, f.name, r]);
      grow += Math.max(0, r.length - f.value.length);
    }
    return this.commitFields(ctx, edits, grow);
  }

  /** subst_body('/re/repl/flags'): the body as bytes; Content-Length follows, Content-Type is kept. */
  substBody(ctx: MessageContext, expr: string): number {
    const e = this.subst(utf8Bytes(expr));
    if (e === null) return BAD_ARGUMENT;
    const body = ctx.msg.body;
    if (body.length === 0) return NOT_FOUND;
    const r = this.apply(e, body.toString('latin1'), BODY_MAX_BYTES);
    if (typeof r === 'number') return r;
    if (r === null) return NOT_FOUND;
    if (r.length > body.length && !this.spendEdit(ctx, r.length - body.length)) return LIMIT;
    ctx.msg.setBody(Buffer.from(r, 'latin1'));
    return FOUND;
  }

  /** subst_uri('/re/repl/flags') on the R-URI; subst_user on its user part ('' when it has none). */
  substUri(ctx: MessageContext, expr: string, userOnly: boolean): number {
    const e = this.subst(expr);
    if (e === null) return BAD_ARGUMENT;
    const msg = ctx.msg;
    if (msg.kind !== 'request') return NOT_FOUND;
    const before = userOnly ? msg.uri?.user ?? '' : msg.requestUri;
    const r = this.apply(e, before, LINE_MAX);
    if (typeof r === 'number') return r;
    if (r === null) return NOT_FOUND;
    if (r.length > before.length && !this.spendEdit(ctx, r.length - before.length)) return LIMIT;
    return setPv(userOnly ? '$rU' : '$ru', r, ctx) === 0 ? FOUND : BAD_ARGUMENT;
  }

  // ---- body ----------------------------------------------------------------------------------

  /** has_body([type]): a non-empty body, of media type `type` (case-insensitive, parameters ignored) when given. */
  hasBody(ctx: MessageContext, type: string): number {
    if (ctx.msg.body.length === 0) return NOT_FOUND;
    if (type === '') return FOUND;
    return mediaType(ctx.msg.header('content-type')) === type.trim().toLowerCase() ? FOUND : NOT_FOUND;
  }

  /** set_body(text, content_type): replaces the body; Content-Type set, Content-Length follows. */
  setBody(ctx: MessageContext, body: Buffer, contentType: string): number {
    if (!validContentType(contentType)) return BAD_ARGUMENT;
    if (body.length > BODY_MAX_BYTES) return LIMIT;
    const old = ctx.msg.body.length;
    if (body.length > old && !this.spendEdit(ctx, body.length - old + contentType.length)) return LIMIT;
    ctx.msg.setBody(body, contentType);
    return FOUND;
  }

  /** remove_body(): the body and its Content-Type go, Content-Length becomes 0. -1 when there was none. */
  removeBody(ctx: MessageContext): number {
    const msg = ctx.msg;
    if (msg.body.length === 0) return NOT_FOUND;
    msg.setBody(Buffer.alloc(0));
    msg.removeHeader('content-type');
    return FOUND;
  }

  /** set_reply_body(text, content_type): the body of the next reply the node sends to this request. */
  setReplyBody(ctx: MessageContext, body: Buffer, contentType: string): number {
    if (!validContentType(contentType)) return BAD_ARGUMENT;
    if (body.length > BODY_MAX_BYTES) return LIMIT;
    ctx.replyBody = { body, contentType };
    return FOUND;
  }

  // ---- helpers -------------------------------------------------------------------------------

  /** the parsed expression of a field substitution, or -2 (bad expression) / -6 (message cannot edit fields). */
  private fieldSubst(ctx: MessageContext, expr: string): SubstExpr | number {
    const e = this.subst(expr);
    if (e === null) return BAD_ARGUMENT;
    return ctx.msg.replaceField === undefined ? UNIMPLEMENTED : e;
  }

  /** substitute() with its refusals as statuses: the new text, null (no match), or -5. */
  private apply(e: SubstExpr, text: string, max: number): string | null | number {
    this.scan(text);
    try {
      return substitute(e, text, max, this.meter);
    } catch (err) {
      if (err instanceof SubstTooLong) return LIMIT;
      throw err;
    }
  }

  /** indexes in fields() of the fields named `hf` (compact forms accepted): all, the first or the last. */
  private fieldsNamed(ctx: MessageContext, hf: string, which: Which): number[] {
    const key = headerKey(hf);
    const fields = ctx.msg.fields();
    const out: number[] = [];
    for (let i = 0; i < fields.length; i++) if (fields[i]!.key === key) out.push(i);
    if (out.length === 0 || which === Which.ALL) return out;
    return [which === Which.FIRST ? out[0]! : out[out.length - 1]!];
  }

  /** applies field edits (positions from one fields() snapshot) when the edit budget allows. */
  private commitFields(ctx: MessageContext, edits: FieldEdit[], grow: number): number {
    if (edits.length === 0) return NOT_FOUND;
    if (grow > 0 && !this.spendEdit(ctx, grow)) return LIMIT;
    const msg = ctx.msg;
    // from the last: a removal does not shift the positions still to edit
    for (let k = edits.length - 1; k >= 0; k--) {
      const [i, name, value] = edits[k]!;
      msg.replaceField!(i, name, value);
    }
    return FOUND;
  }
}

/** `type/subtype` of a Content-Type value, lower-cased, without parameters; '' when absent. */
export function mediaType(ct: string | undefined): string {
  if (ct === undefined) return '';
  const semi = ct.indexOf(';');
  return (semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase();
}

/** `type/subtype[;params]` without CR/LF (RFC 3261 §20.15). */
export function validContentType(ct: string): boolean {
  const mt = mediaType(ct);
  const slash = mt.indexOf('/');
  return slash > 0 && isToken(mt.slice(0, slash)) && isToken(mt.slice(slash + 1)) && !/[\r\n]/.test(ct);
}
