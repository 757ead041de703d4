/**
 * The stateful proxy over real UDP on 127.0.0.1 (ports from freePorts()): a UAC and UASes written with
 * dgram talk to the transaction layer + proxy core. Short timers keep every case bounded.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { freePorts } from '../../helpers/ports.js';
import { Action, ProxyHarness, reply, request, sleep, TestUA } from './harness.js';
import { recordRoute, looseRoute } from '../../../host/proxy/record-route.js';
import type { SipMessage } from '../../../host/sip/types.js';

const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.close()));
});

async function setup(ports: number[], opts: ConstructorParameters<typeof ProxyHarness>[1], uasCount = 1) {
  const proxy = await ProxyHarness.start(ports[0], opts);
  const uac = await TestUA.bind(ports[1]);
  const uas: TestUA[] = [];
  for (let i = 0; i < uasCount; i++) uas.push(await TestUA.bind(ports[2 + i]));
  opened.push(proxy, uac, ...uas);
  return { proxy, uac, uas };
}

const relayToRuri = (ctx: { msg: { to?: { tag?: string } } }, p: import('../../../host/proxy/index.js').ProxyCore) => {
  p.requestRelay(ctx as never);
  return Action.CONTINUE;
};

describe('stateful proxy over UDP', () => {
  it('absorbs a retransmitted INVITE: the UAS sees one INVITE, the UAC gets 100 and the 180 again', async () => {
    const ports = await freePorts(10);
    const { uac, uas } = await setup(ports, { router: relayToRuri });
    const inv = request({ ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-retr1', callId: 'retr@test' });
    uac.send(inv, ports[0]);
    await uac.waitResponse(100);
    const got = await uas[0]!.waitRequest('INVITE');
    uas[0]!.send(reply(got.msg, 100, 'Trying'), ports[0]); // stops timer A: the UAS sees one INVITE
    // our Via on top with a magic-cookie branch; Max-Forwards decremented
    expect(got.msg.vias.length).toBe(2);
    expect(got.msg.vias[0]!.branch).toMatch(/^z9hG4bK/);
    expect(got.msg.vias[0]!.port).toBe(ports[0]);
    expect(got.msg.maxForwards).toBe(69);
    uas[0]!.send(reply(got.msg, 180, 'Ringing'), ports[0]);
    await uac.waitResponse(180);
    uac.send(inv, ports[0]); // retransmission
    await uac.waitFor(() => uac.responses(180).length === 2, 2000, 'a second 180');
    uas[0]!.send(reply(got.msg, 200, 'OK', { contactPort: ports[2] }), ports[0]);
    const ok = await uac.waitResponse(200);
    expect(ok.msg.vias.length).toBe(1); // the proxy's Via was popped
    expect(ok.msg.vias[0]!.branch).toBe('z9hG4bK-retr1');
    await sleep(100);
    expect(uas[0]!.requests('INVITE').length).toBe(1);
    expect(uac.responses(100).length).toBeGreaterThanOrEqual(1);
  });

  it('CANCEL during ringing: 200 for the CANCEL, CANCEL to the callee, 487 to the caller, ACKs hop by hop', async () => {
    const ports = await freePorts(10);
    const { proxy, uac, uas } = await setup(ports, { router: relayToRuri });
    const inv = request({ ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-cancel1', callId: 'cancel@test' });
    uac.send(inv, ports[0]);
    const got = await uas[0]!.waitRequest('INVITE');
    uas[0]!.send(reply(got.msg, 180, 'Ringing'), ports[0]);
    await uac.waitResponse(180);
    uac.send(request({ method: 'CANCEL', ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-cancel1', callId: 'cancel@test', extra: ['Reason: SIP;cause=487;text="bye"'] }), ports[0]);
    await uac.waitResponse(200, 'CANCEL');
    const cancel = await uas[0]!.waitRequest('CANCEL');
    // RFC 3261 §9.1: same branch as the INVITE it cancels, CSeq number kept, Reason copied
    expect(cancel.msg.vias[0]!.branch).toBe(got.msg.vias[0]!.branch);
    expect(cancel.msg.cseq).toEqual({ seq: 1, method: 'CANCEL' });
    expect(cancel.msg.header('reason')).toContain('cause=487');
    uas[0]!.send(reply(cancel.msg, 200, 'OK'), ports[0]);
    uas[0]!.send(reply(got.msg, 487, 'Request Terminated'), ports[0]);
    const r487 = await uac.waitResponse(487);
    expect(r487.msg.vias.length).toBe(1);
    const ack = await uas[0]!.waitRequest('ACK'); // the proxy's own ACK for the 487 (§17.1.1.3)
    expect(ack.msg.vias[0]!.branch).toBe(got.msg.vias[0]!.branch);
    // the caller's ACK for the 487 is absorbed by the proxy
    uac.send(request({ method: 'ACK', ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-cancel1', callId: 'cancel@test', toTag: r487.msg.to!.tag }), ports[0]);
    await sleep(150);
    expect(uas[0]!.requests('ACK').length).toBe(1);
    expect(proxy.layer.stats.acksAbsorbed).toBeGreaterThanOrEqual(1);
    expect(uas[0]!.requests('INVITE').length).toBe(1);
  });

  it('INVITE with no answer: retransmitted downstream (timer A), then a local 408 at fr_timer', async () => {
    const ports = await freePorts(10);
    const { uac, uas } = await setup(ports, { router: relayToRuri, timers: { t1: 50, t2: 400, fr: 500 } });
    uac.send(request({ ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-to1', callId: 'timeout@test' }), ports[0]);
    await uac.waitResponse(100);
    const r408 = await uac.waitResponse(408, 'INVITE', 3000);
    expect(r408.msg.reason).toBe('Request Timeout');
    expect(r408.msg.to?.tag).toBeTruthy();
    const invites = uas[0]!.requests('INVITE');
    expect(invites.length).toBeGreaterThanOrEqual(3); // 0, 50, 150, 350 ms
    expect(new Set(invites.map((i) => i.msg.vias[0]!.branch)).size).toBe(1);
  });

  it('per-transaction t_set_timeouts overrides fr_timer', async () => {
    const ports = await freePorts(10);
    const { proxy, uac } = await setup(ports, {
      router: (ctx, p) => {
        p.tSetTimeouts(ctx, 200, 0);
        p.requestRelay(ctx);
        return Action.CONTINUE;
      },
      timers: { t1: 50, fr: 10_000 },
    });
    uac.send(request({ ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-tst', callId: 'tset@test' }), ports[0]);
    // the wait is only a bound: fr_timer (10 s) would miss it; the counters say which timer fired
    await uac.waitResponse(408, 'INVITE', 3000);
    expect(proxy.layer.stats.clientTimeouts).toBe(1); // timer B at the 200 ms of t_set_timeouts
    // timer A (T1 = 50 ms, doubling) is due at 50 and 150 ms, before 200 ms; never later (RFC 3261 §17.1.1.2)
    expect(proxy.layer.stats.requestsResent).toBeGreaterThanOrEqual(1);
    expect(proxy.layer.stats.requestsResent).toBeLessThanOrEqual(2);
  });

  it('486 from the callee, failure_route relays to another contact (serial forking)', async () => {
    const ports = await freePorts(10);
    const failureSeen: string[] = [];
    let harness: ProxyHarness | null = null;
    const { proxy, uac, uas } = await setup(
      ports,
      {
        router: (ctx, p) => {
          p.tOnFailure(ctx, 7);
          p.requestRelay(ctx);
          return Action.CONTINUE;
        },
        hooks: {
          failureRoute(ctx, route) {
            failureSeen.push(`${route} ${ctx.msg.requestUri}`);
            ctx.msg.setRequestUri(`sip:bob@127.0.0.1:${ports[3]}`);
            return harness!.proxy.requestRelay(ctx) > 0 ? Action.CONTINUE : Action.ERROR;
          },
        },
      },
      2,
    );
    harness = proxy;
    uac.send(request({ ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-fail1', callId: 'failure@test' }), ports[0]);
    const first = await uas[0]!.waitRequest('INVITE');
    uas[0]!.send(reply(first.msg, 486, 'Busy Here'), ports[0]);
    await uas[0]!.waitRequest('ACK');
    const second = await uas[1]!.waitRequest('INVITE');
    expect(failureSeen).toEqual([`7 sip:bob@127.0.0.1:${ports[2]}`]); // R-URI as at relay time
    expect(second.msg.requestUri).toBe(`sip:bob@127.0.0.1:${ports[3]}`);
    expect(second.msg.vias[0]!.branch).not.toBe(first.msg.vias[0]!.branch);
    uas[1]!.send(reply(second.msg, 200, 'OK', { contactPort: ports[3] }), ports[0]);
    await uac.waitResponse(200);
    await sleep(100);
    expect(uac.responses(486).length).toBe(0);
  });

  it('ACK for 2xx and BYE follow the Route set end to end after record_route', async () => {
    const ports = await freePorts(10);
    const { proxy, uac, uas } = await setup(ports, {
      router: (ctx, p) => {
        if (ctx.msg.to?.tag !== undefined) {
          const rc = looseRoute(ctx, p.isMyself);
          if (rc < 0) return Action.DROP;
          if (ctx.msg.method === 'ACK') return p.forward(ctx) > 0 ? Action.CONTINUE : Action.DROP;
          p.requestRelay(ctx);
          return Action.CONTINUE;
        }
        recordRoute(ctx);
        p.requestRelay(ctx);
        return Action.CONTINUE;
      },
    });
    uac.send(request({ ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-dlg1', callId: 'dialog@test' }), ports[0]);
    const inv = await uas[0]!.waitRequest('INVITE');
    expect(inv.msg.headerValues('record-route')).toEqual([`<sip:127.0.0.1:${ports[0]};lr;ftag=alice1>`]);
    uas[0]!.send(reply(inv.msg, 200, 'OK', { contactPort: ports[2], copyRecordRoute: true }), ports[0]);
    const ok = await uac.waitResponse(200);
    const route = ok.msg.headerValues('record-route');
    expect(route).toEqual([`<sip:127.0.0.1:${ports[0]};lr;ftag=alice1>`]);
    // ACK for the 2xx: new branch, Route = the route set, R-URI = the remote target (RFC 3261 §13.2.2.4)
    uac.send(request({ method: 'ACK', ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-dlg1-ack', callId: 'dialog@test', toTag: 'bob1', routes: route }), ports[0]);
    const ack = await uas[0]!.waitRequest('ACK');
    expect(ack.msg.headerCount('route')).toBe(0);
    expect(ack.msg.vias.length).toBe(2);
    expect(ack.msg.vias[0]!.branch).toMatch(/^z9hG4bKsl\./); // stateless forward
    expect(ack.msg.maxForwards).toBe(69);
    expect(proxy.proxy.stats.forwardedStateless).toBe(1);
    // BYE from the caller, statefully relayed along the route set
    uac.send(request({ method: 'BYE', ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-dlg1-bye', callId: 'dialog@test', cseq: 2, toTag: 'bob1', routes: route }), ports[0]);
    const bye = await uas[0]!.waitRequest('BYE');
    expect(bye.msg.headerCount('route')).toBe(0);
    uas[0]!.send(reply(bye.msg, 200, 'OK'), ports[0]);
    await uac.waitResponse(200, 'BYE');
  });

  it('non-INVITE retransmissions: the proxy retransmits downstream (timer E), absorbs the UAC copies, re-sends the final', async () => {
    const ports = await freePorts(10);
    const { proxy, uac, uas } = await setup(ports, { router: relayToRuri, timers: { t1: 60, t2: 240 } });
    const msgReq = request({ method: 'MESSAGE', ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-msg1', callId: 'message@test' });
    uac.send(msgReq, ports[0]);
    const first = await uas[0]!.waitRequest('MESSAGE');
    uac.send(msgReq, ports[0]); // UAC retransmission while the proxy waits: absorbed silently (Trying)
    await uas[0]!.waitFor(() => uas[0]!.requests('MESSAGE').length >= 3, 2000, 'proxy retransmissions');
    const branches = new Set(uas[0]!.requests('MESSAGE').map((r) => r.msg.vias[0]!.branch));
    expect(branches.size).toBe(1);
    expect(uac.received.length).toBe(0); // no 100 for non-INVITE, nothing re-sent while Trying
    uas[0]!.send(reply(first.msg, 200, 'OK'), ports[0]);
    await uac.waitResponse(200, 'MESSAGE');
    const seenByUas = uas[0]!.requests('MESSAGE').length;
    uac.send(msgReq, ports[0]); // retransmission after the final: the 200 is re-sent by the proxy
    await uac.waitFor(() => uac.responses(200, 'MESSAGE').length === 2, 2000, 'a re-sent 200');
    await sleep(300);
    expect(uas[0]!.requests('MESSAGE').length).toBe(seenByUas); // retransmissions stopped
    expect(proxy.layer.stats.requestRetransmissions).toBe(2);
  });

  it('parallel forking: best response (404 over 486 and 503), every branch ACKed, 100 not forwarded', async () => {
    const ports = await freePorts(10);
    const { uac, uas } = await setup(
      ports,
      {
        router: (ctx, p) => {
          p.dset.append(ctx, { uri: `sip:bob@127.0.0.1:${ports[3]}`, dstUri: null });
          (ctx.branches ??= []).push(`sip:bob@127.0.0.1:${ports[4]}`); // as registrar lookup() appends them
          p.requestRelay(ctx);
          return Action.CONTINUE;
        },
      },
      3,
    );
    uac.send(request({ ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-fork1', callId: 'fork@test' }), ports[0]);
    const got = await Promise.all(uas.map((u) => u.waitRequest('INVITE')));
    expect(new Set(got.map((g) => g.msg.vias[0]!.branch)).size).toBe(3);
    uas[0]!.send(reply(got[0]!.msg, 100, 'Trying'), ports[0]);
    uas[0]!.send(reply(got[0]!.msg, 486, 'Busy Here', { toTag: 'u0' }), ports[0]);
    uas[1]!.send(reply(got[1]!.msg, 503, 'Service Unavailable', { toTag: 'u1' }), ports[0]);
    await Promise.all([uas[0]!.waitRequest('ACK'), uas[1]!.waitRequest('ACK')]);
    await sleep(50);
    expect(uac.responses(486).length + uac.responses(503).length).toBe(0); // nothing final until every branch ended
    uas[2]!.send(reply(got[2]!.msg, 404, 'Not Found', { toTag: 'u2' }), ports[0]);
    const best = await uac.waitResponse(404);
    expect(best.msg.to?.tag).toBe('u2');
    await uas[2]!.waitRequest('ACK');
    await sleep(50);
    expect(uac.responses(100).length).toBe(1); // only the proxy's own 100 Trying
    expect(uac.received.filter((r) => r.msg.kind === 'response' && r.msg.status >= 300).length).toBe(1);
  });

  it('a 6xx on one branch ends the search: the ringing branch is CANCELed, its 487 absorbed, the 603 goes upstream (§16.7 step 5)', async () => {
    const ports = await freePorts(10);
    const { uac, uas } = await setup(
      ports,
      {
        router: (ctx, p) => {
          p.dset.append(ctx, { uri: `sip:bob@127.0.0.1:${ports[3]}`, dstUri: null });
          p.requestRelay(ctx);
          return Action.CONTINUE;
        },
      },
      2,
    );
    uac.send(request({ ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-six1', callId: 'six@test' }), ports[0]);
    const got = await Promise.all(uas.map((u) => u.waitRequest('INVITE')));
    uas[1]!.send(reply(got[1]!.msg, 180, 'Ringing', { toTag: 'x1' }), ports[0]);
    await uac.waitResponse(180);
    uas[0]!.send(reply(got[0]!.msg, 603, 'Decline', { toTag: 'x0' }), ports[0]);
    const cancel = await uas[1]!.waitRequest('CANCEL'); // §16.7 step 5: pending branches are CANCELed
    uas[1]!.send(reply(cancel.msg, 200, 'OK'), ports[0]);
    uas[1]!.send(reply(got[1]!.msg, 487, 'Request Terminated', { toTag: 'x1' }), ports[0]);
    const final = await uac.waitFor((m) => m.kind === 'response' && m.status >= 300, 3000, 'a final');
    expect(final.msg.status).toBe(603);
    expect(uac.responses(487).length).toBe(0); // the 603 is sent after the 487 arrived: it would precede it
  });

  it('a 2xx on one branch goes upstream and CANCELs the other pending branches; their 487s are absorbed (§16.7 step 10)', async () => {
    const ports = await freePorts(10); // proxy, UAC, UASes 2-4 (the last one serves two branches)
    const dave = `sip:dave@127.0.0.1:${ports[4]}`;
    const { proxy, uac, uas } = await setup(
      ports,
      {
        router: (ctx, p) => {
          p.dset.append(ctx, { uri: `sip:bob@127.0.0.1:${ports[3]}`, dstUri: null });
          (ctx.branches ??= []).push(`sip:bob@127.0.0.1:${ports[4]}`, dave);
          p.requestRelay(ctx);
          return Action.CONTINUE;
        },
      },
      3,
    );
    const isReq = (method: string, ruri: string) => (m: SipMessage) => m.kind === 'request' && m.method === method && m.requestUri === ruri;
    uac.send(request({ ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-ok2xx', callId: 'cancel2xx@test' }), ports[0]);
    const got = await Promise.all(uas.map((u) => u.waitRequest('INVITE')));
    const silent = await uas[2]!.waitFor(isReq('INVITE', dave), 4000, 'INVITE to dave'); // 4th branch
    expect(new Set([...got, silent].map((g) => g.msg.vias[0]!.branch)).size).toBe(4);
    // branches 1 and 2 ring (a provisional: they may be CANCELed, §9.1); both 180s reach the caller
    uas[1]!.send(reply(got[1]!.msg, 180, 'Ringing', { toTag: 'b1' }), ports[0]);
    uas[2]!.send(reply(got[2]!.msg, 180, 'Ringing', { toTag: 'b2' }), ports[0]);
    await uac.waitFor(() => uac.responses(180).length === 2, 4000, 'two 180s');
    expect(proxy.proxy.stats.cancelsSent).toBe(0);
    // branch 0 answers 200: forwarded upstream, the ringing branches 1 and 2 CANCELed in the same step
    uas[0]!.send(reply(got[0]!.msg, 200, 'OK', { toTag: 'b0', contactPort: ports[2] }), ports[0]);
    const ok = await uac.waitResponse(200);
    expect(ok.msg.to?.tag).toBe('b0');
    expect(ok.msg.vias.length).toBe(1);
    expect(proxy.proxy.stats.cancelsSent).toBe(2); // not the silent branch: no CANCEL before a provisional (§9.1)
    const c1 = await uas[1]!.waitRequest('CANCEL');
    const c2 = await uas[2]!.waitFor(isReq('CANCEL', got[2]!.msg.requestUri!), 4000, 'CANCEL of branch 2');
    // the silent branch rings after the 2xx: its CANCEL goes now; the late 180 is not forwarded (§16.7 step 5)
    uas[2]!.send(reply(silent.msg, 180, 'Ringing', { toTag: 'b3' }), ports[0]);
    const c3 = await uas[2]!.waitFor(isReq('CANCEL', dave), 4000, 'CANCEL of branch 3');
    const branches = [
      { ua: uas[1]!, inv: got[1]!, cancel: c1, tag: 'b1' },
      { ua: uas[2]!, inv: got[2]!, cancel: c2, tag: 'b2' },
      { ua: uas[2]!, inv: silent, cancel: c3, tag: 'b3' },
    ];
    for (const b of branches) {
      // §9.1: the CANCEL matches its INVITE's client transaction: same branch, same R-URI, CSeq number kept
      expect(b.cancel.msg.vias[0]!.branch).toBe(b.inv.msg.vias[0]!.branch);
      expect(b.cancel.msg.requestUri).toBe(b.inv.msg.requestUri);
      expect(b.cancel.msg.cseq).toEqual({ seq: 1, method: 'CANCEL' });
      b.ua.send(reply(b.cancel.msg, 200, 'OK'), ports[0]);
      b.ua.send(reply(b.inv.msg, 487, 'Request Terminated', { toTag: b.tag }), ports[0]);
    }
    // each 487 is ACKed hop by hop by the proxy (§17.1.1.3) and not forwarded upstream
    for (const b of branches) {
      const ack = await b.ua.waitFor((m) => m.kind === 'request' && m.method === 'ACK' && m.vias[0]!.branch === b.inv.msg.vias[0]!.branch, 4000, `ACK of ${b.tag}`);
      expect(ack.msg.requestUri).toBe(b.inv.msg.requestUri);
    }
    // barrier: a request the proxy answers itself (Max-Forwards 0 -> 483) on the same socket pair; anything
    // the proxy sent the UAC before it (a forwarded 487 or late 180) has arrived once the 483 is seen
    uac.send(request({ method: 'OPTIONS', ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-ok2xx-bar', callId: 'cancel2xx-barrier@test' }).replace('Max-Forwards: 70', 'Max-Forwards: 0'), ports[0]);
    await uac.waitResponse(483, 'OPTIONS');
    expect(uac.responses(487).length).toBe(0);
    expect(uac.responses(180).length).toBe(2);
    expect(uac.received.filter((r) => r.msg.kind === 'response' && r.msg.method === 'INVITE' && r.msg.status >= 200).map((r) => r.msg.status)).toEqual([200]);
    expect(uas[0]!.requests('CANCEL').length).toBe(0); // the answering branch is not CANCELed
    expect(proxy.proxy.stats.cancelsSent).toBe(3);
    expect(proxy.proxy.stats.responsesForwarded).toBe(3); // 180, 180, 200: no 487, no late 180
  });

  it('stateless forward() of a request and of its response back through our Via', async () => {
    const ports = await freePorts(10);
    const { uac, uas } = await setup(ports, {
      router: (ctx, p) => (p.forward(ctx) > 0 ? Action.CONTINUE : Action.DROP),
    });
    uac.send(request({ method: 'OPTIONS', ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-sl1', callId: 'stateless@test' }), ports[0]);
    const got = await uas[0]!.waitRequest('OPTIONS');
    expect(got.msg.vias[0]!.branch).toMatch(/^z9hG4bKsl\./);
    expect(got.msg.maxForwards).toBe(69);
    uas[0]!.send(reply(got.msg, 200, 'OK'), ports[0]);
    const ok = await uac.waitResponse(200, 'OPTIONS');
    expect(ok.msg.vias.length).toBe(1);
  });

  it('a request arriving with Max-Forwards 0 is not relayed: 483 (RFC 3261 §16.3 step 3)', async () => {
    const ports = await freePorts(10);
    const { uac, uas } = await setup(ports, { router: relayToRuri });
    uac.send(request({ method: 'OPTIONS', ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-mf0', callId: 'mf0@test' }).replace('Max-Forwards: 70', 'Max-Forwards: 0'), ports[0]);
    const r = await uac.waitResponse(483, 'OPTIONS');
    expect(r.msg.reason).toBe('Too Many Hops');
    await sleep(50);
    expect(uas[0]!.received.length).toBe(0);
  });
});
