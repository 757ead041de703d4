/**
 * parseMessage: bytes → SipMessage, or a ParseFailure saying what to answer (RFC 3261 §7, §8.2,
 * §18.3; RFC 4475 for the torture cases).
 *
 * One pass over the header section (decoded once as latin1, so string offsets are byte offsets)
 * records each field's line and value range; only the routing headers are interpreted eagerly
 * (Via, From, To, Call-ID, CSeq, Max-Forwards, Content-Length), everything else is decoded when
 * first read. The body is what Content-Length says; without one (datagram transports) it is the
 * rest of the buffer. Nothing throws out of parseMessage: the whole parse is wrapped, and the
 * failure path still hands out a `partial` message whenever a stateless reply can be routed.
 */
import { isAscii } from 'node:buffer';
import type { ParseFailure, ParseLimits, ParseResult } from './types.js';
import { CHAR, DIGIT, TOKEN, isToken } from './chars.js';
import { KNOWN_HEADER_COUNT, findKnownHeader, headerKey, knownKey, knownName, matchKnownSpelling, nameHashStep, spellingMatch } from './headers.js';
import { F_FOLDED, HeaderLine, SipMessageImpl, dirtyBit, hasNonAscii, type Defect } from './message.js';

/** eager bit per known-header index (every spelling of an eager header is a known name). */
const KNOWN_EAGER_BITS = new Int8Array(KNOWN_HEADER_COUNT);
for (let i = 0; i < KNOWN_HEADER_COUNT; i++) KNOWN_EAGER_BITS[i] = dirtyBit(knownKey(i));
function eagerBitOfKnown(known: number): number {
  return KNOWN_EAGER_BITS[known]!;
}
import { parseUri, uriScheme } from './uri.js';

export { parseUri, formatUri } from './uri.js';
export { parseNameAddr } from './name-addr.js';
export { parseVia } from './via.js';
export { COMPACT_FORMS, LIST_HEADERS, headerKey, isListHeader, splitList } from './headers.js';
export { SipMessageImpl } from './message.js';

export const DEFAULT_LIMITS: Readonly<ParseLimits> = Object.freeze({ maxMessageSize: 65535, maxHeaders: 256 });

/** What the start line said, and the failure it implies (if any). */
interface StartLineFailure {
  status: number;
  reason: string;
  detail: string;
}

/** bytes decoded up front; a header section longer than this costs a second decode */
const FIRST_DECODE = 4096;

/** bodyStart of the last locateHeaderEnd() hit (a module-level slot instead of a result object) */
const located = { bodyStart: 0 };

/**
 * Finds the empty line ending the header section: CRLF CRLF (RFC 3261 §7), or LF LF when the
 * message uses bare LFs (tolerated, as Kamailio does; the first line tells the style). Returns the
 * offset after the last header's terminator (sets located.bodyStart), or -1.
 */
function locateHeaderEnd(text: string, from: number): number {
  const firstNl = text.indexOf('\n', from);
  const bareLf = firstNl > from && text.charCodeAt(firstNl - 1) !== 13;
  const crlf = text.indexOf('\r\n\r\n', from);
  const lf = bareLf ? text.indexOf('\n\n', from) : -1;
  if (crlf >= 0 && (lf < 0 || crlf < lf)) {
    located.bodyStart = crlf + 4;
    return crlf + 2;
  }
  if (lf >= 0) {
    located.bodyStart = lf + 2;
    return lf + 1;
  }
  return -1;
}

export function parseMessage(buf: Buffer, limits?: Partial<ParseLimits>): ParseResult {
  const maxSize = limits?.maxMessageSize ?? DEFAULT_LIMITS.maxMessageSize;
  const maxHeaders = limits?.maxHeaders ?? DEFAULT_LIMITS.maxHeaders;
  try {
    return parse(buf, maxSize, maxHeaders);
  } catch (e) {
    // A parser bug must never take the server down; the message is dropped and counted.
    return fail(0, 'Bad Request', `parser error: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function fail(status: number, reason: string, detail: string, partial?: SipMessageImpl): ParseResult {
  const failure: ParseFailure = { status, reason, detail };
  if (partial !== undefined) failure.partial = partial;
  return { ok: false, failure };
}

function parse(buf: Buffer, maxSize: number, maxHeaders: number): ParseResult {
  const size = buf.length;
  // RFC 3261 §7.5: CRLFs before the start line are ignored (keepalives, stream leftovers).
  let msgStart = 0;
  while (msgStart < size && (buf[msgStart] === 13 || buf[msgStart] === 10)) msgStart++;
  if (msgStart >= size) return fail(0, 'Bad Request', 'empty message');

  // Decode the (likely) header section once as latin1, so string offsets are byte offsets; all
  // scanning then runs on the string.
  let head = buf.toString('latin1', 0, size <= FIRST_DECODE ? size : FIRST_DECODE);
  let headEnd = locateHeaderEnd(head, msgStart);
  if (headEnd < 0 && size > FIRST_DECODE) {
    head = buf.toString('latin1');
    headEnd = locateHeaderEnd(head, msgStart);
  }
  let bodyStart: number;
  let complete = true;
  if (headEnd >= 0) {
    bodyStart = located.bodyStart;
  } else {
    headEnd = size;
    bodyStart = size;
    complete = false;
  }

  // one SIMD scan tells whether any header byte is >= 0x80 (then values are decoded as UTF-8)
  // (the whole buffer first: no subarray object in the common all-ASCII case)
  const msg = new SipMessageImpl(buf, head, !isAscii(buf) && !isAscii(buf.subarray(0, headEnd)));
  msg.msgStart = msgStart;
  msg.headEnd = headEnd;
  msg.bodyStart = bodyStart;
  msg.bodyEnd = bodyStart;

  // ---- start line ------------------------------------------------------------------------------
  let nl = head.indexOf('\n', msgStart);
  const startEnd = nl < 0 ? headEnd : nl + 1;
  let lineEnd = nl < 0 ? headEnd : nl;
  if (lineEnd > msgStart && head.charCodeAt(lineEnd - 1) === 13) lineEnd--;
  msg.startEnd = startEnd;
  const startFailure = parseStartLine(msg, buf, head, msgStart, lineEnd);
  if (startFailure !== null && startFailure.status === 0) {
    return fail(0, startFailure.reason, startFailure.detail);
  }

  // ---- header fields ---------------------------------------------------------------------------
  let defect: Defect | null = null;
  const lines = msg.lines;
  let p = startEnd;
  // past max_headers fields the message is refused (400 below): the rest is not interpreted, so the
  // work per message is bounded by the limit, not by how many tiny lines fit in the size limit
  while (p < headEnd && lines.length <= maxHeaders) {
    // one logical line: a physical line plus continuation lines starting with SP/HT (§7.3.1)
    nl = head.indexOf('\n', p);
    let end = nl < 0 ? headEnd : nl + 1;
    let flags = 0;
    while (end < headEnd) {
      const c = head.charCodeAt(end);
      if (c !== 32 && c !== 9) break;
      flags |= F_FOLDED;
      nl = head.indexOf('\n', end);
      end = nl < 0 ? headEnd : nl + 1;
    }
    // a known name in its usual spelling is recognised with native compares; otherwise the name is
    // scanned as a token (RFC 3261 §7.3.1), hashed on the way for the known-name lookup, then
    // optional SP/HT and the colon: one pass, no indexOf(':') per line
    let known = matchKnownSpelling(head, p, end);
    let nameEnd: number;
    let colon: number;
    if (known >= 0) {
      colon = spellingMatch.colon;
      nameEnd = colon;
      while (head.charCodeAt(nameEnd - 1) === 32 || head.charCodeAt(nameEnd - 1) === 9) nameEnd--;
    } else {
      let hash = 0;
      let k = p;
      for (; k < end; k++) {
        const c = head.charCodeAt(k);
        if ((CHAR[c]! & TOKEN) === 0) break;
        hash = nameHashStep(hash, c);
      }
      nameEnd = k;
      colon = k;
      while (colon < end && (head.charCodeAt(colon) === 32 || head.charCodeAt(colon) === 9)) colon++;
      if (nameEnd > p && colon < end && head.charCodeAt(colon) === 58) known = findKnownHeader(head, p, nameEnd, hash);
    }
    if (nameEnd === p || colon >= end || head.charCodeAt(colon) !== 58 /* : */) {
      // slow path, only for the first defect: tell a line without colon from a bad name. The colon
      // is looked for within this line only (an indexOf to the end of the message for each of
      // thousands of colon-less lines would make the scan quadratic).
      if (defect !== null) {
        p = end;
        continue;
      }
      let at = p;
      while (at < end && head.charCodeAt(at) !== 58) at++;
      if (at >= end) {
        defect ??= { reason: 'Malformed header line', detail: `header line without colon at byte ${p}` };
      } else {
        let badEnd = at;
        while (badEnd > p && (head.charCodeAt(badEnd - 1) === 32 || head.charCodeAt(badEnd - 1) === 9)) badEnd--;
        defect ??= { reason: 'Malformed header line', detail: `bad header name ${JSON.stringify(head.slice(p, badEnd).slice(0, 40))}` };
      }
      p = end;
      continue;
    }
    let vs = colon + 1;
    while (vs < end) {
      const c = head.charCodeAt(vs);
      if (c !== 32 && c !== 9 && c !== 13 && c !== 10) break;
      vs++;
    }
    let ve = end;
    while (ve > vs) {
      const c = head.charCodeAt(ve - 1);
      if (c !== 32 && c !== 9 && c !== 13 && c !== 10) break;
      ve--;
    }
    let name: string;
    let key: string;
    if (known >= 0) {
      name = knownName(known, head, p, nameEnd);
      key = knownKey(known);
    } else {
      name = head.slice(p, nameEnd);
      key = headerKey(name);
    }
    const line = new HeaderLine(name, key, p, end, vs, ve, flags, undefined);
    lines.push(line);
    const bit = known >= 0 ? eagerBitOfKnown(known) : 0;
    if (bit !== 0) {
      const d = msg.applyEagerField(line, bit);
      if (d !== null) defect ??= d;
    } else if (key === 'contact') {
      // RFC 3261 §20.10: a URI holding "?" must be in < > (RFC 4475 §3.1.2.13 regbadct)
      const v = msg.valueOf(line);
      if (v.indexOf('?') >= 0 && v.indexOf('<') < 0) {
        defect ??= { reason: 'Bad Contact', detail: `Contact URI with headers outside < >: ${JSON.stringify(v)}` };
      }
    }
    p = end;
  }

  // ---- body ------------------------------------------------------------------------------------
  const cl = msg.contentLength;
  let clTooLarge = false;
  if (cl === undefined) {
    msg.bodyEnd = size; // datagram without Content-Length: the rest is the body (RFC 3261 §18.3)
  } else if (bodyStart + cl > size) {
    clTooLarge = true;
    msg.bodyEnd = size;
  } else {
    msg.bodyEnd = bodyStart + cl; // extra bytes after the body are ignored (RFC 4475 §3.1.1.8 dblreq)
  }

  if (msg.kind === 'response') msg.method = msg.cseq?.method ?? '';

  // ---- verdict ---------------------------------------------------------------------------------
  const isRequest = msg.kind === 'request';
  const canReply = isRequest && msg.vias.length > 0 && !msg.viaUnreadable;
  const partial = canReply ? msg : undefined;
  const reply = (status: number, reason: string, detail: string): ParseResult =>
    fail(canReply ? status : 0, reason, detail, partial);

  if (size > maxSize) {
    return reply(513, 'Message Too Large', `message of ${size} bytes exceeds the ${maxSize}-byte limit`);
  }
  if (lines.length > maxHeaders) {
    return reply(400, 'Bad Request - Too Many Headers', `more than ${maxHeaders} header fields`);
  }
  if (startFailure !== null) return reply(startFailure.status, startFailure.reason, startFailure.detail);
  if (defect !== null) return reply(400, `Bad Request - ${defect.reason}`, defect.detail);
  if (!complete) return reply(400, 'Bad Request - Missing Empty Line After Headers', 'the header section does not end with an empty line');
  if (msg.vias.length === 0) return fail(0, 'Bad Request - Missing Via', 'no Via header: a reply cannot be routed');
  if (msg.from === undefined) return reply(400, 'Bad Request - Missing From', 'no From header');
  if (msg.to === undefined) return reply(400, 'Bad Request - Missing To', 'no To header');
  if (msg.callId.length === 0) return reply(400, 'Bad Request - Missing Call-ID', 'no Call-ID header');
  const cseq = msg.cseq;
  if (cseq === undefined) return reply(400, 'Bad Request - Missing CSeq', 'no CSeq header');
  // RFC 3261 §8.1.1.5: the CSeq method matches the request method (RFC 4475 §3.1.2.17, §3.1.2.18)
  if (isRequest && cseq.method !== msg.method) {
    return reply(400, 'Bad Request - CSeq Method Mismatch', `CSeq method ${cseq.method} differs from request method ${msg.method}`);
  }
  if (clTooLarge) {
    // RFC 4475 §3.1.2.2 clerr: on a datagram the missing bytes will never come.
    return reply(400, 'Bad Request - Content-Length Larger Than Body', `Content-Length ${cl} but ${size - bodyStart} body bytes`);
  }
  return { ok: true, message: msg };
}

/** RFC 3261 §7.1 methods and the common extensions (RFC 3262, 3265/6665, 3311, 3428, 3515, 3903). */
const COMMON_METHODS = ['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'UPDATE', 'MESSAGE', 'REFER', 'INFO', 'PUBLISH'];

/** The method line[0,len) as one of COMMON_METHODS (case-sensitive, §7.1), or undefined. */
function commonMethod(line: string, len: number): string | undefined {
  for (let i = 0; i < COMMON_METHODS.length; i++) {
    const m = COMMON_METHODS[i]!;
    if (m.length === len && line.startsWith(m)) return m;
  }
  return undefined;
}

/**
 * Request-Line = Method SP Request-URI SP SIP-Version (RFC 3261 §7.1), exactly one SP between the
 * elements (RFC 4475 §3.1.2.9 lwsstart, §3.1.2.10 trws, §3.1.2.8 lwsruri);
 * Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (§7.2).
 * Fills the message's start-line fields; returns null when fine, else the failure (status 0 = drop).
 */
function parseStartLine(
  msg: SipMessageImpl, buf: Buffer, head: string, from: number, to: number,
): StartLineFailure | null {
  const line = head.slice(from, to);
  if (line.length >= 4 && (line.charCodeAt(0) | 0x20) === 115 && (line.charCodeAt(1) | 0x20) === 105
    && (line.charCodeAt(2) | 0x20) === 112 && line.charCodeAt(3) === 47) {
    return parseStatusLine(msg, buf, line, from);
  }
  msg.kind = 'request';
  const sp1 = line.indexOf(' ');
  if (sp1 <= 0) return { status: 0, reason: 'Bad Request', detail: 'unreadable start line' };
  // the usual methods and "SIP/2.0" are recognised in place and shared (no slices, no token scan)
  const method = commonMethod(line, sp1) ?? line.slice(0, sp1);
  const lastSp = line.lastIndexOf(' ');
  const version = line.length - lastSp === 8 && line.endsWith(' SIP/2.0') ? 'SIP/2.0' : line.slice(lastSp + 1);
  const versionOk = version === 'SIP/2.0' || version.toUpperCase() === 'SIP/2.0';
  // anchored, and the two digit runs are separated by a literal '.': one attempt, linear backtracking
  const sipish = versionOk || /^SIP\/\d+\.\d+$/i.test(version);
  if (!isToken(method)) return { status: 0, reason: 'Bad Request', detail: `bad method ${JSON.stringify(method.slice(0, 40))}` };
  msg.method = method;
  if (lastSp === sp1) {
    return { status: 0, reason: 'Bad Request', detail: 'request line without Request-URI' };
  }
  const sp2 = line.indexOf(' ', sp1 + 1);
  const uriText = line.slice(sp1 + 1, sp2);
  msg.requestUri = uriText;
  msg.version = version;
  if (!versionOk && !sipish) {
    // trailing SP (trws) leaves an empty version: still a SIP request worth a 400
    const trimmed = line.trimEnd();
    const t = trimmed.slice(trimmed.lastIndexOf(' ') + 1);
    if (t.toUpperCase() !== 'SIP/2.0') return { status: 0, reason: 'Bad Request', detail: `not a SIP start line: ${JSON.stringify(line.slice(0, 80))}` };
    msg.version = t;
    return { status: 400, reason: 'Bad Request - Malformed Request-Line', detail: 'whitespace at the end of the Request-Line' };
  }
  if (!versionOk) {
    return { status: 505, reason: 'Version Not Supported', detail: `SIP version ${version}` };
  }
  if (sp2 !== lastSp || sp2 === sp1 + 1 || line.indexOf('\t') >= 0) {
    return { status: 400, reason: 'Bad Request - Malformed Request-Line', detail: `extra whitespace in ${JSON.stringify(line.slice(0, 120))}` };
  }
  const scheme = uriScheme(uriText);
  if (scheme === null) {
    return { status: 400, reason: 'Bad Request - Bad Request-URI', detail: `Request-URI ${JSON.stringify(uriText.slice(0, 120))}` };
  }
  if (scheme !== 'sip' && scheme !== 'sips' && scheme !== 'tel') {
    // RFC 3261 §8.2.2.1 / RFC 4475 §3.3.2 unkscm, §3.3.3 novelsc
    return { status: 416, reason: 'Unsupported URI Scheme', detail: `Request-URI scheme ${scheme}` };
  }
  const uri = parseUri(uriText);
  if (uri === null) {
    return { status: 400, reason: 'Bad Request - Bad Request-URI', detail: `Request-URI ${JSON.stringify(uriText.slice(0, 120))}` };
  }
  msg.uri = uri;
  if (uri.headers.length > 0) {
    // RFC 3261 §19.1.1 table 1: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11 escruri)
    return { status: 400, reason: 'Bad Request - Bad Request-URI', detail: 'Request-URI holds URI headers' };
  }
  return null;
}

function parseStatusLine(msg: SipMessageImpl, buf: Buffer, line: string, from: number): StartLineFailure | null {
  msg.kind = 'response';
  const sp1 = line.indexOf(' ');
  if (sp1 < 0) return { status: 0, reason: 'Bad Response', detail: 'status line without status code' };
  const version = line.slice(0, sp1);
  msg.version = version;
  if (version.toUpperCase() !== 'SIP/2.0') return { status: 0, reason: 'Bad Response', detail: `SIP version ${version}` };
  let sp2 = line.indexOf(' ', sp1 + 1);
  if (sp2 < 0) sp2 = line.length;
  // Status-Code = 3DIGIT (RFC 3261 §7.2; RFC 4475 §3.1.2.19 bigcode)
  if (sp2 - sp1 - 1 !== 3) return { status: 0, reason: 'Bad Response', detail: `status code ${JSON.stringify(line.slice(sp1 + 1, sp2))}` };
  let code = 0;
  for (let i = sp1 + 1; i < sp2; i++) {
    const c = line.charCodeAt(i);
    if ((CHAR[c]! & DIGIT) === 0) return { status: 0, reason: 'Bad Response', detail: 'non-digit status code' };
    code = code * 10 + (c - 48);
  }
  if (code < 100 || code > 699) return { status: 0, reason: 'Bad Response', detail: `status code ${code}` };
  msg.status = code;
  const rs = Math.min(sp2 + 1, line.length);
  // Reason-Phrase may be UTF-8 (RFC 3261 §7.2; RFC 4475 §3.1.1.12 unreason)
  msg.reason = hasNonAscii(line) ? buf.toString('utf8', from + rs, from + line.length) : line.slice(rs);
  return null;
}
