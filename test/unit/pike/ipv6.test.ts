/**
 * IPv6 sources counted per prefix (modules.pike.ipv6_prefix, default /64): one host rotating through
 * the addresses of its /64 is one source; another /64 is another source; IPv4-mapped addresses are
 * counted as the IPv4 address.
 */
import { describe, expect, it } from 'vitest';
import { ipv6PrefixKey } from '../../../host/modules/pike/ipv6.js';
import { Pike } from '../../../host/modules/pike/pike.js';
import { resolvePikeConfig } from '../../../host/modules/pike/config.js';
import { pikeRpcMethods } from '../../../host/modules/pike/rpc.js';

describe('ipv6PrefixKey', () => {
  it.each([
    ['2001:db8:1:2:3:4:5:6', 4, '2001:db8:1:2::/64'],
    ['2001:db8:1:2::6', 4, '2001:db8:1:2::/64'],
    ['2001:db8::1', 4, '2001:db8:0:0::/64'],
    ['2001:db8::2:3:4:5:6', 4, '2001:db8:0:2::/64'],
    ['::1', 4, '0:0:0:0::/64'],
    ['fe80::1', 1, 'fe80::/16'],
    ['2001:0db8:0001:0002::1', 4, '2001:db8:1:2::/64'],
    ['2001:db8:1:2:3:4:5:6', 7, '2001:db8:1:2:3:4:5::/112'],
    ['64:ff9b::192.0.2.1', 6, '64:ff9b:0:0:0:0::/96'], // the IPv4 tail counts as two groups
  ])('%s, %i groups → %s', (addr, groups, key) => {
    expect(ipv6PrefixKey(addr, groups)).toBe(key);
  });
});

describe('pike per IPv6 prefix', () => {
  const make = (over: Record<string, unknown> = {}) => new Pike(resolvePikeConfig({ reqs_density_per_unit: 10, ...over }), { now: () => 1000 });

  it('a host rotating addresses inside its /64 is blocked as one source; another /64 is not', () => {
    const pike = make();
    const v = Array.from({ length: 12 }, (_, i) => pike.check(`2001:db8:1:2::${(i + 1).toString(16)}`));
    expect(v.slice(0, 9).every((x) => x === 1)).toBe(true);
    expect(v[9]).toBe(-2);
    expect(v[10]).toBe(-1);
    expect(pike.check('2001:db8:1:3::1')).toBe(1);
    expect(pike.sources(true).map((s) => s.address)).toEqual(['2001:db8:1:2::/64']);
  });

  it('ipv6_prefix 128 counts per address (Kamailio)', () => {
    const pike = make({ ipv6_prefix: 128 });
    for (let i = 0; i < 50; i++) expect(pike.check(`2001:db8:1:2::${(i + 1).toString(16)}`)).toBe(1);
    expect(pike.state.size).toBe(50);
  });

  it('IPv4-mapped addresses count as their IPv4 address', () => {
    const pike = make();
    for (let i = 0; i < 5; i++) pike.check('::ffff:192.0.2.9');
    for (let i = 0; i < 5; i++) pike.check('192.0.2.9');
    expect(pike.sources(false)).toMatchObject([{ address: '192.0.2.9', hitsCurr: 10, blocked: true }]);
  });

  it('pike.unblock takes the prefix as pike.list shows it, or any address inside it', async () => {
    const pike = make();
    const unblock = pikeRpcMethods(pike).find((m) => m.name === 'pike.unblock')!;
    for (let i = 0; i < 10; i++) pike.check('2001:db8:1:2::1');
    expect(await unblock.handler(['2001:db8:1:2::/64'])).toBe('Unblocked 2001:db8:1:2::/64');
    for (let i = 0; i < 10; i++) pike.check('2001:db8:1:2::1');
    expect(await unblock.handler(['2001:db8:1:2::beef'])).toBe('Unblocked 2001:db8:1:2::beef');
  });
});
