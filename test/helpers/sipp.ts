/**
 * One bounded SIPp run for tests: a scenario file against 127.0.0.1:PORT at a rate, a fixed number of
 * calls, a global timeout, an optional injection file; the counters come from SIPp's own statistics
 * file (-trace_stat), the last row. SIPp's own defaults are fixed ports (SIP 5060, media 6000, control
 * 8888, each counting up while busy), so every one of them is given a free ephemeral port here.
 */
import { execFile } from 'node:child_process';
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
    '-trace_stat', '-stf', stat, '-fd', '1', '-trace_err', '-error_file', errLog, '-nostdin',
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
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
