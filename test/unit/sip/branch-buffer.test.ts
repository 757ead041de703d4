/**
 * SipMessageImpl.toBranchBuffer (the proxy's per-branch bytes without a parsed copy, RFC 3261 §16.6)
 * must give exactly what re-parsing the request, setting the R-URI and adding the Via first gives,
 * and must leave the message unedited.
 */
import { describe, expect, test } from 'vitest';
import { parseMessage } from '../../../host/sip/parser.js';
import type { SipMessageImpl } from '../../../host/sip/message.js';
import type { SipMessage } from '../../../host/sip/types.js';

function parse(text: string): SipMessage {
  const r = parseMessage(Buffer.from(text, 'latin1'));
  if (!r.ok) throw new Error(`${r.failure.reason}: ${r.failure.detail}`);
  return r.message;
}

const REQ = [
  'INVITE sip:bob@example.com SIP/2.0',
  'Record-Route: <sip:p1.example.com;lr>',
  'v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1,SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-0',
  'Max-Forwards: 70',
  'From: <sip:alice@example.com>;tag=f1',
  'To: <sip:bob@example.com>',
  'Call-ID: c1@x',
  'CSeq: 1 INVITE',
  'Route: <sip:p2.example.com;lr>',
  'Content-Type: application/sdp',
  'Content-Length: 4',
  '',
  'v=0\n',
].join('\r\n');

const VIA = 'SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKtest.1';

/** the old path: the request's bytes re-parsed, R-URI set, Via added first, serialized. */
function viaCopy(msg: SipMessage, ruri: string): Buffer {
  const copy = parse(msg.toBuffer().toString('latin1'));
  if (copy.requestUri !== ruri) copy.setRequestUri(ruri);
  copy.addHeader('Via', VIA, 'first');
  return copy.toBuffer();
}

describe('toBranchBuffer', () => {
  test.each([
    ['unedited, same R-URI', (_m: SipMessage) => {}, 'sip:bob@example.com'],
    ['unedited, other R-URI', (_m: SipMessage) => {}, 'sip:bob@10.0.0.9:5070;transport=udp'],
    ['edited (Record-Route, Max-Forwards, Route removed, new R-URI)', (m: SipMessage) => {
      m.addHeader('Record-Route', '<sip:127.0.0.1;lr>', 'first');
      m.setHeader('Max-Forwards', '69');
      m.removeHeader('route', 0);
      m.setRequestUri('sip:carol@example.org');
    }, 'sip:carol@example.org'],
    ['edited, branch R-URI differs from the edited one', (m: SipMessage) => {
      m.setRequestUri('sip:carol@example.org');
    }, 'sip:dave@example.net'],
    ['Via edited', (m: SipMessage) => {
      m.removeHeader('via', 1);
    }, 'sip:bob@example.com'],
  ])('%s', (_name, edit, ruri) => {
    const msg = parse(REQ);
    edit(msg);
    const before = msg.toBuffer().toString('latin1');
    const out = (msg as SipMessageImpl).toBranchBuffer(VIA, ruri);
    expect(out.toString('latin1')).toBe(viaCopy(msg, ruri).toString('latin1'));
    expect(msg.toBuffer().toString('latin1')).toBe(before);
    expect(msg.vias.length).toBe(parse(before).vias.length);
    const sent = parse(out.toString('latin1'));
    expect(sent.requestUri).toBe(ruri);
    expect(sent.vias[0]!.branch).toBe('z9hG4bKtest.1');
    expect(sent.body.toString()).toBe('v=0\n');
  });

  test('a Request-URI with whitespace is refused like setRequestUri', () => {
    const msg = parse(REQ) as SipMessageImpl;
    expect(() => msg.toBranchBuffer(VIA, 'sip:a b@x')).toThrow();
  });
});
