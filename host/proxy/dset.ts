/**
 * The destination set of a request (Kamailio's dset: `append_branch()`, the branches registrar
 * `lookup()` adds besides rewriting the R-URI). t_relay() forks to the R-URI (or $du) plus every
 * branch of the set, in parallel (RFC 3261 §16.5, §16.6); the set is consumed by the relay, so a
 * failure_route that appends new branches and calls t_relay() again forks only to those (serial
 * forking). Kept in a WeakMap keyed by the message context: it disappears with the context.
 *
 * Bounded like Kamailio's dset (core dset.c): with `max_branches` B the set holds at most B - 1
 * branches, the R-URI being the B-th; append() past that fails (Kamailio logs "max nr of branches
 * exceeded" and append_branch() returns -1).
 */
import type { MessageContext } from '../core/context.js';

export interface BranchTarget {
  /** the branch's Request-URI. */
  uri: string;
  /** its next hop ($du), null = the URI itself. */
  dstUri: string | null;
  /** q-value (RFC 3261 §16.6), informational: branches are sent in the order appended. */
  q?: number;
}

export class DestinationSet {
  private readonly sets = new WeakMap<MessageContext, BranchTarget[]>();

  constructor(
    /** core.max_branches: the set holds at most maxBranches - 1 entries (the R-URI is the other). */
    readonly maxBranches = 12,
  ) {}

  /** Kamailio append_branch(): adds a branch to the request's destination set; false when full. */
  append(ctx: MessageContext, target: BranchTarget): boolean {
    let list = this.sets.get(ctx);
    if (list === undefined) this.sets.set(ctx, (list = []));
    if (list.length >= this.maxBranches - 1) return false;
    list.push(target);
    return true;
  }

  count(ctx: MessageContext): number {
    return this.sets.get(ctx)?.length ?? 0;
  }

  /** the branches, in order (a copy). */
  list(ctx: MessageContext): BranchTarget[] {
    return this.sets.get(ctx)?.slice() ?? [];
  }

  /** removes and returns every branch (t_relay consumes the set). */
  take(ctx: MessageContext): BranchTarget[] {
    const list = this.sets.get(ctx);
    if (list === undefined) return [];
    this.sets.delete(ctx);
    return list;
  }

  /** Kamailio clear_branches(). */
  clear(ctx: MessageContext): void {
    this.sets.delete(ctx);
  }
}
