/**
 * What a transaction keeps once its final response is known (RFC 3261 §17): the request is released
 * while retransmission absorption, ACK/CANCEL matching and the non-2xx ACK keep working.
 */
import { describe, expect, it } from 'vitest';
import { ClientState, type ClientTransactionUser } from '../../../host/transaction/client-transaction.js';
import { RequestMatch } from '../../../host/transaction/layer.js';
import { ServerState } from '../../../host/transaction/server-transaction.js';
import type { SentRequest } from '../../../host/transaction/requests.js';
import { invite, makeLayer, ManualClock, MemoryChannel, parse, response, uacSource } from './helpers.js';

const T = { t1: 100, t2: 400, t4: 500, fr: 3000, frInv: 5000, wt: 1000 };

describe('server transaction after its final response', () => {
  it('non-2xx: request released; retransmission re-sends the final, the ACK is absorbed (§17.2.1)', () => {
    const clock = new ManualClock();
    const layer = makeLayer(clock, T);
    const ch = new MemoryChannel(clock);
    const req = parse(invite());
    layer.receiveRequest(req);
    const st = layer.createServer(req, uacSource, ch)!;
    let finals = 0;
    st.user = { onServerTerminated() {}, onServerFinal: () => finals++ };
    st.respond(180, Buffer.from('SIP/2.0 180 Ringing\r\n\r\n'));
    expect(st.request).toBe(req);
    st.respond(486, Buffer.from('SIP/2.0 486 Busy Here\r\n\r\n'), 'tt');
    expect(st.request).toBeNull();
    expect(finals).toBe(1);
    expect(layer.receiveRequest(parse(invite()))).toBe(RequestMatch.Retransmission);
    expect(ch.firstLines().at(-1)).toBe('SIP/2.0 486 Busy Here');
    expect(layer.receiveRequest(parse(invite({ method: 'ACK', toTag: 'tt' })))).toBe(RequestMatch.AckAbsorbed);
    expect(st.state).toBe(ServerState.Confirmed);
  });

  it('2xx to INVITE: request released at the first 2xx, later 2xx still sent (forking, §16.7 step 5)', () => {
    const clock = new ManualClock();
    const layer = makeLayer(clock, T);
    const ch = new MemoryChannel(clock);
    const req = parse(invite());
    const st = layer.createServer(req, uacSource, ch)!;
    let finals = 0;
    st.user = { onServerTerminated() {}, onServerFinal: () => finals++ };
    expect(st.respond(200, Buffer.from('SIP/2.0 200 OK\r\n\r\n'), 'a')).toBe(true);
    expect(st.respond(200, Buffer.from('SIP/2.0 200 OK\r\n\r\n'), 'b')).toBe(true);
    expect(st.request).toBeNull();
    expect(finals).toBe(1);
    expect(st.state).toBe(ServerState.Accepted);
  });
});

describe('client transaction after its final response', () => {
  function start(method: string) {
    const clock = new ManualClock();
    const layer = makeLayer(clock, T);
    const ch = new MemoryChannel(clock);
    const got: number[] = [];
    const user: ClientTransactionUser = { onClientResponse: (_ct, m) => got.push(m.status), onClientTimeout: () => {} };
    const branch = layer.newBranch();
    const sent: SentRequest = {
      method, requestUri: 'sip:bob@127.0.0.1:19202', via: `SIP/2.0/UDP 127.0.0.1:19200;branch=${branch}`,
      from: '<sip:alice@127.0.0.1>;tag=a1', to: '<sip:bob@127.0.0.1>', callId: 'call-1@test', cseq: 1, routes: [],
    };
    const ct = layer.startClient({
      branch, request: Buffer.from(`${method} sip:bob@127.0.0.1:19202 SIP/2.0\r\n\r\n`), sent, channel: ch, address: '127.0.0.1', port: 19202, user,
    });
    return { clock, layer, ch, got, ct, branch };
  }

  it('INVITE non-2xx: request and sent released once the ACK is built; the ACK is re-sent for a retransmitted final (§17.1.1.2)', () => {
    const { clock, layer, ch, ct, branch } = start('INVITE');
    expect(ct.request).not.toBeNull();
    layer.receiveResponse(response(486, 'Busy Here', branch), uacSource);
    expect(ct.state).toBe(ClientState.Completed);
    expect(ct.request).toBeNull();
    expect(ct.sent).toBeNull();
    layer.receiveResponse(response(486, 'Busy Here', branch), uacSource);
    const acks = ch.sent.filter((s) => s.text.startsWith('ACK'));
    expect(acks.length).toBe(2);
    expect(acks[1]!.text).toBe(acks[0]!.text);
    expect(acks[0]!.text).toContain('To: <sip:bob@127.0.0.1>;tag=b1\r\n');
    clock.advance(1010);
    expect(layer.clientCount).toBe(0);
  });

  it('INVITE 2xx: released in Accepted, 2xx retransmissions still reach the TU (RFC 6026)', () => {
    const { layer, got, ct, branch } = start('INVITE');
    layer.receiveResponse(response(200, 'OK', branch), uacSource);
    expect(ct.request).toBeNull();
    layer.receiveResponse(response(200, 'OK', branch), uacSource);
    expect(got).toEqual([200, 200]);
  });

  it('a provisional keeps the request (retransmission of non-INVITE, CANCEL of INVITE still possible)', () => {
    const { layer, ct, branch } = start('INVITE');
    layer.receiveResponse(response(180, 'Ringing', branch), uacSource);
    expect(ct.request).not.toBeNull();
    expect(ct.sent).not.toBeNull();
  });
});
