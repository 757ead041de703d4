/**
 * The 26 hit counters of Kamailio secfilter (names as its RPC prints them), grouped Blacklist /
 * Whitelist / Other. Counters move only on hits, never on "not found".
 */
import type { RpcValue } from '../../rpc/types.js';

export const COUNTER_NAMES = [
  'User-Agent',
  'Country',
  'From-Domain',
  'To-Domain',
  'Contact-Domain',
  'IP-Address',
  'From-Name',
  'To-Name',
  'Contact-Name',
  'From-User',
  'To-User',
  'Contact-User',
] as const;

/** Counter slots: 0..11 blacklist (COUNTER_NAMES order), 12..23 whitelist, 24 Destination, 25 SQL-Injection. */
export const enum Counter {
  UA = 0,
  COUNTRY = 1,
  /** + HeaderKind */
  DOMAIN = 2,
  IP = 5,
  /** + HeaderKind */
  NAME = 6,
  /** + HeaderKind */
  USER = 9,
  /** offset of the whitelist block */
  WHITELIST = 12,
  DESTINATION = 24,
  SQL_INJECTION = 25,
}

/** which header a header check looks at; added to Counter.DOMAIN/NAME/USER. */
export const enum HeaderKind {
  FROM = 0,
  TO = 1,
  CONTACT = 2,
}

export class SecFilterStats {
  readonly counts = new Float64Array(26);

  hit(slot: number): void {
    this.counts[slot]!++;
  }

  reset(): void {
    this.counts.fill(0);
  }

  /** secfilter.stats: {Blacklist:{12}, Whitelist:{12}, Other:{Destination, SQL-Injection}} */
  toRpc(): RpcValue {
    const bl: Record<string, number> = {};
    const wl: Record<string, number> = {};
    COUNTER_NAMES.forEach((name, i) => {
      bl[name] = this.counts[i]!;
      wl[name] = this.counts[Counter.WHITELIST + i]!;
    });
    return { Blacklist: bl, Whitelist: wl, Other: { Destination: this.counts[Counter.DESTINATION]!, 'SQL-Injection': this.counts[Counter.SQL_INJECTION]! } };
  }

  /** flat names for stats.get_statistics (`secfilter:Blacklist-User-Agent` ...). */
  toStatistics(): Record<string, number> {
    const out: Record<string, number> = {};
    COUNTER_NAMES.forEach((name, i) => {
      out[`Blacklist-${name}`] = this.counts[i]!;
      out[`Whitelist-${name}`] = this.counts[Counter.WHITELIST + i]!;
    });
    out['Destination'] = this.counts[Counter.DESTINATION]!;
    out['SQL-Injection'] = this.counts[Counter.SQL_INJECTION]!;
    return out;
  }
}
