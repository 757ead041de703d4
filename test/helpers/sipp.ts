/**
 * One bounded SIPp run for tests: a scenario file against 127.0.0.1:PORT at a rate, a fixed number of
 * calls, a global timeout, an optional injection file; the counters come from SIPp's own statistics
 * file (-trace_stat), the last row. SIPp's own defaults are fixed ports (SIP 5060, media 6000, control
 * 8888, each counting up while busy), so every one of them is given a free ephemeral port here.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

export interface SippRun {
  successful: number;
  failed: number;
  created: number;
  retransmissions: number;
  /** every column of the last statistics row, by SIPp's column name. */
  columns: Record<string, string>;
  /** SIPp's exit status (0: all calls successful, 1: at least one failed). */
  code: number | null;
  /** SIPp's error log (messages it did not expect), for failure messages. */
  errors: string;
}

export interface SippOptions {
  /** calls per second (-r). */
  rate: number;
  /** calls in all (-m). */
  calls: number;
  /** -inf: the injection file. */
  inf?: string;
  /** SIPp's global -timeout in seconds (and this run's bound: + 15 s). Default 30. */
  timeoutS?: number;
  /** per-message -recv_timeout in ms. Default 5000. */
  recvTimeoutMs?: number;
  /** more SIPp arguments, verbatim. */
  extra?: string[];
}

/**
 * SIPp's socket buffers (-buff_size, default 64 kB): 4 MB like siphon's (SOCKET_BUFFER_BYTES), so a
 * test peer that is descheduled for a moment on a loaded 2-core CI machine absorbs the burst instead of
 * dropping it in the kernel (a dropped ACK or BYE fails a SIPp call even though siphon lost nothing).
 */
const SIPP_BUFFERS = ['-buff_size', String(4 << 20)];

/** runs `sipp 127.0.0.1:port -sf scenario ...` to its end and reads its statistics. */
export async function runSipp(port: number, scenario: string, o: SippOptions): Promise<SippRun> {
  const dir = mkdtempSync(path.join(tmpdir(), 'siphon-sipp-'));
  const stat = path.join(dir, 'stat.csv');
  const errLog = path.join(dir, 'errors.log');
  const timeoutS = o.timeoutS ?? 30;
  const args = [
    `127.0.0.1:${port}`, '-sf', scenario, '-i', '127.0.0.1',
    '-p', String(await freePort('udp')), '-mp', String(await freePort('udp')), '-cp', String(await freePort('udp')),
    '-r', String(o.rate), '-m', String(o.calls), '-l', String(Math.max(o.rate * 5, 10)),
    '-timeout', `${timeoutS}s`, '-recv_timeout', String(o.recvTimeoutMs ?? 5000),
    '-trace_stat', '-stf', stat, '-fd', '1', '-trace_err', '-error_file', errLog, '-nostdin', ...SIPP_BUFFERS,
    ...(o.inf ? ['-inf', o.inf] : []),
    ...(o.extra ?? []),
  ];
  try {
    const code = await new Promise<number | null>((resolve) => {
      const child = execFile('sipp', args, { cwd: dir, timeout: (timeoutS + 15) * 1000, maxBuffer: 16 << 20 }, (err) => {
        resolve(err ? ((err as NodeJS.ErrnoException & { code?: number }).code as number | null) ?? null : 0);
      });
      child.stdin?.end();
    });
    return readSippRun(stat, errLog, code);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** the counters of a finished SIPp run: the last row of its statistics file, and its error log. */
export function readSippRun(stat: string, errLog: string, code: number | null): SippRun {
  let columns: Record<string, string> = {};
  try {
    const rows = readFileSync(stat, 'utf8').trim().split('\n');
    const head = rows[0]!.split(';');
    const last = rows[rows.length - 1]!.split(';');
    columns = Object.fromEntries(head.map((h, i) => [h, last[i] ?? '']));
  } catch {
    // no statistics: SIPp did not start (the counters stay 0 and `code` says why)
  }
  let errors = '';
  try {
    errors = readFileSync(errLog, 'utf8').slice(0, 8192);
  } catch {
    // no error log: nothing unexpected happened
  }
  const n = (k: string): number => Number(columns[k] ?? 0);
  return {
    successful: n('SuccessfulCall(C)'),
    failed: n('FailedCall(C)'),
    created: n('TotalCallCreated'),
    retransmissions: n('Retransmissions(C)'),
    columns,
    code,
    errors,
  };
}

/** the /proc/net/udp rows of sockets bound to UDP 127.0.0.1:port (read only: nothing is bound here). */
function udpRows(port: number): string[][] {
  const hex = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/udp', 'utf8').split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f[1] === hex);
}

/** true once some socket is bound to UDP 127.0.0.1:port. */
export function udpBound(port: number): boolean {
  return udpRows(port).length > 0;
}

/**
 * datagrams the kernel dropped for the socket on UDP 127.0.0.1:port because its receive buffer was
 * full (the last column of /proc/net/udp): losses of an overloaded machine, not of the program.
 */
export function udpDrops(port: number): number {
  return udpRows(port).reduce((n, f) => n + Number(f[f.length - 1] ?? 0), 0);
}

export interface SippProcess {
  proc: ChildProcess;
  /** SIPp's SIP port. */
  port: number;
  /** SIGUSR1: SIPp creates no more calls, lets the running ones end, exits; then its counters. */
  finish(): Promise<SippRun>;
  /** SIGKILL, when a test failed half way. */
  kill(): Promise<void>;
}

export interface SippLongOptions {
  /** calls per second (-r); a UAC only. */
  rate?: number;
  /** most calls (-m); a UAC only. */
  calls?: number;
  /** most simultaneous calls (-l). */
  limit?: number;
  /** per-message -recv_timeout in ms. Default 10000. */
  recvTimeoutMs?: number;
  /** more SIPp arguments, verbatim (e.g. -nr, -d). */
  extra?: string[];
  /** its SIP port (-p); default a free ephemeral one. */
  port?: number;
}

/**
 * A SIPp that runs until told to stop: a UAC against `target` (host:port), or a UAS when target is
 * null. Every port is a free ephemeral one; resolves once its SIP socket is bound.
 */
export async function startSipp(target: string | null, scenario: string, o: SippLongOptions = {}): Promise<SippProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), 'siphon-sipp-'));
  const stat = path.join(dir, 'stat.csv');
  const errLog = path.join(dir, 'errors.log');
  const port = o.port ?? (await freePort('udp'));
  const args = [
    ...(target === null ? [] : [target]), '-sf', scenario, '-i', '127.0.0.1',
    '-p', String(port), '-mp', String(await freePort('udp')), '-cp', String(await freePort('udp')),
    ...(o.rate === undefined ? [] : ['-r', String(o.rate)]),
    ...(o.calls === undefined ? [] : ['-m', String(o.calls)]),
    ...(o.limit === undefined ? [] : ['-l', String(o.limit)]),
    '-recv_timeout', String(o.recvTimeoutMs ?? 10_000),
    '-trace_stat', '-stf', stat, '-fd', '1', '-trace_err', '-error_file', errLog, '-nostdin', ...SIPP_BUFFERS,
    ...(o.extra ?? []),
  ];
  const proc = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(proc, 'exit') as Promise<[number | null, string | null]>;
  while (!udpBound(port)) {
    if (proc.exitCode !== null) throw new Error(`sipp exited with ${proc.exitCode}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const done = async (): Promise<number | null> => {
    const [code] = await exited;
    return code;
  };
  return {
    proc,
    port,
    finish: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGUSR1');
      const code = await done();
      try {
        const run = readSippRun(stat, errLog, code);
        const said = stderr.replace(/^Resolving remote host .*$/gm, '').trim();
        if (said) run.errors = `${said.slice(0, 2000)}\n${run.errors}`;
        return run;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    kill: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
