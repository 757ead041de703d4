/**
 * pike around its table: the plugin imports (namespace `pike`), the RPC methods (pike.top in
 * Kamailio's shape, pike.list, pike.unblock), the host check (`auto`), the statistics, the config
 * schema and the E7100/E7101 log lines.
 */
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import pino from 'pino';
import { Pike, Shed } from '../../../host/modules/pike/pike.js';
import { PikeImports } from '../../../host/modules/pike/abi.js';
import { pikeRpcMethods, RPC_MAX_ROWS } from '../../../host/modules/pike/rpc.js';
import { PikeModule } from '../../../host/modules/pike/index.js';
import { pikeConfigSchema, resolvePikeConfig, type PikeConfig } from '../../../host/modules/pike/config.js';
import { RpcFault, type RpcMethod, type RpcValue } from '../../../host/rpc/types.js';
import type { MessageContext } from '../../../host/core/context.js';
import type { HostCallApi } from '../../../host/wasm/types.js';

function makePike(over: Partial<PikeConfig> = {}, logs?: string[]): { pike: Pike; clock: { t: number } } {
  const clock = { t: 1000 };
  const log = logs ? pino({ level: 'info' }, { write: (l: string) => void logs.push(l) }) : undefined;
  const pike = new Pike(resolvePikeConfig({ reqs_density_per_unit: 5, ...over }), { now: () => clock.t, log });
  return { pike, clock };
}

function ctxFrom(address: string, floodChecked = false): MessageContext {
  return { source: { address, port: 5060, proto: 'udp', family: 4 }, floodChecked } as unknown as MessageContext;
}

function api(ctx: MessageContext | null, strings: Map<number, string> = new Map()): HostCallApi & { charged: number } {
  const a = {
    charged: 0,
    current: () => ctx,
    hook: () => 'request_route',
    readString: (p: number, l: number) => {
      const s = strings.get(p);
      return s !== undefined && s.length === l ? s : null;
    },
    writeString: () => -3,
    charge(u: number) {
      a.charged += u;
    },
  };
  return a;
}

function rpc(pike: Pike, name: string): RpcMethod {
  const m = pikeRpcMethods(pike).find((x) => x.name === name);
  if (!m) throw new Error(name);
  return m;
}

async function fault(p: () => RpcValue | Promise<RpcValue>): Promise<RpcFault> {
  try {
    await p();
  } catch (e) {
    if (e instanceof RpcFault) return e;
    throw e;
  }
  throw new Error('no fault');
}

describe('plugin imports (namespace pike)', () => {
  it('pike_check_req counts $si and answers 1, then -2 once, then -1', () => {
    const { pike } = makePike();
    const fns = new PikeImports(pike).functions(api(ctxFrom('192.0.2.9')));
    const v = Array.from({ length: 7 }, () => (fns.pike_check_req as () => number)());
    expect(v).toEqual([1, 1, 1, 1, -2, -1, -1]);
  });

  it("pike_check_req never counts the server's own addresses (kamailio.cfg src_ip != myself)", () => {
    const { pike } = makePike();
    pike.setOwnAddress((ip) => ip === '127.0.0.1');
    const own = new PikeImports(pike).functions(api(ctxFrom('127.0.0.1'))).pike_check_req as () => number;
    for (let i = 0; i < 50; i++) expect(own()).toBe(1);
    expect(pike.state.size).toBe(0);
    const other = new PikeImports(pike).functions(api(ctxFrom('127.0.0.2'))).pike_check_req as () => number;
    expect(Array.from({ length: 5 }, () => other())).toEqual([1, 1, 1, 1, -2]);
  });

  it('trusted peers are never counted, by pike_check_req nor by the host check', () => {
    const { pike } = makePike({ trusted: ['192.0.2.50', '2001:DB8::50'], auto: 'drop' });
    const req = new PikeImports(pike).functions(api(ctxFrom('192.0.2.50'))).pike_check_req as () => number;
    for (let i = 0; i < 50; i++) {
      expect(req()).toBe(1);
      expect(pike.shed('192.0.2.50')).toBe(Shed.PASS);
      expect(pike.shed('2001:db8::50')).toBe(Shed.PASS);
    }
    expect(pike.state.size).toBe(0);
  });

  it('pike_check_req answers -4 without a message and 1 without counting when the host already checked', () => {
    const { pike } = makePike();
    expect((new PikeImports(pike).functions(api(null)).pike_check_req as () => number)()).toBe(-4);
    const fns = new PikeImports(pike).functions(api(ctxFrom('192.0.2.9', true)));
    for (let i = 0; i < 20; i++) expect((fns.pike_check_req as () => number)()).toBe(1);
    expect(pike.state.size).toBe(0);
  });

  it('pike_check_ip counts the given address; bad text or lengths answer -1, memory outside -3; gas charged', () => {
    const { pike } = makePike();
    const strings = new Map([
      [100, '2001:DB8::1'],
      [200, 'not-an-ip'],
    ]);
    const a = api(ctxFrom('192.0.2.9'), strings);
    const check = new PikeImports(pike).functions(a).pike_check_ip as (p: number, l: number) => number;
    expect(check(100, 11)).toBe(1);
    expect(pike.sources(false).map((s) => s.address)).toEqual(['2001:db8:0:0::/64']); // per /64 (ipv6_prefix)
    expect(check(200, 9)).toBe(-1);
    expect(check(300, 7)).toBe(-3);
    expect(check(100, 0)).toBe(-1);
    expect(check(100, 65)).toBe(-1);
    expect(check(100, -5)).toBe(-1);
    expect(a.charged).toBeGreaterThanOrEqual(6 + 11 + 9 + 7);
  });
});

describe('host check (auto)', () => {
  it('drop: PASS below the limit, DROP for a blocked source, counted', () => {
    const { pike } = makePike({ auto: 'drop' });
    const v = Array.from({ length: 7 }, () => pike.shed('192.0.2.9'));
    expect(v).toEqual([Shed.PASS, Shed.PASS, Shed.PASS, Shed.PASS, Shed.DROP, Shed.DROP, Shed.DROP]);
    expect(pike.statistics()).toMatchObject({ auto_dropped: 3, blocked_ips: 1, blocked_now: 1, tracked: 1, checks: 7 });
  });

  it('503: REFUSE with a Retry-After header built once', () => {
    const { pike } = makePike({ auto: '503', retry_after: 7 });
    for (let i = 0; i < 4; i++) pike.shed('192.0.2.9');
    expect(pike.shed('192.0.2.9')).toBe(Shed.REFUSE);
    expect(pike.retryAfterHeaders).toEqual(['Retry-After: 7']);
    expect(pike.statistics().auto_rejected).toBe(1);
  });
});

describe('RPC', () => {
  it("pike.top lists HOT sources by default in Kamailio's shape, busiest first", async () => {
    const { pike } = makePike();
    for (let i = 0; i < 9; i++) pike.check('192.0.2.1');
    for (let i = 0; i < 6; i++) pike.check('192.0.2.2');
    pike.check('192.0.2.3');
    const r = (await rpc(pike, 'pike.top').handler([])) as { max_hits: number; list: Array<Record<string, RpcValue>>; number_of_rows: number };
    expect(r.max_hits).toBe(5);
    expect(r.number_of_rows).toBe(2);
    expect(r.list.map((x) => x.ip_addr)).toEqual(['192.0.2.1', '192.0.2.2']);
    expect(r.list[0]).toEqual({ ip_addr: '192.0.2.1', leaf_hits_prev: 0, leaf_hits_curr: 9, expires: 120, status: 'HOT' });
    const all = (await rpc(pike, 'pike.top').handler(['ALL'])) as { number_of_rows: number };
    expect(all.number_of_rows).toBe(3);
    const warm = (await rpc(pike, 'pike.top').handler(['WARM'])) as { list: Array<Record<string, RpcValue>> };
    expect(warm.list.map((x) => x.ip_addr)).toEqual(['192.0.2.3']);
    const limited = (await rpc(pike, 'pike.top').handler(['ALL', 1])) as { number_of_rows: number };
    expect(limited.number_of_rows).toBe(1);
    expect((await fault(() => rpc(pike, 'pike.top').handler(['COLD']))).message).toMatch(/ALL, HOT or WARM/);
    expect((await fault(() => rpc(pike, 'pike.top').handler(['ALL', -3]))).faultCode).toBe(400);
  });

  it('pike.top never returns more than RPC_MAX_ROWS rows', async () => {
    const { pike } = makePike({ max_entries: 4096 });
    for (let i = 0; i < 3000; i++) pike.check(`10.0.${i >> 8}.${i & 255}`);
    const r = (await rpc(pike, 'pike.top').handler(['ALL', 100000])) as { number_of_rows: number };
    expect(r.number_of_rows).toBe(RPC_MAX_ROWS);
  });

  it('pike.list shows the blocked sources; pike.unblock releases one (404 when not blocked, 400 for a non-address)', async () => {
    const { pike } = makePike({ block_time: 300 });
    for (let i = 0; i < 6; i++) pike.check('192.0.2.1');
    pike.check('192.0.2.2');
    const l = (await rpc(pike, 'pike.list').handler([])) as { blocked: number; list: Array<Record<string, RpcValue>> };
    expect(l.blocked).toBe(1);
    expect(l.list).toEqual([{ ip_addr: '192.0.2.1', hits_prev: 0, hits_curr: 6, blocked_for: 300, expires: 120 }]);
    expect(await rpc(pike, 'pike.unblock').handler(['192.0.2.1'])).toBe('Unblocked 192.0.2.1');
    expect(pike.check('192.0.2.1')).toBe(1);
    expect((await fault(() => rpc(pike, 'pike.unblock').handler(['192.0.2.1']))).faultCode).toBe(404);
    expect((await fault(() => rpc(pike, 'pike.unblock').handler(['bogus']))).faultCode).toBe(400);
    expect((await fault(() => rpc(pike, 'pike.unblock').handler([]))).faultCode).toBe(400);
    expect(pike.statistics().unblocked_rpc).toBe(1);
  });
});

describe('logs and config', () => {
  it('logs the first detection with E7100 and a full table with E7101 (once per window)', () => {
    const logs: string[] = [];
    const { pike } = makePike({ max_entries: 16, reqs_density_per_unit: 2 }, logs);
    for (let i = 0; i < 16; i++) for (let k = 0; k < 3; k++) pike.check(`10.0.0.${i}`);
    expect(logs.filter((l) => l.includes('"code":7100'))).toHaveLength(16);
    for (let i = 0; i < 50; i++) pike.check(`10.1.0.${i}`);
    pike.tick();
    pike.tick();
    const full = logs.filter((l) => l.includes('"code":7101'));
    expect(full).toHaveLength(1);
    expect(full[0]).toMatch(/50 requests of new sources not tracked/);
  });

  it('the schema applies Kamailio defaults, accepts auto: 503 as YAML writes it, refuses nonsense', () => {
    const ajv = new Ajv({ useDefaults: true, strict: false });
    const validate = ajv.compile(pikeConfigSchema);
    const cfg: Record<string, unknown> = {};
    expect(validate(cfg)).toBe(true);
    expect(cfg).toEqual({ sampling_time_unit: 2, reqs_density_per_unit: 30, remove_latency: 120, block_time: 0, max_entries: 65536, auto: 'off', retry_after: 10, trusted: [], ipv6_prefix: 64 });
    const c503 = { auto: 503 };
    expect(validate(c503)).toBe(true);
    expect(resolvePikeConfig(c503).auto).toBe('503');
    expect(validate({ max_entries: 1e9 })).toBe(false);
    expect(validate({ sampling_time_unit: 0 })).toBe(false);
    expect(validate({ auto: 'reject' })).toBe(false);
    expect(validate({ unknown_key: 1 })).toBe(false);
    expect(validate({ trusted: ['10.0.0.0/8'] })).toBe(false);
    expect(() => new Pike(resolvePikeConfig({ trusted: ['1:2:3:4:5:6:7:8:9'] }))).toThrow(/not an IPv4 or IPv6 address.*E1003/);
  });

  it('the module wires imports, RPC methods and statistics, and stops its timer on close', async () => {
    const mod = new PikeModule();
    await mod.init({ config: {}, dataDir: '/nonexistent', log: pino({ level: 'silent' }) });
    expect(mod.imports().map((p) => p.namespace)).toEqual(['pike']);
    expect(mod.rpcMethods().map((m) => m.name)).toEqual(['pike.top', 'pike.list', 'pike.unblock']);
    expect(Object.keys(mod.statistics())).toContain('blocked_ips');
    await mod.close();
    expect(mod.imports()).toEqual([]);
  });
});
