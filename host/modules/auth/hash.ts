/**
 * The digest computations of RFC 7616 §3.4.1-§3.4.3 (RFC 2617 §3.2.2 for MD5, RFC 8760 for SIP):
 *
 *   HA1      = H(username ":" realm ":" password)         (or the stored HA1)
 *   HA1-sess = H(HA1 ":" nonce ":" cnonce)                  (*-sess algorithms)
 *   HA2      = H(method ":" digest-uri)                     (qop auth or none)
 *            = H(method ":" digest-uri ":" H(entity-body))  (qop auth-int)
 *   response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)   (with qop)
 *            = H(HA1 ":" nonce ":" HA2)                             (RFC 2069, no qop)
 *
 * Hex is lower-case. Strings are hashed as UTF-8.
 */
import { hashHex } from '../../core/hash.js';
import type { DigestAlgorithm } from '../../sip/digest.js';

export type HashName = 'md5' | 'sha256';

export function hashOf(alg: DigestAlgorithm): HashName {
  return alg === 'MD5' || alg === 'MD5-sess' ? 'md5' : 'sha256';
}

export function isSess(alg: DigestAlgorithm): boolean {
  return alg === 'MD5-sess' || alg === 'SHA-256-sess';
}

/** hex length of a hash: 32 (MD5), 64 (SHA-256). */
export function hexLength(h: HashName): number {
  return h === 'md5' ? 32 : 64;
}

export function h(name: HashName, data: string | Buffer): string {
  return hashHex(name, data);
}

export interface ResponseInput {
  algorithm: DigestAlgorithm;
  /** H(username:realm:password), lower-case hex, of the algorithm's hash. */
  ha1: string;
  nonce: string;
  cnonce: string | null;
  nc: string | null;
  /** 'auth', 'auth-int' or null. */
  qop: string | null;
  method: string;
  uri: string;
  /** the message body, for auth-int. */
  body?: Buffer;
}

/** the response a client holding `ha1` sends; null when a needed field is missing. */
export function digestResponse(r: ResponseInput): string | null {
  const name = hashOf(r.algorithm);
  let ha1 = r.ha1.toLowerCase();
  if (isSess(r.algorithm)) {
    if (r.cnonce === null) return null;
    ha1 = h(name, `${ha1}:${r.nonce}:${r.cnonce}`);
  }
  let a2 = `${r.method}:${r.uri}`;
  if (r.qop === 'auth-int') a2 += ':' + h(name, r.body ?? Buffer.alloc(0));
  const ha2 = h(name, a2);
  if (r.qop === null) return h(name, `${ha1}:${r.nonce}:${ha2}`);
  if (r.nc === null || r.cnonce === null) return null;
  return h(name, `${ha1}:${r.nonce}:${r.nc}:${r.cnonce}:${r.qop}:${ha2}`);
}

/** HA1 from a password. */
export function ha1Of(alg: DigestAlgorithm, username: string, realm: string, password: string): string {
  return h(hashOf(alg), `${username}:${realm}:${password}`);
}
