/**
 * Keepalives through the transaction layer (Kamailio ds_ping_set → tmb.t_request): each OPTIONS is
 * a locally originated non-INVITE client transaction sent from siphon's own listening socket
 * (host/proxy/local-request.ts), so gateways see the proxy's address, and replies travel the
 * normal receive path. A ping without a final reply before `ds_ping_fr_timer` counts as 408.
 */
import type { LocalRequestSender } from '../../proxy/local-request.js';
import type { ProbeResult, ProbeTarget, Prober } from './prober.js';

export class TransactionProber implements Prober {
  constructor(private readonly sender: LocalRequestSender) {}

  async sendOptions(dst: ProbeTarget): Promise<ProbeResult> {
    const r = await this.sender.request({
      method: dst.method,
      uri: dst.uri,
      from: dst.from,
      fromTag: dst.fromTag,
      dstUri: dst.obproxy,
      timeoutMs: dst.timeoutMs,
    });
    return 'timeout' in r ? { timeout: true } : { code: r.code, reason: r.reason };
  }
}
