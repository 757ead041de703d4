/**
 * RPC methods of auth (siphon's; Kamailio's auth module has none): `auth.stats` (the counters,
 * also in stats.get_statistics as `auth:*`), `auth.failures` (usernames with failed attempts,
 * most first) and `auth.failures_reset`.
 */
import { RpcFault, type RpcMethod, type RpcValue } from '../../rpc/types.js';
import type { DigestAuth } from './digest-auth.js';

/** rows one auth.failures reply carries at most. */
export const RPC_MAX_ROWS = 1000;

export function authRpcMethods(auth: DigestAuth): RpcMethod[] {
  return [
    {
      name: 'auth.stats',
      help: 'Digest authentication counters: challenges, accepted, failed by reason, replays refused.',
      handler: () => auth.statistics(),
    },
    {
      name: 'auth.failures',
      help: 'Usernames with failed digest attempts, most first; optional row limit (at most 1000).',
      handler(params) {
        const v = params[0];
        let limit = RPC_MAX_ROWS;
        if (v !== undefined && v !== null && v !== '') {
          const n = Number(v);
          if (!Number.isInteger(n) || n < 1) throw new RpcFault(400, 'limit must be a positive integer');
          limit = Math.min(n, RPC_MAX_ROWS);
        }
        const list: RpcValue[] = auth.failures.top(limit).map((r) => ({ username: r.username, failures: r.failures, last: Math.floor(r.last / 1000) }));
        return { list, number_of_rows: list.length };
      },
    },
    {
      name: 'auth.failures_reset',
      help: 'Forget the per-username failure counts.',
      handler() {
        auth.failures.clear();
        return 'ok';
      },
    },
  ];
}
