/**
 * Raw SIP for the pbx-nat-auth tests: requests and responses built per RFC 3261 §8.1 / §8.2.6 on a
 * Phone's UDP socket (test/e2e/pbx-phone.ts), and the digest round trip (RFC 7616 §3.4, qop=auth)
 * answered with test/helpers/digest-client.ts. A request's Via and Contact are what the test says
 * (a phone behind NAT writes its private address), not necessarily the socket it is sent from.
 */
import { digestCredentials } from '../helpers/digest-client.js';
import type { Phone, SipText } from './pbx-phone.js';

export { responseText } from './pbx-phone.js';

let seq = 0;
export const uniq = (): string => `${process.pid}-${Date.now().toString(36)}-${++seq}`;

export interface Req {
  method: string;
  ruri: string;
  from: string;
  fromTag: string;
  to: string;
  toTag?: string;
  callId: string;
  cseq: number;
  /** the Via sent-by (host:port): the phone's own idea of its address. */
  via: string;
  branch?: string;
  contact?: string;
  extra?: string[];
}

export function requestText(r: Req): { text: string; branch: string } {
  const branch = r.branch ?? `z9hG4bK-na-${uniq()}`;
  const lines = [
    `${r.method} ${r.ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${r.via};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <${r.from}>;tag=${r.fromTag}`,
    `To: <${r.to}>${r.toTag ? `;tag=${r.toTag}` : ''}`,
    `Call-ID: ${r.callId}`,
    `CSeq: ${r.cseq} ${r.method}`,
    ...(r.contact ? [`Contact: <${r.contact}>`] : []),
    ...(r.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ];
  return { text: lines.join('\r\n'), branch };
}

/** sends `r`; its branch (for an ACK of a non-2xx or a CANCEL). */
export function send(ua: Phone, r: Req): string {
  const { text, branch } = requestText(r);
  ua.send(text);
  return branch;
}

/** the final response to `r` (matched by Call-ID and CSeq), or null after `ms`. */
export function finalFor(ua: Phone, r: Req, ms = 5000): Promise<SipText | null> {
  return ua.next((m) => m.status >= 200 && m.header('Call-ID') === r.callId && m.header('CSeq') === `${r.cseq} ${r.method}`, ms);
}

/** the tag parameter of a From/To value. */
export const tagOf = (v: string | undefined): string | undefined => /;tag=([^;>\s]+)/.exec(v ?? '')?.[1];

/** the URI inside <...> of a Contact / Record-Route value (or the value itself). */
export const uriOf = (v: string): string => /<([^>]+)>/.exec(v)?.[1] ?? v.split(';')[0]!.trim();

/** the parameters of a WWW-Authenticate / Proxy-Authenticate challenge. */
export function challengeOf(reply: SipText): { header: 'Authorization' | 'Proxy-Authorization'; realm: string; nonce: string; qop: string } {
  const proxy = reply.status === 407;
  const v = reply.header(proxy ? 'Proxy-Authenticate' : 'WWW-Authenticate');
  if (!v) throw new Error(`no challenge in:\n${reply.raw}`);
  const p: Record<string, string> = {};
  for (const m of v.matchAll(/([a-z]+)=("([^"]*)"|[^,\s]+)/g)) p[m[1]!] = m[3] ?? m[2]!;
  return { header: proxy ? 'Proxy-Authorization' : 'Authorization', realm: p.realm!, nonce: p.nonce!, qop: p.qop ?? '' };
}

/**
 * Sends `r` without credentials, expects a 401/407 challenge (ACKs it for an INVITE, RFC 3261 §17.1.1.3)
 * and returns the credentials line answering it for `username`/`password` (nc 1).
 */
export async function challenge(ua: Phone, r: Req, username: string, password: string): Promise<{ line: string; reply: SipText }> {
  const branch = send(ua, r);
  const reply = await finalFor(ua, r);
  if (!reply || (reply.status !== 401 && reply.status !== 407)) throw new Error(`expected a challenge to ${r.method}, got:\n${reply?.raw ?? 'nothing'}`);
  if (r.method === 'INVITE') send(ua, { ...r, method: 'ACK', branch, toTag: tagOf(reply.header('To')), contact: undefined, extra: [] });
  const c = challengeOf(reply);
  const line = digestCredentials(c.nonce, { username, password, realm: c.realm, method: r.method, uri: r.ruri, header: c.header });
  return { line, reply };
}

/** a REGISTER of user@domain from `ua` with the given Via sent-by and Contact, authenticated; the final reply and the credentials used. */
export async function register(
  ua: Phone,
  o: { user: string; domain: string; password: string; via?: string; contact?: string; expires?: number },
): Promise<{ reply: SipText | null; line: string; req: Req }> {
  const aor = `sip:${o.user}@${o.domain}`;
  const base: Req = {
    method: 'REGISTER',
    ruri: `sip:${o.domain}`,
    from: aor,
    fromTag: `r${uniq()}`,
    to: aor,
    callId: `reg-${uniq()}`,
    cseq: 1,
    via: o.via ?? `${ua.address}:${ua.port}`,
    contact: o.contact ?? `sip:${o.user}@${ua.address}:${ua.port}`,
    extra: [`Expires: ${o.expires ?? 300}`],
  };
  const { line } = await challenge(ua, base, o.user, o.password);
  const req: Req = { ...base, cseq: 2, extra: [...base.extra!, line] };
  send(ua, req);
  return { reply: await finalFor(ua, req), line, req };
}
