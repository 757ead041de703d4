/**
 * A real Kamailio (Debian package `kamailio`) for side-by-side tests: started in the foreground
 * (-DD -E) on a config with `#!define`s given as -A NAME=VALUE, on 127.0.0.1 ports the caller chose,
 * with small memory pools; ready once it answers OPTIONS on `readyPort` (the config must answer them).
 * stop() ends it by its pid (SIGTERM, the main process takes its children along; SIGKILL after 5 s);
 * a test process that exits without stop() kills it too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { answersOptions } from './siphon-process.js';

export interface KamailioProcess {
  proc: ChildProcess;
  /** everything Kamailio logged so far (stderr, -E). */
  log(): string;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

const MAX_LOG = 256 * 1024;

/**
 * kamailio -f cfg -DD -E -m 64 -M 8 -A K=V ...; `defines` values are passed as written (quote strings:
 * { DBURL: '"mysql://..."' }). Resolves once it answers OPTIONS on udp 127.0.0.1:readyPort.
 */
export async function startKamailio(cfg: string, readyPort: number, defines: Record<string, string>, opts: { timeoutMs?: number } = {}): Promise<KamailioProcess> {
  const args = ['-f', cfg, '-DD', '-E', '-m', '64', '-M', '8'];
  for (const [k, v] of Object.entries(defines)) args.push('-A', `${k}=${v}`);
  const proc = spawn('kamailio', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(proc);
  let log = '';
  proc.stderr!.on('data', (d: Buffer) => {
    log += d.toString('utf8');
    if (log.length > MAX_LOG) log = log.slice(-MAX_LOG / 2);
  });
  const exited = once(proc, 'exit');
  void exited.then(() => live.delete(proc));
  const handle: KamailioProcess = {
    proc,
    log: () => log,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      live.delete(proc);
    },
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`kamailio exited (${proc.exitCode ?? proc.signalCode}):\n${log}`);
    // each probe waits up to 500 ms for the answer: the loop is paced by the probes themselves
    if (await answersOptions('udp', readyPort).catch(() => false)) return handle;
    if (Date.now() > deadline) {
      await handle.stop();
      throw new Error(`kamailio did not answer OPTIONS on 127.0.0.1:${readyPort}:\n${log}`);
    }
  }
}

/**
 * The directory of Kamailio's modules holding every one of `needed` (e.g. 'auth_db.so'):
 * /usr/lib/<multiarch>/kamailio/modules on Debian, whatever the architecture, and the usual others.
 */
export function kamailioModulesDir(needed: string[]): string {
  const candidates: string[] = [];
  for (const lib of ['/usr/lib', '/usr/lib64', '/usr/local/lib', '/usr/local/lib64']) {
    candidates.push(path.join(lib, 'kamailio/modules'));
    try {
      for (const d of readdirSync(lib)) candidates.push(path.join(lib, d, 'kamailio/modules'));
    } catch {
      // no such lib dir
    }
  }
  const dir = candidates.find((d) => needed.every((m) => existsSync(path.join(d, m))));
  if (!dir) throw new Error(`Kamailio modules (${needed.join(', ')}) not found: install kamailio and kamailio-mysql-modules (.ci/run does)`);
  return dir;
}
