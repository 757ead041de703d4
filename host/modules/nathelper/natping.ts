/**
 * NAT keepalives (Kamailio nathelper natping): every `natping_interval` seconds the registered UDP
 * contacts are pinged at their NAT binding (`received`, else the Contact address) so the binding
 * stays open for incoming calls:
 *   - 4 zero bytes from the listening socket (Kamailio's UDP ping), or
 *   - a SIP request (`sipping_method`, From `sipping_from`) for contacts whose cflags carry
 *     `sipping_bflag`, sent through tm from the listening socket; any answer counts as alive, and
 *     with `keepalive_timeout` a contact that answered none for that long is removed.
 * Selection: `ping_nated_only` 1 pings only contacts with `nat_bflag` in their cflags (set by the
 * route with setbflag() before save(), Kamailio FLB_NATB); `natping_disable_bflag` excludes.
 *
 * Bounds: one 1-second timer (unref'd); a round takes one snapshot of the memory tables (db_mode
 * 0/1: Kamailio's keepalive_timeout also needs contacts in memory) of at most `natping_max_contacts`
 * contacts (E7302 once per minute when more wait) and sends them spread over the interval, a
 * 1/interval share per second, so a large table never bursts; at most `sipping_max_inflight` SIP
 * pings wait for an answer at once (each holds a tm client transaction, retransmitted by Timer E on
 * UDP until `sipping_timeout_ms`; Kamailio sends one stateless request). Contacts with a Path, a TCP/TLS
 * transport or a host name are not pinged (counted as skipped). The reply bookkeeping is a Map of
 * the contacts pinged in the current round, rebuilt at each round.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { Errors } from '../../errors/registry.js';
import type { LocalRequestSender } from '../../proxy/local-request.js';
import type { Contact } from '../registrar/contact.js';
import { isValid } from '../registrar/contact.js';
import type { Registrar } from '../registrar/registrar.js';
import { plainAddress } from './address.js';
import { flagBit, type NathelperConfig } from './config.js';
import { uriHostPort, uriParam } from './rewrite.js';
import type { NathelperStats } from './stats.js';

/** What the pinger sends with: the node's listening sockets (wired in host/server/app.ts). */
export interface PingTransport {
  /** one UDP datagram from a listening socket to address:port; false when no socket reaches it. */
  sendUdp(buf: Buffer, address: string, port: number): boolean;
  /** tm's locally originated requests (SIP pings); without it SIP pings fall back to UDP pings. */
  sip?: LocalRequestSender;
}

/** Kamailio's UDP ping: 4 zero bytes. */
const UDP_PING = Buffer.alloc(4);
const CAPPED_LOG_MS = 60_000;

interface Target {
  table: string;
  aor: string;
  ruid: string;
  uri: string;
  /** the NAT binding: `received`, else the Contact URI. */
  dstUri: string;
  address: string;
  port: number;
  sip: boolean;
}

export class NatPinger {
  /** nathelper.enable_ping: keepalives stop while false (Kamailio natping_state). */
  enabled = true;
  private registrar: Registrar | null = null;
  private transport: PingTransport | null = null;
  private timer: NodeJS.Timeout | null = null;
  private tick = 0;
  private queue: Target[] = [];
  private cursor = 0;
  private perTick = 0;
  /** ruid -> second of the last answer to a SIP ping (contacts of the current round only). */
  private answered = new Map<string, number>();
  private cappedLogAt = -Infinity;
  /** SIP pings waiting for their answer (bounded by sipping_max_inflight). */
  private inflight = 0;
  private readonly fromTag = randomBytes(4).toString('hex');

  constructor(
    readonly cfg: NathelperConfig,
    private readonly log: Logger,
    private readonly stats: NathelperStats,
  ) {}

  /** the location tables to ping and how to send; keepalives start when both are there. */
  attach(registrar: Registrar | null, transport: PingTransport): void {
    this.registrar = registrar;
    this.transport = transport;
  }

  start(): void {
    if (this.timer || this.cfg.natping_interval <= 0) return;
    this.timer = setInterval(() => this.onTick(), 1000);
    this.timer.unref();
  }

  /** whether the keepalive timer runs (started and not stopped). */
  get running(): boolean {
    return this.timer !== null;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.queue = [];
  }

  /** one second: a new round every natping_interval seconds, then this second's share of the round. */
  onTick(): void {
    if (!this.enabled || this.registrar === null || this.transport === null) return;
    if (this.tick % this.cfg.natping_interval === 0) this.startRound();
    this.tick++;
    const end = Math.min(this.queue.length, this.cursor + this.perTick);
    for (; this.cursor < end; this.cursor++) this.ping(this.queue[this.cursor]!);
  }

  /** snapshot of the contacts to ping (removing those past keepalive_timeout); they go out over the interval. */
  startRound(): void {
    const reg = this.registrar;
    if (reg === null) return;
    this.stats.rounds++;
    const cfg = this.cfg;
    const natMask = flagBit(cfg.nat_bflag);
    const sipMask = flagBit(cfg.sipping_bflag);
    const offMask = flagBit(cfg.natping_disable_bflag);
    const sipOn = cfg.sipping_from !== null && sipMask !== 0 && this.transport?.sip !== undefined;
    const queue: Target[] = [];
    const answered = new Map<string, number>();
    let capped = 0;
    for (const table of reg.tableNames()) {
      const loc = reg.table(table)!;
      if (!loc.memoryBacked) continue;
      const now = loc.now();
      const dead: Array<[string, Contact]> = [];
      for (const [aor, contacts] of loc.entriesSync()) {
        for (const c of contacts) {
          if (!isValid(c, now) || (c.cflags & offMask) !== 0) continue;
          if (cfg.ping_nated_only === 1 && (natMask === 0 || (c.cflags & natMask) === 0)) continue;
          const sip = sipOn && (c.cflags & sipMask) !== 0;
          if (sip && cfg.keepalive_timeout > 0) {
            const last = Math.max(this.answered.get(c.ruid) ?? 0, c.lastModified);
            if (now - last > cfg.keepalive_timeout) {
              dead.push([aor, c]);
              continue;
            }
          }
          if (queue.length >= cfg.natping_max_contacts) {
            capped++;
            continue;
          }
          const t = target(table, aor, c, sip);
          if (t === null) {
            this.stats.skipped++;
            continue;
          }
          const seen = this.answered.get(c.ruid);
          if (seen !== undefined) answered.set(c.ruid, seen);
          queue.push(t);
        }
      }
      for (const [aor, c] of dead) this.remove(table, aor, c);
    }
    if (capped > 0) {
      this.stats.capped += capped;
      const t = Date.now();
      if (t - this.cappedLogAt >= CAPPED_LOG_MS) {
        this.cappedLogAt = t;
        this.log.warn({ code: Errors.NAT_PING_CAPPED.code, max: cfg.natping_max_contacts, left: capped }, 'nathelper: more contacts than natping_max_contacts, the rest wait for the next round [E7302]');
      }
    }
    this.answered = answered;
    this.queue = queue;
    this.cursor = 0;
    this.perTick = Math.max(1, Math.ceil(queue.length / cfg.natping_interval));
  }

  private remove(table: string, aor: string, c: Contact): void {
    const loc = this.registrar?.table(table);
    if (!loc) return;
    // still the same binding (a REGISTER may have replaced it since the snapshot)
    if (!loc.contactsSync(aor).some((x) => x.ruid === c.ruid)) return;
    loc.applySync(aor, [{ op: 'delete', contact: c }]);
    this.answered.delete(c.ruid);
    this.stats.removed++;
    this.log.info({ code: Errors.NAT_CONTACT_REMOVED.code, aor, contact: c.contact, timeout: this.cfg.keepalive_timeout }, 'nathelper: contact removed, no answer to keepalives [E7301]');
  }

  private ping(t: Target): void {
    const transport = this.transport!;
    if (t.sip && transport.sip) {
      const cfg = this.cfg;
      // each SIP ping holds a tm client transaction until answered or timed out (the table calls use)
      if (this.inflight >= cfg.sipping_max_inflight) {
        this.stats.inflightCapped++;
        return;
      }
      this.inflight++;
      this.stats.sipPings++;
      transport.sip
        .request({ method: cfg.sipping_method, uri: t.uri, from: cfg.sipping_from!, fromTag: this.fromTag, dstUri: t.dstUri, timeoutMs: cfg.sipping_timeout_ms })
        .finally(() => this.inflight--)
        .then(
          (r) => {
            if ('timeout' in r) this.stats.sipTimeouts++;
            else {
              this.stats.sipReplies++;
              this.answered.set(t.ruid, this.registrar?.table(t.table)?.now() ?? Math.floor(Date.now() / 1000));
            }
          },
          (e: Error) => this.sendFailed(t, e.message),
        );
      return;
    }
    if (transport.sendUdp(UDP_PING, t.address, t.port)) this.stats.udpPings++;
    else this.sendFailed(t, 'no UDP socket reaches it');
  }

  private sendFailed(t: Target, why: string): void {
    this.stats.sendErrors++;
    this.log.debug({ code: Errors.NAT_PING_SEND.code, contact: t.uri, dst: t.dstUri, why }, 'nathelper: keepalive not sent [E7300]');
  }

  /** contacts the current round holds (tests, RPC). */
  get roundSize(): number {
    return this.queue.length;
  }
}

/** where a contact is pinged: its `received`, else its Contact URI; null when it cannot be (see the file comment). */
function target(table: string, aor: string, c: Contact, sip: boolean): Target | null {
  if (c.path) return null;
  const dstUri = c.received ?? c.contact;
  const hp = uriHostPort(dstUri);
  if (hp === null) return null;
  const transport = uriParam(dstUri, 'transport');
  if (typeof transport === 'string' && transport.toLowerCase() !== 'udp') return null;
  if (dstUri.slice(0, 5).toLowerCase() === 'sips:') return null;
  const address = plainAddress(hp.host);
  if (isIP(address) === 0) return null;
  return { table, aor, ruid: c.ruid, uri: c.contact, dstUri, address, port: hp.port ?? 5060, sip };
}
