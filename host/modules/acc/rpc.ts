/** acc RPC methods (siphon's; Kamailio acc has none for CDRs). */
import { RpcFault, type RpcMethod, type RpcValue } from '../../rpc/types.js';
import { cdrRecord, type Accounting } from './accounting.js';

/** CDRs one `acc.cdrs` answers at most (the ring may hold more). */
export const RPC_MAX_CDRS = 1000;

export function accRpcMethods(acc: Accounting): RpcMethod[] {
  return [
    {
      name: 'acc.cdrs',
      help: 'The newest CDRs kept in memory (cdr_ring), oldest first: acc.cdrs [n] (default 10, at most 1000).',
      handler: (params: RpcValue[]): RpcValue => {
        const raw = params[0];
        const n = raw === undefined || raw === null || raw === '' ? 10 : Number(raw);
        if (!Number.isInteger(n) || n < 0) throw new RpcFault(400, 'Invalid parameters (n)');
        return acc.recent(Math.min(n, RPC_MAX_CDRS)).map(cdrRecord);
      },
    },
  ];
}
