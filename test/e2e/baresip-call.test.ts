/**
 * Two real softphones (baresip, test/helpers/baresip.ts) through an in-process node routing with
 * plugins/default (registrar in memory, record-routing stateful proxy): both register, alice calls bob,
 * bob answers, the call is established on both sides (INVITE/200/ACK through siphon), alice hangs up and
 * both see the call closed (the BYE follows the Record-Route through siphon); once over UDP, once over
 * TCP (the node listens on both, on one ephemeral port). The UAs bind port 0 and send everything to the
 * node (outbound proxy). The domain is a name the node has as an alias (Kamailio alias=, any port):
 * sip:bob@127.0.0.1 would mean port 5060, not this node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../host/config/load.js';
import { createLogger } from '../../host/log/logger.js';
import { startNode, type SiphonNode } from '../../host/server/app.js';
import { moduleSchemas } from '../../host/server/modules.js';
import { startDefaultNode } from '../adversarial/helpers.js';
import { buildPlugins, PLUGIN } from '../integration/modules/helpers.js';
import { Baresip, closed, established, incoming, registerFailed, registered, ringing, statusOfParam } from '../helpers/baresip.js';
import { freePort, freeUdpTcpPort } from '../helpers/ports.js';
import { nodeStats } from '../helpers/shards.js';

let node: SiphonNode;
let port: number;
const uas: Baresip[] = [];
const DOMAIN = 'siphon.test';

async function ua(user: string, transport: 'udp' | 'tcp' = 'udp'): Promise<Baresip> {
  const u = await Baresip.start({ user, domain: DOMAIN, proxyPort: port, transport });
  uas.push(u);
  return u;
}

beforeAll(async () => {
  await buildPlugins();
  // UDP and TCP on one port; plugins/default without modules.auth (route[AUTH] off: nothing to check with)
  port = await freeUdpTcpPort();
  const yaml = [
    'core:',
    `  listen: [udp:127.0.0.1:${port}, tcp:127.0.0.1:${port}]`,
    '  ctl: []',
    '  warmup: 0',
    `  aliases: [${DOMAIN}]`,
    'modules:',
    '  registrar: { db_mode: 0 }',
    'routing:',
    `  plugin: ${JSON.stringify(PLUGIN.default)}`,
  ].join('\n');
  const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
  node = await startNode(config, createLogger({ level: 'error', destination: { write: () => {} } }), { controlPlane: false });
}, 120_000);

afterAll(async () => {
  await Promise.all(uas.map((u) => u.stop()));
  await node?.stop();
});

describe('baresip through plugins/default', () => {
  it.each(['udp', 'tcp'] as const)('two UAs register over %s, alice calls bob, bob answers, alice hangs up', async (transport) => {
    // the node's proxy counters, summed over its shards (core.workers: the calls' Call-IDs spread over them)
    const before = await nodeStats(node, 'tm');
    const [alice, bob] = await Promise.all([ua(`alice-${transport}`, transport), ua(`bob-${transport}`, transport)]);
    await Promise.all([alice.waitFor(registered()), bob.waitFor(registered())]);

    await alice.dial(`sip:bob-${transport}@${DOMAIN}`);
    const inc = await bob.waitFor(incoming());
    expect(inc.peeruri).toBe(`sip:alice-${transport}@${DOMAIN}`);
    await alice.waitFor(ringing());
    await bob.accept();
    const [a, b] = await Promise.all([alice.waitFor(established()), bob.waitFor(established())]);
    expect(a.direction).toBe('outgoing');
    expect(b.direction).toBe('incoming');
    // the SDP crossed siphon intact: RTP flows between the two UAs (directly, not through siphon)
    await Promise.all([alice.waitFor((e) => e.type === 'CALL_RTPESTAB'), bob.waitFor((e) => e.type === 'CALL_RTPESTAB')]);

    await alice.hangup();
    const [aClosed, bClosed] = await Promise.all([alice.waitFor(closed()), bob.waitFor(closed())]);
    expect(aClosed.param).toBe('Connection reset by user');
    // bob closed on the BYE that reached it through siphon (record-routed), not on a timeout
    expect(bClosed.param).toBe('Connection reset by peer');
    // the proxy saw the whole dialog: INVITE and BYE relayed statefully, the ACK of the 2xx statelessly,
    // 180, 200 (INVITE) and 200 (BYE) forwarded back
    const stats = await nodeStats(node, 'tm');
    expect(stats.relayed! - before.relayed!).toBe(2);
    expect(stats.forwardedStateless! - before.forwardedStateless!).toBe(1);
    expect(stats.responsesForwarded! - before.responsesForwarded!).toBe(3);
    expect(stats.relayFailures).toBe(0);
  }, 60_000);

  it('a REGISTER the server refuses is REGISTER_FAIL with its status (without a registrar save() is -6: 501)', async () => {
    const bare = await freePort('udp');
    // no registrar section (pike only, generous): save() answers -6 and the route replies 501
    const other = await startDefaultNode(bare, [`aliases: [${DOMAIN}]`], ['pike: { reqs_density_per_unit: 1000 }']);
    try {
      const carol = await Baresip.start({ user: 'carol', domain: DOMAIN, proxyPort: bare });
      uas.push(carol);
      const fail = await carol.waitFor(registerFailed());
      expect(statusOfParam(fail)).toBe(501);
      expect(carol.events.some(registered())).toBe(false);
    } finally {
      await other.stop();
    }
  }, 60_000);
});
