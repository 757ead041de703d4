/**
 * The MessageContext of one received request (host/core/context.ts). Cheap to create: the variable
 * map and the Call-ID child logger are made on first use only, and replying goes through the
 * server object rather than a per-message closure.
 */
import type { Logger } from 'pino';
import type { Endpoint, MessageContext } from './context.js';
import type { SipMessage } from '../sip/types.js';
import type { Channel } from '../transport/types.js';
import { callLogger } from '../log/logger.js';

/** What a context needs from the server to send its replies. */
export interface ReplySender {
  replyTo(ctx: RequestContext, code: number, reason: string, extraHeaders?: readonly string[]): boolean;
}

export class RequestContext implements MessageContext {
  dstUri: string | null = null;
  replied = false;
  replyHeaders?: string[];
  replyBody?: { body: Buffer; contentType: string };
  tmState: unknown = undefined;
  /** MessageContext.floodChecked (pike's host check). */
  floodChecked = false;
  /** MessageContext.dialog (the dialog module); declared so every context has the same shape. */
  dialog: unknown = undefined;
  /** MessageContext.tx / .rr (flags and AVPs; record-routing), declared for the same reason. */
  tx: import('./avp.js').TxData | undefined = undefined;
  rr: import('../proxy/record-route.js').RrState | undefined = undefined;
  private varsMap: Map<string, string> | null = null;
  private logger: Logger | null = null;

  constructor(
    readonly id: number,
    readonly msg: SipMessage,
    readonly source: Endpoint,
    readonly channel: Channel,
    private readonly rootLog: Logger,
    private readonly sender: ReplySender,
  ) {}

  get local(): Endpoint {
    return this.channel.local;
  }

  get vars(): Map<string, string> {
    return (this.varsMap ??= new Map());
  }

  /** logger bound to this message's Call-ID, created when first used. */
  get log(): Logger {
    return (this.logger ??= callLogger(this.rootLog, this.msg.callId));
  }

  slReply(code: number, reason: string, extraHeaders?: readonly string[]): boolean {
    return this.sender.replyTo(this, code, reason, extraHeaders);
  }
}
