/**
 * RPC methods of pike. `pike.top` is Kamailio's (pike_rpc.c: same parameter and reply shape);
 * `pike.list` and `pike.unblock` are siphon's (Kamailio can only wait for the source to calm down, or
 * flush an htable ban).
 */
import { isIP } from 'node:net';
import { RpcFault, type RpcMethod, type RpcValue } from '../../rpc/types.js';
import type { Pike } from './pike.js';
import type { SourceView } from './table.js';

/** rows one reply carries at most (the table holds up to max_entries; kamcmd's buffer does not). */
export const RPC_MAX_ROWS = 1000;

type Filter = 'HOT' | 'WARM' | 'ALL';

function filterOf(params: RpcValue[]): Filter {
  const v = params[0];
  if (v === undefined || v === null || v === '') return 'HOT';
  const s = String(v).toUpperCase();
  // Kamailio looks for the words inside the argument (strstr), ALL first
  if (s.includes('ALL')) return 'ALL';
  if (s.includes('HOT')) return 'HOT';
  if (s.includes('WARM')) return 'WARM';
  throw new RpcFault(500, 'Bad argument. Select: ALL, HOT or WARM');
}

function limitOf(v: RpcValue | undefined): number {
  if (v === undefined || v === null || v === '') return RPC_MAX_ROWS;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RpcFault(400, 'limit must be a positive integer');
  return Math.min(n, RPC_MAX_ROWS);
}

function statusOf(v: SourceView): string {
  return v.hot ? 'HOT' : v.warm ? 'WARM' : '';
}

export function pikeRpcMethods(pike: Pike): RpcMethod[] {
  return [
    {
      name: 'pike.top',
      help: 'List tracked sources: filter HOT (default), WARM or ALL, then an optional row limit (at most 1000), busiest first.',
      handler(params) {
        const filter = filterOf(params);
        const limit = limitOf(params[1]);
        let rows = pike.sources(false);
        if (filter === 'HOT') rows = rows.filter((v) => v.hot);
        else if (filter === 'WARM') rows = rows.filter((v) => v.warm && !v.hot);
        // pike_top.c: by the sum of both windows' hits, then by the current window's
        rows.sort((a, b) => b.hitsPrev + b.hitsCurr - (a.hitsPrev + a.hitsCurr) || b.hitsCurr - a.hitsCurr);
        const list: RpcValue[] = rows.slice(0, limit).map((v) => ({
          ip_addr: v.address,
          leaf_hits_prev: v.hitsPrev,
          leaf_hits_curr: v.hitsCurr,
          expires: Math.ceil(v.expiresInMs / 1000),
          status: statusOf(v),
        }));
        return { max_hits: pike.cfg.reqs_density_per_unit, list, number_of_rows: list.length };
      },
    },
    {
      name: 'pike.list',
      help: 'List the blocked sources (at most 1000): address, hits, seconds left of block_time.',
      handler(params) {
        const limit = limitOf(params[0]);
        const rows = pike.sources(true).slice(0, limit);
        const list: RpcValue[] = rows.map((v) => ({
          ip_addr: v.address,
          hits_prev: v.hitsPrev,
          hits_curr: v.hitsCurr,
          blocked_for: Math.ceil(v.blockedForMs / 1000),
          expires: Math.ceil(v.expiresInMs / 1000),
        }));
        return { blocked: pike.state.blockedCount, list, number_of_rows: list.length };
      },
    },
    {
      name: 'pike.unblock',
      help: 'Unblock a source address now (its counters restart from zero).',
      handler(params) {
        const v = params[0];
        // an address, or an IPv6 prefix key as pike.list shows it (2001:db8:0:1::/64)
        const addr = typeof v === 'string' ? v.replace(/\/\d{1,3}$/, '') : '';
        if (typeof v !== 'string' || isIP(addr) === 0) throw new RpcFault(400, 'Usage: pike.unblock <IPv4 or IPv6 address, or an IPv6 prefix as pike.list shows it>');
        if (!pike.unblock(v.toLowerCase())) throw new RpcFault(404, `${v} is not blocked`);
        return `Unblocked ${v}`;
      },
    },
  ];
}
