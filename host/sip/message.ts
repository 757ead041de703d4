/**
 * The parsed SIP message (implements SipMessage from types.ts).
 *
 * It keeps the received bytes and, per header field, the byte range of its line and value. Values
 * are decoded on first access (and cached); the routing headers are interpreted once by the parser
 * through applyEagerField(). Edits replace or insert field records; toBuffer() copies every
 * untouched line byte-for-byte (original casing, compact names and folding included) and writes
 * only what was edited (RFC 3261 §16.6: a proxy forwards what it did not change unchanged).
 */
import type { CSeq, HeaderField, NameAddr, SipMessage, SipUri, Via } from './types.js';
import { headerKey, isListHeader, listHasEmptyElement, splitList } from './headers.js';
import { parseNameAddr } from './name-addr.js';
import { parseUri } from './uri.js';
import { parseVia } from './via.js';
import { hasNonAscii, isValidCallId, parseCSeq, parseUnsigned, unfold } from './values.js';
import { F_EDITED, F_FOLDED, HeaderLine } from './header-line.js';
import { dirtyBit, DIRTY_CALLID, DIRTY_CL, DIRTY_CSEQ, DIRTY_FROM, DIRTY_MAXFWD, DIRTY_TO, DIRTY_VIA } from './dirty-bits.js';
import { badEdit, checkHeaderValue, checkRequestUri } from './edit-checks.js';

export { hasNonAscii, isValidCallId, parseCSeq, parseUnsigned, unfold } from './values.js';
export { F_EDITED, F_FOLDED, HeaderLine } from './header-line.js';
export { dirtyBit, DIRTY_CALLID, DIRTY_CL, DIRTY_CSEQ, DIRTY_FROM, DIRTY_MAXFWD, DIRTY_TO, DIRTY_VIA } from './dirty-bits.js';
export { isHeaderName, isValidRequestUri } from './edit-checks.js';

/** A defect found while interpreting a routing header: the reason suffix and a detail for logs. */
export interface Defect {
  reason: string;
  detail: string;
}

/** bytes of the raw message ensureMaxForwardsProcessed() searches for the received Max-Forwards */
export const RECEIVED_MF_WINDOW = 8192;

/** the value starting at s[valueStart] follows its colon with nothing but SP/HT in between */
function onlyBlanksAfterColon(s: string, valueStart: number): boolean {
  let k = valueStart - 1;
  while (k >= 0 && (s.charCodeAt(k) === 32 || s.charCodeAt(k) === 9)) k--;
  return k >= 0 && s.charCodeAt(k) === 58;
}

export class SipMessageImpl implements SipMessage {
  // fields are `declare`d and assigned in the constructor (see HeaderLine)
  declare kind: 'request' | 'response';
  declare method: string;
  declare requestUri: string;
  declare uri: SipUri | undefined;
  declare status: number;
  declare reason: string;
  declare version: string;

  /** offset of the start line (after any leading CRLFs, RFC 3261 §7.5) */
  declare msgStart: number;
  /** offset after the start line's terminator */
  declare startEnd: number;
  /** offset of the empty line ending the headers */
  declare headEnd: number;
  declare bodyStart: number;
  declare bodyEnd: number;
  declare lines: HeaderLine[];

  // eager routing headers
  private declare _vias: Via[];
  private declare _from: NameAddr | undefined;
  private declare _to: NameAddr | undefined;
  private declare _callId: string;
  private declare _cseq: CSeq | undefined;
  private declare _maxForwards: number | undefined;
  private declare _contentLength: number | undefined;
  /** a Via element could not be read even leniently: replies cannot be routed */
  declare viaUnreadable: boolean;
  /** Via fields interpreted since the Via state was last reset (parse or refresh) */
  private declare viaFields: number;
  /** the first Via field holds exactly one element, which is _vias[0] (read strictly, no list) */
  private declare firstViaSimple: boolean;
  /** Max-Forwards of the received bytes as ensureMaxForwardsProcessed() reads them, when known from the parse; -1 if not */
  private declare receivedMf: number;

  private declare dirty: number;
  private declare edited: boolean;
  private declare startEdited: boolean;
  private declare newBody: Buffer | undefined;
  private declare valuesCache: Map<string, string[]> | undefined;
  private declare fieldsCache: HeaderField[] | undefined;

  declare readonly raw: Buffer;
  /** raw[0, head.length) decoded as latin1 (at least the header section): char offsets equal byte offsets */
  private declare readonly head: string;

  /** some header byte is >= 0x80: values are checked for UTF-8 when decoded */
  private declare readonly headHasHigh: boolean;

  constructor(raw: Buffer, head: string, headHasHigh: boolean) {
    this.raw = raw;
    this.head = head;
    this.headHasHigh = headHasHigh;
    this.kind = 'request';
    this.method = '';
    this.requestUri = '';
    this.uri = undefined;
    this.status = 0;
    this.reason = '';
    this.version = '';
    this.msgStart = 0;
    this.startEnd = 0;
    this.headEnd = 0;
    this.bodyStart = 0;
    this.bodyEnd = 0;
    this.lines = [];
    this._vias = [];
    this._from = undefined;
    this._to = undefined;
    this._callId = '';
    this._cseq = undefined;
    this._maxForwards = undefined;
    this._contentLength = undefined;
    this.viaUnreadable = false;
    this.viaFields = 0;
    this.firstViaSimple = false;
    this.receivedMf = -1;
    this.dirty = 0;
    this.edited = false;
    this.startEdited = false;
    this.newBody = undefined;
    this.valuesCache = undefined;
    this.fieldsCache = undefined;
  }

  // ---- eager routing headers ----------------------------------------------------------------

  get vias(): readonly Via[] { if (this.dirty !== 0) this.refresh(); return this._vias; }
  get from(): NameAddr | undefined { if (this.dirty !== 0) this.refresh(); return this._from; }
  get to(): NameAddr | undefined { if (this.dirty !== 0) this.refresh(); return this._to; }
  get callId(): string { if (this.dirty !== 0) this.refresh(); return this._callId; }
  get cseq(): CSeq | undefined { if (this.dirty !== 0) this.refresh(); return this._cseq; }
  get maxForwards(): number | undefined { if (this.dirty !== 0) this.refresh(); return this._maxForwards; }
  get contentLength(): number | undefined { if (this.dirty !== 0) this.refresh(); return this._contentLength; }

  /**
   * Interprets one routing-header field into the eager fields. Returns the first defect, or null.
   * Called by the parser for every field with a dirtyBit(), and again after edits.
   */
  applyEagerField(f: HeaderLine, bit: number): Defect | null {
    const value = this.valueOf(f);
    switch (bit) {
      case DIRTY_VIA: {
        let defect: Defect | null = null;
        const firstField = this.viaFields++ === 0;
        const hasComma = value.indexOf(',') >= 0;
        if (!hasComma && value.length > 0) {
          // one Via element per field (the usual case): no list array
          const via = parseVia(value, false);
          if (via !== null) {
            if (firstField) this.firstViaSimple = true;
            this._vias.push(via);
            return null;
          }
        }
        const elements = hasComma || value.length === 0 ? splitList(value) : [value];
        if (elements.length === 0 || (hasComma && listHasEmptyElement(value))) {
          defect = { reason: 'Bad Via', detail: `empty Via element in ${JSON.stringify(value)}` };
        }
        for (const el of elements) {
          let via = parseVia(el, false);
          if (via === null) {
            via = parseVia(el, true);
            defect ??= { reason: 'Bad Via', detail: `malformed Via ${JSON.stringify(el)}` };
            if (via === null) {
              // an element of bare separators (";", RFC 4475 §3.1.2.1 badinv01) is skipped like an
              // empty one; anything else leaves the Via path unknown and the message unanswerable.
              if (/[0-9A-Za-z]/.test(el)) this.viaUnreadable = true;
              continue;
            }
          }
          this._vias.push(via);
        }
        return defect;
      }
      case DIRTY_FROM:
      case DIRTY_TO: {
        const isFrom = bit === DIRTY_FROM;
        const label = isFrom ? 'From' : 'To';
        const current = isFrom ? this._from : this._to;
        // the URI gets Kamailio-style shallow checks here; parseUri() reads it fully on demand
        const na = parseNameAddr(value, false);
        if (na === null) return { reason: `Bad ${label}`, detail: `malformed ${label} ${JSON.stringify(value)}` };
        if (current !== undefined) return { reason: `Multiple ${label}`, detail: `more than one ${label} header` };
        if (isFrom) this._from = na;
        else this._to = na;
        return null;
      }
      case DIRTY_CALLID: {
        if (this._callId.length > 0) return { reason: 'Multiple Call-ID', detail: 'more than one Call-ID header' };
        if (!isValidCallId(value)) return { reason: 'Bad Call-ID', detail: `malformed Call-ID ${JSON.stringify(value)}` };
        this._callId = value;
        return null;
      }
      case DIRTY_CSEQ: {
        if (this._cseq !== undefined) return { reason: 'Multiple CSeq', detail: 'more than one CSeq header' };
        const cseq = parseCSeq(value);
        if (cseq === null) return { reason: 'Bad CSeq', detail: `malformed CSeq ${JSON.stringify(value)}` };
        this._cseq = cseq;
        return null;
      }
      case DIRTY_MAXFWD: {
        if (this._maxForwards !== undefined) return { reason: 'Multiple Max-Forwards', detail: 'more than one Max-Forwards header' };
        const n = parseUnsigned(value);
        // RFC 3261 §20.22: an integer 0-255 (RFC 4475 §3.1.2.4 scalar02 allows rejecting larger values)
        if (n < 0 || n > 255) return { reason: 'Bad Max-Forwards', detail: `Max-Forwards ${JSON.stringify(value)}` };
        this._maxForwards = n;
        // a received (not edited), unfolded field early in the message: what a scan of the raw
        // bytes for the first "Max-Forwards: <digits>" line finds (see receivedMaxForwards())
        if (f.lineStart >= 0 && (f.flags & F_FOLDED) === 0 && f.valueEnd <= RECEIVED_MF_WINDOW && onlyBlanksAfterColon(this.head, f.valueStart)) this.receivedMf = n;
        return null;
      }
      case DIRTY_CL: {
        // RFC 4475 §3.3.9 mcl01: several Content-Length values make the body length unknowable.
        if (this._contentLength !== undefined) return { reason: 'Multiple Content-Length', detail: 'more than one Content-Length header' };
        const n = parseUnsigned(value);
        if (n < 0) return { reason: 'Bad Content-Length', detail: `Content-Length ${JSON.stringify(value)}` };
        this._contentLength = n;
        return null;
      }
      default:
        return null;
    }
  }

  /** Re-derives the eager fields whose headers an edit touched (lenient: defects are ignored). */
  private refresh(): void {
    const d = this.dirty;
    this.dirty = 0;
    if (d & DIRTY_VIA) { this._vias = []; this.viaUnreadable = false; this.viaFields = 0; this.firstViaSimple = false; }
    if (d & DIRTY_FROM) this._from = undefined;
    if (d & DIRTY_TO) this._to = undefined;
    if (d & DIRTY_CALLID) this._callId = '';
    if (d & DIRTY_CSEQ) this._cseq = undefined;
    if (d & DIRTY_MAXFWD) this._maxForwards = undefined;
    if (d & DIRTY_CL) this._contentLength = undefined;
    for (const f of this.lines) {
      const bit = dirtyBit(f.key);
      if ((bit & d) !== 0) this.applyEagerField(f, bit);
    }
    if (this.kind === 'response' && (d & DIRTY_CSEQ) !== 0) this.method = this._cseq?.method ?? '';
  }

  // ---- header access -------------------------------------------------------------------------

  /** The value of a field: folding collapsed, surrounding whitespace trimmed. */
  valueOf(f: HeaderLine): string {
    if (f.text !== undefined) return f.text;
    let v = this.head.slice(f.valueStart, f.valueEnd);
    // latin1 chars >= 0x80 are UTF-8 bytes: decode those values as UTF-8 (RFC 3261 §7.3.1 TEXT-UTF8)
    if (this.headHasHigh && hasNonAscii(v)) v = this.raw.toString('utf8', f.valueStart, f.valueEnd);
    if ((f.flags & F_FOLDED) !== 0) v = unfold(v);
    f.text = v;
    return v;
  }

  header(name: string): string | undefined {
    const key = headerKey(name);
    const lines = this.lines;
    const list = isListHeader(key);
    for (let i = 0; i < lines.length; i++) {
      const f = lines[i]!;
      if (f.key !== key) continue;
      const v = this.valueOf(f);
      if (!list) return v;
      if (v.indexOf(',') < 0) {
        if (v.length > 0) return v;
        continue;
      }
      const els = splitList(v);
      if (els.length > 0) return els[0];
    }
    return undefined;
  }

  headerValues(name: string): string[] {
    const key = headerKey(name);
    const cached = this.valuesCache?.get(key);
    if (cached !== undefined) return cached.slice();
    const out: string[] = [];
    const list = isListHeader(key);
    for (const f of this.lines) {
      if (f.key !== key) continue;
      const v = this.valueOf(f);
      if (!list) out.push(v);
      else if (v.indexOf(',') >= 0) for (const el of splitList(v)) out.push(el);
      else if (v.length > 0) out.push(v);
    }
    // nothing found (a request without Route ...): no cache entry, the scan is as cheap as the lookup
    if (out.length === 0) return out;
    (this.valuesCache ??= new Map()).set(key, out);
    return out.slice();
  }

  headerCount(name: string): number {
    const key = headerKey(name);
    if (isListHeader(key)) {
      const cached = this.valuesCache?.get(key);
      return cached !== undefined ? cached.length : this.headerValues(key).length;
    }
    let n = 0;
    for (const f of this.lines) if (f.key === key) n++;
    return n;
  }

  fields(): readonly HeaderField[] {
    if (this.fieldsCache !== undefined) return this.fieldsCache;
    const out: HeaderField[] = [];
    for (const f of this.lines) out.push({ name: f.name, key: f.key, value: this.valueOf(f) });
    this.fieldsCache = out;
    return out;
  }

  get body(): Buffer {
    return this.newBody ?? this.raw.subarray(this.bodyStart, this.bodyEnd);
  }

  // ---- edits ---------------------------------------------------------------------------------

  private touch(key: string): void {
    this.edited = true;
    this.valuesCache = undefined;
    this.fieldsCache = undefined;
    this.dirty |= dirtyBit(key);
  }

  setRequestUri(uri: string): void {
    if (this.kind !== 'request') throw badEdit('a response has no Request-URI');
    checkRequestUri(uri);
    this.requestUri = uri;
    this.uri = parseUri(uri) ?? undefined;
    this.startEdited = true;
    this.edited = true;
  }

  addHeader(name: string, value: string, where: 'first' | 'last' = 'last'): void {
    checkHeaderValue(name, value);
    const key = headerKey(name);
    const line = new HeaderLine(name, key, -1, -1, -1, -1, F_EDITED, value.trim());
    if (where === 'first') {
      const at = this.lines.findIndex((f) => f.key === key);
      this.lines.splice(at < 0 ? 0 : at, 0, line);
    } else {
      this.lines.push(line);
    }
    this.touch(key);
  }

  removeHeader(name: string, index?: number): number {
    const key = headerKey(name);
    if (index === 0 && key === 'via' && this.firstViaSimple && (this.dirty & DIRTY_VIA) === 0) return this.removeFirstVia();
    const list = isListHeader(key);
    let removed = 0;
    let seen = 0;
    for (let i = 0; i < this.lines.length; i++) {
      const f = this.lines[i]!;
      if (f.key !== key) continue;
      const v = this.valueOf(f);
      // a field without comma holds one value (none when empty, for a list header): no split array
      const els = list && v.indexOf(',') >= 0 ? splitList(v) : null;
      const count = els !== null ? els.length : list && v.length === 0 ? 0 : 1;
      if (index === undefined) {
        removed += count;
        this.lines.splice(i--, 1);
        continue;
      }
      if (index >= seen + count) {
        seen += count;
        continue;
      }
      const k = index - seen;
      if (els === null || count <= 1) {
        this.lines.splice(i, 1);
      } else {
        els.splice(k, 1);
        this.lines[i] = new HeaderLine(f.name, key, -1, -1, -1, -1, F_EDITED, els.join(', '));
      }
      removed = 1;
      break;
    }
    if (removed > 0 || index === undefined) this.touch(key);
    return removed;
  }

  /**
   * removeHeader('via', 0) when the first Via field is known to hold one element, _vias[0] (a proxy
   * removing its own Via from a response, RFC 3261 §16.7 step 3): the field goes and the remaining
   * Vias are kept as interpreted, instead of re-reading them all. Same result as the refresh: the
   * first field contributed exactly _vias[0] and nothing to viaUnreadable.
   */
  private removeFirstVia(): number {
    const lines = this.lines;
    for (let i = 0; i < lines.length; i++) {
      if (lines[i]!.key !== 'via') continue;
      lines.splice(i, 1);
      this._vias = this._vias.slice(1);
      this.viaFields--;
      this.firstViaSimple = false; // the next field's shape is not recorded
      this.edited = true;
      this.valuesCache = undefined;
      this.fieldsCache = undefined;
      return 1;
    }
    return 0; // not reached: firstViaSimple implies a Via field
  }

  /**
   * The Max-Forwards value the received bytes carry, as ensureMaxForwardsProcessed() reads it (the
   * first "Max-Forwards: <digits>" line within the first RECEIVED_MF_WINDOW bytes), when the parse
   * already knows it; undefined when the caller has to look at the bytes itself.
   */
  receivedMaxForwards(): number | undefined {
    return this.receivedMf >= 0 ? this.receivedMf : undefined;
  }

  setHeader(name: string, value: string): void {
    checkHeaderValue(name, value);
    const key = headerKey(name);
    const line = new HeaderLine(name, key, -1, -1, -1, -1, F_EDITED, value.trim());
    // usual case (Max-Forwards decrement): one field of that name, replaced in place
    const lines = this.lines;
    let first = -1;
    let count = 0;
    for (let i = 0; i < lines.length; i++) {
      if (lines[i]!.key !== key) continue;
      if (first < 0) first = i;
      count++;
    }
    if (first < 0) {
      lines.push(line);
    } else if (count === 1) {
      lines[first] = line;
    } else {
      this.lines = lines.filter((f, i) => i === first || f.key !== key);
      this.lines[first] = line;
    }
    this.touch(key);
  }

  setBody(body: Buffer, contentType?: string): void {
    this.newBody = body;
    if (contentType !== undefined) this.setHeader('Content-Type', contentType);
    // Content-Length follows the body; an existing field keeps its name as written (e.g. "l").
    const at = this.lines.findIndex((f) => f.key === 'content-length');
    const len = String(body.length);
    if (at < 0) {
      this.lines.push(new HeaderLine('Content-Length', 'content-length', -1, -1, -1, -1, F_EDITED, len));
    } else {
      const name = this.lines[at]!.name;
      this.lines = this.lines.filter((f, i) => i === at || f.key !== 'content-length');
      this.lines[at] = new HeaderLine(name, 'content-length', -1, -1, -1, -1, F_EDITED, len);
    }
    this.touch('content-length');
  }

  replaceField(index: number, name: string, value: string | null): void {
    const old = this.lines[index];
    if (old === undefined) throw badEdit(`no header field #${index}`);
    if (value === null) {
      this.lines.splice(index, 1);
      this.touch(old.key);
      return;
    }
    checkHeaderValue(name, value);
    const key = headerKey(name);
    this.lines[index] = new HeaderLine(name, key, -1, -1, -1, -1, F_EDITED, value.trim());
    this.touch(old.key);
    if (key !== old.key) this.touch(key);
  }

  // ---- serializing ---------------------------------------------------------------------------

  toBuffer(): Buffer {
    if (!this.edited) return this.raw.subarray(this.msgStart, this.bodyEnd);
    return this.serialize(this.startEdited ? this.requestUri : null, null);
  }

  /**
   * The bytes of a proxy branch of this request without editing the message (RFC 3261 §16.6 steps
   * 2 and 8): `via` as a new top Via field and, when given, `requestUri` on the Request-Line; every
   * other field as toBuffer() writes it. The message itself (the server transaction's request, what
   * failure_route sees) is left as it is, so no per-branch copy has to be parsed.
   */
  toBranchBuffer(via: string, requestUri: string | null): Buffer {
    if (this.kind !== 'request') throw badEdit('a response has no Request-URI');
    checkHeaderValue('Via', via);
    if (requestUri === null || requestUri === this.requestUri) requestUri = this.startEdited ? this.requestUri : null;
    else checkRequestUri(requestUri);
    return this.serialize(requestUri, via);
  }

  /** toBuffer() with the Request-Line rewritten when `requestUri` is set and `topVia` inserted before the first Via. */
  private serialize(requestUri: string | null, topVia: string | null): Buffer {
    const raw = this.raw;
    // segments: a string, or a [start, end) range of raw as two numbers (no subarray per range)
    const segs = SEGS;
    segs.length = 0;
    if (requestUri !== null) {
      segs.push(`${this.method} ${requestUri} ${this.version}\r\n`);
    } else {
      segs.push(this.msgStart, this.startEnd);
    }
    const afterStart = segs.length;
    // consecutive untouched lines are copied as one range
    let runStart = -1;
    let runEnd = -1;
    const lines = this.lines;
    for (let i = 0; i < lines.length; i++) {
      const f = lines[i]!;
      if (topVia !== null && f.key === 'via') {
        // the new Via goes on top of the Via fields (§16.6 step 8), as addHeader(.., 'first') puts it
        if (runStart >= 0) segs.push(runStart, runEnd);
        runStart = -1;
        segs.push(`Via: ${topVia}\r\n`);
        topVia = null;
      }
      if ((f.flags & F_EDITED) === 0 && f.lineStart >= 0) {
        if (runStart >= 0 && f.lineStart === runEnd) {
          runEnd = f.lineEnd;
        } else {
          if (runStart >= 0) segs.push(runStart, runEnd);
          runStart = f.lineStart;
          runEnd = f.lineEnd;
        }
      } else {
        if (runStart >= 0) segs.push(runStart, runEnd);
        runStart = -1;
        segs.push(`${f.name}: ${f.text ?? ''}\r\n`);
      }
    }
    if (topVia !== null) {
      // no Via in the message: addHeader(.., 'first') would have put it at the top of the fields
      segs.splice(afterStart, 0, `Via: ${topVia}\r\n`);
    }
    const newBody = this.newBody;
    if (runStart >= 0 && runEnd === this.headEnd && newBody === undefined && this.bodyStart - this.headEnd === 2) {
      // the last run reaches the received CRLF empty line: it, the empty line and the body are one range
      segs.push(runStart, this.bodyEnd);
    } else {
      if (runStart >= 0) segs.push(runStart, runEnd);
      segs.push('\r\n');
      if (newBody === undefined) segs.push(this.bodyStart, this.bodyEnd);
    }
    let total = newBody === undefined ? 0 : newBody.length;
    for (let i = 0; i < segs.length; i++) {
      const p = segs[i]!;
      if (typeof p === 'string') total += Buffer.byteLength(p, 'utf8');
      else total += (segs[++i] as number) - p;
    }
    const out = Buffer.allocUnsafe(total);
    let o = 0;
    for (let i = 0; i < segs.length; i++) {
      const p = segs[i]!;
      if (typeof p === 'string') {
        o += out.write(p, o, 'utf8');
      } else {
        const e = segs[++i] as number;
        o += raw.copy(out, o, p, e);
      }
    }
    if (newBody !== undefined) newBody.copy(out, o);
    segs.length = 0;
    return out;
  }
}

/** serialize()'s segment list, reused (serialize does not re-enter) */
const SEGS: Array<string | number> = [];
