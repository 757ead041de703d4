/**
 * One-shot hashes for the message path. Node >= 20.12 has crypto.hash(), which hashes a small input
 * without a Hash object per call (about 2x faster than createHash().update().digest() for the
 * 30-200-byte inputs of digest authentication, branch ids and request prints); older Node falls
 * back to createHash. Hmac256 is HMAC-SHA-256 (RFC 2104) over a fixed key with the padded key
 * blocks computed once: two one-shot SHA-256 per MAC instead of a KeyObject import and an Hmac
 * object per call.
 */
import * as crypto from 'node:crypto';

export type HashAlgorithm = 'md5' | 'sha256';

const oneShot = (crypto as Partial<typeof crypto>).hash;

/** lower-case hex digest of `data` (strings hashed as UTF-8). */
export const hashHex: (alg: HashAlgorithm, data: string | Buffer) => string = typeof oneShot === 'function'
  ? (alg, data) => oneShot(alg, data, 'hex')
  : (alg, data) => crypto.createHash(alg).update(data).digest('hex');

/** the raw digest of `data`. */
export const hashBytes: (alg: HashAlgorithm, data: string | Buffer) => Buffer = typeof oneShot === 'function'
  ? (alg, data) => oneShot(alg, data, 'buffer')
  : (alg, data) => crypto.createHash(alg).update(data).digest();

const BLOCK = 64; // SHA-256 block size (RFC 2104 §2: B)
const SHA256_BYTES = 32;

/**
 * HMAC-SHA-256 with a fixed key, for messages of one fixed length `messageBytes` (the nonce's signed
 * part): the inner and outer blocks are preallocated and reused, so a MAC allocates only its result.
 */
export class Hmac256 {
  private readonly inner: Buffer;
  private readonly outer: Buffer;

  constructor(key: Buffer, readonly messageBytes: number) {
    // RFC 2104 §2: a key longer than the block is hashed first, a shorter one is zero-padded
    const k = key.length > BLOCK ? hashBytes('sha256', key) : key;
    this.inner = Buffer.alloc(BLOCK + messageBytes, 0x36);
    this.outer = Buffer.alloc(BLOCK + SHA256_BYTES, 0x5c);
    for (let i = 0; i < k.length; i++) {
      this.inner[i] = this.inner[i]! ^ k[i]!;
      this.outer[i] = this.outer[i]! ^ k[i]!;
    }
  }

  /** HMAC-SHA-256(key, message); `message` must be `messageBytes` long. */
  mac(message: Buffer): Buffer {
    if (message.length !== this.messageBytes) throw new RangeError(`Hmac256: message of ${message.length} bytes, expected ${this.messageBytes}`);
    message.copy(this.inner, BLOCK);
    hashBytes('sha256', this.inner).copy(this.outer, BLOCK);
    return hashBytes('sha256', this.outer);
  }
}
