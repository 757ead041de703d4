/**
 * Server transactions (RFC 3261 §17.2), INVITE and non-INVITE in one class:
 *
 *   INVITE      Proceeding ─1xx─▶ Proceeding ─2xx─▶ Accepted (RFC 6026) ─wt─▶ Terminated
 *                          └─300-699─▶ Completed ─ACK─▶ Confirmed ─I─▶ Terminated
 *                                         │ G: re-send the final, T1 doubling to T2 (unreliable only)
 *                                         └ H (64*T1): no ACK ─▶ Terminated
 *   non-INVITE  Trying ─1xx─▶ Proceeding ─final─▶ Completed ─J─▶ Terminated
 *
 * A retransmitted request re-sends the last response (nothing in Trying, §17.2.2); an ACK of a
 * non-2xx final is absorbed here (§17.2.1), never routed. Timer J and the Accepted wait use Kamailio's
 * wt_timer on unreliable transports (0 on reliable ones, as the RFC says for J and I).
 */
import type { Endpoint } from '../core/context.js';
import type { SipMessage } from '../sip/types.js';
import type { Channel } from '../transport/types.js';
import { replyAddress, type ReplyAddress } from '../transport/reply-route.js';
import { MAGIC_COOKIE } from './matching.js';
import { TimerSlot, type TimerOwner } from './timer-queue.js';
import type { TransactionLayer } from './layer.js';

export const enum ServerState {
  Trying = 0,
  Proceeding = 1,
  Completed = 2,
  Confirmed = 3,
  Accepted = 4,
  Terminated = 5,
}

const RETRANSMIT = 0;
const LIFETIME = 1;

/** What an ACK matched to an INVITE server transaction means. */
export const enum AckDisposition {
  /** ACK of our non-2xx final: absorbed by the transaction. */
  Absorbed = 0,
  /** ACK of a 2xx (end to end): the TU routes it like any request (RFC 3261 §17.2.3, RFC 6026). */
  PassOn = 1,
}

/** The transaction user (the proxy) hears about the end of the transaction. */
export interface ServerTransactionUser {
  onServerTerminated(st: ServerTransaction): void;
  /**
   * The first final response was sent (Completed, or Accepted for a 2xx to INVITE): the user may
   * drop what only the search for a final response needed. Optional.
   */
  onServerFinal?(st: ServerTransaction): void;
}

export class ServerTransaction implements TimerOwner {
  readonly isInvite: boolean;
  readonly reliable: boolean;
  state: ServerState;
  /** last response sent (re-sent on request retransmissions and by timer G). */
  lastResponse: Buffer | null = null;
  lastStatus = 0;
  /**
   * To tag of the final response sent, kept for RFC 2543 ACK matching only (§17.2.3 last paragraph;
   * a request whose branch has the magic cookie is matched by its key alone).
   */
  finalToTag: string | undefined;
  /**
   * the request that created the transaction; released (null) once a final response was sent, as
   * nothing after that needs it: retransmissions are answered with `lastResponse` (§17.2.1,
   * §17.2.2), an ACK or a CANCEL is matched by `key` (and `finalToTag`), and responses go to
   * `replyTo`. A transaction waiting in Completed/Accepted (timers H, I, J, wt) keeps no parsed message.
   */
  request: SipMessage | null;
  /** the transaction user (the proxy transaction), set by whoever created it. */
  user: ServerTransactionUser | null = null;
  /** where responses go (RFC 3261 §18.2.2, RFC 3581). */
  readonly replyTo: ReplyAddress;
  private retrInterval = 0;
  private readonly retrSlot = new TimerSlot(this, RETRANSMIT);
  private readonly lifeSlot = new TimerSlot(this, LIFETIME);

  constructor(
    private readonly layer: TransactionLayer,
    readonly key: string,
    request: SipMessage,
    readonly source: Endpoint,
    readonly channel: Channel,
  ) {
    this.request = request;
    this.isInvite = request.method === 'INVITE';
    this.reliable = channel.proto !== 'udp';
    this.state = this.isInvite ? ServerState.Proceeding : ServerState.Trying;
    this.replyTo = replyAddress(request.vias[0], source, { address: '', port: 0 });
    const cfg = layer.config;
    layer.timers.schedule(this.lifeSlot, this.isInvite ? cfg.maxInvLifetime : cfg.maxNonInvLifetime);
  }

  /** true once a final response was sent. */
  get finalSent(): boolean {
    return this.state >= ServerState.Completed;
  }

  /**
   * Sends a response from the TU (§17.2.1 / §17.2.2). Returns false when the state does not allow it
   * (a provisional or non-2xx after a final; a 2xx after a non-2xx). Several 2xx may be sent for one
   * INVITE (forked downstream, §16.7 step 5).
   */
  respond(status: number, buf: Buffer, toTag?: string): boolean {
    const st = this.state;
    if (st === ServerState.Terminated) return false;
    const cfg = this.layer.config;
    const timers = this.layer.timers;
    if (status < 200) {
      if (st !== ServerState.Trying && st !== ServerState.Proceeding) return false;
      this.state = ServerState.Proceeding;
    } else if (this.isInvite && status < 300) {
      if (st !== ServerState.Proceeding && st !== ServerState.Accepted) return false;
      if (st === ServerState.Proceeding) {
        this.state = ServerState.Accepted;
        timers.schedule(this.lifeSlot, cfg.wt);
      }
      if (this.rfc2543) this.finalToTag = toTag;
    } else {
      if (st !== ServerState.Trying && st !== ServerState.Proceeding) return false;
      this.state = ServerState.Completed;
      if (this.rfc2543) this.finalToTag = toTag;
      if (this.isInvite) {
        if (!this.reliable) {
          this.retrInterval = cfg.t1;
          timers.schedule(this.retrSlot, cfg.t1); // timer G
        }
        timers.schedule(this.lifeSlot, 64 * cfg.t1); // timer H
      } else {
        timers.schedule(this.lifeSlot, this.reliable ? 0 : cfg.wt); // timer J
      }
    }
    this.lastResponse = buf;
    this.lastStatus = status;
    this.send(buf);
    if (status >= 200 && this.request !== null) {
      this.request = null;
      this.user?.onServerFinal?.(this);
    }
    return true;
  }

  /** the key is an RFC 2543 one (no magic cookie in the branch): ACKs are matched with the To tag too. */
  private get rfc2543(): boolean {
    return !this.key.startsWith(MAGIC_COOKIE);
  }

  /** A retransmission of the request arrived (§17.2.1, §17.2.2): re-send the last response, if any. */
  onRetransmission(): void {
    this.layer.stats.requestRetransmissions++;
    const st = this.state;
    if (st === ServerState.Trying || st === ServerState.Confirmed || st === ServerState.Terminated) return;
    if (this.lastResponse !== null) {
      this.layer.stats.responsesResent++;
      this.send(this.lastResponse);
    }
  }

  /** An ACK matched this (INVITE) transaction. */
  onAck(): AckDisposition {
    switch (this.state) {
      case ServerState.Completed: {
        // §17.2.1: Completed → Confirmed, stop G, timer I (T4 unreliable, 0 reliable)
        this.state = ServerState.Confirmed;
        const timers = this.layer.timers;
        timers.cancel(this.retrSlot);
        timers.schedule(this.lifeSlot, this.reliable ? 0 : this.layer.config.t4);
        this.layer.stats.acksAbsorbed++;
        return AckDisposition.Absorbed;
      }
      case ServerState.Accepted:
        return AckDisposition.PassOn;
      default:
        this.layer.stats.acksAbsorbed++;
        return AckDisposition.Absorbed;
    }
  }

  onTimer(slot: TimerSlot): void {
    if (slot.kind === RETRANSMIT) {
      if (this.state !== ServerState.Completed || this.lastResponse === null) return;
      // timer G: re-send the final, interval doubling up to T2
      this.layer.stats.responsesResent++;
      this.send(this.lastResponse);
      const cfg = this.layer.config;
      this.retrInterval = Math.min(2 * this.retrInterval, cfg.t2);
      this.layer.timers.schedule(this.retrSlot, this.retrInterval);
      return;
    }
    if (this.state === ServerState.Completed && this.isInvite) this.layer.stats.ackTimeouts++; // timer H
    else if (this.state < ServerState.Completed) this.layer.stats.lifetimeExpired++;
    this.terminate();
  }

  /** Removes the transaction from the table and stops its timers. Idempotent. */
  terminate(): void {
    if (this.state === ServerState.Terminated) return;
    this.state = ServerState.Terminated;
    const timers = this.layer.timers;
    timers.cancel(this.retrSlot);
    timers.cancel(this.lifeSlot);
    this.layer.removeServer(this);
    this.user?.onServerTerminated(this);
  }

  private send(buf: Buffer): void {
    this.channel.send(buf, this.replyTo.address, this.replyTo.port);
  }
}
