/**
 * The per-message context: what the pipeline hands to the routing plugin, and what the plugin's
 * host calls (sl_reply, R-URI rewrite, variables, logging) act upon. One context lives for one
 * received request (later: for its transaction). It owns no module state: modules are reached
 * through `services`, so the message path can later be sharded across worker threads.
 */
import type { Logger } from 'pino';
import type { SipMessage } from '../sip/types.js';

/** transports siphon speaks; all but 'udp' are connections (RFC 3261 §18.3); 'tls' and 'wss' are secure (§26.2). */
export type Proto = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

/** a Via's transport token for a protocol (RFC 3261 §20.42, RFC 7118 §5.2 for WS/WSS). */
export const VIA_TRANSPORT: Readonly<Record<Proto, 'UDP' | 'TCP' | 'TLS' | 'WS' | 'WSS'>> = Object.freeze({ udp: 'UDP', tcp: 'TCP', tls: 'TLS', ws: 'WS', wss: 'WSS' });

/** the protocol a Via transport token names; undefined for one siphon does not speak. */
export function protoOfViaTransport(t: string | undefined): Proto | undefined {
  return t === 'UDP' ? 'udp' : t === 'TCP' ? 'tcp' : t === 'TLS' ? 'tls' : t === 'WS' ? 'ws' : t === 'WSS' ? 'wss' : undefined;
}

export interface Endpoint {
  address: string;
  port: number;
  proto: Proto;
  family: 4 | 6;
}

export interface MessageContext {
  /** small integer handle, passed to the plugin's hooks as `ctx`. */
  readonly id: number;
  readonly msg: SipMessage;
  /** where the message came from ($si, $sp, $pr). */
  readonly source: Endpoint;
  /** the local socket it arrived on ($Ri, $Rp). */
  readonly local: Endpoint;
  /** destination URI ($du), the next hop when set; null when unset. */
  dstUri: string | null;
  /** per-message variables set by the plugin (scope MSG). */
  readonly vars: Map<string, string>;
  /** true once a reply was sent for this request (stateless or stateful). */
  replied: boolean;
  /**
   * Header lines (`Name: value`, no CRLF) the plugin asked to add to the reply this request gets
   * (sip.reply_hdr_add, Kamailio append_to_reply). Created on first use by the runtime; whoever
   * builds the reply appends them. (additive, added by the Wasm runtime)
   */
  replyHeaders?: string[];
  /**
   * Extra branch URIs for forking, added by registrar lookup with append_branches (Kamailio's
   * destination set, append_branch). The R-URI is the first branch; these are the others, best
   * first. Created on first use. (additive, added by the registrar)
   */
  branches?: string[];
  /**
   * The tm state of this request (host/proxy: armed routes, its proxy transaction), set by the
   * proxy core on first use. (additive)
   */
  tmState?: unknown;
  /**
   * true when the host's flood check (`modules.pike.auto`) already counted this request before the
   * plugin ran, so pike_check_req() does not count it twice. (additive, pike)
   */
  floodChecked?: boolean;
  /**
   * The source URI nathelper's fix_nated_register() recorded (`sip:ip:port[;transport=x]`, Kamailio
   * received_avp): registrar save() stores it as the contacts' `received`. (additive, nathelper)
   */
  natReceived?: string;
  /**
   * Branch flags of branch 0 (Kamailio setbflag/isbflagset, bits 0-31): save() stores them as the
   * contacts' cflags, lookup() restores them. Unset = 0. (additive, sip flags)
   */
  bflags?: number;
  /**
   * Digest authentication of this request (host/modules/auth): the credentials the auth functions
   * chose, whether they were verified, whether the next challenge says stale=true. Set on first
   * use. (additive, auth)
   */
  auth?: import('../sip/digest.js').DigestAuthState;
  /**
   * The dialog this message belongs to (host/modules/dialog): set by dlg_manage() on an initial
   * INVITE and by the dialog module's matching of in-dialog requests before routing. (additive, dialog)
   */
  dialog?: unknown;
  /**
   * Message flags and AVPs of the transaction (`$mf`, `$avp`, `$xavp`; host/core/avp.ts): created on
   * first use; the proxy shares it with the transaction's later routes. (additive, flags/avp)
   */
  tx?: import('./avp.js').TxData;
  /**
   * Record-routing state (host/proxy/record-route.ts): whether record_route() inserted our header,
   * the add_rr_param() parameters, the Route loose_route() consumed. Set on first use. (additive, rr)
   */
  rr?: import('../proxy/record-route.js').RrState;
  /**
   * A media relay command recorded by rtpengine_offer/answer/manage (host/modules/rtpengine): the
   * proxy has it performed before the request's branches or the reply leave (host/proxy/media-gate.ts).
   * (additive, rtpengine)
   */
  media?: unknown;
  /**
   * The body of the next reply the node itself sends to this request (textops set_reply_body,
   * Kamailio's LUMP_RPL_BODY): sl_reply / t_reply put it in with its Content-Type and length, then
   * clear it. Unset: replies carry `Content-Length: 0`. (additive, textops)
   */
  replyBody?: { body: Buffer; contentType: string };
  /** logger bound to this message's Call-ID. */
  readonly log: Logger;
  /**
   * Sends a stateless reply built from the request (Kamailio sl_send_reply, RFC 3261 §8.2.6).
   * Returns false (and logs) when the reply could not be built or sent.
   */
  slReply(code: number, reason: string, extraHeaders?: readonly string[]): boolean;
}

/**
 * What `$dlg(name)` and `$dlg_var(name)` read from MessageContext.dialog (the dialog module's
 * Dialog implements it); the core does not depend on the module. (additive, dialog)
 */
export interface DialogPvSource {
  pvField(name: string): string | null;
  pvVar(name: string): string | null;
}

/** What a routing hook decided (docs/abi/v1.md, "Actions"). */
export const enum Action {
  /** default processing: for a request nobody replied to, the request is dropped (as Kamailio does at the end of request_route). */
  CONTINUE = 0,
  DROP = 1,
  REPLIED = 2,
  RELAY = 3,
  SUSPEND = 4,
  /** the hook trapped, aborted or ran out of gas: the pipeline answers per the hook's failure policy. */
  ERROR = -1,
}
