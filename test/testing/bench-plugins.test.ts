/**
 * bench/plugins/proxy-stateful: Kamailio's kam-proxy-stateful.cfg request_route line for line (the
 * side-by-side overload runs use it, bench/RESULTS.md): an INVITE is record-routed and relayed to the
 * dispatcher's choice, a gateway's 5xx goes upstream with no failover and no ds_mark_dst (the cfg has
 * no failure_route), an empty set is 503 "No destination", a stray in-dialog request 404.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { PluginTester, sipRequest } from '../../host/testing/index.js';

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');

describe('bench/plugins/proxy-stateful on the PluginTester', () => {
  let t: PluginTester;
  let gateways = 1;
  beforeAll(async () => {
    await exec(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', path.join(ROOT, 'bench/plugins'), 'proxy-stateful'], { cwd: ROOT, timeout: 180_000 });
    t = await PluginTester.load(path.join(ROOT, 'bench/plugins/proxy-stateful/build/proxy-stateful.wasm'), {
      stubs: {
        dispatcher: {
          ds_select_dst: (c) => {
            if (gateways === 0) return -1;
            c.setDst('sip:192.0.2.10:5060');
            return 1;
          },
          ds_mark_dst: 1,
          ds_next_dst: 1,
        },
      },
    });
  }, 200_000);
  afterAll(() => t?.close());

  it('an INVITE is record-routed and relayed to set 1 round robin (ds_select_dst("1", "4"))', async () => {
    const r = await t.send(sipRequest('INVITE', 'sip:service@127.0.0.1:5080').body('v=0\r\n'));
    expect(r.relay?.to).toEqual({ address: '192.0.2.10', port: 5060 });
    expect(r.relay?.header('record-route')).toContain('127.0.0.1');
    expect(r.replies.map((x) => x.code)).toEqual([100]);
    expect(r.moduleCalls.map((c) => [c.name, ...c.args.slice(0, 2)])).toEqual([['dispatcher.ds_select_dst', 1, 4]]);
  });

  it("a gateway's 503 goes upstream as the final answer: no failure_route, no ds_mark_dst, no failover", async () => {
    const r = await t.send(sipRequest('INVITE', 'sip:service@127.0.0.1:5080'));
    const f = await t.respond(r.relay!, 503);
    expect(f.hooks.map((h) => h.hook)).toEqual([]);
    expect(f.moduleCalls).toEqual([]);
    expect(f.relayed.map((x) => x.method)).toEqual(['ACK']);
    expect(f.reply?.code).toBeGreaterThanOrEqual(500);
  });

  it('an empty set is 503 "No destination"; an in-dialog request without our Route is 404', async () => {
    gateways = 0;
    const r = await t.send(sipRequest('INVITE', 'sip:service@127.0.0.1:5080'));
    expect([r.reply?.code, r.reply?.reason]).toEqual([503, 'No destination']);
    gateways = 1;
    const bye = await t.send(sipRequest('BYE', 'sip:service@192.0.2.10:5060').toTag('x1'));
    expect([bye.reply?.code, bye.reply?.reason]).toEqual([404, 'Not here']);
  });
});
