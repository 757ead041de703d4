/**
 * Generated requests for the sl/sanity oracle: every method a proxy meets, each well-formed and with
 * one defect or oddity at a time (what sanity_check, maxfwd and the parser look at: required headers,
 * CSeq, Max-Forwards, Content-Length, Request-URI scheme and version, Proxy-Require, Expires, compact
 * and lower-case names, several Vias, rport, in-dialog To-tags, bodies). Each case gets its own Call-ID
 * and branch, so no case matches another's transaction.
 */
import type { Side } from './harness/index.js';

export const METHODS = ['INVITE', 'OPTIONS', 'REGISTER', 'BYE', 'MESSAGE', 'INFO', 'SUBSCRIBE', 'NOTIFY', 'ACK', 'CANCEL', 'UPDATE', 'REFER'];

interface Parts {
  method: string;
  ruri: string;
  version: string;
  /** header lines without CRLF, in order */
  headers: string[];
  body: string;
  /** Content-Length to write; undefined = the body's length; null = no Content-Length line */
  contentLength?: number | null;
}

type Mutation = (p: Parts) => void;

const drop = (name: RegExp): Mutation => (p) => {
  p.headers = p.headers.filter((h) => !name.test(h));
};
const set = (name: RegExp, line: string): Mutation => (p) => {
  p.headers = p.headers.map((h) => (name.test(h) ? line : h));
};
const add = (line: string): Mutation => (p) => {
  p.headers.push(line);
};
const SDP = 'v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n';

/** name → mutation; '' is the well-formed request. */
export const MUTATIONS: Record<string, Mutation> = {
  'well-formed': () => undefined,
  'no Via': drop(/^Via:/),
  'no From': drop(/^From:/),
  'no To': drop(/^To:/),
  'no Call-ID': drop(/^Call-ID:/),
  'no CSeq': drop(/^CSeq:/),
  'no Max-Forwards': drop(/^Max-Forwards:/),
  'CSeq method differs': (p) => set(/^CSeq:/, `CSeq: 7 ${p.method === 'OPTIONS' ? 'INFO' : 'OPTIONS'}`)(p),
  'CSeq 2^31': (p) => set(/^CSeq:/, `CSeq: 2147483648 ${p.method}`)(p),
  'CSeq 2^31-1': (p) => set(/^CSeq:/, `CSeq: 2147483647 ${p.method}`)(p),
  'CSeq not a number': (p) => set(/^CSeq:/, `CSeq: seven ${p.method}`)(p),
  'Max-Forwards 0': set(/^Max-Forwards:/, 'Max-Forwards: 0'),
  'Max-Forwards 1': set(/^Max-Forwards:/, 'Max-Forwards: 1'),
  'Max-Forwards 255': set(/^Max-Forwards:/, 'Max-Forwards: 255'),
  'Max-Forwards not a number': set(/^Max-Forwards:/, 'Max-Forwards: many'),
  'body with SDP': (p) => {
    p.body = SDP;
    p.headers.push('Content-Type: application/sdp');
  },
  'Content-Length larger than body': (p) => {
    p.body = SDP;
    p.headers.push('Content-Type: application/sdp');
    p.contentLength = SDP.length + 20;
  },
  'Content-Length smaller than body': (p) => {
    p.body = SDP;
    p.headers.push('Content-Type: application/sdp');
    p.contentLength = 10;
  },
  'no Content-Length over UDP': (p) => {
    p.contentLength = null;
  },
  'sips Request-URI': (p) => {
    p.ruri = p.ruri.replace(/^sip:/, 'sips:');
  },
  'tel Request-URI': (p) => {
    p.ruri = 'tel:+15551234567';
  },
  'http Request-URI': (p) => {
    p.ruri = 'http://example.com/bob';
  },
  'Request-URI version SIP/2.1': (p) => {
    p.version = 'SIP/2.1';
  },
  'Proxy-Require': add('Proxy-Require: x-oracle-ext'),
  'Require (not for proxies)': add('Require: 100rel'),
  'Expires not a number': add('Expires: soon'),
  'Expires 3600': add('Expires: 3600'),
  'compact header names': (p) => {
    p.headers = p.headers.map((h) => h.replace(/^Via:/, 'v:').replace(/^From:/, 'f:').replace(/^To:/, 't:').replace(/^Call-ID:/, 'i:'));
  },
  'lower-case header names': (p) => {
    p.headers = p.headers.map((h) => h.replace(/^([A-Za-z-]+):/, (_, n: string) => `${n.toLowerCase()}:`));
  },
  'two Vias': (p) => {
    p.headers.splice(1, 0, 'Via: SIP/2.0/UDP 192.0.2.77:5080;branch=z9hG4bK-older;received=192.0.2.78');
  },
  'in-dialog (To-tag)': (p) => set(/^To:/, 'To: <sip:bob@example.org>;tag=callee-1')(p),
  'Route header': add('Route: <sip:192.0.2.200;lr>'),
  'User-Agent and Subject': (p) => {
    p.headers.push('User-Agent: oracle-ua/1.0', 'Subject: lunch?');
  },
  'unknown header': add('X-Oracle-Unknown: a, b ; c=d'),
};

/** the request text for `side`: Via names the side's client (so replies reach it), unique Call-ID and branch. */
export function generatedRequest(method: string, mutation: string, n: number): (side: Side) => string {
  return (side) => {
    const id = `oracle-gen-${process.pid}-${n}`;
    const cseqMethod = method;
    const p: Parts = {
      method,
      ruri: `sip:bob@example.org`,
      version: 'SIP/2.0',
      headers: [
        `Via: SIP/2.0/UDP ${side.client.address}:${side.client.port};branch=z9hG4bK-${id};rport`,
        'Max-Forwards: 70',
        `From: "Alice" <sip:alice@example.org>;tag=a-${n}`,
        'To: <sip:bob@example.org>',
        `Call-ID: ${id}@oracle`,
        `CSeq: ${(n % 1000) + 1} ${cseqMethod}`,
        `Contact: <sip:alice@${side.client.address}:${side.client.port}>`,
      ],
      body: '',
    };
    if (method === 'SUBSCRIBE' || method === 'NOTIFY') p.headers.push('Event: presence');
    if (method === 'NOTIFY') p.headers.push('Subscription-State: active;expires=60');
    if (method === 'REFER') p.headers.push('Refer-To: <sip:carol@example.org>');
    MUTATIONS[mutation]!(p);
    const cl = p.contentLength === undefined ? Buffer.byteLength(p.body) : p.contentLength;
    const lines = [`${p.method} ${p.ruri} ${p.version}`, ...p.headers];
    if (cl !== null) lines.push(`Content-Length: ${cl}`);
    return `${lines.join('\r\n')}\r\n\r\n${p.body}`;
  };
}
