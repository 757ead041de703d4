/**
 * Runs the real `siphon` binary (dist/host/cli/siphon.js, built by `npm test`) as a child process
 * for end-to-end tests, and talks to it over real UDP/TCP sockets on 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { readFileSync } from 'node:fs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SIPHON_BIN = path.join(ROOT, 'dist/host/cli/siphon.js');

export interface SiphonProcess {
  proc: ChildProcess;
  /** everything the process wrote to stdout so far (JSON log lines). */
  stdout(): string;
  stderr(): string;
  rssKb(): number;
  stop(): Promise<void>;
}

/** Starts `siphon start ...args` and resolves once every UDP/TCP listen port answers. */
export async function startSiphon(args: string[], opts: { readyPorts?: Array<{ proto: 'udp' | 'tcp'; port: number }>; env?: NodeJS.ProcessEnv } = {}): Promise<SiphonProcess> {
  const proc = spawn(process.execPath, [SIPHON_BIN, 'start', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = once(proc, 'exit');
  const handle: SiphonProcess = {
    proc,
    stdout: () => out,
    stderr: () => err,
    rssKb: () => {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'));
      return m ? Number(m[1]) : 0;
    },
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
  // start-up includes the warm-up: seconds on a loaded 2-core machine; stay inside vitest's 60-s hook timeout
  const deadline = Date.now() + 45_000;
  for (const p of opts.readyPorts ?? []) {
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`siphon exited with ${proc.exitCode}: ${err}${out}`);
      const ok = await answersOptions(p.proto, p.port).catch(() => false);
      if (ok) break;
      if (Date.now() > deadline) {
        await handle.stop();
        throw new Error(`siphon did not answer on ${p.proto}:${p.port}: ${err}${out}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return handle;
}

let seq = 0;
/** A well-formed OPTIONS request addressed to the server itself (RFC 3261 §11). */
export function optionsRequest(port: number, proto: 'udp' | 'tcp', localPort: number, opts: { ruri?: string } = {}): Buffer {
  seq++;
  const tr = proto.toUpperCase();
  const ruri = opts.ruri ?? `sip:127.0.0.1:${port}`;
  return Buffer.from(
    `OPTIONS ${ruri} SIP/2.0\r\n` +
      `Via: SIP/2.0/${tr} 127.0.0.1:${localPort};branch=z9hG4bK-e2e-${process.pid}-${seq};rport\r\n` +
      `Max-Forwards: 70\r\n` +
      `From: <sip:tester@127.0.0.1>;tag=t${seq}\r\n` +
      `To: <sip:127.0.0.1:${port}>\r\n` +
      `Call-ID: e2e-${process.pid}-${seq}@127.0.0.1\r\n` +
      `CSeq: ${seq} OPTIONS\r\n` +
      `Content-Length: 0\r\n\r\n`,
  );
}

export function statusOf(reply: Buffer | string): number {
  const m = /^SIP\/2\.0 (\d{3})/.exec(reply.toString('latin1'));
  return m ? Number(m[1]) : 0;
}

/** Sends one datagram from a fresh socket and waits for the first reply (or null on timeout). */
export async function udpRequest(port: number, build: (localPort: number) => Buffer, timeoutMs = 2000): Promise<Buffer | null> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const localPort = sock.address().port;
  try {
    return await new Promise<Buffer | null>((resolve) => {
      const t = setTimeout(() => resolve(null), timeoutMs);
      sock.on('message', (m) => {
        // skip provisional replies
        if (statusOf(m) >= 100 && statusOf(m) < 200) return;
        clearTimeout(t);
        resolve(m);
      });
      sock.send(build(localPort), port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

/** Opens a TCP connection, writes the request and waits for the first final reply on it. */
export async function tcpRequest(port: number, build: (localPort: number) => Buffer, timeoutMs = 2000): Promise<Buffer | null> {
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  try {
    return await new Promise<Buffer | null>((resolve) => {
      let acc = Buffer.alloc(0);
      const t = setTimeout(() => resolve(null), timeoutMs);
      sock.on('data', (d: Buffer) => {
        acc = Buffer.concat([acc, d]);
        const end = acc.indexOf('\r\n\r\n');
        if (end >= 0 && statusOf(acc) >= 200) {
          clearTimeout(t);
          resolve(acc);
        }
      });
      sock.on('error', () => resolve(null));
      sock.write(build(sock.localPort!));
    });
  } finally {
    sock.destroy();
  }
}

export async function answersOptions(proto: 'udp' | 'tcp', port: number): Promise<boolean> {
  const reply =
    proto === 'udp'
      ? await udpRequest(port, (lp) => optionsRequest(port, 'udp', lp), 500)
      : await tcpRequest(port, (lp) => optionsRequest(port, 'tcp', lp), 500);
  return reply !== null && statusOf(reply) > 0;
}
