/** Shared pieces of the transaction unit tests: a manual clock, an in-memory channel, message builders. */
import pino from 'pino';
import type { Endpoint, MessageContext, Proto } from '../../../host/core/context.js';
import { parseMessage } from '../../../host/sip/parser.js';
import type { SipMessage } from '../../../host/sip/types.js';
import type { Channel } from '../../../host/transport/types.js';
import { TimerQueue } from '../../../host/transaction/timer-queue.js';
import { TransactionLayer } from '../../../host/transaction/layer.js';
import type { TransactionTimers } from '../../../host/transaction/config.js';

export const silentLog = pino({ level: 'silent' });

export class ManualClock {
  t = 0;
  readonly queue = new TimerQueue({ manual: true, now: () => this.t });
  /** advances time in 10 ms steps, firing timers as a real tick would. */
  advance(ms: number): void {
    const end = this.t + ms;
    while (this.t < end) {
      this.t = Math.min(end, this.t + 10);
      this.queue.runDue(this.t);
    }
  }
}

export interface Sent {
  at: number;
  text: string;
  address: string;
  port: number;
}

export class MemoryChannel implements Channel {
  readonly sent: Sent[] = [];
  readonly local: Endpoint;
  constructor(
    private readonly clock: ManualClock,
    readonly proto: Proto = 'udp',
  ) {
    this.local = { address: '127.0.0.1', port: 19200, proto, family: 4 };
  }
  send(buf: Buffer, address: string, port: number): void {
    this.sent.push({ at: this.clock.t, text: buf.toString('utf8'), address, port });
  }
  firstLines(): string[] {
    return this.sent.map((s) => s.text.slice(0, s.text.indexOf('\r\n')));
  }
}

export function makeLayer(clock: ManualClock, timers?: Partial<TransactionTimers>): TransactionLayer {
  return new TransactionLayer({ queue: clock.queue, log: silentLog, timers });
}

export function parse(text: string): SipMessage {
  const r = parseMessage(Buffer.from(text.replace(/\n/g, '\r\n').replace(/\r\r\n/g, '\r\n')));
  if (!r.ok) throw new Error(`test message does not parse: ${r.failure.detail}`);
  return r.message;
}

export const uacSource: Endpoint = { address: '127.0.0.1', port: 19201, proto: 'udp', family: 4 };

export function invite(opts: { branch?: string; toTag?: string; method?: string; cseq?: number; via?: string } = {}): string {
  const method = opts.method ?? 'INVITE';
  const via = opts.via ?? `SIP/2.0/UDP 127.0.0.1:19201;branch=${opts.branch ?? 'z9hG4bK-abc1'}`;
  return [
    `${method} sip:bob@127.0.0.1:19202 SIP/2.0`,
    `Via: ${via}`,
    'Max-Forwards: 70',
    'From: <sip:alice@127.0.0.1>;tag=a1',
    `To: <sip:bob@127.0.0.1>${opts.toTag ? `;tag=${opts.toTag}` : ''}`,
    'Call-ID: call-1@test',
    `CSeq: ${opts.cseq ?? 1} ${method === 'ACK' || method === 'CANCEL' ? (method === 'ACK' ? 'ACK' : 'CANCEL') : method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** a response to `req` text with our Via on top. */
export function response(status: number, reason: string, viaBranch: string, method = 'INVITE', toTag = 'b1'): SipMessage {
  return parse(
    [
      `SIP/2.0 ${status} ${reason}`,
      `Via: SIP/2.0/UDP 127.0.0.1:19200;branch=${viaBranch}`,
      'Via: SIP/2.0/UDP 127.0.0.1:19201;branch=z9hG4bK-abc1',
      'From: <sip:alice@127.0.0.1>;tag=a1',
      `To: <sip:bob@127.0.0.1>${status > 100 ? `;tag=${toTag}` : ''}`,
      'Call-ID: call-1@test',
      `CSeq: 1 ${method}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

/** the local socket of the record-route tests and its isMyself. */
export const rrLocal: Endpoint = { address: '127.0.0.1', port: 19210, proto: 'udp', family: 4 };
export const rrIsMyself = (host: string, port: number | undefined): boolean => host === '127.0.0.1' && (port ?? 5060) === 19210;

/** a request context received on rrLocal. */
export function rrCtx(msg: SipMessage): MessageContext {
  return {
    id: 1, msg, source: { ...rrLocal, port: 19211 }, local: rrLocal, dstUri: null, vars: new Map(), replied: false,
    log: silentLog, slReply: () => false,
  };
}

/** a request from alice (From tag `fromTag`) to bob with `lines` added, as the record-route tests use. */
export function rrRequest(lines: string[], method = 'INVITE', ruri = 'sip:bob@127.0.0.1:19212', toTag?: string, fromTag = 'ft1'): SipMessage {
  const text = [
    `${method} ${ruri} SIP/2.0`,
    'Via: SIP/2.0/UDP 127.0.0.1:19211;branch=z9hG4bK-r1',
    'Max-Forwards: 70',
    `From: <sip:alice@127.0.0.1>;tag=${fromTag}`,
    `To: <sip:bob@127.0.0.1>${toTag ? `;tag=${toTag}` : ''}`,
    'Call-ID: rr@test',
    `CSeq: 2 ${method}`,
    ...lines,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return parse(text);
}
