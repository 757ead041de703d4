/**
 * The client side of digest authentication for tests (RFC 7616 §3.4.1, qop=auth), computed with
 * node:crypto independently of the host's digest code, and small requests to carry it.
 *
 *   const line = digestCredentials(nonce, { username: 'alice', password: 's3cret', realm: 'example.com' });
 *   const msg = await sipRequest('REGISTER', { realm: 'example.com', extra: [line] });
 */
import { createHash } from 'node:crypto';
import type { SipMessage } from '../../host/sip/types.js';
import { parseMessage } from '../../host/sip/parser.js';

export interface DigestAnswer {
  username: string;
  password: string;
  realm: string;
  alg?: 'MD5' | 'SHA-256';
  method?: string;
  /** digest-uri (default sip:<realm>). */
  uri?: string;
  header?: 'Authorization' | 'Proxy-Authorization';
  cnonce?: string;
  nc?: number;
}

const hex = (alg: string, s: string): string => createHash(alg === 'SHA-256' ? 'sha256' : 'md5').update(s).digest('hex');

/** an Authorization (or Proxy-Authorization) header line answering `nonce`. */
export function digestCredentials(nonce: string, d: DigestAnswer): string {
  const alg = d.alg ?? 'MD5';
  const uri = d.uri ?? `sip:${d.realm}`;
  const cnonce = d.cnonce ?? 'c0ffee42';
  const nc = (d.nc ?? 1).toString(16).padStart(8, '0');
  const ha1 = hex(alg, `${d.username}:${d.realm}:${d.password}`);
  const ha2 = hex(alg, `${d.method ?? 'REGISTER'}:${uri}`);
  const response = hex(alg, `${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return `${d.header ?? 'Authorization'}: Digest username="${d.username}", realm="${d.realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=${alg}, cnonce="${cnonce}", nc=${nc}, qop=auth`;
}

/** a request from <sip:from@realm> to <sip:to@realm> (REGISTER: to = from, R-URI sip:realm). */
export async function sipRequest(method: string, o: { realm: string; from?: string; to?: string; ruri?: string; extra?: string[] }): Promise<SipMessage> {
  const from = o.from ?? 'alice';
  const to = o.to ?? (method === 'REGISTER' ? from : 'bob');
  const text = [
    `${method} ${o.ruri ?? (method === 'REGISTER' ? `sip:${o.realm}` : `sip:${to}@${o.realm}`)} SIP/2.0`,
    'Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-digest-1',
    'Max-Forwards: 70',
    `From: <sip:${from}@${o.realm}>;tag=f1`,
    `To: <sip:${to}@${o.realm}>`,
    'Call-ID: digest-test-1',
    `CSeq: 1 ${method}`,
    ...(o.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const r = parseMessage(Buffer.from(text), { maxMessageSize: 65535, maxHeaders: 256 });
  if (!r.ok) throw new Error(`unparsable test request: ${r.failure.detail}`);
  return r.message;
}
