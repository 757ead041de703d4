/**
 * save()/lookup() semantics over REGISTERs parsed by the real parser, in memory mode (db_mode 0)
 * with a clock the test moves: RFC 3261 §10.3 and Kamailio registrar behaviour.
 */
import { describe, expect, it } from 'vitest';
import { SaveFlag } from '../../../host/modules/registrar/registrar.js';
import { contactExpires, LOCAL, memoryRegistrar, register, request, SRC } from './helpers.js';

describe('save', () => {
  it('stores several contacts per AOR and lists all of them with their expires in the 200', () => {
    const { reg } = memoryRegistrar();
    const r = reg.saveSync(
      'location',
      register({ contacts: ['<sip:alice@127.0.0.1:18501>;q=0.5', '<sip:alice@127.0.0.1:18503>;expires=120', '"Desk" <sip:alice@10.0.0.9:5060>;q=1.0'], expires: 600 }),
      SRC,
      LOCAL,
    );
    expect(r.code).toBe(1);
    expect(r.reply.code).toBe(200);
    expect(r.reply.reason).toBe('OK');
    expect(contactExpires(r.reply.headers)).toEqual({
      'sip:alice@127.0.0.1:18501': 600,
      'sip:alice@127.0.0.1:18503': 120,
      'sip:alice@10.0.0.9:5060': 600,
    });
    // highest q first in the reply
    // no `received`: the route asked for none (nat_received 0, Kamailio's behaviour)
    expect(r.reply.headers[0]).toBe('Contact: <sip:alice@10.0.0.9:5060>;expires=600;q=1');
    expect(reg.counters.accepted).toBe(1);
  });

  it('stores `received` only when asked: the route (fix_nated_register), a received Contact param, or nat_received', () => {
    const { reg } = memoryRegistrar();
    // the route's received (Kamailio received_avp) goes to every contact of the REGISTER
    const a = reg.saveSync('location', register({ contacts: ['<sip:a@192.168.1.5:5062>'] }), SRC, LOCAL, 0, { received: 'sip:127.0.0.1:18501' });
    expect(a.reply.headers).toEqual(['Contact: <sip:a@192.168.1.5:5062>;expires=3600;received="sip:127.0.0.1:18501"']);
    // the route's received wins over a received Contact parameter the UA may have written itself
    const own = reg.saveSync('location', register({ to: 'sip:c@example.com', contacts: ['<sip:c@10.0.0.2>;received="sip:198.51.100.7:7070"'] }), SRC, LOCAL, 0, { received: 'sip:127.0.0.1:18501' });
    expect(own.reply.headers).toEqual(['Contact: <sip:c@10.0.0.2>;expires=3600;received="sip:127.0.0.1:18501"']);
    // add_rcv_param's Contact parameter is honoured; a garbage one is ignored
    const b = reg.saveSync(
      'location',
      register({ to: 'sip:b@example.com', contacts: ['<sip:b@10.0.0.2>;received="sip:198.51.100.7:7070;transport=tcp"', '<sip:b@10.0.0.3>;received="sip:evil.example.com:5060"', `<sip:b@10.0.0.4>;received="sip:1.2.3.4:${'9'.repeat(200)}"`] }),
      SRC,
      LOCAL,
    );
    expect(b.reply.headers).toHaveLength(3);
    expect(b.reply.headers.filter((h) => h.includes('received='))).toEqual(['Contact: <sip:b@10.0.0.2>;expires=3600;received="sip:198.51.100.7:7070;transport=tcp"']);
    // nat_received 1 (the former default): the source whenever it differs from the Contact
    const old = memoryRegistrar({ nat_received: 1 });
    const c = old.reg.saveSync('location', register({ contacts: ['<sip:a@10.0.0.9:5060>', '<sip:a@127.0.0.1:18501>'] }), SRC, LOCAL);
    expect(c.reply.headers.filter((h) => h.includes('received='))).toEqual(['Contact: <sip:a@10.0.0.9:5060>;expires=3600;received="sip:127.0.0.1:18501"']);
  });

  it('stores the branch flags as cflags (Kamailio save) and keeps them when the caller gives none', () => {
    const { reg, loc } = memoryRegistrar();
    reg.saveSync('location', register({ contacts: ['<sip:a@h1>'] }), SRC, LOCAL, 0, { bflags: 1 << 6 });
    expect(loc.contactsSync('a')[0]!.cflags).toBe(64);
    reg.saveSync('location', register({ cseq: 2, contacts: ['<sip:a@h1>'] }), SRC, LOCAL);
    expect(loc.contactsSync('a')[0]!.cflags).toBe(64);
    reg.saveSync('location', register({ cseq: 3, contacts: ['<sip:a@h1>'] }), SRC, LOCAL, 0, { bflags: 0 });
    expect(loc.contactsSync('a')[0]!.cflags).toBe(0);
  });

  it('takes the contact expires param over the Expires header over default_expires', () => {
    const { reg } = memoryRegistrar();
    const a = reg.saveSync('location', register({ contacts: ['<sip:a@127.0.0.1:18501>'] }), SRC, LOCAL);
    expect(contactExpires(a.reply.headers)['sip:a@127.0.0.1:18501']).toBe(3600);
    const b = reg.saveSync('location', register({ cseq: 2, contacts: ['<sip:a@127.0.0.1:18501>;expires=90'], expires: 300 }), SRC, LOCAL);
    expect(b.code).toBe(2);
    expect(contactExpires(b.reply.headers)['sip:a@127.0.0.1:18501']).toBe(90);
    const c = reg.saveSync('location', register({ cseq: 3, contacts: ['<sip:a@127.0.0.1:18501>'], expires: 300 }), SRC, LOCAL);
    expect(contactExpires(c.reply.headers)['sip:a@127.0.0.1:18501']).toBe(300);
  });

  it('raises expires below min_expires, caps at max_expires, or answers 423 with Min-Expires', () => {
    const { reg } = memoryRegistrar({ max_expires: 1000 });
    const r = reg.saveSync('location', register({ contacts: ['<sip:a@h1>;expires=10', '<sip:a@h2>;expires=5000'] }), SRC, LOCAL);
    expect(contactExpires(r.reply.headers)).toEqual({ 'sip:a@h1': 60, 'sip:a@h2': 1000 });

    const strict = memoryRegistrar({ min_expires_mode: 1, min_expires: 120 });
    const t = strict.reg.saveSync('location', register({ contacts: ['<sip:a@h1>;expires=10'] }), SRC, LOCAL);
    expect(t.code).toBe(-1);
    expect(t.reply).toEqual({ code: 423, reason: 'Interval Too Brief', headers: ['Min-Expires: 120'] });
    expect(strict.reg.registeredSync('location', 'sip:a@example.com')).toBe(-1);
    expect(strict.reg.counters.rejected).toBe(1);
  });

  it('refuses a new contact beyond max_contacts with 503 (-2) but still refreshes existing ones', () => {
    const { reg } = memoryRegistrar({ max_contacts: 2, retry_after: 30 });
    expect(reg.saveSync('location', register({ contacts: ['<sip:a@h1>', '<sip:a@h2>'] }), SRC, LOCAL).code).toBe(1);
    const r = reg.saveSync('location', register({ callId: 'other', contacts: ['<sip:a@h3>'] }), SRC, LOCAL);
    expect(r.code).toBe(-2);
    expect(r.reply.code).toBe(503);
    expect(r.reply.headers).toEqual(['Retry-After: 30']);
    const refresh = reg.saveSync('location', register({ cseq: 2, contacts: ['<sip:a@h2>;expires=100'] }), SRC, LOCAL);
    expect(refresh.code).toBe(2);
    expect(Object.keys(contactExpires(refresh.reply.headers)).sort()).toEqual(['sip:a@h1', 'sip:a@h2']);
  });

  it('removes one contact with expires=0 and all with `Contact: *` + Expires: 0', () => {
    const { reg } = memoryRegistrar();
    reg.saveSync('location', register({ contacts: ['<sip:a@h1>', '<sip:a@h2>', '<sip:a@h3>'] }), SRC, LOCAL);
    const one = reg.saveSync('location', register({ cseq: 2, contacts: ['<sip:a@h2>;expires=0'] }), SRC, LOCAL);
    expect(one.code).toBe(3);
    expect(Object.keys(contactExpires(one.reply.headers)).sort()).toEqual(['sip:a@h1', 'sip:a@h3']);

    const bad = reg.saveSync('location', register({ cseq: 3, contacts: ['*'], expires: 60 }), SRC, LOCAL);
    expect(bad.reply.code).toBe(400);
    const mixed = reg.saveSync('location', register({ cseq: 3, contacts: ['*', '<sip:a@h9>'], expires: 0 }), SRC, LOCAL);
    expect(mixed.reply.code).toBe(400);
    expect(reg.lookupSync('location', request('INVITE', 'sip:a@example.com')).code).toBe(1);

    const all = reg.saveSync('location', register({ cseq: 4, contacts: ['*'], expires: 0 }), SRC, LOCAL);
    expect(all.code).toBe(3);
    expect(all.reply).toEqual({ code: 200, reason: 'OK', headers: [] });
    expect(reg.lookupSync('location', request('INVITE', 'sip:a@example.com')).code).toBe(-1);
  });

  it('answers a REGISTER without Contact with the current bindings (4, query)', () => {
    const { reg, clock } = memoryRegistrar();
    reg.saveSync('location', register({ contacts: ['<sip:a@h1>;expires=600', '<sip:a@h2>;expires=3000'] }), SRC, LOCAL);
    clock.advance(100);
    const q = reg.saveSync('location', register({ cseq: 2 }), SRC, LOCAL);
    expect(q.code).toBe(4);
    expect(contactExpires(q.reply.headers)).toEqual({ 'sip:a@h1': 500, 'sip:a@h2': 2900 });
  });

  it('ignores an older CSeq on the same Call-ID with a 200 (or 400 with strict_cseq)', () => {
    const { reg } = memoryRegistrar();
    reg.saveSync('location', register({ cseq: 5, contacts: ['<sip:a@h1>;expires=600'] }), SRC, LOCAL);
    const old = reg.saveSync('location', register({ cseq: 3, contacts: ['<sip:a@h1>;expires=0'] }), SRC, LOCAL);
    expect(old.code).toBe(4);
    expect(old.reply.code).toBe(200);
    expect(contactExpires(old.reply.headers)).toEqual({ 'sip:a@h1': 600 });
    // another Call-ID (a different device or a reboot) is not ordered against it
    const other = reg.saveSync('location', register({ callId: 'reboot', cseq: 1, contacts: ['<sip:a@h1>;expires=0'] }), SRC, LOCAL);
    expect(other.code).toBe(3);

    const strict = memoryRegistrar({ strict_cseq: true });
    strict.reg.saveSync('location', register({ cseq: 5, contacts: ['<sip:a@h1>'] }), SRC, LOCAL);
    const rej = strict.reg.saveSync('location', register({ cseq: 4, contacts: ['<sip:a@h1>;expires=0'] }), SRC, LOCAL);
    expect(rej.reply.code).toBe(400);
    expect(strict.reg.registeredSync('location', 'sip:a@example.com')).toBe(1);
  });

  it('treats a same-CSeq repeat within cseq_delay as a retransmission, later as out of order', () => {
    const { reg, clock } = memoryRegistrar({ cseq_delay: 20 });
    const first = reg.saveSync('location', register({ cseq: 7, contacts: ['<sip:a@h1>;expires=600'] }), SRC, LOCAL);
    clock.advance(5);
    const again = reg.saveSync('location', register({ cseq: 7, contacts: ['<sip:a@h1>;expires=600'] }), SRC, LOCAL);
    expect(again.reply.code).toBe(200);
    expect(again.code).toBe(4);
    // unchanged binding: the remaining time kept running
    expect(contactExpires(again.reply.headers)['sip:a@h1']).toBe(595);
    expect(contactExpires(first.reply.headers)['sip:a@h1']).toBe(600);
    clock.advance(30);
    const late = reg.saveSync('location', register({ cseq: 7, contacts: ['<sip:a@h1>;expires=0'] }), SRC, LOCAL);
    expect(late.code).toBe(4);
    expect(reg.registeredSync('location', 'sip:a@example.com')).toBe(1);
  });

  it('keeps a single contact with flag 0x04', () => {
    const { reg } = memoryRegistrar();
    reg.saveSync('location', register({ contacts: ['<sip:a@h1>', '<sip:a@h2>'] }), SRC, LOCAL);
    const r = reg.saveSync('location', register({ cseq: 2, contacts: ['<sip:a@h3>'] }), SRC, LOCAL, SaveFlag.SINGLE_CONTACT);
    expect(r.code).toBe(1);
    expect(Object.keys(contactExpires(r.reply.headers))).toEqual(['sip:a@h3']);
  });

  it('rejects malformed REGISTERs with 400', () => {
    const { reg } = memoryRegistrar();
    expect(reg.saveSync('location', register({ contacts: ['<sip:a@h1'] }), SRC, LOCAL).reply.code).toBe(400);
    // a q that is no qvalue (RFC 3261 §25.1): 400, as Kamailio (test/oracle/registrar.test.ts)
    expect(reg.saveSync('location', register({ contacts: ['<sip:a@h1>;q=1.5'] }), SRC, LOCAL).reply.code).toBe(400);
    expect(reg.saveSync('location', register({ contacts: ['<sip:a@h1>;q=high'] }), SRC, LOCAL).reply.code).toBe(400);
    expect(reg.saveSync('location', register({ to: 'sip:example.com', contacts: ['<sip:a@h1>'] }), SRC, LOCAL).reply.code).toBe(400);
    expect(reg.saveSync('nosuchtable', register({ contacts: ['<sip:a@h1>'] }), SRC, LOCAL).reply.code).toBe(500);
  });

  it('an unreadable Expires counts as absent: default_expires (RFC 3261 §20.10, as Kamailio)', () => {
    const { reg } = memoryRegistrar();
    const r = reg.saveSync('location', register({ contacts: ['<sip:a@h1>'], expires: 'soon' }), SRC, LOCAL);
    expect(r.reply.code).toBe(200);
    expect(r.reply.headers.join('\n')).toContain('<sip:a@h1>;expires=3600');
  });
});

describe('lookup', () => {
  it('orders by q then most recent, rewrites the R-URI and returns the others as branches', () => {
    const { reg, clock } = memoryRegistrar({ nat_received: 1 });
    reg.saveSync('location', register({ to: 'sip:alice@example.com', contacts: ['<sip:alice@127.0.0.1:18501>;q=0.1'] }), SRC, LOCAL);
    clock.advance(1);
    reg.saveSync('location', register({ to: 'sip:alice@example.com', callId: 'c2', contacts: ['<sip:alice@127.0.0.1:18501;transport=tcp>;q=0.7'] }), SRC, LOCAL);
    clock.advance(1);
    reg.saveSync('location', register({ to: 'sip:alice@example.com', callId: 'c3', contacts: ['<sip:alice@10.1.1.1:5060>;q=0.7'] }), SRC, LOCAL);
    const r = reg.lookupSync('location', request('INVITE', 'sip:ALICE@example.com'));
    expect(r.code).toBe(1);
    // same q: the most recent first; its source differs from the Contact, so (nat_received 1) $du = received
    expect(r.ruri).toBe('sip:alice@10.1.1.1:5060');
    expect(r.dstUri).toBe('sip:127.0.0.1:18501');
    expect(r.branches.map((b) => b.uri)).toEqual(['sip:alice@127.0.0.1:18501;transport=tcp', 'sip:alice@127.0.0.1:18501']);
    expect(r.branches[1]!.dstUri).toBeNull();

    const noBranches = memoryRegistrar({ append_branches: false });
    noBranches.reg.saveSync('location', register({ contacts: ['<sip:a@h1>', '<sip:a@h2>'] }), SRC, LOCAL);
    expect(noBranches.reg.lookupSync('location', request('INVITE', 'sip:a@example.com')).branches).toEqual([]);
  });

  it('returns -1 for unknown or expired AORs and -2 when method_filtering excludes the method', () => {
    const { reg, clock } = memoryRegistrar({ method_filtering: true });
    expect(reg.lookupSync('location', request('INVITE', 'sip:nobody@example.com')).code).toBe(-1);
    reg.saveSync('location', register({ contacts: ['<sip:a@h1>;expires=60'], extra: ['Allow: INVITE, ACK, BYE, CANCEL'] }), SRC, LOCAL);
    expect(reg.lookupSync('location', request('INVITE', 'sip:a@example.com')).code).toBe(1);
    expect(reg.lookupSync('location', request('MESSAGE', 'sip:a@example.com')).code).toBe(-2);
    clock.advance(61);
    expect(reg.lookupSync('location', request('INVITE', 'sip:a@example.com')).code).toBe(-1);
    expect(reg.lookupSync('location', request('INVITE', 'sip:example.com')).code).toBe(-3);
  });

  it('keys by user@domain with use_domain and honours case_sensitive', () => {
    const { reg } = memoryRegistrar({ use_domain: true });
    reg.saveSync('location', register({ to: 'sip:Bob@Example.COM', contacts: ['<sip:bob@h1>'] }), SRC, LOCAL);
    expect(reg.lookupSync('location', request('INVITE', 'sip:bob@example.com')).code).toBe(1);
    expect(reg.lookupSync('location', request('INVITE', 'sip:bob@other.org')).code).toBe(-1);
    const cs = memoryRegistrar({ case_sensitive: true });
    cs.reg.saveSync('location', register({ to: 'sip:Bob@example.com', contacts: ['<sip:bob@h1>'] }), SRC, LOCAL);
    expect(cs.reg.lookupSync('location', request('INVITE', 'sip:bob@example.com')).code).toBe(-1);
    expect(cs.reg.lookupSync('location', request('INVITE', 'sip:Bob@example.com')).code).toBe(1);
  });

  it('registered() and unregister() by AOR and by ruid', () => {
    const { reg, loc } = memoryRegistrar();
    reg.saveSync('location', register({ contacts: ['<sip:a@h1>', '<sip:a@h2>'] }), SRC, LOCAL);
    expect(reg.registeredSync('location', 'sip:a@example.com')).toBe(1);
    const ruid = loc.contactsSync('a').find((c) => c.contact === 'sip:a@h1')!.ruid;
    expect(reg.unregisterSync('location', 'sip:a@example.com', ruid)).toBe(1);
    expect(loc.contactsSync('a').map((c) => c.contact)).toEqual(['sip:a@h2']);
    expect(reg.unregisterSync('location', 'sip:a@example.com')).toBe(1);
    expect(reg.unregisterSync('location', 'sip:a@example.com')).toBe(-1);
    expect(reg.registeredSync('location', 'sip:a@example.com')).toBe(-1);
  });
});

describe('expiry timer', () => {
  it('sweep() removes expired contacts and counts them', async () => {
    const { reg, loc, clock } = memoryRegistrar();
    reg.saveSync('location', register({ contacts: ['<sip:a@h1>;expires=60', '<sip:a@h2>;expires=600'] }), SRC, LOCAL);
    reg.saveSync('location', register({ to: 'sip:b@example.com', contacts: ['<sip:b@h1>;expires=60'] }), SRC, LOCAL);
    clock.advance(61);
    expect(await loc.sweep()).toBe(2);
    expect(loc.counters.expired).toBe(2);
    expect(loc.contactsSync('a').map((c) => c.contact)).toEqual(['sip:a@h2']);
    expect(loc.contactsSync('b')).toEqual([]);
    expect(loc.countsSync()).toEqual({ users: 1, contacts: 1 });
  });

  it('runs on timer_interval with the real clock', async () => {
    const { Location } = await import('../../../host/modules/registrar/location.js');
    const { reg } = memoryRegistrar({ min_expires: 0 });
    const loc = new Location({ name: 'short', dbMode: 0, backend: null, timerInterval: 1, log: (reg as unknown as { log: never }).log });
    reg.addTable(loc);
    reg.saveSync('short', register({ contacts: ['<sip:a@h1>;expires=1'] }), SRC, LOCAL);
    expect(loc.contactsSync('a')).toHaveLength(1);
    loc.start();
    try {
      await expect.poll(() => loc.contactsSync('a').length, { timeout: 10_000, interval: 200 }).toBe(0);
      expect(loc.counters.expired).toBe(1);
    } finally {
      await loc.stop();
    }
  });
});
