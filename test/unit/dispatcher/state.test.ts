import { describe, expect, it } from 'vitest';
import { DsFlag } from '../../../host/modules/dispatcher/destination.js';
import { parseReplyCodes, isPingSuccess, parseRpcState, parseStateFlags, stateLetters, updateState, StateMode } from '../../../host/modules/dispatcher/state.js';
import type { ProbeResult, ProbeTarget, Prober } from '../../../host/modules/dispatcher/prober.js';
import type { DsStateEvent } from '../../../host/modules/dispatcher/dispatcher.js';
import { dispatcherFrom } from './helpers.js';

/** A prober whose answers the test scripts per URI (the state machine is the subject here). */
class ScriptedProber implements Prober {
  answers = new Map<string, ProbeResult | 'throw'>();
  sent: string[] = [];
  async sendOptions(dst: ProbeTarget): Promise<ProbeResult> {
    this.sent.push(dst.uri);
    const a = this.answers.get(dst.uri) ?? { code: 200 };
    if (a === 'throw') throw new Error('no route');
    return a;
  }
}

const A = 'sip:127.0.0.1:18101';
const B = 'sip:127.0.0.1:18102';

async function setup(mode: number, flagsA = 8, extra: Record<string, unknown> = {}) {
  const prober = new ScriptedProber();
  const { ds } = await dispatcherFrom(`1 ${A} ${flagsA}\n1 ${B} 0`, { ds_probing_mode: mode, ds_probing_threshold: 3, ds_inactive_threshold: 2, ...extra }, prober);
  const letters = () => {
    const set = ds.sets.get(1)!;
    return { a: stateLetters(set.dests[set.indexOfUri(A)]!.flags), b: stateLetters(set.dests[set.indexOfUri(B)]!.flags) };
  };
  const events: string[] = [];
  ds.on('dst-up', (e: DsStateEvent) => events.push(`up ${e.uri.slice(-5)} ${e.code}`));
  ds.on('dst-down', (e: DsStateEvent) => events.push(`down ${e.uri.slice(-5)} ${e.code}`));
  return { ds, prober, letters, events };
}

describe('state letters and parsing', () => {
  it('prints Kamailio FLAGS letters', () => {
    expect([0, 8, 2 | 8, 1 | 8, 4, 4 | 1, 32, 1 | 32].map(stateLetters)).toEqual(['AX', 'AP', 'TP', 'IP', 'DX', 'IX', 'AN', 'IN']);
  });
  it('parses ds_mark_dst and set_state values', () => {
    expect(parseStateFlags('ip')).toBe(DsFlag.INACTIVE | DsFlag.PROBING);
    expect(parseStateFlags('ia')).toBe(0);
    expect(parseStateFlags('x')).toBe(-1);
    expect([parseRpcState('a'), parseRpcState('1'), parseRpcState('ip'), parseRpcState('0'), parseRpcState('dp'), parseRpcState('tp'), parseRpcState('z')]).toEqual([0, 0, 9, 1, 4, 10, null]);
  });
  it('accepts 2xx and ds_ping_reply_codes', () => {
    const rc = parseReplyCodes('code=404;class=4;code=999;class=9');
    expect([...rc.codes, ...rc.classes]).toEqual([404, 4]);
    expect([200, 299, 404, 480, 500, 408].map((c) => isPingSuccess(c, parseReplyCodes('code=501')))).toEqual([true, true, false, false, false, false]);
  });
  it('applies thresholds only for keepalive results', () => {
    const th = { probingThreshold: 2, inactiveThreshold: 2 };
    const d = { flags: 0, probingCount: 0 };
    updateState(d, DsFlag.TRYING, StateMode.KEEPALIVE, th);
    expect(stateLetters(d.flags)).toBe('TX');
    updateState(d, DsFlag.TRYING, StateMode.KEEPALIVE, th);
    expect(stateLetters(d.flags)).toBe('IX');
    updateState(d, DsFlag.TRYING, StateMode.KEEPALIVE, th); // trying on inactive stays inactive
    expect(stateLetters(d.flags)).toBe('IX');
    updateState(d, 0, StateMode.SET, th); // script/RPC: immediate
    expect(stateLetters(d.flags)).toBe('AX');
    updateState(d, DsFlag.TRYING, StateMode.SET, th);
    expect(stateLetters(d.flags)).toBe('IX');
  });
});

describe('keepalive state machine per ds_probing_mode', () => {
  it('mode 0: only P targets are pinged, the first result clears P', async () => {
    const { ds, prober, letters } = await setup(0);
    expect(letters()).toEqual({ a: 'AP', b: 'AX' });
    await ds.pingRound();
    expect(prober.sent).toEqual([A]);
    expect(letters().a).toBe('AX');
    await ds.pingRound();
    expect(prober.sent).toEqual([A]); // nothing left to ping
    // a failure also clears P: a single miss marks TRYING and probing stops (Kamailio mode 0)
    const s2 = await setup(0);
    s2.prober.answers.set(A, { timeout: true });
    await s2.ds.pingRound();
    expect(s2.letters().a).toBe('TX');
  });

  it('mode 1: every target is pinged; threshold failures → IP and dst-down; threshold successes → AP and dst-up', async () => {
    const { ds, prober, letters, events } = await setup(1, 0);
    await ds.pingRound();
    expect(prober.sent.sort()).toEqual([A, B]);
    expect(letters()).toEqual({ a: 'AP', b: 'AP' });
    prober.answers.set(A, { code: 503 });
    await ds.pingRound();
    expect(letters().a).toBe('TP');
    await ds.pingRound();
    expect(letters().a).toBe('TP');
    await ds.pingRound(); // 3rd failure = ds_probing_threshold
    expect(letters().a).toBe('IP');
    expect(events).toEqual(['down 18101 503']);
    prober.answers.set(A, { code: 200 });
    await ds.pingRound();
    expect(letters().a).toBe('IP'); // 1 of ds_inactive_threshold=2
    await ds.pingRound();
    expect(letters().a).toBe('AP');
    expect(events).toEqual(['down 18101 503', 'up 18101 200']);
  });

  it('mode 2: only inactive+probing targets are pinged; back to active clears P', async () => {
    const { ds, prober, letters } = await setup(2, 1 | 8);
    await ds.pingRound();
    await ds.pingRound();
    expect(prober.sent).toEqual([A, A]);
    expect(letters().a).toBe('AX');
    await ds.pingRound();
    expect(prober.sent).toHaveLength(2);
  });

  it('mode 3: P is never removed by results; a reply arriving after P was removed is ignored', async () => {
    const { ds, prober, letters } = await setup(3);
    prober.answers.set(A, { timeout: true });
    for (let i = 0; i < 3; i++) await ds.pingRound();
    expect(letters().a).toBe('IP');
    prober.answers.set(A, { code: 200 });
    await ds.pingRound();
    await ds.pingRound();
    expect(letters().a).toBe('AP');
    ds.setState(0, 1, A); // RPC removes P
    ds.keepaliveResult(1, A, 500);
    expect(letters().a).toBe('AX');
  });

  it('never pings disabled or no-ping targets; a send failure counts as a failure (500)', async () => {
    const { ds, prober, letters, events } = await setup(1, 4, { ds_probing_threshold: 1 });
    await ds.pingRound();
    expect(prober.sent).toEqual([B]);
    prober.answers.set(B, 'throw');
    await ds.pingRound();
    expect(letters().b).toBe('IP');
    expect(events).toEqual(['down 18102 500']);
  });

  it('ping_active 0 stops keepalives', async () => {
    const { ds, prober } = await setup(1, 0);
    ds.pingActive = 0;
    await ds.pingRound();
    expect(prober.sent).toEqual([]);
  });

  it('event_callback_mode 1 fires for keepalives only', async () => {
    const { ds, prober, events } = await setup(1, 0, { event_callback_mode: 1, ds_probing_threshold: 1 });
    ds.markAddr(DsFlag.INACTIVE, 1, A);
    expect(events).toEqual([]);
    prober.answers.set(B, { code: 500 });
    await ds.pingRound();
    expect(events).toEqual(['down 18102 500']); // A: 1 of ds_inactive_threshold=2 successes
    await ds.pingRound();
    expect(events).toEqual(['down 18102 500', 'up 18101 200']);
  });

  it('keeps latency statistics for probed targets (AVG/STD/EST/MAX/TIMEOUT)', async () => {
    const { ds, prober } = await setup(1, 8, { ds_ping_latency_stats: 1 });
    prober.answers.set(A, { timeout: true });
    await ds.pingRound(); // first round sets P on B only after this result
    await ds.pingRound();
    const a = ds.sets.get(1)!.dests[ds.sets.get(1)!.indexOfUri(A)]!;
    expect(a.latency.timeout).toBe(2);
    prober.answers.set(A, { code: 200 });
    for (let i = 0; i < 3; i++) await ds.pingRound();
    expect(a.latency.count).toBe(3);
    expect(a.latency.max).toBeGreaterThanOrEqual(a.latency.average);
    expect(a.latency.estimate).toBeCloseTo(a.latency.average, 6);
  });
});
