/**
 * Builders for registrar tests: REGISTER/INVITE messages parsed by the real SIP parser, and a
 * registrar in memory mode with a clock the test moves.
 */
import pino from 'pino';
import type { Endpoint, MessageContext } from '../../../host/core/context.js';
import type { HostCallApi } from '../../../host/wasm/types.js';
import { parseMessage } from '../../../host/sip/parser.js';
import type { SipMessage } from '../../../host/sip/types.js';
import { resolveRegistrarConfig, type RegistrarConfig } from '../../../host/modules/registrar/config.js';
import { Location } from '../../../host/modules/registrar/location.js';
import { Registrar } from '../../../host/modules/registrar/registrar.js';

export const log = pino({ level: 'silent' });

export const SRC: Endpoint = { address: '127.0.0.1', port: 18501, proto: 'udp', family: 4 };
export const LOCAL: Endpoint = { address: '127.0.0.1', port: 18500, proto: 'udp', family: 4 };

export interface RegisterSpec {
  to?: string;
  callId?: string;
  cseq?: number;
  contacts?: string[];
  expires?: number | string;
  extra?: string[];
}

export function parse(text: string): SipMessage {
  const r = parseMessage(Buffer.from(text.replace(/\n/g, '\r\n')));
  if (!r.ok) throw new Error(`test message does not parse: ${r.failure.reason}`);
  return r.message;
}

export function register(spec: RegisterSpec = {}): SipMessage {
  const to = spec.to ?? 'sip:a@example.com';
  const lines = [
    'REGISTER sip:example.com SIP/2.0',
    'Via: SIP/2.0/UDP 127.0.0.1:18501;branch=z9hG4bK-' + Math.random().toString(36).slice(2),
    'Max-Forwards: 70',
    `From: <${to}>;tag=f1`,
    `To: <${to}>`,
    `Call-ID: ${spec.callId ?? 'reg-call-1'}`,
    `CSeq: ${spec.cseq ?? 1} REGISTER`,
  ];
  for (const c of spec.contacts ?? []) lines.push(`Contact: ${c}`);
  if (spec.expires !== undefined) lines.push(`Expires: ${spec.expires}`);
  lines.push(...(spec.extra ?? []));
  lines.push('Content-Length: 0', '', '');
  return parse(lines.join('\n'));
}

export function request(method: string, ruri: string): SipMessage {
  return parse(
    [
      `${method} ${ruri} SIP/2.0`,
      'Via: SIP/2.0/UDP 127.0.0.1:18502;branch=z9hG4bK-inv',
      'Max-Forwards: 70',
      'From: <sip:bob@example.com>;tag=b1',
      `To: <${ruri}>`,
      'Call-ID: inv-1',
      `CSeq: 1 ${method}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\n'),
  );
}

export class Clock {
  t = 1_800_000_000;
  now = (): number => this.t;
  advance(s: number): void {
    this.t += s;
  }
}

export function memoryRegistrar(over: Partial<RegistrarConfig> = {}, clock = new Clock()): { reg: Registrar; loc: Location; clock: Clock } {
  const cfg = resolveRegistrarConfig(over);
  const reg = new Registrar(cfg, log);
  const loc = new Location({ name: 'location', dbMode: 0, backend: null, timerInterval: cfg.timer_interval, log, now: clock.now });
  reg.addTable(loc);
  return { reg, loc, clock };
}

/** the `expires` of each Contact line of a reply, keyed by URI. */
export function contactExpires(headers: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const h of headers) {
    const m = /^Contact: <([^>]+)>.*;expires=(\d+)/.exec(h);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

// ---- plugin import harness -------------------------------------------------------------------

export interface Sent {
  code: number;
  reason: string;
  headers: readonly string[];
}

export function context(msg: SipMessage, sent: Sent[]): MessageContext {
  return {
    id: 1,
    msg,
    source: SRC,
    local: LOCAL,
    dstUri: null,
    vars: new Map(),
    replied: false,
    log,
    slReply(code, reason, headers = []) {
      sent.push({ code, reason, headers });
      this.replied = true;
      return true;
    },
  };
}

/** guest memory stand-in: strings live at the offsets they were put at. */
export function hostApi(current: () => MessageContext | null) {
  const mem = new Map<number, string>();
  let next = 16;
  let gas = 0;
  const api: HostCallApi = {
    current,
    hook: () => 'request_route',
    readString: (ptr, len) => {
      const s = mem.get(ptr);
      return s !== undefined && Buffer.byteLength(s) === len ? s : null;
    },
    writeString: () => -3,
    charge: (u) => {
      gas += u;
    },
  };
  const str = (s: string): [number, number] => {
    const p = next;
    next += 1024;
    mem.set(p, s);
    return [p, Buffer.byteLength(s)];
  };
  return { api, str, gas: () => gas };
}

export type Fn = (...a: number[]) => number;
