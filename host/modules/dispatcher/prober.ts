/**
 * The seam between the keepalive logic and whatever sends the keepalive request. The transaction
 * layer will provide a prober that sends through tm (as Kamailio does); `UdpProber` is a standalone
 * one so probing works end to end today.
 */

/** One keepalive to send (Kamailio ds_ping_set builds the same request through tm). */
export interface ProbeTarget {
  setid: number;
  /** R-URI and To URI. */
  uri: string;
  /** ds_ping_method (OPTIONS). */
  method: string;
  /** From URI: the target's ping_from attribute, else ds_ping_from. */
  from: string;
  /** From-tag `<target uid>-<4 random chars>`. */
  fromTag: string;
  /** outbound proxy for this ping (obproxy attribute), or null. */
  obproxy: string | null;
  /** socket to send from (ping_socket, sockname, socket attributes ...), or null = default. */
  socket: string | null;
  /** how long until the ping counts as timed out (408). */
  timeoutMs: number;
}

/** A final reply code, or no final reply in time. */
export type ProbeResult = { code: number; reason?: string } | { timeout: true };

export interface Prober {
  /** Sends one keepalive. Rejects only when it could not be sent at all (counts as 500). */
  sendOptions(dst: ProbeTarget): Promise<ProbeResult>;
  close?(): Promise<void>;
}
