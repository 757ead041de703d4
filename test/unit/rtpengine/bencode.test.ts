/**
 * bencode (host/modules/rtpengine/bencode.ts): round trips of what the ng protocol carries, and the
 * decoder's bounds against hostile input (depth, value count, lengths past the end, integers,
 * prototype keys), each refused with a BencodeError in one pass.
 */
import { describe, expect, it } from 'vitest';
import { bdecode, bencode, BencodeError, MAX_DEPTH, MAX_ITEMS } from '../../../host/modules/rtpengine/bencode.js';

const dec = (s: string | Buffer): unknown => bdecode(typeof s === 'string' ? Buffer.from(s, 'latin1') : s);

describe('bencode', () => {
  it('encodes an ng offer with sorted keys, UTF-8 byte lengths, lists and integers', () => {
    const b = bencode({ sdp: 'v=0\r\n', command: 'offer', flags: ['trust-address'], n: -3, 'from-tag': 'é' });
    expect(b.toString('utf8')).toBe('d7:command5:offer5:flagsl13:trust-addresse8:from-tag2:é1:ni-3e3:sdp5:v=0\r\ne');
  });

  it('decodes what it encodes', () => {
    const v = { result: 'ok', sdp: 'v=0\r\nc=IN IP4 127.0.0.1\r\n', list: [1, 'two', { three: [] }], empty: '' };
    expect(dec(bencode(v))).toEqual(v);
  });

  it('decodes rtpengine answers', () => {
    expect(dec('d6:result4:ponge')).toEqual({ result: 'pong' });
    expect(dec('d12:error-reason15:Unknown call-id6:result5:errore')).toEqual({ result: 'error', 'error-reason': 'Unknown call-id' });
  });

  it.each([
    ['', 'truncated'],
    ['d', 'truncated'],
    ['5:abc', 'string past the end'],
    ['i12', 'truncated number'],
    ['ie', 'empty number'],
    ['i012e', 'leading zero'],
    ['i1234567890123456e', 'number too long'],
    ['i1xe', 'bad digit'],
    ['di1ei2ee', 'dictionary key must be a string'],
    ['d1:ae', 'dictionary key without value'],
    ['e', 'unexpected end'],
    ['x', 'unexpected byte'],
    ['i1ei2e', 'trailing bytes'],
  ])('refuses %j (%s)', (input, why) => {
    expect(() => dec(input)).toThrow(BencodeError);
    expect(() => dec(input)).toThrow(why);
  });

  it(`refuses nesting deeper than ${MAX_DEPTH} (no recursion: 1 MB of "l" is one pass)`, () => {
    expect(dec('l'.repeat(MAX_DEPTH) + 'e'.repeat(MAX_DEPTH))).toBeDefined();
    expect(() => dec('l'.repeat(MAX_DEPTH + 1) + 'e'.repeat(MAX_DEPTH + 1))).toThrow('nested too deep');
    expect(() => dec('l'.repeat(1 << 20))).toThrow('nested too deep');
  });

  it(`refuses more than ${MAX_ITEMS} values`, () => {
    expect(() => dec('l' + 'i1e'.repeat(MAX_ITEMS + 1) + 'e')).toThrow('too many values');
  });

  it('keeps __proto__ as a plain key (no prototype pollution)', () => {
    const v = dec('d9:__proto__d1:xi1eee') as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
    expect(Object.getPrototypeOf(v)).toBeNull();
  });
});
