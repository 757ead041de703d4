/**
 * The metering pass itself (host/wasm/metering.ts): every loop and function entry is charged,
 * nested loops are found wherever they sit, bulk ops are charged by size, and what bounds the overhead
 * (wasm-host.md §4.2: +0–50 %) holds by count: a fixed call-free sequence per checkpoint, no new import.
 * The overhead in time is measured by bench/metering.bench.mjs (no wall-clock assertion here, issue #12).
 */
import binaryen from 'binaryen';
import { describe, expect, it } from 'vitest';
import { HOST_CALL_GAS, meterModule } from '../../host/wasm/metering.js';
import { wat } from './helpers.js';

const WORK = `(module
  (memory (export "mem") 1)
  (func $inner (param $n i32) (result i32)
    (local $acc i32)
    (block $out
      (if (i32.gt_s (local.get $n) (i32.const 0)) (then
        (loop $l
          (local.set $acc (i32.add (local.get $acc) (i32.mul (local.get $n) (i32.const 31))))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $l (i32.gt_s (local.get $n) (i32.const 0)))))))
    (local.get $acc))
  ;; work(outer, inner): outer × (call + inner loop) — loops nested in if/block and across calls
  (func (export "work") (param $outer i32) (param $n i32) (result i32)
    (local $acc i32)
    (loop $o
      (local.set $acc (i32.xor (local.get $acc) (call $inner (local.get $n))))
      (local.set $outer (i32.sub (local.get $outer) (i32.const 1)))
      (br_if $o (local.get $outer)))
    (local.get $acc))
  (func (export "copy") (param $len i32)
    (memory.copy (i32.const 0) (i32.const 100) (local.get $len)))
)`;

async function instances() {
  const bytes = wat(WORK);
  const metered = await meterModule(bytes, 'work.wasm', { initialGas: 1_000_000_000 });
  const plain = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as Record<string, (...a: number[]) => number>;
  const inst = new WebAssembly.Instance(new WebAssembly.Module(metered.binary)).exports as Record<string, unknown>;
  return { plain, metered: inst as Record<string, (...a: number[]) => number>, gas: inst.__gas as WebAssembly.Global, info: metered };
}

describe('metering pass', () => {
  it('charges every function entry and loop iteration, results unchanged', async () => {
    const { plain, metered, gas, info } = await instances();
    expect(info.checkpoints).toBe(3 + 2 + 1); // 3 function entries, 2 loops, 1 bulk op
    gas.value = 1_000_000;
    expect(metered.work(10, 100)).toBe(plain.work(10, 100));
    // work entry 1 + 10 outer iterations × (inner entry 1 + 100 inner iterations)
    expect(1_000_000 - (gas.value as number)).toBe(1 + 10 + 10 * (1 + 100));
  });

  it('charges bulk memory.copy by size and traps when the budget is short', async () => {
    const { metered, gas } = await instances();
    gas.value = 100;
    metered.copy(10 * 1024);
    expect(100 - (gas.value as number)).toBe(1 + (10 + 1));
    gas.value = 10;
    expect(() => metered.copy(60 * 1024)).toThrow(WebAssembly.RuntimeError);
    expect(gas.value as number).toBeLessThan(0);
  });

  it('adds the same call-free nine instructions per checkpoint, and no import', async () => {
    // What keeps the overhead modest, by count (the timing lives in bench/metering.bench.mjs): each
    // unit of gas charged runs `__gas -= 1; if (__gas < 0) unreachable` and nothing else: no call,
    // no host import, no new loop. Work added per iteration is constant, whatever the body does.
    const { info } = await instances();
    const plain = instructionCounts(wat(WORK));
    const metered = instructionCounts(info.binary);
    expect(WebAssembly.Module.imports(new WebAssembly.Module(info.binary))).toEqual(WebAssembly.Module.imports(new WebAssembly.Module(wat(WORK))));
    // functions keep their indices; the metering's own helpers (__gas_get/_set/_charge) come after
    expect(metered.length).toBe(plain.length + 3);
    const CHARGE = { 'global.get': 2, 'global.set': 1, 'i32.sub': 1, 'i32.const': 2, 'i32.lt_s': 1, if: 1, unreachable: 1 };
    // inner and work: one function-entry checkpoint and one loop checkpoint each
    for (const i of [0, 1]) expect(added(plain[i]!, metered[i]!), `function ${i}`).toEqual(times(CHARGE, 2));
    // copy: the entry charge plus the bulk charge (operands spilled to scratch globals), still no call
    const bulk = added(plain[2]!, metered[2]!);
    expect(Object.keys(bulk).filter((op) => !/^(global\.(get|set)|i32\.(const|sub|add|shr_u|lt_s)|if|unreachable)$/.test(op))).toEqual([]);
  });
});

/** how often each instruction occurs in each defined function (structure-only `block` left out). */
function instructionCounts(binary: Uint8Array): Array<Record<string, number>> {
  const mod = binaryen.readBinary(binary);
  try {
    const out: Array<Record<string, number>> = [];
    for (let i = 0; i < mod.getNumFunctions(); i++) {
      const f = binaryen.getFunctionInfo(mod.getFunctionByIndex(i));
      if (f.module) continue;
      const counts: Record<string, number> = {};
      for (const [, op] of binaryen.emitText(f.body).matchAll(/\((?!then\b|else\b|block\b|result\b)([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)?)/g)) counts[op!] = (counts[op!] ?? 0) + 1;
      out.push(counts);
    }
    return out;
  } finally {
    mod.dispose();
  }
}

/** instructions in `after` beyond those in `before` (none may disappear). */
function added(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const op of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const d = (after[op] ?? 0) - (before[op] ?? 0);
    if (d !== 0) out[op] = d;
  }
  return out;
}

const times = (c: Record<string, number>, n: number): Record<string, number> => Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v * n]));

describe('gas cannot wrap or be skipped (issue 10)', () => {
  const GUEST = `(module
    (import "sip" "now_ms" (func $now (result i64)))
    (type $t (func (result i64)))
    (table 1 funcref)
    (elem (i32.const 0) $now)
    (func (export "direct") (param $n i32)
      (loop $l (drop (call $now)) (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n))))
    (func (export "indirect") (param $n i32)
      (loop $l (drop (call_indirect (type $t) (i32.const 0))) (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n)))))`;

  async function instance(now: () => bigint = () => 0n) {
    const metered = await meterModule(wat(GUEST), 'g.wasm', { initialGas: 1_000_000, tableMaxElements: 100 });
    const ex = new WebAssembly.Instance(new WebAssembly.Module(metered.binary), { sip: { now_ms: now } }).exports as Record<string, unknown>;
    return { ex: ex as Record<string, (...a: number[]) => number>, gas: ex.__gas as WebAssembly.Global };
  }

  it('__gas_charge saturates: 2^32-1 (or any negative i32) exhausts, never adds', async () => {
    const { ex, gas } = await instance();
    gas.value = 1000;
    expect(ex.__gas_charge(10)).toBe(990);
    expect(ex.__gas_charge(0xffffffff)).toBe(-1); // ToInt32 → -1: read unsigned, a huge charge
    expect(ex.__gas_charge(0)).toBe(-1); // once exhausted it stays exhausted
    gas.value = 5;
    expect(ex.__gas_charge(0x80000000)).toBe(-1);
    gas.value = 5;
    expect(ex.__gas_charge(5)).toBe(0);
  });

  it('every import call costs HOST_CALL_GAS, also through call_indirect (element segments retargeted)', async () => {
    const { ex, gas } = await instance();
    gas.value = 1_000_000;
    ex.direct(100);
    expect(1_000_000 - (gas.value as number)).toBe(1 + 100 * (1 + HOST_CALL_GAS));
    gas.value = 1_000_000;
    ex.indirect(100);
    expect(1_000_000 - (gas.value as number)).toBe(1 + 100 * (1 + HOST_CALL_GAS));
  });

  it('a host call that exhausts the budget traps the guest as soon as it returns', async () => {
    let calls = 0;
    let g: WebAssembly.Global | null = null;
    const { ex, gas } = await instance(() => {
      calls++;
      g!.value = -1; // as budget.ts charge() leaves it when a host charge cannot be paid
      return 0n;
    });
    g = gas;
    gas.value = 1_000_000;
    expect(() => ex.direct(1000)).toThrow(WebAssembly.RuntimeError);
    expect(calls).toBe(1);
  });
});
