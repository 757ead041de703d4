/**
 * nathelper counters for stats.get_statistics (`nathelper:<name>`) and /metrics. Kamailio's
 * nathelper has no statistics of its own; these are siphon's.
 */
export class NathelperStats {
  /** nat_uac_test() calls that answered true. */
  natDetected = 0;
  /** Contacts rewritten by fix_nated_contact(). */
  contactsFixed = 0;
  /** REGISTERs marked by fix_nated_register(). */
  registersFixed = 0;
  /** keepalive rounds run. */
  rounds = 0;
  /** 4-byte UDP keepalives sent. */
  udpPings = 0;
  /** SIP keepalives (OPTIONS) sent. */
  sipPings = 0;
  /** SIP keepalives answered (any status). */
  sipReplies = 0;
  /** SIP keepalives without an answer in sipping_timeout_ms. */
  sipTimeouts = 0;
  /** keepalives that could not be sent (no socket, no route: E7300). */
  sendErrors = 0;
  /** contacts removed by keepalive_timeout (E7301). */
  removed = 0;
  /** contacts left out of a round by natping_max_contacts (E7302). */
  capped = 0;
  /** contacts not pingable: a name instead of an address, TCP, a Path. */
  skipped = 0;
  /** SIP pings not sent because sipping_max_inflight were waiting for an answer. */
  inflightCapped = 0;

  toStatistics(): Record<string, number> {
    return {
      nat_detected: this.natDetected,
      contacts_fixed: this.contactsFixed,
      registers_fixed: this.registersFixed,
      natping_rounds: this.rounds,
      natping_udp: this.udpPings,
      natping_sip: this.sipPings,
      natping_sip_replies: this.sipReplies,
      natping_sip_timeouts: this.sipTimeouts,
      natping_send_errors: this.sendErrors,
      natping_removed: this.removed,
      natping_capped: this.capped,
      natping_skipped: this.skipped,
      natping_inflight_capped: this.inflightCapped,
    };
  }
}
