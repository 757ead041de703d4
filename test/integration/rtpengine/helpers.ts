/**
 * The real rtpengine daemon (Debian rtpengine-daemon) for tests: userspace only (--table=-1), bound
 * to 127.0.0.1 on random ports, no config file, sessions deleted at once (--delete-delay=0), killed
 * by its PID; a small ng client to ask it `query`; and a scripted UDP user agent whose SDP and RTP
 * the tests control.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { asDict, bdecode, bencode, type BDict } from '../../../host/modules/rtpengine/bencode.js';
import { freePort } from '../../helpers/ports.js';

export const RTPENGINE_BIN = '/usr/bin/rtpengine';
export const HAVE_RTPENGINE = existsSync(RTPENGINE_BIN);
if (!HAVE_RTPENGINE) console.warn(`skipping rtpengine tests: ${RTPENGINE_BIN} not installed (apt-get install rtpengine-daemon; .ci/run installs it)`);

export interface Daemon {
  ngPort: number;
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** starts rtpengine; resolves once it logged "Startup complete". */
export async function startRtpengine(): Promise<Daemon> {
  const ngPort = await freePort('udp');
  const base = 30000 + Math.floor(Math.random() * 150) * 200;
  const proc = spawn(RTPENGINE_BIN, [
    '--config-file=none', '--table=-1', '--interface=127.0.0.1', `--listen-ng=127.0.0.1:${ngPort}`, '--foreground', '--log-stderr',
    `--port-min=${base}`, `--port-max=${base + 199}`, '--delete-delay=0', '--log-level=6', '--num-threads=2',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`rtpengine did not start in 10 s:\n${log}`)), 10_000);
    proc.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Startup complete')) {
        clearTimeout(t);
        resolve();
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`rtpengine exited (${code}):\n${log}`));
    });
  });
  return {
    ngPort,
    url: `udp:127.0.0.1:${ngPort}`,
    proc,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

/** one ng request to a daemon (the test's own client): the answer dictionary. */
export async function ng(port: number, dict: BDict): Promise<BDict> {
  const s = createSocket('udp4');
  const cookie = randomBytes(6).toString('hex');
  try {
    return await new Promise<BDict>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('ng: no answer')), 3000);
      s.on('message', (buf) => {
        const sp = buf.indexOf(0x20);
        if (buf.toString('latin1', 0, sp) !== cookie) return;
        clearTimeout(t);
        resolve(asDict(bdecode(buf, sp + 1))!);
      });
      s.send(Buffer.concat([Buffer.from(`${cookie} `), bencode(dict)]), port, '127.0.0.1');
    });
  } finally {
    s.close();
  }
}

// ---- a scripted user agent -------------------------------------------------------------------

export interface Sip {
  first: string;
  headers: Map<string, string[]>;
  body: string;
  raw: string;
  from: { address: string; port: number };
}

export function parseSip(buf: Buffer, from: { address: string; port: number }): Sip {
  const raw = buf.toString('utf8');
  const at = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, at).split('\r\n');
  const headers = new Map<string, string[]>();
  for (const line of head.slice(1)) {
    const c = line.indexOf(':');
    const k = line.slice(0, c).trim().toLowerCase();
    headers.set(k, [...(headers.get(k) ?? []), line.slice(c + 1).trim()]);
  }
  return { first: head[0]!, headers, body: raw.slice(at + 4), raw, from };
}

export const h = (m: Sip, name: string): string => m.headers.get(name.toLowerCase())?.[0] ?? '';

/** A UDP SIP endpoint: send text, wait for the next message that matches. */
export class Ua {
  readonly sock: Socket = createSocket('udp4');
  private queue: Sip[] = [];
  private waiters: Array<{ match: (m: Sip) => boolean; resolve: (m: Sip) => void }> = [];
  port = 0;

  async start(): Promise<this> {
    await new Promise<void>((r) => this.sock.bind(0, '127.0.0.1', () => r()));
    this.port = this.sock.address().port;
    this.sock.on('message', (buf, rinfo) => {
      const m = parseSip(buf, rinfo);
      const i = this.waiters.findIndex((w) => w.match(m));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
      else this.queue.push(m);
    });
    return this;
  }

  send(text: string, port: number): void {
    this.sock.send(Buffer.from(text), port, '127.0.0.1');
  }

  next(match: (m: Sip) => boolean, ms = 8000): Promise<Sip> {
    const i = this.queue.findIndex(match);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const w = { match, resolve: (m: Sip) => { clearTimeout(t); resolve(m); } };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no matching SIP message in ${ms} ms`));
      }, ms);
      this.waiters.push(w);
    });
  }

  close(): void {
    this.sock.close();
  }
}

/** an SDP offer/answer with one audio stream (RFC 4566). */
export function sdp(port: number, id: number): string {
  return ['v=0', `o=- ${id} ${id} IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0 8`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=sendrecv', ''].join('\r\n');
}

/** the audio port and connection address of an SDP body. */
export function media(body: string): { port: number; address: string; proto: string } {
  const m = /^m=audio (\d+) (\S+)/m.exec(body);
  const c = /^c=IN IP[46] (\S+)/m.exec(body);
  return { port: m ? Number(m[1]) : 0, proto: m ? m[2]! : '', address: c ? c[1]! : '' };
}

/** a UDP socket for RTP on 127.0.0.1 (an even port is not needed: rtpengine relays any). */
export async function rtpSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

/** an RTP packet (RFC 3550 §5.1): version 2, PCMU, the given sequence number, 160 bytes of payload. */
export function rtpPacket(seq: number, ssrc: number): Buffer {
  const b = Buffer.alloc(12 + 160, 0xff);
  b[0] = 0x80;
  b[1] = 0;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(seq * 160, 4);
  b.writeUInt32BE(ssrc, 8);
  return b;
}

/**
 * sends RTP from `from` to `port` every 20 ms until `to` receives a packet with `ssrc` (the relay
 * may drop the first ones while it learns the source); resolves with the received packet.
 */
export function rtpThrough(from: Socket, port: number, to: Socket, ssrc: number, ms = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let seq = 1;
    const timer = setInterval(() => from.send(rtpPacket(seq++, ssrc), port, '127.0.0.1'), 20);
    const give = setTimeout(() => done(new Error(`no RTP with ssrc ${ssrc} through port ${port} in ${ms} ms`)), ms);
    const onMsg = (buf: Buffer): void => {
      if (buf.length >= 12 && buf.readUInt32BE(8) === ssrc) done(null, buf);
    };
    const done = (e: Error | null, buf?: Buffer): void => {
      clearInterval(timer);
      clearTimeout(give);
      to.off('message', onMsg);
      if (e) reject(e);
      else resolve(buf!);
    };
    to.on('message', onMsg);
  });
}
