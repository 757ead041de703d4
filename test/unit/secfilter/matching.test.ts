import { describe, expect, it } from 'vitest';
import { PrefixIndex } from '../../../host/modules/secfilter/prefix-index.js';
import { RuleSet, type RuleLoadWarning } from '../../../host/modules/secfilter/rules.js';
import { HeaderKind, SecFilter } from '../../../host/modules/secfilter/secfilter.js';
import { parseHeaderParts } from '../../../host/modules/secfilter/header-parts.js';
import { isSiphonError } from '../../../host/errors/registry.js';
import type { SecfilterRule } from '../../../host/modules/secfilter/table.js';

const BL = 0;
const WL = 1;
const DST = 2;
const T = { ua: 0, country: 1, domain: 2, ip: 3, user: 4 } as const;

function filter(rules: SecfilterRule[], opts: { dstExactMatch?: boolean } = {}): SecFilter {
  const sf = new SecFilter(opts);
  sf.setRules(RuleSet.fromRules(rules));
  return sf;
}

describe('PrefixIndex', () => {
  it('matches when an entry is a case-insensitive prefix of the value', () => {
    const ix = new PrefixIndex(['Friendly-Scanner', '10.0.0.1', 'sipvicious']);
    expect(ix.matchesPrefixOf('friendly-scanner 1.0')).toBe(true);
    expect(ix.matchesPrefixOf('FRIENDLY-SCANNER')).toBe(true);
    expect(ix.matchesPrefixOf('10.0.0.12')).toBe(true); // textual, not CIDR (Kamailio)
    expect(ix.matchesPrefixOf('10.0.0.')).toBe(false); // value shorter than the entry never matches
    expect(ix.matchesPrefixOf('my sipvicious')).toBe(false); // prefix, not substring
    expect(ix.matchesExactly('SIPVICIOUS')).toBe(true);
    expect(ix.matchesExactly('sipvicious2')).toBe(false);
  });

  it('handles entries that are prefixes of each other and the empty index', () => {
    const ix = new PrefixIndex(['555', '5551', '5559999']);
    expect(ix.matchesPrefixOf('5550000')).toBe(true);
    expect(ix.matchesExactly('5551')).toBe(true);
    expect(ix.matchesExactly('5552')).toBe(false);
    expect(PrefixIndex.EMPTY.matchesPrefixOf('x')).toBe(false);
  });

  it('firstMatchOf: the position of the first entry (in the given order) that is a prefix of the value', () => {
    const ix = new PrefixIndex(['bob smith', '100', 'Bob', 'BOB', '1']);
    expect(ix.firstMatchOf('bob smith jr')).toBe(0); // 'Bob' (2) matches too, later
    expect(ix.firstMatchOf('BOBBY')).toBe(2); // the first of two entries equal ignoring case
    expect(ix.firstMatchOf('1001')).toBe(1); // '100' comes before '1'
    expect(ix.firstMatchOf('17')).toBe(4);
    expect(ix.firstMatchOf('alice')).toBe(-1);
    expect(ix.firstMatchOf('')).toBe(-1);
    expect(PrefixIndex.EMPTY.firstMatchOf('x')).toBe(-1);
  });

  it('agrees with a linear strncasecmp scan on random data', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const alpha = 'abAB01.-';
    const word = (n: number) => Array.from({ length: n }, () => alpha[Math.floor(rnd() * alpha.length)]).join('');
    const entries = Array.from({ length: 300 }, () => word(1 + Math.floor(rnd() * 5)));
    const ix = new PrefixIndex(entries);
    for (let i = 0; i < 2000; i++) {
      const v = word(Math.floor(rnd() * 8));
      const linear = entries.some((e) => v.length >= e.length && v.slice(0, e.length).toLowerCase() === e.toLowerCase());
      expect(ix.matchesPrefixOf(v)).toBe(linear);
      expect(ix.firstMatchOf(v)).toBe(entries.findIndex((e) => v.length >= e.length && v.slice(0, e.length).toLowerCase() === e.toLowerCase()));
      expect(ix.matchesExactly(v)).toBe(entries.some((e) => e.toLowerCase() === v.toLowerCase()));
    }
  });
});

describe('simple checks (ua, ip, country)', () => {
  const sf = filter([
    { action: BL, type: T.ua, data: 'friendly-scanner' },
    { action: BL, type: T.ua, data: 'sipcli' },
    { action: WL, type: T.ua, data: 'sipcli/good' },
    { action: BL, type: T.ip, data: '192.168.1.' },
    { action: WL, type: T.ip, data: '192.168.1.10' },
    { action: BL, type: T.country, data: 'ru' },
    { action: WL, type: T.country, data: 'es' },
  ]);

  it('returns 2 whitelisted, -2 blacklisted, 1 not found; whitelist wins', () => {
    expect(sf.checkUa('Friendly-Scanner 2.0')).toBe(-2);
    expect(sf.checkUa('sipcli/v1')).toBe(-2);
    expect(sf.checkUa('SIPCLI/GOOD 1')).toBe(2); // in both lists: whitelist first
    expect(sf.checkUa('Linphone')).toBe(1);
    expect(sf.checkUa(undefined)).toBe(1); // header missing
    expect(sf.checkIp('192.168.1.77')).toBe(-2);
    expect(sf.checkIp('192.168.1.100')).toBe(2); // textual prefix of 192.168.1.10
    expect(sf.checkIp('::ffff:192.168.1.5')).toBe(-2); // IPv4-mapped shown as IPv4
    expect(sf.checkIp('10.1.1.1')).toBe(1);
    expect(sf.checkCountry('RU')).toBe(-2);
    expect(sf.checkCountry('es')).toBe(2);
    expect(sf.checkCountry('us')).toBe(1);
  });

  it('counts hits only', () => {
    const s = filter([{ action: BL, type: T.ua, data: 'x' }]);
    s.checkUa('xy');
    s.checkUa('nothing');
    const st = s.stats.toRpc() as { Blacklist: Record<string, number>; Whitelist: Record<string, number>; Other: Record<string, number> };
    expect(st.Blacklist['User-Agent']).toBe(1);
    expect(Object.keys(st.Blacklist)).toHaveLength(12);
    expect(Object.keys(st.Whitelist)).toHaveLength(12);
    expect(Object.keys(st.Other)).toEqual(['Destination', 'SQL-Injection']);
    expect(Object.keys(s.stats.toStatistics())).toHaveLength(26);
  });
});

describe('destination blacklist', () => {
  const rules = [
    { action: DST, type: 0, data: '555' },
    { action: DST, type: 0, data: '+34900' },
  ];
  it('dst_exact_match=1 needs equal strings', () => {
    const sf = filter(rules, { dstExactMatch: true });
    expect(sf.checkDst('555')).toBe(-2);
    expect(sf.checkDst('5551234')).toBe(1);
    expect(sf.checkDst('+34900')).toBe(-2);
  });
  it('dst_exact_match=0: a stored number is a prefix of the dialled one, independent of order (#4141)', () => {
    const sf = filter([{ action: DST, type: 0, data: '5551234567' }, ...rules], { dstExactMatch: false });
    expect(sf.checkDst('5551234')).toBe(-2);
    expect(sf.checkDst('+349001111')).toBe(-2);
    expect(sf.checkDst('55')).toBe(1);
    expect(sf.checkDst('666')).toBe(1);
  });
  it('#3694 not reproduced: action 2 with type 4 blocks the destination, not the user', () => {
    const warnings: unknown[] = [];
    const sf = new SecFilter();
    sf.setRules(RuleSet.fromRules([{ action: DST, type: T.user, data: '1111' }], warnings as never));
    expect(sf.checkDst('1111')).toBe(-2);
    expect(sf.checkFromHdr('<sip:1111@example.com>')).toBe(1);
    expect(warnings).toHaveLength(1);
  });
  it('rejects action/type out of range like Kamailio', () => {
    expect(() => RuleSet.fromRules([{ action: 3, type: 0, data: 'x' }])).toThrow(/E7001/);
    expect(() => RuleSet.fromRules([{ action: 0, type: 5, data: 'x' }])).toThrow(/E7001/);
  });
  it('keeps rule values within VARCHAR(64): longer rows skipped with a warning, longer RPC values refused', () => {
    const warnings: RuleLoadWarning[] = [];
    const set = RuleSet.fromRules([{ action: BL, type: T.ua, data: 'x'.repeat(100_000) }, { action: BL, type: T.ua, data: 'y'.repeat(64) }], warnings);
    expect(set.blacklist.ua.entries).toEqual(['y'.repeat(64)]);
    expect(warnings.map((w) => w.message)).toEqual([expect.stringMatching(/longer than 64/)]);
    const sf = filter([]);
    // a 100,000-character value would have built a 100,000-level trie (one recursion per character)
    expect(() => sf.addRule('blacklist', 'ua', 'z'.repeat(100_000))).toThrow(/longer than 64 characters \[E7001/);
    sf.addRule('blacklist', 'ua', 'z'.repeat(64));
  });
});

describe('header checks', () => {
  const sf = filter([
    { action: BL, type: T.user, data: 'attacker' },
    { action: WL, type: T.user, data: 'boss' },
    { action: BL, type: T.domain, data: 'evil.com' },
    { action: WL, type: T.domain, data: 'good.org' },
    { action: BL, type: T.user, data: 'Mallory' },
  ]);

  it('parses display names, quoted or not, with escapes', () => {
    expect(parseHeaderParts('"Alice \\"A\\" Smith" <sip:alice:pw@example.com:5070;transport=tcp>;tag=1')).toEqual({
      name: 'Alice "A" Smith',
      user: 'alice',
      host: 'example.com',
    });
    expect(parseHeaderParts('Bob <sips:bob@[2001:db8::1]:5061>')).toEqual({ name: 'Bob', user: 'bob', host: '[2001:db8::1]' });
    expect(parseHeaderParts('sip:carol@example.net;tag=x')).toEqual({ user: 'carol', host: 'example.net' });
    expect(parseHeaderParts('<tel:+123456;phone-context=x>')).toEqual({ user: '+123456' });
    expect(parseHeaderParts('"unterminated <sip:a@b>')).toBeNull();
    expect(parseHeaderParts('<sip:a@b')).toBeNull();
  });

  it('follows Kamailio order: name, user (whitelist then blacklist), then domain', () => {
    expect(sf.checkFromHdr('"Boss" <sip:attacker@evil.com>')).toBe(4); // name whitelisted beats everything
    expect(sf.checkFromHdr('<sip:boss@evil.com>')).toBe(2); // whitelisted user beats blacklisted domain
    expect(sf.checkFromHdr('"Mallory X" <sip:joe@good.org>')).toBe(-4); // name blacklisted before domain whitelist
    expect(sf.checkFromHdr('<sip:attacker99@good.org>')).toBe(-2);
    expect(sf.checkFromHdr('<sip:joe@good.org.uk>')).toBe(3);
    expect(sf.checkFromHdr('"Joe" <sip:joe@EVIL.com>')).toBe(-3);
    expect(sf.checkFromHdr('<sip:joe@example.com>')).toBe(1);
    expect(sf.checkToHdr('"attacker" <sip:x@y>')).toBe(-4);
    expect(sf.checkToHdr(undefined)).toBe(1);
    expect(sf.checkFromHdr('"broken <sip:x@y>')).toBe(-1);
  });

  it('the first rule of the user list decides between a display-name and a user hit (Kamailio tests each rule on both)', () => {
    const s = filter([
      { action: BL, type: T.user, data: '100' },
      { action: BL, type: T.user, data: 'Bad Guy' },
      { action: WL, type: T.user, data: 'Good Name' },
      { action: WL, type: T.user, data: '1001' },
    ]);
    expect(s.checkFromHdr('"Bad Guy" <sip:100@example.com>')).toBe(-2); // rule '100' comes first
    expect(s.checkFromHdr('"Bad Guy" <sip:200@example.com>')).toBe(-4);
    expect(s.checkToHdr('"Good Name" <sip:10012@example.com>')).toBe(4); // rule 'Good Name' comes first
    expect(s.checkToHdr('"Someone" <sip:10012@example.com>')).toBe(2);
    const st = s.stats.toStatistics();
    expect([st['Blacklist-From-User'], st['Blacklist-From-Name'], st['Whitelist-To-Name'], st['Whitelist-To-User']]).toEqual([1, 1, 1, 1]);
  });

  it('quoted and unquoted display names compare the same', () => {
    expect(sf.checkFromHdr('"Mallory" <sip:a@b>')).toBe(-4);
    expect(sf.checkFromHdr('Mallory <sip:a@b>')).toBe(-4);
    expect(sf.checkFromHdr('  "  mallory  " <sip:a@b>')).toBe(-4);
  });

  it('keeps Kamailio: a URI without user gives 1 without checking the domain', () => {
    expect(sf.checkFromHdr('<sip:evil.com>')).toBe(1);
  });

  it('Contact: first URI, no display name', () => {
    expect(sf.checkContactHdr('"boss" <sip:attacker@x.com>')).toBe(-2);
    expect(sf.checkContactHdr('<sip:joe@evil.com>;expires=60')).toBe(-3);
    expect(sf.checkContactHdr('*')).toBe(1);
  });

  it('#4700 not reproduced: a display name equal to the user counts as the user', () => {
    const s = filter([{ action: BL, type: T.user, data: '1111' }]);
    expect(s.checkFromHdr('"1111" <sip:1111@example.com>')).toBe(-2);
    const st = s.stats.toStatistics();
    expect(st['Blacklist-From-User']).toBe(1);
    expect(st['Blacklist-From-Name']).toBe(0);
    // a different display name still hits as a name
    expect(s.checkFromHdr('"1111 calling" <sip:2222@example.com>')).toBe(-4);
  });

  it('granular checks look at one part only', () => {
    expect(sf.checkUsernameFromHdr('"boss" <sip:attacker@good.org>')).toBe(-2);
    expect(sf.checkNameFromHdr('"boss" <sip:attacker@good.org>')).toBe(2);
    expect(sf.checkNameFromHdr('<sip:attacker@good.org>')).toBe(1);
    expect(sf.checkNameContactHdr('"Mallory" <sip:a@b>')).toBe(-2);
    expect(sf.checkUsernameToHdr('<sip:boss@evil.com>')).toBe(2);
    expect(sf.checkDomainFromHdr('<sip:x@evil.com>')).toBe(-2);
    expect(sf.checkDomainFromHdr('<sip:evil.com>')).toBe(-2); // no user needed for the domain
    expect(sf.checkUsernameFromHdr('"x <sip:a@b>')).toBe(-1);
    expect(sf.checkDomainContactHdr(undefined)).toBe(1);
  });

  it('domain-whitelist bug not reproduced: granular domain whitelist uses the domain list', () => {
    // upstream looks the domain up in the user whitelist: a user entry "good.org" would whitelist it,
    // and the real domain whitelist entry would be ignored
    const s = filter([
      { action: WL, type: T.user, data: 'evil.com' },
      { action: BL, type: T.domain, data: 'evil.com' },
      { action: WL, type: T.domain, data: 'good.org' },
    ]);
    expect(s.checkDomainFromHdr('<sip:x@evil.com>')).toBe(-2);
    expect(s.checkDomainToHdr('<sip:x@good.org>')).toBe(2);
    expect(s.stats.toStatistics()['Whitelist-To-Domain']).toBe(1);
  });
});

describe('SQL injection heuristic', () => {
  const sf = new SecFilter();
  it('strict set for secf_check_sqli_hdr', () => {
    for (const bad of ["x'or 1=1", 'a"b', 'a--b', '%27', '%22', 'x%60']) expect(sf.checkSqliHdr(bad)).toBe(-1);
    expect(sf.checkSqliHdr('user#1')).toBe(1);
    expect(sf.checkSqliHdr('normal value')).toBe(1);
  });
  it('sqli_all: relaxed for display names, strict elsewhere; 0 when suspicious', () => {
    const sf = new SecFilter();
    const p = (v: string) => parseHeaderParts(v);
    expect(sf.checkSqliAll({ ua: 'Linphone', from: p(`"O'Brien" <sip:ob@x.com>`), to: p('<sip:b@y>'), contact: p('<sip:ob@1.2.3.4>') })).toBe(1);
    expect(sf.checkSqliAll({ from: p('"a -- b" <sip:ob@x.com>') })).toBe(0);
    expect(sf.checkSqliAll({ from: p(`<sip:x'or@x.com>`) })).toBe(0);
    expect(sf.checkSqliAll({ ua: 'x--' })).toBe(0);
    expect(sf.checkSqliAll({ contact: p('<sip:a@h%60>') })).toBe(0);
    expect((sf.stats.toRpc() as { Other: Record<string, number> }).Other['SQL-Injection']).toBe(4);
  });
});

describe('in-memory edits and reload', () => {
  it('add/remove build new snapshots; the old one is untouched', () => {
    const sf = filter([{ action: BL, type: T.ua, data: 'abc' }]);
    const before = sf.rules;
    sf.addRule('blacklist', 'ua', 'xyz');
    expect(sf.checkUa('xyz1')).toBe(-2);
    expect(before.blacklist.ua.entries).toEqual(['abc']);
    expect(sf.removeRules('blacklist', 'ua', 'a')).toBe(1);
    expect(sf.checkUa('abc')).toBe(1);
    expect(sf.removeRules('blacklist', 'ua', 'nothing')).toBe(0);
  });

  it('reload swaps, rate-limits, and keeps old rules on failure', async () => {
    let now = 100_000;
    let rows: SecfilterRule[] | Error = [{ action: BL, type: T.ua, data: 'v1' }];
    const sf = new SecFilter({
      reloadDelta: 5,
      now: () => now,
      source: { description: 'test', load: async () => (rows instanceof Error ? Promise.reject(rows) : rows) },
    });
    await sf.load();
    expect(sf.checkUa('v1')).toBe(-2);
    rows = [{ action: BL, type: T.ua, data: 'v2' }];
    await sf.reload();
    expect(sf.checkUa('v2')).toBe(-2);
    expect(sf.checkUa('v1')).toBe(1);
    now += 1000;
    await expect(sf.reload()).rejects.toSatisfy((e) => isSiphonError(e, 'SECF_RELOAD_TOO_SOON'));
    now += 5000;
    rows = new Error('database is down');
    await expect(sf.reload()).rejects.toThrow(/database is down.*E7002/);
    expect(sf.checkUa('v2')).toBe(-2); // old rules still active
  });
});

describe('HeaderKind', () => {
  it('is exposed for the adapters', () => {
    expect([HeaderKind.FROM, HeaderKind.TO, HeaderKind.CONTACT]).toEqual([0, 1, 2]);
  });
});
