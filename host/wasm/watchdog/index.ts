/**
 * The wall-clock guard behind the gas meter: `guard.call(timeoutMs, fn, a, b, c)` runs a hook and
 * stops it when it runs past timeoutMs, even if metering were wrong (an uninstrumented loop, an
 * under-charged host call). A native addon (watchdog.cc, built by scripts/build-native.mjs at
 * `npm install` / `npm run build`) keeps one watchdog thread per isolate (the main thread and each
 * worker thread of core.workers) that calls V8's TerminateExecution on an overrunning call; the call
 * then throws an Error whose `code` is ERR_HOOK_TIMEOUT. The CPU-time bound is the CPU time of the
 * thread running that isolate.
 *
 * Cost per guarded call: ~0.15-0.25 µs (one native call and two uncontended mutex operations;
 * bench/RESULTS.md "hook cost"). Without the addon (no C++ toolchain at install) hooks run with the
 * meter alone: `available` is false and the runtime logs E4031 once (per thread: each worker thread
 * loads its own copy of this module and of host/wasm/plugin.ts).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const HOOK_TIMEOUT_CODE = 'ERR_HOOK_TIMEOUT';

/** any function; the guard passes at most three arguments. */
type Hook = (...args: never[]) => unknown;
type Call3 = (a?: unknown, b?: unknown, c?: unknown) => unknown;

interface WatchdogAddon {
  start(tickMs: number): void;
  call(timeoutMs: number, fn: Hook, a?: unknown, b?: unknown, c?: unknown): unknown;
  fired(): number;
}

export interface HookGuard {
  /** false when the native addon is not built: calls run unguarded. */
  readonly available: boolean;
  /** why it is unavailable, for the E4031 log line. */
  readonly reason: string;
  /** fn(a, b, c) under the guard; throws an Error with code ERR_HOOK_TIMEOUT past timeoutMs. */
  call(timeoutMs: number, fn: Hook, a?: unknown, b?: unknown, c?: unknown): unknown;
  /** calls this thread's watchdog has stopped since it started. */
  fired(): number;
}

/** where node-gyp puts the addon, seen from host/wasm/watchdog/ (sources) and dist/host/wasm/watchdog/. */
const CANDIDATES = ['./build/Release/watchdog.node', '../../../../host/wasm/watchdog/build/Release/watchdog.node'];

/** The watchdog samples a running call every tick: a hook is stopped between timeout and timeout + tick. */
export const WATCHDOG_TICK_MS = 5;

let instance: HookGuard | null = null;

/**
 * This thread's guard. The singleton lives in this module instance, and Node loads ES modules once
 * per thread (a Worker has its own module graph), so the main thread and every worker thread each
 * start the addon once and get a watchdog bound to their own isolate and CPU clock.
 */
export function hookGuard(): HookGuard {
  if (instance !== null) return instance;
  let reason = 'watchdog addon not built (run `npm run build`; needs a C++ compiler and Node headers)';
  for (const rel of CANDIDATES) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (!existsSync(path)) continue;
    try {
      const addon = createRequire(import.meta.url)(path) as WatchdogAddon;
      addon.start(WATCHDOG_TICK_MS);
      instance = { available: true, reason: '', call: addon.call, fired: addon.fired };
      return instance;
    } catch (err) {
      // an addon built for another Node (ABI mismatch) or no CPU-time clock: fall back to the meter
      reason = `watchdog addon unusable: ${(err as Error).message}`;
    }
  }
  instance = { available: false, reason, call: (_t, fn, a, b, c) => (fn as Call3)(a, b, c), fired: () => 0 };
  return instance;
}

export function isHookTimeout(err: unknown): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === HOOK_TIMEOUT_CODE;
}
