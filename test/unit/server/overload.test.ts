/**
 * core.overload's guard (host/server/overload.ts): hysteresis on the event loop's busy share, and
 * which requests it refuses (new dialogs and registrations only).
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { performance } from 'node:perf_hooks';
import { OverloadGuard } from '../../../host/server/overload.js';
import { parseMessage } from '../../../host/sip/parser.js';

function guardWith(readings: number[], sustain = 1): OverloadGuard {
  let i = 0;
  const now = performance.eventLoopUtilization();
  return new OverloadGuard({ utilization: 0.9, windowMs: 100, sustain, retryAfter: 7 }, pino({ level: 'silent' }), () => ({ now, busy: readings[i++]! }));
}

function request(method: string, toTag = ''): ReturnType<typeof parseMessage> & { ok: true } {
  const text =
    `${method} sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKov1\r\nMax-Forwards: 70\r\n` +
    `From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>${toTag}\r\nCall-ID: ov-1\r\nCSeq: 1 ${method}\r\nContent-Length: 0\r\n\r\n`;
  const r = parseMessage(Buffer.from(text));
  if (!r.ok) throw new Error('test message does not parse');
  return r;
}

describe('OverloadGuard', () => {
  it('starts shedding at the threshold and stops only 0.05 below it', () => {
    const g = guardWith([0.5, 0.92, 0.87, 0.86, 0.84, 0.95]);
    const states: boolean[] = [];
    for (let k = 0; k < 6; k++) {
      g.sample();
      states.push(g.shedding);
    }
    expect(states).toEqual([false, true, true, true, false, true]);
    expect(g.episodes).toBe(2);
    expect(g.retryAfterHeader).toBe('Retry-After: 7');
  });

  it('with sustain: 3, only three hot windows in a row start it', () => {
    const g = guardWith([0.95, 0.95, 0.5, 0.95, 0.95, 0.95], 3);
    const states: boolean[] = [];
    for (let k = 0; k < 6; k++) {
      g.sample();
      states.push(g.shedding);
    }
    expect(states).toEqual([false, false, false, false, false, true]);
  });

  it('reads the event loop by default: a window without idle time is saturated', () => {
    const g = new OverloadGuard({ utilization: 0.9, windowMs: 100, sustain: 1, retryAfter: 7 }, pino({ level: 'silent' }));
    // constructed and sampled in one synchronous stretch: the loop never reached its poll phase, so
    // the busy share is exactly 1 (active time > 0, idle time 0), however fast the machine is
    for (let k = 0; k < 50; k++) request('INVITE');
    g.sample();
    expect(g.shedding).toBe(true);
    expect(g.episodes).toBe(1);
  });

  it('refuses new dialogs and registrations only', () => {
    const g = guardWith([1]);
    expect(g.refuses(request('INVITE').message)).toBe(false); // not shedding yet
    g.sample();
    expect(g.refuses(request('INVITE').message)).toBe(true);
    expect(g.refuses(request('REGISTER').message)).toBe(true);
    expect(g.refuses(request('SUBSCRIBE').message)).toBe(true);
    expect(g.refuses(request('INVITE', ';tag=b1').message)).toBe(false); // re-INVITE
    expect(g.refuses(request('BYE', ';tag=b1').message)).toBe(false);
    expect(g.refuses(request('ACK').message)).toBe(false);
    expect(g.refuses(request('CANCEL').message)).toBe(false);
    expect(g.refuses(request('OPTIONS').message)).toBe(false);
    g.stop();
    expect(g.refuses(request('INVITE').message)).toBe(false);
  });
});
