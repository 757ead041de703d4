/**
 * DigestAuth: challenges, nonce checks and response verification (Kamailio auth: challenge.c,
 * nonce.c, api.c pre_auth / auth_check_response). Implements the DigestAuthApi the credential
 * backends call (api.ts) and backs the plugin functions of abi.ts.
 */
import { timingSafeEqual } from 'node:crypto';
import { hashBytes } from '../../core/hash.js';
import type { MessageContext } from '../../core/context.js';
import { uriHost } from '../../core/pv.js';
import { DIGEST_LIMITS, parseDigestCredentials, type DigestAlgorithm, type DigestAuthState, type DigestCredentials } from '../../sip/digest.js';
import type { HeaderField, SipMessage } from '../../sip/types.js';
import {
  AUTH_ERROR, AUTH_INVALID_PASSWORD, AUTH_NO_CREDENTIALS, AUTH_NONCE_REUSED, AUTH_OK, AUTH_STALE_NONCE,
  type AuthCode, type AuthHeader, type DigestAuthApi, type DigestSecret, type FoundCredentials,
} from './api.js';
import type { AuthConfig } from './config.js';
import { digestResponse, ha1Of, hashOf, hexLength } from './hash.js';
import { NonceCodec, NonceTable, ReplayStatus, type NonceFields, type RequestPrint } from './nonce.js';
import { AuthStats, FailureTable } from './stats.js';

/** challenge flags (Kamailio www_challenge / proxy_challenge / auth_challenge). */
export const CHALLENGE_QOP_AUTH = 1;
export const CHALLENGE_QOP_AUTH_INT = 2;
/** no automatic 500 when the challenge cannot be built. */
export const CHALLENGE_NO_500 = 4;
/** verified nonces remembered by text (DigestAuth.verified): 4,096 × ~100 bytes. */
const VERIFIED_MAX = 4096;
export const CHALLENGE_STALE = 16;

/** challenge return codes (Kamailio auth_challenge_helper). */
export const CHALLENGE_SENT = 1;
export const CHALLENGE_BUILD_FAILED = -2;
export const CHALLENGE_SEND_FAILED = -3;
export const CHALLENGE_500_FAILED = -4;

/** where a failed verification is counted: pike, with a weight (wired in host/server/app.ts). */
export type FailureSink = (address: string, weight: number) => void;

export interface DigestAuthOptions {
  /** clock in ms (tests). */
  now?: () => number;
  /** the nonce table's process id and first nonce id (tests); random by default. */
  origin?: number;
  firstId?: number;
  /**
   * worker shards (`core.workers`, shard.ts): the nc / one-time state lives in shard 0 and is asked
   * before routing; this shard's own table is then not used.
   */
  replay?: ReplayGate;
}

/** Where a worker shard's DigestAuth reads and records the replay state (shard.ts WorkerReplay). */
export interface ReplayGate {
  /** what shard 0 answered for `cred`'s nonce before routing; undefined: not asked or no answer. */
  status(cred: DigestCredentials): ReplayStatus | undefined;
  /** the response matched: record the use in shard 0. */
  accepted(cred: DigestCredentials): void;
  /** a failure to show in shard 0's auth.failures. */
  failed?(username: string, at: number): void;
}

const HDR_KEY: Readonly<Record<AuthHeader, string>> = { www: 'authorization', proxy: 'proxy-authorization' };
const HEX = /^[0-9a-fA-F]+$/;
const NC = /^[0-9a-fA-F]{8}$/;
const BAD_REALM = /[\u0000-\u001f\u007f]/;
/** reply header lines beyond which no Authentication-Info is added (the runtime's reply_hdr_add bound is 64). */
const MAX_AUTHINFO_REPLY_HEADERS = 64;

export class DigestAuth implements DigestAuthApi {
  readonly stats = new AuthStats();
  readonly failures: FailureTable;
  readonly table: NonceTable;
  private readonly codec: NonceCodec;
  private readonly now: () => number;
  private sink: FailureSink | null = null;
  private readonly useTable: boolean;
  private readonly gate: ReplayGate | null;
  /** shard 0 of several: uses a worker shard holds (shard.ts ReplayOwner) refuse the same use here. */
  private held: ((f: NonceFields, nc: number | null, print: () => RequestPrint) => ReplayStatus | null) | null = null;
  /** worker shards: uses re-challenged because shard 0's replay state gave no answer (statistics `replay_unavailable`). */
  private replayUnavailable = 0;
  private fallbackId = 0;
  /** nonces findCredentials already decoded (verify does not pay the HMAC twice). */
  private readonly decoded = new WeakMap<DigestCredentials, NonceFields>();
  /**
   * Nonces whose signature verified lately, by text: auth_db's prefetch (nonceAcceptable) and the
   * check while routing read the same nonce, and a UA answers every challenge of a nonce's life with
   * it; one HMAC each was ~7 % of the CPU of an authenticated REGISTER pair. Only verified nonces
   * enter (a forged one costs its HMAC every time); at VERIFIED_MAX entries the map starts over.
   */
  private readonly verified = new Map<string, NonceFields>();

  constructor(readonly cfg: AuthConfig, secret: string | Buffer, opts: DigestAuthOptions = {}) {
    this.codec = new NonceCodec(secret);
    this.now = opts.now ?? Date.now;
    this.useTable = cfg.nonce_count || cfg.one_time_nonce;
    this.gate = opts.replay ?? null;
    // without replay checks, or with shard 0 keeping them, the table is not consulted: keep it minimal
    this.table = new NonceTable(this.useTable && this.gate === null ? cfg.nc_array_size : 1, opts.origin, opts.firstId);
    this.failures = new FailureTable(cfg.max_failure_users);
  }

  /** shard 0 of several shards: consults the uses worker shards hold before the table (shard.ts). */
  setHeldCheck(held: ((f: NonceFields, nc: number | null, print: () => RequestPrint) => ReplayStatus | null) | null): void {
    this.held = held;
  }

  /** counts failed verifications into pike (null: not counted). */
  setFailureSink(sink: FailureSink | null): void {
    this.sink = sink;
  }

  private nowSec(): number {
    return Math.floor(this.now() / 1000);
  }

  // ---- nonces ---------------------------------------------------------------------------------

  /** a fresh signed nonce (its replay slot reserved when nonce_count / one_time_nonce is on). */
  newNonce(): string {
    const now = this.nowSec();
    const expiry = now + this.cfg.nonce_expire;
    const id = this.useTable && this.gate === null ? this.table.issue(expiry, now) : (this.fallbackId = (this.fallbackId + 1) >>> 0);
    return this.codec.encode({ expiry, origin: this.table.origin, id });
  }

  // ---- challenges -----------------------------------------------------------------------------

  /**
   * The WWW-Authenticate ('www') or Proxy-Authenticate ('proxy') header lines of a challenge, one
   * per configured algorithm, sharing one nonce (Kamailio auth_get_challenge_hf_list; RFC 8760 §2.4:
   * the preferred algorithm first). null when the realm is unusable.
   */
  challengeHeaders(ctx: MessageContext, realm: string, flags: number, hdr: AuthHeader): string[] | null {
    const r = realmFor(ctx, realm);
    if (r === null || r.length > DIGEST_LIMITS.maxName || BAD_REALM.test(r)) return null;
    const stale = (flags & CHALLENGE_STALE) !== 0 || ctx.auth?.stale === true;
    // Kamailio: flag 2 offers auth-int, else flag 1 auth
    const qop = (flags & CHALLENGE_QOP_AUTH_INT) !== 0 ? 'auth-int' : (flags & CHALLENGE_QOP_AUTH) !== 0 ? 'auth' : null;
    const nonce = this.newNonce();
    const name = hdr === 'www' ? 'WWW-Authenticate' : 'Proxy-Authenticate';
    let common = `Digest realm="${quote(r)}", nonce="${nonce}"`;
    if (this.cfg.opaque !== '') common += `, opaque="${this.cfg.opaque}"`;
    if (stale) common += ', stale=true';
    const tail = qop === null ? '' : `, qop="${qop}"`;
    return this.cfg.algorithms.map((alg) => `${name}: ${common}, algorithm=${alg}${tail}`);
  }

  /** the fields of a nonce we signed (cached once verified), or null. */
  private decodeNonce(text: string): NonceFields | null {
    const hit = this.verified.get(text);
    if (hit !== undefined) return hit;
    const f = this.codec.decode(text);
    if (f !== null) {
      if (this.verified.size >= VERIFIED_MAX) this.verified.clear();
      this.verified.set(text, f);
    }
    return f;
  }

  /**
   * www_challenge (401) / proxy_challenge (407): sends the challenge. 1 sent, -2 not built (a 500
   * is sent unless flag 4), -3 not sent, -4 the 500 not sent either.
   */
  challenge(ctx: MessageContext, realm: string, flags: number, hdr: AuthHeader): number {
    const headers = ctx.msg.kind === 'request' && ctx.msg.method !== 'ACK' ? this.challengeHeaders(ctx, realm, flags, hdr) : null;
    if (headers === null) {
      this.stats.challenge_errors++;
      if ((flags & CHALLENGE_NO_500) !== 0 || ctx.msg.method === 'ACK') return CHALLENGE_BUILD_FAILED;
      const sent = ctx.slReply(500, 'Internal Server Error');
      if (sent) ctx.replied = true;
      return sent ? CHALLENGE_BUILD_FAILED : CHALLENGE_500_FAILED;
    }
    const sent = hdr === 'www' ? ctx.slReply(401, 'Unauthorized', headers) : ctx.slReply(407, 'Proxy Authentication Required', headers);
    if (!sent) {
      this.stats.challenge_errors++;
      return CHALLENGE_SEND_FAILED;
    }
    ctx.replied = true;
    if (hdr === 'www') this.stats.challenges_www++;
    else this.stats.challenges_proxy++;
    return CHALLENGE_SENT;
  }

  // ---- credentials ----------------------------------------------------------------------------

  findCredentials(ctx: MessageContext, realm: string, hdr: AuthHeader): FoundCredentials {
    const m = ctx.msg.method;
    // RFC 3261 §22.1: ACK and CANCEL cannot be challenged; Kamailio pre_auth also lets PRACK through
    if (m === 'ACK' || m === 'CANCEL' || m === 'PRACK') return { code: AUTH_OK, cred: null };
    const r = realmFor(ctx, realm);
    const { cred, bad } = scan(ctx.msg, hdr, r);
    if (cred === null) {
      if (bad) {
        this.stats.failed_credentials++;
        this.fail(ctx, null);
        return { code: AUTH_ERROR, cred: null };
      }
      this.stats.no_credentials++;
      return { code: AUTH_NO_CREDENTIALS, cred: null };
    }
    const st = stateOf(ctx);
    st.cred = cred;
    st.authorized = false;
    st.stale = false;
    if (!this.shapeOk(cred)) {
      this.stats.failed_credentials++;
      this.fail(ctx, cred);
      return { code: AUTH_ERROR, cred };
    }
    const n = this.checkNonce(ctx, cred);
    return n.code === AUTH_OK ? { code: AUTH_OK, cred } : { code: n.code as -1 | -4 | -6, cred };
  }

  verify(ctx: MessageContext, cred: DigestCredentials, secret: DigestSecret, method: string = ctx.msg.method): AuthCode {
    const st = stateOf(ctx);
    st.cred = cred;
    st.authorized = false;
    if (!this.shapeOk(cred)) {
      this.stats.failed_credentials++;
      this.fail(ctx, cred);
      return AUTH_ERROR;
    }
    const n = this.checkNonce(ctx, cred, true);
    if (n.code !== AUTH_OK) return n.code;
    const alg = cred.algorithm!;
    let ha1: string | undefined;
    if (secret.password !== undefined) ha1 = ha1Of(alg, cred.username, cred.realm, secret.password);
    else ha1 = hashOf(alg) === 'md5' ? secret.ha1 : secret.ha1Sha256;
    if (ha1 === undefined || ha1.length !== hexLength(hashOf(alg)) || !HEX.test(ha1)) {
      // the backend has nothing for this algorithm (or a malformed HA1): not the client's fault
      this.stats.failed_credentials++;
      return AUTH_ERROR;
    }
    const expected = digestResponse({
      algorithm: alg, ha1, nonce: cred.nonce!, cnonce: cred.cnonce, nc: cred.nc, qop: cred.qop,
      method, uri: cred.uri!, body: cred.qop === 'auth-int' ? ctx.msg.body : undefined,
    });
    const got = cred.response!.toLowerCase();
    if (expected === null || !constantTimeEqual(expected, got)) {
      this.stats.failed_password++;
      this.fail(ctx, cred);
      return AUTH_INVALID_PASSWORD;
    }
    if (this.useTable && n.retransmission !== true) {
      if (this.gate !== null) this.gate.accepted(cred);
      else this.table.commit(n.fields!, n.nc, this.cfg.nonce_count, this.nowSec(), this.cfg.retransmission_window > 0 ? printOf(ctx) : undefined);
    }
    st.authorized = true;
    this.stats.ok++;
    if (this.cfg.add_authinfo_hdr && cred.qop === 'auth') this.addAuthInfo(ctx, cred, alg, ha1);
    return AUTH_OK;
  }

  countFailure(ctx: MessageContext, cred: DigestCredentials | null, _code: AuthCode): void {
    this.stats.failed_user++;
    this.fail(ctx, cred);
  }

  peekCredentials(msg: SipMessage): DigestCredentials[] {
    const out: DigestCredentials[] = [];
    const fields = msg.fields();
    let seenW = 0;
    let seenP = 0;
    for (let i = 0; i < fields.length; i++) {
      const k = fields[i].key;
      if (k === 'authorization' && seenW < DIGEST_LIMITS.maxHeaders) {
        const c = credentialsOf(fields[i], 'www', seenW++);
        if (c) out.push(c);
      } else if (k === 'proxy-authorization' && seenP < DIGEST_LIMITS.maxHeaders) {
        const c = credentialsOf(fields[i], 'proxy', seenP++);
        if (c) out.push(c);
      }
    }
    return out;
  }

  nonceAcceptable(cred: DigestCredentials): boolean {
    return this.acceptableFields(cred) !== null;
  }

  /** the fields of `cred`'s nonce when nonceAcceptable (signed by us, not expired), else null. */
  acceptableFields(cred: DigestCredentials): NonceFields | null {
    const f = cred.nonce === null ? null : this.decodeNonce(cred.nonce);
    if (f === null) return null;
    const now = this.nowSec();
    // the window checkNonce() accepts (expiry, drift), nothing counted
    return f.expiry >= now && f.expiry <= now + this.cfg.nonce_expire + this.cfg.nonce_auth_max_drift ? f : null;
  }

  /** the current time in seconds on this DigestAuth's clock (shard.ts). */
  clockSec(): number {
    return this.nowSec();
  }

  /** has_credentials(realm): 1 when an Authorization or Proxy-Authorization header has that realm, else -1. */
  hasCredentials(ctx: MessageContext, realm: string): number {
    const r = realmFor(ctx, realm);
    return scan(ctx.msg, 'www', r).cred !== null || scan(ctx.msg, 'proxy', r).cred !== null ? 1 : -1;
  }

  /** consume_credentials(): removes the header of the marked credentials. 1 removed, -1 none marked. */
  consumeCredentials(ctx: MessageContext): number {
    const st = ctx.auth;
    if (!st || st.cred === null || st.consumed === true) return -1;
    const n = ctx.msg.removeHeader(HDR_KEY[st.cred.hdr], st.cred.index);
    st.consumed = true;
    return n > 0 ? 1 : -1;
  }

  statistics(): Record<string, number> {
    // worker shards: the nonce table and the failure table that count are shard 0's (README "Shards")
    if (this.gate !== null) return { ...this.stats, replay_unavailable: this.replayUnavailable };
    return {
      ...this.stats,
      nonces_evicted: this.table.evicted,
      failure_users: this.failures.size,
      failure_users_evicted: this.failures.evicted,
    };
  }

  // ---- internals ------------------------------------------------------------------------------

  /**
   * Kamailio add_authinfo_hdr (RFC 7616 §3.5, RFC 2617 §3.2.3): an Authentication-Info on the reply
   * with rspauth (the response over A2 = ":" digest-uri, proving we know the HA1) and nextnonce
   * (a fresh nonce with one_time_nonce, else the current one). qop=auth only: for auth-int rspauth
   * would cover the reply's body, which is not built yet (Kamailio leaves that as a TODO too).
   */
  private addAuthInfo(ctx: MessageContext, cred: DigestCredentials, alg: DigestAlgorithm, ha1: string): void {
    const rspauth = digestResponse({ algorithm: alg, ha1, nonce: cred.nonce!, cnonce: cred.cnonce, nc: cred.nc, qop: 'auth', method: '', uri: cred.uri! });
    if (rspauth === null) return;
    const next = this.cfg.one_time_nonce ? this.newNonce() : cred.nonce!;
    const lines = (ctx.replyHeaders ??= []);
    if (lines.length >= MAX_AUTHINFO_REPLY_HEADERS) return;
    lines.push(`Authentication-Info: nextnonce="${next}", qop=auth, rspauth="${rspauth}", cnonce="${quote(cred.cnonce!)}", nc=${cred.nc}`);
  }

  /** the fields a response needs, and an algorithm / qop / opaque we accept (else AUTH_ERROR). */
  private shapeOk(c: DigestCredentials): boolean {
    if (c.nonce === null || c.uri === null || c.response === null || c.userhash) return false;
    if (c.algorithm === null || !this.cfg.algorithms.includes(c.algorithm)) return false; // no downgrade to an algorithm we do not offer
    if (c.qop !== null) {
      if (c.qop !== 'auth' && c.qop !== 'auth-int') return false;
      if (c.nc === null || !NC.test(c.nc) || c.cnonce === null) return false; // RFC 7616 §3.4: nc and cnonce with qop
    }
    if ((c.algorithm === 'MD5-sess' || c.algorithm === 'SHA-256-sess') && c.cnonce === null) return false;
    if (this.cfg.opaque !== '' && c.opaque !== this.cfg.opaque) return false;
    return c.response.length > 0 && c.response.length <= 128;
  }

  /** signature, expiry, then the nc / one-time state (read only: verify commits). `verifying`: count retransmissions once, in verify. */
  private checkNonce(ctx: MessageContext, cred: DigestCredentials, verifying = false): { code: AuthCode; fields?: NonceFields; nc: number | null; retransmission?: boolean } {
    let f = this.decoded.get(cred) ?? null;
    if (f === null) {
      f = this.decodeNonce(cred.nonce!);
      if (f !== null) this.decoded.set(cred, f);
    }
    const nc = cred.qop !== null && cred.nc !== null ? parseInt(cred.nc, 16) : null;
    if (f === null) {
      // not one of ours: forged, or signed with another secret (a node of another cluster, a secret
      // that changed, a data_dir that was reset). Kamailio answers -1 here and kamailio.cfg challenges
      // again on any failure; siphon answers -4 with stale=true so that -1 keeps meaning "could not
      // check" (malformed credentials, the subscriber lookup failed: the route answers 500), and a
      // phone holding an old nonce gets a fresh one without asking its user. Still a failure for pike.
      this.stats.failed_nonce++;
      this.fail(ctx, cred);
      stateOf(ctx).stale = true;
      return { code: AUTH_STALE_NONCE, nc };
    }
    const now = this.nowSec();
    // expired, or from further in the future than a freshly issued one plus the clock drift allows
    if (f.expiry < now || f.expiry > now + this.cfg.nonce_expire + this.cfg.nonce_auth_max_drift) {
      this.stats.stale++;
      stateOf(ctx).stale = true;
      return { code: AUTH_STALE_NONCE, nc };
    }
    if (this.useTable) {
      let r: ReplayStatus;
      if (this.gate !== null) {
        const asked = this.gate.status(cred);
        if (asked === undefined) {
          // shard 0 was not asked or did not answer: the use cannot be proven new, so re-challenge
          this.replayUnavailable++;
          stateOf(ctx).stale = true;
          return { code: AUTH_STALE_NONCE, nc };
        }
        r = asked;
      } else {
        r = (this.held !== null ? this.held(f, nc, () => printOf(ctx)) : null) ?? this.table.check(f, nc, this.cfg.nonce_count, this.cfg.one_time_nonce, () => printOf(ctx), now, this.cfg.retransmission_window);
      }
      if (r === ReplayStatus.RETRANSMISSION) {
        if (verifying) this.stats.retransmissions++;
        return { code: AUTH_OK, fields: f, nc, retransmission: true };
      }
      if (r === ReplayStatus.STALE) {
        this.stats.replayed++;
        stateOf(ctx).stale = true;
        return { code: AUTH_STALE_NONCE, nc };
      }
      if (r === ReplayStatus.REUSED) {
        this.stats.reused++;
        return { code: AUTH_NONCE_REUSED, nc };
      }
    }
    return { code: AUTH_OK, fields: f, nc };
  }

  private fail(ctx: MessageContext, cred: DigestCredentials | null): void {
    if (cred !== null) {
      if (this.gate?.failed !== undefined) this.gate.failed(cred.username, this.now());
      else this.failures.add(cred.username, this.now());
    }
    if (this.sink !== null && this.cfg.pike_weight > 0) {
      this.stats.pike_counted++;
      this.sink(ctx.source.address, this.cfg.pike_weight);
    }
  }
}

/** the retransmission check's print of a request: 64 bits of SHA-256 over its bytes as received. */
function printOf(ctx: MessageContext): RequestPrint {
  return printOfMessage(ctx.msg);
}

export function printOfMessage(msg: SipMessage): RequestPrint {
  const d = hashBytes('sha256', msg.raw);
  return { hi: d.readUInt32BE(0), lo: d.readUInt32BE(4) };
}

function stateOf(ctx: MessageContext): DigestAuthState {
  return (ctx.auth ??= { cred: null, authorized: false, stale: false });
}

/**
 * The realm a function was given; '' means the To host for REGISTER and the From host otherwise
 * (Kamailio's challenge and authorize functions, and its docs' $td / $fd advice).
 */
function realmFor(ctx: MessageContext, realm: string): string | null {
  if (realm !== '') return realm;
  const na = ctx.msg.method === 'REGISTER' ? ctx.msg.to : ctx.msg.from;
  return na ? uriHost(na.uri) : null;
}

/** the first parsable credentials of `hdr` with that realm (at most maxHeaders looked at). */
/**
 * The parsed credentials of one header field, parsed once: auth_db's prefetch (peekCredentials) and
 * the checks while routing (findCredentials, has_credentials) read the same fields of a message.
 * Keyed by the field object, which the message keeps until a header edit replaces its field list;
 * a field's kind and its index among its kind do not change while it lives.
 */
const parsedFields = new WeakMap<HeaderField, DigestCredentials | null>();

function credentialsOf(field: HeaderField, hdr: AuthHeader, index: number): DigestCredentials | null {
  let c = parsedFields.get(field);
  if (c === undefined) {
    c = parseDigestCredentials(field.value, hdr, index);
    parsedFields.set(field, c);
  }
  return c;
}

function scan(msg: SipMessage, hdr: AuthHeader, realm: string | null): { cred: DigestCredentials | null; bad: boolean } {
  const key = HDR_KEY[hdr];
  const fields = msg.fields();
  let seen = 0;
  let bad = false;
  for (let i = 0; i < fields.length && seen < DIGEST_LIMITS.maxHeaders; i++) {
    if (fields[i].key !== key) continue;
    const c = credentialsOf(fields[i], hdr, seen++);
    if (c === null) bad = true;
    else if (realm !== null && c.realm === realm) return { cred: c, bad };
  }
  return { cred: null, bad };
}

/** RFC 3261 §25.1 quoted-string content: '"' and '\' escaped. */
function quote(s: string): string {
  return s.replace(/["\\]/g, (c) => '\\' + c);
}

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'));
}
