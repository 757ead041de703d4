/**
 * Shared pieces of the fan-out / table-bound attack tests: UDP user agents bound on 127.0.0.1 port 0
 * that record what they receive (parsed with the host's parser) and answer with a fixed status,
 * and a bounded wait on a condition (no sleeps).
 */
import dgram from 'node:dgram';
import { parseConfig } from '../../host/config/load.js';
import { startNode, type SiphonNode } from '../../host/server/app.js';
import { moduleSchemas } from '../../host/server/modules.js';
import { createLogger } from '../../host/log/logger.js';
import { parseMessage } from '../../host/sip/parser.js';
import type { SipMessage } from '../../host/sip/types.js';
import { PLUGIN } from '../integration/modules/helpers.js';

/**
 * An in-process node on udp:127.0.0.1:<port> routing with plugins/default (built by the caller
 * with buildPlugins()); `core` and `modules` are extra YAML lines of those sections (2-space indented).
 */
export function startDefaultNode(port: number, core: string[], modules: string[]): Promise<SiphonNode> {
  const yaml = [
    'core:',
    `  listen: [udp:127.0.0.1:${port}]`,
    '  ctl: []',
    '  warmup: 0',
    ...core.map((l) => `  ${l}`),
    'modules:',
    ...modules.map((l) => `  ${l}`),
    'routing:',
    `  plugin: ${JSON.stringify(PLUGIN.default)}`,
  ].join('\n');
  const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
  return startNode(config, createLogger({ level: 'error', destination: { write: () => {} } }), { controlPlane: false });
}

export interface Got {
  msg: SipMessage;
  text: string;
}

/** A UDP UA on an ephemeral port: records every message; `answer` (when set) replies to each new request. */
export class Ua {
  readonly got: Got[] = [];
  /** status answered to requests (by method), e.g. { INVITE: [180, 'Ringing'] }; none: silent. */
  answer: Record<string, [number, string]> = {};
  private constructor(
    readonly sock: dgram.Socket,
    readonly port: number,
  ) {
    sock.on('message', (buf, rinfo) => {
      const r = parseMessage(buf, { maxMessageSize: 65535, maxHeaders: 4096 }); // a 200 may list 300 Contacts
      if (!r.ok) return;
      this.got.push({ msg: r.message, text: buf.toString('latin1') });
      const m = r.message;
      if (m.kind === 'request') {
        const a = this.answer[m.method];
        if (a !== undefined) this.sock.send(replyTo(m, a[0], a[1]), rinfo.port, rinfo.address);
      }
    });
  }

  static async open(): Promise<Ua> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, '127.0.0.1', () => resolve());
    });
    return new Ua(sock, sock.address().port);
  }

  send(text: string, port: number): void {
    this.sock.send(Buffer.from(text, 'latin1'), port, '127.0.0.1');
  }

  requests(method: string): Got[] {
    return this.got.filter((g) => g.msg.kind === 'request' && g.msg.method === method);
  }

  responses(callId: string): Got[] {
    return this.got.filter((g) => g.msg.kind === 'response' && g.msg.callId === callId);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}

/** a response to `req`: its Vias, From, To (+tag), Call-ID, CSeq. */
export function replyTo(req: SipMessage, status: number, reason: string): string {
  const lines = [`SIP/2.0 ${status} ${reason}`];
  for (const v of req.headerValues('via')) lines.push(`Via: ${v}`);
  lines.push(`From: ${req.header('from')}`);
  lines.push(`To: ${req.header('to')}${status > 100 && req.to?.tag === undefined ? ';tag=uas1' : ''}`);
  lines.push(`Call-ID: ${req.callId}`, `CSeq: ${req.header('cseq')}`, 'Content-Length: 0', '', '');
  return lines.join('\r\n');
}

/** waits until `cond()` holds, checking on every event-loop turn; throws `what` after `ms`. */
export async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

/** an INVITE from `ua` to `ruri` through the node on `port`. */
export function invite(ua: Ua, ruri: string, callId: string, branch: string, cseq = 1): string {
  return [
    `INVITE ${ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${ua.port};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:alice@127.0.0.1>;tag=a-${callId}`,
    `To: <${ruri}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} INVITE`,
    `Contact: <sip:alice@127.0.0.1:${ua.port}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** a REGISTER of `aor` from `ua` with the given Contact header lines. */
export function registerText(ua: Ua, nodePort: number, user: string, contactLines: string[], o: { callId?: string; branch?: string; cseq?: number; expires?: string } = {}): string {
  return [
    `REGISTER sip:127.0.0.1:${nodePort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${ua.port};branch=${o.branch ?? `z9hG4bK-reg-${Math.random().toString(36).slice(2)}`};rport`,
    'Max-Forwards: 70',
    `From: <sip:${user}@127.0.0.1>;tag=r1`,
    `To: <sip:${user}@127.0.0.1>`,
    `Call-ID: ${o.callId ?? `reg-${user}-${Math.random().toString(36).slice(2)}`}`,
    `CSeq: ${o.cseq ?? 1} REGISTER`,
    ...contactLines.map((c) => `Contact: ${c}`),
    ...(o.expires !== undefined ? [`Expires: ${o.expires}`] : []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}
