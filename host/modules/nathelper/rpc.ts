/**
 * RPC methods of nathelper: `nathelper.enable_ping` is Kamailio's (one integer: 0 stops the NAT
 * keepalives, anything else starts them again); `nathelper.ping_status` is siphon's.
 */
import { RpcFault, type RpcMethod } from '../../rpc/types.js';
import type { NatPinger } from './natping.js';

export function nathelperRpcMethods(pinger: NatPinger): RpcMethod[] {
  return [
    {
      name: 'nathelper.enable_ping',
      help: 'Enable (non-zero) or disable (0) the NAT keepalives.',
      handler(params) {
        const v = params[0];
        const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?[0-9]{1,10}$/.test(v.trim()) ? Number(v) : NaN;
        if (!Number.isInteger(n)) throw new RpcFault(500, 'invalid parameter');
        pinger.enabled = n !== 0;
        return { enabled: pinger.enabled ? 1 : 0 };
      },
    },
    {
      name: 'nathelper.ping_status',
      help: 'Whether NAT keepalives run, their interval, and the contacts of the current round.',
      handler() {
        return { enabled: pinger.enabled ? 1 : 0, natping_interval: pinger.cfg.natping_interval, round_contacts: pinger.roundSize };
      },
    },
  ];
}
