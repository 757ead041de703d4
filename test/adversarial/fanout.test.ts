/**
 * Amplification through registrations (issue 10): one REGISTER with 300 contacts plus one INVITE
 * made 821 INVITEs. Over real UDP sockets on 127.0.0.1, with the default plugin (save / lookup /
 * t_relay) in an in-process node:
 *   - with Kamailio's max_contacts 0 (unlimited) the 300 bindings are stored, and the INVITE still
 *     reaches at most core.max_branches (12) contacts: the INVITEs arriving at the UAS sockets are counted;
 *   - with siphon's default max_contacts (10) the REGISTER is refused 503 Too Many Registered Contacts;
 *   - an Expires of 2^40 is clamped, the 200 lists a finite expires.
 * Node ports from freePorts() (a listen address needs a port); the UAs bind port 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SiphonNode } from '../../host/server/app.js';
import { buildPlugins } from '../integration/modules/helpers.js';
import { freePorts } from '../helpers/ports.js';
import { invite, registerText, startDefaultNode, Ua, until } from './helpers.js';

let UNLIMITED_PORT = 0;
let DEFAULT_PORT = 0;

function node(port: number, registrar: string): Promise<SiphonNode> {
  return startDefaultNode(port, [], [`registrar: { ${registrar} }`]);
}

/** `n` contacts spread over the UAS sockets, 50 per Contact header line. */
function contactLines(user: string, n: number, uas: Ua[]): string[] {
  const all = Array.from({ length: n }, (_, i) => `<sip:${user}-${i}@127.0.0.1:${uas[i % uas.length]!.port}>`);
  const lines: string[] = [];
  for (let i = 0; i < all.length; i += 50) lines.push(all.slice(i, i + 50).join(','));
  return lines;
}

let unlimited: SiphonNode;
let defaults: SiphonNode;
let uac: Ua;
const uas: Ua[] = [];

beforeAll(async () => {
  await buildPlugins();
  [UNLIMITED_PORT, DEFAULT_PORT] = (await freePorts(2)) as [number, number];
  // nat_received 0: the contacts are reached at their own addresses, not at the REGISTER's source
  unlimited = await node(UNLIMITED_PORT, 'db_mode: 0, max_contacts: 0, nat_received: 0');
  defaults = await node(DEFAULT_PORT, 'db_mode: 0, nat_received: 0');
  uac = await Ua.open();
  for (let i = 0; i < 20; i++) {
    const u = await Ua.open();
    u.answer = { INVITE: [486, 'Busy Here'] };
    uas.push(u);
  }
}, 180_000);

afterAll(async () => {
  for (const u of uas) await u.close();
  await uac?.close();
  await unlimited?.stop();
  await defaults?.stop();
});

describe('fan-out bounds', () => {
  it('300 contacts stored (max_contacts 0): one INVITE reaches at most max_branches (12) of them', async () => {
    const reg = registerText(uac, UNLIMITED_PORT, 'bob', contactLines('bob', 300, uas), { callId: 'fanout-reg-1', expires: '3600' });
    uac.send(reg, UNLIMITED_PORT);
    await until(() => uac.responses('fanout-reg-1').length > 0, 'the 200 to the REGISTER');
    const ok = uac.responses('fanout-reg-1')[0]!.msg;
    expect(ok.status).toBe(200);
    expect(ok.headerValues('contact')).toHaveLength(300);

    uac.send(invite(uac, `sip:bob@127.0.0.1:${UNLIMITED_PORT}`, 'fanout-inv-1', 'z9hG4bK-fanout-inv-1'), UNLIMITED_PORT);
    // every branch is answered 486 by its UAS: the final reaches the UAC once all branches ended
    await until(() => uac.responses('fanout-inv-1').some((g) => g.msg.status >= 300), 'the final response to the INVITE');
    const invites = uas.flatMap((u) => u.requests('INVITE')).filter((g) => g.msg.callId === 'fanout-inv-1');
    const branches = new Set(invites.map((g) => g.msg.vias[0]!.branch));
    expect(branches.size).toBe(12);
    expect(new Set(invites.map((g) => g.msg.requestUri)).size).toBe(12);
    expect(uac.responses('fanout-inv-1').find((g) => g.msg.status >= 300)!.msg.status).toBe(486);
    const reg1 = unlimited.modules.find((m) => m.name === 'registrar')!.statistics();
    expect(reg1.lookup_branches_capped).toBe(1);
  });

  it("siphon's default max_contacts (10) refuses the 300-contact REGISTER with 503 and stores nothing", async () => {
    uac.send(registerText(uac, DEFAULT_PORT, 'carol', contactLines('carol', 300, uas), { callId: 'fanout-reg-2' }), DEFAULT_PORT);
    await until(() => uac.responses('fanout-reg-2').length > 0, 'the answer to the REGISTER');
    const r = uac.responses('fanout-reg-2')[0]!;
    expect(r.msg.status).toBe(503);
    expect(r.msg.reason).toBe('Too Many Registered Contacts');
    // nothing stored: an INVITE to carol gets 404 and no UAS sees a request
    uac.send(invite(uac, `sip:carol@127.0.0.1:${DEFAULT_PORT}`, 'fanout-inv-2', 'z9hG4bK-fanout-inv-2'), DEFAULT_PORT);
    await until(() => uac.responses('fanout-inv-2').some((g) => g.msg.status >= 300), 'the 404');
    expect(uac.responses('fanout-inv-2').find((g) => g.msg.status >= 300)!.msg.status).toBe(404);
    expect(uas.flatMap((u) => u.requests('INVITE')).filter((g) => g.msg.callId === 'fanout-inv-2')).toHaveLength(0);
    expect(defaults.modules.find((m) => m.name === 'registrar')!.statistics().too_many_contacts).toBe(1);
  });

  it('Expires: 2^40 is clamped to 2^32-1: the 200 lists a finite expires', async () => {
    uac.send(registerText(uac, DEFAULT_PORT, 'dave', [`<sip:dave@127.0.0.1:${uas[0]!.port}>`], { callId: 'fanout-reg-3', expires: String(2 ** 40) }), DEFAULT_PORT);
    await until(() => uac.responses('fanout-reg-3').length > 0, 'the 200');
    const r = uac.responses('fanout-reg-3')[0]!;
    expect(r.msg.status).toBe(200);
    expect(r.text).toMatch(/Contact: <sip:dave@127\.0\.0\.1:\d+>;expires=4294967295\r\n/);
    expect(r.text).not.toMatch(/NaN|Infinity/);
  });
});
