/**
 * The SIP trace tap: where the transports hand a copy of every message they receive and send to a
 * watcher (the operator console's live trace and HEP export, host/console/trace.ts). While nobody
 * watches, `sipTap.on` is false and the cost on the message path is that one property read per
 * message (measured by bench/trace-tap.mjs); nothing is copied, parsed or allocated.
 *
 * Kamailio's siptrace module does the same from its script (sip_trace()) or core events; sngrep reads
 * the wire instead. Here the transports call it, so relays, local replies and retransmissions all show.
 */
import type { Endpoint } from '../core/context.js';

export interface TapSink {
  /**
   * One message as it crossed a socket. `buf` is the transport's buffer (not retained: copy what you
   * keep); `local` is this node's socket, `peer` the other end. Must not throw.
   */
  message(dir: 'in' | 'out', buf: Buffer, local: Endpoint, peer: Endpoint): void;
}

class SipTap {
  /** true while a sink is attached: the only thing the message path reads when nobody watches. */
  on = false;
  private sinks: TapSink[] = [];

  /** attaches a sink (a console's trace hub); several nodes in one process (tests) each attach theirs. */
  attach(sink: TapSink): void {
    if (!this.sinks.includes(sink)) this.sinks = [...this.sinks, sink];
    this.on = true;
  }

  detach(sink: TapSink): void {
    this.sinks = this.sinks.filter((s) => s !== sink);
    this.on = this.sinks.length > 0;
  }

  received(buf: Buffer, local: Endpoint, peer: Endpoint): void {
    for (const s of this.sinks) s.message('in', buf, local, peer);
  }

  sent(buf: Buffer, local: Endpoint, address: string, port: number): void {
    if (this.sinks.length === 0) return;
    const peer: Endpoint = { address, port, proto: local.proto, family: address.includes(':') ? 6 : 4 };
    for (const s of this.sinks) s.message('out', buf, local, peer);
  }
}

/**
 * one per process (each worker thread has its own, unattached). The tap sees every socket of the process:
 * one node per process in production; tests that run several nodes in one process see them all.
 */
export const sipTap = new SipTap();
