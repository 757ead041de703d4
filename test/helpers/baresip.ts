/**
 * A real softphone for end-to-end tests: one headless baresip process per user agent (Debian package
 * `baresip`, v1.0), driven over its ctrl_tcp module (netstring-framed JSON: commands in, responses and
 * UA events out). No audio hardware: the source is `ausine` (a 440 Hz tone), the player `aubridge`
 * (a device nobody reads), codecs G.711 only, SIP and RTP on 127.0.0.1.
 *
 * The process starts with no account; `Baresip.start()` connects to ctrl_tcp and then creates the
 * account with `uanew`, so the REGISTER (and its events) happen after the event stream is attached.
 * Every wait is bounded; `stop()` (and the process's exit hook) kill the child by its pid.
 *
 *   const a = await Baresip.start({ user: 'alice', domain: '127.0.0.1', proxyPort: node.port, password: 's3cret' });
 *   await a.waitFor(registered());           // REGISTER_OK (the 401 challenge answered with auth_pass)
 *   await a.dial('sip:bob@127.0.0.1');       // then b.waitFor(incoming()), b.accept(), a.waitFor(established())
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

/** one UA event of baresip (uag_event): class register|call|..., type REGISTER_OK, CALL_INCOMING ... */
export interface BaresipEvent {
  event: true;
  class: string;
  type: string;
  accountaor?: string;
  /** REGISTER_FAIL: "401 Unauthorized" ...; CALL_CLOSED: the reason ("Connection reset by peer", "486 Busy Here" ...) */
  param?: string;
  /** call events: "incoming" | "outgoing" */
  direction?: string;
  peeruri?: string;
  peerdisplayname?: string;
  id?: string;
  [key: string]: unknown;
}

interface BaresipResponse {
  response: true;
  ok: boolean;
  data?: string;
  token?: string;
}

export interface BaresipOptions {
  /** the AOR's user part and host: <sip:user@domain> (the realm the server challenges with is usually domain). */
  user: string;
  domain: string;
  /** the siphon (or Kamailio) port on 127.0.0.1 every request goes to (account `outbound=`). */
  proxyPort: number;
  /** digest password (account `auth_pass`); absent: none, a challenge fails the registration. */
  password?: string;
  /** digest user name when it differs from `user` (account `auth_user`). */
  authUser?: string;
  /** REGISTER interval in seconds (`regint`); 0 = the UA does not register. Default 600. */
  regint?: number;
  /** `auto`: incoming calls are answered at once; `manual` (default): `accept()` answers. */
  answerMode?: 'manual' | 'auto';
  /** SIP transport to the proxy. Default udp. */
  transport?: 'udp' | 'tcp' | 'tls';
  /**
   * TLS (baresip config `sip_certificate` / `sip_cafile`): `certificate` a PEM file holding the client
   * certificate and its key, presented to the server; `cafile` the CAs the server's certificate must
   * chain to.
   */
  tls?: { certificate?: string; cafile?: string };
  /**
   * a WebRTC peer without a media gateway: DTLS-SRTP (`mediaenc=dtls_srtp`, UDP/TLS/RTP/SAVP(F)), ICE
   * (`medianat=ice`) and RTP/RTCP multiplexing, so a browser's offer is accepted as is. Default off
   * (plain RTP/AVP, what a desk phone sends).
   */
  webrtc?: boolean;
  /** more `;name=value` account parameters, verbatim. */
  accountParams?: string;
  /** print every SIP message sent and received (`baresip -s`) into output(): what the UA saw on the wire. Default off (SIPHON_BARESIP_TRACE turns it on for all). */
  sipTrace?: boolean;
  /** bound of start() (process up, ctrl_tcp connected, account created). Default 15 s. */
  startTimeoutMs?: number;
}

/** events, as predicates for waitFor() */
export const registered = (): ((e: BaresipEvent) => boolean) => (e) => e.type === 'REGISTER_OK';
export const registerFailed = (): ((e: BaresipEvent) => boolean) => (e) => e.type === 'REGISTER_FAIL';
export const incoming = (): ((e: BaresipEvent) => boolean) => (e) => e.type === 'CALL_INCOMING';
export const ringing = (): ((e: BaresipEvent) => boolean) => (e) => e.type === 'CALL_RINGING';
export const established = (): ((e: BaresipEvent) => boolean) => (e) => e.type === 'CALL_ESTABLISHED';
export const closed = (): ((e: BaresipEvent) => boolean) => (e) => e.type === 'CALL_CLOSED';

/** the status code of a REGISTER_FAIL / CALL_CLOSED param ("401 Unauthorized" → 401), 0 when it has none. */
export function statusOfParam(e: BaresipEvent): number {
  const m = /^(\d{3})\b/.exec(e.param ?? '');
  return m ? Number(m[1]) : 0;
}

/** processes still running, killed if the test process exits without stop() (a crashed or timed-out file). */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** ctrl_tcp frames: netstrings "<len>:<json>,"; a frame above this is a protocol error (baresip's own cap is 1 MB). */
const MAX_FRAME = 1 << 20;
/** log lines of the process kept for failure messages. */
const MAX_OUTPUT = 256 * 1024;

export class Baresip {
  /** every event received, oldest first (bounded by the test's own length; each is a small object). */
  readonly events: BaresipEvent[] = [];
  private out = '';
  private frame = Buffer.alloc(0);
  private token = 0;
  private readonly pending = new Map<string, (r: BaresipResponse) => void>();
  private readonly waiters = new Set<() => void>();
  private exited = false;

  private constructor(
    readonly opts: BaresipOptions,
    readonly proc: ChildProcess,
    private readonly dir: string,
    private readonly ctlPort: number,
  ) {}

  private ctl: net.Socket | null = null;

  /** the account's AOR */
  get aor(): string {
    return `sip:${this.opts.user}@${this.opts.domain}`;
  }

  /** starts baresip, attaches to ctrl_tcp and creates the account (which registers when regint > 0). */
  static async start(opts: BaresipOptions): Promise<Baresip> {
    const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
    // the ctrl_tcp port is picked free, then bound by baresip: another process (another UA's SIP TCP
    // socket, also ephemeral) can take it in between; baresip then runs without ctrl_tcp, so start again
    for (let attempt = 1; ; attempt++) {
      const ua = await Baresip.spawn(opts, await freePort('tcp'));
      try {
        await ua.waitOutput(/baresip is ready|init failed/, deadline);
        if (/ctrl_tcp: failed to listen/.test(ua.out) && attempt < 3) {
          await ua.stop();
          continue;
        }
        if (!/baresip is ready/.test(ua.out)) throw new Error('baresip did not start');
        ua.ctl = await ua.connect(ua.ctlPort);
        const r = await ua.command('uanew', accountLine(opts), Math.max(deadline - Date.now(), 1));
        if (!r.ok) throw new Error(`uanew refused: ${r.data ?? ''}`);
        return ua;
      } catch (e) {
        await ua.stop();
        throw new Error(`baresip ${opts.user}@${opts.domain}: ${(e as Error).message}\n${ua.out}`);
      }
    }
  }

  private static async spawn(opts: BaresipOptions, ctlPort: number): Promise<Baresip> {
    const dir = mkdtempSync(path.join(tmpdir(), 'siphon-baresip-'));
    writeFileSync(path.join(dir, 'config'), configText(ctlPort, opts));
    writeFileSync(path.join(dir, 'accounts'), '');
    writeFileSync(path.join(dir, 'contacts'), '');
    const proc = spawn('baresip', ['-4', ...(process.env.SIPHON_BARESIP_TRACE || opts.sipTrace === true ? ['-s'] : []), '-f', dir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(proc);
    const ua = new Baresip(opts, proc, dir, ctlPort);
    const keep = (d: Buffer): void => {
      ua.out += d.toString('utf8');
      if (ua.out.length > MAX_OUTPUT) ua.out = ua.out.slice(-MAX_OUTPUT / 2);
      ua.wake();
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    proc.once('exit', () => {
      ua.exited = true;
      live.delete(proc);
      ua.wake();
    });
    proc.once('error', (e) => {
      ua.out += `\nspawn error: ${e.message}`;
      ua.exited = true;
      ua.wake();
    });
    return ua;
  }

  /** the process's log so far (for failure messages). */
  output(): string {
    return this.out;
  }

  /**
   * the first event (received so far or later, from index `from` on) matching `pred`; throws after `ms`
   * (default 10 s) or when the process exits. `from` lets a caller skip events of an earlier step.
   */
  async waitFor(pred: (e: BaresipEvent) => boolean, ms = 10_000, from = 0): Promise<BaresipEvent> {
    let found: BaresipEvent | undefined;
    await this.until(
      () => {
        for (let i = from; i < this.events.length && !found; i++) if (pred(this.events[i]!)) found = this.events[i];
        return found !== undefined;
      },
      Date.now() + ms,
      `an event (${ms} ms)`,
    );
    return found!;
  }

  /** waits (bounded) until the process's output matches `re`. */
  private waitOutput(re: RegExp, deadline: number): Promise<void> {
    return this.until(() => re.test(this.out), deadline, `output ${re}`);
  }

  /** re-checks `cond` whenever an event or output arrives, until `deadline` or the process's exit. */
  private async until(cond: () => boolean, deadline: number, what: string): Promise<void> {
    for (;;) {
      if (cond()) return;
      if (this.exited) throw new Error(`baresip ${this.opts.user} exited while waiting for ${what}; events ${this.describe()}\n${this.out}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`baresip ${this.opts.user}: timed out waiting for ${what}; events ${this.describe()}\n${this.out}`);
      await new Promise<void>((resolve) => {
        const waiters = this.waiters;
        const t = setTimeout(done, left);
        function done(): void {
          clearTimeout(t);
          waiters.delete(done);
          resolve();
        }
        waiters.add(done);
      });
    }
  }

  /** the event types received so far, e.g. "REGISTERING REGISTER_FAIL(401 Unauthorized)" */
  describe(): string {
    return this.events.map((e) => (e.param ? `${e.type}(${e.param})` : e.type)).join(' ') || '(none)';
  }

  /** sends a ctrl_tcp command and waits for its response (bounded by `ms`). */
  command(name: string, params = '', ms = 10_000): Promise<BaresipResponse> {
    const ctl = this.ctl;
    if (!ctl || ctl.destroyed) return Promise.reject(new Error('ctrl_tcp not connected'));
    const token = String(++this.token);
    const body = Buffer.from(JSON.stringify({ command: name, params, token }), 'utf8');
    return new Promise<BaresipResponse>((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(token);
        reject(new Error(`baresip ${this.opts.user}: no response to ${name} within ${ms} ms`));
      }, Math.max(ms, 1));
      this.pending.set(token, (r) => {
        clearTimeout(t);
        resolve(r);
      });
      ctl.write(Buffer.concat([Buffer.from(`${body.length}:`), body, Buffer.from(',')]));
    });
  }

  /** calls `uri` (sip:bob@domain); resolves once baresip accepted the command. */
  async dial(uri: string): Promise<void> {
    const r = await this.command('dial', uri);
    if (!r.ok) throw new Error(`dial ${uri} refused: ${r.data ?? ''}`);
  }

  /** answers the current incoming call (200 OK). */
  async accept(): Promise<void> {
    const r = await this.command('accept');
    if (!r.ok) throw new Error(`accept refused: ${r.data ?? ''}`);
  }

  /** hangs the current call up (BYE, or CANCEL before an answer). */
  async hangup(): Promise<void> {
    const r = await this.command('hangup');
    if (!r.ok) throw new Error(`hangup refused: ${r.data ?? ''}`);
  }

  /** kills the process (SIGTERM, SIGKILL after 3 s) and removes its directory. Idempotent. */
  async stop(): Promise<void> {
    this.ctl?.destroy();
    const p = this.proc;
    if (p.exitCode === null && p.signalCode === null && !this.exited) {
      const gone = once(p, 'exit');
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(t);
    }
    live.delete(p);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** connects to ctrl_tcp (baresip said it is ready, so it listens). */
  private async connect(port: number): Promise<net.Socket> {
    const sock = net.connect(port, '127.0.0.1');
    const err = await new Promise<Error | null>((resolve) => {
      sock.once('connect', () => resolve(null));
      sock.once('error', (e) => resolve(e));
    });
    if (err) throw new Error(`ctrl_tcp on 127.0.0.1:${port}: ${err.message}`);
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('error', () => {});
    return sock;
  }

  private onData(d: Buffer): void {
    this.frame = this.frame.length === 0 ? d : Buffer.concat([this.frame, d]);
    for (;;) {
      const colon = this.frame.indexOf(0x3a);
      if (colon < 0) {
        if (this.frame.length > 16) this.protocolError('netstring length too long');
        return;
      }
      const len = Number(this.frame.subarray(0, colon).toString('latin1'));
      if (!Number.isInteger(len) || len < 0 || len > MAX_FRAME) return this.protocolError(`bad netstring length`);
      if (this.frame.length < colon + 1 + len + 1) return;
      const body = this.frame.subarray(colon + 1, colon + 1 + len).toString('utf8');
      this.frame = this.frame.subarray(colon + 1 + len + 1);
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(body) as Record<string, unknown>;
      } catch {
        continue; // one malformed frame: skip it, the framing is intact
      }
      if (msg.event === true) {
        this.events.push(msg as BaresipEvent);
        this.wake();
      } else if (msg.response === true) {
        const r = msg as unknown as BaresipResponse;
        const done = this.pending.get(r.token ?? '');
        if (done) {
          this.pending.delete(r.token ?? '');
          done(r);
        }
      }
    }
  }

  private protocolError(why: string): void {
    this.out += `\nctrl_tcp: ${why}; connection closed`;
    this.frame = Buffer.alloc(0);
    this.ctl?.destroy();
  }
}

/** the account line (baresip accounts syntax): <sip:user@domain>;auth_pass=..;outbound="sip:127.0.0.1:PORT" */
function accountLine(o: BaresipOptions): string {
  const transport = o.transport === 'tcp' || o.transport === 'tls' ? `;transport=${o.transport}` : '';
  const params = [
    o.authUser !== undefined ? `;auth_user=${o.authUser}` : '',
    o.password !== undefined ? `;auth_pass=${o.password}` : '',
    `;outbound="sip:127.0.0.1:${o.proxyPort}${transport}"`,
    `;regint=${o.regint ?? 600}`,
    `;answermode=${o.answerMode ?? 'manual'}`,
    // G.711 only (both UAs always share a codec)
    ';audio_codecs=PCMU,PCMA',
    o.webrtc === true ? ';mediaenc=dtls_srtp;medianat=ice' : '',
    o.accountParams ?? '',
  ];
  return `<sip:${o.user}@${o.domain}${transport}>${params.join('')}`;
}

/** baresip's config: SIP on 127.0.0.1 (ephemeral port), no sound device, ctrl_tcp on `ctlPort`. */
function configText(ctlPort: number, o: BaresipOptions): string {
  const webrtc = o.webrtc === true;
  return [
    'poll_method epoll',
    'sip_listen 127.0.0.1:0',
    'net_interface 127.0.0.1',
    'audio_source ausine,440',
    // ausine makes 48 kHz stereo only; the audio core resamples to G.711's 8 kHz mono
    'ausrc_srate 48000',
    'ausrc_channels 2',
    'audio_player aubridge,siphon-test',
    'audio_alert aubridge,siphon-test',
    'module_path /usr/lib/baresip/modules',
    'module g711.so',
    'module ausine.so',
    'module aubridge.so',
    ...(webrtc ? ['module dtls_srtp.so', 'module ice.so', 'rtcp_mux yes'] : []),
    ...(o.tls?.certificate !== undefined ? [`sip_certificate ${o.tls.certificate}`] : []),
    ...(o.tls?.cafile !== undefined ? [`sip_cafile ${o.tls.cafile}`] : []),
    'module_app account.so',
    'module_app menu.so',
    'module_app ctrl_tcp.so',
    `ctrl_tcp_listen 127.0.0.1:${ctlPort}`,
    '',
  ].join('\n');
}
