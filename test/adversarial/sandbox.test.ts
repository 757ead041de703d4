/**
 * Hostile plugins (issue 10 "Hostile-proof", host/wasm/): a real node in-process with
 * test/fixtures/wasm/hostile.wat as its routing plugin, driven over UDP on 127.0.0.1 (node port
 * from freePort()). Each attack request is answered 500 while the well-behaved requests sent in the same
 * burst are all answered 200; counters (gas exhausted, traps, instance rebuilds) say why, and host
 * memory stays bounded. Modules over the load-time limits are refused with E4040 naming the file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import dgram from 'node:dgram';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import binaryen from 'binaryen';
import { parseConfig } from '../../host/config/load.js';
import { startNode, type SiphonNode } from '../../host/server/app.js';
import { createLogger } from '../../host/log/logger.js';
import { storeUsage } from '../../host/wasm/budget.js';
import type { WasmPlugin } from '../../host/wasm/plugin.js';
import { loadPlugin } from '../../host/wasm/runtime.js';
import { DEFAULT_PLUGIN_LIMITS, type PluginStats } from '../../host/wasm/types.js';
import { captureLogger, FIXTURES, ROOT, tempWasm } from '../runtime/helpers.js';
import { freePort } from '../helpers/ports.js';
import { nodeStats, onShard0 as onShard0Id } from '../helpers/shards.js';

/** the node's listen port (freePort(): a listen address needs a port) */
let PORT = 0;
const MiB = 1024 * 1024;

const Attack = {
  CFG_WRAP: 1, SPIN: 2, RECURSION: 3, TABLE: 4, MEMORY: 5, HUGE_NAMES: 6, VAR_FLOOD: 7, CALL_FLOOD: 8, LOG_FLOOD: 9, EDIT_FLOOD: 10,
} as const;

/** WAT → Wasm with the features the fixture uses (reference types for table.grow, bulk memory). */
function compile(text: string, custom: Record<string, string> = {}): Uint8Array {
  const mod = binaryen.parseText(text);
  try {
    const F = binaryen.Features;
    mod.setFeatures(F.MVP | F.BulkMemory | F.BulkMemoryOpt | F.ReferenceTypes | F.SignExt | F.MutableGlobals);
    if (!mod.validate()) throw new Error('fixture does not validate');
    for (const [name, value] of Object.entries(custom)) mod.addCustomSection(name, Buffer.from(value, 'utf8'));
    return mod.emitBinary();
  } finally {
    mod.dispose();
  }
}

/** appends a custom section of `size` bytes (binary format §5.5.3) without going through binaryen. */
function withCustomSection(bytes: Uint8Array, name: string, size: number): Uint8Array {
  const leb = (n: number): number[] => {
    const out: number[] = [];
    do {
      let b = n & 0x7f;
      n = Math.floor(n / 128);
      if (n > 0) b |= 0x80;
      out.push(b);
    } while (n > 0);
    return out;
  };
  const head = [...leb(name.length), ...Buffer.from(name)];
  return Buffer.concat([bytes, Buffer.from([0, ...leb(head.length + size), ...head]), Buffer.alloc(size)]);
}

class Client {
  private sock!: dgram.Socket;
  port = 0;
  private waiters = new Map<string, (code: number) => void>();
  private seq = 0;

  static async open(): Promise<Client> {
    const c = new Client();
    c.sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => c.sock.bind(0, '127.0.0.1', () => r()));
    c.port = c.sock.address().port;
    c.sock.on('message', (m) => {
      const text = m.toString();
      const code = Number(/^SIP\/2\.0 (\d{3})/.exec(text)?.[1]);
      const callId = /\r\nCall-ID: *([^\r\n]+)/i.exec(text)?.[1];
      const w = callId ? c.waiters.get(callId) : undefined;
      if (w && code >= 200) {
        c.waiters.delete(callId!);
        w(code);
      }
    });
    return c;
  }

  /**
   * sends an OPTIONS (with `X-Attack: n` when n is given); resolves with the final status, or 0 after 20 s.
   * `onShard0`: a Call-ID that the node steers to shard 0 (this thread), whose plugin instance the
   * test can inspect; otherwise Call-IDs spread over every shard (core.workers).
   */
  request(attack?: number, onShard0 = false): Promise<number> {
    const n = ++this.seq;
    const callId = onShard0 ? onShard0Id(node, `adv-${process.pid}-${n}`) : `adv-${process.pid}-${n}`;
    const text =
      `OPTIONS sip:probe@127.0.0.1:${PORT} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=z9hG4bK-adv-${n};rport\r\n` +
      'Max-Forwards: 70\r\n' +
      `From: <sip:tester@127.0.0.1>;tag=a${n}\r\n` +
      'To: <sip:probe@127.0.0.1>\r\n' +
      `Call-ID: ${callId}\r\n` +
      `CSeq: ${n} OPTIONS\r\n` +
      (attack === undefined ? '' : `X-Attack: ${attack}\r\n`) +
      'Content-Length: 0\r\n\r\n';
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(callId);
        resolve(0);
      }, 20_000);
      this.waiters.set(callId, (code) => {
        clearTimeout(timer);
        resolve(code);
      });
      this.sock.send(text, PORT, '127.0.0.1');
    });
  }

  close(): void {
    this.sock.close();
  }
}

let node: SiphonNode;
let client: Client;
const logLines: string[] = [];
/** shard 0's plugin instance (its $shv / GLOBAL variables: per shard, host/shards/README.md) */
const plugin = (): WasmPlugin => node.plugin as unknown as WasmPlugin;
/** the plugin's counters summed over every shard (the attacks' Call-IDs spread over them) */
const stats = async (): Promise<PluginStats> => (await nodeStats(node, 'plugin')) as unknown as PluginStats;

beforeAll(async () => {
  const file = tempWasm('hostile.wasm', compile(readFileSync(path.join(FIXTURES, 'hostile.wat'), 'utf8'), {
    'sip.plugin': JSON.stringify({ name: 'hostile', version: '1.0.0' }),
  }));
  PORT = await freePort('udp');
  const yaml = [
    'core:',
    `  listen: [udp:127.0.0.1:${PORT}]`,
    '  ctl: []',
    '  warmup: 0',
    '  log_level: warn',
    // every attack traps the instance on purpose: keep the crash-loop backoff out of the way
    '  hot_swap: { max_failures: 100000 }',
    'routing:',
    `  plugin: ${JSON.stringify(file)}`,
    // the meter is under test here, not the time guard behind it (test/adversarial/watchdog.test.ts)
    '  hook_timeout_ms: 60000',
    '  init_timeout_ms: 60000',
  ].join('\n');
  node = await startNode(parseConfig(yaml, null), createLogger({ level: 'warn', destination: { write: (l: string) => void logLines.push(l) } }));
  client = await Client.open();
}, 120_000);

afterAll(async () => {
  client?.close();
  await node?.stop();
});

/**
 * One burst: `rounds` × the attack, each followed by three well-behaved requests, all in flight at
 * once. Every attack is answered 500, every other request 200; returns the stats delta.
 */
async function burst(attack: number, rounds = 3, onShard0 = false): Promise<PluginStats> {
  const before = await stats();
  const pending: Array<Promise<[string, number]>> = [];
  for (let i = 0; i < rounds; i++) {
    pending.push(client.request(attack, onShard0).then((c) => ['attack', c]));
    for (let j = 0; j < 3; j++) pending.push(client.request().then((c) => ['good', c]));
  }
  const results = await Promise.all(pending);
  expect(results.filter(([k]) => k === 'attack').map(([, c]) => c)).toEqual(Array(rounds).fill(500));
  expect(results.filter(([k]) => k === 'good').map(([, c]) => c)).toEqual(Array(rounds * 3).fill(200));
  const after = await stats();
  return {
    calls: after.calls - before.calls,
    traps: after.traps - before.traps,
    gasExhausted: after.gasExhausted - before.gasExhausted,
    aborts: after.aborts - before.aborts,
    instanceRebuilds: after.instanceRebuilds - before.instanceRebuilds,
    gasUsedTotal: after.gasUsedTotal - before.gasUsedTotal,
  };
}

describe('hostile plugins are answered 500 while the node keeps serving', () => {
  let rssStart = 0;
  beforeAll(async () => {
    // warm: instances, sockets, JIT; then the baseline every attack is measured against
    for (let i = 0; i < 20; i++) expect(await client.request()).toBe(200);
    rssStart = process.memoryUsage().rss;
  });

  it('gas wrap through host charges (cfg_read with crafted lengths) → out of gas', async () => {
    const d = await burst(Attack.CFG_WRAP);
    expect(d.gasExhausted).toBe(3);
    expect(d.instanceRebuilds).toBe(3);
  });

  it('infinite loop without host calls → out of gas (metering)', async () => {
    const d = await burst(Attack.SPIN);
    expect(d.gasExhausted).toBe(3);
  });

  it('deep recursion → gas or stack overflow, instance replaced', async () => {
    const d = await burst(Attack.RECURSION);
    expect(d.gasExhausted + d.traps).toBe(3);
    expect(d.instanceRebuilds).toBe(3);
  });

  it('table.grow is refused past table_max_elements; the trap after it is a 500', async () => {
    const d = await burst(Attack.TABLE);
    expect(d.traps).toBe(3);
  });

  it('memory.grow is refused past memory_max_pages; the trap after it is a 500', async () => {
    const d = await burst(Attack.MEMORY);
    expect(d.traps).toBe(3);
  });

  it('16 MiB names to hdr_count/hdr_get/pv_get/var_set are refused unread; the loop runs out of gas', async () => {
    // on shard 0, whose variables the test reads
    const d = await burst(Attack.HUGE_NAMES, 3, true);
    expect(d.gasExhausted).toBe(3);
    expect(plugin().globals.size).toBe(0);
  });

  it('GLOBAL/$shv/MSG variable floods stop at their budgets; the loop runs out of gas', async () => {
    const d = await burst(Attack.VAR_FLOOD, 3, true);
    expect(d.gasExhausted).toBe(3);
    const g = plugin().globals;
    expect(storeUsage(g)).toBeLessThanOrEqual(DEFAULT_PLUGIN_LIMITS.globalVarsMaxBytes);
    expect(g.size).toBeLessThanOrEqual(DEFAULT_PLUGIN_LIMITS.globalVarsMax);
    expect(g.size).toBeGreaterThan(0);
    // the operator sees which budget the plugin runs into, once per plugin version (E4041)
    const warned = logLines.filter((l) => l.includes('"code":4041'));
    expect(warned.some((l) => l.includes('routing.limits.global_vars_max(_bytes)'))).toBe(true);
    expect(warned.filter((l) => l.includes('routing.limits.global_vars_max(_bytes)'))).toHaveLength(1);
  });

  it('host-call flood (now_ms, random_u32, log_enabled) → out of gas: no host call is free', async () => {
    const d = await burst(Attack.CALL_FLOOD);
    expect(d.gasExhausted).toBe(3);
  });

  it('log flood: lines cut at 4096 bytes, at most log_lines_max per message', async () => {
    const before = logLines.length;
    const d = await burst(Attack.LOG_FLOOD, 2);
    expect(d.gasExhausted).toBe(2);
    const lines = logLines.slice(before).filter((l) => l.includes('"plugin":"hostile@1.0.0"') && !/"code":40[14]1/.test(l));
    expect(lines.length).toBeLessThanOrEqual(2 * DEFAULT_PLUGIN_LIMITS.logLinesMax);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(DEFAULT_PLUGIN_LIMITS.logLineMaxBytes + 512);
  });

  it('message edit flood (hdr_add, reply_hdr_add with 60 KB values) stops at msg_edit_max_bytes', async () => {
    const d = await burst(Attack.EDIT_FLOOD);
    expect(d.gasExhausted).toBe(3);
  });

  it('host memory stayed bounded over every attack (< 64 MiB RSS growth)', () => {
    const grown = process.memoryUsage().rss - rssStart;
    expect(grown).toBeLessThan(64 * MiB);
  });
});

describe('modules over the load-time limits are refused with E4040 naming the file and the key', () => {
  const guest = (body: string): string => `(module (import "env" "memory" (memory 1))
    (func (export "sip_abi_v1")) (func (export "sip_abi_minor") (result i32) (i32.const 0))
    (func (export "request_route") (param i32) (result i32) (i32.const 0)) ${body})`;
  const refusal = async (name: string, bytes: Uint8Array): Promise<Error> => {
    const file = tempWasm(name, bytes);
    const e = await loadPlugin(file, { log: captureLogger([]) }).then(() => null, (err: Error) => err);
    expect(e).not.toBeNull();
    expect(e!.message).toContain(file);
    return e!;
  };

  it('a huge module (routing.max_module_bytes)', async () => {
    const e = await refusal('huge.wasm', withCustomSection(compile(guest('')), 'pad', 9 * MiB));
    expect(e.message).toMatch(/module is \d+ bytes, the limit is 8388608 \(routing\.max_module_bytes\) \[E4040/);
  });

  it('too many functions (functions_max)', async () => {
    const fns = Array.from({ length: 10_001 }, (_, i) => `(func $f${i} (result i32) (i32.const ${i}))`).join('\n');
    const e = await refusal('many-fns.wasm', compile(guest(fns)));
    expect(e.message).toMatch(/module has 1000\d functions, the limit is 10000 \(routing\.limits\.functions_max\) \[E4040/);
  });

  it('a table larger than table_max_elements, and too many globals', async () => {
    const t = await refusal('table.wasm', compile(guest('(table 20000 funcref)')));
    expect(t.message).toMatch(/20000 table elements, the limit is 10000 \(routing\.limits\.table_max_elements\)/);
    const globals = Array.from({ length: 1001 }, (_, i) => `(global $g${i} (mut i32) (i32.const 0))`).join('\n');
    const g = await refusal('globals.wasm', compile(guest(globals)));
    expect(g.message).toMatch(/1001 globals, the limit is 1000 \(routing\.limits\.globals_max\)/);
  });

  it('data segments over data_max_bytes', async () => {
    const data = `(data (i32.const 0) "${'\\00'.repeat(1)}${'a'.repeat(MiB + 16)}")`;
    const e = await refusal('data.wasm', compile(guest(data).replace('(memory 1)', '(memory 17)')));
    expect(e.message).toMatch(/bytes of data segments, the limit is 1048576 \(routing\.limits\.data_max_bytes\)/);
  });
});

describe('metering runs in a child process that is killed past metering_timeout_ms', () => {
  // only the build (dist/) meters in a child; from TypeScript sources it runs in-process (metering.ts)
  const distMetering = path.join(ROOT, 'dist/host/wasm/metering.js');
  const bytes = compile('(module (func (export "f") (loop $l (br $l))))');

  it.skipIf(!existsSync(distMetering))('a child past the limit is killed: E4013 naming the file and the key', async () => {
    const { meterModule } = (await import(pathToFileURL(distMetering).href)) as typeof import('../../host/wasm/metering.js');
    const e = await meterModule(bytes, 'slow.wasm', { initialGas: 1000, timeoutMs: 1 }).then(() => null, (err: Error) => err);
    expect(e?.message).toMatch(/^slow\.wasm: metering took longer than 1 ms \(routing\.limits\.metering_timeout_ms\); process killed \[E4013/);
    // within the limit the same child answers
    const ok = await meterModule(bytes, 'ok.wasm', { initialGas: 1000, timeoutMs: 120_000 });
    expect(ok.checkpoints).toBe(2);
  }, 150_000);
});
