/** JSON-RPC 2.0 over loopback HTTP and GET /metrics, with fetch against the real listener. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../helpers/ports.js';
import { startFixture, type Fixture } from './fixture.js';

/** the HTTP listener's port (freePort(): the test checks the listener is on the port it was given) */
let PORT = 0;

describe('JSON-RPC over HTTP', () => {
  let fx: Fixture;
  let base: string;
  beforeAll(async () => {
    PORT = await freePort('tcp');
    fx = await startFixture({ http: PORT });
    base = fx.plane.httpUrl!;
  });
  afterAll(async () => {
    await fx?.close();
  });

  async function post(body: unknown, path = '/RPC'): Promise<{ status: number; json: any }> {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  }

  it('listens on the configured loopback port', () => {
    expect(base).toBe(`http://127.0.0.1:${PORT}`);
  });

  it('answers a call with the same result as BINRPC, on /RPC and /jsonrpc', async () => {
    const r = await post({ jsonrpc: '2.0', method: 'core.uptime', id: 1 });
    expect(r.status).toBe(200);
    expect(r.json.id).toBe(1);
    expect(Object.keys(r.json.result)).toEqual(['now', 'up_since', 'uptime']);
    const r2 = await post({ jsonrpc: '2.0', method: 'core.echo', params: ['a', 2], id: 'x' }, '/jsonrpc');
    expect(r2.json).toEqual({ jsonrpc: '2.0', id: 'x', result: ['a', 2] });
  });

  it('takes named params positionally, as jsonrpcs does', async () => {
    const r = await post({ jsonrpc: '2.0', method: 'core.echo', params: { first: 'a', second: 'b' }, id: 2 });
    expect(r.json.result).toEqual(['a', 'b']);
  });

  it('unknown method is -32601', async () => {
    const r = await post({ jsonrpc: '2.0', method: 'no.such', id: 3 });
    expect(r.json.error).toEqual({ code: -32601, message: 'Method not found' });
  });

  it('params that are neither array nor object are -32602; a method\'s own 400 keeps Kamailio\'s code', async () => {
    const r = await post({ jsonrpc: '2.0', method: 'core.echo', params: 5, id: 4 });
    expect(r.json.error.code).toBe(-32602);
    const r2 = await post({ jsonrpc: '2.0', method: 'system.methodHelp', params: [], id: 5 });
    expect(r2.json.error).toEqual({ code: 400, message: 'Method Name Expected' });
  });

  it('a method fault is a Kamailio-style error', async () => {
    const r = await post({ jsonrpc: '2.0', method: 'test.fail', id: 6 });
    expect(r.json.error).toEqual({ code: 500, message: 'reload failed: table missing' });
  });

  it('parse error -32700, invalid request -32600, empty batch -32600', async () => {
    expect((await post('{"jsonrpc": "2.0", "method"')).json.error.code).toBe(-32700);
    expect((await post({ jsonrpc: '1.0', method: 'core.echo', id: 7 })).json.error.code).toBe(-32600);
    expect((await post({ jsonrpc: '2.0', method: 12, id: 8 })).json.error.code).toBe(-32600);
    expect((await post([])).json).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request' } });
  });

  it('runs a batch in order, skipping notifications', async () => {
    const r = await post([
      { jsonrpc: '2.0', method: 'core.echo', params: ['one'], id: 1 },
      { jsonrpc: '2.0', method: 'core.echo', params: ['note'] },
      { jsonrpc: '2.0', method: 'no.such', id: 2 },
      1,
      { jsonrpc: '2.0', method: 'stats.get_statistics', params: ['secfilter:'], id: 3 },
    ]);
    expect(r.json).toEqual([
      { jsonrpc: '2.0', id: 1, result: ['one'] },
      { jsonrpc: '2.0', id: 2, error: { code: -32601, message: 'Method not found' } },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request' } },
      { jsonrpc: '2.0', id: 3, result: ['secfilter:blocked = 3', 'secfilter:allowed = 7'] },
    ]);
    const onlyNotes = await post([{ jsonrpc: '2.0', method: 'core.echo' }]);
    expect(onlyNotes.status).toBe(204);
  });

  it('refuses GET on /RPC and unknown paths', async () => {
    expect((await fetch(`${base}/RPC`)).status).toBe(405);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('GET /metrics exposes SIP, plugin, RPC and module counters, and they move', async () => {
    const scrape = async (): Promise<string> => {
      const res = await fetch(`${base}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      return res.text();
    };
    /** value of the series `name{labels}`, whatever order prom-client prints the labels in. */
    const value = (text: string, series: string): number => {
      const [, name, labelText] = /^([^{]+)\{(.*)\}$/.exec(series)!;
      const want = labelText!.split(',').sort().join(',');
      for (const line of text.split('\n')) {
        const m = /^([^{ ]+)\{(.*)\} (\S+)$/.exec(line);
        if (m && m[1] === name && m[2]!.split(',').sort().join(',') === want) return Number(m[3]);
      }
      return NaN;
    };
    const before = await scrape();
    // default metrics on the private registry
    expect(before).toContain('siphon_process_cpu_user_seconds_total');
    expect(before).toContain('siphon_nodejs_eventloop_lag_seconds');
    const inviteIn = 'siphon_sip_requests_total{direction="in",method="INVITE",node="test"}';
    expect(value(before, inviteIn)).toBe(0);

    const m = fx.metrics;
    m.requestIn('INVITE');
    m.requestIn('INVITE');
    m.requestIn('FOO');
    m.replyOut(200);
    m.replyOut(486);
    m.replyOut(404);
    m.parseError('udp');
    const hook = m.hook('router', 'on_request');
    expect(m.hook('router', 'on_request')).toBe(hook); // bound once
    hook.observe(0.00004);
    hook.trap('gas');
    hook.gas(1234);
    fx.module.counters.blocked = 9;

    const after = await scrape();
    expect(value(after, inviteIn)).toBe(2);
    expect(value(after, 'siphon_sip_requests_total{direction="in",method="other",node="test"}')).toBe(1);
    expect(value(after, 'siphon_sip_replies_total{direction="out",class="2xx",node="test"}')).toBe(1);
    expect(value(after, 'siphon_sip_replies_total{direction="out",class="4xx",node="test"}')).toBe(2);
    expect(value(after, 'siphon_sip_parse_errors_total{proto="udp",node="test"}')).toBe(1);
    expect(value(after, 'siphon_plugin_hook_duration_seconds_count{plugin="router",hook="on_request",node="test"}')).toBe(1);
    expect(value(after, 'siphon_plugin_hook_duration_seconds_bucket{le="0.00005",plugin="router",hook="on_request",node="test"}')).toBe(1);
    expect(value(after, 'siphon_plugin_traps_total{plugin="router",hook="on_request",kind="gas",node="test"}')).toBe(1);
    expect(value(after, 'siphon_plugin_gas_used_total{plugin="router",hook="on_request",node="test"}')).toBe(1234);
    expect(value(after, 'siphon_module_statistic{module="secfilter",name="blocked",node="test"}')).toBe(9);
    // the JSON-RPC calls above were counted
    expect(value(after, 'siphon_rpc_calls_total{transport="jsonrpc",outcome="ok",node="test"}')).toBeGreaterThanOrEqual(4);
    expect(value(after, 'siphon_rpc_calls_total{transport="jsonrpc",outcome="fault",node="test"}')).toBeGreaterThanOrEqual(3);
  });
});
