/**
 * What the registrar's operations take and answer: save() results and the reply the pipeline sends
 * (RFC 3261 §10.3), lookup() results and branches (§16.5), AOR keys, the module's counters
 * (Kamailio registrar's accepted_regs / rejected_regs and ours). Split out of registrar.ts.
 */

/** What the pipeline sends back (via sl/t reply); registrar never sends itself. */
export interface RegistrarReply {
  code: number;
  reason: string;
  /** full header lines, `Name: value`, no CRLF. */
  headers: string[];
}

export interface SaveResult {
  /** 1 inserted, 2 updated, 3 deleted, 4 query only, -1 error, -2 too many contacts. */
  code: number;
  reply: RegistrarReply;
  /** the AOR the REGISTER was about, when it could be read. */
  aor?: string;
  /**
   * db_mode 3 through the synchronous path: settles when the queued writes committed (true) or
   * failed (false). The reply waits for it (Kamailio writes before it answers).
   */
  committed?: Promise<boolean>;
  /**
   * With `committed`: the reply to send instead when it resolves false, set before it resolves
   * (a worker shard's save refused by shard 0's max_location_contacts: 503 + Retry-After). Absent:
   * 500 Storage Failure.
   */
  failReply?: RegistrarReply;
}

/**
 * What the route decided about a REGISTER before save(): the `received` it asked for (nathelper
 * fix_nated_register; Kamailio's received_avp) and the branch flags of the request (stored as the
 * contacts' cflags, Kamailio save: the NAT flag nathelper's keepalives select by).
 */
export interface SaveRoute {
  received?: string | null;
  /** undefined: a refreshed contact keeps its stored cflags (callers without a routing context). */
  bflags?: number;
}

export interface LookupBranch {
  uri: string;
  /** next hop: first Path URI, else `received`; null = the URI itself. */
  dstUri: string | null;
  q: number;
  ruid: string;
}

export interface LookupResult {
  /** 1 found, -1 not found, -2 found but method not allowed, -3 error. */
  code: number;
  /** the best contact: the new R-URI (code 1). */
  ruri?: string;
  /** $du for the best contact; null when it needs none. */
  dstUri?: string | null;
  /** the best contact's cflags (Kamailio lookup restores them as the branch flags). */
  cflags?: number;
  /** the other contacts, best first (empty unless append_branches). */
  branches: LookupBranch[];
}

export interface AorKey {
  aor: string;
  username: string;
  domain: string | null;
}

export interface RegistrarCounters {
  /** REGISTERs answered 2xx (Kamailio registrar `accepted_regs`). */
  accepted: number;
  /** REGISTERs answered with an error (Kamailio `rejected_regs`). */
  rejected: number;
  /** REGISTERs refused by max_contacts (503, E9110). */
  tooManyContacts: number;
  /** db_mode 3 REGISTERs refused because too many for the same AOR were in flight (E9111). */
  aorBusy: number;
  /** lookups that had more contacts than max_branches could fork to (the rest were not appended). */
  branchesCapped: number;
  /** REGISTERs refused because a memory table held max_location_contacts (503, E9112). */
  tableFull: number;
}
