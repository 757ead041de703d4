/**
 * What the dialog module tells other modules (accounting / CDRs, issue #14 item 2), as Kamailio's
 * dialog callbacks (dlg_cb.h DLGCB_CREATED, DLGCB_CONFIRMED, DLGCB_TERMINATED, DLGCB_FAILED,
 * DLGCB_EXPIRED) and event routes (dialog:start, dialog:end, dialog:failed).
 *
 * Listeners get a snapshot of plain data (plus, in `message`, the live SIP message behind the event,
 * to be read at once and not kept). They run synchronously in the message path and must not throw (a throw is caught,
 * counted and logged) nor block.
 */

export type DialogEventType = 'created' | 'confirmed' | 'terminated' | 'failed';

/** why a dialog ended. */
export type DialogEndReason =
  /** a BYE from either side (RFC 3261 §15). */
  | 'bye'
  /** the lifetime (default_timeout / dlg_set_timeout) or the ACK wait (noack_timeout) ran out. */
  | 'timeout'
  /** dlg_bye() from a plugin. */
  | 'dlg_bye'
  /** dlg.end_dlg over RPC. */
  | 'rpc'
  /** a final reply >= 300 (or CANCEL: 487) to the initial INVITE. */
  | 'rejected'
  /** no final reply within early_timeout. */
  | 'early_timeout'
  /** dlg_manage() created it but request_route made no transaction (sl_reply, drop). */
  | 'no_transaction'
  /** the node stopped (db_mode 0: the dialog is forgotten). */
  | 'shutdown';

export interface DialogEvent {
  type: DialogEventType;
  /** Kamailio's dialog identity (h_entry, h_id) and the shard that owns it. */
  hEntry: number;
  hId: number;
  callId: string;
  fromUri: string;
  fromTag: string;
  toUri: string;
  toTag: string;
  reqUri: string;
  /** state after the event (1-5). */
  state: number;
  /** the final status of the initial INVITE (0 while none). */
  status: number;
  /** seconds since the epoch: created, confirmed (0 = never), ended (0 = not yet). */
  initTs: number;
  startTs: number;
  endTs: number;
  /** ms since the epoch of this event (CDR durations to the ms). */
  atMs: number;
  /** terminated / failed: why. */
  reason?: DialogEndReason;
  /** `$dlg_var` values at the time of the event. */
  vars: Record<string, string>;
  /** confirmed / failed: the reason phrase of the INVITE's final reply (acc's sip_reason). */
  sipReason?: string;
  /**
   * The message behind the event, live (read it in the listener, do not keep it: it is not
   * cloneable): created the INVITE, confirmed the 2xx, terminated by `bye` the BYE, failed by
   * `rejected` the final reply; absent when tm built the reply itself or for timer / RPC events.
   */
  message?: import('../../sip/types.js').SipMessage;
  /** created / terminated by `bye`: where that request came from (acc's src_ip). */
  source?: import('../../core/context.js').Endpoint;
}

/** what an event carries besides the dialog (DialogEvent's optional fields). */
export interface EventExtras {
  reason?: DialogEndReason;
  sipReason?: string;
  message?: import('../../sip/types.js').SipMessage | null;
  source?: import('../../core/context.js').Endpoint;
}

export type DialogListener = (e: DialogEvent) => void;

/** The listeners of one dialog table. */
export class DialogEvents {
  private listeners: DialogListener[] = [];
  /** listener throws (bugs in a subscriber), counted. */
  errors = 0;

  constructor(private readonly onError: (e: unknown) => void = () => {}) {}

  /** adds a listener; returns its removal. */
  subscribe(listener: DialogListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  get active(): boolean {
    return this.listeners.length > 0;
  }

  emit(e: DialogEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.errors++;
        this.onError(err);
      }
    }
  }
}
