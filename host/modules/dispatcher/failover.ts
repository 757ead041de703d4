/**
 * The per-request list of selected targets (Kamailio's `_dsdst_` XAVP plus `_dsctx_` cnt).
 *
 * `ds_select_*` fill it: the chosen target first, then the failover candidates; `ds_next_*` drop
 * the head and use the next one; `ds_mark_dst` acts on the head. The caller owns the object (today
 * the dispatcher's plugin imports keep one per message context; the transaction layer will carry
 * it across failure routes later).
 */

/** One record of the list (XAVP fields grp, uri, attrs, socket, sockname, dstid). */
export interface DsTarget {
  readonly setid: number;
  readonly uri: string;
  readonly attrs: string | null;
  readonly socket: string | null;
  readonly sockname: string | null;
  /** duid, present only for call-load (alg 10) selections. */
  readonly dstid: string | null;
}

export class DsTargetList {
  private items: DsTarget[] = [];
  /** how many records the last selection added (Kamailio `$xavp(_dsctx_=>cnt)`). */
  cnt = 0;
  /** alg 12: every entry is meant as a parallel branch, not as failover. */
  parallel = false;

  get length(): number {
    return this.items.length;
  }

  /** the record in use, or undefined. */
  current(): DsTarget | undefined {
    return this.items[0];
  }

  /** all records, current first. */
  all(): readonly DsTarget[] {
    return this.items;
  }

  reset(): void {
    this.items = [];
    this.cnt = 0;
    this.parallel = false;
  }

  push(t: DsTarget): void {
    this.items.push(t);
  }

  /** drops the current record; returns the new current one (ds_next_dst). */
  advance(): DsTarget | undefined {
    this.items.shift();
    return this.items[0];
  }
}
