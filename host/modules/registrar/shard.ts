/**
 * The location tables with several shards (`core.workers`, host/shards/context.ts; README "Shards").
 *
 * Shard 0 keeps the real Location of every table (db_mode 0, 1 or 3 as configured) and offers it to
 * the worker shards as the shard service `registrar`. A worker shard runs each table in the DB-only
 * code path (location.ts, db_mode 3 semantics) over ShardLocationBackend: the prefetcher loads the
 * AOR from shard 0 before request_route, save() plans on that snapshot and sends its changes to
 * shard 0, which applies them to its Location (memory + write-through, or the DB) with its own
 * bounds (max_location_contacts). Kamailio's equivalent is usrloc in shared memory, which every
 * worker process reads and writes under per-slot locks.
 *
 * Everything crossing the port is plain data (Contact is a record of strings and numbers).
 */
import { SiphonError } from '../../errors/registry.js';
import type { ServiceCaller, ServiceHandlers } from '../../shards/context.js';
import type { Contact } from './contact.js';
import type { ContactChange } from './location.js';
import type { LocationBackend } from './location-db.js';
import type { Registrar } from './registrar.js';

/** the shard service shard 0's registrar provides. */
export const REGISTRAR_SERVICE = 'registrar';

/** AOR text of a row key, as Registrar.aorOf builds it (and rowToContact reads it back). */
function aorText(username: string, domain: string | null): string {
  return domain ? `${username}@${domain}` : username;
}

/** Shard 0's side: the service handlers over its registrar's tables. */
export function locationService(reg: Registrar): ServiceHandlers {
  return {
    tables: (): string[] => reg.tableNames(),
    loadAor: (table: string, username: string, domain: string | null): Promise<readonly Contact[]> =>
      reg.requireTable(table).contacts(aorText(username, domain), username, domain),
    loadAll: async (table: string): Promise<Contact[]> => [...(await reg.requireTable(table).entries()).values()].flat(),
    apply: (table: string, changes: readonly ContactChange[], memoryOnly: boolean): void | Promise<void> =>
      reg.applyFromShard(table, changes, memoryOnly),
    deleteAor: (table: string, username: string, domain: string | null): Promise<number> =>
      reg.requireTable(table).removeAor(aorText(username, domain), username, domain),
  };
}

/**
 * A worker shard's LocationBackend: every read and write is a call to shard 0's `registrar`
 * service. Writes go through applyChanges (one call per save, posted synchronously: the port keeps
 * the order, location.ts sendChanges); the single-row methods map onto it.
 */
export class ShardLocationBackend implements LocationBackend {
  constructor(
    private readonly main: ServiceCaller,
    readonly table: string,
  ) {}

  private call<T>(method: string, args: readonly unknown[]): Promise<T> {
    return this.main.call(REGISTRAR_SERVICE, method, args) as Promise<T>;
  }

  /** shard 0 created and checked the tables; this only checks it serves this one. */
  async prepare(): Promise<void> {
    const tables = await this.call<string[]>('tables', []);
    if (!tables.includes(this.table)) throw new SiphonError('REG_UNKNOWN_TABLE', `shard 0 has no location table "${this.table}" (it has: ${tables.join(', ')})`);
  }

  loadAll(): Promise<Contact[]> {
    return this.call('loadAll', [this.table]);
  }

  loadAor(username: string, domain: string | null): Promise<Contact[]> {
    return this.call('loadAor', [this.table, username, domain]);
  }

  /**
   * A lookup in a route the prefetch could not foresee (failure_route after the plugin rewrote the
   * R-URI to a forward target, Kamailio's lookup() there reads usrloc in shared memory): the worker
   * blocks until shard 0 read the AOR (ServiceCaller.callSync, at most SYNC_CALL_TIMEOUT_MS).
   */
  get loadAorSync(): ((username: string, domain: string | null) => Contact[]) | undefined {
    const call = this.main.callSync;
    if (call === undefined) return undefined;
    return (username, domain) => call.call(this.main, REGISTRAR_SERVICE, 'loadAor', [this.table, username, domain]) as Contact[];
  }

  applyChanges(changes: readonly ContactChange[], memoryOnly: boolean): Promise<void> {
    return this.call('apply', [this.table, changes, memoryOnly]);
  }

  insert(c: Contact): Promise<void> {
    return this.applyChanges([{ op: 'insert', contact: c }], false);
  }

  update(c: Contact): Promise<void> {
    return this.applyChanges([{ op: 'update', contact: c }], false);
  }

  async deleteRuid(ruid: string): Promise<number> {
    // Location sends deletes through applyChanges: the change carries the contact, whose AOR shard
    // 0's memory table needs; a bare ruid does not name the record
    throw new SiphonError('REG_STORAGE', `deleteRuid(${ruid}) without the contact: worker shards delete through applyChanges`);
  }

  deleteAor(username: string, domain: string | null): Promise<number> {
    return this.call('deleteAor', [this.table, username, domain]);
  }

  /** the expiry timer runs in shard 0 only (host/shards README): nothing is swept here. */
  async deleteExpired(): Promise<number> {
    return 0;
  }
}
