/**
 * The transaction layer (RFC 3261 §17): the tables of server and client transactions, matching of
 * incoming requests and responses, and the shared timer queue.
 *
 * The message pipeline asks it first about every request (§17.2.3 matching) and every response
 * (§17.1.3); only what is not absorbed here reaches the routing plugin (requests) or the proxy
 * (responses of its client transactions). The transaction user — the proxy core in host/proxy —
 * creates transactions and reacts to their events.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Endpoint } from '../core/context.js';
import type { SipMessage, Via } from '../sip/types.js';
import type { Channel } from '../transport/types.js';
import { ClientTransaction, type ClientTransactionOptions } from './client-transaction.js';
import { transactionTimers, type TransactionTimers } from './config.js';
import { clientKey, clientKeyOfResponse, hasMagicCookie, MAGIC_COOKIE, serverKey } from './matching.js';
import { AckDisposition, ServerTransaction } from './server-transaction.js';
import { TimerQueue } from './timer-queue.js';

/** What receiveRequest() found. */
export const enum RequestMatch {
  /** no transaction: a new request for the routing logic. */
  New = 0,
  /** a retransmission: absorbed (the last response was re-sent). */
  Retransmission = 1,
  /** the ACK of one of our non-2xx finals: absorbed. */
  AckAbsorbed = 2,
  /** an ACK matching an INVITE transaction answered 2xx (or none): route it end to end. */
  AckPassOn = 3,
  /** a CANCEL whose INVITE server transaction exists: `matched` holds the INVITE transaction. */
  CancelMatched = 4,
}

export interface TransactionStats {
  serverCreated: number;
  clientCreated: number;
  requestRetransmissions: number;
  responsesResent: number;
  requestsResent: number;
  responseRetransmissions: number;
  acksAbsorbed: number;
  ackTimeouts: number;
  clientTimeouts: number;
  /** client transactions whose request could not be sent (stream connect / TLS refused; §17.1.4). */
  transportErrors: number;
  lifetimeExpired: number;
  unmatchedResponses: number;
  /** new requests refused because the server table held max_transactions. (additive) */
  tableFull: number;
}

export interface TransactionLayerOptions {
  timers?: Partial<TransactionTimers>;
  /** a queue shared with others, or a manual one for unit tests; default: own queue ticking every 50 ms. */
  queue?: TimerQueue;
  log: Logger;
  /**
   * core.tm.max_transactions: server transactions at once (default 65536). A full table creates no
   * new one (the pipeline answers new requests 503 + Retry-After before routing them, see `full`);
   * retransmissions still match the transactions there. Client transactions follow from it: at most
   * max_branches (+ CANCELs) per server transaction, plus the modules' keepalives. Kamailio has no
   * count limit: its tm cells live in shared memory (`-m`, 64 MB by default) and t_newtran fails when
   * that is exhausted.
   */
  maxServer?: number;
}

/** core.tm.max_transactions default. */
export const DEFAULT_MAX_TRANSACTIONS = 65_536;

export class TransactionLayer {
  readonly config: TransactionTimers;
  readonly timers: TimerQueue;
  readonly log: Logger;
  readonly stats: TransactionStats = {
    serverCreated: 0,
    clientCreated: 0,
    requestRetransmissions: 0,
    responsesResent: 0,
    requestsResent: 0,
    responseRetransmissions: 0,
    acksAbsorbed: 0,
    ackTimeouts: 0,
    clientTimeouts: 0,
    transportErrors: 0,
    lifetimeExpired: 0,
    unmatchedResponses: 0,
    tableFull: 0,
  };
  /** core.tm.max_transactions. */
  readonly maxServer: number;
  /** the transaction found by the last receiveRequest() (CancelMatched, Retransmission, Ack*). */
  matched: ServerTransaction | null = null;
  private readonly servers = new Map<string, ServerTransaction>();
  private readonly clients = new Map<string, ClientTransaction>();
  /** `z9hG4bK` + random per-process prefix, so branches stay unique across restarts. */
  private readonly branchPrefix: string;
  private branchCounter = 0;
  /** the top Via and method of the last request receiveRequest() keyed (magic-cookie branch), and its key */
  private keyVia: Via | undefined = undefined;
  private keyMethod = '';
  private lastKey = '';

  constructor(opts: TransactionLayerOptions) {
    this.config = transactionTimers(opts.timers);
    this.timers = opts.queue ?? new TimerQueue();
    this.log = opts.log;
    this.maxServer = opts.maxServer ?? DEFAULT_MAX_TRANSACTIONS;
    this.branchPrefix = `${MAGIC_COOKIE}${randomBytes(5).toString('hex')}.`;
  }

  get serverCount(): number {
    return this.servers.size;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** true when the server table holds max_transactions: no new transaction can be created. */
  get full(): boolean {
    return this.servers.size >= this.maxServer;
  }

  /** counts a new request refused because the table is full (the pipeline's 503). */
  refusedFull(): void {
    this.stats.tableFull++;
  }

  /**
   * Matches an incoming request against the server transactions (§17.2.3). Absorbs retransmissions
   * and ACKs of non-2xx finals. `matched` is set to the transaction found (or null).
   */
  receiveRequest(msg: SipMessage): RequestMatch {
    this.matched = null;
    const method = msg.method;
    if (method === 'ACK') {
      const key = serverKey(msg, 'INVITE');
      const st = key === null ? undefined : this.servers.get(key);
      if (st === undefined) return RequestMatch.AckPassOn;
      // RFC 2543 peers: the ACK's To tag must be the tag of the response it acknowledges
      if (!key!.startsWith(MAGIC_COOKIE) && st.finalToTag !== undefined && msg.to?.tag !== st.finalToTag) return RequestMatch.AckPassOn;
      this.matched = st;
      return st.onAck() === AckDisposition.Absorbed ? RequestMatch.AckAbsorbed : RequestMatch.AckPassOn;
    }
    const key = serverKey(msg, method);
    if (key === null) return RequestMatch.New;
    // kept for createServer() of the same request: with the cookie, the key depends on the top Via
    // (object identity: any Via edit re-reads the Vias into new objects) and the method only
    const via = msg.vias[0]!;
    if (hasMagicCookie(via.branch)) {
      this.keyVia = via;
      this.keyMethod = method;
      this.lastKey = key;
    }
    const st = this.servers.get(key);
    if (st !== undefined) {
      this.matched = st;
      st.onRetransmission();
      return RequestMatch.Retransmission;
    }
    if (method === 'CANCEL') {
      const inviteKey = serverKey(msg, 'INVITE');
      const invite = inviteKey === null ? undefined : this.servers.get(inviteKey);
      if (invite !== undefined) {
        this.matched = invite;
        return RequestMatch.CancelMatched;
      }
    }
    return RequestMatch.New;
  }

  /** Creates the server transaction of a new request (the caller checked receiveRequest() said New). */
  createServer(msg: SipMessage, source: Endpoint, channel: Channel): ServerTransaction | null {
    const via = msg.vias[0];
    const key = via !== undefined && via === this.keyVia && msg.method === this.keyMethod ? this.lastKey : serverKey(msg, msg.method);
    this.keyVia = undefined;
    if (key === null || msg.method === 'ACK') return null;
    const existing = this.servers.get(key);
    if (existing !== undefined) return existing;
    // full: nothing new (a CANCEL of a known INVITE still gets its transaction: at most one per INVITE)
    if (this.servers.size >= this.maxServer && msg.method !== 'CANCEL') {
      this.stats.tableFull++;
      return null;
    }
    const st = new ServerTransaction(this, key, msg, source, channel);
    this.servers.set(key, st);
    this.stats.serverCreated++;
    return st;
  }

  /** The server transaction of a request, if one exists. */
  findServer(msg: SipMessage): ServerTransaction | undefined {
    const key = serverKey(msg, msg.method === 'ACK' ? 'INVITE' : msg.method);
    return key === null ? undefined : this.servers.get(key);
  }

  /** A fresh branch for a client transaction: `z9hG4bK<process prefix>.<counter>`. */
  newBranch(): string {
    this.branchCounter = (this.branchCounter + 1) % 0x7fffffff;
    return this.branchPrefix + this.branchCounter.toString(36);
  }

  /** true for a branch newBranch() produced in this process (a response to one of our stateful branches). */
  isOwnBranch(branch: string): boolean {
    return branch.startsWith(this.branchPrefix);
  }

  /** Creates and starts a client transaction (sends the request, arms its timers). */
  startClient(o: ClientTransactionOptions): ClientTransaction {
    const key = clientKey(o.branch, o.sent.method);
    const ct = new ClientTransaction(this, key, o);
    this.clients.set(key, ct);
    this.stats.clientCreated++;
    ct.start();
    return ct;
  }

  /**
   * Matches a response to its client transaction (§17.1.3) and hands it over. Returns false when no
   * transaction matched (the caller may forward it statelessly, §16.7 / §18.1.2).
   */
  receiveResponse(msg: SipMessage, source: Endpoint): boolean {
    const key = clientKeyOfResponse(msg);
    const ct = key === null ? undefined : this.clients.get(key);
    if (ct === undefined) {
      this.stats.unmatchedResponses++;
      return false;
    }
    ct.onResponse(msg, source);
    return true;
  }

  /** @internal */
  removeServer(st: ServerTransaction): void {
    if (this.servers.get(st.key) === st) this.servers.delete(st.key);
  }

  /** @internal */
  removeClient(ct: ClientTransaction): void {
    if (this.clients.get(ct.key) === ct) this.clients.delete(ct.key);
  }

  /** Stops every timer (server shutdown); transactions are dropped. */
  close(): void {
    this.timers.close();
    this.servers.clear();
    this.clients.clear();
  }
}
