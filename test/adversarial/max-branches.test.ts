/**
 * core.max_branches at the proxy core, over real UDP (host/proxy/proxy.ts): a request_route that
 * appends 30 branches and hands 30 more registrar branches forks to max_branches only, and a
 * failure_route that relays to a new target every time (serial forking) stops once the
 * transaction made max_branches branches in all (Kamailio tm: nr_of_outgoings >= max_branches),
 * then the caller gets the final answer. Ports from freePorts(), fresh for each test.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Action, ProxyHarness, request, TestUA } from '../integration/proxy/harness.js';
import { freePorts } from '../helpers/ports.js';

let PROXY = 0;
let UAC = 0;
let UAS = 0;

beforeEach(async () => {
  [PROXY, UAC, UAS] = (await freePorts(3)) as [number, number, number];
});

let harness: ProxyHarness | null = null;
const uas: TestUA[] = [];

afterEach(async () => {
  await harness?.close();
  harness = null;
  for (const u of uas.splice(0)) await u.close();
});

async function uasBusy(): Promise<TestUA> {
  const u = await TestUA.bind(UAS);
  uas.push(u);
  return u;
}

/** answers every INVITE 486 (so each branch ends at once) and counts the distinct branches seen. */
function busyResponder(u: TestUA): () => number {
  const seen = new Set<string>();
  u.socket.on('message', (buf) => {
    const text = buf.toString();
    if (!text.startsWith('INVITE ')) return;
    const branch = /branch=([^;\r\n]+)/.exec(text)![1]!;
    if (seen.has(branch)) return;
    seen.add(branch);
    const head = text.split('\r\n\r\n')[0]!.split('\r\n');
    const keep = head.filter((l) => /^(Via|From|Call-ID|CSeq):/i.test(l));
    const to = head.find((l) => /^To:/i.test(l))!;
    u.socket.send(['SIP/2.0 486 Busy Here', ...keep, `${to};tag=busy`, 'Content-Length: 0', '', ''].join('\r\n'), PROXY, '127.0.0.1');
  });
  return () => seen.size;
}

describe('max_branches at the proxy', () => {
  it('parallel forking: 60 targets offered, 12 branches sent, the rest refused and counted', async () => {
    const u = await uasBusy();
    const branches = busyResponder(u);
    harness = await ProxyHarness.start(PROXY, {
      router: (ctx, proxy) => {
        let appended = 0;
        for (let i = 0; i < 30; i++) if (proxy.dset.append(ctx, { uri: `sip:d${i}@127.0.0.1:${UAS}`, dstUri: null })) appended++;
        expect(appended).toBe(11); // the set holds max_branches - 1
        ctx.branches = Array.from({ length: 30 }, (_, i) => `sip:r${i}@127.0.0.1:${UAS}`);
        return proxy.requestRelay(ctx) > 0 ? Action.CONTINUE : Action.ERROR;
      },
    });
    const uac = await TestUA.bind(UAC);
    uas.push(uac);
    uac.send(request({ ruri: `sip:bob@127.0.0.1:${UAS}`, uacPort: UAC, branch: 'z9hG4bK-mb-1', callId: 'mb-1' }), PROXY);
    await uac.waitResponse(486);
    expect(branches()).toBe(12);
    expect(harness.proxy.stats.branchesRefused).toBe(30);
  });

  it('serial forking: a failure_route relaying again and again stops at 12 branches in all', async () => {
    const u = await uasBusy();
    const branches = busyResponder(u);
    let failures = 0;
    harness = await ProxyHarness.start(PROXY, {
      router: (ctx, proxy) => {
        proxy.tOnFailure(ctx, 1);
        return proxy.requestRelay(ctx) > 0 ? Action.CONTINUE : Action.ERROR;
      },
      hooks: {
        failureRoute(ctx, route) {
          failures++;
          ctx.msg.setRequestUri(`sip:next${failures}@127.0.0.1:${UAS}`);
          harness!.proxy.tOnFailure(ctx, route);
          return harness!.proxy.requestRelay(ctx) > 0 ? Action.CONTINUE : Action.ERROR;
        },
      },
    });
    const uac = await TestUA.bind(UAC);
    uas.push(uac);
    uac.send(request({ ruri: `sip:bob@127.0.0.1:${UAS}`, uacPort: UAC, branch: 'z9hG4bK-mb-2', callId: 'mb-2' }), PROXY);
    const final = await uac.waitFor((m) => m.kind === 'response' && m.status >= 300, 8000, 'a final response');
    expect(branches()).toBe(12);
    expect(failures).toBe(12); // the 12th failure_route's relay had no room left
    expect(final.msg.status).toBeGreaterThanOrEqual(300);
  });
});
