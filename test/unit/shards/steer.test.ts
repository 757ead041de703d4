import { describe, expect, it } from 'vitest';
import { fnv1a, shardOf, shardOfCallId } from '../../../host/shards/steer.js';

const b = (s: string): Buffer => Buffer.from(s.replace(/\n/g, '\r\n'));

describe('shardOf (host/shards/steer.ts): Call-ID steering', () => {
  const invite = (callIdLine: string): Buffer =>
    b(`INVITE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\nFrom: <sip:a@x>;tag=1\nTo: <sip:bob@example.com>\n${callIdLine}\nCSeq: 1 INVITE\nContent-Length: 0\n\n`);

  it('hashes the Call-ID value whatever the header spelling, whitespace and message kind', () => {
    const want = fnv1a(Buffer.from('abc123@host'), 0, 11) % 7;
    for (const line of ['Call-ID: abc123@host', 'call-id:abc123@host', 'CALL-ID  :  abc123@host  ', 'i: abc123@host', 'I:abc123@host\t']) {
      expect(shardOf(invite(line), 7), line).toBe(want);
    }
    const response = b('SIP/2.0 200 OK\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\nCall-ID: abc123@host\nCSeq: 1 INVITE\n\n');
    expect(shardOf(response, 7)).toBe(want);
  });

  it('does not take look-alike headers or the body for the Call-ID', () => {
    const msg = b('MESSAGE sip:b@x SIP/2.0\nCall-Info: <http://x>\nIn-Reply-To: zzz\nContent-Length: 12\n\nCall-ID: zzz');
    expect(shardOf(msg, 5)).toBe(0);
    const withId = b('MESSAGE sip:b@x SIP/2.0\nCall-Info: <http://x>\nCall-ID: q\n\n');
    expect(shardOf(withId, 5)).toBe(fnv1a(Buffer.from('q'), 0, 1) % 5);
  });

  it('sends messages without a usable Call-ID to shard 0, and everything to 0 with one shard', () => {
    expect(shardOf(b('garbage'), 4)).toBe(0);
    expect(shardOf(b('INVITE sip:x SIP/2.0\nCall-ID:   \n\n'), 4)).toBe(0);
    expect(shardOf(Buffer.alloc(0), 4)).toBe(0);
    expect(shardOf(invite('Call-ID: abc'), 1)).toBe(0);
  });

  it('shardOfCallId agrees with shardOf on a message carrying that Call-ID (locally originated requests steer back)', () => {
    for (let i = 0; i < 50; i++) expect(shardOfCallId(`${i}-x@127.0.0.1`, 3)).toBe(shardOf(invite(`Call-ID: ${i}-x@127.0.0.1`), 3));
    expect(shardOfCallId('anything', 1)).toBe(0);
  });

  it('spreads distinct Call-IDs evenly', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[shardOf(invite(`Call-ID: ${i}-1@127.0.0.1`), 4)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });
});
