/**
 * The registrar's bounds (README "Limits"): max_contacts (siphon default 10, Kamailio 0) and its
 * 503, Expires clamped to 2^32-1 (no NaN anywhere: reply, DB row, RPC), lookup appending at most
 * max_branches - 1 branches, min_expires_mode 423.
 */
import { describe, expect, it } from 'vitest';
import { contactToRow, toDatetime } from '../../../host/modules/registrar/location-db.js';
import { MAX_DELTA_SECONDS, parseDeltaSeconds } from '../../../host/modules/registrar/planner.js';
import { registrarRpcMethods } from '../../../host/modules/registrar/rpc.js';
import { contactExpires, LOCAL, memoryRegistrar, register, request, SRC } from './helpers.js';

/** n contacts, 50 per Contact header line (comma-separated, RFC 3261 §7.3.1: max_headers is 256). */
const contacts = (n: number, user = 'bob'): string[] => {
  const all = Array.from({ length: n }, (_, i) => `<sip:${user}${i}@127.0.0.1:${20000 + i}>`);
  const lines: string[] = [];
  for (let i = 0; i < all.length; i += 50) lines.push(all.slice(i, i + 50).join(', '));
  return lines;
};

describe('max_contacts', () => {
  it('defaults to 10: a 300-contact REGISTER is refused with 503 Too Many Registered Contacts and stores nothing', () => {
    const { reg, loc } = memoryRegistrar();
    expect(reg.cfg.max_contacts).toBe(10);
    const r = reg.saveSync('location', register({ to: 'sip:bob@example.com', contacts: contacts(300) }), SRC, LOCAL);
    expect(r.code).toBe(-2);
    expect(r.reply.code).toBe(503);
    expect(r.reply.reason).toBe('Too Many Registered Contacts');
    expect(loc.contactsSync('bob')).toHaveLength(0);
    expect(reg.counters.tooManyContacts).toBe(1);
  });

  it('counts only contacts that register (expires > 0) in the request, as Kamailio insert_contacts', () => {
    const { reg } = memoryRegistrar({ max_contacts: 2 });
    const ok = reg.saveSync('location', register({ contacts: [...contacts(2), '<sip:gone@h1>;expires=0', '<sip:gone@h2>;expires=0'] }), SRC, LOCAL);
    expect(ok.reply.code).toBe(200);
  });

  it('0 = unlimited (Kamailio): 300 contacts are stored, and lookup appends max_branches - 1 of them', () => {
    const { reg, loc } = memoryRegistrar({ max_contacts: 0 });
    const r = reg.saveSync('location', register({ to: 'sip:bob@example.com', contacts: contacts(300) }), SRC, LOCAL);
    expect(r.code).toBe(1);
    expect(loc.contactsSync('bob')).toHaveLength(300);
    const l = reg.lookupSync('location', request('INVITE', 'sip:bob@example.com'));
    expect(l.code).toBe(1);
    expect(l.branches).toHaveLength(11); // max_branches 12: the new R-URI + 11
    expect(reg.counters.branchesCapped).toBe(1);
    reg.maxBranches = 4;
    expect(reg.lookupSync('location', request('INVITE', 'sip:bob@example.com')).branches).toHaveLength(3);
  });

  it('a REGISTER refreshing 200 stored contacts updates each once (hashed match, no duplicate bindings)', () => {
    const { reg, loc, clock } = memoryRegistrar({ max_contacts: 0 });
    reg.saveSync('location', register({ contacts: contacts(200), callId: 'c1', cseq: 1 }), SRC, LOCAL);
    clock.advance(30);
    const r = reg.saveSync('location', register({ contacts: contacts(200), callId: 'c1', cseq: 2, expires: 120 }), SRC, LOCAL);
    expect(r.code).toBe(2);
    const stored = loc.contactsSync('a');
    expect(stored).toHaveLength(200);
    expect(new Set(stored.map((c) => c.contact)).size).toBe(200);
    expect(stored.every((c) => c.cseq === 2 && c.expires === clock.t + 120)).toBe(true);
  });
});

describe('max_location_contacts', () => {
  it('bounds a memory table across AORs: a REGISTER adding past it gets 503 + Retry-After, refreshes and removals still work', () => {
    const { reg, loc } = memoryRegistrar({ max_location_contacts: 5 });
    for (let i = 0; i < 5; i++) expect(reg.saveSync('location', register({ to: `sip:u${i}@example.com`, contacts: [`<sip:u${i}@h>`] }), SRC, LOCAL).reply.code).toBe(200);
    expect(loc.contactCount).toBe(5);
    const full = reg.saveSync('location', register({ to: 'sip:spoofed@example.com', contacts: ['<sip:x@h>'] }), SRC, LOCAL);
    expect(full.reply.code).toBe(503);
    expect(full.reply.headers).toContain('Retry-After: 60');
    expect(loc.contactsSync('spoofed')).toHaveLength(0);
    expect(reg.counters.tableFull).toBe(1);
    expect(reg.saveSync('location', register({ to: 'sip:u0@example.com', cseq: 2, contacts: ['<sip:u0@h>'], expires: 900 }), SRC, LOCAL).reply.code).toBe(200);
    expect(reg.saveSync('location', register({ to: 'sip:u1@example.com', cseq: 2, contacts: ['<sip:u1@h>'], expires: 0 }), SRC, LOCAL).reply.code).toBe(200);
    expect(loc.contactCount).toBe(4);
    expect(reg.saveSync('location', register({ to: 'sip:new@example.com', contacts: ['<sip:n@h>'] }), SRC, LOCAL).reply.code).toBe(200);
  });
});

describe('Expires bounds', () => {
  it('parses delta-seconds linearly and clamps at 2^32-1 (RFC 3261 §20.19)', () => {
    expect(parseDeltaSeconds(' 3600 ')).toBe(3600);
    expect(parseDeltaSeconds(String(2 ** 40))).toBe(MAX_DELTA_SECONDS);
    expect(parseDeltaSeconds('9'.repeat(100_000))).toBe(MAX_DELTA_SECONDS);
    expect(parseDeltaSeconds('12a')).toBeUndefined();
    expect(parseDeltaSeconds('')).toBeUndefined();
    expect(parseDeltaSeconds(' '.repeat(100_000) + 'x')).toBeUndefined();
  });

  it('Expires: 2^40 is clamped: finite expires in the 200, a real DATETIME in the row, a number in ul.lookup', async () => {
    const { reg, loc, clock } = memoryRegistrar();
    const r = reg.saveSync('location', register({ contacts: ['<sip:a@127.0.0.1:18501>'], expires: 2 ** 40 }), SRC, LOCAL);
    expect(r.reply.code).toBe(200);
    expect(contactExpires(r.reply.headers)['sip:a@127.0.0.1:18501']).toBe(MAX_DELTA_SECONDS);
    const c = loc.contactsSync('a')[0]!;
    expect(c.expires).toBe(clock.t + MAX_DELTA_SECONDS);
    const row = contactToRow(c);
    expect(row.expires).toMatch(/^2\d{3}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(JSON.stringify(row)).not.toMatch(/NaN|Infinity/);
    const p = reg.saveSync('location', register({ cseq: 2, contacts: [`<sip:a@127.0.0.1:18501>;expires=${'9'.repeat(400)}`] }), SRC, LOCAL);
    expect(contactExpires(p.reply.headers)['sip:a@127.0.0.1:18501']).toBe(MAX_DELTA_SECONDS);
    const lookup = registrarRpcMethods(reg).find((m) => m.name === 'ul.lookup')!;
    const out = JSON.stringify(await lookup.handler(['location', 'a']));
    expect(out).toContain(`"Expires":${MAX_DELTA_SECONDS}`);
    expect(out).not.toMatch(/NaN|null|Infinity/);
    const add = registrarRpcMethods(reg).find((m) => m.name === 'ul.add')!;
    await add.handler(['location', 'z', 'sip:z@h', '9'.repeat(400), '1', '0', '0', '0', '4294967295']).catch(() => undefined);
    for (const cz of loc.contactsSync('z')) expect(Number.isFinite(cz.expires)).toBe(true);
  });

  it('max_expires lowers, min_expires raises, min_expires_mode 1 answers 423 with Min-Expires', () => {
    const { reg } = memoryRegistrar({ max_expires: 7200 });
    expect(contactExpires(reg.saveSync('location', register({ contacts: ['<sip:a@h>'], expires: 2 ** 40 }), SRC, LOCAL).reply.headers)['sip:a@h']).toBe(7200);
    const low = reg.saveSync('location', register({ cseq: 2, contacts: ['<sip:a@h>'], expires: 5 }), SRC, LOCAL);
    expect(contactExpires(low.reply.headers)['sip:a@h']).toBe(60);
    const strict = memoryRegistrar({ min_expires_mode: 1 }).reg.saveSync('location', register({ contacts: ['<sip:a@h>'], expires: 5 }), SRC, LOCAL);
    expect(strict.reply.code).toBe(423);
    expect(strict.reply.reason).toBe('Interval Too Brief');
    expect(strict.reply.headers).toContain('Min-Expires: 60');
  });

  it('toDatetime never prints NaN', () => {
    expect(toDatetime(Number.NaN)).toMatch(/^9999-/);
    expect(toDatetime(Number.POSITIVE_INFINITY)).toMatch(/^9999-/);
    expect(toDatetime(1e20)).toMatch(/^9999-/);
  });
});
