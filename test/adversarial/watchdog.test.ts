/**
 * The wall-clock guard (host/wasm/watchdog) stops a hook the gas meter does not stop: a loop under a
 * budget too large to run out (as if metering undercounted), and a host import that never returns
 * (work the meter cannot see). Each such hook is answered 500, its instance replaced, and the
 * requests sent meanwhile are all answered. Assertions are on counters (timeouts, gas exhaustion,
 * watchdog firings), never on durations.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Action } from '../../host/core/context.js';
import { parseConfig } from '../../host/config/load.js';
import { startNode, type SiphonNode } from '../../host/server/app.js';
import { createLogger } from '../../host/log/logger.js';
import { loadPlugin } from '../../host/wasm/runtime.js';
import type { WasmPlugin } from '../../host/wasm/plugin.js';
import { hookGuard } from '../../host/wasm/watchdog/index.js';
import type { ImportProvider } from '../../host/wasm/types.js';
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
    expect(guard.fired() - firedBefore).toBe(20);
    const stats = node.plugins.current()!.stats;
    expect(stats.timeouts).toBe(20);
    expect(stats.gasExhausted).toBe(0);
  }, 30_000);
});
