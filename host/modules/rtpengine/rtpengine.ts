/**
 * Media relay control (Kamailio rtpengine): one set of rtpengine instances, the ng commands a call
 * needs (offer, answer, delete, ping), failover and disabling of instances that do not answer.
 *
 * Plugin hooks are synchronous, the ng protocol is not: rtpengine_offer()/answer()/manage() only
 * record a MediaOp on the message context (abi.ts); the proxy asks `gate(ctx)` after the hook
 * returned and before the request's branches or the reply leave (host/proxy/media-gate.ts), and the
 * message goes on once rtpengine answered, with rtpengine's SDP as its body. rtpengine_delete() is
 * sent at once and never waited for (Kamailio waits for the delete's answer; nothing depends on it).
 *
 * Instance choice (Kamailio's): the call's instance when it has one (every command of a call must
 * reach the instance holding its session), else a weighted hash of the Call-ID over the enabled
 * instances. An instance that lets an ng request time out is disabled for rtpengine_disable_tout
 * seconds, then pinged (or tried again by the next new call); an offer that timed out moves on to
 * the next instance (failover). Disabled by RPC (rtpengine.enable url 0) stays disabled until enabled.
 */
import type { Logger } from 'pino';
import type { MessageContext } from '../../core/context.js';
import { Errors } from '../../errors/registry.js';
import type { BDict } from './bencode.js';
import type { InstanceSpec, RtpengineConfig } from './config.js';
import { NgClient } from './ng-client.js';
import type { RtpengineStats } from './stats.js';

export type NgCommand = 'offer' | 'answer' | 'delete';

/** What rtpengine_offer/answer/manage recorded on a message (ctx.media) for the gate. */
export interface MediaOp {
  command: 'offer' | 'answer';
  /** the ng keys the flags string set (flags.ts). */
  flags: BDict;
  /** from-tag/to-tag swapped: an offer in a reply, an answer in a request (late offer: 200 offers, ACK answers). */
  swap: boolean;
}

export class RtpengineInstance {
  /** disabled after a timeout (until recheckAt) or by RPC (manual: until enabled by RPC). */
  disabled = false;
  manual = false;
  recheckAt = 0;
  /** a recheck ping is in flight. */
  probing = false;
  /** ng requests sent to it and timed out. */
  sent = 0;
  timeouts = 0;
  constructor(readonly spec: InstanceSpec) {}
}

interface Session {
  inst: RtpengineInstance | null;
  /** the offer was in the INVITE (manage answers in the reply) or in the reply (late offer). */
  offerIn: 'request' | 'reply';
}

/** FNV-1a over a string's UTF-16 units (Call-ID → instance; linear, no allocation). */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class Rtpengine {
  readonly instances: RtpengineInstance[];
  readonly client: NgClient;
  /** Call-ID → its instance and where its offer was (bounded: max_sessions, oldest forgotten). */
  private readonly sessions = new Map<string, Session>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly cfg: RtpengineConfig,
    specs: InstanceSpec[],
    readonly stats: RtpengineStats,
    private readonly log: Logger,
  ) {
    this.instances = specs.map((s) => new RtpengineInstance(s));
    this.client = new NgClient(cfg.rtpengine_tout_ms, cfg.rtpengine_retr, cfg.max_pending, stats);
  }

  /** the recheck timer: disabled instances whose rtpengine_disable_tout ran out are pinged. */
  start(): void {
    if (this.timer !== null) return;
    const every = Math.min(this.cfg.rtpengine_disable_tout, 10) * 1000;
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const i of this.instances) if (i.disabled && !i.manual && !i.probing && now >= i.recheckAt) void this.recheck(i);
    }, every);
    this.timer.unref?.();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  // ---- what the imports record -------------------------------------------------------------

  /** the call's offer was recorded (manage() in the reply then answers). */
  noteOffer(callId: string, offerIn: 'request' | 'reply'): void {
    const s = this.sessions.get(callId);
    if (s !== undefined) {
      s.offerIn = offerIn;
      return;
    }
    if (this.sessions.size >= this.cfg.max_sessions) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
      this.stats.sessionsEvicted++;
    }
    this.sessions.set(callId, { inst: null, offerIn });
  }

  /** where the call's offer was; undefined when no offer was recorded for it here. */
  offerOf(callId: string): 'request' | 'reply' | undefined {
    return this.sessions.get(callId)?.offerIn;
  }

  /** an instance may take a new command: one is enabled, or a disabled one is due for its recheck (Kamailio: -1 when none). */
  available(): boolean {
    const now = Date.now();
    return this.instances.some((i) => !i.disabled || (!i.manual && now >= i.recheckAt));
  }

  // ---- the gate: offer / answer before the message leaves -----------------------------------

  /**
   * The ng request of the MediaOp recorded on `ctx` (ctx.media, cleared now); null when there is
   * none (the message path without rtpengine never waits). Resolves with 0 when the message may
   * go on (its SDP replaced, or unchanged after a failure), or the status to answer a request with
   * (failure_reply). Never rejects.
   */
  gate(ctx: MessageContext): Promise<number> | null {
    const op = ctx.media as MediaOp | undefined;
    if (op === undefined) return null;
    ctx.media = undefined;
    return this.perform(ctx, op).catch((e: unknown) => {
      ctx.log.error({ err: (e as Error).message }, 'rtpengine: internal error');
      return this.failed(ctx, op, 'internal error');
    });
  }

  private async perform(ctx: MessageContext, op: MediaOp): Promise<number> {
    const msg = ctx.msg;
    const fromTag = msg.from?.tag ?? '';
    const toTag = msg.to?.tag ?? '';
    const dict: BDict = Object.assign(Object.create(null) as BDict, op.flags);
    dict['command'] = op.command;
    dict['call-id'] ??= msg.callId;
    dict['from-tag'] ??= op.swap ? toTag : fromTag;
    if (op.command === 'answer' || (op.swap ? fromTag : toTag) !== '') dict['to-tag'] ??= op.swap ? fromTag : toTag;
    dict['sdp'] = msg.body.toString('utf8');
    // Kamailio sends where the message came from: rtpengine uses it unless trust-address is set
    dict['received-from'] = [ctx.source.family === 6 ? 'IP6' : 'IP4', ctx.source.address];
    const answer = await this.command(dict, msg.callId, op.command === 'offer');
    const sdp = answer?.['sdp'];
    if (answer === null || typeof sdp !== 'string') return this.failed(ctx, op, answer === null ? 'no instance answered' : 'answer without sdp');
    msg.setBody(Buffer.from(sdp, 'utf8'));
    if (op.command === 'offer') this.stats.offers++;
    else this.stats.answers++;
    return 0;
  }

  private failed(ctx: MessageContext, op: MediaOp, why: string): number {
    this.stats.failures++;
    const reject = ctx.msg.kind === 'request' && ctx.msg.method !== 'ACK' ? this.cfg.failure_reply : 0;
    if (reject > 0) this.stats.rejected++;
    ctx.log.warn({ code: Errors.RTPENGINE_FAILED.code, command: op.command, why, reply: reject || undefined }, `rtpengine ${op.command} failed: ${reject > 0 ? `answered ${reject}` : 'SDP left unchanged'} [E7601]`);
    return reject;
  }

  /**
   * rtpengine_delete(): sent now to the call's instance, not waited for. false when no instance is
   * enabled (or max_pending requests wait).
   */
  deleteNow(ctx: MessageContext, flags: BDict): boolean {
    const msg = ctx.msg;
    const callId = typeof flags['call-id'] === 'string' ? flags['call-id'] : msg.callId;
    const inst = this.pick(callId, new Set());
    if (inst === null || !this.client.hasRoom) return false;
    const dict: BDict = Object.assign(Object.create(null) as BDict, flags);
    dict['command'] = 'delete';
    dict['call-id'] = callId;
    dict['from-tag'] ??= msg.from?.tag ?? '';
    this.sessions.delete(callId);
    this.stats.deletes++;
    inst.sent++;
    void this.client.request(inst.spec, dict).then((a) => {
      if (a === null) this.disable(inst);
      else if (a['result'] === 'error') ctx.log.debug({ reason: a['error-reason'] }, 'rtpengine delete answered an error');
    });
    return true;
  }

  /**
   * One ng command for a call: its instance (or a new one), and with `failover` the next enabled
   * instance after a timeout. The answer dictionary, or null (every instance tried timed out, or
   * rtpengine answered an error, or max_pending requests wait).
   */
  async command(dict: BDict, callId: string, failover: boolean): Promise<BDict | null> {
    const tried = new Set<RtpengineInstance>();
    for (;;) {
      const inst = this.pick(callId, tried);
      if (inst === null) return null;
      if (!this.client.hasRoom) {
        this.stats.pendingRefused++;
        this.log.warn({ code: Errors.RTPENGINE_BUSY.code, max: this.cfg.max_pending }, 'rtpengine: max_pending ng requests waiting [E7602]');
        return null;
      }
      tried.add(inst);
      inst.sent++;
      const answer = await this.client.request(inst.spec, dict);
      if (answer !== null) {
        if (inst.disabled && !inst.manual) inst.disabled = false; // a recheck by use
        const s = this.sessions.get(callId);
        if (s !== undefined) s.inst = inst;
        if (answer['result'] === 'error') {
          this.stats.errorAnswers++;
          this.log.warn({ instance: inst.spec.url, command: dict['command'], reason: String(answer['error-reason'] ?? '').slice(0, 200) }, 'rtpengine answered an error');
          return null;
        }
        return answer;
      }
      this.disable(inst);
      const s = this.sessions.get(callId);
      if (s !== undefined && s.inst === inst) s.inst = null;
      if (!failover) return null;
      this.stats.failovers++;
    }
  }

  /**
   * The instance for a call: its own when enabled, else a weighted hash of the Call-ID over the
   * enabled instances not in `tried`; a disabled one whose recheck time passed when none is enabled.
   */
  private pick(callId: string, tried: Set<RtpengineInstance>): RtpengineInstance | null {
    const own = this.sessions.get(callId)?.inst;
    if (own != null && !own.disabled && !tried.has(own)) return own;
    let total = 0;
    for (const i of this.instances) if (!i.disabled && !tried.has(i)) total += i.spec.weight;
    if (total === 0) {
      const now = Date.now();
      return this.instances.find((i) => i.disabled && !i.manual && now >= i.recheckAt && !tried.has(i)) ?? null;
    }
    let at = hash32(callId) % total;
    for (const i of this.instances) {
      if (i.disabled || tried.has(i)) continue;
      if (at < i.spec.weight) return i;
      at -= i.spec.weight;
    }
    return null;
  }

  private disable(inst: RtpengineInstance): void {
    inst.timeouts++;
    inst.recheckAt = Date.now() + this.cfg.rtpengine_disable_tout * 1000;
    if (inst.disabled) return;
    inst.disabled = true;
    this.stats.instancesDisabled++;
    this.log.warn({ code: Errors.RTPENGINE_DISABLED.code, instance: inst.spec.url, seconds: this.cfg.rtpengine_disable_tout }, 'rtpengine instance did not answer: disabled [E7603]');
  }

  // ---- ping, RPC ---------------------------------------------------------------------------

  /** ng `ping`: true on `pong`. */
  async ping(inst: RtpengineInstance): Promise<boolean> {
    inst.sent++;
    const a = await this.client.request(inst.spec, { command: 'ping' });
    return a !== null && a['result'] === 'pong';
  }

  private async recheck(inst: RtpengineInstance): Promise<void> {
    inst.probing = true;
    try {
      if (await this.ping(inst)) {
        if (!inst.manual) inst.disabled = false;
        this.log.info({ instance: inst.spec.url }, 'rtpengine instance answers again: enabled');
      } else {
        inst.recheckAt = Date.now() + this.cfg.rtpengine_disable_tout * 1000;
      }
    } finally {
      inst.probing = false;
    }
  }

  /** instances an RPC parameter names: a URL, or "all". */
  select(which: string): RtpengineInstance[] {
    return which === 'all' ? this.instances : this.instances.filter((i) => i.spec.url === which);
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.client.close();
  }
}
