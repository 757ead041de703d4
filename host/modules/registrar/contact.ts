/**
 * One registered contact (usrloc `ucontact`), with the fields of Kamailio's `location` table v9.
 */

/** usrloc Q_UNSPECIFIED: the contact carried no q value. */
export const Q_UNSPECIFIED = -1;

export interface Contact {
  /** record unique id (usrloc ruid); the key of a contact across nodes. */
  ruid: string;
  /** the AOR as stored: `user` or `user@domain`, lower-cased unless case_sensitive. */
  aor: string;
  username: string;
  domain: string | null;
  /** Contact URI. */
  contact: string;
  /** source of the REGISTER when behind NAT (`sip:ip:port;transport=x`); used as $du. */
  received: string | null;
  /** Path header values, comma-joined (RFC 3327). */
  path: string | null;
  /** absolute expiry, seconds since the epoch; 0 = permanent (ul.add with expires 0). */
  expires: number;
  /** q in thousandths (usrloc qvalue_t), Q_UNSPECIFIED when absent. */
  q: number;
  callid: string;
  cseq: number;
  /** seconds since the epoch. */
  lastModified: number;
  flags: number;
  cflags: number;
  userAgent: string;
  /** local socket the REGISTER arrived on, `proto:ip:port`. */
  socket: string | null;
  /** allowed-methods bitmask (Kamailio METHOD_*), null = all. */
  methods: number | null;
  /** +sip.instance (RFC 5626/5627). */
  instance: string | null;
  regId: number;
  serverId: number;
  connectionId: number;
  keepalive: number;
  partition: number;
}

/** valid = not expired at `now` (seconds); permanent contacts are always valid (usrloc VALID_CONTACT). */
export function isValid(c: Contact, now: number): boolean {
  return c.expires === 0 || c.expires > now;
}

/** seconds left, as listed in the 200 OK and ul.lookup. */
export function remaining(c: Contact, now: number): number {
  return c.expires === 0 ? 0 : Math.max(0, c.expires - now);
}

/** q as a decimal string: 1000 -> "1", 500 -> "0.5". */
export function qText(q: number): string {
  return String(Math.round(q) / 1000);
}

/**
 * The order lookup and the 200 OK use: q descending, then most recently modified first
 * (usrloc desc_time_order = only the time). Stable for equal keys.
 */
export function compareContacts(descTimeOrder: boolean): (a: Contact, b: Contact) => number {
  return (a, b) => {
    if (!descTimeOrder && a.q !== b.q) return b.q - a.q;
    return b.lastModified - a.lastModified;
  };
}

/**
 * Record unique ids, unique across processes and nodes (Kamailio sruid style
 * `uloc-<start time>-<pid>-<random>-<n>`). One generator per Location.
 */
export class RuidGenerator {
  private counter = 0;
  private readonly prefix: string;

  /** `shard`: the worker thread's shard (core.workers), so threads of one process never share a prefix. */
  constructor(shard?: number) {
    const pid = shard === undefined ? process.pid.toString(16) : `${process.pid.toString(16)}.${shard}`;
    this.prefix = `uloc-${Math.floor(Date.now() / 1000).toString(16)}-${pid}-${Math.floor(Math.random() * 0xffffff).toString(16)}`;
  }

  next(): string {
    this.counter = (this.counter + 1) >>> 0;
    return `${this.prefix}-${this.counter.toString(16)}`;
  }
}
