/**
 * The `nathelper` plugin imports over a message context and a stand-in for guest memory: Kamailio
 * nathelper's return codes and the edits they make (nat_uac_test flag by flag, fix_nated_contact,
 * fix_nated_register -> registrar save(), add_rcv_param, set_contact_alias + handle_ruri_alias,
 * force_rport, is_rfc1918), and the `$bf` branch flags the registrar stores as cflags.
 */
import { describe, expect, it } from 'vitest';
import type { Endpoint, MessageContext } from '../../../host/core/context.js';
import { evalPv, setPv } from '../../../host/core/pv.js';
import { NathelperImports, NathelperStats, resolveNathelperConfig, isPrivateAddress } from '../../../host/modules/nathelper/index.js';
import { RegistrarImports } from '../../../host/modules/registrar/abi.js';
import { topViaForReply } from '../../../host/core/sl.js';
import { replyAddress } from '../../../host/transport/reply-route.js';
import type { SipMessage } from '../../../host/sip/types.js';
import { hostApi, memoryRegistrar, parse, request, type Fn, type Sent } from '../registrar/helpers.js';

/** the UA behind NAT: private addresses in Via and Contact, seen from 203.0.113.7:40000. */
const NATED: Endpoint = { address: '203.0.113.7', port: 40000, proto: 'udp', family: 4 };

function msg(opts: { via?: string; contact?: string[]; body?: string; ruri?: string; method?: string } = {}): SipMessage {
  const body = opts.body ?? '';
  const method = opts.method ?? 'REGISTER';
  return parse(
    [
      `${method} ${opts.ruri ?? 'sip:example.com'} SIP/2.0`,
      `Via: ${opts.via ?? 'SIP/2.0/UDP 192.168.1.5:5062;branch=z9hG4bK-n1'}`,
      'Max-Forwards: 70',
      'From: <sip:alice@example.com>;tag=f1',
      'To: <sip:alice@example.com>',
      'Call-ID: nat-1',
      `CSeq: 1 ${method}`,
      ...(opts.contact ?? ['<sip:alice@192.168.1.5:5062>;expires=600']).map((c) => `Contact: ${c}`),
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\n'),
  );
}

function setup(src: Endpoint = NATED, cfg = {}) {
  let ctx: MessageContext | null = null;
  const { api, str, gas } = hostApi(() => ctx);
  const stats = new NathelperStats();
  const f = new NathelperImports(resolveNathelperConfig(cfg), stats).functions(api) as unknown as Record<string, Fn>;
  const use = (m: SipMessage, sent: Sent[] = []): MessageContext => {
    ctx = {
      id: 1, msg: m, source: src, local: { address: '198.51.100.1', port: 5060, proto: 'udp', family: 4 }, dstUri: null, vars: new Map(), replied: false,
      log: { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined } as never,
      slReply(code, reason, headers = []) { sent.push({ code, reason, headers }); return true; },
    };
    return ctx;
  };
  return { f, use, str, gas, stats, api, clear: () => (ctx = null) };
}

describe('nat_uac_test', () => {
  it('answers each Kamailio flag bit for a NATed UA and none for a public one', () => {
    const { f, use, stats } = setup();
    const sdp = 'v=0\r\no=- 1 1 IN IP4 192.168.1.5\r\ns=-\r\nc=IN IP4 192.168.1.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
    use(msg({ body: sdp }));
    for (const flag of [1, 2, 4, 8, 16, 128, 256]) expect([flag, f.nat_uac_test!(flag)]).toEqual([flag, 1]);
    expect(f.nat_uac_test!(32)).toBe(-1); // the source itself is public
    expect(f.nat_uac_test!(64)).toBe(-1); // no WebSocket transport
    expect(f.nat_uac_test!(0)).toBe(-1);
    expect(stats.natDetected).toBe(7);

    // a UA on a public address, Via = source, Contact = source: nothing says NAT
    const pub = setup({ address: '203.0.113.9', port: 5060, proto: 'udp', family: 4 });
    pub.use(msg({ via: 'SIP/2.0/UDP 203.0.113.9;branch=z9hG4bK-p', contact: ['<sip:bob@203.0.113.9>'], body: sdp.replace(/192\.168\.1\.5/g, '203.0.113.9') }));
    expect(pub.f.nat_uac_test!(511 & ~64)).toBe(-1);
    // a private source (flag 32), 100.64/10 carrier-grade NAT in the Contact (flag 1)
    const cgn = setup({ address: '10.1.2.3', port: 5060, proto: 'udp', family: 4 });
    cgn.use(msg({ via: 'SIP/2.0/UDP 10.1.2.3;branch=z9hG4bK-c', contact: ['<sip:c@100.64.0.1>'] }));
    expect(cgn.f.nat_uac_test!(32)).toBe(1);
    expect(cgn.f.nat_uac_test!(1)).toBe(1);
  });

  it('flag 128 alone is true for a gateway registering another socket; 19 (kamailio.cfg) is not', () => {
    const gw: Endpoint = { address: '127.0.0.1', port: 41000, proto: 'udp', family: 4 };
    const { f, use } = setup(gw);
    use(msg({ via: 'SIP/2.0/UDP 127.0.0.1:41000;branch=z9hG4bK-g;rport', contact: ['<sip:gw@127.0.0.1:41001>'] }));
    expect(f.nat_uac_test!(128)).toBe(1);
    expect(f.nat_uac_test!(19)).toBe(-1);
  });

  it('is outside a message -4, and is_rfc1918 reads the address argument', () => {
    const { f, str, clear } = setup();
    clear();
    expect(f.nat_uac_test!(19)).toBe(-4);
    for (const [ip, want] of [['10.0.0.1', 1], ['172.31.255.255', 1], ['172.32.0.1', -1], ['192.168.0.1', 1], ['100.127.0.1', 1], ['192.0.0.7', 1], ['192.0.0.200', 1], ['8.8.8.8', -1], ['::ffff:192.168.1.1', 1], ['fd00::1', -1], ['not-an-ip', -1]] as const) {
      const [p, l] = str(ip);
      expect([ip, f.is_rfc1918!(p, l)]).toEqual([ip, want]);
    }
    expect(isPrivateAddress('192.0.0.200', 0)).toBe(false); // nat_addr_mode 0: only 192.0.0.0/29
    expect(f.is_rfc1918!(16, 500)).toBe(-1); // longer than any address: not read
  });
});

describe('Contact and Via fixing', () => {
  it('fix_nated_contact rewrites the first Contact host:port to the source, keeping its parameters', () => {
    const { f, use, stats } = setup();
    const m = msg({ contact: ['"Alice" <sip:alice@192.168.1.5:5062;transport=udp>;expires=600;+sip.instance="<urn:uuid:1>"', '<sip:alice@192.168.1.5:5070>'] });
    use(m);
    expect(f.fix_nated_contact!()).toBe(1);
    expect(m.headerValues('contact')).toEqual(['"Alice" <sip:alice@203.0.113.7:40000;transport=udp>;expires=600;+sip.instance="<urn:uuid:1>"', '<sip:alice@192.168.1.5:5070>']);
    expect(f.fix_nated_contact!()).toBe(1); // again: the same text
    expect(m.headerValues('contact')[0]).toBe('"Alice" <sip:alice@203.0.113.7:40000;transport=udp>;expires=600;+sip.instance="<urn:uuid:1>"');
    expect(stats.contactsFixed).toBe(2);
    // IPv6 source in brackets; no Contact / `*` -> -1
    const v6 = setup({ address: '2001:db8::7', port: 40000, proto: 'udp', family: 6 });
    const m6 = msg({ contact: ['sip:alice@192.168.1.5'] });
    v6.use(m6);
    expect(v6.f.fix_nated_contact!()).toBe(1);
    expect(m6.header('contact')).toBe('<sip:alice@[2001:db8::7]:40000>');
    use(msg({ contact: [] }));
    expect(f.fix_nated_contact!()).toBe(-1);
    use(msg({ contact: ['*'] }));
    expect(f.fix_nated_contact!()).toBe(-1);
  });

  it('fix_nated_register makes save() store the source as received; lookup then sends there ($du)', () => {
    const { reg } = memoryRegistrar();
    const nat = setup();
    const r = new RegistrarImports(reg).functions(nat.api) as unknown as Record<string, Fn>;
    const [tp, tl] = nat.str('location');
    const sent: Sent[] = [];
    const ctx = nat.use(msg(), sent);
    expect(nat.f.fix_nated_register!()).toBe(1);
    expect(ctx.natReceived).toBe('sip:203.0.113.7:40000');
    // kamailio.cfg: setbflag(FLB_NATB) before save(): stored as the contact's cflags
    expect(setPv('$bf', String(1 << 6), ctx)).toBe(0);
    expect(r.save!(tp, tl, 0)).toBe(1);
    expect(sent[0]!.headers).toEqual(['Contact: <sip:alice@192.168.1.5:5062>;expires=600;received="sip:203.0.113.7:40000"']);
    const inv = request('INVITE', 'sip:alice@example.com');
    const ictx = nat.use(inv);
    expect(r.lookup!(tp, tl)).toBe(1);
    expect(inv.requestUri).toBe('sip:alice@192.168.1.5:5062');
    expect(ictx.dstUri).toBe('sip:203.0.113.7:40000');
    expect(evalPv('$bf', ictx)).toBe('64'); // lookup restores the cflags as branch flags
    // over TCP the transport is part of it
    const tcp = setup({ ...NATED, proto: 'tcp' });
    const tctx = tcp.use(msg());
    tcp.f.fix_nated_register!();
    expect(tctx.natReceived).toBe('sip:203.0.113.7:40000;transport=tcp');
  });

  it('add_rcv_param puts received on every Contact (flag 0) or in the URI (flag 1, UDP only); the registrar honours the first', () => {
    const { f, use, api, str } = setup();
    const m = msg({ contact: ['<sip:alice@192.168.1.5:5062>;expires=600;received="sip:6.6.6.6:6"', 'sip:alice@10.0.0.9'] });
    use(m);
    expect(f.add_rcv_param!(0)).toBe(1);
    expect(f.add_rcv_param!(0)).toBe(1);
    expect(m.headerValues('contact')).toEqual(['<sip:alice@192.168.1.5:5062>;expires=600;received="sip:203.0.113.7:40000"', 'sip:alice@10.0.0.9;received="sip:203.0.113.7:40000"']);
    const { reg } = memoryRegistrar();
    const r = new RegistrarImports(reg).functions(api) as unknown as Record<string, Fn>;
    const [tp, tl] = str('location');
    expect(r.save!(tp, tl, 0x02)).toBe(1);
    expect(reg.table('location')!.contactsSync('alice').map((c) => c.received)).toEqual(['sip:203.0.113.7:40000', 'sip:203.0.113.7:40000']);

    const u = msg({ contact: ['<sip:alice@192.168.1.5:5062>;expires=600'] });
    use(u);
    expect(f.add_rcv_param!(1)).toBe(1);
    expect(u.header('contact')).toBe('<sip:alice@192.168.1.5:5062;received=sip:203.0.113.7:40000>;expires=600');
    const tcp = setup({ ...NATED, proto: 'tcp' });
    tcp.use(msg());
    expect(tcp.f.add_rcv_param!(1)).toBe(-1);
  });

  it('set_contact_alias + handle_ruri_alias: the alias of the registered Contact becomes $du', () => {
    const { f, use } = setup();
    const m = msg({ contact: ['<sip:alice@192.168.1.5:5062;transport=udp>;expires=600'] });
    use(m);
    expect(f.set_contact_alias!(0)).toBe(1);
    expect(f.set_contact_alias!(1)).toBe(1); // replaced, not appended
    expect(m.header('contact')).toBe('<sip:alice@192.168.1.5:5062;transport=udp;alias=203.0.113.7~40000~1>;expires=600');

    // add_contact_alias: only when the source differs from the Contact (no transport = UDP)
    const same = msg({ contact: ['<sip:alice@203.0.113.7:40000>'] });
    use(same);
    expect(f.add_contact_alias!()).toBe(2);
    expect(same.header('contact')).toBe('<sip:alice@203.0.113.7:40000>');
    const differs = msg({ contact: ['sip:alice@192.168.1.5'] });
    use(differs);
    expect(f.add_contact_alias!()).toBe(1);
    expect(differs.header('contact')).toBe('<sip:alice@192.168.1.5;alias=203.0.113.7~40000~1>');

    const inv = request('INVITE', 'sip:alice@192.168.1.5:5062;transport=udp;alias=203.0.113.7~40000~1');
    const ctx = use(inv);
    expect(f.handle_ruri_alias!()).toBe(1);
    expect(inv.requestUri).toBe('sip:alice@192.168.1.5:5062;transport=udp');
    expect(ctx.dstUri).toBe('sip:203.0.113.7:40000');
    expect(f.handle_ruri_alias!()).toBe(2); // no alias any more
    const tcp = request('INVITE', 'sip:bob@10.0.0.1;alias=198.51.100.4~5070~2');
    const tctx = use(tcp);
    expect(f.handle_ruri_alias!()).toBe(1);
    expect(tctx.dstUri).toBe('sip:198.51.100.4:5070;transport=tcp');
  });

  it('force_rport: the reply goes to the source port and its Via carries rport/received', () => {
    const { f, use } = setup();
    const m = msg({ via: 'SIP/2.0/UDP 192.168.1.5:5062;branch=z9hG4bK-n1' });
    use(m);
    // without rport the reply would go to the Via port (RFC 3261 §18.2.2), lost behind the NAT
    expect(replyAddress(m.vias[0], NATED)).toEqual({ address: '203.0.113.7', port: 5062 });
    expect(f.force_rport!()).toBe(1);
    expect(f.force_rport!()).toBe(1);
    expect(m.headerValues('via')).toEqual(['SIP/2.0/UDP 192.168.1.5:5062;branch=z9hG4bK-n1;received=203.0.113.7;rport=40000']);
    expect(replyAddress(m.vias[0], NATED)).toEqual({ address: '203.0.113.7', port: 40000 });
    expect(topViaForReply(m.vias[0]!, NATED)).toBe('SIP/2.0/UDP 192.168.1.5:5062;branch=z9hG4bK-n1;received=203.0.113.7;rport=40000');
    expect(m.vias[0]!.branch).toBe('z9hG4bK-n1');
  });

  it('fix_nated_sdp: c=, a=rtcp and o= addresses to the source (or the given ip), attributes once, 2 when nothing changed', () => {
    const { f, use, str } = setup();
    // (the parse helper turns every \n into CRLF, the body's too)
    const sdp = 'v=0\no=- 1 1 IN IP4 192.168.1.5\ns=-\nc=IN IP4 192.168.1.5\nt=0 0\nm=audio 4000 RTP/AVP 0\na=rtcp:4001 IN IP4 192.168.1.5\n';
    const m = msg({ method: 'INVITE', body: sdp });
    use(m);
    expect(f.fix_nated_sdp!(0x02 | 0x01 | 0x04, 0, 0)).toBe(1);
    const once = m.body.toString();
    expect(once).toBe('v=0\r\no=- 1 1 IN IP4 192.168.1.5\r\ns=-\r\nc=IN IP4 203.0.113.7\r\nt=0 0\r\na=direction:active\r\na=nortpproxy:yes\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp:4001 IN IP4 203.0.113.7\r\n');
    expect(m.toBuffer().toString()).toContain(`Content-Length: ${Buffer.byteLength(once)}\r\n`);
    expect(f.fix_nated_sdp!(0x02 | 0x01 | 0x04, 0, 0)).toBe(2); // nothing left to replace, nothing added twice
    expect(m.body.toString()).toBe(once);
    const [p, l] = str('198.51.100.9');
    expect(f.fix_nated_sdp!(0x08, p, l)).toBe(1);
    expect(m.body.toString()).toContain('o=- 1 1 IN IP4 198.51.100.9\r\n');
    const [bp, bl] = str('not-an-ip');
    expect(f.fix_nated_sdp!(0x02, bp, bl)).toBe(-1);
    use(msg({ method: 'INVITE' }));
    expect(f.fix_nated_sdp!(0x02, 0, 0)).toBe(-1); // no body
  });
});
