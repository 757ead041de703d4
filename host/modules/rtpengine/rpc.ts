/**
 * RPC methods of rtpengine (Kamailio's names): `rtpengine.show <url|all>` lists instances and their
 * state, `rtpengine.ping <url|all>` pings them now (an instance that answers is enabled again unless
 * disabled by RPC), `rtpengine.enable <url|all> <0|1>` disables or enables them by hand.
 * An unknown URL: 404 "Instance not found" (Kamailio's answer).
 */
import { RpcFault, type RpcMethod } from '../../rpc/types.js';
import type { Rtpengine, RtpengineInstance } from './rtpengine.js';

function target(engine: Rtpengine, v: unknown): RtpengineInstance[] {
  if (typeof v !== 'string' || v.length > 300) throw new RpcFault(500, 'invalid parameter: an instance URL or "all"');
  const found = engine.select(v.trim());
  if (found.length === 0) throw new RpcFault(404, 'Instance not found');
  return found;
}

function show(i: RtpengineInstance): Record<string, string | number> {
  return {
    url: i.spec.url,
    set: 0,
    index: 0,
    weight: i.spec.weight,
    disabled: i.disabled ? 1 : 0,
    manual: i.manual ? 1 : 0,
    recheck_ticks: i.disabled && !i.manual ? Math.max(0, Math.ceil((i.recheckAt - Date.now()) / 1000)) : 0,
    sent: i.sent,
    timeouts: i.timeouts,
  };
}

export function rtpengineRpcMethods(engine: Rtpengine): RpcMethod[] {
  return [
    {
      name: 'rtpengine.show',
      help: 'The rtpengine instances (url or "all"): weight, disabled, recheck seconds, requests sent, timeouts.',
      handler(params) {
        return target(engine, params[0] ?? 'all').map(show);
      },
    },
    {
      name: 'rtpengine.ping',
      help: 'Pings rtpengine instances (url or "all") now; one that answers is enabled again (unless disabled by rtpengine.enable).',
      async handler(params) {
        const list = target(engine, params[0] ?? 'all');
        return Promise.all(
          list.map(async (i) => {
            const ok = await engine.ping(i);
            if (ok && !i.manual) i.disabled = false;
            return { url: i.spec.url, status: ok ? 'success' : 'fail', disabled: i.disabled ? 1 : 0 };
          }),
        );
      },
    },
    {
      name: 'rtpengine.enable',
      help: 'Enables (1) or disables (0) rtpengine instances (url or "all") by hand.',
      handler(params) {
        const list = target(engine, params[0]);
        const v = params[1];
        const n = typeof v === 'number' ? v : typeof v === 'string' && /^[01]$/.test(v.trim()) ? Number(v) : NaN;
        if (n !== 0 && n !== 1) throw new RpcFault(500, 'invalid parameter: 0 or 1');
        for (const i of list) {
          i.disabled = n === 0;
          i.manual = n === 0;
          i.recheckAt = 0;
        }
        return list.map(show);
      },
    },
  ];
}
