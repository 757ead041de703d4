/**
 * Requests for the auth/auth_db oracle: a method, a From user and optionally credentials. Each
 * server challenges with its own nonce, so the credentials are computed per side from that side's
 * challenge (test/helpers/digest-client.ts, node:crypto, independent of both servers), and a
 * request's bytes depend on the side. Every request has its own Call-ID and branch.
 */
import { createHash } from 'node:crypto';
import { digestCredentials } from '../helpers/digest-client.js';
import type { Side } from './harness/index.js';

export const DOMAIN = 'example.org';

export interface Creds {
  username: string;
  password: string;
  realm?: string;
  /** the nonce to answer; a function of the side (its own challenge) or a fixed string. */
  nonce: (side: Side) => string;
  nc?: number;
  alg?: 'MD5' | 'SHA-256';
  /** the other header than the method wants (Authorization on INVITE, Proxy-Authorization on REGISTER). */
  swapHeader?: boolean;
  /** RFC 2069 style: no qop, no nc, no cnonce. */
  noQop?: boolean;
}

let seq = 0;

/** RFC 2069 response (no qop): MD5(HA1:nonce:HA2). */
function noQopLine(header: string, nonce: string, c: Creds, method: string, uri: string, realm: string): string {
  const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
  const response = md5(`${md5(`${c.username}:${realm}:${c.password}`)}:${nonce}:${md5(`${method}:${uri}`)}`);
  return `${header}: Digest username="${c.username}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5`;
}

export function request(method: string, from: string, creds?: Creds, o: { to?: string } = {}): (side: Side) => string {
  const id = `oracle-auth-${process.pid}-${++seq}`;
  const to = o.to ?? (method === 'REGISTER' ? from : 'bob');
  const ruri = method === 'REGISTER' ? `sip:${DOMAIN}` : `sip:${to}@${DOMAIN}`;
  return (side) => {
    const lines = [
      `${method} ${ruri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${side.client.address}:${side.client.port};branch=z9hG4bK-${id}`,
      'Max-Forwards: 70',
      `From: <sip:${from}@${DOMAIN}>;tag=f-${id}`,
      `To: <sip:${to}@${DOMAIN}>`,
      `Call-ID: ${id}`,
      `CSeq: ${seq} ${method}`,
      `Contact: <sip:${from}@${side.client.address}:${side.client.port}>`,
    ];
    if (method === 'SUBSCRIBE') lines.push('Event: presence');
    if (creds) {
      const www = method === 'REGISTER' ? !creds.swapHeader : !!creds.swapHeader;
      const header = www ? 'Authorization' : 'Proxy-Authorization';
      const realm = creds.realm ?? DOMAIN;
      const nonce = creds.nonce(side);
      lines.push(
        creds.noQop
          ? noQopLine(header, nonce, creds, method, ruri, realm)
          : digestCredentials(nonce, { username: creds.username, password: creds.password, realm, method, uri: ruri, header, nc: creds.nc ?? 1, ...(creds.alg ? { alg: creds.alg } : {}) }),
      );
    }
    lines.push('Content-Length: 0', '', '');
    return lines.join('\r\n');
  };
}
