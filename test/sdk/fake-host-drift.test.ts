/**
 * The SDK tests run on FakeHost (helpers/fake-host.ts), a second implementation of the plugin ABI.
 * This test keeps it honest against the production import table: the namespaces, the names and
 * arities of every import (host/wasm/abi-v1.ts ENV_IMPORTS/SIP_IMPORTS and the functions behind
 * them, the module namespaces of host/wasm/loader.ts, tm/rr of host/proxy/abi.ts), the result type
 * (i64 → BigInt), and the status codes both answer for the same arguments on the same message and
 * memory (docs/abi/v1.md "Status codes", "Global rules"). Then the SDK surface fixture (the plugin
 * sdk-api.test.ts drives on the fake host) runs on both hosts and must log the same results, choose
 * the same action, send the same replies and make the same header edits. A change to one host that
 * the other does not follow fails here.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ENV_IMPORTS, SIP_IMPORTS } from '../../host/wasm/abi-v1.js';
import { FakeHost, message, repoRoot, runBuild, type PluginExports } from './helpers/fake-host.js';
import { realHostFor } from './helpers/real-host.js';

type Fn = (...a: number[]) => number | bigint;
type Table = Record<string, Record<string, unknown>>;

function fresh(): { fake: FakeHost; fakeImports: Table; realImports: Table } {
  const fake = new FakeHost(
    message('OPTIONS', 'sip:alice@127.0.0.1:5060', [['X-Multi', 'one'], ['X-Multi', 'two'], ['User-Agent', 'drift/1']]),
    '{"greeting":"héllo"}',
  );
  // both tables are built on the FakeHost's memory, so pointers mean the same bytes to both
  const realImports = realHostFor(fake).imports;
  return { fake, fakeImports: fake.imports() as unknown as Table, realImports };
}

/** `(i32,i32)->(i32)` → parameter count and result type. */
function parseSig(sig: string): { params: number; result: string } {
  const m = /^\(([^)]*)\)->\(([^)]*)\)$/.exec(sig)!;
  return { params: m[1] === '' ? 0 : m[1].split(',').length, result: m[2] };
}

/** every `@external("ns", "name") export declare function f(a, b)` of the SDK: ns.name → arity. */
function sdkExternals(): Map<string, number> {
  const dir = path.join(repoRoot, 'sdk', 'assembly');
  const out = new Map<string, number>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
    const text = readFileSync(path.join(dir, f), 'utf8');
    for (const m of text.matchAll(/@external\("(\w+)", "(\w+)"\)\s*(?:export )?declare function \w+\(([^)]*)\)/g)) {
      out.set(`${m[1]}.${m[2]}`, m[3].trim() === '' ? 0 : m[3].split(',').length);
    }
  }
  return out;
}

describe('FakeHost agrees with the production import table', () => {
  it('offers the same namespaces', () => {
    const { fakeImports, realImports } = fresh();
    expect(Object.keys(fakeImports).sort()).toEqual(Object.keys(realImports).sort());
  });

  it('env: the same names, memory shared, abort with 4 parameters, seed returning an f64', () => {
    const { fake, fakeImports, realImports } = fresh();
    expect(Object.keys(fakeImports.env).sort()).toEqual(Object.keys(realImports.env).sort());
    expect(Object.keys(realImports.env).filter((n) => n !== 'memory').sort()).toEqual(Object.keys(ENV_IMPORTS).sort());
    expect(fakeImports.env.memory).toBe(fake.memory);
    for (const [name, sig] of Object.entries(ENV_IMPORTS)) {
      const { params, result } = parseSig(sig);
      expect((fakeImports.env[name] as Fn).length, `env.${name} arity`).toBe(params);
      expect((realImports.env[name] as Fn).length, `env.${name} arity (real)`).toBe(params);
      if (result === 'f64') expect(typeof (fakeImports.env[name] as Fn)()).toBe('number');
    }
    // abort ends the hook on both hosts: it throws
    expect(() => (fakeImports.env.abort as Fn)(0, 0, 1, 1)).toThrow();
    expect(() => (realImports.env.abort as Fn)(0, 0, 1, 1)).toThrow();
  });

  it('sip: the same names and arities as SIP_IMPORTS, i64 results as BigInt', () => {
    const { fakeImports, realImports } = fresh();
    expect(Object.keys(fakeImports.sip).sort()).toEqual(Object.keys(SIP_IMPORTS).sort());
    expect(Object.keys(realImports.sip).sort()).toEqual(Object.keys(SIP_IMPORTS).sort());
    for (const [name, sig] of Object.entries(SIP_IMPORTS)) {
      const { params, result } = parseSig(sig);
      expect((fakeImports.sip[name] as Fn).length, `sip.${name} arity (fake)`).toBe(params);
      expect((realImports.sip[name] as Fn).length, `sip.${name} arity (real)`).toBe(params);
      if (result === 'i64') {
        expect(typeof (fakeImports.sip[name] as Fn)()).toBe('bigint');
        expect(typeof (realImports.sip[name] as Fn)()).toBe('bigint');
      }
    }
  });

  it('every import the SDK declares links on both hosts, with the same answer when no module is configured', () => {
    const externals = sdkExternals();
    expect(externals.size).toBeGreaterThan(40);
    const { fakeImports, realImports } = fresh();
    for (const [full, arity] of externals) {
      const [ns, name] = full.split('.') as [string, string];
      const f = fakeImports[ns]?.[name] as Fn | undefined;
      const r = realImports[ns]?.[name] as Fn | undefined;
      expect(typeof f, `${full} on the fake host`).toBe('function');
      expect(typeof r, `${full} on the real host`).toBe('function');
      if (ns === 'sip') continue; // compared call by call below
      if (ns === 'textops' || ns === 'sdpops') continue; // not modelled by the fake host (helpers/fake-host.ts)
      expect(arity, full).toBeGreaterThanOrEqual(0);
      // modules and tm without their module (a node with no transactions): -6 UNIMPLEMENTED on both
      const args = new Array<number>(arity).fill(0);
      expect(f!(...args), `${full} (fake)`).toBe(r!(...args));
    }
  });
});

/** a bump allocator in the shared memory; OUT is the output buffer. */
const OUT = 40_000;
const FAR = 0x7fff_fff0; // outside any memory
function writer(mem: WebAssembly.Memory): (s: string) => [number, number] {
  let top = 1024;
  return (s) => {
    const b = Buffer.from(s, 'utf8');
    new Uint8Array(mem.buffer).set(b, top);
    const at = top;
    top += b.length + 8;
    return [at, b.length];
  };
}

/** [label, import, args built from the allocator] — valid calls and each argument rule. */
function cases(put: (s: string) => [number, number]): Array<[string, string, number[]]> {
  const s = (text: string): number[] => put(text);
  const list: Array<[string, string, number[]]> = [];
  // the fields the fake host models, a field id out of range, bad capacity, memory outside
  for (let f = 0; f < 32; f++) list.push([`field ${f}`, 'msg_get', [f, OUT, 256]]);
  list.push(['field 99', 'msg_get', [99, OUT, 256]], ['cap -1', 'msg_get', [0, OUT, -1]], ['out far', 'msg_get', [0, FAR, 64]]);
  list.push(['truncated', 'msg_get', [1, OUT, 4]]);
  list.push(['set rU', 'msg_set', [2, ...s('bob')]], ['set rp bad', 'msg_set', [4, ...s('5x')]], ['set du', 'msg_set', [6, ...s('sip:127.0.0.1:5070')]]);
  list.push(['set method', 'msg_set', [0, ...s('BYE')]], ['set field 99', 'msg_set', [99, ...s('x')]], ['set len -1', 'msg_set', [1, 0, -1]]);
  list.push(['set far', 'msg_set', [1, FAR, 4]]);
  list.push(['count Via', 'hdr_count', s('Via')], ['count v', 'hdr_count', s('v')], ['count absent', 'hdr_count', s('X-None')]);
  list.push(['count empty', 'hdr_count', [OUT, 0]], ['count far', 'hdr_count', [FAR, 4]]);
  for (const i of [0, 1, -1, -2, 2]) list.push([`get Via ${i}`, 'hdr_get', [...s('Via'), i, OUT, 256]]);
  list.push(['get multi 1', 'hdr_get', [...s('x-multi'), 1, OUT, 256]], ['get absent', 'hdr_get', [...s('X-None'), 0, OUT, 256]]);
  list.push(['get cap -1', 'hdr_get', [...s('Via'), 0, OUT, -1]], ['get out far', 'hdr_get', [...s('Via'), 0, FAR, 16]]);
  list.push(['add last', 'hdr_add', [...s('X-New'), ...s('v1'), 0]], ['add first', 'hdr_add', [...s('X-First'), ...s('v0'), 1]]);
  list.push(['add bad name', 'hdr_add', [...s('Bad Name'), ...s('v'), 0]], ['add crlf', 'hdr_add', [...s('X-A'), ...s('a\r\nVia: x'), 0]]);
  list.push(['add where 7', 'hdr_add', [...s('X-A'), ...s('a'), 7]], ['add far', 'hdr_add', [FAR, 4, ...s('a'), 0]]);
  list.push(['remove Via 1', 'hdr_remove', [...s('v'), 1]], ['remove Via 5', 'hdr_remove', [...s('Via'), 5]]);
  list.push(['remove all', 'hdr_remove', [...s('X-Multi'), -1]], ['remove absent', 'hdr_remove', [...s('X-None'), -1]]);
  list.push(['remove idx -2', 'hdr_remove', [...s('Via'), -2]], ['remove empty', 'hdr_remove', [OUT, 0, -1]]);
  list.push(['pv hdr', 'pv_get', [...s('$hdr(Via)'), OUT, 256]], ['pv var unset', 'pv_get', [...s('$var(none)'), OUT, 256]]);
  list.push(['pv far', 'pv_get', [...s('$hdr(Via)'), FAR, 16]], ['pv cap -1', 'pv_get', [...s('$hdr(Via)'), OUT, -1]]);
  list.push(['pv set var', 'pv_set', [...s('$var(a)'), ...s('1')]], ['pv get var', 'pv_get', [...s('$var(a)'), OUT, 256]]);
  list.push(['pv set len -1', 'pv_set', [...s('$var(a)'), OUT, -1]]);
  list.push(['pv set shv', 'pv_set', [...s('$shv(g)'), ...s('2')]], ['pv get shv', 'pv_get', [...s('$shv(g)'), OUT, 256]]);
  list.push(['pv set rm', 'pv_set', [...s('$rm'), ...s('BYE')]], ['pv set unknown', 'pv_set', [...s('$nope'), ...s('1')]]);
  list.push(['pv set du', 'pv_set', [...s('$du'), ...s('sip:10.0.0.1:5080')]], ['pv get du', 'pv_get', [...s('$du'), OUT, 256]]);
  list.push(['pv set rU', 'pv_set', [...s('$rU'), ...s('carol')]], ['pv get ru', 'pv_get', [...s('$ru'), OUT, 256]]);
  list.push(['pv set si', 'pv_set', [...s('$si'), ...s('1.2.3.4')]], ['pv get si', 'pv_get', [...s('$si'), OUT, 256]], ['pv get ml', 'pv_get', [...s('$ml'), OUT, 256]]);
  list.push(['pv get unknown', 'pv_get', [...s('$nope'), OUT, 256]], ['pv get rm', 'pv_get', [...s('$rm'), OUT, 256]]);
  list.push(['reply 200', 'sl_reply', [200, ...s('OK')]], ['reply 99', 'sl_reply', [99, ...s('x')]], ['reply 700', 'sl_reply', [700, ...s('x')]]);
  list.push(['reply crlf', 'sl_reply', [486, ...s('Busy\r\nX: y')]], ['reply len -1', 'sl_reply', [200, OUT, -1]]);
  list.push(['reply far', 'sl_reply', [200, FAR, 4]]);
  list.push(['reply hdr', 'reply_hdr_add', s('X-Reply: 1')], ['reply hdr no colon', 'reply_hdr_add', s('X-Reply')]);
  list.push(['reply hdr crlf', 'reply_hdr_add', s('X-R: 1\r\nX: 2')], ['reply hdr far', 'reply_hdr_add', [FAR, 4]]);
  list.push(['xlog info', 'xlog', [2, ...s('$rm from $si\n')]], ['xlog level 9', 'xlog', [9, ...s('x')]], ['xlog len -1', 'xlog', [2, OUT, -1]]);
  list.push(['xlog far', 'xlog', [2, FAR, 4]], ['xlog debug (off)', 'xlog', [3, ...s('x')]]);
  list.push(['log info', 'log', [2, ...s('k=v')]], ['log level 9', 'log', [9, ...s('x')]], ['log far', 'log', [2, FAR, 4]]);
  list.push(['log len -1', 'log', [2, OUT, -1]]);
  for (const l of [-1, 0, 2, 3, 9]) list.push([`log_enabled ${l}`, 'log_enabled', [l]]);
  list.push(['var set msg', 'var_set', [0, ...s('a'), ...s('x')]], ['var get msg', 'var_get', [0, ...s('a'), OUT, 256]]);
  list.push(['var set global', 'var_set', [2, ...s('g'), ...s('y')]], ['var get global', 'var_get', [2, ...s('g'), OUT, 256]]);
  list.push(['var delete', 'var_set', [0, ...s('a'), 0, -1]], ['var get deleted', 'var_get', [0, ...s('a'), OUT, 256]]);
  list.push(['var scope 1', 'var_get', [1, ...s('a'), OUT, 256]], ['var set scope 5', 'var_set', [5, ...s('a'), ...s('x')]]);
  list.push(['var set empty name', 'var_set', [0, OUT, 0, ...s('x')]], ['var get far', 'var_get', [0, ...s('a'), FAR, 16]]);
  list.push(['var set vl -2', 'var_set', [0, ...s('a'), OUT, -2]]);
  list.push(['cfg all', 'cfg_read', [0, OUT, 256]], ['cfg rest', 'cfg_read', [5, OUT, 256]], ['cfg size', 'cfg_read', [0, OUT, 0]]);
  list.push(['cfg past end', 'cfg_read', [1000, OUT, 16]], ['cfg off -1', 'cfg_read', [-1, OUT, 16]], ['cfg far', 'cfg_read', [0, FAR, 16]]);
  list.push(['myself', 'is_myself', s('sip:127.0.0.1')], ['myself port', 'is_myself', s('sip:bob@127.0.0.1:5060;transport=udp')]);
  list.push(['not myself', 'is_myself', s('sip:10.1.1.1')], ['not a uri', 'is_myself', s('sip:<bad>')], ['myself far', 'is_myself', [FAR, 4]]);
  list.push(['maxfwd', 'maxfwd_process', [10]], ['maxfwd 256', 'maxfwd_process', [256]], ['maxfwd -1', 'maxfwd_process', [-1]]);
  return list;
}

/** the output buffer after a call that answered `n` bytes (snprintf-style: at most the capacity). */
function output(mem: WebAssembly.Memory, n: number | bigint, cap: number): string | null {
  if (typeof n !== 'number' || n <= 0 || cap <= 0) return null;
  return Buffer.from(mem.buffer).toString('utf8', OUT, OUT + Math.min(n, cap));
}

describe('FakeHost answers like the production host for the same arguments', () => {
  it('status codes, lengths and output bytes agree call by call (each host on its own copy of the message)', () => {
    const fakeRun = fresh();
    const realRun = fresh();
    const diffs: string[] = [];
    // the same allocations on both memories (each run has its own FakeHost and memory)
    const callsFake = cases(writer(fakeRun.fake.memory));
    const callsReal = cases(writer(realRun.fake.memory));
    expect(callsFake.length).toBeGreaterThan(90);
    for (let i = 0; i < callsFake.length; i++) {
      const [label, name, args] = callsFake[i]!;
      const fakeFn = fakeRun.fakeImports.sip[name] as Fn;
      const realFn = realRun.realImports.sip[name] as Fn;
      const f = fakeFn(...args);
      const r = realFn(...callsReal[i]![2]);
      const cap = name === 'msg_get' || name === 'cfg_read' ? args[2]! : name === 'hdr_get' ? args[4]! : name === 'pv_get' ? args[3]! : name === 'var_get' ? args[4]! : 0;
      const fo = output(fakeRun.fake.memory, f, cap);
      const ro = output(realRun.fake.memory, r, cap);
      if (f !== r || fo !== ro) diffs.push(`${label} (${name}): fake ${String(f)}${fo === null ? '' : ` "${fo}"`}, real ${String(r)}${ro === null ? '' : ` "${ro}"`}`);
    }
    expect(diffs).toEqual([]);
  });
});

describe('the SDK surface fixture behaves the same on both hosts', () => {
  const fixtures = path.join(repoRoot, 'test', 'sdk', 'fixtures');
  const surfaceWasm = path.join(fixtures, 'surface', 'build', 'surface.wasm');
  /** values that differ by design: the fake host's random_u32 is a constant. */
  const NONDETERMINISTIC = new Set(['random']);

  beforeAll(async () => {
    const r = await runBuild(['--plugins-dir', fixtures, 'surface']);
    expect(r.code, r.stderr).toBe(0);
  });

  function hostFor(mode: string | null): FakeHost {
    const extra: Array<[string, string]> = [['X-Long', 'x'.repeat(3000) + 'é'], ['X-Remove', 'a'], ['X-Remove', 'b']];
    if (mode) extra.push(['X-Mode', mode]);
    return new FakeHost(message('OPTIONS', 'sip:alice@127.0.0.1:5060;transport=udp', extra), '{"greeting":"héllo"}');
  }

  const without = (m: Map<string, string>): Record<string, string> =>
    Object.fromEntries([...m].filter(([k]) => !NONDETERMINISTIC.has(k)));

  it.each([null, 'drop', 'relay', 'continue'])('mode %s: every result the fixture logs, the action and the replies', (mode) => {
    const module = new WebAssembly.Module(readFileSync(surfaceWasm));
    const fake = hostFor(mode);
    const onFake = new WebAssembly.Instance(module, fake.imports()).exports as unknown as PluginExports;
    const fakeAction = onFake.request_route(42);

    const shell = hostFor(mode);
    const real = realHostFor(shell);
    const onReal = new WebAssembly.Instance(module, real.imports as WebAssembly.Imports).exports as unknown as PluginExports;
    const realAction = onReal.request_route(42);

    expect(real.said().size).toBeGreaterThan(40);
    expect(without(fake.said())).toEqual(without(real.said()));
    expect(fakeAction).toBe(realAction);
    expect(fake.replies).toEqual(real.replies);
    // the header edits the fixture made (adds, removes, Max-Forwards decremented) agree
    for (const name of ['X-Added', 'X-First', 'X-Remove', 'Max-Forwards', 'Via']) {
      expect(fake.headerValues(name), name).toEqual(real.ctx.msg.headerValues(name));
    }
  });

  it('mode trap: an out-of-bounds array read ends the hook through env.abort on both', () => {
    const module = new WebAssembly.Module(readFileSync(surfaceWasm));
    const onFake = new WebAssembly.Instance(module, hostFor('trap').imports()).exports as unknown as PluginExports;
    expect(() => onFake.request_route(1)).toThrow(/abort/);
    const real = realHostFor(hostFor('trap'));
    const onReal = new WebAssembly.Instance(module, real.imports as WebAssembly.Imports).exports as unknown as PluginExports;
    expect(() => onReal.request_route(1)).toThrow(/abort: .*Index out of range/);
  });
});
