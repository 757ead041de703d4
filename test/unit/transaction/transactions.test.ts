import { describe, expect, it } from 'vitest';
import { ClientState, ClientTransaction, type ClientTransactionUser } from '../../../host/transaction/client-transaction.js';
import { RequestMatch } from '../../../host/transaction/layer.js';
import { ServerState } from '../../../host/transaction/server-transaction.js';
import type { SentRequest } from '../../../host/transaction/requests.js';
import type { SipMessage } from '../../../host/sip/types.js';
import { invite, makeLayer, ManualClock, MemoryChannel, parse, response, uacSource } from './helpers.js';

const T = { t1: 100, t2: 400, t4: 500, fr: 3000, frInv: 5000, wt: 1000 };

describe('server transactions (RFC 3261 §17.2)', () => {
  it('INVITE: retransmissions re-send the last provisional; a non-2xx final is retransmitted by timer G until the ACK', () => {
    const clock = new ManualClock();
    const layer = makeLayer(clock, T);
    const ch = new MemoryChannel(clock);
    const req = parse(invite());
    expect(layer.receiveRequest(req)).toBe(RequestMatch.New);
    const st = layer.createServer(req, uacSource, ch)!;
    expect(st.state).toBe(ServerState.Proceeding);
    st.respond(180, Buffer.from('SIP/2.0 180 Ringing\r\n\r\n'));
    // retransmitted INVITE: absorbed, 180 re-sent
    expect(layer.receiveRequest(parse(invite()))).toBe(RequestMatch.Retransmission);
    expect(ch.firstLines()).toEqual(['SIP/2.0 180 Ringing', 'SIP/2.0 180 Ringing']);
    expect(ch.sent[1]!.address).toBe('127.0.0.1');
    expect(ch.sent[1]!.port).toBe(19201);

    st.respond(486, Buffer.from('SIP/2.0 486 Busy Here\r\n\r\n'), 'tt');
    expect(st.state).toBe(ServerState.Completed);
    clock.advance(100 + 200 + 400 + 5); // G fires at 100, 300, 700 (T1 doubling)
    const finals = ch.sent.filter((s) => s.text.startsWith('SIP/2.0 486'));
    expect(finals.map((s) => s.at)).toEqual([0, 100, 300, 700]);
    clock.advance(400); // capped at T2 = 400
    const last = ch.sent.filter((s) => s.text.startsWith('SIP/2.0 486')).at(-1)!.at;
    expect(last).toBeGreaterThanOrEqual(1100);
    expect(last).toBeLessThan(1110); // one 10 ms step of the manual clock

    // the ACK (same branch) is absorbed and stops G; timer I (T4) ends the transaction
    expect(layer.receiveRequest(parse(invite({ method: 'ACK', toTag: 'tt' })))).toBe(RequestMatch.AckAbsorbed);
    expect(st.state).toBe(ServerState.Confirmed);
    const count = ch.sent.length;
    clock.advance(499);
    expect(ch.sent.length).toBe(count);
    expect(layer.serverCount).toBe(1);
    clock.advance(20);
    expect(st.state).toBe(ServerState.Terminated);
    expect(layer.serverCount).toBe(0);
  });

  it('INVITE: timer H (64*T1) ends a Completed transaction that never got its ACK', () => {
    const clock = new ManualClock();
    const layer = makeLayer(clock, T);
    const st = layer.createServer(parse(invite()), uacSource, new MemoryChannel(clock))!;
    st.respond(404, Buffer.from('SIP/2.0 404 Not Found\r\n\r\n'));
    clock.advance(64 * 100 - 20);
    expect(st.state).toBe(ServerState.Completed);
    clock.advance(40);
    expect(st.state).toBe(ServerState.Terminated);
    expect(layer.stats.ackTimeouts).toBe(1);
  });

  it('INVITE over TCP: no timer G, timer I is 0', () => {
    const clock = new ManualClock();
    const layer = makeLayer(clock, T);
    const ch = new MemoryChannel(clock, 'tcp');
    const st = layer.createServer(parse(invite()), { ...uacSource, proto: 'tcp' }, ch)!;
    st.respond(500, Buffer.from('SIP/2.0 500 X\r\n\r\n'));
    clock.advance(2000);
    expect(ch.sent.length).toBe(1);
    layer.receiveRequest(parse(invite({ method: 'ACK' })));
    clock.advance(10);
    expect(st.state).toBe(ServerState.Terminated);
  });

  it('INVITE answered 2xx: Accepted (RFC 6026); an ACK with the same branch is passed on, not absorbed', () => {
    const clock = new ManualClock();
    const layer = makeLayer(clock, T);
    const ch = new MemoryChannel(clock);
    const st = layer.createServer(parse(invite()), uacSource, ch)!;
    st.respond(200, Buffer.from('SIP/2.0 200 OK\r\n\r\n'));
    expect(st.state).toBe(ServerState.Accepted);
    expect(st.respond(200, Buffer.from('SIP/2.0 200 OK\r\n\r\n'))).toBe(true); // another 2xx (forked)
    expect(st.respond(486, Buffer.from('SIP/2.0 486 X\r\n\r\n'))).toBe(false);
    expect(layer.receiveRequest(parse(invite()))).toBe(RequestMatch.Retransmission); // 200 re-sent
    expect(ch.firstLines().filter((l) => l === 'SIP/2.0 200 OK').length).toBe(3);
    expect(layer.receiveRequest(parse(invite({ method: 'ACK' })))).toBe(RequestMatch.AckPassOn);
    clock.advance(1010); // wt_timer
    expect(layer.serverCount).toBe(0);
  });

  it('non-INVITE: retransmissions in Trying are absorbed silently, then answered with the last response; J = wt_timer', () => {
    const clock = new ManualClock();
    const layer = makeLayer(clock, T);
    const ch = new MemoryChannel(clock);
    const opt = invite({ method: 'OPTIONS', branch: 'z9hG4bK-opt' });
    const st = layer.createServer(parse(opt), uacSource, ch)!;
    expect(st.state).toBe(ServerState.Trying);
    expect(layer.receiveRequest(parse(opt))).toBe(RequestMatch.Retransmission);
    expect(ch.sent.length).toBe(0);
    st.respond(200, Buffer.from('SIP/2.0 200 OK\r\n\r\n'));
    expect(st.state).toBe(ServerState.Completed);
    expect(layer.receiveRequest(parse(opt))).toBe(RequestMatch.Retransmission);
    expect(ch.sent.length).toBe(2);
    clock.advance(990);
    expect(layer.serverCount).toBe(1);
    clock.advance(30);
    expect(layer.serverCount).toBe(0);
    expect(layer.receiveRequest(parse(opt))).toBe(RequestMatch.New);
  });

  it('matches by branch + sent-by + method: another sent-by or method is another transaction; CANCEL finds its INVITE', () => {
    const clock = new ManualClock();
    const layer = makeLayer(clock, T);
    const st = layer.createServer(parse(invite()), uacSource, new MemoryChannel(clock))!;
    expect(layer.receiveRequest(parse(invite({ via: 'SIP/2.0/UDP 127.0.0.9:19201;branch=z9hG4bK-abc1' })))).toBe(RequestMatch.New);
    expect(layer.receiveRequest(parse(invite({ method: 'BYE' })))).toBe(RequestMatch.New);
    expect(layer.receiveRequest(parse(invite({ method: 'CANCEL' })))).toBe(RequestMatch.CancelMatched);
    expect(layer.matched).toBe(st);
    expect(layer.receiveRequest(parse(invite({ method: 'CANCEL', branch: 'z9hG4bK-other' })))).toBe(RequestMatch.New);
  });

  it('RFC 2543 fallback (no magic cookie): Request-URI, From tag, Call-ID, CSeq and top Via; the ACK must carry our To tag', () => {
    const clock = new ManualClock();
    const layer = makeLayer(clock, T);
    const via = 'SIP/2.0/UDP 127.0.0.1:19201';
    const st = layer.createServer(parse(invite({ via })), uacSource, new MemoryChannel(clock))!;
    expect(layer.receiveRequest(parse(invite({ via })))).toBe(RequestMatch.Retransmission);
    expect(layer.receiveRequest(parse(invite({ via, cseq: 2 })))).toBe(RequestMatch.New);
    st.respond(486, Buffer.from('SIP/2.0 486 Busy\r\n\r\n'), 'ourtag');
    expect(layer.receiveRequest(parse(invite({ via, method: 'ACK', toTag: 'other' })))).toBe(RequestMatch.AckPassOn);
    expect(layer.receiveRequest(parse(invite({ via, method: 'ACK', toTag: 'ourtag' })))).toBe(RequestMatch.AckAbsorbed);
    expect(st.state).toBe(ServerState.Confirmed);
  });

  it('an unanswered transaction dies at max_noninv_lifetime', () => {
    const clock = new ManualClock();
    const layer = makeLayer(clock, { ...T, maxNonInvLifetime: 2000 });
    layer.createServer(parse(invite({ method: 'MESSAGE' })), uacSource, new MemoryChannel(clock));
    clock.advance(2010);
    expect(layer.serverCount).toBe(0);
    expect(layer.stats.lifetimeExpired).toBe(1);
  });
});

describe('client transactions (RFC 3261 §17.1)', () => {
  function start(clock: ManualClock, method: string, proto: 'udp' | 'tcp' = 'udp', fr?: number, frInv?: number) {
    const layer = makeLayer(clock, T);
    const ch = new MemoryChannel(clock, proto);
    const got: Array<number | 'timeout'> = [];
    const user: ClientTransactionUser = {
      onClientResponse: (_ct, m: SipMessage) => got.push(m.status),
      onClientTimeout: () => got.push('timeout'),
    };
    const branch = layer.newBranch();
    const sent: SentRequest = {
      method,
      requestUri: 'sip:bob@127.0.0.1:19202',
      via: `SIP/2.0/UDP 127.0.0.1:19200;branch=${branch}`,
      from: '<sip:alice@127.0.0.1>;tag=a1',
      to: '<sip:bob@127.0.0.1>',
      callId: 'call-1@test',
      cseq: 1,
      routes: ['<sip:10.0.0.1;lr>'],
    };
    const ct: ClientTransaction = layer.startClient({
      branch, request: Buffer.from(`${method} sip:bob@127.0.0.1:19202 SIP/2.0\r\n\r\n`), sent, channel: ch, address: '127.0.0.1', port: 19202, user, fr, frInv,
    });
    return { layer, ch, got, ct, branch };
  }

  it('INVITE: timer A doubles from T1 (capped at T2), a provisional stops it and fr_inv_timer then applies', () => {
    const clock = new ManualClock();
    const { layer, ch, got, ct, branch } = start(clock, 'INVITE');
    clock.advance(1000);
    expect(ch.sent.map((s) => s.at)).toEqual([0, 100, 300, 700]);
    expect(layer.receiveResponse(response(180, 'Ringing', branch), uacSource)).toBe(true);
    expect(ct.state).toBe(ClientState.Proceeding);
    clock.advance(4900);
    expect(ch.sent.length).toBe(4);
    expect(got).toEqual([180]);
    clock.advance(200); // fr_inv 5000 after the 180 at t=1000
    expect(got).toEqual([180, 'timeout']);
    expect(layer.clientCount).toBe(0);
  });

  it('INVITE without any response times out at fr_timer', () => {
    const clock = new ManualClock();
    const { got } = start(clock, 'INVITE', 'udp', 800);
    clock.advance(790);
    expect(got).toEqual([]);
    clock.advance(20);
    expect(got).toEqual(['timeout']);
  });

  it('INVITE non-2xx: ACK generated hop by hop (§17.1.1.3), re-sent for retransmitted finals which are absorbed', () => {
    const clock = new ManualClock();
    const { layer, ch, got, ct, branch } = start(clock, 'INVITE');
    layer.receiveResponse(response(486, 'Busy Here', branch), uacSource);
    expect(ct.state).toBe(ClientState.Completed);
    const ack = ch.sent.at(-1)!.text;
    expect(ack).toMatch(/^ACK sip:bob@127\.0\.0\.1:19202 SIP\/2\.0\r\n/);
    expect(ack).toContain(`Via: SIP/2.0/UDP 127.0.0.1:19200;branch=${branch}\r\n`);
    expect(ack).toContain('To: <sip:bob@127.0.0.1>;tag=b1\r\n');
    expect(ack).toContain('CSeq: 1 ACK\r\n');
    expect(ack).toContain('Route: <sip:10.0.0.1;lr>\r\n');
    layer.receiveResponse(response(486, 'Busy Here', branch), uacSource);
    expect(got).toEqual([486]);
    expect(ch.sent.filter((s) => s.text.startsWith('ACK')).length).toBe(2);
    clock.advance(1010); // timer D = wt
    expect(layer.clientCount).toBe(0);
  });

  it('INVITE 2xx: Accepted, every 2xx goes to the TU, no ACK generated', () => {
    const clock = new ManualClock();
    const { layer, ch, got, ct, branch } = start(clock, 'INVITE');
    layer.receiveResponse(response(200, 'OK', branch), uacSource);
    layer.receiveResponse(response(200, 'OK', branch), uacSource);
    expect(ct.state).toBe(ClientState.Accepted);
    expect(got).toEqual([200, 200]);
    expect(ch.sent.some((s) => s.text.startsWith('ACK'))).toBe(false);
  });

  it('non-INVITE: timer E doubles to T2, stays at T2 once Proceeding; timer F = fr_timer; K = T4', () => {
    const clock = new ManualClock();
    const { layer, ch, got, branch } = start(clock, 'OPTIONS', 'udp', 2000);
    clock.advance(1200);
    expect(ch.sent.map((s) => s.at)).toEqual([0, 100, 300, 700, 1100]);
    layer.receiveResponse(response(100, 'Trying', branch, 'OPTIONS'), uacSource);
    clock.advance(800);
    expect(ch.sent.map((s) => s.at)).toEqual([0, 100, 300, 700, 1100, 1500, 1900]);
    clock.advance(20);
    expect(got).toEqual([100, 'timeout']);

    const clock2 = new ManualClock();
    const b = start(clock2, 'OPTIONS');
    b.layer.receiveResponse(response(200, 'OK', b.branch, 'OPTIONS'), uacSource);
    b.layer.receiveResponse(response(200, 'OK', b.branch, 'OPTIONS'), uacSource);
    expect(b.got).toEqual([200]);
    clock2.advance(510);
    expect(b.layer.clientCount).toBe(0);
  });

  it('reliable transport: no retransmissions', () => {
    const clock = new ManualClock();
    const { ch } = start(clock, 'INVITE', 'tcp');
    clock.advance(2000);
    expect(ch.sent.length).toBe(1);
  });

  it('a response matches by branch and CSeq method only', () => {
    const clock = new ManualClock();
    const { layer, got, branch } = start(clock, 'INVITE');
    expect(layer.receiveResponse(response(200, 'OK', branch, 'CANCEL'), uacSource)).toBe(false);
    expect(layer.receiveResponse(response(200, 'OK', 'z9hG4bKother', 'INVITE'), uacSource)).toBe(false);
    expect(got).toEqual([]);
  });
});
