/**
 * Test helpers for the auth module: a message context over a parsed request whose replies are
 * captured, and an independent digest client (RFC 7616 §3.4.1 written out with node:crypto).
 */
import { createHash } from 'node:crypto';
import pino from 'pino';
import type { MessageContext } from '../../../host/core/context.js';
import { parseMessage } from '../../../host/sip/parser.js';
import type { SipMessage } from '../../../host/sip/types.js';

export interface Reply {
  code: number;
  reason: string;
  headers: readonly string[];
}

export interface TestCtx extends MessageContext {
  replies: Reply[];
}

let branches = 0;

/** a request; each call gets its own Via branch (a new transaction), so two calls are never byte-identical. */
export function request(method: string, extra: string[] = [], body = ''): SipMessage {
  const lines = [
    `${method} sip:alice@example.com SIP/2.0`,
    `Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-${++branches}`,
    'From: <sip:alice@example.com>;tag=1',
    `To: <sip:${method === 'REGISTER' ? 'alice' : 'bob'}@example.com>`,
    'Call-ID: c1@192.0.2.10',
    `CSeq: 1 ${method}`,
    'Max-Forwards: 70',
    ...extra,
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ];
  return parse(lines.join('\r\n'));
}

/** parses a request text (the same text twice: a retransmission). */
export function parse(text: string): SipMessage {
  const r = parseMessage(Buffer.from(text));
  if (!r.ok) throw new Error(`test message did not parse: ${r.failure.detail}`);
  return r.message;
}

export function ctxOf(msg: SipMessage, address = '192.0.2.10'): TestCtx {
  const replies: Reply[] = [];
  const ctx = {
    id: 1,
    msg,
    source: { address, port: 5060, proto: 'udp', family: 4 },
    local: { address: '127.0.0.1', port: 5060, proto: 'udp', family: 4 },
    dstUri: null,
    vars: new Map<string, string>(),
    replied: false,
    log: pino({ level: 'silent' }),
    replies,
    slReply(code: number, reason: string, headers: readonly string[] = []) {
      replies.push({ code, reason, headers });
      return true;
    },
  };
  return ctx as unknown as TestCtx;
}

/** the parameters of a challenge header line ("WWW-Authenticate: Digest a=b, ..."). */
export function challengeParams(line: string): Record<string, string> {
  const v = line.slice(line.indexOf('Digest ') + 7);
  const out: Record<string, string> = {};
  for (const m of v.matchAll(/([a-z]+)=("((?:[^"\\]|\\.)*)"|[^,\s]+)/g)) out[m[1]!] = m[3] ?? m[2]!;
  return out;
}

export interface ClientOpts {
  username: string;
  password: string;
  realm: string;
  nonce: string;
  method: string;
  uri: string;
  algorithm?: string;
  qop?: 'auth' | 'auth-int' | null;
  nc?: number;
  cnonce?: string;
  body?: string;
  opaque?: string;
  /** override the response (wrong password tests). */
  response?: string;
}

function H(alg: string, s: string): string {
  return createHash(alg.startsWith('SHA-256') ? 'sha256' : 'md5').update(s).digest('hex');
}

/** an Authorization value as a UA computes it. */
export function authorization(o: ClientOpts): string {
  const alg = o.algorithm ?? 'MD5';
  const qop = o.qop === undefined ? 'auth' : o.qop;
  const nc = (o.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = o.cnonce ?? '0a4f113b';
  let ha1 = H(alg, `${o.username}:${o.realm}:${o.password}`);
  if (alg.endsWith('-sess')) ha1 = H(alg, `${ha1}:${o.nonce}:${cnonce}`);
  const ha2 = H(alg, qop === 'auth-int' ? `${o.method}:${o.uri}:${H(alg, o.body ?? '')}` : `${o.method}:${o.uri}`);
  const response = o.response ?? (qop ? H(alg, `${ha1}:${o.nonce}:${nc}:${cnonce}:${qop}:${ha2}`) : H(alg, `${ha1}:${o.nonce}:${ha2}`));
  let v = `Digest username="${o.username}", realm="${o.realm}", nonce="${o.nonce}", uri="${o.uri}", response="${response}", algorithm=${alg}`;
  if (qop) v += `, qop=${qop}, nc=${nc}, cnonce="${cnonce}"`;
  if (o.opaque !== undefined) v += `, opaque="${o.opaque}"`;
  return v;
}
