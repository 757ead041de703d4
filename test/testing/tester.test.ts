/**
 * host/testing (the plugin testing library): the shipped plugins run on the real runtime and
 * message path without sockets; request_route decisions, stateful relays, replies driving
 * failure_route, stubbed and real module answers, log lines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PluginTester, sipRequest, type StubCall } from '../../host/testing/index.js';
import { isSiphonError } from '../../host/errors/registry.js';

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const wasm = (name: string): string => path.join(ROOT, 'plugins', name, 'build', `${name}.wasm`);

const OPTIONS = `OPTIONS sip:127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKopt1
Max-Forwards: 70
From: <sip:probe@example.org>;tag=p1
To: <sip:127.0.0.1>
Call-ID: opt-1@test
CSeq: 1 OPTIONS
Content-Length: 0

`;

let tmp: string;
beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'siphon-tester-'));
  await exec(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), 'hello', 'lb', 'default'], { cwd: ROOT, timeout: 180_000 });
}, 200_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('PluginTester on hello', () => {
  let t: PluginTester;
  beforeAll(async () => {
    t = await PluginTester.load(wasm('hello'));
  });
  afterAll(() => t.close());

  it('a request written as text (bare LF) is answered 501 with the log line of the plugin', async () => {
    const r = await t.send(OPTIONS);
    expect(r.action).toBe('REPLIED');
    expect(r.reply?.code).toBe(501);
    expect(r.reply?.reason).toBe('Not Implemented');
    expect(r.reply?.header('call-id')).toBe('opt-1@test');
    expect(r.replies).toHaveLength(1);
    expect(r.relayed).toEqual([]);
    expect(r.headersAdded).toEqual([]);
    expect(r.logs.map((l) => l.msg)).toContain('I got a message: OPTIONS sip:127.0.0.1:5060 from 127.0.0.1:5080 (Call-ID opt-1@test)');
    expect(r.gasUsed).toBeGreaterThan(0);
    expect(t.plugin.info.name).toBe('hello');
  });

  it('a built request from another source; an ACK is dropped unanswered', async () => {
    const r = await t.send(sipRequest('MESSAGE', 'sip:bob@example.com').header('X-Test', '1'), '192.0.2.7:5099');
    expect(r.reply?.code).toBe(501);
    expect(r.reply?.header('via')).toContain('received=192.0.2.7');
    const ack = await t.send(sipRequest('ACK', 'sip:bob@example.com'));
    expect(ack.action).toBe('DROP');
    expect(ack.replies).toEqual([]);
  });

  it('a request failing sanity never reaches request_route (action null, 400 from the host)', async () => {
    const r = await t.send(OPTIONS.replace('CSeq: 1 OPTIONS', 'CSeq: 1 INVITE'));
    expect(r.action).toBeNull();
    expect(r.hooks).toEqual([]);
    expect(r.reply?.code).toBe(400);
  });
});

describe('PluginTester on lb (stateful relay, failure_route, module stubs)', () => {
  const gateways = ['sip:192.0.2.10:5060', 'sip:192.0.2.11:5060'];
  let t: PluginTester;
  let left: string[] = [];
  beforeAll(async () => {
    t = await PluginTester.load(wasm('lb'), {
      stubs: {
        dispatcher: {
          ds_select_dst: (c: StubCall) => {
            left = [...gateways];
            c.setDst(left.shift()!);
            return 1;
          },
          ds_next_dst: (c: StubCall) => {
            const next = left.shift();
            if (next === undefined) return -1;
            c.setDst(next);
            return 1;
          },
          ds_mark_dst: 1,
        },
      },
    });
  });
  afterAll(() => t.close());

  it('an INVITE goes to the first gateway with 100 Trying upstream and a Record-Route', async () => {
    const r = await t.send(sipRequest('INVITE', 'sip:bob@lb.example.com').body('v=0\r\n'));
    expect(r.du).toBe('sip:192.0.2.10:5060');
    expect(r.replies.map((x) => x.code)).toEqual([100]);
    expect(r.relay?.method).toBe('INVITE');
    expect(r.relay?.to).toEqual({ address: '192.0.2.10', port: 5060 });
    expect(r.relay?.header('record-route')).toContain('127.0.0.1');
    expect(r.relay?.header('max-forwards')).toBe('69'); // below maxfwd's max_limit: only the hop's decrement
    expect(r.moduleCalls.map((c) => c.name)).toEqual(['dispatcher.ds_select_dst']);
    expect(r.moduleCalls[0]!.args.slice(0, 2)).toEqual([1, 4]);
    expect(r.logs.some((l) => l.msg.includes('lb: INVITE sip:bob@lb.example.com via <sip:192.0.2.10:5060>'))).toBe(true);
  });

  it('a 503 from the gateway runs failure_route: marked, next gateway; its 200 goes upstream', async () => {
    const r = await t.send(sipRequest('INVITE', 'sip:carol@lb.example.com'));
    const first = r.relay!;
    const f = await t.respond(first, 503);
    expect(f.hooks.map((h) => h.hook)).toEqual(['failure_route']);
    expect(f.hooks[0]!.route).toBe(1);
    expect(f.moduleCalls.map((c) => c.name)).toEqual(['dispatcher.ds_mark_dst', 'dispatcher.ds_next_dst']);
    // the 503 is acknowledged hop by hop, the INVITE goes to the second gateway; nothing upstream yet
    expect(f.relayed.map((x) => `${x.method} ${x.to.address}`)).toEqual(['ACK 192.0.2.10', 'INVITE 192.0.2.11']);
    expect(f.replies).toEqual([]);
    const ok = await t.respond(f.relay!, 200, { toTag: 'gw2' });
    expect(ok.reply?.code).toBe(200);
    expect(ok.reply?.header('to')).toContain('tag=gw2');
  });

  it('no gateway left: failure_route answers 503 upstream', async () => {
    const r = await t.send(sipRequest('INVITE', 'sip:dave@lb.example.com'));
    const f1 = await t.respond(r.relay!, 500);
    const f2 = await t.respond(f1.relay!, 502);
    expect(f2.relay).toBeNull();
    expect(f2.reply?.code).toBe(503);
  });

  it('a 486 (the callee, not the gateway) goes upstream without failover', async () => {
    const r = await t.send(sipRequest('INVITE', 'sip:erin@lb.example.com'));
    const f = await t.respond(r.relay!, 486);
    expect(f.moduleCalls).toEqual([]);
    expect(f.reply?.code).toBe(486);
  });
});

describe('PluginTester on default (secfilter verdicts, location lookups, onreply_route)', () => {
  let t: PluginTester;
  beforeAll(async () => {
    t = await PluginTester.load(wasm('default'), {
      stubs: {
        // secfilter's verdicts (host/modules/secfilter/README.md): the source is not listed (1), the
        // User-Agent is blacklisted (-2) for sipvicious; the other checks answer -6 (no module)
        secfilter: { check_ip: 1, check_ua: (c: StubCall) => (c.ctx?.msg.header('user-agent')?.includes('sipvicious') ? -2 : 1) },
        // the location table: bob is registered at 192.0.2.20:5062, nobody else (-1)
        registrar: {
          lookup: (c: StubCall) => {
            if (c.str(0) !== 'location') return -3;
            if (c.ctx?.msg.uri?.user !== 'bob') return -1;
            c.setRuri('sip:bob@192.0.2.20:5062');
            return 1;
          },
        },
      },
    });
  });
  afterAll(() => t.close());

  it('a scanner is refused on secfilter\'s verdict', async () => {
    const r = await t.send(sipRequest('INVITE', 'sip:bob@127.0.0.1:5060').header('User-Agent', 'sipvicious 0.3'));
    expect(r.moduleCalls.find((c) => c.name === 'secfilter.check_ua')?.result).toBe(-2);
    expect(r.relayed).toEqual([]);
    expect(r.reply?.code).toBe(403); // routing.config scanner_action: reply (the default)
  });

  it('a call to a registered user goes to the contact lookup() found; onreply_route sees the 180, failure_route the 486', async () => {
    const r = await t.send(sipRequest('INVITE', 'sip:bob@127.0.0.1:5060').header('User-Agent', 'Linphone'));
    expect(r.moduleCalls.map((c) => c.name)).toContain('registrar.lookup');
    expect(r.ruri).toBe('sip:bob@192.0.2.20:5062');
    expect(r.relay?.to).toEqual({ address: '192.0.2.20', port: 5062 });
    expect(r.relay?.uri).toBe('sip:bob@192.0.2.20:5062');
    const ringing = await t.respond(r.relay!, 180, { toTag: 'bob1' });
    expect(ringing.hooks).toEqual([{ hook: 'onreply_route', route: 2, arg: 180, action: 'CONTINUE' }]);
    expect(ringing.reply?.code).toBe(180);
    const busy = await t.respond(r.relay!, 486, { toTag: 'bob1' });
    expect(busy.hooks.map((h) => `${h.hook}:${h.route}`)).toEqual(['onreply_route:2', 'failure_route:1']);
    expect(busy.reply?.code).toBe(486);
  });

  it('a call to nobody gets 404 from the failed lookup', async () => {
    const r = await t.send(sipRequest('INVITE', 'sip:carol@127.0.0.1:5060').header('User-Agent', 'Linphone'));
    expect(r.moduleCalls.find((c) => c.name === 'registrar.lookup')?.result).toBe(-1);
    expect(r.reply?.code).toBe(404);
  });
});

describe('PluginTester with transaction timers', () => {
  it('a gateway that never answers: Timer B ends the branch (408) and lb\'s failure_route fails over', async () => {
    const gateways = ['sip:192.0.2.10:5060', 'sip:192.0.2.11:5060'];
    let left: string[] = [];
    const t = await PluginTester.load(wasm('lb'), {
      timers: { fr: 300 },
      stubs: {
        dispatcher: {
          ds_select_dst: (c: StubCall) => ((left = [...gateways]), c.setDst(left.shift()!), 1),
          ds_next_dst: (c: StubCall) => (left.length === 0 ? -1 : (c.setDst(left.shift()!), 1)),
          ds_mark_dst: 1,
        },
      },
    });
    try {
      const r = await t.send(sipRequest('INVITE', 'sip:bob@lb.example.com'));
      expect(r.relay?.to.address).toBe('192.0.2.10');
      const step = await t.until((s) => s.relayed.some((x) => x.method === 'INVITE'), 10_000);
      expect(step.hooks.map((h) => h.hook)).toEqual(['failure_route']);
      expect(step.relay?.to.address).toBe('192.0.2.11');
      await expect(t.until(() => false, 50)).rejects.toThrow(/not met within 50 ms/);
    } finally {
      await t.close();
    }
  });
});

describe('PluginTester with a real module', () => {
  it('lb on the real dispatcher module reads a dispatcher.list', async () => {
    const list = path.join(tmp, 'dispatcher.list');
    writeFileSync(list, '1 sip:198.51.100.20:5060\n');
    const t = await PluginTester.load(wasm('lb'), { modules: { dispatcher: { list_file: list, flags: 2 } } });
    try {
      const r = await t.send(sipRequest('INVITE', 'sip:bob@lb.example.com'));
      expect(r.relay?.to).toEqual({ address: '198.51.100.20', port: 5060 });
      expect(r.moduleCalls).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('a stub that throws: the plugin gets -2, send() rejects with the stub\'s error', async () => {
    const t = await PluginTester.load(wasm('lb'), {
      stubs: { dispatcher: { ds_select_dst: () => { throw new Error('stub bug'); } } },
    });
    try {
      await expect(t.send(sipRequest('INVITE', 'sip:bob@lb.example.com'))).rejects.toThrow('stub bug');
      // the plugin saw -2 (no destination) and answered 503; the next step starts clean
      const r = await t.send(OPTIONS.replace('opt-1@test', 'opt-2@test'));
      expect(r.reply?.code).toBe(200);
    } finally {
      await t.close();
    }
  });

  it('grants: lb needs tm and dispatcher, so a chain member\'s default grants refuse it at load (E4070)', async () => {
    const e = await PluginTester.load(wasm('lb'), { grants: ['msg.read', 'msg.reply'] }).catch((x: unknown) => x);
    expect(isSiphonError(e)).toBe(true);
    expect((e as Error).message).toMatch(/E4070/);
    const ok = await PluginTester.load(wasm('hello'), { grants: ['msg.read', 'msg.reply'] });
    await ok.close();
  });

  it('a file the host refuses rejects load() with the loader error', async () => {
    const bad = path.join(tmp, 'bad.wasm');
    writeFileSync(bad, 'not wasm');
    const e = await PluginTester.load(bad).catch((x: unknown) => x);
    expect(isSiphonError(e, 'PLUGIN_INVALID_WASM')).toBe(true);
  });
});
