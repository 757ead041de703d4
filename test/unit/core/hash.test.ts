import { createHash, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Hmac256, hashBytes, hashHex } from '../../../host/core/hash.js';

describe('one-shot hashes', () => {
  it('hashHex and hashBytes equal createHash for strings (UTF-8) and buffers', () => {
    for (const data of ['', 'u000123:bench.test:pw-000123-x', 'é€😀', randomBytes(300)]) {
      for (const alg of ['md5', 'sha256'] as const) {
        expect(hashHex(alg, data)).toBe(createHash(alg).update(data).digest('hex'));
        expect(hashBytes(alg, data).equals(createHash(alg).update(data).digest())).toBe(true);
      }
    }
  });
});

describe('Hmac256', () => {
  it('equals createHmac for keys shorter than, equal to and longer than the 64-byte block', () => {
    for (const keyLen of [0, 1, 16, 32, 63, 64, 65, 200]) {
      const key = randomBytes(keyLen);
      const h = new Hmac256(key, 13);
      for (let i = 0; i < 20; i++) {
        const m = randomBytes(13);
        expect(h.mac(m).equals(createHmac('sha256', key).update(m).digest())).toBe(true);
      }
    }
  });

  it('RFC 4231 test case 2 (key "Jefe"), message length fixed at construction', () => {
    const h = new Hmac256(Buffer.from('Jefe'), 28);
    expect(h.mac(Buffer.from('what do ya want for nothing?')).toString('hex')).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    expect(() => h.mac(Buffer.alloc(27))).toThrow(RangeError);
  });

  it('a MAC does not depend on the previous one (the reused blocks are overwritten)', () => {
    const key = randomBytes(32);
    const h = new Hmac256(key, 13);
    const a = randomBytes(13);
    const first = Buffer.from(h.mac(a));
    h.mac(randomBytes(13));
    expect(h.mac(a).equals(first)).toBe(true);
  });
});
