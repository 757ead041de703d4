/**
 * The SDK's wrappers, driven through a plugin that calls all of them (fixtures/surface) on a fake
 * host that records each import call: values cross correctly as UTF-8, long values are fetched with
 * the snprintf retry, predicates and Kamailio return codes come out right, and the ABI entry points
 * dispatch to the registered handlers.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { FakeHost, instantiate, message, repoRoot, runBuild } from './helpers/fake-host.js';
import { HOST_ABI_MINOR } from '../../host/wasm/loader.js';

const fixtures = path.join(repoRoot, 'test', 'sdk', 'fixtures');
const surfaceWasm = path.join(fixtures, 'surface', 'build', 'surface.wasm');
const LONG = 'x'.repeat(3000) + 'é';

describe('SDK API over the ABI (surface fixture on a recording host)', () => {
  beforeAll(async () => {
    const r = await runBuild(['--plugins-dir', fixtures, 'surface']);
    expect(r.code, r.stderr).toBe(0);
  });

  function runOnce(mode: string | null, config = '{"greeting":"héllo"}') {
    const extra: Array<[string, string]> = [['X-Long', LONG], ['X-Remove', 'a'], ['X-Remove', 'b']];
    if (mode) extra.push(['X-Mode', mode]);
    const host = new FakeHost(message('OPTIONS', 'sip:alice@127.0.0.1:5060;transport=udp', extra), config);
    const plugin = instantiate(surfaceWasm, host);
    const action = plugin.request_route(42);
    return { host, action, said: host.said(), plugin };
  }

  it("exports the ABI marker and the SDK's minor version (the host's, HOST_ABI_MINOR)", () => {
    const plugin = instantiate(surfaceWasm, new FakeHost(message('OPTIONS', 'sip:127.0.0.1')));
    expect(typeof plugin.sip_abi_v1).toBe('function');
    expect(plugin.sip_abi_minor()).toBe(HOST_ABI_MINOR);
  });

  it('reads message fields by id and pseudo-variables by name, long values included', () => {
    const { said, host } = runOnce(null);
    expect(said.get('ctx')).toBe('42');
    expect(said.get('rm')).toBe('OPTIONS');
    expect(said.get('ru')).toBe('sip:alice@127.0.0.1:5060;transport=udp');
    expect(said.get('rU')).toBe('alice');
    expect(said.get('si')).toBe('127.0.0.1');
    expect(said.get('ci')).toBe('sdk-test-1');
    expect(said.get('field.from_tag')).toBe('from-1');
    // 3002 bytes do not fit the 1 KiB scratch buffer: the wrapper grows it and asks again
    expect(said.get('hdr.pv')).toBe(LONG);
    expect(said.get('var.missing')).toBe('<null>');
    // $rm/$ru/$rU/$si/$ci go to msg_get, never to pv_get: only $hdr, $var and the re-read go there
    expect(host.calls.get('pv_get')).toBe(4); // $hdr(X-Long) twice (retry), $var(nothing), $var(a)
  });

  it('handles headers: indexes, compact names, append/insert/remove with Kamailio codes', () => {
    const { said, host } = runOnce(null);
    expect(said.get('via.count')).toBe('2');
    expect(said.get('via.last')).toBe('SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-sdk-0');
    expect(said.get('absent')).toBe('<null>');
    expect(said.get('present.x-remove')).toBe('true');
    expect(said.get('append_hf')).toBe('1');
    expect(said.get('insert_hf')).toBe('1');
    expect(said.get('append_hf.bad')).toBe('-1');
    expect(said.get('remove_hf')).toBe('2');
    expect(said.get('remove_hf.none')).toBe('-1');
    expect(host.msg.headers[0]).toEqual(['X-First', '1']);
    expect(host.msg.headers).toContainEqual(['X-Added', 'yes']);
    expect(host.msg.headers.some(([n]) => n === 'X-Remove')).toBe(false);
  });

  it('evaluates routing checks as booleans', () => {
    const { said, host } = runOnce(null);
    expect(said.get('is_method.list')).toBe('true');
    expect(said.get('is_method.prefix')).toBe('false');
    expect(said.get('is_method.none')).toBe('false');
    expect(said.get('has_totag')).toBe('false');
    expect(said.get('has_ruri_user')).toBe('true');
    expect(said.get('is_ruri_user_empty')).toBe('false');
    expect(said.get('is_myself.local')).toBe('true');
    expect(said.get('is_myself.other')).toBe('false');
    expect(said.get('is_myself_ruri')).toBe('true');
    expect(said.get('maxfwd')).toBe('1');
    expect(host.headerValues('Max-Forwards')).toEqual(['69']);
  });

  it('rewrites the R-URI and $du, refuses read-only fields', () => {
    const { said, host } = runOnce(null);
    expect(said.get('seturi')).toBe('1');
    expect(said.get('setuser')).toBe('1');
    expect(said.get('sethost')).toBe('1');
    expect(said.get('setport')).toBe('1');
    expect(said.get('ru.after')).toBe('sip:dave@example.net:5070');
    expect(said.get('setdsturi')).toBe('1');
    expect(said.get('du')).toBe('sip:10.0.0.1:5060');
    expect(said.get('resetdsturi')).toBe('1');
    expect(host.dstUri).toBeNull();
    expect(said.get('pv_set.var')).toBe('1');
    expect(said.get('pv.var')).toBe('b');
    expect(said.get('pv_set.ro')).toBe('-4');
    expect(said.get('msg_set.ro')).toBe('-4');
  });

  it('keeps MSG and GLOBAL variables apart and deletes with vl = -1', () => {
    const { said, host } = runOnce(null);
    expect(said.get('var_set.msg')).toBe('1');
    expect(said.get('var_get.msg')).toBe('v1');
    expect(said.get('var_get.global')).toBe('g1');
    expect(said.get('var_del')).toBe('1');
    expect(said.get('var_get.deleted')).toBe('<null>');
    expect(host.globalVars.get('k')).toBe('g1');
  });

  it('logs through xlog at Kamailio levels and skips disabled levels without a host call', () => {
    const { host, said } = runOnce(null);
    const xlogs = host.logs.filter((l) => l.kind === 'xlog');
    expect(xlogs[0]).toEqual({ level: 2, text: 'xlog OPTIONS from 127.0.0.1', kind: 'xlog' });
    expect(xlogs.slice(1).map((l) => [l.level, l.text])).toEqual([
      [-5, 'alert'], [-2, 'crit'], [-1, 'err'], [0, 'warn'], [1, 'notice'], [2, 'info'],
    ]); // xdbg filtered: the default level is info
    expect(said.get('log_enabled.dbg')).toBe('false');
    expect(host.calls.get('xlog')).toBe(7);
  });

  it('reads the config, the clock and random bits', () => {
    const { said } = runOnce(null);
    expect(said.get('cfg')).toBe('{"greeting":"héllo"}');
    expect(said.get('now_ms.positive')).toBe('true');
    expect(said.get('random')).toBe(String(0x7abcdef0));
  });

  it('replies with sl_reply, carries append_to_reply headers, and exit() returns REPLIED', () => {
    const { host, said, action } = runOnce(null);
    expect(said.get('append_to_reply')).toBe('1');
    expect(said.get('sl_send_reply')).toBe('1');
    expect(host.replies).toEqual([
      { code: 299, reason: 'Surface', headers: ['X-Reply: 1'] },
      // the lines stay with the request: a second reply carries them too (host/server/server.ts, Kamailio reply lumps)
      { code: 298, reason: 'Again', headers: ['X-Reply: 1'] },
    ]);
    expect(action).toBe(2);
  });

  it('returns the action the handler chose: drop 1, relay 3, exit without reply 0', () => {
    expect(runOnce('drop').action).toBe(1);
    expect(runOnce('relay').action).toBe(3);
    const cont = runOnce('continue');
    expect(cont.action).toBe(0);
    expect(cont.host.replies).toEqual([]);
  });

  it('aborts through env.abort on an out-of-bounds array read', () => {
    expect(() => runOnce('trap')).toThrow(/plugin abort/);
  });

  it('plugin_init hands the config to onInit and passes its verdict back', () => {
    const okHost = new FakeHost(message('OPTIONS', 'sip:127.0.0.1'), '{"mode":"ok"}');
    okHost.hook = 'plugin_init';
    const ok = instantiate(surfaceWasm, okHost);
    expect(ok.plugin_init(Buffer.byteLength('{"mode":"ok"}'))).toBe(0);
    expect(okHost.said().get('init.config')).toBe('{"mode":"ok"}');
    expect(okHost.said().get('init.cfg_read')).toBe('{"mode":"ok"}');
    // the config is read once and cached for the life of the instance
    expect(okHost.calls.get('cfg_read')).toBe(1);

    const refuseHost = new FakeHost(message('OPTIONS', 'sip:127.0.0.1'), '{"refuse":true}');
    const refused = instantiate(surfaceWasm, refuseHost);
    expect(refused.plugin_init(15)).toBe(7);
  });

  it('allocates no scratch memory per message: memory stays flat over many requests', () => {
    const host = new FakeHost(message('OPTIONS', 'sip:alice@127.0.0.1', [['X-Mode', 'continue']]));
    const plugin = instantiate(surfaceWasm, host);
    const fresh = () => {
      host.msg = message('OPTIONS', 'sip:alice@127.0.0.1', [['X-Mode', 'continue']]);
      host.logs.length = 0;
    };
    for (let i = 0; i < 200; i++) {
      fresh();
      plugin.request_route(i);
    }
    const pages = host.memory.buffer.byteLength / 65536;
    for (let i = 0; i < 2000; i++) {
      fresh();
      plugin.request_route(i);
    }
    expect(host.memory.buffer.byteLength / 65536).toBe(pages);
  });
});
