/**
 * Every message of /work/shared/conformance/ with the outcome its source text calls for.
 *
 * RFC 4475 rows cite the section that describes the message; "ok" rows also check the fields the
 * RFC calls out. Invalid requests must fail with the status the RFC names (400, 505, 416) and carry
 * a `partial` a stateless reply can be built from; invalid responses are dropped (status 0).
 */
import { sharedDir } from '../../helpers/shared.js';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseMessage } from '../../../host/sip/parser.js';
import { parseUri } from '../../../host/sip/uri.js';
import type { SipMessage } from '../../../host/sip/types.js';

const ROOT = path.join(sharedDir(), 'conformance');

interface Row {
  file: string;
  /** where the expectation comes from */
  cite: string;
  /** 'ok', or the failure status (0 = drop) */
  expect: 'ok' | number;
  /** substring of failure.reason */
  reason?: string;
  check?: (m: SipMessage) => void;
}

const rfc4475: Row[] = [
  // ---- §3.1.1 valid messages -------------------------------------------------------------------
  {
    file: 'wsinv.dat', cite: 'RFC 4475 §3.1.1.1 short tortuous INVITE', expect: 'ok',
    check: (m) => {
      expect(m.method).toBe('INVITE');
      expect(m.uri?.params).toEqual([['unknownparam', null]]);
      expect(m.to?.uri).toBe('sip:vivekg@chair-dnrc.example.com');
      expect(m.to?.tag).toBe('1918181833n');
      expect(m.from?.displayName).toBe('J Rosenberg \\"');
      expect(m.from?.tag).toBe('98asjd8');
      expect(m.maxForwards).toBe(68);
      expect(m.callId).toBe('wsinv.ndaksdj@192.0.2.1');
      expect(m.contentLength).toBe(150);
      expect(m.cseq).toEqual({ seq: 9, method: 'INVITE' });
      expect(m.vias.map((v) => [v.protocol, v.host, v.branch])).toEqual([
        ['SIP/2.0/UDP', '192.0.2.2', '390skdjuw'],
        ['SIP/2.0/TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
        ['SIP/2.0/UDP', '192.168.255.111', 'z9hG4bK30239'],
      ]);
      expect(m.header('subject')).toBe('');
      expect(m.header('NewFangledHeader')).toBe('newfangled value continued newfangled value');
      expect(m.header('UnknownHeaderWithUnusualValue')).toBe(';;,,;;,;');
      expect(m.headerValues('route')).toEqual(['<sip:services.example.com;lr;unknownwith=value;unknown-no-value>']);
      expect(m.header('m')).toBe('"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam = newvalue ; secondparam ; q = 0.33');
      expect(m.body.length).toBe(150);
    },
  },
  {
    file: 'intmeth.dat', cite: 'RFC 4475 §3.1.1.2 wide range of valid characters', expect: 'ok',
    check: (m) => {
      expect(m.method).toBe("!interesting-Method0123456789_*+`.%indeed'~");
      expect(m.cseq?.method).toBe(m.method);
      expect(m.uri?.user).toBe("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
      expect(m.uri?.password).toBe("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
      expect(m.uri?.host).toBe('example.com');
      expect(m.vias[0]?.branch).toBe("z9hG4bK-.!%66*_+`'~");
      expect(m.to?.displayName).toBe('BEL:\x07 NUL:\x00 DEL:\x7f');
      expect(m.from?.displayName).toBe("token1~` token2'+_ token3*%!.-");
      expect(m.from?.tag).toBe("_token~1'+`*%!-.");
      expect(m.from?.params[0]?.[1]).toBe('"работающий"');
      expect(m.callId).toBe('intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
      expect(m.header("extensionHeader-!.%*+_`'~")).toBe('\ufeff\u5927\u505c\u96fb');
    },
  },
  {
    file: 'esc01.dat', cite: 'RFC 4475 §3.1.1.3 valid use of the % escaping mechanism', expect: 'ok',
    check: (m) => {
      expect(m.uri?.user).toBe('sips:user@example.com');
      expect(m.uri?.host).toBe('example.net');
      expect(parseUri(m.to!.uri)?.user).toBe('user');
      expect(parseUri(m.from!.uri)?.user).toBe('I have spaces');
      expect(m.callId).toBe('esc01.239409asdfakjkn23onasd0-3234');
      const contact = m.header('contact')!;
      const uri = parseUri(contact.slice(1, -1))!;
      expect(uri.user).toBe('caller');
      expect(uri.params).toEqual([['lr', null], ['name', 'value%41']]);
    },
  },
  {
    file: 'escnull.dat', cite: 'RFC 4475 §3.1.1.4 escaped nulls in URIs', expect: 'ok',
    check: (m) => {
      expect(parseUri(m.to!.uri)?.user).toBe('null-\x00-null');
      expect(parseUri(m.from!.uri)?.user).toBe('null-\x00-null');
      expect(m.headerCount('contact')).toBe(2);
    },
  },
  {
    file: 'esc02.dat', cite: 'RFC 4475 §3.1.1.5 use of % when it is not an escape', expect: 'ok',
    check: (m) => {
      expect(m.method).toBe('RE%47IST%45R');
      expect(m.cseq?.method).toBe('RE%47IST%45R');
      expect(m.to?.displayName).toBe('%Z%45');
      expect(m.vias[0]?.branch).toBe('z9hG4bK209%fzsnel234');
      // "C%6Fntact" is an extension header, not a Contact
      expect(m.headerCount('contact')).toBe(2);
      expect(m.header('C%6Fntact')).toBe('<sip:alias2@host2.example.com>');
    },
  },
  {
    file: 'lwsdisp.dat', cite: 'RFC 4475 §3.1.1.6 message with no LWS between display name and <', expect: 'ok',
    check: (m) => {
      expect(m.from?.displayName).toBe('caller');
      expect(m.from?.uri).toBe('sip:caller@example.com');
      expect(m.from?.tag).toBe('323');
    },
  },
  {
    file: 'longreq.dat', cite: 'RFC 4475 §3.1.1.7 long values in header fields', expect: 'ok',
    check: (m) => {
      expect(m.to?.displayName).toMatch(/^I have a user name of (extreme){10} proportion$/);
      expect(parseUri(m.to!.uri)?.port).toBe(6000);
      expect(m.from?.tag).toMatch(/^1298(298){40,}2*424$/);
      expect(m.callId).toMatch(/^longreq\.one(really){20}longcallid$/);
      expect(m.vias.length).toBe(34);
      expect(m.vias[0]?.host).toBe('sip33.example.com');
      expect(m.vias[33]).toMatchObject({ host: 'host.example.com', received: '192.0.2.5' });
      expect(m.vias[33]?.branch).toMatch(/^very(long)+branchvalue$/);
      expect(m.body.length).toBe(m.contentLength);
    },
  },
  {
    file: 'dblreq.dat', cite: 'RFC 4475 §3.1.1.8 extra trailing octets in a UDP datagram', expect: 'ok',
    check: (m) => {
      expect(m.method).toBe('REGISTER');
      expect(m.callId).toBe('dblreq.0ha0isndaksdj99sdfafnl3lk233412');
      expect(m.body.length).toBe(0);
      expect(m.toBuffer().toString('latin1').endsWith('Content-Length: 0\r\n\r\n')).toBe(true);
    },
  },
  {
    file: 'semiuri.dat', cite: 'RFC 4475 §3.1.1.9 semicolon-separated parameters in URI user part', expect: 'ok',
    check: (m) => {
      expect(m.uri?.user).toBe('user;par=u@example.net');
      expect(m.uri?.host).toBe('example.com');
      expect(m.uri?.params).toEqual([]);
      expect(m.headerValues('accept')).toEqual([
        'application/sdp', 'application/pkcs7-mime', 'multipart/mixed', 'multipart/signed', 'message/sip', 'message/sipfrag',
      ]);
    },
  },
  {
    file: 'transports.dat', cite: 'RFC 4475 §3.1.1.10 varied and unknown transport types', expect: 'ok',
    check: (m) => {
      expect(m.vias.map((v) => v.transport)).toEqual(['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']);
      expect(m.callId).toBe('transports.kijh4akdnaqjkwendsasfdj');
    },
  },
  {
    file: 'mpart01.dat', cite: 'RFC 4475 §3.1.1.11 multipart MIME message', expect: 'ok',
    check: (m) => {
      expect(m.method).toBe('MESSAGE');
      expect(m.vias[0]?.rport).toBeNull();
      expect(m.header('content-type')).toBe('multipart/mixed;boundary=7a9cbec02ceef655');
      expect(m.body.length).toBe(m.contentLength);
      expect(m.body.toString('latin1')).toContain('--7a9cbec02ceef655--');
    },
  },
  {
    file: 'unreason.dat', cite: 'RFC 4475 §3.1.1.12 unusual reason phrase (UTF-8)', expect: 'ok',
    check: (m) => {
      expect(m.kind).toBe('response');
      expect(m.status).toBe(200);
      expect(m.reason).toBe('= 2**3 * 5**2 но сто девяносто девять - простое');
      expect(m.method).toBe('INVITE');
    },
  },
  {
    file: 'noreason.dat', cite: 'RFC 4475 §3.1.1.13 empty reason phrase', expect: 'ok',
    check: (m) => {
      expect(m.status).toBe(100);
      expect(m.reason).toBe('');
    },
  },
  // ---- §3.1.2 invalid messages -----------------------------------------------------------------
  { file: 'badinv01.dat', cite: 'RFC 4475 §3.1.2.1 extraneous header field separators', expect: 400, reason: 'Bad Via' },
  { file: 'clerr.dat', cite: 'RFC 4475 §3.1.2.2 Content-Length larger than message', expect: 400, reason: 'Content-Length Larger Than Body' },
  { file: 'ncl.dat', cite: 'RFC 4475 §3.1.2.3 negative Content-Length', expect: 400, reason: 'Bad Content-Length' },
  { file: 'scalar02.dat', cite: 'RFC 4475 §3.1.2.4 request scalar fields with overlarge values', expect: 400, reason: 'Bad CSeq' },
  { file: 'scalarlg.dat', cite: 'RFC 4475 §3.1.2.5 response scalar fields with overlarge values (response: drop)', expect: 0 },
  { file: 'quotbal.dat', cite: 'RFC 4475 §3.1.2.6 unterminated quoted string in display name', expect: 400, reason: 'Bad To' },
  { file: 'ltgtruri.dat', cite: 'RFC 4475 §3.1.2.7 <> enclosing Request-URI', expect: 400, reason: 'Bad Request-URI' },
  { file: 'lwsruri.dat', cite: 'RFC 4475 §3.1.2.8 malformed SIP Request-URI (embedded LWS)', expect: 400, reason: 'Malformed Request-Line' },
  { file: 'lwsstart.dat', cite: 'RFC 4475 §3.1.2.9 multiple SP separating Request-Line elements', expect: 400, reason: 'Malformed Request-Line' },
  { file: 'trws.dat', cite: 'RFC 4475 §3.1.2.10 SP characters at end of Request-Line', expect: 400, reason: 'Malformed Request-Line' },
  { file: 'escruri.dat', cite: 'RFC 4475 §3.1.2.11 escaped headers in SIP Request-URI', expect: 400, reason: 'Bad Request-URI' },
  {
    file: 'baddate.dat', cite: 'RFC 4475 §3.1.2.12 invalid time zone in Date (an element may accept it; Date is not interpreted by the parser)', expect: 'ok',
    check: (m) => expect(m.header('date')).toBe('Fri, 01 Jan 2010 16:00:00 EST'),
  },
  { file: 'regbadct.dat', cite: 'RFC 4475 §3.1.2.13 failure to enclose name-addr URI in <>', expect: 400, reason: 'Bad Contact' },
  { file: 'badaspec.dat', cite: 'RFC 4475 §3.1.2.14 spaces within addr-spec', expect: 400, reason: 'Bad To' },
  { file: 'baddn.dat', cite: 'RFC 4475 §3.1.2.15 non-token characters in display name', expect: 400, reason: 'Bad From' },
  { file: 'badvers.dat', cite: 'RFC 4475 §3.1.2.16 unknown protocol version', expect: 505, reason: 'Version Not Supported' },
  { file: 'mismatch01.dat', cite: 'RFC 4475 §3.1.2.17 start line and CSeq method mismatch', expect: 400, reason: 'CSeq Method Mismatch' },
  { file: 'mismatch02.dat', cite: 'RFC 4475 §3.1.2.18 unknown method with CSeq method mismatch', expect: 400, reason: 'CSeq Method Mismatch' },
  { file: 'bigcode.dat', cite: 'RFC 4475 §3.1.2.19 overlarge response code (response: drop)', expect: 0 },
  // ---- §3.2 transaction layer semantics --------------------------------------------------------
  {
    file: 'badbranch.dat', cite: 'RFC 4475 §3.2.1 missing transaction identifier (parses; bare magic cookie)', expect: 'ok',
    check: (m) => expect(m.vias[0]?.branch).toBe('z9hG4bK'),
  },
  // ---- §3.3 application layer semantics --------------------------------------------------------
  { file: 'insuf.dat', cite: 'RFC 4475 §3.3.1 missing required header fields', expect: 400, reason: 'Missing' },
  { file: 'unkscm.dat', cite: 'RFC 4475 §3.3.2 Request-URI with unknown scheme', expect: 416 },
  { file: 'novelsc.dat', cite: 'RFC 4475 §3.3.3 Request-URI with known but atypical scheme', expect: 416 },
  {
    file: 'unksm2.dat', cite: 'RFC 4475 §3.3.4 unknown URI schemes in header fields (parses; the registrar decides)', expect: 'ok',
    check: (m) => {
      expect(m.to?.uri).toBe('isbn:2983792873');
      expect(m.from?.uri).toBe('http://www.example.com');
      expect(m.header('contact')).toBe('<name:John_Smith>');
    },
  },
  {
    file: 'bext01.dat', cite: 'RFC 4475 §3.3.5 proxy-require and require (parses; 420 is for the UAS/proxy)', expect: 'ok',
    check: (m) => {
      expect(m.headerValues('require')).toEqual(['nothingSupportsThis', 'nothingSupportsThisEither']);
      expect(m.headerValues('proxy-require')).toEqual(['noProxiesSupportThis', 'norDoAnyProxiesSupportThis']);
    },
  },
  {
    file: 'invut.dat', cite: 'RFC 4475 §3.3.6 unknown Content-Type (parses; 415 is for the UAS)', expect: 'ok',
    check: (m) => {
      expect(m.header('content-type')).toBe('application/unknownformat');
      expect(m.body.length).toBe(40);
    },
  },
  {
    file: 'regaut01.dat', cite: 'RFC 4475 §3.3.7 unknown authorization scheme (parses; Authorization never comma-split)', expect: 'ok',
    check: (m) => expect(m.headerValues('authorization')).toEqual(['NoOneKnowsThisScheme opaque-data=here']),
  },
  { file: 'multi01.dat', cite: 'RFC 4475 §3.3.8 multiple values in single-value required fields', expect: 400, reason: 'Multiple' },
  { file: 'mcl01.dat', cite: 'RFC 4475 §3.3.9 multiple Content-Length values', expect: 400, reason: 'Multiple Content-Length' },
  {
    file: 'bcast.dat', cite: 'RFC 4475 §3.3.10 200 OK response with broadcast Via (parses; transport decides)', expect: 'ok',
    check: (m) => expect(m.vias[1]?.host).toBe('255.255.255.255'),
  },
  {
    file: 'zeromf.dat', cite: 'RFC 4475 §3.3.11 Max-Forwards of zero (parses; 483 is for the proxy)', expect: 'ok',
    check: (m) => expect(m.maxForwards).toBe(0),
  },
  {
    file: 'cparam01.dat', cite: 'RFC 4475 §3.3.12 REGISTER with a Contact header parameter', expect: 'ok',
    check: (m) => expect(m.header('contact')).toBe('sip:+19725552222@gw1.example.net;unknownparam'),
  },
  {
    file: 'cparam02.dat', cite: 'RFC 4475 §3.3.13 REGISTER with a URL parameter', expect: 'ok',
    check: (m) => expect(m.header('contact')).toBe('<sip:+19725552222@gw1.example.net;unknownparam>'),
  },
  {
    file: 'regescrt.dat', cite: 'RFC 4475 §3.3.14 REGISTER with a URL escaped header', expect: 'ok',
    check: (m) => {
      const contact = m.header('m')!;
      expect(parseUri(contact.slice(1, -1))?.headers).toEqual([['Route', '<sip:sip.example.com>']]);
      expect(m.contentLength).toBe(0);
    },
  },
  {
    file: 'sdp01.dat', cite: 'RFC 4475 §3.3.15 unacceptable Accept offering (parses; 406 is for the UAS)', expect: 'ok',
    check: (m) => expect(m.header('accept')).toBe('text/nobodyKnowsThis'),
  },
  // ---- §3.4 backward compatibility -------------------------------------------------------------
  {
    file: 'inv2543.dat', cite: 'RFC 4475 §3.4.1 INVITE with RFC 2543 syntax (no branch, no Max-Forwards)', expect: 'ok',
    check: (m) => {
      expect(m.vias[0]?.branch).toBeUndefined();
      expect(m.maxForwards).toBeUndefined();
      expect(m.contentLength).toBeUndefined();
      // addr-spec form: ";user=phone" is a header parameter, not a URI parameter (RFC 3261 §20.10)
      expect(m.to?.uri).toBe('sip:+16505552222@ss1.example.net');
      expect(m.to?.params).toEqual([['user', 'phone']]);
      expect(m.from?.uri).toBe('sip:+13035551111@ift.client.example.net;user=phone');
    },
  },
];

const examples: Row[] = [
  { file: 'rfc3261-s11.1-options.sip', cite: 'RFC 3261 §11.1', expect: 'ok', check: (m) => expect(m.method).toBe('OPTIONS') },
  {
    file: 'rfc3261-s24.1-f1-register.sip', cite: 'RFC 3261 §24.1 F1', expect: 'ok',
    check: (m) => { expect(m.method).toBe('REGISTER'); expect(m.uri?.host).toBe('registrar.biloxi.com'); },
  },
  { file: 'rfc3261-s24.1-f2-200ok.sip', cite: 'RFC 3261 §24.1 F2', expect: 'ok', check: (m) => expect([m.status, m.method]).toEqual([200, 'REGISTER']) },
  { file: 'rfc3261-s24.2-f12-ack.sip', cite: 'RFC 3261 §24.2 F12', expect: 'ok', check: (m) => expect(m.method).toBe('ACK') },
  { file: 'rfc3261-s24.2-f13-bye.sip', cite: 'RFC 3261 §24.2 F13', expect: 'ok', check: (m) => expect(m.method).toBe('BYE') },
  { file: 'rfc3261-s24.2-f14-200ok.sip', cite: 'RFC 3261 §24.2 F14', expect: 'ok', check: (m) => expect([m.status, m.method]).toEqual([200, 'BYE']) },
  { file: 'rfc3261-s24.2-f6-180ringing.sip', cite: 'RFC 3261 §24.2 F6', expect: 'ok', check: (m) => expect(m.status).toBe(180) },
  {
    file: 'rfc3665-s3.1-f1-invite.sip', cite: 'RFC 3665 §3.1 F1', expect: 'ok',
    check: (m) => {
      expect(m.vias[0]).toMatchObject({ transport: 'TCP', host: 'client.atlanta.example.com', port: 5060, branch: 'z9hG4bK74bf9' });
      expect(m.from).toMatchObject({ displayName: 'Alice', uri: 'sip:alice@atlanta.example.com', tag: '9fxced76sl' });
      expect(m.to?.tag).toBeUndefined();
      expect(m.body.length).toBe(151);
    },
  },
  { file: 'rfc3665-s3.1-f2-180ringing.sip', cite: 'RFC 3665 §3.1 F2', expect: 'ok', check: (m) => expect(m.status).toBe(180) },
  { file: 'rfc3665-s3.1-f3-200ok.sip', cite: 'RFC 3665 §3.1 F3', expect: 'ok', check: (m) => expect(m.body.length).toBe(m.contentLength) },
  { file: 'rfc3665-s3.1-f4-ack.sip', cite: 'RFC 3665 §3.1 F4', expect: 'ok', check: (m) => expect(m.method).toBe('ACK') },
  { file: 'rfc3665-s3.1-f5-bye.sip', cite: 'RFC 3665 §3.1 F5', expect: 'ok', check: (m) => expect(m.method).toBe('BYE') },
  { file: 'rfc3665-s3.1-f6-200ok.sip', cite: 'RFC 3665 §3.1 F6', expect: 'ok', check: (m) => expect(m.status).toBe(200) },
  { file: 'rfc3665-s3.8-f9-cancel.sip', cite: 'RFC 3665 §3.8 F9', expect: 'ok', check: (m) => expect(m.method).toBe('CANCEL') },
];

const npm: Row[] = [];
for (const name of ['invite', 'invite-compact', 'invite-tls', 'siprec', 'siprec2', 'siprec3']) {
  // README: the published files declare a Content-Length larger than their body (RFC 4475 §3.1.2.2 on UDP)
  npm.push({ file: `${name}.as-published.sip`, cite: 'RFC 3261 §18.3 / RFC 4475 §3.1.2.2', expect: 400, reason: 'Content-Length Larger Than Body' });
  npm.push({
    file: `${name}.cl-fixed.sip`, cite: 'RFC 3261 §7 (well-formed INVITE)', expect: 'ok',
    check: (m) => {
      expect(m.method).toBe('INVITE');
      expect(m.body.length).toBe(m.contentLength);
      if (name === 'invite-tls') expect(m.vias[0]?.transport).toBe('TLS');
    },
  });
}

function runRows(dir: string, rows: Row[]): void {
  test(`the table covers every file of ${dir}/`, () => {
    const files = readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith('.dat') || f.endsWith('.sip')).sort();
    expect(rows.map((r) => r.file).sort()).toEqual(files);
  });
  for (const row of rows) {
    test(`${row.file} — ${row.cite} → ${row.expect === 'ok' ? 'valid' : row.expect}`, () => {
      const raw = readFileSync(path.join(ROOT, dir, row.file));
      const r = parseMessage(raw);
      if (row.expect === 'ok') {
        if (!r.ok) throw new Error(`expected a valid message, got ${r.failure.status} ${r.failure.reason}: ${r.failure.detail}`);
        row.check?.(r.message);
        // untouched messages serialize byte-exact (up to the end of the body)
        const out = r.message.toBuffer();
        expect(raw.subarray(0, out.length).equals(out)).toBe(true);
        return;
      }
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.failure.status).toBe(row.expect);
      if (row.reason !== undefined) expect(r.failure.reason).toContain(row.reason);
      if (row.expect > 0) {
        // a reply can be built: Via, and whatever of From/To/Call-ID/CSeq is there
        const p = r.failure.partial;
        expect(p).toBeDefined();
        expect(p!.kind).toBe('request');
        expect(p!.vias.length).toBeGreaterThan(0);
        expect(p!.header('cseq')).toBeDefined();
      } else {
        expect(r.failure.partial).toBeUndefined();
      }
    });
  }
}

describe('RFC 4475 torture messages', () => runRows('rfc4475', rfc4475));
describe('RFC 3261 / RFC 3665 examples', () => runRows('rfc3261-3665', examples));
describe('npm sip-message-examples', () => runRows('npm-sip-message-examples', npm));
