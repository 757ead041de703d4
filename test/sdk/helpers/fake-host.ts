/**
 * A small host for SDK tests: implements the `sip` imports of docs/abi/v1.md over a plain
 * in-memory message and records every effect (replies, logs, header edits), so the SDK wrappers can
 * be checked call by call without the production runtime. It follows the spec's string rule (UTF-8,
 * snprintf-style outputs) and status codes, and counts calls per import. fake-host-drift.test.ts
 * holds it to the production import table (names, arities, status codes for the same arguments).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MODULE_NAMESPACES } from '../../../host/wasm/loader.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const buildScript = path.join(repoRoot, 'scripts', 'build-plugins.mjs');
const run = promisify(execFile);

/** Runs the real build script; resolves with its exit code and output (never rejects). */
export async function runBuild(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [buildScript, ...args], { cwd: repoRoot, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

export interface FakeMessage {
  method: string;
  ruri: string;
  headers: Array<[string, string]>;
  source: { ip: string; port: number; proto: string };
}

const FIELD_NAMES = [
  'METHOD', 'RURI', 'RURI_USER', 'RURI_HOST', 'RURI_PORT', 'RURI_SCHEME', 'DST_URI', 'FROM_URI', 'FROM_USER',
  'FROM_HOST', 'FROM_TAG', 'FROM_DISPLAY', 'TO_URI', 'TO_USER', 'TO_HOST', 'TO_TAG', 'TO_DISPLAY', 'CALL_ID',
  'CSEQ_NUM', 'CSEQ_METHOD', 'SRC_IP', 'SRC_PORT', 'PROTO', 'USER_AGENT', 'CONTACT', 'LOCAL_IP', 'LOCAL_PORT',
  'MAX_FORWARDS', 'BODY', 'MSG_LEN', 'STATUS', 'REASON',
];

/** the pseudo-variables behind the field ids (docs/abi/v1.md "Fields"), for pv_get/pv_set. */
const PV_FIELD = new Map<string, number>(
  [
    '$rm', '$ru', '$rU', '$rd', '$rp', '$rz', '$du', '$fu', '$fU', '$fd', '$ft', '$fn', '$tu', '$tU', '$td', '$tt', '$tn', '$ci', '$cs',
    null, '$si', '$sp', '$pr', '$ua', '$ct', '$Ri', '$Rp', null, null, '$ml', '$rs', '$rr',
  ].flatMap((name, id) => (name === null ? [] : [[name, id] as [string, number]])),
);

export class FakeHost {
  readonly memory = new WebAssembly.Memory({ initial: 1, maximum: 256 });
  readonly replies: Array<{ code: number; reason: string; headers: string[] }> = [];
  readonly logs: Array<{ level: number; text: string; kind: 'xlog' | 'log' }> = [];
  readonly calls = new Map<string, number>();
  readonly replyHeaders: string[] = [];
  readonly msgVars = new Map<string, string>();
  readonly globalVars = new Map<string, string>();
  dstUri: string | null = null;
  /** the socket the message arrived on ($Ri, $Rp). */
  local = { ip: '127.0.0.1', port: 5060 };
  hook = 'request_route';
  logLevel = 2; // L_INFO

  /** $ml: the length of the message as received (edits do not change it, as on the real host). */
  readonly receivedLength: number;

  constructor(public msg: FakeMessage, public config = '') {
    this.receivedLength = Buffer.byteLength(serialize(msg));
  }

  private bytes(): Buffer {
    return Buffer.from(this.memory.buffer);
  }

  private read(ptr: number, len: number): string {
    return this.bytes().toString('utf8', ptr >>> 0, (ptr >>> 0) + len);
  }

  /** [ptr, ptr+len) inside the memory (docs/abi/v1.md "Global rules": else -3 INVALID_MEMORY). */
  inBounds(ptr: number, len: number): boolean {
    return ptr >= 0 && len >= 0 && ptr + len <= this.memory.buffer.byteLength;
  }

  private write(out: number, cap: number, value: string): number {
    if (cap < 0) return -2;
    if (!this.inBounds(out, cap)) return -3;
    const data = Buffer.from(value, 'utf8');
    data.copy(this.bytes(), out >>> 0, 0, Math.min(data.length, cap));
    return data.length;
  }

  private count(name: string): void {
    this.calls.set(name, (this.calls.get(name) ?? 0) + 1);
  }

  /** results logged by the surface fixture as "key=value". */
  said(): Map<string, string> {
    const m = new Map<string, string>();
    for (const l of this.logs) {
      if (l.kind !== 'log') continue;
      const i = l.text.indexOf('=');
      if (i > 0) m.set(l.text.slice(0, i), l.text.slice(i + 1));
    }
    return m;
  }

  headerValues(name: string): string[] {
    const key = compact(name.toLowerCase());
    return this.msg.headers.filter(([n]) => compact(n.toLowerCase()) === key).map(([, v]) => v);
  }

  private parsedRuri(): { scheme: string; user?: string; host: string; port?: string } {
    const m = /^(sips?|tel):(?:([^@]*)@)?([^:;>]+)(?::(\d+))?/.exec(this.msg.ruri);
    return m ? { scheme: m[1], user: m[2], host: m[3], port: m[4] } : { scheme: '', host: '' };
  }

  /** the URI of a From/To-style header value, its user and host. */
  private nameAddr(header: string): { uri: string; user?: string; host: string } | null {
    const v = this.headerValues(header)[0];
    const m = v === undefined ? null : /<([^>]*)>|^([^;\s]+)/.exec(v);
    const uri = m ? (m[1] ?? m[2]) : null;
    if (!uri) return null;
    const p = /^(?:sips?|tel):(?:([^@]*)@)?([^:;>]+)/.exec(uri);
    return { uri, user: p?.[1], host: p?.[2] ?? '' };
  }

  field(id: number): string | null {
    const uri = this.parsedRuri();
    const from = this.nameAddr('From');
    const to = this.nameAddr('To');
    const tag = (h: string) => /;tag=([^;]+)/.exec(this.headerValues(h)[0] ?? '')?.[1] ?? null;
    const cseq = (this.headerValues('CSeq')[0] ?? '').split(/\s+/);
    switch (FIELD_NAMES[id]) {
      case 'METHOD': return this.msg.method;
      case 'RURI': return this.msg.ruri;
      case 'RURI_USER': return uri.user ?? null;
      case 'RURI_HOST': return uri.host;
      case 'RURI_PORT': return uri.port ?? null;
      case 'RURI_SCHEME': return uri.scheme;
      case 'DST_URI': return this.dstUri;
      case 'FROM_URI': return from?.uri ?? null;
      case 'FROM_USER': return from?.user ?? null;
      case 'FROM_HOST': return from?.host ?? null;
      case 'TO_URI': return to?.uri ?? null;
      case 'TO_USER': return to?.user ?? null;
      case 'TO_HOST': return to?.host ?? null;
      case 'USER_AGENT': return this.headerValues('User-Agent')[0] ?? null;
      case 'CONTACT': return this.headerValues('Contact')[0] ?? null;
      case 'LOCAL_IP': return this.local.ip;
      case 'LOCAL_PORT': return String(this.local.port);
      case 'MSG_LEN': return String(this.receivedLength);
      case 'FROM_TAG': return tag('From');
      case 'TO_TAG': return tag('To');
      case 'CALL_ID': return this.headerValues('Call-ID')[0] ?? null;
      case 'CSEQ_NUM': return cseq[0] ?? null;
      case 'CSEQ_METHOD': return cseq[1] ?? null;
      case 'SRC_IP': return this.msg.source.ip;
      case 'SRC_PORT': return String(this.msg.source.port);
      case 'PROTO': return this.msg.source.proto;
      case 'MAX_FORWARDS': return this.headerValues('Max-Forwards')[0] ?? null;
      default: return null;
    }
  }

  imports(): WebAssembly.Imports {
    const self = this;
    const counted = <T extends (...a: never[]) => unknown>(name: string, f: T): T =>
      // keeps the arity (fake-host-drift.test.ts compares it with the real table)
      Object.defineProperty((...a: never[]) => {
        self.count(name);
        return f(...a);
      }, 'length', { value: f.length }) as T;
    // the argument rules of docs/abi/v1.md "Global rules" and "Status codes", checked in the
    // production host's order (fake-host-drift.test.ts compares the answers): a negative length or
    // capacity is -2, a buffer outside memory -3, then the import's own checks
    const TOKEN = /^[A-Za-z0-9!%'*+\-.^_`|~]+$/;
    const CRLF = /[\r\n]/;
    const LEVELS = new Set([-5, -4, -3, -2, -1, 0, 1, 2, 3]);
    /** a string argument: its text, or the status for a bad length / pointer. */
    const arg = (ptr: number, len: number): string | number => (len < 0 ? -2 : !self.inBounds(ptr, len) ? -3 : self.read(ptr, len));
    const sip: Record<string, (...a: never[]) => unknown> = {
      msg_get: (field: number, out: number, cap: number) => {
        if (cap < 0) return -2;
        if (!self.inBounds(out, cap)) return -3;
        if (field < 0 || field >= FIELD_NAMES.length) return -2;
        const v = self.field(field);
        return v === null ? -1 : self.write(out, cap, v);
      },
      msg_set: (field: number, ptr: number, len: number) => {
        if (len < 0 || field < 0 || field >= FIELD_NAMES.length) return -2;
        if (!['RURI', 'RURI_USER', 'RURI_HOST', 'RURI_PORT', 'DST_URI'].includes(FIELD_NAMES[field])) return -4;
        const v = arg(ptr, len);
        if (typeof v === 'number') return v;
        const u = self.parsedRuri();
        const port = u.port ? `:${u.port}` : '';
        const user = u.user ? `${u.user}@` : '';
        switch (FIELD_NAMES[field]) {
          case 'RURI': self.msg.ruri = v; return 0;
          case 'RURI_USER': self.msg.ruri = `${u.scheme}:${v ? `${v}@` : ''}${u.host}${port}`; return 0;
          case 'RURI_HOST': self.msg.ruri = `${u.scheme}:${user}${v}${port}`; return 0;
          case 'RURI_PORT':
            if (!/^\d*$/.test(v)) return -2;
            self.msg.ruri = `${u.scheme}:${user}${u.host}${v ? `:${v}` : ''}`;
            return 0;
          default: self.dstUri = v === '' ? null : v; return 0; // DST_URI
        }
      },
      hdr_count: (np: number, nl: number) => {
        if (nl <= 0) return -2;
        const name = arg(np, nl);
        return typeof name === 'number' ? name : self.headerValues(name).length;
      },
      hdr_get: (np: number, nl: number, idx: number, out: number, cap: number) => {
        if (nl <= 0 || cap < 0) return -2;
        if (!self.inBounds(out, cap)) return -3;
        const name = arg(np, nl);
        if (typeof name === 'number') return name;
        const values = self.headerValues(name);
        const v = values[idx < 0 ? values.length + idx : idx];
        return v === undefined ? -1 : self.write(out, cap, v);
      },
      hdr_add: (np: number, nl: number, vp: number, vl: number, where: number) => {
        const name = arg(np, nl);
        if (typeof name === 'number') return name;
        const value = arg(vp, vl);
        if (typeof value === 'number') return value;
        if (!TOKEN.test(name) || CRLF.test(value) || (where !== 0 && where !== 1)) return -2;
        if (where === 1) self.msg.headers.unshift([name, value]);
        else self.msg.headers.push([name, value]);
        return 1;
      },
      hdr_remove: (np: number, nl: number, idx: number) => {
        if (nl <= 0 || idx < -1) return -2;
        const name = arg(np, nl);
        if (typeof name === 'number') return name;
        const key = compact(name.toLowerCase());
        const before = self.msg.headers.length;
        let seen = -1;
        // idx -1 removes every occurrence, idx >= 0 that one only
        self.msg.headers = self.msg.headers.filter(([n]) => compact(n.toLowerCase()) !== key || (idx !== -1 && ++seen !== idx));
        return before - self.msg.headers.length;
      },
      pv_get: (np: number, nl: number, out: number, cap: number) => {
        if (nl < 0 || cap < 0) return -2;
        if (!self.inBounds(out, cap)) return -3;
        const name = arg(np, nl);
        if (typeof name === 'number') return name;
        let m: RegExpExecArray | null;
        let v: string | null | undefined = null;
        if ((m = /^\$hdr\((.+)\)$/.exec(name))) v = self.headerValues(m[1])[0];
        else if ((m = /^\$var\((.+)\)$/.exec(name))) v = self.msgVars.get(m[1]);
        else if ((m = /^\$shv\((.+)\)$/.exec(name))) v = self.globalVars.get(m[1]);
        else if (PV_FIELD.has(name)) v = self.field(PV_FIELD.get(name)!);
        else return -6; // a name the host does not know: UNIMPLEMENTED
        return v === undefined || v === null ? -1 : self.write(out, cap, v);
      },
      pv_set: (np: number, nl: number, vp: number, vl: number) => {
        if (nl < 0 || vl < 0) return -2;
        const name = arg(np, nl);
        if (typeof name === 'number') return name;
        const value = arg(vp, vl);
        if (typeof value === 'number') return value;
        const m = /^\$(var|shv)\((.+)\)$/.exec(name);
        if (m) {
          (m[1] === 'var' ? self.msgVars : self.globalVars).set(m[2], value);
          return 0;
        }
        const field = PV_FIELD.get(name);
        if (field === undefined) return -6;
        // $ru $rU $rd $rp $du are msg_set's fields; the other known names are read-only
        return field <= 6 && field !== 0 && field !== 5 ? rawMsgSet(field, vp, vl) : -4;
      },
      sl_reply: (code: number, rp: number, rl: number) => {
        if (self.hook !== 'request_route') return -4;
        const reason = arg(rp, rl);
        if (typeof reason === 'number') return reason;
        if (code < 100 || code > 699 || CRLF.test(reason)) return -2;
        if (self.msg.method === 'ACK') return -1;
        // as the server: every reply to the request carries its reply_hdr_add lines (Kamailio's reply lumps stay on the request)
        self.replies.push({ code, reason, headers: [...self.replyHeaders] });
        return 1;
      },
      reply_hdr_add: (ptr: number, len: number) => {
        const line = arg(ptr, len);
        if (typeof line === 'number') return line;
        const colon = line.indexOf(':');
        if (colon <= 0 || !TOKEN.test(line.slice(0, colon).trimEnd()) || CRLF.test(line)) return -2;
        self.replyHeaders.push(line);
        return 1;
      },
      xlog: (level: number, fp: number, fl: number) => {
        if (!LEVELS.has(level) || fl < 0) return -2;
        const format = arg(fp, fl);
        if (typeof format === 'number') return format;
        const text = format.replace(/\$(rm|si|ci)\b/g, (_, pv: string) =>
          pv === 'rm' ? self.msg.method : pv === 'si' ? self.msg.source.ip : (self.field(17) ?? ''));
        if (level <= self.logLevel) self.logs.push({ level, text, kind: 'xlog' });
        return 1;
      },
      log: (level: number, ptr: number, len: number) => {
        if (!LEVELS.has(level) || len < 0) return -2;
        const text = arg(ptr, len);
        if (typeof text === 'number') return text;
        if (level <= self.logLevel) self.logs.push({ level, text, kind: 'log' });
        return 1;
      },
      log_enabled: (level: number) => (!LEVELS.has(level) ? -2 : level <= self.logLevel ? 1 : 0),
      var_get: (scope: number, np: number, nl: number, out: number, cap: number) => {
        const vars = scope === 2 ? self.globalVars : scope === 0 ? self.msgVars : null;
        if (!vars) return -2;
        if (nl < 0 || cap < 0) return -2;
        if (!self.inBounds(out, cap)) return -3;
        const name = arg(np, nl);
        if (typeof name === 'number') return name;
        const v = vars.get(name);
        return v === undefined ? -1 : self.write(out, cap, v);
      },
      var_set: (scope: number, np: number, nl: number, vp: number, vl: number) => {
        const vars = scope === 2 ? self.globalVars : scope === 0 ? self.msgVars : null;
        if (!vars) return -2;
        if (nl <= 0 || vl < -1) return -2;
        const name = arg(np, nl);
        if (typeof name === 'number') return name;
        if (vl === -1) {
          vars.delete(name);
          return 0;
        }
        const value = arg(vp, vl);
        if (typeof value === 'number') return value;
        vars.set(name, value);
        return 0;
      },
      cfg_read: (off: number, out: number, cap: number) => {
        if (off < 0 || cap < 0) return -2;
        if (!self.inBounds(out, cap)) return -3;
        const all = Buffer.from(self.config, 'utf8');
        const rest = all.subarray(Math.min(off, all.length));
        rest.copy(self.bytes(), out >>> 0, 0, Math.min(rest.length, cap));
        return rest.length;
      },
      now_ms: () => BigInt(Date.now()),
      random_u32: () => 0x7abcdef0,
      is_myself: (ptr: number, len: number) => {
        const text = arg(ptr, len);
        if (typeof text === 'number') return text;
        const uri = /^sips?:/i.test(text) ? text : `sip:${text}`;
        const m = /^sips?:(?:[^@]*@)?([^:;>]*)(?::(\d+))?(?:[;?]|$)/i.exec(uri);
        if (!m || m[1] === '' || /[\s<>@]/.test(m[1])) return -2;
        return m[1] === '127.0.0.1' && (m[2] === undefined || m[2] === '5060') ? 1 : -1;
      },
      maxfwd_process: (limit: number) => {
        if (limit < 0 || limit > 255) return -2;
        const v = self.headerValues('Max-Forwards')[0];
        if (v === undefined) {
          self.msg.headers.push(['Max-Forwards', String(limit)]);
          return 2;
        }
        if (!/^\d+$/.test(v.trim())) return -2;
        const n = Number(v);
        if (n === 0) return -1;
        const next = Math.min(n, 256) - 1; // Kamailio lowers values above max_limit (default 256), then decrements
        self.msg.headers = self.msg.headers.map(([k, val]) => (k.toLowerCase() === 'max-forwards' ? [k, String(next)] : [k, val]));
        return 1;
      },
    };
    // pv_set of $ru/$du... is msg_set's work, not a counted msg_set call
    const rawMsgSet = sip.msg_set as (f: number, p: number, l: number) => number;
    for (const k of Object.keys(sip)) sip[k] = counted(k, sip[k]);
    return {
      env: {
        memory: this.memory,
        abort: (_msg: number, _file: number, line: number, col: number) => {
          throw new Error(`plugin abort at ${line}:${col}`);
        },
        seed: () => 0x1234_5678,
      },
      sip: sip as WebAssembly.ModuleImports,
      // module and transaction namespaces answer -6 UNIMPLEMENTED, as the host does for a module that
      // is not configured (docs/abi/v1.md "Module namespaces"): plugins must keep working without them.
      // textops / sdpops (message edits) are not modelled here either: their answers are tested on
      // the real host (test/unit/textops, test/integration/textops)
      ...Object.fromEntries([...MODULE_NAMESPACES, 'tm', 'rr', 'textops', 'sdpops'].map((ns) => [ns, unimplementedNamespace()])),
    };
  }
}

function unimplementedNamespace(): WebAssembly.ModuleImports {
  return new Proxy({}, { get: (_t, key) => (typeof key === 'string' ? () => -6 : undefined) }) as WebAssembly.ModuleImports;
}

function compact(lower: string): string {
  const compactForms: Record<string, string> = { v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length', c: 'content-type' };
  return compactForms[lower] ?? lower;
}

export interface PluginExports {
  sip_abi_v1: () => void;
  sip_abi_minor: () => number;
  plugin_init: (cfgLen: number) => number;
  request_route: (ctx: number) => number;
}

/** Instantiates a built plugin against a FakeHost. */
export function instantiate(wasmFile: string, host: FakeHost): PluginExports {
  const module = new WebAssembly.Module(readFileSync(wasmFile));
  const instance = new WebAssembly.Instance(module, host.imports());
  return instance.exports as unknown as PluginExports;
}

/** the FakeMessage as SIP text (request line, its headers in order, no body). */
export function serialize(m: FakeMessage): string {
  return `${m.method} ${m.ruri} SIP/2.0\r\n${m.headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}Content-Length: 0\r\n\r\n`;
}

export function message(method: string, ruri: string, extra: Array<[string, string]> = []): FakeMessage {
  return {
    method,
    ruri,
    source: { ip: '127.0.0.1', port: 19150, proto: 'udp' },
    headers: [
      ['Via', 'SIP/2.0/UDP 127.0.0.1:19150;branch=z9hG4bK-sdk-1'],
      ['Via', 'SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-sdk-0'],
      ['From', '<sip:bob@127.0.0.1>;tag=from-1'],
      ['To', '<sip:alice@127.0.0.1>'],
      ['Call-ID', 'sdk-test-1'],
      ['CSeq', `1 ${method}`],
      ['Max-Forwards', '70'],
      ...extra,
    ],
  };
}
