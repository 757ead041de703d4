/**
 * Test helpers for the Wasm runtime: WAT → Wasm with binaryen, temp plugin files, SIP messages and
 * message contexts with captured logs and replies.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import binaryen from 'binaryen';
import pino from 'pino';
import { afterAll } from 'vitest';
import type { Endpoint, MessageContext } from '../../host/core/context.js';
import type { HeaderField, NameAddr, SipMessage, SipUri } from '../../host/sip/types.js';

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/wasm');
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Compiles WAT text to a Wasm binary; `custom` adds custom sections (e.g. sip.plugin). */
export function wat(text: string, custom: Record<string, string> = {}): Uint8Array {
  const mod = binaryen.parseText(text);
  try {
    mod.setFeatures(binaryen.Features.MVP | binaryen.Features.BulkMemory | binaryen.Features.BulkMemoryOpt | binaryen.Features.SignExt | binaryen.Features.MutableGlobals);
    if (!mod.validate()) throw new Error('fixture WAT does not validate');
    for (const [name, value] of Object.entries(custom)) mod.addCustomSection(name, Buffer.from(value, 'utf8'));
    return mod.emitBinary();
  } finally {
    mod.dispose();
  }
}

let tmp: string | null = null;
// registered while the importing test file is collected: removes that file's temp plugins
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = null;
});
/** writes bytes to a fresh temp dir under os.tmpdir(); returns the path. */
export function tempWasm(name: string, bytes: Uint8Array): string {
  tmp ??= mkdtempSync(path.join(tmpdir(), 'siphon-runtime-'));
  const file = path.join(tmp, name);
  writeFileSync(file, bytes);
  return file;
}

/** The ABI v1 boilerplate every WAT guest needs: memory import, marker, minor. */
export function guest(body: string, opts: { imports?: string; marker?: boolean; minor?: boolean; memory?: string } = {}): string {
  return `(module
  ${opts.memory ?? '(import "env" "memory" (memory 1))'}
  ${opts.imports ?? ''}
  ${opts.marker === false ? '' : '(func (export "sip_abi_v1"))'}
  ${opts.minor === false ? '' : '(func (export "sip_abi_minor") (result i32) (i32.const 0))'}
  ${body}
)`;
}

// ---- SIP messages ------------------------------------------------------------------------------

const LIST_HEADERS = new Set(['via', 'contact', 'route', 'record-route', 'allow', 'supported', 'require', 'proxy-require', 'accept']);
const COMPACT: Record<string, string> = { v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length', c: 'content-type', k: 'supported', s: 'subject' };
const keyOf = (name: string): string => {
  const l = name.toLowerCase();
  return l.length === 1 ? (COMPACT[l] ?? l) : l;
};

function parseNameAddr(v: string | undefined): NameAddr | undefined {
  if (v === undefined) return undefined;
  const lt = v.indexOf('<');
  const gt = v.indexOf('>');
  const uri = lt >= 0 ? v.slice(lt + 1, gt) : v.split(';')[0].trim();
  const display = lt > 0 ? v.slice(0, lt).trim().replace(/^"|"$/g, '') : undefined;
  const paramText = lt >= 0 ? v.slice(gt + 1) : v.slice(v.indexOf(';') >= 0 ? v.indexOf(';') : v.length);
  const params: Array<[string, string | null]> = paramText.split(';').map((p) => p.trim()).filter(Boolean)
    .map((p) => { const [k, val] = p.split('='); return [k.toLowerCase(), val ?? null]; });
  const tag = params.find(([k]) => k === 'tag')?.[1] ?? undefined;
  return { displayName: display || undefined, uri, params, tag };
}

function parseUri(text: string): SipUri {
  const m = /^(sips?|tel):(?:([^@:;]+)(?::[^@]*)?@)?(\[[^\]]+\]|[^:;?]+)?(?::(\d+))?([^?]*)/i.exec(text);
  if (!m) throw new Error(`bad URI ${text}`);
  return {
    scheme: m[1].toLowerCase() as SipUri['scheme'],
    user: m[2],
    host: m[3] ?? '',
    port: m[4] ? Number(m[4]) : undefined,
    params: m[5].split(';').filter(Boolean).map((p) => { const [k, v] = p.split('='); return [k.toLowerCase(), v ?? null]; }),
    headers: [],
    raw: text,
  };
}

/**
 * A small in-test SipMessage implementing the contract of host/sip/types.ts, used until the
 * message layer's parser exists (then `parseSip` uses the real one).
 */
class TestMessage implements SipMessage {
  kind: 'request' | 'response';
  method: string;
  requestUri = '';
  uri?: SipUri;
  status = 0;
  reason = '';
  version = 'SIP/2.0';
  vias = [];
  body: Buffer;
  raw: Buffer;
  private hdrs: Array<{ name: string; key: string; value: string }> = [];

  constructor(raw: string) {
    this.raw = Buffer.from(raw);
    const [head, body = ''] = raw.split('\r\n\r\n');
    this.body = Buffer.from(body);
    const lines = head.split('\r\n');
    const start = lines[0].split(' ');
    if (start[0] === 'SIP/2.0') {
      this.kind = 'response';
      this.status = Number(start[1]);
      this.reason = start.slice(2).join(' ');
      this.method = '';
    } else {
      this.kind = 'request';
      this.method = start[0];
      this.setRequestUri(start[1]);
    }
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      const name = line.slice(0, i).trim();
      this.hdrs.push({ name, key: keyOf(name), value: line.slice(i + 1).trim() });
    }
    if (this.kind === 'response') this.method = this.cseq?.method ?? '';
  }

  get from() { return parseNameAddr(this.header('from')); }
  get to() { return parseNameAddr(this.header('to')); }
  get callId() { return this.header('call-id') ?? ''; }
  get cseq() { const v = this.header('cseq'); if (!v) return undefined; const [n, m] = v.split(/\s+/); return { seq: Number(n), method: m }; }
  get maxForwards() { const v = this.header('max-forwards'); return v === undefined ? undefined : Number(v); }
  get contentLength() { return this.body.length; }

  header(name: string): string | undefined { return this.headerValues(name)[0]; }
  headerValues(name: string): string[] {
    const key = keyOf(name);
    const out: string[] = [];
    for (const h of this.hdrs) {
      if (h.key !== key) continue;
      if (LIST_HEADERS.has(key)) out.push(...h.value.split(',').map((s) => s.trim()));
      else out.push(h.value);
    }
    return out;
  }
  headerCount(name: string): number { return this.headerValues(name).length; }
  fields(): readonly HeaderField[] { return this.hdrs; }
  setRequestUri(uri: string): void { this.uri = parseUri(uri); this.requestUri = uri; }
  addHeader(name: string, value: string, where: 'first' | 'last' = 'last'): void {
    const f = { name, key: keyOf(name), value };
    if (where === 'last') { this.hdrs.push(f); return; }
    const i = this.hdrs.findIndex((h) => h.key === f.key);
    this.hdrs.splice(i < 0 ? 0 : i, 0, f);
  }
  removeHeader(name: string, index?: number): number {
    const key = keyOf(name);
    if (index === undefined) { const before = this.hdrs.length; this.hdrs = this.hdrs.filter((h) => h.key !== key); return before - this.hdrs.length; }
    const positions = this.hdrs.map((h, i) => (h.key === key ? i : -1)).filter((i) => i >= 0);
    if (index >= positions.length) return 0;
    this.hdrs.splice(positions[index], 1);
    return 1;
  }
  setHeader(name: string, value: string): void {
    const key = keyOf(name);
    const i = this.hdrs.findIndex((h) => h.key === key);
    this.hdrs = this.hdrs.filter((h, j) => h.key !== key || j === i);
    if (i < 0) this.hdrs.push({ name, key, value });
    else this.hdrs[this.hdrs.findIndex((h) => h.key === key)] = { name, key, value };
  }
  setBody(body: Buffer): void { this.body = body; }
  toBuffer(): Buffer {
    const start = this.kind === 'request' ? `${this.method} ${this.requestUri} SIP/2.0` : `SIP/2.0 ${this.status} ${this.reason}`;
    return Buffer.from([start, ...this.hdrs.map((h) => `${h.name}: ${h.value}`)].join('\r\n') + '\r\n\r\n' + this.body.toString());
  }
}

type ParseFn = (raw: Buffer) => { ok: true; message: SipMessage } | { ok: false };
let realParse: ParseFn | null | undefined;

/** Parses a message with host/sip/parser.ts when it exists, else with the in-test TestMessage. */
export async function parseSip(raw: string): Promise<SipMessage> {
  if (realParse === undefined) {
    realParse = null;
    if (existsSync(path.join(ROOT, 'host/sip/parser.ts'))) {
      try {
        const mod = (await import('../../host/sip/parser.js' as string)) as { parseMessage?: ParseFn };
        realParse = mod.parseMessage ?? null;
      } catch {
        realParse = null;
      }
    }
  }
  if (realParse) {
    const r = realParse(Buffer.from(raw));
    if (r.ok) return r.message;
  }
  return new TestMessage(raw);
}

export const INVITE = [
  'INVITE sip:bob@biloxi.example.com:5062;transport=udp SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'From: "Alice A" <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.example.com>',
  'User-Agent: test-ua/1.0',
  'X-Test: hello world',
  'X-Multi: one',
  'X-Multi: two',
  'Content-Type: application/sdp',
  'Content-Length: 4',
  '',
  'v=0\n',
].join('\r\n').replace(/v=0\n$/, 'v=0\n');

export interface TestContext {
  ctx: MessageContext;
  logs: Array<Record<string, unknown>>;
  replies: Array<{ code: number; reason: string; headers: readonly string[] }>;
}

const ENDPOINT_SRC: Endpoint = { address: '127.0.0.1', port: 5080, proto: 'udp', family: 4 };
const ENDPOINT_LOCAL: Endpoint = { address: '127.0.0.1', port: 5090, proto: 'udp', family: 4 };

/** A logger whose JSON lines land in `logs`. */
export function captureLogger(logs: Array<Record<string, unknown>>, level = 'debug'): pino.Logger {
  return pino({ level }, { write: (line: string) => void logs.push(JSON.parse(line)) });
}

let nextId = 1000;
/** A context over `msg`; `id` is what WAT guests receive as their ctx argument. */
export function makeCtx(msg: SipMessage, opts: { id?: number; level?: string } = {}): TestContext {
  const level = opts.level ?? 'debug';
  const logs: Array<Record<string, unknown>> = [];
  const replies: TestContext['replies'] = [];
  const ctx: MessageContext = {
    id: opts.id ?? nextId++,
    msg,
    source: ENDPOINT_SRC,
    local: ENDPOINT_LOCAL,
    dstUri: null,
    vars: new Map(),
    replied: false,
    log: captureLogger(logs, level).child({ callId: msg.callId }),
    // like the server's: appends the reply_hdr_add lines (ctx.replyHeaders) and the extra ones
    slReply(code, reason, extraHeaders) {
      replies.push({ code, reason, headers: [...(ctx.replyHeaders ?? []), ...(extraHeaders ?? [])] });
      if (code >= 200) ctx.replied = true;
      return true;
    },
  };
  return { ctx, logs, replies };
}
