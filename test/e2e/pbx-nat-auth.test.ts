/**
 * route[AUTH] and route[NATDETECT]/[DLGURI]/[NATMANAGE] of plugins/default (kamailio.cfg WITH_AUTH and
 * WITH_NAT) through `npm start`'s configuration, run by the real `siphon start` binary, with raw UDP user
 * agents on ephemeral ports (test/e2e/pbx-sip.ts) and subscribers added by `siphon subscriber add`:
 *   - a phone behind NAT (Via and Contact 192.168.1.50:5062, sending from 127.0.0.1:<its socket>)
 *     registers, is called, answers, and the caller's ACK and BYE reach its real socket through the
 *     alias on its Contact;
 *   - a gateway registering another socket than it sends from is called at its Contact (issue #11);
 *   - replayed credentials and a nonce of another node are refused;
 *   - password guessing from one source ends with pike blocking it (`pike.list`), others still register.
 * Only listen/data_dir/ctl/warmup/aliases differ from config/siphon.yaml (test/helpers/shipped-config.ts).
 * Waits are bounded by the messages themselves; an absence is waited for with a bounded timeout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseConfig } from '../../host/config/load.js';
import { createLogger } from '../../host/log/logger.js';
import { startNode, type SiphonNode } from '../../host/server/app.js';
import { moduleSchemas } from '../../host/server/modules.js';
import { digestCredentials } from '../helpers/digest-client.js';
import { freePort } from '../helpers/ports.js';
import { shippedConfigText } from '../helpers/shipped-config.js';
import { ROOT, SIPHON_BIN, startSiphon, type SiphonProcess } from '../helpers/siphon-process.js';
import { Phone, type SipText } from './pbx-phone.js';
import { challenge, challengeOf, finalFor, register, requestText, responseText, send, tagOf, uniq, uriOf, type Req } from './pbx-sip.js';

const run = promisify(execFile);
const DOMAIN = 'siphon.test';
const NAT = '192.168.1.50:5062';
const PASSWORDS: Record<string, string> = { alice: 'alice-Nat-1', carol: 'carol-Nat-2', gw: 'gw-Nat-3', dave: 'dave-Nat-4' };

let tmp: string;
let ctl: string;
let port: number;
let srv: SiphonProcess;
const phones: Phone[] = [];

function cli(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [SIPHON_BIN, ...args], { cwd: ROOT, timeout: 20_000 });
}

async function rpc(method: string, ...params: string[]): Promise<unknown> {
  const { stdout } = await cli('rpc', '--ctl', `unix:${ctl}`, '--json', method, ...params);
  return JSON.parse(stdout);
}

/** the only binding of user@DOMAIN, as `ul.lookup` shows it. */
async function binding(user: string): Promise<Record<string, unknown>> {
  const r = (await rpc('ul.lookup', 'location', `${user}@${DOMAIN}`)) as { Contacts: Array<{ Contact: Record<string, unknown> }> };
  expect(r.Contacts).toHaveLength(1);
  return r.Contacts[0]!.Contact;
}

async function phone(user: string, address = '127.0.0.1'): Promise<Phone> {
  const p = await Phone.open(user, port, 0, address);
  phones.push(p);
  return p;
}

/**
 * an INVITE from `caller` (one of our users: authenticated) to user@DOMAIN, with the Via sent-by and
 * Contact a phone behind NAT would write when `nat` is given; returns the request sent with credentials.
 */
async function calls(caller: Phone, user: string, nat?: string): Promise<Req> {
  const base: Req = {
    method: 'INVITE',
    ruri: `sip:${user}@${DOMAIN}`,
    from: `sip:${caller.user}@${DOMAIN}`,
    fromTag: `a${uniq()}`,
    to: `sip:${user}@${DOMAIN}`,
    callId: `call-${uniq()}`,
    cseq: 1,
    via: nat ?? `127.0.0.1:${caller.port}`,
    contact: `sip:${caller.user}@${nat ?? `127.0.0.1:${caller.port}`}`,
  };
  const { line } = await challenge(caller, base, caller.user, PASSWORDS[caller.user]!);
  const req: Req = { ...base, cseq: 2, extra: [line] };
  send(caller, req);
  return req;
}

const isRequest = (method: string, callId: string) => (m: SipText): boolean => m.method === method && m.header('Call-ID') === callId;

describe("plugins/default's NAT and authentication through npm start's config", () => {
  let alice: Phone;
  let carol: Phone;
  let carolRegister: { line: string; req: Req };
  let aliceInvite: Req;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'siphon-pbx-nat-auth-'));
    ctl = path.join(tmp, 'ctl.sock');
    port = await freePort('udp');
    const cfg = path.join(tmp, 'siphon.yaml');
    writeFileSync(cfg, shippedConfigText({ port, dataDir: path.join(tmp, 'data'), ctl, domain: DOMAIN }));
    srv = await startSiphon(['-c', cfg], { readyPorts: [{ proto: 'udp', port }] });
    for (const [user, pw] of Object.entries(PASSWORDS)) await cli('subscriber', '-c', cfg, '--ctl', `unix:${ctl}`, 'add', `${user}@${DOMAIN}`, pw);
    alice = await phone('alice');
    carol = await phone('carol');
  }, 120_000);

  afterAll(async () => {
    for (const p of phones) p.close();
    await srv?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('a phone behind NAT registers, is called at its real socket, and the ACK and BYE reach it through the alias', async () => {
    // carol writes her private address in Via and Contact (what a phone behind NAT does)
    const reg = await register(carol, { user: 'carol', domain: DOMAIN, password: PASSWORDS.carol!, via: NAT, contact: `sip:carol@${NAT}` });
    expect(reg.reply?.status, `${reg.reply?.raw}\n${srv.stdout().slice(-3000)}`).toBe(200);
    carolRegister = reg;
    // fix_nated_register: the binding remembers her source as `received`; FLB_NATB (6) and
    // FLB_NATSIPPING (7) saved as its cflags, so nathelper keeps her NAT binding open
    const loc = await binding('carol');
    expect(loc.Address).toBe(`sip:carol@${NAT}`);
    expect(loc.Received).toBe(`sip:127.0.0.1:${carol.port}`);
    expect(loc.CFlags).toBe((1 << 6) | (1 << 7));

    aliceInvite = await calls(alice, 'carol');
    // lookup: R-URI = her Contact, destination = her NAT binding (her real socket)
    const inv = await carol.next(isRequest('INVITE', aliceInvite.callId));
    expect(inv, srv.stdout().slice(-3000)).not.toBeNull();
    expect(inv!.firstLine).toBe(`INVITE sip:carol@${NAT} SIP/2.0`);
    expect(inv!.header('Proxy-Authorization')).toBeUndefined(); // consume_credentials(): not passed on
    const aliased = `sip:carol@${NAT};alias=127.0.0.1~${carol.port}~1`;
    carol.send(responseText(inv!, 180, 'Ringing', { contact: `sip:carol@${NAT}`, toTag: 'carol-1' }));
    const ringing = await alice.next((m) => m.status === 180 && m.header('Call-ID') === aliceInvite.callId);
    expect(uriOf(ringing!.header('Contact')!)).toBe(aliased); // 1xx too (early dialog)
    carol.send(responseText(inv!, 200, 'OK', { contact: `sip:carol@${NAT}`, toTag: 'carol-1' }));

    const ok = await finalFor(alice, aliceInvite);
    expect(ok?.status, ok?.raw).toBe(200);
    // route[NATMANAGE] on the reply: her private Contact carries the alias of her NAT binding
    const contact = uriOf(ok!.header('Contact')!);
    expect(contact).toBe(aliased);
    const routes = ok!.headers('Record-Route').reverse();
    expect(routes.length).toBeGreaterThan(0);

    // alice's in-dialog requests: R-URI = the Contact, Route = the Record-Route set (RFC 3261 §12.2.1.1)
    const inDialog = (method: string, cseq: number): Req => ({
      ...aliceInvite,
      method,
      cseq,
      ruri: contact,
      toTag: tagOf(ok!.header('To')),
      branch: undefined,
      contact: undefined,
      extra: [`Route: ${routes.join(', ')}`],
    });
    send(alice, inDialog('ACK', 2));
    const ack = await carol.next(isRequest('ACK', aliceInvite.callId));
    expect(ack, srv.stdout().slice(-3000)).not.toBeNull();
    expect(ack!.firstLine).toBe(`ACK sip:carol@${NAT} SIP/2.0`); // handle_ruri_alias removed it

    const bye = inDialog('BYE', 3);
    send(alice, bye);
    const byeIn = await carol.next(isRequest('BYE', aliceInvite.callId));
    expect(byeIn).not.toBeNull();
    carol.send(responseText(byeIn!, 200, 'OK'));
    expect((await finalFor(alice, bye))?.status).toBe(200);
  }, 30_000);

  it('the NATed phone hangs up: her BYE reaches the caller and its 200 comes back to her real socket (force_rport)', async () => {
    const call = await calls(alice, 'carol');
    const inv = await carol.next(isRequest('INVITE', call.callId));
    expect(inv).not.toBeNull();
    carol.send(responseText(inv!, 200, 'OK', { contact: `sip:carol@${NAT}`, toTag: 'carol-2' }));
    const ok = await finalFor(alice, call);
    expect(ok?.status).toBe(200);
    send(alice, { ...call, ruri: uriOf(ok!.header('Contact')!), toTag: 'carol-2', method: 'ACK', branch: undefined, contact: undefined, extra: [`Route: ${ok!.headers('Record-Route').reverse().join(', ')}`] });
    expect(await carol.next(isRequest('ACK', call.callId))).not.toBeNull();

    // carol's side of the dialog (RFC 3261 §12.1.1): remote target = alice's Contact, route set = Record-Route in order
    const bye: Req = {
      method: 'BYE',
      ruri: uriOf(inv!.header('Contact')!),
      from: `sip:carol@${DOMAIN}`,
      fromTag: 'carol-2',
      to: `sip:alice@${DOMAIN}`,
      toTag: call.fromTag,
      callId: call.callId,
      cseq: 1,
      via: NAT, // her private address: the 200 must still reach her source
      contact: `sip:carol@${NAT}`,
      extra: [`Route: ${inv!.headers('Record-Route').join(', ')}`],
    };
    send(carol, bye);
    const byeIn = await alice.next(isRequest('BYE', call.callId));
    expect(byeIn, srv.stdout().slice(-3000)).not.toBeNull();
    expect(byeIn!.firstLine).toBe(`BYE sip:alice@127.0.0.1:${alice.port} SIP/2.0`);
    alice.send(responseText(byeIn!, 200, 'OK'));
    expect((await finalFor(carol, bye))?.status).toBe(200);
  }, 30_000);

  it('the NATed phone calls: her Contact gets the alias on the first hop, the callee\'s BYE reaches her real socket', async () => {
    const reg = await register(alice, { user: 'alice', domain: DOMAIN, password: PASSWORDS.alice! });
    expect(reg.reply?.status).toBe(200);
    const call = await calls(carol, 'alice', NAT);
    const inv = await alice.next(isRequest('INVITE', call.callId));
    expect(inv, srv.stdout().slice(-3000)).not.toBeNull();
    // set_contact_alias (route[NATDETECT], first hop): her private Contact names her NAT binding
    const target = uriOf(inv!.header('Contact')!);
    expect(target).toBe(`sip:carol@${NAT};alias=127.0.0.1~${carol.port}~1`);
    alice.send(responseText(inv!, 200, 'OK', { toTag: 'alice-1', contact: `sip:alice@127.0.0.1:${alice.port}` }));
    // the 200 goes to her source, not to the Via's private address (force_rport, RFC 3581)
    const ok = await finalFor(carol, call);
    expect(ok?.status).toBe(200);
    send(carol, { ...call, method: 'ACK', ruri: uriOf(ok!.header('Contact')!), toTag: 'alice-1', branch: undefined, contact: undefined, extra: [`Route: ${ok!.headers('Record-Route').reverse().join(', ')}`] });
    expect(await alice.next(isRequest('ACK', call.callId))).not.toBeNull();

    // alice hangs up: remote target = the aliased Contact, route set = the Record-Route (RFC 3261 §12.1.1)
    const bye: Req = {
      method: 'BYE',
      ruri: target,
      from: `sip:alice@${DOMAIN}`,
      fromTag: 'alice-1',
      to: `sip:carol@${DOMAIN}`,
      toTag: call.fromTag,
      callId: call.callId,
      cseq: 1,
      via: `127.0.0.1:${alice.port}`,
      extra: [`Route: ${inv!.headers('Record-Route').join(', ')}`],
    };
    send(alice, bye);
    const byeIn = await carol.next(isRequest('BYE', call.callId));
    expect(byeIn, srv.stdout().slice(-3000)).not.toBeNull();
    expect(byeIn!.firstLine).toBe(`BYE sip:carol@${NAT} SIP/2.0`); // handle_ruri_alias (route[DLGURI])
    carol.send(responseText(byeIn!, 200, 'OK'));
    expect((await finalFor(alice, bye))?.status).toBe(200);
  }, 30_000);

  it('a gateway registering another socket than it sends from is called at its Contact, not at the registering socket', async () => {
    const gw = await phone('gw');
    const uas = await phone('gw-uas');
    // Via = its real source, nothing private: not NATed, the Contact is the target (issue #11)
    const reg = await register(gw, { user: 'gw', domain: DOMAIN, password: PASSWORDS.gw!, contact: `sip:gw@127.0.0.1:${uas.port}` });
    expect(reg.reply?.status).toBe(200);
    const loc = await binding('gw');
    expect(loc.Address).toBe(`sip:gw@127.0.0.1:${uas.port}`);
    expect(loc.Received).toBe('[not set]');
    expect(loc.CFlags).toBe(0);

    const call = await calls(alice, 'gw');
    const inv = await uas.next(isRequest('INVITE', call.callId));
    expect(inv, srv.stdout().slice(-3000)).not.toBeNull();
    expect(inv!.firstLine).toBe(`INVITE sip:gw@127.0.0.1:${uas.port} SIP/2.0`);
    uas.send(responseText(inv!, 486, 'Busy Here', { toTag: 'gw-1' }));
    const busy = await finalFor(alice, call);
    expect(busy?.status).toBe(486);
    send(alice, { ...call, method: 'ACK', toTag: tagOf(busy!.header('To')), extra: [] });
    expect(gw.peek((m) => m.method === 'INVITE')).toEqual([]);
  }, 30_000);

  it('replayed credentials (same nonce, same nc) are challenged again, never accepted or relayed', async () => {
    // the Authorization of carol's successful REGISTER, sent again in a new transaction
    const again: Req = { ...carolRegister.req, cseq: 3, branch: undefined };
    send(carol, again);
    const r = await finalFor(carol, again);
    expect(r?.status, r?.raw).toBe(401);

    // the Proxy-Authorization of alice's successful INVITE on a new INVITE
    const replay: Req = { ...aliceInvite, callId: `replay-${uniq()}`, branch: undefined };
    send(alice, replay);
    const rr = await finalFor(alice, replay);
    expect(rr?.status, rr?.raw).toBe(407);
    send(alice, { ...replay, method: 'ACK', toTag: tagOf(rr!.header('To')), extra: [] });
    expect(carol.peek(isRequest('INVITE', replay.callId))).toEqual([]);
  }, 30_000);

  it("a nonce signed by another node's secret is refused: nothing is saved", async () => {
    // another node with npm start's config: its own data_dir, so its own secret
    const otherPort = await freePort('udp');
    const text = shippedConfigText({ port: otherPort, dataDir: path.join(tmp, 'other'), ctl: null, domain: DOMAIN });
    const other: SiphonNode = await startNode(parseConfig(text, null, { moduleSchemas: moduleSchemas() }), createLogger({ level: 'silent' }), { controlPlane: false });
    try {
      const foreignContact = `sip:carol@127.0.0.1:${otherPort}`;
      const base: Req = { ...carolRegister.req, callId: `foreign-${uniq()}`, cseq: 1, branch: undefined, contact: foreignContact, extra: ['Expires: 300'] };
      carol.send(requestText(base).text, otherPort);
      const ch = await finalFor(carol, base);
      expect(ch?.status).toBe(401);
      const c = challengeOf(ch!);
      const line = digestCredentials(c.nonce, { username: 'carol', password: PASSWORDS.carol!, realm: c.realm, uri: base.ruri });
      // the right password on the other node's nonce, sent to this node: auth_check answers -4 (a nonce
      // that is not ours is stale) and route[AUTH] challenges again with stale=true
      const req: Req = { ...base, cseq: 2, extra: ['Expires: 300', line] };
      send(carol, req);
      const r = await finalFor(carol, req);
      expect(r, srv.stdout().slice(-3000)).not.toBeNull();
      expect(r!.status).toBe(401);
      const again = challengeOf(r!);
      expect(again.nonce).not.toBe(c.nonce);
      expect(r!.header('WWW-Authenticate')).toMatch(/stale=true/i);
      expect(JSON.stringify(await rpc('ul.lookup', 'location', `carol@${DOMAIN}`))).not.toContain(foreignContact);
    } finally {
      await other.stop();
    }
  }, 60_000);

  it('password guessing from one source: 401 each time until pike blocks it (pike.list); another source still registers', async () => {
    const mallory = await phone('mallory', '127.0.0.2');
    let wrong401 = 0;
    let blocked = false;
    for (let i = 0; i < 20 && !blocked; i++) {
      const base: Req = {
        method: 'REGISTER',
        ruri: `sip:${DOMAIN}`,
        from: `sip:alice@${DOMAIN}`,
        fromTag: `m${uniq()}`,
        to: `sip:alice@${DOMAIN}`,
        callId: `guess-${uniq()}`,
        cseq: 1,
        via: `127.0.0.2:${mallory.port}`,
        contact: `sip:alice@127.0.0.2:${mallory.port}`,
      };
      send(mallory, base);
      // shipped pike.auto is drop: a blocked source gets nothing (bounded wait for the absence)
      const ch = await finalFor(mallory, base, 1500);
      if (ch === null) {
        blocked = true;
        break;
      }
      expect(ch.status).toBe(401);
      const c = challengeOf(ch);
      const req: Req = { ...base, cseq: 2, extra: [digestCredentials(c.nonce, { username: 'alice', password: `guess-${i}`, realm: c.realm, uri: base.ruri })] };
      send(mallory, req);
      const r = await finalFor(mallory, req, 1500);
      if (r === null) blocked = true;
      else {
        expect(r.status).toBe(401);
        wrong401++;
      }
    }
    expect(wrong401).toBeGreaterThan(0);
    expect(blocked).toBe(true);
    expect(mallory.peek((m) => m.status === 200)).toEqual([]);
    expect(JSON.stringify(await rpc('pike.list'))).toContain('127.0.0.2');

    const dave = await phone('dave', '127.0.0.3');
    const reg = await register(dave, { user: 'dave', domain: DOMAIN, password: PASSWORDS.dave! });
    expect(reg.reply?.status).toBe(200);
  }, 60_000);
});
