/**
 * auth across shards (`core.workers`, host/shards/context.ts; README "Shards (core.workers)").
 *
 * Shard 0 owns the nonce secret and the one nonce table whose nc / one-time state counts (a UA's
 * retries keep their Call-ID and so their shard, but a replay with another Call-ID lands on another
 * shard: per-shard tables would each accept it once). It offers the `auth` service:
 *
 *   secret()                     the signing secret, for worker shards without `modules.auth.secret`
 *   claim(fields, nc, print)     checks a use against the table and, when new, holds it until settled
 *   settle(fields, nc, print, ok) records an accepted use (ok) and drops the hold
 *   failed(list)                 usernames that failed in a worker, for auth.failures
 *
 * A worker shard asks `claim` before routing (its MessagePrefetcher: plugin imports cannot wait),
 * and DigestAuth reads the answer through the ReplayGate. The hold closes the window between the
 * check and the record: while one shard verifies a use, the same use on another shard is refused
 * (stale / reused) unless it is the very same request (same print: a retransmission, which verifies
 * exactly as the original does). A wrong response records nothing (the hold goes at `done`), so
 * guessing with a captured nonce consumes nothing, as with one shard.
 */
import type { SipMessage } from '../../sip/types.js';
import type { ShardContext } from '../../shards/context.js';
import type { MessagePrefetcher } from '../types.js';
import type { DigestCredentials } from './api.js';
import { printOfMessage, type DigestAuth, type ReplayGate } from './digest-auth.js';
import { ReplayStatus, type NonceFields, type RequestPrint } from './nonce.js';

export const AUTH_SERVICE = 'auth';
/** uses held at once in shard 0 (requests between their prefetch and the end of their routing). */
export const MAX_HOLDS = 65_536;
/** seconds after which a hold no worker settled is void (the worker went away mid-request). */
export const HOLD_TTL_S = 60;
/** failures a worker batches for shard 0 before the end of the loop turn flushes them. */
export const MAX_FAILURE_BATCH = 1024;
/** credentials a worker asks shard 0 about per request (DIGEST_LIMITS.maxHeaders per kind). */
const MAX_CLAIMS = 16;

interface Hold {
  hi: number;
  lo: number;
  at: number;
}

function holdKey(f: NonceFields, nc: number | null): string {
  return `${f.origin}:${f.id}:${nc === null ? '-' : nc}`;
}

/** what identifies one use of credentials (a replayed header has the same text, and is the same use). */
function textOf(c: DigestCredentials): string {
  return `${c.username}\u0000${c.nonce ?? ''}\u0000${c.nc ?? ''}\u0000${c.response ?? ''}`;
}

/** Shard 0: the replay state for every shard, offered as the `auth` service. */
export class ReplayOwner {
  private readonly holds = new Map<string, Hold>();
  /** claims refused because MAX_HOLDS uses were held (fail closed: stale). */
  full = 0;

  constructor(
    private readonly auth: DigestAuth,
    private readonly secret: string,
  ) {}

  provide(shard: ShardContext): void {
    this.auth.setHeldCheck((f, nc, print) => this.heldStatus(f, nc, print));
    shard.provide(AUTH_SERVICE, {
      secret: () => this.secret,
      claim: (f: NonceFields, nc: number | null, print: RequestPrint) => this.claim(f, nc, print),
      settle: (f: NonceFields, nc: number | null, print: RequestPrint, ok: boolean) => this.settle(f, nc, print, ok),
      failed: (list: ReadonlyArray<readonly [string, number]>) => this.failed(list),
    });
  }

  /** the answer for a use a worker holds (null: not held); shard 0's own checks ask it too. */
  heldStatus(f: NonceFields, nc: number | null, print: () => RequestPrint): ReplayStatus | null {
    const ncPath = this.auth.cfg.nonce_count && nc !== null;
    const h = this.holds.get(holdKey(f, ncPath ? nc : null));
    if (h === undefined || this.auth.clockSec() - h.at > HOLD_TTL_S) return null;
    // the same request again (a retransmission routed while the first copy still is): it verifies as that one does
    const p = print();
    if (h.hi === p.hi && h.lo === p.lo) return ReplayStatus.RETRANSMISSION;
    return ncPath ? ReplayStatus.STALE : ReplayStatus.REUSED;
  }

  claim(f: NonceFields, nc: number | null, print: RequestPrint): ReplayStatus {
    const cfg = this.auth.cfg;
    const now = this.auth.clockSec();
    const ncPath = cfg.nonce_count && nc !== null;
    const key = holdKey(f, ncPath ? nc : null);
    const held = this.heldStatus(f, nc, () => print);
    if (held !== null) return held;
    const r = this.auth.table.check(f, nc, cfg.nonce_count, cfg.one_time_nonce, () => print, now, cfg.retransmission_window);
    if (r !== ReplayStatus.OK) return r;
    if (this.holds.size >= MAX_HOLDS && !this.sweep(now)) {
      this.full++;
      return ncPath ? ReplayStatus.STALE : ReplayStatus.REUSED;
    }
    this.holds.set(key, { hi: print.hi, lo: print.lo, at: now });
    return ReplayStatus.OK;
  }

  settle(f: NonceFields, nc: number | null, print: RequestPrint, ok: boolean): void {
    const cfg = this.auth.cfg;
    const ncPath = cfg.nonce_count && nc !== null;
    this.holds.delete(holdKey(f, ncPath ? nc : null));
    if (ok) this.auth.table.commit(f, nc, cfg.nonce_count, this.auth.clockSec(), cfg.retransmission_window > 0 ? print : undefined);
  }

  failed(list: ReadonlyArray<readonly [string, number]>): void {
    const n = Math.min(list.length, MAX_FAILURE_BATCH);
    for (let i = 0; i < n; i++) {
      const [user, at] = list[i]!;
      if (typeof user === 'string' && typeof at === 'number') this.auth.failures.add(user, at);
    }
  }

  /** holds waiting to be settled. */
  get held(): number {
    return this.holds.size;
  }

  /** drops holds past HOLD_TTL_S; whether room was made. */
  private sweep(now: number): boolean {
    for (const [k, h] of this.holds) if (now - h.at > HOLD_TTL_S) this.holds.delete(k);
    return this.holds.size < MAX_HOLDS;
  }
}

interface Claim {
  fields: NonceFields;
  nc: number | null;
  print: RequestPrint;
  status: ReplayStatus | undefined;
  /** settled with shard 0 (accepted, or released at done). */
  settled: boolean;
}

/**
 * A worker shard: asks shard 0 about each credentials' nonce before routing (MessagePrefetcher),
 * answers DigestAuth from those answers (ReplayGate), and settles every hold it took.
 */
export class WorkerReplay implements ReplayGate {
  private auth: DigestAuth | null = null;
  /** the claims of a message, for `done`. */
  private readonly byMsg = new WeakMap<SipMessage, Array<[DigestCredentials, Claim]>>();
  /**
   * the claim of credentials: one message's credentials are the same objects in prefetch and
   * routing (parsed once per header field, digest-auth.ts credentialsOf), and no two messages share one.
   */
  private readonly byCred = new WeakMap<DigestCredentials, Claim>();
  /**
   * the same claims by the credentials' text (nonce, nc, response, username): routing may read the
   * message's header fields anew (a plugin's header edit, a field list parsed again), which gives
   * new credentials objects for the same header; entries live from load to done.
   */
  private readonly byText = new Map<string, Claim>();
  private failures: Array<[string, number]> = [];
  private flushing = false;

  constructor(
    private readonly shard: ShardContext,
    private readonly onError: (e: Error) => void,
  ) {}

  bind(auth: DigestAuth): void {
    this.auth = auth;
  }

  // ---- MessagePrefetcher ----------------------------------------------------------------------

  prefetcher(): MessagePrefetcher {
    return { wants: (m) => this.wants(m), load: (m) => this.load(m), done: (m) => this.done(m) };
  }

  /** cheap: a request that can be challenged, with credentials headers. */
  wants(msg: SipMessage): boolean {
    const m = msg.method;
    if (m === 'ACK' || m === 'CANCEL' || m === 'PRACK') return false;
    return msg.headerCount('authorization') > 0 || msg.headerCount('proxy-authorization') > 0;
  }

  /** claims the use of every acceptable nonce in `msg` (forged / expired ones are refused without asking); never rejects. */
  async load(msg: SipMessage): Promise<void> {
    const auth = this.auth;
    const main = this.shard.main;
    if (auth === null || main === null) return;
    const claims: Array<[DigestCredentials, Claim]> = [];
    this.byMsg.set(msg, claims);
    let print: RequestPrint | null = null;
    const asks: Array<Promise<void>> = [];
    for (const cred of auth.peekCredentials(msg).slice(0, MAX_CLAIMS)) {
      const fields = auth.acceptableFields(cred);
      if (fields === null) continue;
      const nc = cred.qop !== null && cred.nc !== null ? parseInt(cred.nc, 16) : null;
      print ??= printOfMessage(msg);
      const claim: Claim = { fields, nc, print, status: undefined, settled: false };
      claims.push([cred, claim]);
      this.byCred.set(cred, claim);
      this.byText.set(textOf(cred), claim);
      asks.push(
        main.call(AUTH_SERVICE, 'claim', [fields, nc, print]).then(
          (r) => void (claim.status = r as ReplayStatus),
          (e: unknown) => this.onError(e as Error),
        ),
      );
    }
    await Promise.all(asks);
  }

  /** routing ended: holds of uses that were not accepted are released. */
  done(msg: SipMessage): void {
    const claims = this.byMsg.get(msg);
    if (claims === undefined) return;
    this.byMsg.delete(msg);
    for (const [cred, c] of claims) {
      this.byCred.delete(cred);
      this.byText.delete(textOf(cred));
      if (c.status === ReplayStatus.OK && !c.settled) this.settle(c, false);
    }
  }

  // ---- ReplayGate -----------------------------------------------------------------------------

  status(cred: DigestCredentials): ReplayStatus | undefined {
    return this.claimOf(cred)?.status;
  }

  private claimOf(cred: DigestCredentials): Claim | undefined {
    return this.byCred.get(cred) ?? this.byText.get(textOf(cred));
  }

  accepted(cred: DigestCredentials): void {
    const c = this.claimOf(cred);
    if (c !== undefined && c.status === ReplayStatus.OK && !c.settled) this.settle(c, true);
  }

  failed(username: string, at: number): void {
    if (this.failures.length >= MAX_FAILURE_BATCH) return; // the batch is full until this turn ends
    this.failures.push([username, at]);
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => void this.flushFailures());
    }
  }

  /** sends the batched failures now (also at the end of the loop turn they were counted in). */
  flushFailures(): Promise<void> {
    this.flushing = false;
    const list = this.failures;
    if (list.length === 0 || this.shard.main === null) return Promise.resolve();
    this.failures = [];
    return this.shard.main.call(AUTH_SERVICE, 'failed', [list]).then(
      () => undefined,
      (e: unknown) => this.onError(e as Error),
    );
  }

  private settle(c: Claim, ok: boolean): void {
    c.settled = true;
    const main = this.shard.main;
    if (main === null) return;
    // ordered on the port: a later claim from this shard for the same nonce is answered after this is applied
    main.call(AUTH_SERVICE, 'settle', [c.fields, c.nc, c.print, ok]).catch((e: unknown) => this.onError(e as Error));
  }
}
