/**
 * Load-time gas metering with binaryen (wasm-host.md §4.2, "load-time gas metering").
 *
 * The instrumenter adds an exported mutable global `__gas` (i32) and, in every function defined by
 * the plugin, prepends `__gas -= 1; if (__gas < 0) unreachable` to
 *   - the function body (bounds recursion and call-heavy code), and
 *   - every loop body (a loop header runs once per iteration, so every back-edge is charged).
 * This is the scheme of Wasmtime's epoch interruption, counting instead of comparing to a clock.
 *
 * Bulk memory: one `memory.copy`/`memory.fill` can move 16 MiB for a single instruction, so each one
 * is charged `size >> 10` (1 unit per KiB) before it runs. We chose charging over refusing so that
 * plugins built with AssemblyScript's default feature set (bulk-memory on) still load; the SDK
 * builds with `--disable bulk-memory` anyway, which makes copies ordinary metered loops. The operands
 * are spilled to three scratch globals so their evaluation order is unchanged.
 * `memory.init` (passive data segments, bounded by the module's own data) is charged the same way.
 *
 * The same pass reports the module's shape (imports with signatures, exports, memory) so the loader
 * can check it without a second parse. binaryen is imported lazily once (~300 ms the first time).
 */
import { hashHex } from '../core/hash.js';
import { once } from 'node:events';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SiphonError, type ErrorName } from '../errors/registry.js';

type Binaryen = typeof import('binaryen').default;
type BModule = InstanceType<Binaryen['Module']>;
/** expression/function wrappers binaryen.js has at runtime but its .d.ts does not declare. */
interface BinaryenWrappers {
  Loop: { setBody(expr: number, body: number): void };
  Function: { getBody(fn: number): number; setBody(fn: number, body: number): void };
  Call: { setTarget(expr: number, name: string): void };
  RefFunc: { getFunc(expr: number): string; setFunc(expr: number, name: string): void };
  Table: { hasMax(t: number): boolean; setMax(t: number, max: number): void };
}

let binaryenPromise: Promise<Binaryen> | null = null;

/** the binaryen module, loaded on first use and shared afterwards. */
export function loadBinaryen(): Promise<Binaryen> {
  binaryenPromise ??= import('binaryen').then((m) => m.default);
  return binaryenPromise;
}

export const GAS_GLOBAL = '__gas';
/**
 * Exported accessors of the counter: a JS→Wasm call costs ~3 ns where WebAssembly.Global's value
 * getter/setter costs ~25 ns each, and the host touches the counter twice per hook.
 */
export const GAS_GET = '__gas_get';
export const GAS_SET = '__gas_set';
/**
 * `__gas_charge(units) -> remaining`: the host's charge for its own work, saturating (a charge larger
 * than what is left, or any charge once the counter is negative, leaves -1; never wraps). `units`
 * is read unsigned, so a negative i32 is a huge charge, not a refund.
 */
export const GAS_CHARGE = '__gas_charge';
/** export names the host adds; a plugin exporting one of them is refused. */
export const RESERVED_EXPORTS: readonly string[] = [GAS_GLOBAL, GAS_GET, GAS_SET, GAS_CHARGE];
/** prefix of the per-import wrappers (see instrument): `__gas_imp_<index>`. */
const IMPORT_WRAPPER = '__gas_imp_';
/**
 * Gas every host call costs before the host does anything (docs/abi/v1.md "Gas"), charged by the
 * guest itself in the import's wrapper, so no host call is ever free: ~ the guest work a host call's
 * fixed cost (30-150 ns) stands for at ~1.7 ns per unit (wasm-host.md §4.2).
 */
export const HOST_CALL_GAS = 20;
const SCRATCH = ['__gas_bulk_a', '__gas_bulk_b', '__gas_bulk_c'] as const;

export interface ImportShape {
  module: string;
  name: string;
  kind: 'function' | 'memory' | 'global' | 'table' | 'tag';
  /** for functions: e.g. "(i32,i32)->i32"; "()->()" when empty. */
  signature?: string;
}

export interface ExportShape {
  name: string;
  kind: 'function' | 'memory' | 'global' | 'table' | 'tag';
}

export interface ModuleShape {
  imports: ImportShape[];
  exports: ExportShape[];
  /** memory as declared (imported or defined); null when the module has none. */
  memory: { imported: boolean; module: string | null; name: string | null; initial: number; max?: number; shared: boolean } | null;
  /** name of the start function, when the module has one. */
  start: string | null;
}

export interface MeteredModule {
  shape: ModuleShape;
  /** the instrumented binary, ready for WebAssembly.compile. */
  binary: Uint8Array;
  /** number of gas checks inserted (function entries + loops + bulk ops). */
  checkpoints: number;
}

export interface MeteringOptions {
  /** initial value of `__gas`: the budget of the start function run at instantiation. */
  initialGas: number;
  /** the maximum every table defined by the module is rewritten to (table.grow past it returns -1). */
  tableMaxElements?: number;
  /** the metering child is killed past this many ms (E4013); in-process metering cannot be stopped. */
  timeoutMs?: number;
  /** called after the shape is known and before instrumenting; throw to refuse the module. */
  inspect?: (shape: ModuleShape) => void;
}

function typeText(b: Binaryen, t: number): string {
  if (t === b.none) return '';
  const parts = b.expandType(t).map((x) => {
    if (x === b.i32) return 'i32';
    if (x === b.i64) return 'i64';
    if (x === b.f32) return 'f32';
    if (x === b.f64) return 'f64';
    if (x === b.v128) return 'v128';
    return 'ref';
  });
  return parts.join(',');
}

const EXTERNAL_KIND = (b: Binaryen, k: number): ExportShape['kind'] =>
  k === b.ExternalFunction ? 'function' : k === b.ExternalMemory ? 'memory' : k === b.ExternalGlobal ? 'global' : k === b.ExternalTable ? 'table' : 'tag';

function readShape(b: Binaryen, mod: BModule): ModuleShape {
  const imports: ImportShape[] = [];
  const nf = mod.getNumFunctions();
  for (let i = 0; i < nf; i++) {
    const f = b.getFunctionInfo(mod.getFunctionByIndex(i));
    if (f.module) {
      imports.push({
        module: f.module,
        name: f.base ?? '',
        kind: 'function',
        signature: `(${typeText(b, f.params)})->(${typeText(b, f.results)})`,
      });
    }
  }
  const ng = mod.getNumGlobals();
  for (let i = 0; i < ng; i++) {
    const g = b.getGlobalInfo(mod.getGlobalByIndex(i));
    if (g.module) imports.push({ module: g.module, name: g.base ?? '', kind: 'global' });
  }
  const nt = mod.getNumTables();
  for (let i = 0; i < nt; i++) {
    const t = b.getTableInfo(mod.getTableByIndex(i));
    if (t.module) imports.push({ module: t.module, name: t.base ?? '', kind: 'table' });
  }
  let memory: ModuleShape['memory'] = null;
  if (mod.hasMemory()) {
    const m = mod.getMemoryInfo();
    memory = { imported: !!m.module, module: m.module, name: m.base, initial: m.initial, max: m.max, shared: m.shared };
    if (m.module) imports.push({ module: m.module, name: m.base ?? '', kind: 'memory' });
  }
  const exports: ExportShape[] = [];
  const ne = mod.getNumExports();
  for (let i = 0; i < ne; i++) {
    const e = b.getExportInfo(mod.getExportByIndex(i));
    exports.push({ name: e.name, kind: EXTERNAL_KIND(b, e.kind) });
  }
  const start = mod.getStart();
  return { imports, exports, memory, start: start ? b.getFunctionInfo(start).name : null };
}

/**
 * Child expression fields by expression kind. A kind missing here that can have children would let
 * a loop escape metering, so such a module is refused instead of instrumented partially.
 */
function childFields(b: Binaryen): Map<number, readonly string[]> {
  const m = new Map<number, readonly string[]>();
  const leaf: readonly string[] = [];
  for (const id of [b.ConstId, b.LocalGetId, b.GlobalGetId, b.NopId, b.UnreachableId, b.PopId, b.MemorySizeId,
    b.AtomicFenceId, b.DataDropId, b.RefNullId, b.RefFuncId, b.TableSizeId, b.RethrowId]) m.set(id, leaf);
  m.set(b.BlockId, ['children']);
  m.set(b.IfId, ['condition', 'ifTrue', 'ifFalse']);
  m.set(b.LoopId, ['body']);
  m.set(b.BreakId, ['condition', 'value']);
  m.set(b.SwitchId, ['condition', 'value']);
  m.set(b.CallId, ['operands']);
  m.set(b.CallIndirectId, ['target', 'operands']);
  m.set(b.LocalSetId, ['value']);
  m.set(b.GlobalSetId, ['value']);
  m.set(b.LoadId, ['ptr']);
  m.set(b.StoreId, ['ptr', 'value']);
  m.set(b.UnaryId, ['value']);
  m.set(b.BinaryId, ['left', 'right']);
  m.set(b.SelectId, ['ifTrue', 'ifFalse', 'condition']);
  m.set(b.DropId, ['value']);
  m.set(b.ReturnId, ['value']);
  m.set(b.MemoryGrowId, ['delta']);
  m.set(b.AtomicRMWId, ['ptr', 'value']);
  m.set(b.AtomicCmpxchgId, ['ptr', 'expected', 'replacement']);
  m.set(b.AtomicWaitId, ['ptr', 'expected', 'timeout']);
  m.set(b.AtomicNotifyId, ['ptr', 'notifyCount']);
  m.set(b.SIMDExtractId, ['vec']);
  m.set(b.SIMDReplaceId, ['vec', 'value']);
  m.set(b.SIMDShuffleId, ['left', 'right']);
  m.set(b.SIMDTernaryId, ['a', 'b', 'c']);
  m.set(b.SIMDShiftId, ['vec', 'shift']);
  m.set(b.SIMDLoadId, ['ptr']);
  m.set(b.SIMDLoadStoreLaneId, ['ptr', 'vec']);
  m.set(b.MemoryInitId, ['dest', 'offset', 'size']);
  m.set(b.MemoryCopyId, ['dest', 'source', 'size']);
  m.set(b.MemoryFillId, ['dest', 'value', 'size']);
  m.set(b.RefIsNullId, ['value']);
  m.set(b.RefAsId, ['value']);
  m.set(b.RefEqId, ['left', 'right']);
  m.set(b.TableGetId, ['index']);
  m.set(b.TableSetId, ['index', 'value']);
  m.set(b.TableGrowId, ['value', 'delta']);
  m.set(b.TryId, ['body', 'catchBodies']);
  m.set(b.ThrowId, ['operands']);
  m.set(b.TupleMakeId, ['operands']);
  m.set(b.TupleExtractId, ['tuple']);
  return m;
}

/** Features Node 20 (V8 11.3) runs without flags; anything else fails to read and is refused. */
function nodeFeatures(b: Binaryen): number {
  const F = b.Features;
  return F.MVP | F.MutableGlobals | F.NontrappingFPToInt | F.SignExt | F.SIMD128 | F.BulkMemory | F.Multivalue |
    F.ReferenceTypes | F.Atomics | F.BulkMemoryOpt | F.CallIndirectOverlong;
}

/**
 * Parses, inspects and instruments a plugin. Throws SiphonError PLUGIN_METERING (E4013) when the
 * module cannot be read or instrumented; errors thrown by `inspect` propagate unchanged.
 */
export async function meterModule(bytes: Uint8Array, where: string, opts: MeteringOptions): Promise<MeteredModule> {
  // the same bytes under the same gas settings instrument to the same module: a reload of an
  // unchanged file, and every worker shard (host/shards/), reuse it; `inspect` still runs each time
  const key = `${hashHex('sha256', Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))}|${opts.initialGas}|${opts.tableMaxElements ?? ''}`;
  const hit = meteredCache.get(key);
  if (hit !== undefined) {
    opts.inspect?.(hit.shape);
    return hit;
  }
  let metered: MeteredModule;
  if (!meteringInWorker()) {
    metered = await meterInProcess(bytes, where, opts);
  } else {
    metered = await meterInWorker(bytes, where, opts);
    opts.inspect?.(metered.shape);
  }
  rememberMetered(key, metered);
  return metered;
}

/** instrumented modules kept for reuse, oldest dropped first (a few plugin versions at most). */
export const METERED_CACHE_ENTRIES = 8;
const meteredCache = new Map<string, MeteredModule>();

function rememberMetered(key: string, m: MeteredModule): void {
  meteredCache.delete(key);
  meteredCache.set(key, m);
  while (meteredCache.size > METERED_CACHE_ENTRIES) meteredCache.delete(meteredCache.keys().next().value!);
}

/** the cache's entries, for a worker shard to start with (host/shards/hub.ts passes them in workerData). */
export function meteredEntries(): Array<[string, MeteredModule]> {
  return [...meteredCache.entries()];
}

/** seeds this thread's cache with another thread's entries (the keys carry the bytes' sha256 and gas settings). */
export function seedMetered(entries: ReadonlyArray<[string, MeteredModule]>): void {
  for (const [k, m] of entries) rememberMetered(k, m);
}

/**
 * Instrumenting runs in a short-lived child process when siphon runs from its build (dist/): binaryen
 * costs ~300 ms to load and ~70 MB of RSS, and instrumenting a plugin takes 10-50 ms of CPU. Out of
 * process none of that blocks the SIP event loop during a hot swap, and all of the memory goes away
 * when the child exits (a terminated worker thread measured still holding ~30 MB of it; wasm-host.md
 * §4.2, §5.3). From TypeScript sources (the unit tests) it runs in-process, because the child cannot
 * load a .ts entry; SIPHON_METERING_INLINE=1 forces that too.
 */
function meteringInWorker(): boolean {
  return import.meta.url.endsWith('.js') && process.env.SIPHON_METERING_INLINE !== '1';
}

interface WorkerReply {
  ok: boolean;
  result?: MeteredModule;
  errorName?: ErrorName;
  detail?: string;
}

/** what the parent sends the metering child (metering-worker.ts). */
export interface WorkerRequest {
  bytes: Uint8Array;
  where: string;
  initialGas: number;
  tableMaxElements?: number;
}

async function meterInWorker(bytes: Uint8Array, where: string, opts: MeteringOptions): Promise<MeteredModule> {
  const child = fork(fileURLToPath(new URL('./metering-worker.js', import.meta.url)), [], {
    serialization: 'advanced',
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const replied = once(child, 'message') as Promise<[WorkerReply]>;
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`metering process exited with ${String(code)} before answering`);
    });
    // a module crafted to make binaryen slow must not hold the load queue: kill the child past the limit
    const timedOut = new Promise<never>((_, reject) => {
      if (opts.timeoutMs === undefined) return;
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new SiphonError('PLUGIN_METERING', `metering took longer than ${opts.timeoutMs} ms (routing.limits.metering_timeout_ms); process killed`, { where }));
      }, opts.timeoutMs);
    });
    const request: WorkerRequest = { bytes, where, initialGas: opts.initialGas, tableMaxElements: opts.tableMaxElements };
    child.send(request);
    const [reply] = await Promise.race([replied, exited, timedOut]);
    if (reply.ok && reply.result) return { ...reply.result, binary: new Uint8Array(reply.result.binary) };
    throw new SiphonError(reply.errorName ?? 'PLUGIN_METERING', reply.detail ?? 'metering process failed', { where });
  } catch (cause) {
    if (cause instanceof SiphonError) throw cause;
    throw new SiphonError('PLUGIN_METERING', `metering process failed: ${String(cause)}`, { where, cause });
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/** the instrumenting itself; runs in the metering worker, or in-process (see meteringInWorker). */
export async function meterInProcess(bytes: Uint8Array, where: string, opts: MeteringOptions): Promise<MeteredModule> {
  const b = await loadBinaryen();
  let mod: BModule;
  try {
    mod = b.readBinaryWithFeatures(bytes, nodeFeatures(b));
  } catch (cause) {
    throw new SiphonError('PLUGIN_METERING', `binaryen cannot read the module: ${String(cause)}`, { where, cause });
  }
  try {
    const shape = readShape(b, mod);
    opts.inspect?.(shape);
    const checkpoints = instrument(b, mod, opts.initialGas, where);
    if (opts.tableMaxElements !== undefined) capTables(b, mod, opts.tableMaxElements, where);
    if (!mod.validate()) {
      throw new SiphonError('PLUGIN_METERING', 'instrumented module does not validate', { where });
    }
    return { shape, binary: mod.emitBinary(), checkpoints };
  } finally {
    mod.dispose();
  }
}

function instrument(b: Binaryen, mod: BModule, initialGas: number, where: string): number {
  const i32 = b.i32;
  // internal names must not collide with names the module already uses (binaryen aborts on duplicates)
  for (const g of [GAS_GLOBAL, ...SCRATCH]) {
    if (mod.getGlobal(g)) throw new SiphonError('PLUGIN_METERING', `module already has a global named ${g}`, { where });
  }
  for (const f of [GAS_GET, GAS_SET, GAS_CHARGE]) {
    if (mod.getFunction(f)) throw new SiphonError('PLUGIN_METERING', `module already has a function named ${f}`, { where });
  }
  mod.addGlobal(GAS_GLOBAL, i32, true, mod.i32.const(initialGas | 0));
  mod.addGlobalExport(GAS_GLOBAL, GAS_GLOBAL);
  mod.addFunction(GAS_GET, b.none, i32, [], mod.global.get(GAS_GLOBAL, i32));
  mod.addFunctionExport(GAS_GET, GAS_GET);
  mod.addFunction(GAS_SET, i32, b.none, [], mod.global.set(GAS_GLOBAL, mod.local.get(0, i32)));
  mod.addFunctionExport(GAS_SET, GAS_SET);
  // __gas_charge(units): gas = (gas < 0 || units >u gas) ? -1 : gas - units; return gas (never wraps)
  const units = mod.local.get(0, i32);
  const gasNow = (): number => mod.global.get(GAS_GLOBAL, i32);
  mod.addFunction(GAS_CHARGE, i32, i32, [], mod.block(null, [
    mod.global.set(GAS_GLOBAL, mod.select(
      mod.i32.or(mod.i32.lt_s(gasNow(), mod.i32.const(0)), mod.i32.gt_u(units, gasNow())),
      mod.i32.const(-1),
      mod.i32.sub(gasNow(), mod.local.get(0, i32)),
    )),
    gasNow(),
  ], i32));
  mod.addFunctionExport(GAS_CHARGE, GAS_CHARGE);
  let scratchAdded = false;
  const fields = childFields(b);
  let checkpoints = 0;

  /** `__gas -= units; if (__gas < 0) unreachable` */
  const charge = (units: number): number =>
    mod.block(null, [
      mod.global.set(GAS_GLOBAL, mod.i32.sub(mod.global.get(GAS_GLOBAL, i32), mod.i32.const(units))),
      mod.if(mod.i32.lt_s(mod.global.get(GAS_GLOBAL, i32), mod.i32.const(0)), mod.unreachable()),
    ], b.none);

  /** the same for a size held in a scratch global: charge size >> 10 (+1 for the instruction). */
  const chargeBulk = (sizeGlobal: string): number =>
    mod.block(null, [
      mod.global.set(GAS_GLOBAL, mod.i32.sub(mod.global.get(GAS_GLOBAL, i32),
        mod.i32.add(mod.i32.shr_u(mod.global.get(sizeGlobal, i32), mod.i32.const(10)), mod.i32.const(1)))),
      mod.if(mod.i32.lt_s(mod.global.get(GAS_GLOBAL, i32), mod.i32.const(0)), mod.unreachable()),
    ], b.none);

  const ensureScratch = (): void => {
    if (scratchAdded) return;
    for (const g of SCRATCH) mod.addGlobal(g, i32, true, mod.i32.const(0));
    scratchAdded = true;
  };

  /**
   * Rewrites op(x, y, size) in place into op(block{a=x; b=y; c=size; charge(c>>10); a}, b, c):
   * operands still evaluate in their original order, then the charge, then the operation.
   */
  const meterBulk = (expr: number, first: string, second: string): void => {
    ensureScratch();
    const info = b.getExpressionInfo(expr) as unknown as Record<string, number>;
    const [ga, gb, gc] = SCRATCH;
    const spill = mod.block(null, [
      mod.global.set(ga, info[first]),
      mod.global.set(gb, info[second]),
      mod.global.set(gc, info.size),
      chargeBulk(gc),
      mod.global.get(ga, i32),
    ], i32);
    const setters = b as unknown as Record<string, Record<string, (e: number, v: number) => void>>;
    const kind = info.id === b.MemoryCopyId ? 'MemoryCopy' : info.id === b.MemoryFillId ? 'MemoryFill' : 'MemoryInit';
    const cap = (s: string): string => s[0].toUpperCase() + s.slice(1);
    setters[kind][`set${cap(first)}`](expr, spill);
    setters[kind][`set${cap(second)}`](expr, mod.global.get(gb, i32));
    setters[kind].setSize(expr, mod.global.get(gc, i32));
    checkpoints++;
  };

  // every imported function gets a wrapper `charge(HOST_CALL_GAS); r = import(...); if (__gas < 0) trap; r`
  // and every reference to the import (call, ref.func, element segments) is pointed at the wrapper:
  // a host call is charged before the host runs, and an exhausted budget stops the guest as soon as
  // the host returns, even if the host charged gas it could not refuse (docs/abi/v1.md "Gas").
  const wrappers = new Map<string, string>();
  const nfAll = mod.getNumFunctions();
  for (let i = 0; i < nfAll; i++) {
    const f = b.getFunctionInfo(mod.getFunctionByIndex(i));
    if (!f.module) continue;
    const name = `${IMPORT_WRAPPER}${i}`;
    if (mod.getFunction(name)) throw new SiphonError('PLUGIN_METERING', `module already has a function named ${name}`, { where });
    wrappers.set(f.name, name);
  }

  const walk = (root: number, fnName: string): void => {
    const stack: number[] = [root];
    while (stack.length > 0) {
      const expr = stack.pop()!;
      if (!expr) continue;
      const id = b.getExpressionId(expr);
      const kids = fields.get(id);
      if (kids === undefined) {
        throw new SiphonError('PLUGIN_METERING', `function ${fnName} uses an instruction kind (${id}) the metering pass does not support`, { where });
      }
      if (id === b.RefFuncId) {
        const target = wrappers.get((b as unknown as BinaryenWrappers).RefFunc.getFunc(expr));
        if (target !== undefined) (b as unknown as BinaryenWrappers).RefFunc.setFunc(expr, target);
        continue;
      }
      if (kids.length === 0) continue; // leaves (binaryen's getExpressionInfo has no wrapper for some)
      const info = b.getExpressionInfo(expr) as unknown as Record<string, unknown> & { id: number };
      for (const k of kids) {
        const v = info[k];
        if (Array.isArray(v)) for (const c of v) stack.push(c as number);
        else if (typeof v === 'number' && v !== 0) stack.push(v);
      }
      if (info.id === b.CallId) {
        const target = wrappers.get(info.target as string);
        if (target !== undefined) (b as unknown as BinaryenWrappers).Call.setTarget(expr, target);
      } else if (info.id === b.LoopId) {
        const body = info.body as number;
        (b as unknown as BinaryenWrappers).Loop.setBody(expr, mod.block(null, [charge(1), body], b.auto));
        checkpoints++;
      } else if (info.id === b.MemoryCopyId) {
        meterBulk(expr, 'dest', 'source');
      } else if (info.id === b.MemoryFillId) {
        meterBulk(expr, 'dest', 'value');
      } else if (info.id === b.MemoryInitId) {
        meterBulk(expr, 'dest', 'offset');
      }
    }
  };

  const nf = mod.getNumFunctions();
  for (let i = 0; i < nf; i++) {
    const fn = mod.getFunctionByIndex(i);
    const f = b.getFunctionInfo(fn);
    if (f.module || !f.body || f.name === GAS_GET || f.name === GAS_SET || f.name === GAS_CHARGE) continue; // imported, or ours
    walk(f.body, f.name);
    const fw = (b as unknown as BinaryenWrappers).Function;
    const body = fw.getBody(fn);
    fw.setBody(fn, mod.block(null, [charge(1), body], b.auto));
    checkpoints++;
  }

  for (let i = 0; i < nfAll; i++) {
    const f = b.getFunctionInfo(mod.getFunctionByIndex(i));
    const wrapper = f.module ? wrappers.get(f.name) : undefined;
    if (wrapper === undefined) continue;
    const params = b.expandType(f.params);
    const args = params.map((t, k) => mod.local.get(k, t));
    const check = mod.if(mod.i32.lt_s(mod.global.get(GAS_GLOBAL, i32), mod.i32.const(0)), mod.unreachable());
    const single = f.results !== b.none && b.expandType(f.results).length === 1;
    const body = f.results === b.none
      ? mod.block(null, [charge(HOST_CALL_GAS), mod.call(f.name, args, b.none), check], b.none)
      : single
        ? mod.block(null, [
          charge(HOST_CALL_GAS),
          mod.local.set(params.length, mod.call(f.name, args, f.results)),
          check,
          mod.local.get(params.length, f.results),
        ], f.results)
        : mod.block(null, [charge(HOST_CALL_GAS), mod.call(f.name, args, f.results)], f.results);
    mod.addFunction(wrapper, f.params, f.results, single ? [f.results] : [], body);
    checkpoints++;
  }
  retargetElements(b, mod, wrappers);
  return checkpoints;
}

/** element segments naming an import are rebuilt naming its wrapper (call_indirect is charged too). */
function retargetElements(b: Binaryen, mod: BModule, wrappers: ReadonlyMap<string, string>): void {
  const segs: Array<ReturnType<Binaryen['getElementSegmentInfo']>> = [];
  const n = mod.getNumElementSegments();
  for (let i = 0; i < n; i++) segs.push(b.getElementSegmentInfo(mod.getElementSegmentByIndex(i)));
  for (const seg of segs) {
    if (!seg.data.some((f) => wrappers.has(f))) continue;
    const names = seg.data.map((f) => wrappers.get(f) ?? f);
    const offset = seg.offset;
    mod.removeElementSegment(seg.name);
    if (seg.table) mod.addActiveElementSegment(seg.table, seg.name, names, offset);
    else mod.addPassiveElementSegment(seg.name, names);
  }
}

/**
 * Rewrites the maximum of every table the module defines to at most `cap` elements, so `table.grow`
 * past it returns -1 instead of allocating host memory (a 1-gas table.grow could ask V8 for
 * millions of entries). The loader already refused tables whose initial size is above the cap.
 */
function capTables(b: Binaryen, mod: BModule, cap: number, where: string): void {
  const T = (b as unknown as BinaryenWrappers).Table;
  const n = mod.getNumTables();
  for (let i = 0; i < n; i++) {
    const ref = mod.getTableByIndex(i);
    const t = b.getTableInfo(ref);
    if (t.module) continue; // imported tables are refused by checkShape
    if (t.initial > cap) throw new SiphonError('PLUGIN_LIMIT', `table ${t.name} has ${t.initial} elements, the limit is ${cap} (routing.limits.table_max_elements)`, { where });
    if (t.max === undefined || t.max > cap || !T.hasMax(ref)) T.setMax(ref, cap);
  }
}
