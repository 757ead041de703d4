/**
 * What a plugin may spend of the host: gas for host work, and the host memory its calls can hold
 * (docs/abi/v1.md "Gas" and "Host memory budgets").
 *
 * Gas. The guest pays HOST_CALL_GAS for every import before the host runs (the metering pass wraps
 * each import, host/wasm/metering.ts). The host then charges its own work *before doing it*, in
 * proportion to the bytes it reads, writes, hashes or stores, through the instance's saturating
 * `__gas_charge` export: a charge can never wrap the i32 counter (the bug where `cfg_read` with a
 * crafted `cap` charged exactly 2^32-1 and so added one unit). When a charge exhausts the budget
 * the host throws GasExhausted: the hook ends at once, the failure policy classifies it as `gas`
 * (E4011) because the counter is negative, and the work is never done. Provider code that swallows
 * the throw is caught by the wrapper's check after the call.
 *
 * Memory. Variables are budgeted per store (count and characters of names + values); other
 * per-message host memory (header edits, reply headers, log lines) per message context.
 */
import type { MessageContext } from '../core/context.js';
import type { PluginLimits } from './types.js';

/** the injected gas counter of one instance (host/wasm/metering.ts exports __gas_get/__gas_set/__gas_charge). */
export interface GasCounter {
  get(): number;
  set(value: number): void;
  /** saturating charge (units read as unsigned i32); returns what is left, -1 once exhausted. */
  charge(units: number): number;
}

/** per-instance handle on the gas counter; null until the instance exists. */
export interface GasHandle {
  counter: GasCounter | null;
}

/** Thrown by a host function whose charge exhausted the budget; ends the hook (failure class `gas`). */
export class GasExhausted extends Error {
  constructor() {
    super('gas exhausted by a host call');
    this.name = 'GasExhausted';
  }
}

const I32_MAX = 0x7fffffff;

/**
 * Charges `units` before the host does the work they pay for. Anything not a non-negative number
 * below 2^31 (a huge product, NaN, a negative value from a host bug) is charged as 2^31-1, which
 * exhausts any budget: charges saturate, never wrap and never refund.
 */
export function charge(g: GasHandle, units: number): void {
  const c = g.counter;
  if (c === null || units === 0) return;
  if (c.charge(units > 0 && units < I32_MAX ? units : I32_MAX) < 0) throw new GasExhausted();
}

/**
 * Bytes of host work covered by the call's own HOST_CALL_GAS (20 units ≈ 35 ns of guest work, more
 * than copying 64 bytes costs): short names and values, the common case, need no second JS → Wasm
 * call to charge them (bench/RESULTS.md, hook bench).
 */
export const FREE_BYTES = 64;

/** gas for host work over n bytes: 1 unit per 8 bytes, rounded up, when n > FREE_BYTES (docs/abi/v1.md "Gas"). */
export function bytesGas(n: number): number {
  return n > FREE_BYTES ? (n < I32_MAX - 7 ? (n + 7) >>> 3 : I32_MAX) : 0;
}

/**
 * Limits of the host memory a plugin's calls can hold (routing.limits, docs/abi/v1.md "Limits"):
 * name and value lengths (bytes; longer → -5 before reading), GLOBAL/$shv and per-message variable
 * stores (entries, characters of names + values), bytes a message may gain through edits, log line
 * length (longer lines are cut, Kamailio xlog buf_size) and log lines per message.
 */
export type HostBudgets = Pick<PluginLimits, 'nameMaxBytes' | 'valueMaxBytes' | 'globalVarsMax' | 'globalVarsMaxBytes' |
  'msgVarsMax' | 'msgVarsMaxBytes' | 'msgEditMaxBytes' | 'logLineMaxBytes' | 'logLinesMax'>;

const storeChars = new WeakMap<Map<string, string>, number>();

/**
 * Sets a variable if the store stays within `maxEntries` and `maxChars` (names + values, UTF-16
 * units); otherwise leaves the store unchanged and answers -5 LIMIT. 0 on success.
 */
export function storeVar(store: Map<string, string>, name: string, value: string, maxEntries: number, maxChars: number): number {
  const old = store.get(name);
  const used = storeChars.get(store) ?? 0;
  const next = used + value.length + (old === undefined ? name.length : -old.length);
  if ((old === undefined && store.size >= maxEntries) || next > maxChars) return -5;
  store.set(name, value);
  storeChars.set(store, next);
  return 0;
}

/** Deletes a variable and returns its characters to the store's budget. */
export function deleteVar(store: Map<string, string>, name: string): void {
  const old = store.get(name);
  if (old === undefined) return;
  store.delete(name);
  const left = (storeChars.get(store) ?? 0) - name.length - old.length;
  storeChars.set(store, left > 0 ? left : 0);
}

/** characters currently held by a store (for tests and metrics). */
export function storeUsage(store: Map<string, string>): number {
  return storeChars.get(store) ?? 0;
}

/** per-message spending of the budgets that are not variables. */
interface MessageSpend {
  editBytes: number;
  logLines: number;
}

const spends = new WeakMap<object, MessageSpend>();
/** key for the spending outside any message (plugin_init, start): one per AbiHost. */
export type SpendKey = MessageContext | object;

function spendOf(key: SpendKey): MessageSpend {
  let s = spends.get(key);
  if (s === undefined) {
    s = { editBytes: 0, logLines: 0 };
    spends.set(key, s);
  }
  return s;
}

/** reserves `bytes` of the message's edit budget; false (nothing reserved) when over it. */
export function spendEdit(key: SpendKey, bytes: number, max: number): boolean {
  const s = spendOf(key);
  if (s.editBytes + bytes > max) return false;
  s.editBytes += bytes;
  return true;
}

/** counts one log line against the message's budget; false when the budget is spent. */
export function spendLogLine(key: SpendKey, max: number): boolean {
  const s = spendOf(key);
  if (s.logLines >= max) return false;
  s.logLines++;
  return true;
}

const refusalsSeen = new WeakMap<object, Set<string>>();

/** true the first time `owner` (a plugin version) hits the budget `key`: the host logs E4041 once per version and key. */
export function firstRefusal(owner: object, key: string): boolean {
  let seen = refusalsSeen.get(owner);
  if (seen === undefined) {
    seen = new Set();
    refusalsSeen.set(owner, seen);
  }
  if (seen.has(key)) return false;
  seen.add(key);
  return true;
}
