/**
 * The tm route hooks a plugin can arm (Kamailio branch_route, onreply_route, failure_route;
 * kamailio.md §4.2) and the contexts they run on.
 *
 * A transaction keeps the TmHooks object (the LoadedPlugin version) that was routing when it was
 * created, so its later hooks run on that version even after a reload (pinning, wasm-host.md §7).
 */
import type { Logger } from 'pino';
import type { Action, Endpoint, MessageContext } from '../core/context.js';
import type { SipMessage } from '../sip/types.js';
import type { TxData } from '../core/avp.js';
import { callLogger } from '../log/logger.js';

/** Route ids are plugin-chosen integers (>= 0); NO_ROUTE means "not armed". */
export const NO_ROUTE = -1;

/** What the proxy calls on the pinned plugin. Every method is optional: a plugin without the export continues. */
export interface TmHooks {
  /** `branch_route(ctx, route, branch)`: once per outgoing branch, before it is sent; DROP cancels the branch. */
  branchRoute?(ctx: MessageContext, route: number, branch: number): Action;
  /** `onreply_route(ctx, route, code)`: every reply of the transaction; DROP stops forwarding a provisional. */
  onReplyRoute?(ctx: MessageContext, route: number, code: number): Action;
  /** `failure_route(ctx, route)`: every branch ended >= 300 (or timed out); may t_relay again or t_reply. */
  failureRoute?(ctx: MessageContext, route: number): Action;
}

/**
 * The context of a branch_route (msg = the branch's copy of the request) or onreply_route (msg =
 * the reply). Replies cannot be sent from it (slReply answers false: sl_reply is a request_route
 * import).
 */
export class HookContext implements MessageContext {
  replied = false;
  replyHeaders?: string[];
  tmState: unknown = undefined;
  /** the transaction's flags and AVPs (MessageContext.tx), shared with the request's routes. */
  tx: TxData | undefined;
  private varsMap: Map<string, string> | null = null;
  private logger: Logger | null = null;

  constructor(
    readonly id: number,
    readonly msg: SipMessage,
    readonly source: Endpoint,
    readonly local: Endpoint,
    public dstUri: string | null,
    private readonly rootLog: Logger,
    tx?: TxData,
  ) {
    this.tx = tx;
  }

  get vars(): Map<string, string> {
    return (this.varsMap ??= new Map());
  }

  get log(): Logger {
    return (this.logger ??= callLogger(this.rootLog, this.msg.callId));
  }

  slReply(): boolean {
    return false;
  }
}
