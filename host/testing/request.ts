/**
 * SIP requests for plugin tests: from text (as in an RFC, bare LF accepted) or from a builder that
 * fills in the mandatory header fields of RFC 3261 §8.1.1 (Via with a magic-cookie branch, Max-Forwards,
 * From with a tag, To, Call-ID, CSeq, Contact for INVITE/REGISTER, Content-Length).
 *
 *   sipRequest('INVITE', 'sip:bob@example.com').header('X-Tenant', 'a').body('v=0...', 'application/sdp')
 */
import { SiphonError } from '../errors/registry.js';
import { parseMessage } from '../sip/parser.js';
import type { SipMessage } from '../sip/types.js';

let counter = 0;

/** A request under construction; `toString()` gives its text with CRLF line ends. */
export class RequestBuilder {
  private fromUri = 'sip:alice@example.org';
  private fromTag = `t${(++counter).toString(36)}`;
  private toUri: string;
  private toTagValue: string | undefined;
  private callIdValue = `call-${counter}-${Date.now().toString(36)}@test`;
  private cseq = 1;
  private via: string | undefined;
  private maxForwards = 70;
  private contact: string | undefined;
  private readonly extra: string[] = [];
  private bodyText = '';
  private contentType: string | undefined;

  constructor(
    readonly method: string,
    readonly uri: string,
  ) {
    if (!/^[A-Za-z!%*_+`'~.-]+$/.test(method)) throw new SiphonError('CLI_USAGE', `bad SIP method "${method}"`);
    // REGISTER is addressed to the AOR in To (RFC 3261 §10.2); other requests to the R-URI
    this.toUri = uri;
  }

  from(uri: string, tag = this.fromTag): this {
    this.fromUri = uri;
    this.fromTag = tag;
    return this;
  }

  to(uri: string, tag?: string): this {
    this.toUri = uri;
    this.toTagValue = tag;
    return this;
  }

  /** makes the request in-dialog (a To-tag). */
  toTag(tag: string): this {
    this.toTagValue = tag;
    return this;
  }

  callId(id: string): this {
    this.callIdValue = id;
    return this;
  }

  cseqNumber(n: number): this {
    this.cseq = n;
    return this;
  }

  /** the top Via's sent-by (`host:port`, default the tester's source address) and branch. */
  viaFrom(sentBy: string, branch = `z9hG4bK${counter}x${Date.now().toString(36)}`): this {
    this.via = `SIP/2.0/UDP ${sentBy};branch=${branch};rport`;
    return this;
  }

  maxForwardsValue(n: number): this {
    this.maxForwards = n;
    return this;
  }

  contactUri(uri: string): this {
    this.contact = `<${uri}>`;
    return this;
  }

  /** adds a header field line `Name: value` (repeatable). */
  header(name: string, value: string): this {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new SiphonError('CLI_USAGE', 'header names and values cannot hold line breaks');
    this.extra.push(`${name}: ${value}`);
    return this;
  }

  body(text: string, contentType = 'application/sdp'): this {
    this.bodyText = text;
    this.contentType = contentType;
    return this;
  }

  /** the request text; `sentBy` is the source used for the Via when viaFrom() was not called. */
  toString(sentBy = '127.0.0.1:5080'): string {
    const branch = `z9hG4bK${counter}t${Date.now().toString(36)}`;
    const contact = this.contact ?? (this.method === 'INVITE' || this.method === 'REGISTER' || this.method === 'SUBSCRIBE' ? `<sip:${this.fromUri.replace(/^sips?:/, '').split('@')[0]}@${sentBy}>` : undefined);
    const lines = [
      `${this.method} ${this.uri} SIP/2.0`,
      `Via: ${this.via ?? `SIP/2.0/UDP ${sentBy};branch=${branch};rport`}`,
      `Max-Forwards: ${this.maxForwards}`,
      `From: <${this.fromUri}>;tag=${this.fromTag}`,
      `To: <${this.toUri}>${this.toTagValue !== undefined ? `;tag=${this.toTagValue}` : ''}`,
      `Call-ID: ${this.callIdValue}`,
      `CSeq: ${this.cseq} ${this.method}`,
      ...(contact !== undefined ? [`Contact: ${contact}`] : []),
      ...this.extra,
    ];
    if (this.contentType !== undefined && this.bodyText.length > 0) lines.push(`Content-Type: ${this.contentType}`);
    lines.push(`Content-Length: ${Buffer.byteLength(this.bodyText, 'utf8')}`, '', this.bodyText);
    return lines.join('\r\n');
  }
}

/** A request builder for `method` to `uri` (the R-URI). */
export function sipRequest(method: string, uri: string): RequestBuilder {
  return new RequestBuilder(method, uri);
}

/**
 * The wire bytes of a message written by hand: CRLF line ends as RFC 3261 §7 wants them. Text that
 * has no CRLF at all gets its bare LFs turned into CRLFs in the header section (the body is kept).
 */
export function toWire(text: string | Buffer): Buffer {
  const raw = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  if (raw.includes('\r\n') || !raw.includes('\n')) return raw;
  const s = raw.toString('latin1');
  const sep = s.indexOf('\n\n');
  const head = (sep < 0 ? s.replace(/\n+$/, '') : s.slice(0, sep)).replace(/\n/g, '\r\n');
  return Buffer.from(sep < 0 ? `${head}\r\n\r\n` : `${head}\r\n\r\n${s.slice(sep + 2)}`, 'latin1');
}

/** Parses a request (text or bytes, bare LF accepted); throws SiphonError E1xxx naming `where`. */
export function parseRequest(text: string | Buffer, where = 'request'): SipMessage {
  let r = parseMessage(typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
  if (!r.ok) r = parseMessage(toWire(text));
  if (!r.ok) throw new SiphonError('SIP_PARSE', `${r.failure.reason} (${r.failure.detail})`, { where });
  if (r.message.kind !== 'request') throw new SiphonError('CLI_USAGE', 'request_route runs on requests; this is a response', { where });
  return r.message;
}
