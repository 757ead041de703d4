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
  private sink: TapSink | null = null;

  /** attaches the one sink (the console's trace hub); null detaches. */
  attach(sink: TapSink | null): void {
    this.sink = sink;
    this.on = sink !== null;
  }

  received(buf: Buffer, local: Endpoint, peer: Endpoint): void {
    this.sink?.message('in', buf, local, peer);
  }

  sent(buf: Buffer, local: Endpoint, address: string, port: number): void {
    const s = this.sink;
    if (s === null) return;
    s.message('out', buf, local, { address, port, proto: local.proto, family: address.includes(':') ? 6 : 4 });
  }
}

/** one per process (each worker thread has its own, unattached). */
export const sipTap = new SipTap();
