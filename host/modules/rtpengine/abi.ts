/**
 * Plugin imports, namespace `rtpengine` (ABI 1.3; Kamailio rtpengine's functions, same names, one
 * flags string each): rtpengine_offer(flags), rtpengine_answer(flags), rtpengine_manage(flags),
 * rtpengine_delete(flags). README.md "Functions for plugins".
 *
 * Hooks are synchronous: offer/answer/manage record the command on the message (ctx.media) and
 * return; the host sends it to rtpengine after the hook returns and before the request's branches
 * or the reply leave, and replaces the SDP with rtpengine's (rtpengine.ts `gate`). Their 1 means
 * "recorded", not "rtpengine answered": a later failure leaves the SDP unchanged, or answers the
 * request with modules.rtpengine.failure_reply (README "Failures"). rtpengine_delete() sends at once
 * and does not wait.
 *
 * Returns (Kamailio: 1 success, -1 failure): 1 recorded / sent; -1 nothing to do or cannot (no
 * SDP body, not an INVITE/ACK/reply where an SDP is negotiated, no rtpengine instance enabled,
 * a flags string refused: longer than 1024 bytes, over 64 tokens, a bad token); -3 flags string
 * outside guest memory; -4 no message in this hook; -7 internal (logged).
 * Gas: 20 per import call (the wrapper) + 50 + 1 per 8 bytes of flags and of the SDP body.
 */
import type { MessageContext } from '../../core/context.js';
import type { SipMessage } from '../../sip/types.js';
import type { HostCallApi, ImportProvider } from '../../wasm/types.js';
import { MAX_FLAGS_LENGTH, parseFlags } from './flags.js';
import type { BDict } from './bencode.js';
import type { MediaOp, Rtpengine } from './rtpengine.js';

type Fn = (...args: never[]) => number;

const OK = 1;
const FALSE = -1;
const INVALID_MEMORY = -3;
const NO_MESSAGE = -4;
const INTERNAL = -7;
/** an ng exchange is host work beyond the call itself. */
const GAS_BASE = 50;

const bytesGas = (n: number): number => (n + 7) >>> 3;

/** the message carries an SDP body (Content-Type application/sdp, RFC 3264 §5 / RFC 4566). */
export function hasSdp(msg: SipMessage): boolean {
  if (msg.body.length === 0) return false;
  const type = msg.header('content-type');
  return type !== undefined && type.trim().toLowerCase().startsWith('application/sdp');
}

export class RtpengineImports implements ImportProvider {
  readonly namespace = 'rtpengine';

  constructor(private readonly engine: Rtpengine) {}

  functions(api: HostCallApi): Record<string, Fn> {
    const engine = this.engine;
    /** reads and parses the flags, runs f; maps the statuses of a missing message, bad memory, a throw. */
    const withFlags = (name: string, p: number, l: number, f: (ctx: MessageContext, flags: BDict) => number): number => {
      api.charge(GAS_BASE + bytesGas(Math.max(l, 0)));
      const ctx = api.current();
      if (ctx === null) return NO_MESSAGE;
      if (l < 0 || l > MAX_FLAGS_LENGTH) return FALSE;
      const text = l === 0 ? '' : api.readString(p, l);
      if (text === null) return INVALID_MEMORY;
      const parsed = parseFlags(text);
      if (!parsed.ok) {
        ctx.log.warn({ fn: name, reason: parsed.reason }, 'rtpengine: flags refused');
        return FALSE;
      }
      try {
        return f(ctx, parsed.dict);
      } catch (e) {
        ctx.log.error({ err: (e as Error).message, fn: name }, 'rtpengine import failed');
        return INTERNAL;
      }
    };
    /** records an offer or answer on the message, when it has an SDP and an instance may take it. */
    const record = (ctx: MessageContext, command: MediaOp['command'], flags: BDict): number => {
      const msg = ctx.msg;
      if (!hasSdp(msg) || !engine.available()) return FALSE;
      api.charge(bytesGas(msg.body.length));
      const swap = command === 'offer' ? msg.kind === 'response' : msg.kind === 'request';
      ctx.media = { command, flags, swap } satisfies MediaOp;
      if (command === 'offer') engine.noteOffer(msg.callId, msg.kind === 'request' ? 'request' : 'reply');
      return OK;
    };
    const isInvite = (msg: SipMessage): boolean => (msg.kind === 'request' ? msg.method : msg.cseq?.method) === 'INVITE';

    return {
      rtpengine_offer: ((p: number, l: number) => withFlags('rtpengine_offer', p, l, (ctx, flags) => record(ctx, 'offer', flags))) as Fn,
      rtpengine_answer: ((p: number, l: number) => withFlags('rtpengine_answer', p, l, (ctx, flags) => record(ctx, 'answer', flags))) as Fn,
      rtpengine_delete: ((p: number, l: number) =>
        withFlags('rtpengine_delete', p, l, (ctx, flags) => (engine.deleteNow(ctx, flags) ? OK : FALSE))) as Fn,
      /**
       * rtpengine_manage(flags), Kamailio's choice of command from the message: a request — BYE or
       * CANCEL: delete; ACK with SDP: answer; INVITE/UPDATE with SDP: offer. A reply to an INVITE —
       * >= 300: delete; 1xx/2xx with SDP: answer when the INVITE carried the offer, else offer
       * (late offer: the ACK answers).
       */
      rtpengine_manage: ((p: number, l: number) =>
        withFlags('rtpengine_manage', p, l, (ctx, flags) => {
          const msg = ctx.msg;
          if (msg.kind === 'request') {
            const m = msg.method;
            if (m === 'BYE' || m === 'CANCEL') return engine.deleteNow(ctx, flags) ? OK : FALSE;
            if (m === 'ACK') return record(ctx, 'answer', flags);
            if (m === 'INVITE' || m === 'UPDATE') return record(ctx, 'offer', flags);
            return FALSE;
          }
          if (!isInvite(msg) || msg.status < 180) return FALSE;
          if (msg.status >= 300) return engine.deleteNow(ctx, flags) ? OK : FALSE;
          return record(ctx, engine.offerOf(msg.callId) === 'request' ? 'answer' : 'offer', flags);
        })) as Fn,
    };
  }
}
