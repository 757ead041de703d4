/**
 * A small host for SDK tests: implements the `sip` imports of docs/abi/v1.md over a plain
 * in-memory message and records every effect (replies, logs, header edits), so the SDK wrappers can
 * be checked call by call without the production runtime. It follows the spec's string rule (UTF-8,
 * snprintf-style outputs) and status codes, and counts calls per import.
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

export class FakeHost {
  readonly memory = new WebAssembly.Memory({ initial: 1, maximum: 256 });
  readonly replies: Array<{ code: number; reason: string; headers: string[] }> = [];
  readonly logs: Array<{ level: number; text: string; kind: 'xlog' | 'log' }> = [];
  readonly calls = new Map<string, number>();
  readonly replyHeaders: string[] = [];
  readonly msgVars = new Map<string, string>();
  readonly globalVars = new Map<string, string>();
  dstUri: string | null = null;
  hook = 'request_route';
  logLevel = 2; // L_INFO

  constructor(public msg: FakeMessage, public config = '') {}

  private bytes(): Buffer {
    return Buffer.from(this.memory.buffer);
  }

  private read(ptr: number, len: number): string {
    return this.bytes().toString('utf8', ptr >>> 0, (ptr >>> 0) + len);
  }

  private write(out: number, cap: number, value: string): number {
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

  field(id: number): string | null {
    const uri = this.parsedRuri();
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
      ((...a: never[]) => {
        self.count(name);
        return f(...a);
      }) as T;
    const sip: Record<string, (...a: never[]) => unknown> = {
      msg_get: (field: number, out: number, cap: number) => {
        const v = self.field(field);
        return v === null ? -1 : self.write(out, cap, v);
      },
      msg_set: (field: number, ptr: number, len: number) => {
        const v = self.read(ptr, len);
        const u = self.parsedRuri();
        const port = u.port ? `:${u.port}` : '';
        const user = u.user ? `${u.user}@` : '';
        switch (FIELD_NAMES[field]) {
          case 'RURI': self.msg.ruri = v; return 1;
          case 'RURI_USER': self.msg.ruri = `${u.scheme}:${v ? `${v}@` : ''}${u.host}${port}`; return 1;
          case 'RURI_HOST': self.msg.ruri = `${u.scheme}:${user}${v}${port}`; return 1;
          case 'RURI_PORT':
            if (!/^\d*$/.test(v)) return -2;
            self.msg.ruri = `${u.scheme}:${user}${u.host}${v ? `:${v}` : ''}`;
            return 1;
          case 'DST_URI': self.dstUri = v === '' ? null : v; return 1;
          default: return -4;
        }
      },
      hdr_count: (np: number, nl: number) => self.headerValues(self.read(np, nl)).length,
      hdr_get: (np: number, nl: number, idx: number, out: number, cap: number) => {
        const values = self.headerValues(self.read(np, nl));
        const v = values[idx < 0 ? values.length + idx : idx];
        return v === undefined ? -1 : self.write(out, cap, v);
      },
      hdr_add: (np: number, nl: number, vp: number, vl: number, where: number) => {
        const entry: [string, string] = [self.read(np, nl), self.read(vp, vl)];
        if (where === 1) self.msg.headers.unshift(entry);
        else self.msg.headers.push(entry);
        return 1;
      },
      hdr_remove: (np: number, nl: number, idx: number) => {
        const key = compact(self.read(np, nl).toLowerCase());
        const before = self.msg.headers.length;
        if (idx !== -1) return -6;
        self.msg.headers = self.msg.headers.filter(([n]) => compact(n.toLowerCase()) !== key);
        return before - self.msg.headers.length;
      },
      pv_get: (np: number, nl: number, out: number, cap: number) => {
        const name = self.read(np, nl);
        let m: RegExpExecArray | null;
        let v: string | null | undefined = null;
        if ((m = /^\$hdr\((.+)\)$/.exec(name))) v = self.headerValues(m[1])[0];
        else if ((m = /^\$var\((.+)\)$/.exec(name))) v = self.msgVars.get(m[1]);
        return v === undefined || v === null ? -1 : self.write(out, cap, v);
      },
      pv_set: (np: number, nl: number, vp: number, vl: number) => {
        const m = /^\$var\((.+)\)$/.exec(self.read(np, nl));
        if (!m) return -4;
        self.msgVars.set(m[1], self.read(vp, vl));
        return 1;
      },
      sl_reply: (code: number, rp: number, rl: number) => {
        if (self.hook !== 'request_route') return -4;
        if (self.msg.method === 'ACK') return -1;
        self.replies.push({ code, reason: self.read(rp, rl), headers: self.replyHeaders.splice(0) });
        return 1;
      },
      reply_hdr_add: (ptr: number, len: number) => {
        self.replyHeaders.push(self.read(ptr, len));
        return 1;
      },
      xlog: (level: number, fp: number, fl: number) => {
        const text = self.read(fp, fl).replace(/\$(rm|si|ci)\b/g, (_, pv: string) =>
          pv === 'rm' ? self.msg.method : pv === 'si' ? self.msg.source.ip : (self.field(17) ?? ''));
        self.logs.push({ level, text, kind: 'xlog' });
        return 1;
      },
      log: (level: number, ptr: number, len: number) => {
        self.logs.push({ level, text: self.read(ptr, len), kind: 'log' });
        return 1;
      },
      log_enabled: (level: number) => (level <= self.logLevel ? 1 : 0),
      var_get: (scope: number, np: number, nl: number, out: number, cap: number) => {
        const vars = scope === 2 ? self.globalVars : scope === 0 ? self.msgVars : null;
        if (!vars) return -2;
        const v = vars.get(self.read(np, nl));
        return v === undefined ? -1 : self.write(out, cap, v);
      },
      var_set: (scope: number, np: number, nl: number, vp: number, vl: number) => {
        const vars = scope === 2 ? self.globalVars : scope === 0 ? self.msgVars : null;
        if (!vars) return -2;
        if (vl === -1) vars.delete(self.read(np, nl));
        else vars.set(self.read(np, nl), self.read(vp, vl));
        return 1;
      },
      cfg_read: (off: number, out: number, cap: number) => {
        const all = Buffer.from(self.config, 'utf8');
        const rest = all.subarray(Math.min(off, all.length));
        rest.copy(self.bytes(), out >>> 0, 0, Math.min(rest.length, cap));
        return rest.length;
      },
      now_ms: () => BigInt(Date.now()),
      random_u32: () => 0x7abcdef0,
      is_myself: (ptr: number, len: number) => (/^sips?:(?:[^@]*@)?127\.0\.0\.1(?::5060)?(?:[;>]|$)/.test(self.read(ptr, len)) ? 1 : -1),
      maxfwd_process: (limit: number) => {
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
    for (const k of Object.keys(sip)) sip[k] = counted(k, sip[k]);
    return {
      env: {
        memory: this.memory,
        abort: (_msg: number, _file: number, line: number, col: number) => {
          throw new Error(`plugin abort at ${line}:${col}`);
        },
      },
      sip: sip as WebAssembly.ModuleImports,
      // module and transaction namespaces answer -6 UNIMPLEMENTED, as the host does for a module that
      // is not configured (docs/abi/v1.md "Module namespaces"): plugins must keep working without them
      ...Object.fromEntries([...MODULE_NAMESPACES, 'tm', 'rr'].map((ns) => [ns, unimplementedNamespace()])),
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
