/**
 * The live SIP trace: a bounded ring of the messages the transports saw while somebody watched, the
 * watchers' filters (user, Call-ID, IP) and the HEP exporter. The tap (host/transport/tap.ts) is
 * attached only while a watcher or HEP export exists, so an idle console costs the message path one
 * boolean read per message.
 *
 * Like sngrep (which reads the wire) and Kamailio's siptrace (sip_trace() into a table or HEP), a
 * record keeps the raw text (cut at trace_message_bytes) and the few fields a ladder needs, parsed
 * once with a linear scan of the head.
 *
 * While every watcher has a filter (and no HEP export runs), the filters also act as a capture filter,
 * like sngrep's BPF expression: a message is first checked on its raw bytes (the filter's user and
 * Call-ID must occur in it, its IP be one of the two ends) and one that cannot match any watcher is
 * neither decoded, summarized nor kept in the ring. An operator following one call then costs the other
 * messages a few byte searches (bench/trace-tap.bench.mjs, "filtered").
 */
import type { Endpoint } from '../core/context.js';
import { sipTap, type TapSink } from '../transport/tap.js';

export interface TracedMessage {
  seq: number;
  /** ms since the epoch. */
  ts: number;
  dir: 'in' | 'out';
  proto: string;
  src: string;
  dst: string;
  /** request method, or the CSeq method of a response. */
  method: string;
  /** 0 for a request. */
  status: number;
  firstLine: string;
  callId: string;
  fromUser: string;
  toUser: string;
  /** the Request-URI's user (requests). */
  ruriUser: string;
  /** raw text, cut at trace_message_bytes. */
  text: string;
  truncated: boolean;
}

export interface TraceFilter {
  /** substring of the From, To or Request-URI user. */
  user?: string;
  /** the Call-ID, exactly. */
  callId?: string;
  /** source or destination address, exactly. */
  ip?: string;
}

/** bytes of a message's head read for its ladder fields (Call-ID, From, To, CSeq). */
const SUMMARY_BYTES = 4096;

/** longest filter value taken from a request (query string). */
export const MAX_FILTER_LENGTH = 256;

export interface TraceWatcher {
  readonly filter: TraceFilter;
  push(m: TracedMessage): void;
}

/** another consumer of every traced message (HEP export). */
export interface TraceExporter {
  export(m: TracedMessage, buf: Buffer, local: Endpoint, peer: Endpoint): void;
  close?(): void;
}

function endpoint(e: Endpoint): string {
  return e.family === 6 ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/** `sip:user@host` → user; '' when the URI has no user part. */
function uriUser(value: string): string {
  const s = value.indexOf('sip');
  if (s < 0) return '';
  const colon = value.indexOf(':', s);
  if (colon < 0) return '';
  let end = colon + 1;
  // a user part ends at '@'; a host part (no '@' before > ; or space) means there is no user
  while (end < value.length) {
    const c = value.charCodeAt(end);
    if (c === 64 /* @ */) return value.slice(colon + 1, end).slice(0, 128);
    if (c === 62 /* > */ || c === 59 /* ; */ || c === 32 || c === 9) return '';
    end++;
  }
  return '';
}

/** Parses the fields a ladder needs from the head of `text` (one pass over its lines). */
export function summarize(text: string): Pick<TracedMessage, 'method' | 'status' | 'firstLine' | 'callId' | 'fromUser' | 'toUser' | 'ruriUser'> {
  const eol = text.indexOf('\r\n');
  const firstLine = (eol < 0 ? text : text.slice(0, eol)).slice(0, 256);
  let method = '';
  let status = 0;
  let ruriUser = '';
  if (firstLine.startsWith('SIP/2.0 ')) status = Number.parseInt(firstLine.slice(8, 11), 10) || 0;
  else {
    const sp = firstLine.indexOf(' ');
    method = sp > 0 ? firstLine.slice(0, sp) : firstLine;
    ruriUser = uriUser(firstLine.slice(sp + 1));
  }
  let callId = '';
  let fromUser = '';
  let toUser = '';
  let cseqMethod = '';
  let pos = eol < 0 ? text.length : eol + 2;
  while (pos < text.length) {
    let end = text.indexOf('\r\n', pos);
    if (end < 0) end = text.length;
    if (end === pos) break; // the empty line: the body follows
    const colon = text.indexOf(':', pos);
    if (colon > pos && colon < end) {
      const name = text.slice(pos, colon).trim().toLowerCase();
      const value = text.slice(colon + 1, end).trim();
      if (name === 'call-id' || name === 'i') callId = value.slice(0, 256);
      else if (name === 'from' || name === 'f') fromUser = uriUser(value);
      else if (name === 'to' || name === 't') toUser = uriUser(value);
      else if (name === 'cseq') cseqMethod = value.slice(value.indexOf(' ') + 1).trim().slice(0, 32);
    }
    pos = end + 2;
  }
  if (status !== 0) method = cseqMethod;
  return { method: method.slice(0, 32), status, firstLine, callId, fromUser, toUser, ruriUser };
}

export function matches(m: TracedMessage, f: TraceFilter): boolean {
  if (f.callId && m.callId !== f.callId) return false;
  if (f.ip) {
    const ip = f.ip;
    const hostOf = (e: string): string => e.slice(0, e.lastIndexOf(':')).replace(/^\[|\]$/g, '');
    if (hostOf(m.src) !== ip && hostOf(m.dst) !== ip) return false;
  }
  if (f.user) {
    const u = f.user;
    if (!m.fromUser.includes(u) && !m.toUser.includes(u) && !m.ruriUser.includes(u)) return false;
  }
  return true;
}

/** A filter from untrusted strings: bounded, empty values dropped. */
export function traceFilter(user?: string | null, callId?: string | null, ip?: string | null): TraceFilter {
  const f: TraceFilter = {};
  const cut = (v: string | null | undefined): string | undefined => (v ? v.slice(0, MAX_FILTER_LENGTH) : undefined);
  if (cut(user)) f.user = cut(user);
  if (cut(callId)) f.callId = cut(callId);
  if (cut(ip)) f.ip = cut(ip);
  return f;
}

/** One watcher's filter as raw-byte tests: every `needles` entry must occur in the message, `ip` be an end. */
interface CaptureTest {
  needles: Buffer[];
  ip: string | undefined;
}

/** the capture tests of `watchers`, or null when one of them wants every message (an empty filter). */
function captureTests(watchers: Iterable<TraceWatcher>): CaptureTest[] | null {
  const tests: CaptureTest[] = [];
  for (const w of watchers) {
    const { user, callId, ip } = w.filter;
    if (!user && !callId && !ip) return null;
    const needles: Buffer[] = [];
    if (user) needles.push(Buffer.from(user, 'utf8'));
    if (callId) needles.push(Buffer.from(callId, 'utf8'));
    tests.push({ needles, ip: ip || undefined });
  }
  return tests;
}

/**
 * true when `buf` may match one of `tests`: a necessary condition of matches() (the summary's fields are
 * slices of the message's text, and an address filter compares the ends' hosts), so nothing a watcher
 * would see is skipped. Linear: one byte search per needle.
 */
function mayMatch(tests: CaptureTest[], buf: Buffer, local: Endpoint, peer: Endpoint): boolean {
  for (const t of tests) {
    if (t.ip !== undefined && t.ip !== local.address && t.ip !== peer.address) continue;
    let all = true;
    for (const n of t.needles) {
      if (buf.indexOf(n) < 0) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

export class TraceHub implements TapSink {
  private readonly ring: (TracedMessage | undefined)[];
  private next = 0;
  private seq = 0;
  private readonly watchers = new Set<TraceWatcher>();
  private exporter: TraceExporter | null = null;
  /** the watchers' filters as a capture filter; null while every message is captured (see the file comment). */
  private capture: CaptureTest[] | null = null;
  /** messages captured since start (console:trace_captured). */
  captured = 0;
  /** messages the capture filter passed over without decoding them. */
  skipped = 0;

  constructor(
    private readonly capacity: number,
    private readonly maxBytes: number,
  ) {
    this.ring = new Array<TracedMessage | undefined>(capacity);
  }

  /** true while the tap is attached (a watcher or HEP export). */
  get active(): boolean {
    return this.watchers.size > 0 || this.exporter !== null;
  }

  setExporter(e: TraceExporter | null): void {
    this.exporter = e;
    this.updateTap();
  }

  watch(w: TraceWatcher): () => void {
    this.watchers.add(w);
    this.updateTap();
    return () => {
      this.watchers.delete(w);
      this.updateTap();
    };
  }

  private updateTap(): void {
    this.capture = this.exporter === null && this.watchers.size > 0 ? captureTests(this.watchers) : null;
    if (this.active) sipTap.attach(this);
    else sipTap.detach(this);
  }

  /** TapSink: one message crossed a socket. */
  message(dir: 'in' | 'out', buf: Buffer, local: Endpoint, peer: Endpoint): void {
    try {
      if (this.capture !== null && !mayMatch(this.capture, buf, local, peer)) {
        this.skipped++;
        return;
      }
      // the ladder fields come from the head even when the kept text is cut shorter
      const head = buf.toString('utf8', 0, Math.min(buf.length, Math.max(this.maxBytes, SUMMARY_BYTES)));
      const n = Math.min(buf.length, this.maxBytes);
      const text = n === buf.length ? head : buf.toString('utf8', 0, n);
      const m: TracedMessage = {
        seq: ++this.seq,
        ts: Date.now(),
        dir,
        proto: local.proto,
        src: dir === 'in' ? endpoint(peer) : endpoint(local),
        dst: dir === 'in' ? endpoint(local) : endpoint(peer),
        ...summarize(head),
        text,
        truncated: n < buf.length,
      };
      this.captured++;
      this.ring[this.next] = m;
      this.next = (this.next + 1) % this.capacity;
      for (const w of this.watchers) if (matches(m, w.filter)) w.push(m);
      this.exporter?.export(m, buf, local, peer);
    } catch {
      // a watcher's failure must never reach the transport
    }
  }

  /** the ring's messages matching `f`, oldest first, at most `limit` (the newest ones). */
  query(f: TraceFilter, limit: number): TracedMessage[] {
    const out: TracedMessage[] = [];
    for (let i = 0; i < this.capacity; i++) {
      const m = this.ring[(this.next + i) % this.capacity];
      if (m !== undefined && matches(m, f)) out.push(m);
    }
    return out.length > limit ? out.slice(out.length - limit) : out;
  }

  close(): void {
    this.watchers.clear();
    this.exporter?.close?.();
    this.exporter = null;
    this.updateTap();
  }
}
