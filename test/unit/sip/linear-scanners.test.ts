/**
 * The hand-written scanners that replaced backtracking regexes (issue 10, "a linear edge"): they
 * give the regexes' results on seeded random inputs over the characters that matter, and the work of
 * those that replaced quadratic ones grows linearly (characters read, counted: at most 3 per input
 * character at 4,000 and at 64,000 characters).
 */
import { describe, expect, it } from 'vitest';
import { unfold } from '../../../host/sip/message.js';
import { findViaParam, topViaForReply } from '../../../host/core/sl.js';
import { parseMessage, parseNameAddr, parseUri } from '../../../host/sip/parser.js';
import { unquote } from '../../../host/sip/name-addr.js';
import { mulberry32 } from '../../helpers/mutate.js';
import type { Via } from '../../../host/sip/types.js';

/** the regexes the scanners replaced, kept here as the reference */
const FOLDING = /[ \t]*\r?\n[ \t]+/g;
const RPORT_EMPTY = /\s*;\s*rport(?=\s*(?:;|$))/i;
const RECEIVED_PARAM = /\s*;\s*received\s*=\s*[^;\s]*/i;

function randomText(rng: () => number, alphabet: string[], max: number): string {
  const n = Math.floor(rng() * max);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rng() * alphabet.length)]!;
  return s;
}

/**
 * A string stand-in that counts the characters a scanner reads: one per charCodeAt, and for indexOf
 * every character it passes. The scanners touch their input only through length, charCodeAt,
 * indexOf and slice, so the count is the work they do on it (issue #12: counted, not timed; the
 * timing of the same edges is bench/linear-edge.bench.mjs).
 */
class CountingText {
  reads = 0;
  constructor(private readonly s: string) {}
  get length(): number {
    return this.s.length;
  }
  charCodeAt(i: number): number {
    this.reads++;
    return this.s.charCodeAt(i);
  }
  indexOf(sub: string, from = 0): number {
    const at = this.s.indexOf(sub, from);
    this.reads += (at < 0 ? this.s.length : at + sub.length) - Math.max(0, from);
    return at;
  }
  slice(a?: number, b?: number): string {
    return this.s.slice(a, b);
  }
  toString(): string {
    return this.s;
  }
}

/** characters `run` reads of `text` */
function reads(text: string, run: (s: string) => void): number {
  const t = new CountingText(text);
  run(t as unknown as string);
  return t.reads;
}

/**
 * Asserts the work is linear: at 4,000 and at 64,000 characters the scanner reads at most 3 characters
 * per input character (each blank is read at most twice, the rest once), so 16x the input costs at
 * most ~16x the reads. The regexes these scanners replaced backtracked over every run of blanks,
 * reading ~n²/2 characters (1.5 to 2.5 s at 64 KB).
 */
function expectLinear(make: (n: number) => string, run: (s: string) => void): void {
  for (const n of [4_000, 64_000]) {
    const text = make(n);
    const r = reads(text, run);
    expect(r, `${r} reads for ${text.length} characters`).toBeLessThanOrEqual(3 * text.length + 16);
    // and it does read through the stand-in (a copy scanned out of sight would count nothing)
    expect(r, `${r} reads for ${text.length} characters`).toBeGreaterThanOrEqual(text.length / 2);
  }
}

describe('unfold (RFC 3261 §7.3.1 line folding)', () => {
  it('gives what /[ \\t]*\\r?\\n[ \\t]+/g → " " gives', () => {
    const rng = mulberry32(7);
    const alphabet = [' ', '\t', '\r', '\n', '\r\n', '\r\n ', 'a', ';', '"'];
    for (let i = 0; i < 20_000; i++) {
      const s = randomText(rng, alphabet, 24);
      expect(unfold(s), JSON.stringify(s)).toBe(s.replace(FOLDING, ' '));
    }
  });

  it('is linear on blanks that are not followed by a line break', () => {
    expectLinear((n) => `a${' '.repeat(n)}b\r\n c`, (s) => void unfold(s));
    expectLinear((n) => '\r\n \t'.repeat(n / 4), (s) => void unfold(s));
  });
});

function via(raw: string, rport: number | null | undefined, received: string | undefined, host = '10.0.0.1'): Via {
  return { protocol: 'SIP/2.0/UDP', transport: 'UDP', host, port: undefined, params: [], branch: undefined, received, rport, maddr: undefined, ttl: undefined, raw };
}

describe('Via rport/received in stateless replies (RFC 3581 §4, RFC 3261 §18.2.1)', () => {
  const source = { address: '192.0.2.7', port: 5099 };

  it('rewrites like the regexes did (inputs without quoted-strings)', () => {
    const rng = mulberry32(11);
    const alphabet = [' ', '\t', ';', '=', 'rport', 'RPort', 'received', 'x', '1', ';rport', ';received=', 'rportx'];
    for (let i = 0; i < 20_000; i++) {
      const raw = `SIP/2.0/UDP 10.0.0.1${randomText(rng, alphabet, 12)}`;
      // an empty rport also brings received, even for the sent-by host itself (RFC 3581 §4)
      const expectRport = `${raw.replace(RPORT_EMPTY, `;rport=${source.port}`)};received=${source.address}`;
      expect(topViaForReply(via(raw, null, undefined, '192.0.2.7'), source), JSON.stringify(raw)).toBe(expectRport);
      const expectReceived = raw.replace(RECEIVED_PARAM, `;received=${source.address}`);
      if (RECEIVED_PARAM.test(raw)) expect(topViaForReply(via(raw, undefined, 'x', '192.0.2.7'), source), JSON.stringify(raw)).toBe(expectReceived);
    }
  });

  it('does not look inside quoted-strings', () => {
    const raw = 'SIP/2.0/UDP 10.0.0.1;x=";rport";rport';
    expect(topViaForReply(via(raw, null, undefined), source)).toBe('SIP/2.0/UDP 10.0.0.1;x=";rport";rport=5099;received=192.0.2.7');
    expect(findViaParam('SIP/2.0/UDP h;received="a b";rport', 'received', true)).toBe(13);
  });

  it('is linear on long runs of blanks, semicolons and quotes', () => {
    // the two scans topViaForReply makes of the Via text (the rewrite itself is two slices)
    for (const scan of [(s: string) => void findViaParam(s, 'rport', false), (s: string) => void findViaParam(s, 'received', true)]) {
      expectLinear((n) => `SIP/2.0/UDP 10.0.0.1;p=v${' '.repeat(n)};rport;received=1.2.3.4`, scan);
      expectLinear((n) => `SIP/2.0/UDP 10.0.0.1${'; '.repeat(n / 2)}`, scan);
      expectLinear((n) => `SIP/2.0/UDP 10.0.0.1;a=${'"'.repeat(n)}`, scan);
    }
  });
});

describe('the parser on hostile runs', () => {
  const msg = (extra: string, ruri = 'sip:a@127.0.0.1') =>
    Buffer.from(`OPTIONS ${ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n${extra}Content-Length: 0\r\n\r\n`, 'latin1');

  it('reports the first of thousands of header lines without a colon', () => {
    const r = parseMessage(msg('a\r\n'.repeat(20_000)), { maxMessageSize: 1 << 20, maxHeaders: 1 << 20 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.failure.detail).toMatch(/^header line without colon at byte \d+$/);
  });

  it('reads thousands of Request-URI parameters without "="', () => {
    const uri = parseUri(`sip:a@h${';a'.repeat(30_000)};b=c`);
    expect(uri?.params.length).toBe(30_001);
    expect(uri?.params[30_000]).toEqual(['b', 'c']);
  });

  it('collapses token display names in one pass', () => {
    expect(parseNameAddr('Alice \t\r\n  Smith <sip:a@b>')!.displayName).toBe('Alice Smith');
    expect(parseNameAddr('Alice Smith <sip:a@b>')!.displayName).toBe('Alice Smith');
    expect(parseNameAddr(`A${' \t'.repeat(30_000)}B <sip:a@b>`)!.displayName).toBe('A B');
  });

  it('resolves quoted-pairs like the per-character loop did', () => {
    const rng = mulberry32(3);
    const reference = (s: string): string => {
      let out = '';
      for (let i = 0; i < s.length; i++) {
        if (s[i] === '\\' && i + 1 < s.length) out += s[++i];
        else out += s[i];
      }
      return out;
    };
    for (let i = 0; i < 20_000; i++) {
      const s = randomText(rng, ['\\', 'a', '"', ' '], 16);
      expect(unquote(`x${s}y`, 1, s.length + 1), JSON.stringify(s)).toBe(reference(s));
    }
  });
});
