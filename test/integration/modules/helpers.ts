/**
 * Shared pieces of the module integration tests: build the plugins once, start an in-process node
 * from YAML (on a port from freePort(), test/helpers/ports.ts), and a UDP client on 127.0.0.1 (port 0:
 * the OS picks one).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import dgram from 'node:dgram';
import path from 'node:path';
import { parseConfig } from '../../../host/config/load.js';
import { createLogger } from '../../../host/log/logger.js';
import { startNode, type SiphonNode } from '../../../host/server/app.js';
import { moduleSchemas } from '../../../host/server/modules.js';

const run = promisify(execFile);
export const ROOT = path.resolve(import.meta.dirname, '../../..');
export const TEST_PLUGINS = path.join(import.meta.dirname, 'plugins');
export const PLUGIN = {
  default: path.join(ROOT, 'plugins/default/build/default.wasm'),
  lb: path.join(ROOT, 'plugins/lb/build/lb.wasm'),
  secfProbe: path.join(TEST_PLUGINS, 'secf-probe/build/secf-probe.wasm'),
  lbProbe: path.join(TEST_PLUGINS, 'lb-probe/build/lb-probe.wasm'),
};

/** builds plugins/default, plugins/lb and the test plugins (skipped when up to date). */
export async function buildPlugins(): Promise<void> {
  const script = path.join(ROOT, 'scripts/build-plugins.mjs');
  await run(process.execPath, [script, 'default', 'lb'], { cwd: ROOT, timeout: 120_000 });
  await run(process.execPath, [script, '--plugins-dir', TEST_PLUGINS], { cwd: ROOT, timeout: 120_000 });
}

export interface TestNode {
  node: SiphonNode;
  logs: string[];
  port: number;
}

/** starts a node listening on udp:127.0.0.1:<port> from the YAML of its `modules:` and `routing:`. */
export async function startTestNode(port: number, yamlTail: string, opts: { ctl?: string } = {}): Promise<TestNode> {
  const yaml = [
    'core:',
    '  listen:',
    `    - udp:127.0.0.1:${port}`,
    '  log_level: info',
    `  ctl: [${opts.ctl ? JSON.stringify(opts.ctl) : ''}]`,
    yamlTail,
  ].join('\n');
  const config = parseConfig(yaml, path.join(ROOT, 'config/modules-test.yaml'), { moduleSchemas: moduleSchemas() });
  const logs: string[] = [];
  const log = createLogger({ level: 'info', destination: { write: (s: string) => void logs.push(s) } });
  const node = await startNode(config, log);
  return { node, logs, port };
}

export interface SipReply {
  status: number;
  reason: string;
  headers: Map<string, string>;
  raw: string;
}

function parseReply(raw: string): SipReply {
  const [first, ...lines] = raw.split('\r\n\r\n')[0]!.split('\r\n');
  const m = /^SIP\/2\.0 (\d{3}) (.*)$/.exec(first ?? '');
  const headers = new Map<string, string>();
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
  }
  return { status: m ? Number(m[1]) : 0, reason: m?.[2] ?? '', headers, raw };
}

export interface RequestOpts {
  method?: string;
  ruri?: string;
  fromUser?: string;
  fromName?: string;
  toUser?: string;
  ua?: string;
  contact?: string;
  extra?: string;
}

/** A UDP SIP client on 127.0.0.1:<port>: sends a request and waits for the final reply to it. */
export class SipClient {
  private seq = 0;
  private waiting = new Map<string, (r: SipReply) => void>();
  private constructor(
    private readonly sock: dgram.Socket,
    readonly port: number,
  ) {
    sock.on('message', (m) => {
      const reply = parseReply(m.toString('utf8'));
      if (reply.status < 200) return;
      const callId = reply.headers.get('call-id') ?? '';
      const done = this.waiting.get(callId);
      if (done) {
        this.waiting.delete(callId);
        done(reply);
      }
    });
  }

  static async open(port: number): Promise<SipClient> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(port, '127.0.0.1', () => resolve());
    });
    return new SipClient(sock, sock.address().port); // port 0: the one the OS chose
  }

  /** the request text (exposed for tests that tweak it). */
  build(serverPort: number, o: RequestOpts = {}): { text: string; callId: string } {
    const n = ++this.seq;
    const method = o.method ?? 'OPTIONS';
    const callId = `modules-${process.pid}-${this.port}-${n}`;
    const from = `${o.fromName !== undefined ? `"${o.fromName}" ` : ''}<sip:${o.fromUser ?? 'alice'}@example.org>;tag=f${n}`;
    const text =
      `${method} ${o.ruri ?? `sip:127.0.0.1:${serverPort}`} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=z9hG4bK-mod-${this.port}-${n};rport\r\n` +
      `Max-Forwards: 70\r\n` +
      `From: ${from}\r\n` +
      `To: <sip:${o.toUser ?? 'bob'}@example.org>\r\n` +
      `Call-ID: ${callId}\r\n` +
      `CSeq: ${n} ${method}\r\n` +
      (o.contact ? `Contact: ${o.contact}\r\n` : '') +
      (o.ua ? `User-Agent: ${o.ua}\r\n` : '') +
      (o.extra ?? '') +
      `Content-Length: 0\r\n\r\n`;
    return { text, callId };
  }

  /** sends and resolves with the final reply, or null when none came within `timeoutMs`. */
  request(serverPort: number, o: RequestOpts = {}, timeoutMs = 3000): Promise<SipReply | null> {
    const { text, callId } = this.build(serverPort, o);
    return this.send(serverPort, text, callId, timeoutMs);
  }

  /** sends a request text and resolves with the final reply carrying `callId`, or null on timeout. */
  send(serverPort: number, text: string, callId: string, timeoutMs = 3000): Promise<SipReply | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(callId);
        resolve(null);
      }, timeoutMs);
      this.waiting.set(callId, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.sock.send(text, serverPort, '127.0.0.1');
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}
