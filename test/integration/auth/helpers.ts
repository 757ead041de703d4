/**
 * Shared pieces of the auth integration and adversarial tests: a free UDP port (bound on port 0,
 * released), an in-process node with auth + auth_db (+ pike) routing through the auth-probe test
 * plugin, and a UDP user agent on an ephemeral port that answers challenges.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import dgram from 'node:dgram';
import path from 'node:path';
import { parseConfig } from '../../../host/config/load.js';
import { startNode, type SiphonNode } from '../../../host/server/app.js';
import { moduleSchemas } from '../../../host/server/modules.js';
import { createLogger } from '../../../host/log/logger.js';

const run = promisify(execFile);
export const ROOT = path.resolve(import.meta.dirname, '../../..');
const PLUGINS = path.join(import.meta.dirname, 'plugins');
export const AUTH_PROBE = path.join(PLUGINS, 'auth-probe/build/auth-probe.wasm');

export async function buildAuthProbe(): Promise<void> {
  await run(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', PLUGINS], { cwd: ROOT, timeout: 120_000 });
}

/** a UDP port the kernel just handed out on `host` (bound on 0 and released). */
export async function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, host, () => resolve());
  });
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** a node on udp:127.0.0.1:<port> with the given `modules:` lines (2-space indented), routing with auth-probe. */
export async function startAuthNode(port: number, dataDir: string, modules: string[], logs?: string[]): Promise<SiphonNode> {
  const yaml = [
    'core:',
    `  listen: [udp:127.0.0.1:${port}]`,
    '  ctl: []',
    '  warmup: 0',
    `  data_dir: ${JSON.stringify(dataDir)}`,
    'modules:',
    ...modules.map((l) => `  ${l}`),
    'routing:',
    `  plugin: ${JSON.stringify(AUTH_PROBE)}`,
  ].join('\n');
  const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
  const log = logs ? createLogger({ level: 'info', destination: { write: (l: string) => void logs.push(l) } }) : createLogger({ level: 'silent' });
  return startNode(config, log, { controlPlane: false });
}

export interface Reply {
  status: number;
  text: string;
  /** header values by lower-case name, in order. */
  headers: Map<string, string[]>;
}

function parseReply(text: string): Reply {
  const head = text.split('\r\n\r\n')[0]!.split('\r\n');
  const status = Number(/^SIP\/2\.0 (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
  const headers = new Map<string, string[]>();
  for (const l of head.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) continue;
    const k = l.slice(0, i).trim().toLowerCase();
    headers.set(k, [...(headers.get(k) ?? []), l.slice(i + 1).trim()]);
  }
  return { status, text, headers };
}

/** the parameters of a challenge value ("Digest realm=..., nonce=..."). */
export function challengeParams(v: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of v.matchAll(/([a-z]+)=("((?:[^"\\]|\\.)*)"|[^,\s]+)/g)) out[m[1]!] = m[3] ?? m[2]!;
  return out;
}

/** A UDP UA bound to `address` on an ephemeral port; replies matched by Call-ID. */
export class Ua {
  private seq = 0;
  private readonly waiting = new Map<string, (r: Reply) => void>();
  /** final replies received, by status. */
  readonly statuses = new Map<number, number>();
  private constructor(
    private readonly sock: dgram.Socket,
    readonly address: string,
    readonly port: number,
  ) {
    sock.on('message', (m) => {
      const r = parseReply(m.toString('latin1'));
      if (r.status < 200) return;
      this.statuses.set(r.status, (this.statuses.get(r.status) ?? 0) + 1);
      const done = this.waiting.get(r.headers.get('call-id')?.[0] ?? '');
      if (done) {
        this.waiting.delete(r.headers.get('call-id')![0]!);
        done(r);
      }
    });
  }

  static async bind(address = '127.0.0.1'): Promise<Ua> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, address, () => resolve());
    });
    return new Ua(sock, address, sock.address().port);
  }

  /** a request text; `callId` and `cseq` let a test resend the very same request (a replay). */
  build(serverPort: number, method: string, user: string, extra: string[] = [], callId?: string, cseq?: number): { text: string; callId: string } {
    const n = ++this.seq;
    const cid = callId ?? `auth-${this.address}-${this.port}-${n}`;
    const to = method === 'REGISTER' ? user : 'bob';
    const text = [
      `${method} ${method === 'REGISTER' ? 'sip:example.com' : 'sip:bob@example.com'} SIP/2.0`,
      `Via: SIP/2.0/UDP ${this.address}:${this.port};branch=z9hG4bK-auth-${this.port}-${n};rport`,
      'Max-Forwards: 70',
      `From: <sip:${user}@example.com>;tag=f${n}`,
      `To: <sip:${to}@example.com>`,
      `Call-ID: ${cid}`,
      `CSeq: ${cseq ?? n} ${method}`,
      `Contact: <sip:${user}@${this.address}:${this.port}>`,
      ...extra,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    return { text, callId: cid };
  }

  /** sends a request text; resolves with its final reply, or null after `timeoutMs`. */
  send(serverPort: number, text: string, callId: string, timeoutMs = 3000): Promise<Reply | null> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiting.delete(callId);
        resolve(null);
      }, timeoutMs);
      this.waiting.set(callId, (r) => {
        clearTimeout(t);
        resolve(r);
      });
      this.sock.send(text, serverPort, '127.0.0.1');
    });
  }

  request(serverPort: number, method: string, user: string, extra: string[] = [], timeoutMs?: number): Promise<Reply | null> {
    const { text, callId } = this.build(serverPort, method, user, extra);
    return this.send(serverPort, text, callId, timeoutMs);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}
