/**
 * uac_replace_from round trip with real UAs (issue #14 item 4): two baresip softphones register with a
 * node whose plugin (test/e2e/plugins/uac-pbx, built here) hides the caller with
 * uac_replace_from("Anonymous", "sip:anonymous@anonymous.invalid") in restore mode auto. alice calls
 * bob; bob answers, then hangs up. What each UA saw on the wire is its own SIP trace (`baresip -s`):
 *
 *   - bob is offered a call from Anonymous <sip:anonymous@anonymous.invalid> (the INVITE's From, and
 *     baresip's CALL_INCOMING peer), and his BYE carries that replaced URI as To;
 *   - alice sees her own From in the 180 and the 200 of her INVITE, and in bob's BYE (To), because
 *     the node restored them (the BYE from the sealed `vsf` of its Route, RFC 3261 §12.2.1.1);
 *   - the call is established on both sides and ends on bob's BYE (alice: "Connection reset by peer"),
 *     which shows the restored BYE matched alice's dialog.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { parseConfig } from '../../host/config/load.js';
import { createLogger } from '../../host/log/logger.js';
import { startNode, type SiphonNode } from '../../host/server/app.js';
import { moduleSchemas } from '../../host/server/modules.js';
import { Baresip, closed, established, incoming, registered, ringing } from '../helpers/baresip.js';
import { freePort } from '../helpers/ports.js';
import { nodeStats } from '../helpers/shards.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const PLUGINS = path.join(import.meta.dirname, 'plugins');
const PLUGIN = path.join(PLUGINS, 'uac-pbx/build/uac-pbx.wasm');
const DOMAIN = 'siphon.test';

let node: SiphonNode;
let port: number;
const uas: Baresip[] = [];

beforeAll(async () => {
  await run(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', PLUGINS], { cwd: ROOT, timeout: 120_000 });
  port = await freePort('udp');
  const yaml = [
    'core:',
    `  listen: [udp:127.0.0.1:${port}]`,
    '  ctl: []',
    '  warmup: 0',
    `  aliases: [${DOMAIN}]`,
    'modules:',
    '  registrar: { db_mode: 0 }',
    '  uac: { restore_passwd: "e2e" }',
    'routing:',
    `  plugin: ${JSON.stringify(PLUGIN)}`,
  ].join('\n');
  const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
  node = await startNode(config, createLogger({ level: 'error', destination: { write: () => {} } }), { controlPlane: false });
}, 180_000);

afterAll(async () => {
  await Promise.all(uas.map((u) => u.stop()));
  await node?.stop();
});

/** the SIP messages of a baresip trace (start line + header lines), in order. */
function traced(out: string): string[] {
  const msgs: string[] = [];
  let cur: string[] | null = null;
  for (const raw of out.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (cur === null) {
      if (/^(SIP\/2\.0 \d{3} |[A-Z]+ sips?:\S+ SIP\/2\.0$)/.test(line)) cur = [line];
      continue;
    }
    if (line === '') {
      msgs.push(cur.join('\n'));
      cur = null;
    } else {
      cur.push(line);
    }
  }
  return msgs;
}

const hdr = (msg: string, name: string): string | undefined => {
  const re = new RegExp(`^(?:${name}):\\s*(.*)$`, 'im');
  return re.exec(msg)?.[1];
};
const cseqOf = (msg: string): string => hdr(msg, 'CSeq|CSeq') ?? '';

describe('uac_replace_from with two baresip UAs', () => {
  it('bob sees Anonymous; alice sees her own From in the 180/200 and as To in bob\'s BYE', async () => {
    const start = async (user: string): Promise<Baresip> => {
      const u = await Baresip.start({ user, domain: DOMAIN, proxyPort: port, sipTrace: true });
      uas.push(u);
      return u;
    };
    const [alice, bob] = await Promise.all([start('alice'), start('bob')]);
    await Promise.all([alice.waitFor(registered()), bob.waitFor(registered())]);

    await alice.dial(`sip:bob@${DOMAIN}`);
    const inc = await bob.waitFor(incoming());
    expect(inc.peeruri).toBe('sip:anonymous@anonymous.invalid');
    await alice.waitFor(ringing());
    await bob.accept();
    await Promise.all([alice.waitFor(established()), bob.waitFor(established())]);

    await bob.hangup();
    const [aClosed, bClosed] = await Promise.all([alice.waitFor(closed()), bob.waitFor(closed())]);
    expect(bClosed.param).toBe('Connection reset by user');
    // alice closed on the BYE that reached her through siphon (restored), not on a timeout
    expect(aClosed.param).toBe('Connection reset by peer');

    const aliceMsgs = traced(alice.output());
    const bobMsgs = traced(bob.output());
    const callId = hdr(bobMsgs.find((m) => m.startsWith('INVITE '))!, 'Call-ID|i')!;
    const ofCall = (m: string): boolean => hdr(m, 'Call-ID|i') === callId;

    // bob's side: the INVITE he got and the BYE he sent name the replaced caller
    const invite = bobMsgs.find((m) => m.startsWith('INVITE ') && ofCall(m))!;
    expect(hdr(invite, 'From|f')).toMatch(/^"Anonymous" <sip:anonymous@anonymous\.invalid>;tag=/);
    expect(hdr(invite, 'Record-Route')).toMatch(/;vsf=[A-Za-z0-9_-]{40,}/);
    // the sealed parameter does not show the caller (uac replaces From only: the Contact is alice's own)
    expect(hdr(invite, 'Record-Route')).not.toMatch(/alice/);
    const bye = bobMsgs.find((m) => m.startsWith('BYE ') && ofCall(m))!;
    expect(hdr(bye, 'To|t')).toMatch(/^"Anonymous" <sip:anonymous@anonymous\.invalid>;tag=/);

    // alice's side: her From in the replies of her INVITE, her URI as To in bob's BYE
    const aliceFrom = /^(?:"[^"]*" )?<sip:alice@siphon\.test>;tag=/;
    const replies = aliceMsgs.filter((m) => /^SIP\/2\.0 (180|200) /.test(m) && ofCall(m) && / INVITE$/.test(cseqOf(m)));
    expect(replies.map((m) => m.slice(8, 11))).toEqual(expect.arrayContaining(['180', '200']));
    for (const r of replies) expect(hdr(r, 'From|f')).toMatch(aliceFrom);
    const byeAtAlice = aliceMsgs.find((m) => m.startsWith('BYE ') && ofCall(m))!;
    expect(byeAtAlice).toBeDefined();
    expect(hdr(byeAtAlice, 'To|t')).toMatch(aliceFrom);
    expect(byeAtAlice).not.toMatch(/anonymous\.invalid/);

    const uac = await nodeStats(node, 'uac');
    expect(uac.replaced_from).toBe(1);
    expect(uac.restored).toBeGreaterThanOrEqual(2); // the ACK (downstream) and the BYE (upstream)
    expect(uac.refused_params).toBe(0);
  }, 90_000);
});
