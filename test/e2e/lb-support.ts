/**
 * Shared pieces of the lb / metrics end-to-end tests: SIPp gateways (scenarios/uas.xml, OPTIONS
 * auto-answered with -aa), a bounded SIPp UAC run (scenarios/invite.xml), kamcmd and curl as child
 * processes, and a siphon config for plugins/lb with dispatcher probing on short intervals.
 * Everything listens on 127.0.0.1 only, on ports from freePort() (test/helpers/ports.ts): the callers
 * give siphon's, the gateways' and the UAC's SIP ports; the SIPp media (RTP echo) and control ports are
 * picked here.
 */
import { freePort } from '../helpers/ports.js';
import { sharedDir } from '../helpers/shared.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';

export const SHARED_SCENARIOS = path.join(sharedDir(), 'bench/scenarios');
export const KAMCMD = '/usr/sbin/kamcmd';

/**
 * SIPp binds an RTP echo socket (-mp, default 6000) and a UDP control socket (-cp, default 8888; then
 * the next ports up), both shared by every SIPp on the machine: each of ours gets free ones.
 */
async function sippSidePorts(): Promise<string[]> {
  return ['-mp', String(await freePort('udp')), '-cp', String(await freePort('udp'))];
}

export interface Gateway {
  port: number;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** A SIPp UAS on 127.0.0.1:port answering INVITE (Record-Route aware) and, with -aa, OPTIONS keepalives; resolves once its UDP port is bound. */
export async function startGateway(port: number): Promise<Gateway> {
  const proc = spawn('sipp', ['-sf', path.join(SHARED_SCENARIOS, 'uas.xml'), '-i', '127.0.0.1', '-p', String(port), ...(await sippSidePorts()), '-aa', '-nostdin', '-timeout', '300s'], {
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  const exited = once(proc, 'exit');
  // SIPp takes a moment to bind (longer on a loaded machine): wait until `ss` lists the socket
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && proc.exitCode === null) {
    const r = await runCommand('ss', ['-Hlun', `sport = :${port}`], 5000);
    if (r.stdout.includes(`127.0.0.1:${port}`)) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  return {
    port,
    proc,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL'); // a gateway that dies: no goodbye, the port just stops answering
      await exited;
    },
  };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion with a hard time limit. */
export function runCommand(cmd: string, args: string[], limitMs = 20_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface CallsResult extends RunResult {
  successful: number;
  failed: number;
}

export interface CallsOptions {
  /** how long each call stays up between ACK and BYE (SIPp -d), ms; default 0. */
  holdMs?: number;
}

/** A bounded SIPp UAC run through siphon: `calls` INVITE/200/ACK/BYE calls at `rate` per second. */
export async function runCalls(target: string, localPort: number, calls: number, rate: number, o: CallsOptions = {}): Promise<CallsResult> {
  const r = await runCommand(
    'sipp',
    [target, '-sf', path.join(SHARED_SCENARIOS, 'invite.xml'), '-i', '127.0.0.1', '-p', String(localPort), ...(await sippSidePorts()), '-m', String(calls), '-r', String(rate), '-d', String(o.holdMs ?? 0), '-nostdin', '-timeout', '25s', '-timeout_error', '-recv_timeout', '10000'],
    40_000,
  );
  const num = (label: string): number => {
    const m = new RegExp(`${label}\\s+\\|\\s+\\d+\\s+\\|\\s+(\\d+)`).exec(r.stdout);
    return m ? Number(m[1]) : -1;
  };
  return { ...r, successful: num('Successful call'), failed: num('Failed call') };
}

/** `kamcmd -s unix:SOCK method args...` */
export function kamcmd(sock: string, args: string[]): Promise<RunResult> {
  return runCommand(KAMCMD, ['-s', `unix:${sock}`, ...args], 15_000);
}

/** FLAGS of one destination in kamcmd's dispatcher.list output (e.g. "AP", "IP", "DX"). */
export function flagsOf(listing: string, uri: string): string | null {
  const i = listing.indexOf(`URI: ${uri}`);
  if (i < 0) return null;
  const m = /FLAGS: (\w+)/.exec(listing.slice(i));
  return m ? m[1]! : null;
}

/** Polls `check` every 200 ms until it returns a value or `limitMs` passes (then the last value). */
export async function waitFor<T>(check: () => Promise<T | null>, limitMs: number): Promise<T | null> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const v = await check();
    if (v !== null || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface LbConfigOptions {
  dir: string;
  sipPort: number;
  httpPort: number;
  gateways: number[];
  ctl: string;
}

/** Writes dispatcher.list and siphon.yaml for plugins/lb into `dir`; returns the config path. */
export function writeLbConfig(o: LbConfigOptions): string {
  const list = path.join(o.dir, 'dispatcher.list');
  writeFileSync(list, o.gateways.map((p) => `1 sip:127.0.0.1:${p} 0 0\n`).join(''));
  const cfg = path.join(o.dir, 'siphon.yaml');
  writeFileSync(
    cfg,
    [
      'core:',
      `  listen: [ "udp:127.0.0.1:${o.sipPort}" ]`,
      '  log_level: info',
      `  node_id: lb-e2e-${o.sipPort}`,
      `  data_dir: ${path.join(o.dir, 'data')}`,
      `  ctl: [ "unix:${o.ctl}" ]`,
      `  http: { host: 127.0.0.1, port: ${o.httpPort} }`,
      '  tm: { fr_timer: 1000, fr_inv_timer: 10000 }',
      'modules:',
      '  dispatcher:',
      `    list_file: ${list}`,
      '    flags: 2',
      '    ds_ping_interval: 1',
      '    ds_ping_fr_timer: 400',
      '    ds_probing_threshold: 2',
      '    ds_inactive_threshold: 2',
      '    ds_probing_mode: 1',
      'routing:',
      '  plugin: lb',
      '',
    ].join('\n'),
  );
  return cfg;
}

/** every call of a SIPp run succeeded; on a failure the message carries SIPp's own output. */
export function expectAllCalls(r: CallsResult, calls: number): void {
  const why = `sipp exit ${r.code}: ${r.stderr.slice(-800)}${r.stdout.slice(-1500)}`;
  expect(r.failed, why).toBe(0);
  expect(r.successful, why).toBe(calls);
}
