/**
 * A full transaction table (core.tm.max_transactions) over real UDP: with 3 INVITE transactions
 * ringing, a 4th INVITE gets 503 Service Unavailable + Retry-After statelessly (no transaction is
 * created for it), a retransmission of a ringing INVITE is still matched (its 180 is re-sent), the
 * ringing calls complete (200 forwarded), and once they left the table new INVITEs are relayed again.
 * Node port from freePort() (a listen address needs a port); the UAs bind port 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SiphonNode } from '../../host/server/app.js';
import { buildPlugins } from '../integration/modules/helpers.js';
import { freePort } from '../helpers/ports.js';
import { nodeStat, onShard0 } from '../helpers/shards.js';
import { invite, replyTo, startDefaultNode, Ua, until } from './helpers.js';

let PORT = 0;

let node: SiphonNode;
let uac: Ua;
let uas: Ua;

beforeAll(async () => {
  await buildPlugins();
  PORT = await freePort('udp');
  // wt_timer 100 ms: an answered INVITE leaves the table soon after its 200 (RFC 6026 Accepted)
  node = await startDefaultNode(PORT, ['tm: { max_transactions: 3, retry_after: 7, wt_timer: 100 }'], ['registrar: { db_mode: 0 }']);
  uac = await Ua.open();
  uas = await Ua.open();
  uas.answer = { INVITE: [180, 'Ringing'] };
}, 180_000);

afterAll(async () => {
  await uas?.close();
  await uac?.close();
  await node?.stop();
});

const finalOf = (callId: string) => uac.responses(callId).find((g) => g.msg.status >= 200);
/**
 * the calls' Call-IDs: steered to shard 0 (this thread), whose table the test fills and reads (with
 * core.workers every shard has its own table of core.tm.max_transactions, host/shards/README.md)
 */
const id = (i: number): string => onShard0(node, `tt-${i}`);

describe('transaction table bound', () => {
  it('answers 503 + Retry-After when full, keeps matching retransmissions, and serves again once calls completed', async () => {
    const layer = node.server.transactions!;
    const target = `sip:bob@127.0.0.1:${uas.port}`; // not ours: the default plugin relays it
    for (let i = 1; i <= 3; i++) uac.send(invite(uac, target, id(i), `z9hG4bK-tt-${i}`), PORT);
    await until(() => [1, 2, 3].every((i) => uac.responses(id(i)).some((g) => g.msg.status === 180)), 'three 180s');
    expect(layer.serverCount).toBe(3);

    // the 4th new INVITE: 503 with Retry-After, statelessly (the table does not grow)
    uac.send(invite(uac, target, id(4), 'z9hG4bK-tt-4'), PORT);
    await until(() => finalOf(id(4)) !== undefined, 'the 503');
    const refused = finalOf(id(4))!;
    expect(refused.msg.status).toBe(503);
    expect(refused.msg.header('retry-after')).toBe('7');
    expect(layer.serverCount).toBe(3);
    expect(uas.requests('INVITE').filter((g) => g.msg.callId === id(4))).toHaveLength(0);

    // a retransmission of a ringing INVITE is absorbed by its transaction: the 180 comes again
    const before = uac.responses(id(1)).filter((g) => g.msg.status === 180).length;
    uac.send(invite(uac, target, id(1), 'z9hG4bK-tt-1'), PORT);
    await until(() => uac.responses(id(1)).filter((g) => g.msg.status === 180).length > before, 'the re-sent 180');
    expect(uas.requests('INVITE').filter((g) => g.msg.callId === id(1))).toHaveLength(1);

    // the callee answers the three calls: the 200s go through, the transactions leave the table
    for (const g of uas.requests('INVITE')) uas.send(replyTo(g.msg, 200, 'OK'), PORT);
    await until(() => [1, 2, 3].every((i) => finalOf(id(i))?.msg.status === 200), 'three 200s');
    await until(() => layer.serverCount === 0, 'the table to empty');

    // served again
    uac.send(invite(uac, target, id(5), 'z9hG4bK-tt-5'), PORT);
    await until(() => uac.responses(id(5)).some((g) => g.msg.status === 180), 'the 180 of a new call');
    // the node's count (summed over its shards) is this one refusal
    expect(await nodeStat(node, 'core', 'transactionsFullRejected')).toBe(1);
    expect(layer.stats.tableFull).toBe(1);
  });
});
