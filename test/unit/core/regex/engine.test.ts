import { describe, expect, it } from 'vitest';
import { compile, exec, MAX_PATTERN, MAX_PROGRAM, parseSubst, PatternCache, RegexError, substitute, test as matches, type CompileOptions } from '../../../../host/core/regex/index.js';

/** the match and groups as strings (undefined for a group that did not take part), or null. */
function m(pattern: string, text: string, o: CompileOptions = {}): Array<string | undefined> | null {
  const caps = exec(compile(pattern, o), text);
  if (caps === null) return null;
  const out: Array<string | undefined> = [];
  for (let i = 0; i < caps.length; i += 2) out.push(caps[i]! < 0 ? undefined : text.slice(caps[i], caps[i + 1]));
  return out;
}

function subst(expr: string, text: string, max = 1 << 20): string | null {
  return substitute(parseSubst(expr), text, max);
}

describe('linear regex: POSIX ERE subset', () => {
  it('literals, dot, classes, anchors, groups, alternation', () => {
    expect(m('a+b', 'xxaab')).toEqual(['aab']);
    expect(m('sip:([^@]+)@(.*)', 'sip:alice@example.com')).toEqual(['sip:alice@example.com', 'alice', 'example.com']);
    expect(m('^INVITE', 'xINVITE')).toBeNull();
    expect(m('^INVITE', 'INVITE sip:x')).toEqual(['INVITE']);
    expect(m('a|b|c', 'zzc')).toEqual(['c']);
    expect(m('(ab|cd)+', 'xabcdab!')).toEqual(['abcdab', 'ab']);
    expect(m('(?:ab)+(c)?', 'abab')).toEqual(['abab', undefined]);
    expect(m('[[:digit:]]{2,3}', 'a12345')).toEqual(['123']);
    expect(m('[[:alpha:]_-]+', '  user_name-x!')).toEqual(['user_name-x']);
    expect(m('x{3}', 'xxxxx')).toEqual(['xxx']);
    expect(m('x{2,}', 'xxxxx')).toEqual(['xxxxx']);
    expect(m('[]a]+', 'b]a]')).toEqual([']a]']);
    expect(m('a\\.b', 'axb a.b')).toEqual(['a.b']);
    expect(m('\\d+', 'port 5060')).toEqual(['5060']);
    expect(m('x?', 'abc')).toEqual(['']);
  });

  it('greedy, leftmost; Perl priority for alternatives', () => {
    expect(m('a.*b', 'a1b2b3')).toEqual(['a1b2b']);
    expect(m('a|ab', 'ab')).toEqual(['a']);
  });

  it('case-insensitive flag folds ASCII letters in literals and sets', () => {
    expect(m('content-type', 'Content-Type: x', { icase: true })).toEqual(['Content-Type']);
    expect(m('[a-c]+', 'ABCd', { icase: true })).toEqual(['ABC']);
    expect(m('[^a]', 'Ab', { icase: true })).toEqual(['b']);
  });

  it('newline mode: ^ and $ at line ends (CRLF), dot and [^] stop at LF', () => {
    const sdp = 'v=0\r\nm=audio 4000 RTP/AVP 0 8\r\na=rtpmap:8 PCMA/8000\r\n';
    expect(m('^m=audio.*$', sdp, { newline: true })).toEqual(['m=audio 4000 RTP/AVP 0 8']);
    expect(m('^a=rtpmap:8 .*$', sdp, { newline: true })).toEqual(['a=rtpmap:8 PCMA/8000']);
    expect(m('^m=audio', sdp)).toBeNull(); // without it, ^ is the start of the text only
    expect(m('v=0[^x]*', 'v=0\nabc', { newline: true })).toEqual(['v=0']);
    expect(m('v=0.*', 'v=0\nabc')).toEqual(['v=0\nabc']);
  });

  it('refuses what it cannot run linearly or bounded, with the offset', () => {
    expect(() => compile('(a)\\1')).toThrow(/back-references/);
    expect(() => compile('a{1,300}')).toThrow(/above 255/);
    expect(() => compile('(ab')).toThrow(/unmatched '\('/);
    expect(() => compile('ab)')).toThrow(/unmatched '\)'/);
    expect(() => compile('[abc')).toThrow(/unmatched '\['/);
    expect(() => compile('*a')).toThrow(/repetition of nothing/);
    expect(() => compile('a*?')).toThrow(/lazy/);
    expect(() => compile('[[:foo:]]')).toThrow(/character class/);
    expect(() => compile('x'.repeat(MAX_PATTERN + 1))).toThrow(RegexError);
    // {m,n} expansion is bounded by the program size, not only by the pattern's length
    expect(() => compile('((((a{255}){255}){255}){255})')).toThrow(new RegExp(`more than ${MAX_PROGRAM}`));
  });
});

describe('linear regex: catastrophic-backtracking inputs stay linear', () => {
  const cases: Array<[string, string]> = [
    ['(a*)*b', 'a'.repeat(100_000)],
    ['(a|a)*b', 'a'.repeat(100_000)],
    ['(x+x+)+y', 'x'.repeat(100_000)],
    ['(a|aa)+$', `${'a'.repeat(100_000)}!`],
    ['^(([a-z])+.)+[A-Z]([a-z])+$', 'a'.repeat(100_000)],
  ];
  for (const [p, text] of cases) {
    it(`${p} on ${text.length} characters: no match, steps ≤ (n + 1) × program`, () => {
      const prog = compile(p);
      let steps = 0;
      const t0 = performance.now();
      expect(exec(prog, text, 0, (n) => { steps += n; })).toBeNull();
      const ms = performance.now() - t0;
      expect(steps).toBeLessThanOrEqual((text.length + 1) * prog.insts.length + 1024);
      // generous (shared CI machine); a backtracking engine takes minutes to years here
      expect(ms).toBeLessThan(3000);
    });
  }

  it('work grows linearly with the text (10× text → ~10× steps)', () => {
    const prog = compile('(a*)*b');
    const count = (n: number): number => { let s = 0; exec(prog, 'a'.repeat(n), 0, (k) => { s += k; }); return s; };
    const r = count(100_000) / count(10_000);
    expect(r).toBeGreaterThan(8);
    expect(r).toBeLessThan(12);
  });

  it('a meter that throws stops the search (gas exhaustion)', () => {
    let paid = 0;
    const meter = (n: number): void => { paid += n; if (paid > 10_000) throw new Error('out of gas'); };
    expect(() => exec(compile('(a*)*b'), 'a'.repeat(100_000), 0, meter)).toThrow('out of gas');
    expect(paid).toBeLessThanOrEqual(10_000 + 1024);
  });
});

describe('subst expressions', () => {
  it('first match, or every match with g; \\0..\\9 in the replacement', () => {
    expect(subst('/a(b*)c/[\\1]/', 'ac abbc')).toBe('[] abbc');
    expect(subst('/a(b*)c/[\\1]/g', 'ac abbc xabcx')).toBe('[] [bb] x[b]x');
    expect(subst('/(.*)@(.*)/\\2 at \\1 (\\0)/', 'bob@host')).toBe('host at bob (bob@host)');
    expect(subst('/x/y/', 'abc')).toBeNull();
    expect(subst('/X/y/gi', 'xXx')).toBe('yyy');
    expect(subst('#a/b#c\\#d#', 'za/b')).toBe('zc#d');
    expect(subst('/\\//-/g', 'a/b/c')).toBe('a-b-c');
    expect(subst('/x*/-/g', 'abc')).toBe('-a-b-c-');
    expect(subst('/^a=sendrecv$/a=sendonly/s', 'v=0\r\na=sendrecv\r\n')).toBe('v=0\r\na=sendonly\r\n');
  });

  it('refuses bad expressions, unknown flags and missing groups', () => {
    expect(() => parseSubst('/a/b')).toThrow(/unterminated/);
    expect(() => parseSubst('/a/b/q')).toThrow(/unknown flag/);
    expect(() => parseSubst('/(a)/\\2/')).toThrow(/group 2/);
  });

  it('a result past the bound is refused, not built', () => {
    expect(() => subst('/a/aaaaaaaaaa/g', 'a'.repeat(1000), 5000)).toThrow(/longer than 5000/);
  });

  it('matches with the convenience test()', () => {
    expect(matches(compile('^sip:', { icase: true }), 'SIP:x')).toBe(true);
  });
});

describe('PatternCache', () => {
  it('compiles once, keeps errors, evicts the least recently used past its size', () => {
    let builds = 0;
    const c = new PatternCache(2, (k) => { builds++; return compile(k); });
    c.get('a'); c.get('a'); c.get('b');
    expect(builds).toBe(2);
    c.get('a'); // refresh a: b is now the oldest
    c.get('c');
    expect(c.size).toBe(2);
    c.get('a');
    expect(builds).toBe(3);
    c.get('b');
    expect(builds).toBe(4);
    expect(c.get('(')).toBeInstanceOf(RegexError);
    expect(c.get('(')).toBeInstanceOf(RegexError);
    expect(builds).toBe(5);
  });
});
