/**
 * core.overload's guard (host/server/overload.ts): the per-window delay signal (CoDel's minimum), the
 * refused share's rise and fall, the optional utilisation signal, and which requests it refuses.
 * Windows are driven by hand (sample()); delays are fed as the probes would feed them.
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { performance } from 'node:perf_hooks';
import { DECREASE_FACTOR, DECREASE_STEP, INCREASE_STEP, MAX_STEP_FACTOR, MIN_LAG_SAMPLES, RETRANSMIT_HOLD, RETRANSMIT_MIN, STARTUP_FACTOR, OverloadGuard, type OverloadOptions } from '../../../host/server/overload.js';
import { parseMessage } from '../../../host/sip/parser.js';

const MAX = 100;

function guard(opts: Partial<OverloadOptions> = {}, busy: number[] = []): { g: OverloadGuard; logs: string[] } {
  const logs: string[] = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void logs.push(l) });
  let i = 0;
  const now = performance.eventLoopUtilization();
  const g = new OverloadGuard({ maxDelayMs: MAX, windowMs: 100, sustain: 2, retryAfter: 7, ...opts }, log, () => ({ now, busy: busy[i++] ?? 0 }));
  return { g, logs };
}

/** one window whose probes came back after `delays` ms. */
function window(g: OverloadGuard, ...delays: number[]): void {
  for (const d of delays) g.probeDelay(d);
  g.sample();
}

function request(method: string, toTag = ''): ReturnType<typeof parseMessage> & { ok: true } {
  const text =
    `${method} sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKov1\r\nMax-Forwards: 70\r\n` +
    `From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>${toTag}\r\nCall-ID: ov-1\r\nCSeq: 1 ${method}\r\nContent-Length: 0\r\n\r\n`;
  const r = parseMessage(Buffer.from(text));
  if (!r.ok) throw new Error('test message does not parse');
  return r;
}

describe('OverloadGuard: the delay signal', () => {
  it('a standing queue for `sustain` windows starts refusing; each further window raises the share', () => {
    const { g, logs } = guard();
    window(g, 150, 160);
    expect(g.rejectShare).toBe(0); // one window is not enough (sustain 2)
    window(g, 140, 180);
    expect(g.rejectShare).toBeCloseTo(1.4 * INCREASE_STEP); // proportional: delay 140 / target 100
    window(g, 130);
    expect(g.rejectShare).toBeCloseTo(2.7 * INCREASE_STEP);
    expect(g.episodes).toBe(1);
    expect(g.overloadedWindows).toBe(3);
    expect(g.lastDelayMs).toBe(130);
    expect(logs.filter((l) => l.includes('[E3004]'))).toHaveLength(1);
  });

  it('counts the smallest delay of a window (CoDel): a burst that drains is not overload', () => {
    const { g } = guard({ sustain: 1 });
    for (let k = 0; k < 5; k++) window(g, 900, 2, 400); // a stall, then the queue is empty again
    expect(g.rejectShare).toBe(0);
    expect(g.overloadedWindows).toBe(0);
    expect(g.lastDelayMs).toBe(2);
  });

  it('holds the share while the queue drains (the delay fell 10 % since the last window)', () => {
    const { g } = guard({ sustain: 1 });
    window(g, 400);
    window(g, 400);
    const share = g.rejectShare;
    window(g, 350); // 350 < 0.9 × 400: draining, still over max_delay
    expect(g.rejectShare).toBeCloseTo(share);
    window(g, 340); // no longer falling fast enough: push on
    expect(g.rejectShare).toBeGreaterThan(share);
  });

  it('while clients retransmit, a quarter of max_delay counts as overload, for RETRANSMIT_HOLD windows', () => {
    let retransmissions = 0;
    const { g } = guard({ sustain: 1, retransmissions: () => retransmissions });
    window(g, 60); // below max_delay (100): fine
    expect(g.shedding).toBe(false);
    retransmissions += RETRANSMIT_MIN;
    window(g, 60); // the same queue, but clients time out on it: target 25 ms
    expect(g.shedding).toBe(true);
    const share = g.rejectShare;
    for (let k = 1; k < RETRANSMIT_HOLD; k++) window(g, 20); // below 25, above 12.5: hold
    expect(g.rejectShare).toBeCloseTo(share);
    window(g, 20); // the hold is over: target 100 again, 20 is calm
    expect(g.rejectShare).toBeLessThan(share);
  });

  it('below min_rate messages/s no window counts as overloaded, whatever the delay', () => {
    let messages = 0;
    const { g } = guard({ sustain: 1, minRate: 1000, messages: () => messages });
    messages += 99; // 990/s in a 100-ms window
    window(g, 500);
    expect(g.shedding).toBe(false);
    expect(g.overloadedWindows).toBe(0);
    messages += 100;
    window(g, 500);
    expect(g.shedding).toBe(true);
  });

  it('start-up grace: for startup_grace ms from the first busy window only STARTUP_FACTOR x max_delay counts; then max_delay', () => {
    let messages = 0;
    const { g } = guard({ sustain: 1, minRate: 1000, messages: () => messages, startupGraceMs: 300 });
    window(g, 3 * MAX); // quiet: the grace has not started (a node idle for an hour still gets it on its first load)
    for (let k = 0; k < 3; k++) {
      messages += 100;
      window(g, 3 * MAX); // grace windows 1-3: 300 ms is below 4 x 100
    }
    expect(g.shedding).toBe(false);
    messages += 100;
    window(g, 3 * MAX); // the grace is over: the same 300 ms counts against max_delay
    expect(g.shedding).toBe(true);
  });

  it('start-up grace: a queue past the raised target is refused during the grace too', () => {
    let messages = 0;
    const { g } = guard({ sustain: 1, minRate: 1000, messages: () => messages, startupGraceMs: 1000 });
    messages += 100;
    window(g, STARTUP_FACTOR * MAX + 50);
    expect(g.shedding).toBe(true);
  });

  it('rises faster the longer the queue, and never past 1', () => {
    const { g } = guard({ sustain: 1 });
    window(g, 2 * MAX);
    expect(g.rejectShare).toBeCloseTo(2 * INCREASE_STEP);
    window(g, 10 * MAX);
    expect(g.rejectShare).toBeCloseTo((2 + MAX_STEP_FACTOR) * INCREASE_STEP);
    for (let k = 0; k < 10; k++) window(g, 1000);
    expect(g.rejectShare).toBe(1);
  });

  it('falls multiplicatively per calm window (below max_delay / 2), holds in between, ends the episode at 0', () => {
    const { g, logs } = guard({ sustain: 1 });
    window(g, 150);
    window(g, 150);
    const share = g.rejectShare;
    window(g, 70); // between max/2 and max: hold
    expect(g.rejectShare).toBeCloseTo(share);
    window(g, 10);
    expect(g.rejectShare).toBeCloseTo(share * DECREASE_FACTOR - DECREASE_STEP);
    for (let k = 0; k < 20 && g.shedding; k++) window(g, 10);
    expect(g.rejectShare).toBe(0);
    expect(g.shedding).toBe(false);
    expect(logs.some((l) => l.includes('load back to normal'))).toBe(true);
  });

  it('a window without any answered probe counts the age of the oldest outstanding one', () => {
    const { g } = guard({ sustain: 1 });
    let age = 0;
    g.setOutstanding(() => age);
    window(g); // no probe, nothing outstanding: no signal
    expect(g.lastDelayMs).toBe(-1);
    age = 250;
    window(g);
    expect(g.lastDelayMs).toBe(250);
    expect(g.rejectShare).toBeGreaterThan(0);
  });

  it('a window that ended late without any answered probe is a stall, not a queue: no signal', () => {
    const { g } = guard({ sustain: 1 });
    g.setOutstanding(() => 400);
    g.sample(300); // the window's timer fired 300 ms late: the loop itself was stalled
    expect(g.lastDelayMs).toBe(-1);
    expect(g.overloadedWindows).toBe(0);
    g.sample(0); // on time, and the probe is still out: a queue
    expect(g.lastDelayMs).toBe(400);
    expect(g.shedding).toBe(true);
  });

  it('without UDP probes the loop lag is the signal, from at least MIN_LAG_SAMPLES timers', () => {
    const { g } = guard({ sustain: 1 });
    g.loopLag(900); // one late timer: a stall
    g.sample();
    expect(g.lastDelayMs).toBe(-1);
    for (let k = 0; k < MIN_LAG_SAMPLES; k++) g.loopLag(300 - k);
    g.sample();
    expect(g.lastDelayMs).toBe(300 - MIN_LAG_SAMPLES + 1);
    expect(g.shedding).toBe(true);
  });

  it('with UDP probes the loop lag does not count (the probes include the loop backlog)', () => {
    const { g } = guard({ sustain: 1 });
    g.setOutstanding(() => 0);
    for (let k = 0; k < 10; k++) g.loopLag(500);
    g.probeDelay(3);
    g.sample();
    expect(g.lastDelayMs).toBe(3);
    expect(g.shedding).toBe(false);
  });

  it('reads the event loop by default: a window without idle time is saturated', () => {
    const g = new OverloadGuard({ maxDelayMs: MAX, windowMs: 100, sustain: 1, retryAfter: 7, utilization: 0.9 }, pino({ level: 'silent' }));
    // constructed and sampled in one synchronous stretch: the loop never reached its poll phase, so
    // the busy share is exactly 1 (active time > 0, idle time 0), however fast the machine is
    for (let k = 0; k < 50; k++) request('INVITE');
    g.sample();
    expect(g.shedding).toBe(true);
    expect(g.episodes).toBe(1);
  });

  it('with `utilization` set, a busy window counts as overloaded even with a short queue', () => {
    const { g } = guard({ sustain: 1, utilization: 0.9 }, [0.5, 0.95, 0.97]);
    window(g, 1);
    expect(g.shedding).toBe(false);
    window(g, 1);
    expect(g.shedding).toBe(true);
    window(g, 1);
    expect(g.rejectShare).toBeCloseTo(2 * INCREASE_STEP);
  });
});

describe('OverloadGuard: what it refuses', () => {
  it('new dialogs and registrations only, in the current share (deterministic, not a draw)', () => {
    const { g } = guard({ sustain: 1 });
    expect(g.refuses(request('INVITE').message)).toBe(false); // not shedding yet
    window(g, 101);
    window(g, 101);
    window(g, 101); // share 0.303
    expect(g.rejectShare).toBeCloseTo(0.303);
    let refused = 0;
    for (let k = 0; k < 100; k++) if (g.refuses(request(k % 2 === 0 ? 'INVITE' : 'REGISTER').message)) refused++;
    expect(refused).toBe(30);
    const withCredentials = (method: string, hdr: string) => {
      const text = request(method).message.raw.toString('latin1').replace('Content-Length: 0', `${hdr}: Digest username="a", realm="r", nonce="n", uri="sip:r", response="00"\r\nContent-Length: 0`);
      const r = parseMessage(Buffer.from(text, 'latin1'));
      if (!r.ok) throw new Error('test message does not parse');
      return r;
    };
    const answers = [withCredentials('REGISTER', 'Authorization'), withCredentials('INVITE', 'Proxy-Authorization')];
    for (const m of [request('INVITE', ';tag=b1'), request('BYE', ';tag=b1'), request('ACK'), request('CANCEL'), request('OPTIONS'), ...answers]) {
      for (let k = 0; k < 10; k++) expect(g.refuses(m.message)).toBe(false);
    }
    for (let k = 0; k < 5; k++) window(g, 1000);
    expect(g.rejectShare).toBe(1);
    expect(g.refuses(request('SUBSCRIBE').message)).toBe(true);
    g.stop();
    expect(g.refuses(request('INVITE').message)).toBe(false);
    expect(g.retryAfterHeader).toBe('Retry-After: 7');
  });
});
