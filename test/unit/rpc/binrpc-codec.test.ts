import { describe, expect, it } from 'vitest';
import {
  BinrpcType,
  BinrpcWriter,
  decodeBody,
  MAX_NESTING,
  decodePacket,
  parseHeader,
  resultRecords,
} from '../../../host/rpc/binrpc-codec.js';
import { isSiphonError } from '../../../host/errors/registry.js';
import type { RpcValue } from '../../../host/rpc/types.js';

const w = new BinrpcWriter(16); // small on purpose: the scratch buffer must grow

function roundTrip(values: RpcValue[]): RpcValue[] {
  const pkt = decodePacket(w.reply(0x1234, values));
  expect(pkt).not.toBeNull();
  expect(pkt!.header.type).toBe(BinrpcType.REPLY);
  expect(pkt!.header.cookie).toBe(0x1234);
  return pkt!.values;
}

describe('BINRPC codec', () => {
  it('encodes the reference reply of dispatcher.hash byte for byte', () => {
    // reference kamailio.md §3.2: a1 11 16 12 34 | 03 75 "hashid\0" 40 55f7ab46 55 "slot\0" 00 83
    const bytes = w.reply(0x1234, [{ hashid: 0x55f7ab46, slot: 0 }]);
    const expected = Buffer.concat([
      Buffer.from([0xa1, 0x11, 0x16, 0x12, 0x34, 0x03, 0x75]),
      Buffer.from('hashid\0'),
      Buffer.from([0x40, 0x55, 0xf7, 0xab, 0x46, 0x55]),
      Buffer.from('slot\0'),
      Buffer.from([0x00, 0x83]),
    ]);
    expect(bytes.equals(expected)).toBe(true);
    expect(decodePacket(bytes)!.values).toEqual([{ hashid: 0x55f7ab46, slot: 0 }]);
  });

  it('round-trips ints of every width, including negatives and int32 limits', () => {
    const ints = [0, 1, 127, 255, 256, 65535, 65536, 0xffffff, 0x1000000, 0x7fffffff, -1, -128, -0x80000000];
    expect(roundTrip(ints)).toEqual(ints);
  });

  it('sends numbers outside int32 and fractions as fixed-point doubles', () => {
    expect(roundTrip([0.25, -3.5, 5_000_000_000, -7_000_000_000.125])).toEqual([0.25, -3.5, 5_000_000_000, -7_000_000_000.125]);
  });

  it('round-trips strings: empty, short, 7/8-byte boundary, unicode, long', () => {
    const long = 'x'.repeat(70_000);
    const values = ['', 'a', 'abcdef', 'abcdefg', 'héllo wörld', long];
    expect(roundTrip(values)).toEqual(values);
  });

  it('maps booleans to ints and null to ctl\'s "<null string>"', () => {
    expect(roundTrip([true, false, null])).toEqual([1, 0, '<null string>']);
  });

  it('round-trips nested structs and arrays', () => {
    const v: RpcValue = {
      name: 'set',
      inner: { a: 1, deeper: { b: 'c' } },
      list: [1, 'two', { three: 3 }, [4, 5]],
    };
    expect(roundTrip([v])).toEqual([v]);
    expect(roundTrip([[1, [2, 3], { k: 'v' }]])).toEqual([[1, [2, 3], { k: 'v' }]]);
  });

  it('encodes arrays inside structs as structs of unnamed values (as ctl does for kamcmd)', () => {
    const bytes = w.reply(1, [{ l: ['a'] }]);
    // 03 | 25 "l\0" | 03 (struct, not array 04) | 21 "a\0" | 83 | 83
    expect([...bytes.subarray(4)]).toEqual([0x03, 0x25, 0x6c, 0x00, 0x03, 0x21, 0x61, 0x00, 0x83, 0x83]);
  });

  it('sends an array result as several top-level records', () => {
    expect(resultRecords(['a', 'b'])).toEqual(['a', 'b']);
    expect(resultRecords({ a: 1 })).toEqual([{ a: 1 }]);
    expect(resultRecords('x')).toEqual(['x']);
  });

  it('builds faults as int code + string', () => {
    const pkt = decodePacket(w.fault(0xdeadbeef, 500, 'command x not found'))!;
    expect(pkt.header.type).toBe(BinrpcType.FAULT);
    expect(pkt.header.cookie).toBe(0xdeadbeef);
    expect(pkt.values).toEqual([500, 'command x not found']);
  });

  it('builds requests as method + params', () => {
    const pkt = decodePacket(w.request(7, 'dispatcher.list', [3, 's', 1.5]))!;
    expect(pkt.header.type).toBe(BinrpcType.REQUEST);
    expect(pkt.values).toEqual(['dispatcher.list', 3, 's', 1.5]);
  });

  it('handles big bodies with multi-byte length fields', () => {
    const many = Array.from({ length: 5000 }, (_, i) => ({ i, s: `value-${i}` }));
    const bytes = w.reply(99, many);
    expect(bytes.length).toBeGreaterThan(65536);
    expect((bytes[1]! >> 2) & 3).toBe(2); // 3-byte length
    expect(roundTrip(many)).toEqual(many);
  });

  it('returns null until a whole packet is there, and frames back-to-back packets', () => {
    const a = w.reply(1, ['first']);
    const b = w.reply(2, [{ x: 1 }]);
    const both = Buffer.concat([a, b]);
    for (let n = 0; n < a.length; n++) expect(decodePacket(both.subarray(0, n))).toBeNull();
    const first = decodePacket(both)!;
    expect(first.values).toEqual(['first']);
    const second = decodePacket(both, first.length)!;
    expect(second.header.cookie).toBe(2);
    expect(second.values).toEqual([{ x: 1 }]);
  });

  it('rejects bad magic and malformed bodies with RPC_PROTOCOL', () => {
    expect(() => parseHeader(Buffer.from([0xb1, 0x00, 0x00, 0x00]))).toThrow();
    let err: unknown;
    try {
      parseHeader(Buffer.from([0xa1, 0x20, 0, 0])); // packet type 2 does not exist
    } catch (e) {
      err = e;
    }
    expect(isSiphonError(err, 'RPC_PROTOCOL')).toBe(true);
    expect(() => decodeBody(Buffer.from([0x83]))).toThrow(/unbalanced/);
    expect(() => decodeBody(Buffer.from([0x51, 0x61]))).toThrow(/truncated/);
    expect(() => decodeBody(Buffer.from([0x25, 0x61, 0x00, 0x00]))).toThrow(/outside a struct/);
  });

  it('refuses nesting deeper than MAX_NESTING with RPC_PROTOCOL, without recursing per byte', () => {
    // 0x04 opens an array, 0x84 closes one
    const nested = (depth: number) => Buffer.concat([Buffer.alloc(depth, 0x04), Buffer.alloc(depth, 0x84)]);
    expect(decodeBody(nested(MAX_NESTING))).toHaveLength(1);
    let err: unknown;
    try {
      decodeBody(nested(100_000)); // a body of "open array" bytes: no stack overflow, a clear error
    } catch (e) {
      err = e;
    }
    expect(isSiphonError(err, 'RPC_PROTOCOL')).toBe(true);
    expect(String(err)).toMatch(/nesting deeper than 32/);
  });

  it('decodes records written by Kamailio in forms siphon does not emit (bytes, S-flag ints)', () => {
    // 0x36 = 3-byte BYTES "abc"; 0x90 01 02 = int with a 1-byte external length field of 1 -> value 2
    expect(decodeBody(Buffer.from([0x36, 0x61, 0x62, 0x63, 0x90, 0x01, 0x02]))).toEqual(['abc', 2]);
  });
});
