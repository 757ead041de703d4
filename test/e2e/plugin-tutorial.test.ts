/**
 * docs/tutorial-plugin.md, executed: every block marked `<!-- tutorial: KIND [ARG] -->` runs in order
 * in a temporary folder outside the repository, with `siphon` on the PATH (the real dist/ binary):
 *
 *   run          the next fenced block, with bash -euo pipefail, from the tutorial folder
 *   file PATH    the next fenced block written to PATH (relative to the tutorial folder)
 *   start        the next fenced block (one command) started in the background: the server, killed at the end
 *   check NAME   a check of this file on the running server (serves-hello, serves-edge)
 *
 * So `siphon plugin new --dir`, `npm install` (offline: file: links), `npm test` (the project's own
 * tests on @siphon/sdk/testing), `siphon plugin deploy` to a running server and a rollback are all
 * exercised as a reader would type them. The port and the control socket are substituted by free ones.
 * Each step's time is printed; the whole run is bounded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../helpers/ports.js';
import { answersOptions, optionsRequest, ROOT, SIPHON_BIN, statusOf, udpRequest } from '../helpers/siphon-process.js';

const DOC = path.join(ROOT, 'docs', 'tutorial-plugin.md');
/** the whole tutorial, npm install and both builds included, on a loaded 2-core machine. */
const TOTAL_BOUND_MS = 240_000;

interface Step {
  kind: 'run' | 'file' | 'start' | 'check';
  arg: string;
  body: string;
}

/** The marked steps of the tutorial, in order. */
function steps(markdown: string): Step[] {
  const out: Step[] = [];
  const marker = /<!-- tutorial: (run|file|start|check)(?: (\S+))? -->/g;
  for (let m = marker.exec(markdown); m !== null; m = marker.exec(markdown)) {
    const kind = m[1] as Step['kind'];
    let body = '';
    if (kind !== 'check') {
      const open = markdown.indexOf('```', m.index);
      const start = markdown.indexOf('\n', open) + 1;
      const end = markdown.indexOf('\n```', start);
      body = markdown.slice(start, end + 1);
    }
    out.push({ kind, arg: m[2] ?? '', body });
  }
  return out;
}

const all = steps(readFileSync(DOC, 'utf8'));
let dir: string;
let bin: string;
let port: number;
let ctl: string;
let server: ChildProcess | null = null;
let serverOut = '';
const timings: Array<{ step: string; ms: number }> = [];
const started = Date.now();

/** the environment of a reader's shell: siphon on the PATH, nothing of the outer npm/vitest run. */
function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('npm_') || k.startsWith('VITEST') || k === 'NODE_ENV' || k === 'TEST' || k === 'INIT_CWD' || k === 'NODE_OPTIONS') continue;
    e[k] = v;
  }
  e.PATH = `${bin}${path.delimiter}${process.env.PATH ?? ''}`;
  return e;
}

const substitute = (text: string): string => text.replaceAll('5062', String(port)).replaceAll('/tmp/siphon-tutorial.ctl', ctl);

async function runShell(script: string): Promise<{ code: number; out: string }> {
  const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  // vitest and npm colour their output when the outer run does
  return { code: code ?? 1, out: out.replace(/\x1b\[[0-9;]*m/g, '') };
}

function invite(userAgent: string): (localPort: number) => Buffer {
  return (lp) =>
    Buffer.from(
      [
        `INVITE sip:100@127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${lp};branch=z9hG4bK-tutorial-${lp};rport`,
        'Max-Forwards: 70',
        `From: <sip:scan@203.0.113.9>;tag=s${lp}`,
        `To: <sip:100@127.0.0.1:${port}>`,
        `Call-ID: tutorial-${lp}@127.0.0.1`,
        'CSeq: 1 INVITE',
        `Contact: <sip:scan@127.0.0.1:${lp}>`,
        `User-Agent: ${userAgent}`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
}

const checks: Record<string, () => Promise<void>> = {
  'serves-hello': async () => {
    const reply = await udpRequest(port, (lp) => optionsRequest(port, 'udp', lp), 3000);
    expect(reply, 'no reply to OPTIONS').not.toBeNull();
    expect(statusOf(reply!)).toBe(501);
  },
  'serves-edge': async () => {
    const reply = await udpRequest(port, (lp) => optionsRequest(port, 'udp', lp), 3000);
    expect(reply, 'no reply to OPTIONS').not.toBeNull();
    expect(statusOf(reply!)).toBe(200);
    expect(reply!.toString('latin1')).toMatch(/\r\nX-Plugin: edge\r\n/);
    const scanner = await udpRequest(port, invite('friendly-scanner'), 3000);
    expect(scanner, 'no reply to the scanner').not.toBeNull();
    expect(statusOf(scanner!)).toBe(403);
  },
};

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'siphon-tutorial-'));
  bin = path.join(dir, '.bin');
  mkdirSync(bin);
  const shim = path.join(bin, 'siphon');
  writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${SIPHON_BIN}" "$@"\n`);
  chmodSync(shim, 0o755);
  ctl = path.join(dir, 'ctl.sock');
});

afterAll(async () => {
  if (server !== null && server.exitCode === null) {
    server.kill('SIGTERM');
    const t = setTimeout(() => server?.kill('SIGKILL'), 5000);
    await once(server, 'exit');
    clearTimeout(t);
  }
  console.log(`tutorial steps (ms): ${timings.map((t) => `${t.step} ${t.ms}`).join(' | ')}; total ${Date.now() - started}`);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('docs/tutorial-plugin.md, step by step', () => {
  it('has the steps the issue asks for: scaffold, install, test, a server, deploy, rollback', () => {
    const runs = all.filter((s) => s.kind === 'run').map((s) => s.body).join('\n');
    expect(runs).toMatch(/siphon plugin new edge --dir edge/);
    expect(runs).toMatch(/npm install/);
    expect(runs).toMatch(/npm test/);
    expect(runs).toMatch(/npm run deploy/);
    expect(runs).toMatch(/siphon plugin rollback/);
    expect(all.filter((s) => s.kind === 'start')).toHaveLength(1);
    expect(all.filter((s) => s.kind === 'check').map((s) => s.arg)).toEqual(['serves-hello', 'serves-edge', 'serves-hello']);
  });

  it('runs every step in a folder outside the repository', async () => {
    port = await freePort('udp');
    expect(path.relative(ROOT, dir).startsWith('..')).toBe(true);
    for (const [i, step] of all.entries()) {
      const t0 = Date.now();
      const label = `${i + 1}:${step.kind}${step.arg ? ` ${step.arg}` : ''}`;
      const body = substitute(step.body);
      if (step.kind === 'file') {
        const file = path.join(dir, step.arg);
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, body);
      } else if (step.kind === 'run') {
        const r = await runShell(body);
        expect(r.code, `step ${label} failed:\n${body}\n${r.out}`).toBe(0);
        if (/npm test/.test(body)) expect(r.out).toMatch(/Tests {2}3 passed \(3\)/);
        if (/npm run deploy/.test(body)) expect(r.out).toMatch(/deployed hello@0\.1\.0 sha256 [0-9a-f]{12} in [\d.]+ ms \(previous: hello@1\.0\.0 [0-9a-f]{12}\)/);
        if (/plugin list/.test(body)) expect(r.out).toMatch(/version: 0\.1\.0[\s\S]*state: current[\s\S]*version: 1\.0\.0[\s\S]*state: previous/);
        if (/plugin rollback/.test(body)) expect(r.out).toMatch(/version: 1\.0\.0[\s\S]*previous: edge@0\.1\.0/);
      } else if (step.kind === 'start') {
        server = spawn('bash', ['-c', `exec ${body.trim()}`], { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
        server.stdout!.on('data', (d: Buffer) => (serverOut += d.toString()));
        server.stderr!.on('data', (d: Buffer) => (serverOut += d.toString()));
        const deadline = Date.now() + 45_000;
        while (!(await answersOptions('udp', port).catch(() => false))) {
          expect(server.exitCode, `the server exited: ${serverOut}`).toBeNull();
          expect(Date.now() < deadline, `the server did not answer on ${port}: ${serverOut}`).toBe(true);
        }
      } else {
        const check = checks[step.arg];
        expect(check, `unknown check ${step.arg}`).toBeDefined();
        await check!();
      }
      timings.push({ step: label, ms: Date.now() - t0 });
    }
    expect(Date.now() - started).toBeLessThan(TOTAL_BOUND_MS);
  }, TOTAL_BOUND_MS + 30_000);
});
