/**
 * Generated REGISTER scenarios for the registrar/usrloc oracle. Each scenario is one user (AOR) going
 * through the usual life of its bindings, step by step (RFC 3261 §10.2/§10.3): an unknown user looked
 * up, a first contact, a query, a refresh, more UAs with q values, lookups that fork, max_contacts,
 * removal by expires=0, min/max/default expires, unreadable Expires and q, Contact: * with and without
 * Expires: 0, out-of-order CSeq, several contacts in one REGISTER. Every scenario runs in several
 * forms (display name or not, expires as the header or the Contact parameter, compact `m:`, the To
 * user in capitals), each with its own user, so the cases do not share bindings. Contacts point at
 * the side's next hop (`127.0.0.1:<sink port>`, `<next-hop>` once normalised), so a lookup relays there.
 */
import type { Side } from './harness/index.js';

export interface Form {
  display: boolean;
  /** expires of a contact as the Expires header or the Contact parameter. */
  expiresAs: 'header' | 'param';
  compact: boolean;
  upperTo: boolean;
}

export const FORMS: Form[] = [];
for (const display of [false, true]) for (const expiresAs of ['header', 'param'] as const) for (const compact of [false, true]) for (const upperTo of [false, true]) FORMS.push({ display, expiresAs, compact, upperTo });

export const formName = (f: Form): string => [f.display ? 'display' : 'plain', `expires-${f.expiresAs}`, f.compact ? 'm:' : 'Contact:', f.upperTo ? 'To upper' : 'To lower'].join(', ');

export interface Register {
  user: string;
  callId: string;
  cseq: number;
  /** contact URIs ('HOP' = the side's next hop) with their parameters, or '*'; [] = a query. */
  contacts: Array<{ uri: string; params?: string; expires?: string }>;
  /** the Expires header value, if any. */
  expires?: string;
  /** all contacts in one header field (comma-separated) instead of one field each. */
  oneField?: boolean;
  /** "X-Oracle-Table: shared": the location table both servers use. */
  shared?: boolean;
  extra?: string[];
}

let seq = 0;
const hop = (side: Side): string => `127.0.0.1:${side.sink.port}`;

/** the REGISTER for `side` in `form`. */
export function register(r: Register, form: Form): (side: Side) => string {
  const branch = `z9hG4bK-reg-${process.pid}-${++seq}`;
  return (side) => {
    const to = form.upperTo ? r.user.toUpperCase() : r.user;
    const lines = [
      `REGISTER sip:127.0.0.1:${side.port} SIP/2.0`,
      `Via: SIP/2.0/UDP ${side.client.address}:${side.client.port};branch=${branch}`,
      'Max-Forwards: 70',
      `From: <sip:${r.user}@127.0.0.1>;tag=t-${r.callId}`,
      `To: <sip:${to}@127.0.0.1>`,
      `Call-ID: ${r.callId}`,
      `CSeq: ${r.cseq} REGISTER`,
    ];
    const values = r.contacts.map((c) => {
      if (c.uri === '*') return '*';
      const uri = c.uri.replace('HOP', hop(side));
      let params = c.params ?? '';
      if (c.expires !== undefined) params += `;expires=${c.expires}`;
      return `${form.display ? '"UA" ' : ''}<${uri}>${params}`;
    });
    const name = form.compact ? 'm' : 'Contact';
    if (values.length > 0) {
      if (r.oneField) lines.push(`${name}: ${values.join(', ')}`);
      else for (const v of values) lines.push(`${name}: ${v}`);
    }
    if (r.expires !== undefined) lines.push(`Expires: ${r.expires}`);
    if (r.shared) lines.push('X-Oracle-Table: shared');
    lines.push(...(r.extra ?? []), 'Content-Length: 0', '', '');
    return lines.join('\r\n');
  };
}

/** a request to `user` at the server (looked up, relayed to what was found). */
export function request(method: string, user: string, o: { shared?: boolean } = {}): (side: Side) => string {
  const id = `oracle-req-${process.pid}-${++seq}`;
  return (side) =>
    [
      `${method} sip:${user}@127.0.0.1:${side.port} SIP/2.0`,
      `Via: SIP/2.0/UDP ${side.client.address}:${side.client.port};branch=z9hG4bK-${id}`,
      'Max-Forwards: 70',
      `From: <sip:caller@127.0.0.1>;tag=c-${id}`,
      `To: <sip:${user}@127.0.0.1>`,
      `Call-ID: ${id}`,
      `CSeq: 1 ${method}`,
      `Contact: <sip:caller@${side.client.address}:${side.client.port}>`,
      ...(o.shared ? ['X-Oracle-Table: shared'] : []),
      ...(method === 'SUBSCRIBE' ? ['Event: presence'] : []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
}

export interface Step {
  name: string;
  bytes: (side: Side) => string;
}

/** one user's scenario in `form`; `user` is unique per form. */
export function scenario(user: string, form: Form): Step[] {
  const c = (n: number): string => `sip:${user}-c${n}@HOP`;
  const cid = (n: number): string => `${user}-ua${n}`;
  /** expires as the form wants it, for every contact of the REGISTER */
  const reg = (r: Omit<Register, 'user'> & { exp?: string }): ((side: Side) => string) => {
    const { exp, ...rest } = r;
    const out: Register = { user, ...rest };
    if (exp !== undefined) {
      if (form.expiresAs === 'header') out.expires = exp;
      else out.contacts = out.contacts.map((x) => (x.uri === '*' || x.expires !== undefined ? x : { ...x, expires: exp }));
    }
    return register(out, form);
  };
  let cseq1 = 1;
  const steps: Array<[string, (side: Side) => string]> = [
    ['INVITE to an unknown user', request('INVITE', user)],
    ['query before any binding', reg({ callId: cid(1), cseq: cseq1++, contacts: [] })],
    ['first contact, expires 600', reg({ callId: cid(1), cseq: cseq1++, contacts: [{ uri: c(1) }], exp: '600' })],
    ['query', reg({ callId: cid(9), cseq: 1, contacts: [] })],
    ['refresh, expires 1200', reg({ callId: cid(1), cseq: cseq1++, contacts: [{ uri: c(1) }], exp: '1200' })],
    ['INVITE finds the one contact', request('INVITE', user)],
    ['second UA, q=0.5', reg({ callId: cid(2), cseq: 1, contacts: [{ uri: c(2), params: ';q=0.5' }], exp: '900' })],
    ['third UA, q=1.0', reg({ callId: cid(3), cseq: 1, contacts: [{ uri: c(3), params: ';q=1.0' }], exp: '900' })],
    ['INVITE forks by q', request('INVITE', user)],
    ['MESSAGE forks by q', request('MESSAGE', user)],
    ['fourth UA beyond max_contacts', reg({ callId: cid(4), cseq: 1, contacts: [{ uri: c(4) }], exp: '900' })],
    ['refresh of two known contacts in one REGISTER', reg({ callId: cid(2), cseq: 2, contacts: [{ uri: c(2), params: ';q=0.5' }, { uri: c(3), params: ';q=1.0' }], exp: '800', oneField: true })],
    ['a known and a new contact beyond max_contacts', reg({ callId: cid(3), cseq: 2, contacts: [{ uri: c(3) }, { uri: c(5) }], exp: '700' })],
    ['remove the second UA (expires 0)', reg({ callId: cid(2), cseq: 3, contacts: [{ uri: c(2) }], exp: '0' })],
    ['expires 30 below min_expires', reg({ callId: cid(1), cseq: cseq1++, contacts: [{ uri: c(1) }], exp: '30' })],
    ['expires 10000 above max_expires', reg({ callId: cid(1), cseq: cseq1++, contacts: [{ uri: c(1) }], exp: '10000' })],
    ['no expires: default_expires', reg({ callId: cid(3), cseq: 3, contacts: [{ uri: c(3), params: ';q=1.0' }] })],
    ['Expires header not a number', register({ user, callId: cid(1), cseq: cseq1++, contacts: [{ uri: c(1) }], expires: 'soon' }, form)],
    ['expires parameter not a number', register({ user, callId: cid(1), cseq: cseq1++, contacts: [{ uri: c(1), expires: 'soon' }] }, form)],
    ['q=1.5 out of range', reg({ callId: cid(3), cseq: 4, contacts: [{ uri: c(3), params: ';q=1.5' }], exp: '600' })],
    ['q not a number', reg({ callId: cid(3), cseq: 5, contacts: [{ uri: c(3), params: ';q=high' }], exp: '600' })],
    ['same Call-ID, older CSeq', reg({ callId: cid(1), cseq: 1, contacts: [{ uri: c(1) }], exp: '300' })],
    ['expires=0 for a contact never bound', reg({ callId: cid(6), cseq: 1, contacts: [{ uri: c(6) }], exp: '0' })],
    ['OPTIONS to the user', request('OPTIONS', user)],
    ['SUBSCRIBE to the user', request('SUBSCRIBE', user)],
    ['Contact: * without Expires: 0', register({ user, callId: cid(1), cseq: cseq1++, contacts: [{ uri: '*' }], expires: '60' }, form)],
    ['Contact: * with another contact', register({ user, callId: cid(1), cseq: cseq1++, contacts: [{ uri: '*' }, { uri: c(1) }], expires: '0' }, form)],
    ['Contact: * and no Expires', register({ user, callId: cid(1), cseq: cseq1++, contacts: [{ uri: '*' }] }, form)],
    ['Contact: * with Expires: 0', register({ user, callId: cid(1), cseq: cseq1++, contacts: [{ uri: '*' }], expires: '0' }, form)],
    ['query after removing all', reg({ callId: cid(9), cseq: 2, contacts: [] })],
    ['INVITE after removing all', request('INVITE', user)],
    ['two contacts in two fields, one REGISTER', reg({ callId: cid(7), cseq: 1, contacts: [{ uri: c(7) }, { uri: c(8), params: ';q=0.1' }], exp: '120' })],
    ['INVITE forks to both', request('INVITE', user)],
    ['remove both at once', reg({ callId: cid(7), cseq: 2, contacts: [{ uri: c(7) }, { uri: c(8) }], exp: '0' })],
  ];
  return steps.map(([name, bytes]) => ({ name, bytes }));
}
