/**
 * A deliberately small reader of what the two servers send (replies to the client, requests to the
 * next hop): start line, header lines in order (folded lines joined, RFC 3261 §7.3.1), body. It is not
 * siphon's parser on purpose: the oracle must not judge siphon's output with siphon's own code. It
 * only has to read well-formed output of two servers; anything it cannot read is kept as raw text.
 */
import { COMPACT_FORMS } from '../../../host/sip/headers.js';

export interface HeaderLine {
  /** lower-case long name (compact forms expanded, RFC 3261 §7.3.3). */
  name: string;
  value: string;
}

export interface SipText {
  kind: 'request' | 'response' | 'unreadable';
  /** request */
  method?: string;
  ruri?: string;
  /** response */
  status?: number;
  reason?: string;
  headers: HeaderLine[];
  body: string;
  raw: string;
}

export function longName(name: string): string {
  const n = name.trim().toLowerCase();
  return COMPACT_FORMS[n] ?? n;
}

export function readSip(buf: Buffer | string): SipText {
  const raw = typeof buf === 'string' ? buf : buf.toString('latin1');
  const end = raw.indexOf('\r\n\r\n');
  const head = end < 0 ? raw : raw.slice(0, end);
  const body = end < 0 ? '' : raw.slice(end + 4);
  const lines = head.split('\r\n');
  const first = lines.shift() ?? '';
  const headers: HeaderLine[] = [];
  for (const l of lines) {
    if ((l.startsWith(' ') || l.startsWith('\t')) && headers.length > 0) {
      headers[headers.length - 1]!.value += ' ' + l.trim();
      continue;
    }
    const i = l.indexOf(':');
    if (i <= 0) continue;
    headers.push({ name: longName(l.slice(0, i)), value: l.slice(i + 1).trim() });
  }
  const resp = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(first);
  if (resp) return { kind: 'response', status: Number(resp[1]), reason: resp[2] ?? '', headers, body, raw };
  // trailing blanks tolerated: a server may relay a Request-Line as it came (RFC 4475 §3.1.2.10 trws)
  const req = /^([A-Za-z0-9.!%*_+`'~-]+) (\S+) SIP\/2\.0[ \t]*$/.exec(first);
  if (req) return { kind: 'request', method: req[1], ruri: req[2], headers, body, raw };
  return { kind: 'unreadable', headers, body, raw };
}

/** the first value of header `name` (long or compact form), or undefined. */
export function header(msg: SipText, name: string): string | undefined {
  const n = longName(name);
  return msg.headers.find((h) => h.name === n)?.value;
}

/** a header parameter (`;name=value`), e.g. param(via, 'branch'). */
export function param(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  const m = new RegExp(`;\\s*${name}\\s*=\\s*([^;,>\\s]+)`, 'i').exec(value);
  return m?.[1];
}

/** Call-ID of a message, '' when absent. */
export function callIdOf(msg: SipText): string {
  return header(msg, 'call-id') ?? '';
}
