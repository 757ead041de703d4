/**
 * The wall-clock guard (host/wasm/watchdog) stops a hook the gas meter does not stop: a loop under a
 * budget too large to run out (as if metering undercounted), and a host import that never returns
 * (work the meter cannot see). Each such hook is answered 500, its instance replaced, and the
 * requests sent meanwhile are all answered. Assertions are on counters (timeouts, gas exhaustion,
 * watchdog firings), never on durations.
 *
 * In worker threads (core.workers: one V8 isolate per worker) each thread has its own guard, bound to
 * its own isolate and CPU clock: a spinning hook in a Worker is stopped there while the main thread's
 * guard keeps stopping only the main thread's calls; a Worker terminated inside a guarded call takes
 * its watchdog with it; without the addon a worker logs E4031 and runs on the meter alone. Workers
 * need JavaScript, so they load the build (dist/, made by `npm test` before vitest runs).
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Action } from '../../host/core/context.js';
import { parseConfig } from '../../host/config/load.js';
import { startNode, type SiphonNode } from '../../host/server/app.js';
import { createLogger } from '../../host/log/logger.js';
import { loadPlugin } from '../../host/wasm/runtime.js';
import type { WasmPlugin } from '../../host/wasm/plugin.js';
import { hookGuard } from '../../host/wasm/watchdog/index.js';
import type { ImportProvider } from '../../host/wasm/types.js';
import { shardOfCallId } from '../../host/shards/steer.js';
import { nodeStats } from '../helpers/shards.js';
import { captureLogger, guest, INVITE, makeCtx, parseSip, ROOT, tempWasm, wat } from '../runtime/helpers.js';

/** the largest per-hook budget the runtime accepts: ~2^31 loop iterations, seconds of CPU. */
const HUGE_GAS = 0x7fffffff;

/**
 * request_route: a request carrying `X-Spin` loops forever (metered, but the budget is huge);
 * `X-Host-Spin` calls slow.spin (a host import that never returns); anything else is answered 200.
 */
const SPIN_GUEST = guest(
  `(data (i32.const 1024) "X-Spin")
  (data (i32.const 1040) "X-Host-Spin")
  (data (i32.const 1060) "OK")
  (func (export "request_route") (param $ctx i32) (result i32)
    (if (i32.ge_s (call $hdr_get (i32.const 1024) (i32.const 6) (i32.const 0) (i32.const 2048) (i32.const 64)) (i32.const 0))
      (then (loop $l (br $l))))
    (if (i32.ge_s (call $hdr_get (i32.const 1040) (i32.const 11) (i32.const 0) (i32.const 2048) (i32.const 64)) (i32.const 0))
      (then (drop (call $spin))))
    (drop (call $sl_reply (i32.const 200) (i32.const 1060) (i32.const 2)))
    (i32.const 2))`,
  {
    imports: `(import "sip" "hdr_get" (func $hdr_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "sip" "sl_reply" (func $sl_reply (param i32 i32 i32) (result i32)))
  (import "slow" "spin" (func $spin (result i32)))`,
  },
);

/** a host import with a bug the meter cannot see: it never returns. */
const slowProvider: ImportProvider = {
  namespace: 'slow',
  functions: () => ({
    spin: (): number => {
      let x = 0;
      for (;;) x = (x + 1) | 0;
    },
  }),
};

const guard = hookGuard();

describe('the watchdog addon', () => {
  it('is built and running (npm run build builds it; CI requires it)', () => {
    expect(guard.reason).toBe('');
    expect(guard.available).toBe(true);
  });

  it('passes results and exceptions through unchanged', () => {
    expect(guard.call(100, (a?: unknown, b?: unknown) => (a as number) + (b as number), 2, 3)).toBe(5);
    expect(() => guard.call(100, () => { throw new RangeError('mine'); })).toThrow(RangeError);
  });
});

describe('a hook the meter does not stop', () => {
  let plugin: WasmPlugin;
  const logs: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    const file = tempWasm('spin.wasm', wat(SPIN_GUEST, { 'sip.plugin': JSON.stringify({ name: 'spin', version: '1.0.0' }) }));
    plugin = (await loadPlugin(file, {
      log: captureLogger(logs),
      limits: { gasPerHook: HUGE_GAS, hookTimeoutMs: 30 },
      providers: [slowProvider],
    })) as WasmPlugin;
  }, 20_000);

  async function route(extra: string): Promise<{ action: Action; logs: Array<Record<string, unknown>> }> {
    const raw = INVITE.replace('\r\n\r\n', `\r\n${extra}\r\n\r\n`);
    const t = makeCtx(await parseSip(raw));
    return { action: plugin.requestRoute(t.ctx), logs: t.logs };
  }

  it('a metered loop with a budget too large to run out: stopped, ERROR, E4030, fresh instance', async () => {
    const fired = guard.fired();
    const before = { ...plugin.stats };
    const r = await route('X-Spin: 1');
    expect(r.action).toBe(Action.ERROR);
    expect(plugin.stats.timeouts - before.timeouts).toBe(1);
    expect(plugin.stats.gasExhausted - before.gasExhausted).toBe(0);
    expect(plugin.stats.instanceRebuilds - before.instanceRebuilds).toBe(1);
    expect(plugin.lastFailure?.errorClass).toBe('timeout');
    expect(guard.fired() - fired).toBe(1);
    expect(r.logs.some((l) => l.code === 4030 && l.errorClass === 'timeout')).toBe(true);
    // the next request runs on the replacement instance

    expect((await route('X-Other: 1')).action).toBe(Action.REPLIED);
  });

  it('a host import that never returns: stopped the same way', async () => {
    const before = { ...plugin.stats };
    expect((await route('X-Host-Spin: 1')).action).toBe(Action.ERROR);
    expect(plugin.stats.timeouts - before.timeouts).toBe(1);
    expect((await route('X-Other: 1')).action).toBe(Action.REPLIED);
  });

  it('a hook that returns in time is not disturbed by the watchdog ticking meanwhile', async () => {
    const before = { ...plugin.stats };
    for (let i = 0; i < 2000; i++) {
      const action = (await route('X-Other: 1')).action;
      if (action !== Action.REPLIED) expect.fail(`call ${i}: ${action}, ${plugin.lastFailure?.message}`);
    }
    expect(plugin.stats.timeouts).toBe(before.timeouts);
  });
});

describe('over UDP: spinning requests get 500, the others are all answered', () => {
  let node: SiphonNode;
  let port = 0;

  beforeAll(async () => {
    const file = tempWasm('spin-udp.wasm', wat(SPIN_GUEST.replace('(import "slow" "spin" (func $spin (result i32)))', '').replace('(then (drop (call $spin)))', '(then (loop $m (br $m)))'), {
      'sip.plugin': JSON.stringify({ name: 'spin-udp', version: '1.0.0' }),
    }));
    // find a free UDP port for the listener
    const probe = dgram.createSocket('udp4');
    probe.bind(0, '127.0.0.1');
    await once(probe, 'listening');
    port = probe.address().port;
    probe.close();
    const config = parseConfig(
      [
        'core:',
        `  listen: [udp:127.0.0.1:${port}]`,
        '  warmup: 0',
        '  hot_swap: { max_failures: 1000 }', // 20 timeouts must not trip the crash-loop backoff (503)
        'routing:',
        `  plugin: ${file}`,
        `  gas_per_hook: ${HUGE_GAS}`,
        '  hook_timeout_ms: 30',
      ].join('\n'),
      path.join(ROOT, 'config/test.yaml'),
    );
    node = await startNode(config, createLogger({ level: 'silent' }));
  }, 60_000);

  afterAll(async () => {
    await node?.stop();
  });

  it('20 spinning and 40 well-behaved OPTIONS, interleaved', async () => {
    const client = dgram.createSocket('udp4');
    client.bind(0, '127.0.0.1');
    await once(client, 'listening');
    const local = client.address().port;
    const answers = new Map<string, number>();
    let expected = 0;
    const done = new Promise<void>((resolve) => {
      client.on('message', (buf) => {
        const text = buf.toString('latin1');
        const code = Number(text.slice(8, 11));
        const callId = /\r\nCall-ID: ([^\r]+)/i.exec(text)?.[1] ?? '';
        answers.set(callId, code);
        if (answers.size === expected) resolve();
      });
    });
    const firedBefore = guard.fired();
    const send = (callId: string, extra: string) => {
      expected++;
      const msg =
        `OPTIONS sip:probe@127.0.0.1:${port} SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-${callId};rport\r\n` +
        `Max-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:probe@127.0.0.1>\r\n` +
        `Call-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\n${extra}Content-Length: 0\r\n\r\n`;
      client.send(msg, port, '127.0.0.1');
    };
    for (let i = 0; i < 20; i++) {
      send(`good-a-${i}`, '');
      send(`spin-${i}`, i % 2 === 0 ? 'X-Spin: 1\r\n' : 'X-Host-Spin: 1\r\n');
      send(`good-b-${i}`, '');
    }
    await done;
    client.close();
    for (let i = 0; i < 20; i++) {
      expect(answers.get(`spin-${i}`)).toBe(500);
      expect(answers.get(`good-a-${i}`)).toBe(200);
      expect(answers.get(`good-b-${i}`)).toBe(200);
    }
    // this thread's guard stopped the spins routed here (shard 0); with core.workers the others were
    // stopped by their worker's own guard (one per isolate) and count in the node's plugin statistics
    const here = Array.from({ length: 20 }, (_, i) => `spin-${i}`).filter((id) => shardOfCallId(id, node.config.core.workers ?? 1) === 0).length;
    expect(guard.fired() - firedBefore).toBe(here);
    const stats = await nodeStats(node, 'plugin');
    expect(stats.timeouts).toBe(20);
    expect(stats.gasExhausted).toBe(0);
  }, 30_000);
});

/**
 * A worker thread running the built host (workerData.dist): loads the spin plugin and routes through
 * it. mode 'spin': a normal request, a spinning one (stopped by this thread's guard), a JavaScript
 * loop under guard.call, a normal request again; posts 'spinning' first so the main thread can run
 * its own guarded calls meanwhile. mode 'hang': posts 'in' from inside a guarded call with a 60 s
 * bound and loops (the test terminates the worker there). mode 'plain': one normal request. A worker
 * without a guard of its own does not spin (the test fails on its result instead of hanging).
 */
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const { createRequire } = require('node:module');
const { pathToFileURL } = require('node:url');
const path = require('node:path');
const { root, dist, file, mode, gas, timeoutMs, invite } = workerData;
const imp = (rel) => import(pathToFileURL(path.join(dist, rel)).href);
(async () => {
  const { hookGuard } = await imp('host/wasm/watchdog/index.js');
  const guard = hookGuard();
  if (mode === 'hang') {
    // without a guard of its own it would spin until terminated: answer at once so the test fails fast
    guard.call(60000, () => { parentPort.postMessage('in'); for (;;) if (!guard.available) return; });
    return;
  }
  const logs = [];
  const pino = createRequire(path.join(root, 'package.json'))('pino');
  const log = pino({ level: 'debug' }, { write: (line) => void logs.push(JSON.parse(line)) });
  const { loadPlugin } = await imp('host/wasm/runtime.js');
  const { parseMessage } = await imp('host/sip/parser.js');
  const slow = { namespace: 'slow', functions: () => ({ spin: () => { for (;;); } }) };
  const plugin = await loadPlugin(file, { log, limits: { gasPerHook: gas, hookTimeoutMs: timeoutMs }, providers: [slow] });
  let id = 1;
  const route = (extra) => {
    const msg = parseMessage(Buffer.from(invite.replace('\\r\\n\\r\\n', '\\r\\n' + extra + '\\r\\n\\r\\n'))).message;
    const ep = { address: '127.0.0.1', port: 5080, proto: 'udp', family: 4 };
    const ctx = { id: id++, msg, source: ep, local: ep, dstUri: null, vars: new Map(), replied: false, log,
      slReply(code) { if (code >= 200) ctx.replied = true; return true; } };
    return plugin.requestRoute(ctx);
  };
  const out = { available: guard.available, reason: guard.reason, before: route('X-Other: 1') };
  if (mode === 'spin') {
    parentPort.postMessage('spinning');
    if (guard.available) {
      out.spin = route('X-Spin: 1');
      try { guard.call(timeoutMs, () => { for (;;); }); } catch (e) { out.code = e.code; }
      out.after = route('X-Other: 1');
    }
  }
  out.timeouts = plugin.stats.timeouts;
  out.errorClass = plugin.lastFailure?.errorClass ?? null;
  out.fired = guard.fired();
  out.e4031 = logs.filter((l) => l.code === 4031).length;
  plugin.close();
  parentPort.postMessage(out);
})();
`;

interface WorkerResult {
  available: boolean;
  reason: string;
  before: Action;
  spin?: Action;
  after?: Action;
  code?: string;
  timeouts: number;
  errorClass: string | null;
  fired: number;
  e4031: number;
}

describe('worker threads: one guard per isolate', () => {
  let file = '';
  const spinForever = (): never => {
    for (;;);
  };

  beforeAll(() => {
    file = tempWasm('spin-worker.wasm', wat(SPIN_GUEST, { 'sip.plugin': JSON.stringify({ name: 'spin-worker', version: '1.0.0' }) }));
  });

  function start(mode: 'spin' | 'hang' | 'plain', dist = path.join(ROOT, 'dist')): { worker: Worker; messages: unknown[]; exited: Promise<number> } {
    const worker = new Worker(WORKER, { eval: true, workerData: { root: ROOT, dist, file, mode, gas: HUGE_GAS, timeoutMs: 30, invite: INVITE } });
    const messages: unknown[] = [];
    worker.on('message', (m) => messages.push(m));
    const exited = once(worker, 'exit').then(([code]) => code as number);
    return { worker, messages, exited };
  }

  /** resolves with the first message equal to `what` (or, for 'result', the first object). */
  function next(w: { worker: Worker; messages: unknown[] }, what: string): Promise<unknown> {
    const match = (m: unknown) => (what === 'result' ? typeof m === 'object' : m === what);
    const seen = w.messages.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const on = (m: unknown) => {
        if (!match(m)) return;
        w.worker.off('message', on);
        resolve(m);
      };
      w.worker.on('message', on);
      w.worker.once('error', reject);
    });
  }

  function expectStoppedInWorker(r: WorkerResult): void {
    expect(r.reason).toBe('');
    expect(r.available).toBe(true);
    expect(r.e4031).toBe(0);
    expect(r.before).toBe(Action.REPLIED);
    expect(r.spin).toBe(Action.ERROR);
    expect(r.errorClass).toBe('timeout');
    expect(r.timeouts).toBe(1);
    expect(r.code).toBe('ERR_HOOK_TIMEOUT');
    expect(r.after).toBe(Action.REPLIED);
    // this worker's own watchdog stopped both, and only those
    expect(r.fired).toBe(2);
  }

  it('two workers spinning at once are each stopped by their own guard while the main thread runs its own guarded calls', async () => {
    const workers = [start('spin'), start('spin')];
    await Promise.all(workers.map((w) => next(w, 'spinning')));
    const fired = guard.fired();
    for (let i = 0; i < 200; i++) expect(guard.call(1000, (a?: unknown) => (a as number) + 1, i)).toBe(i + 1);
    let code: unknown;
    try {
      guard.call(30, spinForever);
    } catch (err) {
      code = (err as NodeJS.ErrnoException).code;
    }
    expect(code).toBe('ERR_HOOK_TIMEOUT');
    // the main thread's watchdog counts the main thread's stop only, not the workers'
    expect(guard.fired() - fired).toBe(1);
    const results = (await Promise.all(workers.map((w) => next(w, 'result')))) as WorkerResult[];
    for (const r of results) expectStoppedInWorker(r);
    // each worker exits on its own once done: its cleanup hook stopped its watchdog thread
    expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);
    expect(guard.fired() - fired).toBe(1);
  }, 60_000);

  it('a worker terminated inside a guarded call takes its watchdog with it; the main guard and new workers still work', async () => {
    const w = start('hang');
    await next(w, 'in');
    await w.worker.terminate();
    expect(await w.exited).toBe(1);
    expect(w.messages).toEqual(['in']);
    const fired = guard.fired();
    expect(() => guard.call(30, spinForever)).toThrow(expect.objectContaining({ code: 'ERR_HOOK_TIMEOUT' }));
    expect(guard.call(1000, () => 'alive')).toBe('alive');
    expect(guard.fired() - fired).toBe(1);
    const again = start('spin');
    expectStoppedInWorker((await next(again, 'result')) as WorkerResult);
    expect(await again.exited).toBe(0);
  }, 60_000);

  it('without the addon a worker logs E4031 once and routes on the meter alone', async () => {
    // a copy of dist/ whose relative path to host/wasm/watchdog/build does not exist
    const dir = mkdtempSync(path.join(tmpdir(), 'wdog-noaddon-'));
    try {
      cpSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true });
      symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
      const w = start('plain', path.join(dir, 'dist'));
      const r = (await next(w, 'result')) as WorkerResult;
      expect(r.available).toBe(false);
      expect(r.reason).toMatch(/not built/);
      expect(r.e4031).toBe(1);
      expect(r.before).toBe(Action.REPLIED);
      expect(r.fired).toBe(0);
      expect(await w.exited).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
