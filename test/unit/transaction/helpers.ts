/** Shared pieces of the transaction unit tests: a manual clock, an in-memory channel, message builders. */
import pino from 'pino';
import type { Endpoint, Proto } from '../../../host/core/context.js';
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
