/**
 * nathelper against hostile input (host/modules/nathelper): huge and garbage Contacts, alias
 * garbage in the R-URI, many Contacts, an SDP body of endless `c=` lines, plugins calling the
 * edits in a loop, and a location table far larger than one keepalive round. Every case ends with a
 * bounded answer: -1 and nothing changed, or an edit that does not grow with repetition; gas is
 * charged in proportion to what was read.
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { Endpoint, MessageContext } from '../../host/core/context.js';
import { MAX_EDITED_CONTACTS, NatPinger, NathelperImports, NathelperStats, resolveNathelperConfig } from '../../host/modules/nathelper/index.js';
import type { SipMessage } from '../../host/sip/types.js';
import { hostApi, LOCAL, memoryRegistrar, parse, register, SRC, type Fn } from '../unit/registrar/helpers.js';

const NATED: Endpoint = { address: '203.0.113.7', port: 40000, proto: 'udp', family: 4 };

function message(contacts: string[], opts: { ruri?: string; body?: string } = {}): SipMessage {
  const body = opts.body ?? '';
  return parse(
    [
      `INVITE ${opts.ruri ?? 'sip:bob@example.com'} SIP/2.0`,
      'Via: SIP/2.0/UDP 192.168.1.5:5062;branch=z9hG4bK-adv',
      'Max-Forwards: 70',
      'From: <sip:alice@example.com>;tag=f1',
      'To: <sip:bob@example.com>',
      'Call-ID: adv-1',
      'CSeq: 1 INVITE',
      ...contacts.map((c) => `Contact: ${c}`),
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\n'),
  );
}

function rig() {
  let ctx: MessageContext | null = null;
  const { api, gas } = hostApi(() => ctx);
  const f = new NathelperImports(resolveNathelperConfig({}), new NathelperStats()).functions(api) as unknown as Record<string, Fn>;
  const use = (m: SipMessage): MessageContext => {
    ctx = {
      id: 1, msg: m, source: NATED, local: LOCAL, dstUri: null, vars: new Map(), replied: false,
      log: { error: () => undefined } as never, slReply: () => true,
    };
    return ctx;
  };
  return { f, use, gas };
}

describe('nathelper on hostile messages', () => {
  it('a 60 KB Contact is edited once per call, charged by its size, and repeated calls never grow the message', () => {
    const { f, use, gas } = rig();
    const big = `<sip:${'u'.repeat(30_000)}@192.168.1.5:5062;${'p=1;'.repeat(7_000)}x=y>;expires=60`;
    const m = use(message([big])).msg;
    const before = gas();
    expect(f.fix_nated_contact!()).toBe(1);
    expect(gas() - before).toBeGreaterThan(big.length / 8 - 1);
    const sizes = new Set<number>();
    for (let i = 0; i < 50; i++) {
      expect(f.fix_nated_contact!()).toBe(1);
      expect(f.set_contact_alias!(0)).toBe(1);
      expect(f.add_rcv_param!(0)).toBe(1);
      expect(f.force_rport!()).toBe(1);
      sizes.add(m.toBuffer().length);
    }
    expect(sizes.size).toBe(1); // the same message after every round of edits
    expect(m.header('contact')!.split('alias=').length).toBe(2);
  });

  it('garbage Contacts: -1 and the message untouched', () => {
    const { f, use } = rig();
    for (const c of ['<sip:alice@192.168.1.5', '"unterminated <sip:a@b>', 'sip:', '<tel:+1234>', '<sip:a@[::1>', '<sip:a@host:99999>', '<sip:a@host:5x>', '<mailto:a@b>']) {
      const m = use(message([c])).msg;
      const text = m.toBuffer().toString();
      expect([c, f.fix_nated_contact!()]).toEqual([c, -1]);
      expect([c, f.set_contact_alias!(0)]).toEqual([c, -1]);
      expect(m.toBuffer().toString()).toBe(text);
    }
  });

  it('alias garbage in the R-URI: -1, R-URI and $du unchanged', () => {
    const { f, use } = rig();
    for (const alias of ['1.2.3.4~99999~1', '1.2.3.4~0~1', 'evil.example.com~5060~1', '1.2.3.4~5060~9', '1.2.3.4~5060', '1.2.3.4~5060~1~1', '', `${'9'.repeat(10_000)}~1~1`, '::1~5060~1x']) {
      const ruri = `sip:bob@10.0.0.1;alias=${alias}`;
      const ctx = use(message(['<sip:a@b>'], { ruri: alias === '' ? 'sip:bob@10.0.0.1;alias' : ruri }));
      const want = ctx.msg.requestUri;
      expect([alias, f.handle_ruri_alias!()]).toEqual([alias, -1]);
      expect(ctx.msg.requestUri).toBe(want);
      expect(ctx.dstUri).toBeNull();
    }
  });

  it('1,000 Contacts: add_rcv_param refuses past 64, nat_uac_test and fix_nated_contact read only the first', () => {
    const { f, use } = rig();
    const many = Array.from({ length: 1000 }, (_, i) => `<sip:u${i}@10.0.${i >> 8}.${i & 255}>`);
    const m = use(message([many.join(', ')])).msg;
    const text = m.toBuffer().toString();
    expect(f.add_rcv_param!(0)).toBe(-1);
    expect(m.toBuffer().toString()).toBe(text);
    expect(f.nat_uac_test!(1)).toBe(1);
    expect(f.fix_nated_contact!()).toBe(1);
    expect(m.headerValues('contact')).toHaveLength(1000);
    expect(MAX_EDITED_CONTACTS).toBe(64);
  });

  it('an SDP of 1,000 c= lines: only the first 512 are looked at', () => {
    const { f, use } = rig();
    const lines = (n: number, at: number) => Array.from({ length: n }, (_, i) => `c=IN IP4 ${i === at ? '192.168.9.9' : '203.0.113.7'}`).join('\r\n');
    use(message(['<sip:a@203.0.113.7:40000>'], { body: lines(1000, 10) }));
    expect(f.nat_uac_test!(8)).toBe(1);
    use(message(['<sip:a@203.0.113.7:40000>'], { body: lines(1000, 600) }));
    expect(f.nat_uac_test!(8)).toBe(-1);
    expect(f.nat_uac_test!(256)).toBe(-1);
  });

  it('the registrar ignores a received Contact parameter that is not sip:<numeric IP>', () => {
    const { reg } = memoryRegistrar({ max_contacts: 0 });
    const bad = ['"sip:victim.example.com:5060"', `"sip:1.2.3.4:5060;${'x'.repeat(200)}"`, '"sips:1.2.3.4"', '"sip:user@1.2.3.4"', '"<sip:1.2.3.4>"'];
    const r = reg.saveSync('location', register({ contacts: bad.map((b, i) => `<sip:a@10.0.0.${i + 1}>;received=${b}`) }), SRC, LOCAL);
    expect(r.code).toBe(1);
    expect(reg.table('location')!.contactsSync('a').map((c) => c.received)).toEqual(bad.map(() => null));
  });

  it('5,000 registered contacts: one round holds natping_max_contacts, sent 1/interval per second', () => {
    const { reg } = memoryRegistrar({ max_contacts: 0, max_location_contacts: 0 });
    for (let i = 0; i < 5000; i++) {
      reg.saveSync('location', register({ to: `sip:u${i}@example.com`, callId: `c${i}`, contacts: [`<sip:u${i}@198.51.${i >> 8}.${i & 255}>`] }), SRC, LOCAL);
    }
    const stats = new NathelperStats();
    const p = new NatPinger(resolveNathelperConfig({ natping_interval: 10, natping_max_contacts: 100 }), pino({ level: 'silent' }), stats);
    let sent = 0;
    p.attach(reg, { sendUdp: () => (sent++, true) });
    p.onTick();
    expect(p.roundSize).toBe(100);
    expect(stats.capped).toBe(4900);
    expect(sent).toBe(10);
    for (let i = 0; i < 20; i++) p.onTick();
    expect(sent).toBe(210); // three rounds: 100 + 100 + 10
  });
});
