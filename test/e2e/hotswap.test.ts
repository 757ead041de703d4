/**
 * End to end, hot swap under load: the real `siphon start` (dist/) serves SIPp's OPTIONS keepalive
 * scenario at 1,000 calls/s for ~20 s while the real `siphon plugin deploy` swaps between two builds
 * of one plugin ten times. Every SIPp call must succeed (no request lost or answered 500 during a
 * swap), a probe after each deploy must see the new build's header, and broken builds (one that does
 * not compile, one that is not WebAssembly) must be refused while the running version keeps serving.
 * Ports 19500-19519 (siphon 19500, SIPp 19501, probe 19502); the control socket is a temp unix socket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { BinrpcClient } from '../../host/rpc/binrpc-client.js';
import { RpcFault } from '../../host/rpc/types.js';
import { ROOT, SIPHON_BIN, startSiphon, type SiphonProcess } from '../helpers/siphon-process.js';

const run = promisify(execFile);
const SIP_PORT = 19500;
const SIPP_PORT = 19501;
const PROBE_PORT = 19502;
const RATE = 1000;
/** SIPp runs at least this long, and until every swap is done; then SIGUSR1 makes it finish its calls and quit. */
const MIN_LOAD_MS = 20_000;
const MAX_CALLS = 90_000;
const SWAPS = 10;

let tmp: string;
let ctl: string;
let srv: SiphonProcess | null = null;
let sipp: ChildProcess | null = null;
/** plugins dirs holding the same plugin "swap" in two versions, and a build that does not compile. */
const dirs = { v1: '', v2: '', broken: '' };

function writePlugin(dir: string, version: string, body: string): void {
  const assembly = path.join(dir, 'swap', 'assembly');
  mkdirSync(assembly, { recursive: true });
  const sdk = path.relative(assembly, path.join(ROOT, 'sdk', 'assembly')).split(path.sep).join('/');
  writeFileSync(
    path.join(assembly, 'index.ts'),
    `import { onRequest, Context, is_method, sl_reply, append_to_reply, exit, drop } from "${sdk}";\n` +
      `onRequest((ctx: Context): i32 => {\n` +
      `  if (is_method("ACK")) return drop();\n` +
      `${body}\n` +
      `  sl_reply(200, "OK");\n` +
      `  return exit();\n` +
      `});\n`,
  );
  writeFileSync(path.join(dir, 'swap', 'package.json'), JSON.stringify({ name: 'swap', version }));
}

/** One OPTIONS from the probe port; resolves with the final reply text (or null). */
async function probe(timeoutMs = 4000): Promise<string | null> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(PROBE_PORT, '127.0.0.1', () => r()));
  const tag = `${Date.now()}${Math.random().toString(16).slice(2, 8)}`;
  const req =
    `OPTIONS sip:127.0.0.1:${SIP_PORT} SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP 127.0.0.1:${PROBE_PORT};branch=z9hG4bK-probe-${tag};rport\r\n` +
    `Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=${tag}\r\nTo: <sip:127.0.0.1:${SIP_PORT}>\r\n` +
    `Call-ID: probe-${tag}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;
  try {
    return await new Promise<string | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      sock.on('message', (m) => {
        const text = m.toString('latin1');
        if (!text.includes(`probe-${tag}@`) || /^SIP\/2\.0 1\d\d/.test(text)) return;
        clearTimeout(timer);
        resolve(text);
      });
      sock.send(req, SIP_PORT, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

function versionHeader(reply: string | null): string | null {
  return reply === null ? null : (/^X-Plugin-Version: (.*)\r$/m.exec(reply)?.[1] ?? null);
}

/** `siphon plugin deploy swap --plugins-dir DIR`: exit code and output. */
async function deploy(dir: string): Promise<{ code: number; out: string }> {
  const child = spawn(process.execPath, [SIPHON_BIN, 'plugin', 'deploy', 'swap', '--plugins-dir', dir, '--ctl', `unix:${ctl}`], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code: code ?? -1, out };
}

beforeAll(async () => {
  // inside the checkout (ROOT/tmp is git-ignored): the plugin build resolves the SDK by its path
  // relative to the package root, so plugin folders outside it would get a second copy of the SDK
  mkdirSync(path.join(ROOT, 'tmp'), { recursive: true });
  tmp = mkdtempSync(path.join(ROOT, 'tmp', 'hotswap-'));
  ctl = path.join(tmp, 'ctl.sock');
  dirs.v1 = path.join(tmp, 'v1');
  dirs.v2 = path.join(tmp, 'v2');
  dirs.broken = path.join(tmp, 'broken');
  writePlugin(dirs.v1, '1.0.0', '  append_to_reply("X-Plugin-Version: 1");');
  writePlugin(dirs.v2, '2.0.0', '  append_to_reply("X-Plugin-Version: 2");');
  writePlugin(dirs.broken, '3.0.0', '  this is not AssemblyScript;');
  // build both versions up front (deploys then find them up to date and only load them)
  for (const d of [dirs.v1, dirs.v2]) {
    await run(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', d, 'swap'], { cwd: ROOT, timeout: 120_000 });
  }
  writeFileSync(
    path.join(tmp, 'siphon.yaml'),
    [
      'core:',
      `  listen: [udp:127.0.0.1:${SIP_PORT}]`,
      '  log_level: warn',
      `  data_dir: ${path.join(tmp, 'data')}`,
      `  ctl: [unix:${ctl}]`,
      'routing:',
      `  plugin: ${path.join(dirs.v1, 'swap/build/swap.wasm')}`,
      // plugin.load reads only inside the plugin directories (host/wasm/plugin-path.ts): the builds and garbage.wasm
      `  plugin_dirs: [${JSON.stringify(tmp)}]`,
    ].join('\n'),
  );
  srv = await startSiphon(['-c', path.join(tmp, 'siphon.yaml')]);
  for (let i = 0; i < 100; i++) {
    if (srv.proc.exitCode !== null) throw new Error(`siphon exited: ${srv.stderr()}${srv.stdout()}`);
    if ((await probe(300)) !== null) break;
  }
}, 180_000);

afterAll(async () => {
  if (sipp && sipp.exitCode === null) {
    sipp.kill('SIGKILL');
    await once(sipp, 'exit').catch(() => undefined);
  }
  await srv?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('hot swap under SIPp load', () => {
  it('serves the first version', async () => {
    expect(versionHeader(await probe())).toBe('1');
  });

  it(`swaps ${SWAPS} times at ${RATE} calls/s without a failed call; broken builds are refused`, async () => {
    const scenario = path.join(ROOT, 'bench/scenarios/options-keepalive.xml');
    const stat = path.join(tmp, 'sipp_stat.csv');
    sipp = spawn(
      'sipp',
      [
        `127.0.0.1:${SIP_PORT}`, '-sf', scenario, '-i', '127.0.0.1', '-p', String(SIPP_PORT), '-mp', String(SIPP_PORT + 60),
        '-r', String(RATE), '-m', String(MAX_CALLS), '-l', String(RATE * 5),
        '-timeout', '100s', '-nostdin', '-trace_stat', '-stf', stat, '-fd', '1',
        '-trace_err', '-error_file', path.join(tmp, 'sipp_err.log'),
      ],
      { cwd: tmp, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let sippErr = '';
    sipp.stderr!.on('data', (d: Buffer) => (sippErr += d.toString()));
    const sippExit = once(sipp, 'exit') as Promise<[number | null]>;
    const loadStarted = Date.now();
    await new Promise((r) => setTimeout(r, 1000)); // let the load ramp up

    const seen: string[] = [];
    for (let i = 0; i < SWAPS; i++) {
      const target = i % 2 === 0 ? '2' : '1';
      const res = await deploy(target === '2' ? dirs.v2 : dirs.v1);
      expect(res.code, res.out).toBe(0);
      expect(res.out).toMatch(new RegExp(`deployed swap@${target}\\.0\\.0 `));
      const got = versionHeader(await probe());
      seen.push(got ?? 'none');
      expect(got, `after deploy #${i + 1}`).toBe(target);

      if (i === 4) {
        // a build that does not compile: deploy fails before touching the server
        const bad = await deploy(dirs.broken);
        expect(bad.code).toBe(1);
        expect(bad.out).toMatch(/does not compile/);
        expect(bad.out).toMatch(/E4023/);
        // a file that is not WebAssembly: the server refuses it, naming the file
        const garbage = path.join(tmp, 'garbage.wasm');
        writeFileSync(garbage, 'definitely not wasm');
        const client = await BinrpcClient.connect(`unix:${ctl}`);
        try {
          const fault = await client.call('plugin.load', ['swap', garbage]).catch((e: unknown) => e);
          expect(fault).toBeInstanceOf(RpcFault);
          expect((fault as RpcFault).message).toContain(garbage);
          expect((fault as RpcFault).message).toMatch(/E400[12]/);
          expect((fault as RpcFault).message).toContain(`running: swap@${target}.0.0`);
        } finally {
          await client.close();
        }
        expect(versionHeader(await probe())).toBe(target);
      }
      expect(sipp.exitCode, 'SIPp still running: the swap happened under load').toBeNull();
    }
    expect(seen).toEqual(['2', '1', '2', '1', '2', '1', '2', '1', '2', '1']);

    // the plugin manager's view: current + warm previous, counters moving
    const client = await BinrpcClient.connect(`unix:${ctl}`);
    try {
      // BINRPC carries an array reply as one top-level value per row (as kamcmd prints them)
      const list = (await client.call('plugin.list')) as Array<Record<string, unknown>>;
      expect(list.map((v) => [v.version, v.state])).toEqual([
        ['1.0.0', 'current'],
        ['2.0.0', 'previous'],
      ]);
      expect(list[0]!.traps).toBe(0);
      expect(Number(list[0]!.calls)).toBeGreaterThan(0);
      const [rb] = (await client.call('plugin.rollback', ['swap'])) as [Record<string, unknown>];
      expect(rb.version).toBe('2.0.0');
      expect(versionHeader(await probe())).toBe('2');
      // kamcmd reads the nested plugin.stats reply
      const kam = await run('kamcmd', ['-s', `unixs:${ctl}`, 'plugin.stats', 'swap'], { timeout: 10_000 });
      expect(kam.stdout).toMatch(/backoff_ms: 0/);
      expect(kam.stdout).toMatch(/kind: rollback/);
      expect(kam.stdout).toMatch(/version: 1\.0\.0/);
    } finally {
      await client.close();
    }

    // SIGUSR1: SIPp stops creating calls, lets the ongoing ones finish, writes its stats and exits
    await new Promise((r) => setTimeout(r, Math.max(0, MIN_LOAD_MS - (Date.now() - loadStarted))));
    expect(sipp.exitCode).toBeNull();
    sipp.kill('SIGUSR1');
    const [code] = await sippExit;
    sipp = null;
    const lines = readFileSync(stat, 'utf8').trim().split('\n');
    const header = lines[0]!.split(';');
    const last = lines[lines.length - 1]!.split(';');
    const col = (name: string): number => Number(last[header.indexOf(name)]);
    const summary = `sipp exit ${code}; successful ${col('SuccessfulCall(C)')}, failed ${col('FailedCall(C)')}; ${sippErr.slice(0, 500)}`;
    expect(col('FailedCall(C)'), summary).toBe(0);
    expect(col('SuccessfulCall(C)'), summary).toBe(col('TotalCallCreated'));
    // ~1,000 calls/s for 20 s or more (a loaded 2-core box may lag the rate somewhat)
    expect(col('SuccessfulCall(C)'), summary).toBeGreaterThan(15_000);
    expect(code, summary).toBe(0);
  }, 150_000);
});
