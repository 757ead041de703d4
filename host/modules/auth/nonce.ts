/**
 * Stateless nonces (RFC 7616 §3.3 leaves the format to the server; Kamailio auth/nonce.c signs an
 * expiry time and a nonce id). Ours, 29 bytes, base64url (39 characters):
 *
 *   0      version (1)
 *   1..4   expiry, Unix seconds (u32)
 *   5..8   origin: a random id of the process that issued it (u32)
 *   9..12  nonce id, a counter of that process (u32)
 *   13..28 HMAC-SHA-256(secret, bytes 0..12), first 16 bytes
 *
 * Any node holding the secret accepts any node's nonce (a cluster on one database shares it). The
 * origin tells a node whether the nonce is its own: its own nonces have a replay slot reserved at
 * issue time (NonceTable), nonces of another node (or of this node before a restart) get one on
 * their first successful use.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Hmac256 } from '../../core/hash.js';

export const NONCE_TEXT_LENGTH = 39;
const NONCE_BYTES = 29;
const SIGNED_BYTES = 13;
const MAC_BYTES = 16;
const VERSION = 1;

export interface NonceFields {
  expiry: number;
  origin: number;
  id: number;
}

/** Nonce check results (before the replay state). */
export const enum NonceStatus {
  OK = 0,
  /** not ours: bad length, bad characters, bad signature (forged or another secret). */
  INVALID = 1,
  /** ours but past its expiry, or from further in the future than the drift allows: stale. */
  EXPIRED = 2,
}

const B64URL = /^[A-Za-z0-9_-]+$/;

export class NonceCodec {
  private readonly hmac: Hmac256;

  constructor(secret: string | Buffer) {
    this.hmac = new Hmac256(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret), SIGNED_BYTES);
  }

  encode(f: NonceFields): string {
    const b = Buffer.allocUnsafe(NONCE_BYTES);
    b[0] = VERSION;
    b.writeUInt32BE(f.expiry >>> 0, 1);
    b.writeUInt32BE(f.origin >>> 0, 5);
    b.writeUInt32BE(f.id >>> 0, 9);
    this.mac(b).copy(b, SIGNED_BYTES, 0, MAC_BYTES);
    return b.toString('base64url');
  }

  /** the fields of a nonce this secret signed, or null (constant-time signature comparison). */
  decode(text: string): NonceFields | null {
    if (text.length !== NONCE_TEXT_LENGTH || !B64URL.test(text)) return null;
    const b = Buffer.from(text, 'base64url');
    if (b.length !== NONCE_BYTES || b[0] !== VERSION) return null;
    const mac = this.mac(b).subarray(0, MAC_BYTES);
    if (!timingSafeEqual(mac, b.subarray(SIGNED_BYTES))) return null;
    return { expiry: b.readUInt32BE(1), origin: b.readUInt32BE(5), id: b.readUInt32BE(9) };
  }

  private mac(b: Buffer): Buffer {
    return this.hmac.mac(b.subarray(0, SIGNED_BYTES));
  }
}

/** Replay-state check results. */
export const enum ReplayStatus {
  OK = 0,
  /** nc not above the highest accepted one, or the nonce's slot was reused: stale (Kamailio NC_REPLAY / NC_ID_OVERFLOW). */
  STALE = 1,
  /** one_time_nonce: already used (Kamailio OTN_REPLAY / OTN_ID_OVERFLOW). */
  REUSED = 2,
  /**
   * the nc (or one-time use) of a request accepted before, but this is that very request again, byte
   * for byte, within the retransmission window: a UDP retransmission (RFC 3261 §17.2.3), not a replay.
   */
  RETRANSMISSION = 3,
}

/**
 * What identifies an accepted request for the retransmission check: 64 bits of SHA-256 over its
 * bytes (a retransmission is byte-identical; a second preimage costs 2^64), and its arrival time.
 */
export interface RequestPrint {
  hi: number;
  lo: number;
}

const USED = 1;
/** printHi/printLo/acceptedAt hold the accepted request. */
const PRINTED = 2;

/**
 * The per-node nc / one-time state of nonces: `size` slots (a power of 2) in typed arrays, no
 * allocation per request, O(1) per check. An own nonce takes slot `id & mask` when issued, so the
 * table forgets the oldest issued nonces first (a forgotten own nonce is stale: the UA is
 * re-challenged, as Kamailio does when its nc array wraps). A foreign nonce (another node's, or
 * ours from before a restart) takes a slot by hash on its first accepted use; when a newer nonce
 * overwrites that slot, the foreign nonce would be treated as new again (README "Cluster").
 */
export class NonceTable {
  readonly size: number;
  readonly origin: number;
  private readonly mask: number;
  private nextId: number;
  private readonly origins: Uint32Array;
  private readonly ids: Uint32Array;
  private readonly expiries: Uint32Array;
  private readonly ncs: Uint32Array;
  private readonly flags: Uint8Array;
  private readonly live: Uint8Array;
  /** the accepted request's print and time (s), for the retransmission check. */
  private readonly printHi: Uint32Array;
  private readonly printLo: Uint32Array;
  private readonly acceptedAt: Uint32Array;
  /** slots overwritten while their nonce had not expired yet. */
  evicted = 0;

  constructor(size: number, origin = randomBytes(4).readUInt32BE(0), firstId = randomBytes(4).readUInt32BE(0)) {
    this.size = size;
    this.mask = size - 1;
    this.origin = origin >>> 0;
    this.nextId = firstId >>> 0;
    this.origins = new Uint32Array(size);
    this.ids = new Uint32Array(size);
    this.expiries = new Uint32Array(size);
    this.ncs = new Uint32Array(size);
    this.flags = new Uint8Array(size);
    this.live = new Uint8Array(size);
    this.printHi = new Uint32Array(size);
    this.printLo = new Uint32Array(size);
    this.acceptedAt = new Uint32Array(size);
  }

  /** a new own nonce id, its slot reserved. */
  issue(expiry: number, nowSec: number): number {
    const id = this.nextId;
    this.nextId = (id + 1) >>> 0;
    this.claim(id & this.mask, this.origin, id, expiry, nowSec);
    return id;
  }

  /**
   * Whether nonce (origin, id) may be used with `nc` (null: no nc in the response). Changes
   * nothing; `commit` records an accepted use. A use the table refuses is still accepted as a
   * RETRANSMISSION when `print()` gives the print of the request accepted with that same nc (or
   * one-time use) no more than `window` seconds ago (0 = never).
   */
  check(f: NonceFields, nc: number | null, useNc: boolean, useOtn: boolean, print?: () => RequestPrint, nowSec = 0, window = 0): ReplayStatus {
    const s = this.find(f);
    const ncPath = useNc && nc !== null;
    if (s < 0) {
      // our own nonce whose slot a newer nonce took: Kamailio NC_ID_OVERFLOW (stale) / OTN_ID_OVERFLOW (reused)
      if (f.origin === this.origin) return ncPath ? ReplayStatus.STALE : useOtn ? ReplayStatus.REUSED : ReplayStatus.OK;
      return ReplayStatus.OK; // a foreign nonce seen for the first time
    }
    let refused = ReplayStatus.OK;
    if (ncPath) {
      if (nc > this.ncs[s]!) return ReplayStatus.OK;
      refused = ReplayStatus.STALE;
      if (nc !== this.ncs[s]) return refused;
    } else if (useOtn && (this.flags[s]! & USED) !== 0) refused = ReplayStatus.REUSED;
    else return ReplayStatus.OK;
    if (window > 0 && print !== undefined && (this.flags[s]! & PRINTED) !== 0 && nowSec - this.acceptedAt[s]! <= window) {
      const p = print();
      if (p.hi === this.printHi[s] && p.lo === this.printLo[s]) return ReplayStatus.RETRANSMISSION;
    }
    return refused;
  }

  /** records an accepted use (after the response matched); `print` for the retransmission check. */
  commit(f: NonceFields, nc: number | null, useNc: boolean, nowSec: number, print?: RequestPrint): void {
    let s = this.find(f);
    if (s < 0) {
      if (f.origin === this.origin) return; // forgotten meanwhile; nothing to record
      s = this.foreignSlot(f);
      this.claim(s, f.origin, f.id, f.expiry, nowSec);
    }
    if (useNc && nc !== null) {
      // uses checked apart and recorded later (worker shards, README "Shards") may arrive out of
      // order: the highest nc stays, an older one changes nothing
      if (nc < this.ncs[s]!) return;
      this.ncs[s] = nc;
    } else this.flags[s] = this.flags[s]! | USED;
    if (print !== undefined) {
      this.printHi[s] = print.hi;
      this.printLo[s] = print.lo;
      this.acceptedAt[s] = nowSec;
      this.flags[s] = this.flags[s]! | PRINTED;
    } else this.flags[s] = this.flags[s]! & ~PRINTED;
  }

  private find(f: NonceFields): number {
    const s = f.origin === this.origin ? f.id & this.mask : this.foreignSlot(f);
    return this.live[s] === 1 && this.ids[s] === f.id && this.origins[s] === f.origin ? s : -1;
  }

  private foreignSlot(f: NonceFields): number {
    // a multiplicative mix so one foreign node's consecutive ids spread like our own
    return (Math.imul(f.origin ^ 0x9e3779b9, 0x85ebca6b) + f.id) & this.mask;
  }

  private claim(s: number, origin: number, id: number, expiry: number, nowSec: number): void {
    if (this.live[s] === 1 && this.expiries[s]! >= nowSec) this.evicted++;
    this.live[s] = 1;
    this.origins[s] = origin;
    this.ids[s] = id;
    this.expiries[s] = expiry;
    this.ncs[s] = 0;
    this.flags[s] = 0;
  }
}
