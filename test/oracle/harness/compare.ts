/**
 * Normalise two outcomes into comparable views and list their differences.
 *
 * What may differ without being a difference:
 *   - the run-specific addresses (client address, server and next-hop ports): replaced by placeholders;
 *   - Via branch values the servers generate (a Via naming <server>): `z9hG4bK<branch>`;
 *   - To-tags a server generated for its own replies (not in the sent message, not the next hop's):
 *     `<local-tag>`;
 *   - headers that name the software (Server, and User-Agent in messages the server generated);
 *   - the order of headers with different names (RFC 3261 §7.3.1; same-name order is kept), the order
 *     of Via parameters, spaces around `;` and `=`, header-name case and compact forms.
 * Reason phrases of replies a server generated itself are not compared (RFC 3261 §21: the code carries
 * the meaning); phrases of relayed replies are (a proxy must not change them, §16.7).
 */
import type { Outcome, Side } from './pair.js';
import { readSip, type SipText } from './sip-text.js';

export interface MessageView {
  /** `SIP/2.0 486 Busy Here` (relayed), `SIP/2.0 400` (generated), `INVITE sip:...` (request). */
  line: string;
  /** lower-case header name → its values in order. */
  headers: Record<string, string[]>;
  body: string;
  /** for requests at the next hop: 'hop-ack' when it was the ACK of the next hop's non-2xx. */
  note?: string;
  /** the first line as sent (shown in differences, not compared). */
  firstLine: string;
}

export interface OutcomeView {
  replies: MessageView[];
  forwarded: MessageView[];
  acksComplete: boolean;
}

export interface NormaliseOptions {
  /** headers never compared (lower-case long names); default ['server']. */
  ignoreHeaders?: string[];
}

function substitute(raw: string, side: Side): string {
  let s = raw;
  for (const [from, to] of side.substitutions) s = s.split(from).join(to);
  return s;
}

function normaliseVia(value: string): string {
  // one Via header value may hold several via-parms separated by commas (RFC 3261 §20.42)
  return value
    .split(',')
    .map((one) => {
      const [sentBy, ...params] = one.split(';').map((p) => p.trim());
      const ours = (sentBy ?? '').includes('<server>');
      const ps = params.map((p) => {
        const [k, v] = p.split('=').map((x) => x.trim());
        const key = (k ?? '').toLowerCase();
        if (key === 'branch' && ours) return 'branch=z9hG4bK<branch>';
        return v === undefined ? key : `${key}=${v}`;
      });
      return [(sentBy ?? '').replace(/\s+/g, ' '), ...ps.sort()].join(';');
    })
    .join(', ');
}

function normaliseTo(value: string, sent: string): string {
  return value.replace(/;\s*tag\s*=\s*([^;>\s,]+)/i, (whole, tag: string) => (tag.startsWith('sink-') || sent.includes(tag) ? `;tag=${tag}` : ';tag=<local-tag>'));
}

function view(msg: SipText, side: Side, sent: string, generated: boolean, ignore: Set<string>, note?: string): MessageView {
  const m = readSip(substitute(msg.raw, side));
  const headers: Record<string, string[]> = {};
  for (const h of m.headers) {
    if (ignore.has(h.name) || (generated && h.name === 'user-agent')) continue;
    let v = h.value;
    if (h.name === 'via') v = normaliseVia(v);
    else if (h.name === 'to') v = normaliseTo(v, sent);
    (headers[h.name] ??= []).push(v);
  }
  const sorted: Record<string, string[]> = {};
  for (const k of Object.keys(headers).sort()) sorted[k] = headers[k]!;
  let line: string;
  if (m.kind === 'response') line = generated ? `SIP/2.0 ${m.status}` : `SIP/2.0 ${m.status} ${m.reason}`;
  else if (m.kind === 'request') line = `${m.method} ${m.ruri}`;
  else line = `unreadable: ${JSON.stringify(m.raw.slice(0, 60))}`;
  const firstLine = m.raw.slice(0, Math.max(0, m.raw.indexOf('\r\n')));
  return { line, headers: sorted, body: m.body, firstLine, ...(note ? { note } : {}) };
}

/** true when a reply came from the next hop (its To-tag) rather than from the server itself. */
function relayed(msg: SipText): boolean {
  return /;\s*tag\s*=\s*sink-/i.test(msg.headers.find((h) => h.name === 'to')?.value ?? '');
}

export function normalise(out: Outcome, side: Side, sent: Buffer | string, opts: NormaliseOptions = {}): OutcomeView {
  const ignore = new Set(opts.ignoreHeaders ?? ['server']);
  const sentText = substitute(typeof sent === 'string' ? sent : sent.toString('latin1'), side);
  return {
    replies: out.replies.map((r) => view(r, side, sentText, !relayed(r), ignore)),
    forwarded: out.forwarded.map((f) => view(f.msg, side, sentText, f.hopAck === true, ignore, f.hopAck ? 'hop-ack' : undefined)),
    acksComplete: out.acksComplete,
  };
}

export interface Difference {
  /** e.g. `replies.length`, `replies[0].line`, `forwarded[0].header.max-forwards`. */
  path: string;
  kamailio: string;
  siphon: string;
}

const show = (v: unknown): string => (v === undefined ? '(none)' : typeof v === 'string' ? v : JSON.stringify(v));

function diffMessages(kind: 'replies' | 'forwarded', k: MessageView[], s: MessageView[], out: Difference[]): void {
  if (k.length !== s.length) out.push({ path: `${kind}.length`, kamailio: `${k.length}: ${k.map((m) => m.firstLine).join(' | ')}`, siphon: `${s.length}: ${s.map((m) => m.firstLine).join(' | ')}` });
  const n = Math.min(k.length, s.length);
  for (let i = 0; i < n; i++) {
    const a = k[i]!;
    const b = s[i]!;
    const at = `${kind}[${i}]`;
    if (a.line !== b.line) out.push({ path: `${at}.line`, kamailio: a.firstLine, siphon: b.firstLine });
    if (a.note !== b.note) out.push({ path: `${at}.note`, kamailio: show(a.note), siphon: show(b.note) });
    for (const name of new Set([...Object.keys(a.headers), ...Object.keys(b.headers)])) {
      const x = a.headers[name]?.join(' | ');
      const y = b.headers[name]?.join(' | ');
      if (x !== y) out.push({ path: `${at}.header.${name}`, kamailio: show(x), siphon: show(y) });
    }
    if (a.body !== b.body) out.push({ path: `${at}.body`, kamailio: show(a.body.slice(0, 80)), siphon: show(b.body.slice(0, 80)) });
  }
}

export function compare(k: OutcomeView, s: OutcomeView): Difference[] {
  const out: Difference[] = [];
  diffMessages('replies', k.replies, s.replies, out);
  diffMessages('forwarded', k.forwarded, s.forwarded, out);
  if (k.acksComplete !== s.acksComplete) out.push({ path: 'acksComplete', kamailio: String(k.acksComplete), siphon: String(s.acksComplete) });
  return out;
}
