/**
 * RPC methods of auth_db: the subscriber table through the running node (Kamailio has none; kamctl
 * writes SQL). The node owns the embedded store (single writer), so `siphon subscriber` goes through
 * these when a node is reachable, and a change serves the next request at once.
 *
 *   subscriber.add USER@DOMAIN PASSWORD [TABLE]
 *   subscriber.passwd USER@DOMAIN PASSWORD [TABLE]
 *   subscriber.rm USER@DOMAIN [TABLE]
 *   subscriber.list [DOMAIN [TABLE]]     → { subscribers: [{id, username, domain}], number_of_rows }
 *
 * Passwords are never logged nor returned; list shows neither passwords nor HA1 values.
 */
import { isSiphonError } from '../../errors/registry.js';
import { RpcFault, type RpcMethod, type RpcValue } from '../../rpc/types.js';
import type { AuthDbStats } from './stats.js';
import type { SubscriberStore } from './store.js';
import { checkDomain, checkPassword, parseAccount } from './table.js';

function tableOf(store: SubscriberStore, v: RpcValue | undefined): string {
  if (v === undefined || v === null || v === '') return store.tableNames()[0]!;
  if (typeof v !== 'string' || !store.has(v)) throw new RpcFault(404, `no subscriber table "${String(v)}"`);
  return v;
}

/** SiphonErrors of the store as faults: 400 bad input, 404 no such subscriber/table, 409 exists, 500 database. */
async function guarded<T extends RpcValue>(f: () => Promise<T> | T): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof RpcFault) throw e;
    if (isSiphonError(e, 'AUTHDB_BAD_SUBSCRIBER')) throw new RpcFault(400, e.message);
    if (isSiphonError(e, 'AUTHDB_NO_SUBSCRIBER') || isSiphonError(e, 'AUTHDB_UNKNOWN_TABLE')) throw new RpcFault(404, e.message);
    if (isSiphonError(e, 'AUTHDB_SUBSCRIBER_EXISTS')) throw new RpcFault(409, e.message);
    throw new RpcFault(500, (e as Error).message);
  }
}

export function authDbRpcMethods(store: SubscriberStore, stats: AuthDbStats): RpcMethod[] {
  return [
    {
      name: 'subscriber.add',
      help: 'Add a subscriber: USER@DOMAIN PASSWORD [TABLE] (ha1/ha1b as kamctl add computes them).',
      handler: (params) =>
        guarded(async () => {
          const a = parseAccount(params[0]);
          const pw = checkPassword(params[1]);
          await store.add(tableOf(store, params[2]), a, pw);
          stats.rpcWrites++;
          return `subscriber ${a.user}@${a.domain} added`;
        }),
    },
    {
      name: 'subscriber.passwd',
      help: 'Change the password of a subscriber: USER@DOMAIN PASSWORD [TABLE].',
      handler: (params) =>
        guarded(async () => {
          const a = parseAccount(params[0]);
          const pw = checkPassword(params[1]);
          await store.passwd(tableOf(store, params[2]), a, pw);
          stats.rpcWrites++;
          return `password of ${a.user}@${a.domain} changed`;
        }),
    },
    {
      name: 'subscriber.rm',
      help: 'Remove a subscriber: USER@DOMAIN [TABLE].',
      handler: (params) =>
        guarded(async () => {
          const a = parseAccount(params[0]);
          await store.rm(tableOf(store, params[1]), a);
          stats.rpcWrites++;
          return `subscriber ${a.user}@${a.domain} removed`;
        }),
    },
    {
      name: 'subscriber.list',
      help: 'List subscribers (no passwords): [DOMAIN [TABLE]], at most 10000 rows.',
      handler: (params) =>
        guarded(async () => {
          const d = params[0];
          const domain = d === undefined || d === null || d === '' ? undefined : checkDomain(d);
          const rows = await store.list(tableOf(store, params[1]), domain);
          const subscribers: RpcValue[] = rows.map((r) => ({ id: r.id, username: r.user, domain: r.domain }));
          return { subscribers, number_of_rows: subscribers.length };
        }),
    },
  ];
}
