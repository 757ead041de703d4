/**
 * Counters for stats.get_statistics, under Kamailio's registrar/usrloc names: registered_users,
 * registered_contacts (usrloc `contacts` summed over tables), expired_contacts, accepted_regs,
 * rejected_regs, plus siphon's location_db_write_errors (write-through writes that failed) and
 * the counters of its bounds (too_many_contacts, aor_busy, held_aors, lookup_branches_capped).
 * In db_mode 3 the user/contact gauges are not kept (Kamailio has no in-memory stats there either).
 */
import type { Registrar } from './registrar.js';

export function registrarStatistics(reg: Registrar): Record<string, number> {
  let users = 0;
  let contacts = 0;
  let expired = 0;
  let dbErrors = 0;
  for (const name of reg.tableNames()) {
    const loc = reg.table(name)!;
    const c = loc.countsSync();
    if (c) {
      users += c.users;
      contacts += c.contacts;
    }
    expired += loc.counters.expired;
    dbErrors += loc.counters.dbWriteErrors;
  }
  return {
    registered_users: users,
    registered_contacts: contacts,
    expired_contacts: expired,
    accepted_regs: reg.counters.accepted,
    rejected_regs: reg.counters.rejected,
    location_db_write_errors: dbErrors,
    // bounds (README "Limits"): max_contacts refusals, db_mode 3 AOR serialisation, max_branches in lookup
    too_many_contacts: reg.counters.tooManyContacts,
    aor_busy: reg.counters.aorBusy,
    held_aors: reg.heldAors,
    lookup_branches_capped: reg.counters.branchesCapped,
    location_table_full: reg.counters.tableFull,
  };
}
