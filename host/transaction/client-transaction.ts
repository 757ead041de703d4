/**
 * Client transactions (RFC 3261 §17.1), INVITE and non-INVITE in one class:
 *
 *   INVITE      Calling ─1xx─▶ Proceeding ─2xx─▶ Accepted (RFC 6026: 2xx retransmissions go to the TU)
 *                  │ A: re-send, T1 doubling (capped at T2 as Kamailio's retr_timer2 does; unreliable only)
 *                  │ B: Kamailio fr_timer before a provisional, fr_inv_timer after one → timeout
 *                  └─300-699─▶ Completed: ACK sent hop by hop (§17.1.1.3), re-sent for every
 *                                          retransmitted final; D = wt_timer (0 on reliable)
 *   non-INVITE  Trying ─1xx─▶ Proceeding ─final─▶ Completed ─K (T4, 0 reliable)─▶ Terminated
 *                  E: re-send, T1 doubling to T2 (T2 once Proceeding); F = fr_timer → timeout
 *
 * Responses the TU must see (provisionals, the first final, 2xx retransmissions) go to the user;
 * retransmitted non-2xx finals are absorbed here. Kamailio restarts fr_inv on each provisional
 * (restart_fr_on_each_reply = 1), and so does this class.
 */
import type { Endpoint } from '../core/context.js';
import type { SipMessage } from '../sip/types.js';
import type { Channel } from '../transport/types.js';
import { buildNon2xxAck, type SentRequest } from './requests.js';
import { TimerSlot, type TimerOwner } from './timer-queue.js';
import type { TransactionLayer } from './layer.js';

export const enum ClientState {
  Calling = 0,
  Trying = 1,
  Proceeding = 2,
  Completed = 3,
  Accepted = 4,
  Terminated = 5,
}

const RETRANSMIT = 0;
const LIFETIME = 1;

export interface ClientTransactionUser {
  /** a response the TU must process (provisional, first final, 2xx retransmission). */
  onClientResponse(ct: ClientTransaction, msg: SipMessage, source: Endpoint): void;
  /** no final response before fr_timer / fr_inv_timer (timer B / F). */
  onClientTimeout(ct: ClientTransaction): void;
  /**
   * the request could not be sent (a connection that could not be opened, a TLS certificate refused):
   * RFC 3261 §17.1.1.2 / §17.1.2.2, the TU treats it as a 503. Absent: handled as a timeout.
   */
  onClientTransportError?(ct: ClientTransaction): void;
}

export interface ClientTransactionOptions {
  branch: string;
  /** the request bytes as sent (its top Via carries `branch`). */
  request: Buffer;
  sent: SentRequest;
  channel: Channel;
  address: string;
  port: number;
  user: ClientTransactionUser;
  /** per-transaction fr_timer / fr_inv_timer (t_set_timeouts); layer defaults when absent. */
  fr?: number;
  frInv?: number;
}

export class ClientTransaction implements TimerOwner {
  readonly key: string;
  readonly branch: string;
  readonly method: string;
  readonly isInvite: boolean;
  readonly reliable: boolean;
  /**
   * the request bytes (re-sent by timers A/E) and what CANCEL and the non-2xx ACK are built from;
   * both released (null) once a final response arrived: from then on the transaction only absorbs
   * retransmitted finals (§17.1.1.2: with the ACK kept in `ack`) or hands 2xx retransmissions up
   * (RFC 6026 Accepted), and a CANCEL is no longer allowed (§9.1). A transaction waiting for its
   * wt/D/K timer then keeps no copy of the request.
   */
  request: Buffer | null;
  sent: SentRequest | null;
  readonly channel: Channel;
  readonly address: string;
  readonly port: number;
  readonly user: ClientTransactionUser;
  readonly fr: number;
  readonly frInv: number;
  state: ClientState;
  /** highest status received so far (0 = none). */
  lastStatus = 0;
  /** the ACK sent for a non-2xx final, re-sent for its retransmissions. */
  private ack: Buffer | null = null;
  private retrInterval = 0;
  private readonly retrSlot = new TimerSlot(this, RETRANSMIT);
  private readonly lifeSlot = new TimerSlot(this, LIFETIME);

  constructor(
    private readonly layer: TransactionLayer,
    key: string,
    o: ClientTransactionOptions,
  ) {
    this.key = key;
    this.branch = o.branch;
    this.method = o.sent.method;
    this.isInvite = o.sent.method === 'INVITE';
    this.request = o.request;
    this.sent = o.sent;
    this.channel = o.channel;
    this.reliable = o.channel.proto !== 'udp';
    this.address = o.address;
    this.port = o.port;
    this.user = o.user;
    this.fr = o.fr ?? layer.config.fr;
    this.frInv = o.frInv ?? layer.config.frInv;
    this.state = this.isInvite ? ClientState.Calling : ClientState.Trying;
  }

  /** Sends the request and arms timers A/E and B/F (§17.1.1.2, §17.1.2.2). */
  start(): void {
    const timers = this.layer.timers;
    const t1 = this.layer.config.t1;
    this.channel.send(this.request!, this.address, this.port, undefined, this.onTransportError);
    if (!this.reliable) {
      this.retrInterval = t1;
      timers.schedule(this.retrSlot, t1);
    }
    timers.schedule(this.lifeSlot, this.fr);
  }

  /** true while no final response was received (a CANCEL may still be sent, §9.1). */
  get pending(): boolean {
    return this.state <= ClientState.Proceeding;
  }

  /** A response matched this transaction (§17.1.3). */
  onResponse(msg: SipMessage, source: Endpoint): void {
    const status = msg.status;
    const st = this.state;
    const timers = this.layer.timers;
    const cfg = this.layer.config;
    if (status < 200) {
      if (st > ClientState.Proceeding) return; // late provisional: absorbed
      this.state = ClientState.Proceeding;
      if (status > this.lastStatus) this.lastStatus = status;
      if (this.isInvite) {
        timers.cancel(this.retrSlot); // §17.1.1.2: no more retransmissions once Proceeding
        timers.schedule(this.lifeSlot, this.frInv);
      } else if (this.retrSlot.pending) {
        // §17.1.2.2: in Proceeding the interval is T2
        this.retrInterval = cfg.t2;
      }
      this.user.onClientResponse(this, msg, source);
      return;
    }
    if (this.isInvite && status < 300) {
      if (st === ClientState.Completed || st === ClientState.Terminated) return;
      if (st !== ClientState.Accepted) {
        this.state = ClientState.Accepted;
        this.lastStatus = status;
        timers.cancel(this.retrSlot);
        timers.schedule(this.lifeSlot, cfg.wt); // RFC 6026 timer M (Kamailio wt_timer)
        this.releaseRequest();
      }
      this.user.onClientResponse(this, msg, source); // every 2xx goes up (§16.7 step 5)
      return;
    }
    if (st === ClientState.Completed) {
      // a retransmitted final: absorbed; for INVITE the ACK is sent again (§17.1.1.2)
      this.layer.stats.responseRetransmissions++;
      if (this.ack !== null) this.send(this.ack);
      return;
    }
    if (st > ClientState.Proceeding) return;
    this.state = ClientState.Completed;
    this.lastStatus = status;
    timers.cancel(this.retrSlot);
    if (this.isInvite) {
      // §17.1.1.3: built now from the request as sent; the Buffer alone is kept for retransmitted finals
      const sent = this.sent!;
      const to = msg.header('to');
      this.ack = buildNon2xxAck(sent, to ?? sent.to);
      this.send(this.ack);
      timers.schedule(this.lifeSlot, this.reliable ? 0 : cfg.wt); // timer D
    } else {
      timers.schedule(this.lifeSlot, this.reliable ? 0 : cfg.t4); // timer K
    }
    this.releaseRequest();
    this.user.onClientResponse(this, msg, source);
  }

  onTimer(slot: TimerSlot): void {
    const st = this.state;
    if (slot.kind === RETRANSMIT) {
      if (st > ClientState.Proceeding || this.request === null) return;
      this.layer.stats.requestsResent++;
      this.send(this.request);
      const t2 = this.layer.config.t2;
      this.retrInterval = st === ClientState.Proceeding ? t2 : Math.min(2 * this.retrInterval, t2);
      this.layer.timers.schedule(this.retrSlot, this.retrInterval);
      return;
    }
    if (st <= ClientState.Proceeding) {
      // timer B / F (fr_timer, fr_inv_timer): the TU answers 408 for this branch
      this.layer.stats.clientTimeouts++;
      this.terminate();
      this.user.onClientTimeout(this);
      return;
    }
    this.terminate();
  }

  /** The first send failed at the transport (only streams report it): §17.1.4, as a 503 for the TU. */
  private readonly onTransportError = (): void => {
    if (this.state > ClientState.Proceeding || this.lastStatus !== 0) return;
    this.layer.stats.transportErrors++;
    this.terminate();
    if (this.user.onClientTransportError !== undefined) this.user.onClientTransportError(this);
    else this.user.onClientTimeout(this);
  };

  /** Stops the timers and removes the transaction. Idempotent. */
  terminate(): void {
    if (this.state === ClientState.Terminated) return;
    this.state = ClientState.Terminated;
    const timers = this.layer.timers;
    timers.cancel(this.retrSlot);
    timers.cancel(this.lifeSlot);
    this.layer.removeClient(this);
  }

  /** Stops retransmitting (the request was CANCELed and the other side is known to be alive). */
  stopRetransmissions(): void {
    this.layer.timers.cancel(this.retrSlot);
  }

  /** A final response arrived: the request is never sent again nor CANCELed (§17.1.1.2, §17.1.2.2, §9.1). */
  private releaseRequest(): void {
    this.request = null;
    this.sent = null;
  }

  private send(buf: Buffer): void {
    this.channel.send(buf, this.address, this.port);
  }
}
