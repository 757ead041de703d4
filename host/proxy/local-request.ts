/**
 * Locally originated requests (Kamailio tm `t_request` / `tmb.t_request()`, used by dispatcher's
 * keepalives): a non-INVITE client transaction (RFC 3261 §17.1.2) sent from the server's own
 * listening socket, so the peer sees the proxy's address and the reply comes back through the
 * normal receive path, is matched by its Via branch (§17.1.3) and ends the promise. Timer E
 * retransmissions and Timer F (or the per-request `timeoutMs`, Kamailio fr_timer) come from the
 * transaction layer. (additive)
 */
import { shardOfCallId } from '../shards/steer.js';
import { randomBytes } from 'node:crypto';
import type { Endpoint } from '../core/context.js';
import { SiphonError } from '../errors/registry.js';
import type { SipMessage } from '../sip/types.js';
import type { ClientTransaction, ClientTransactionUser, SentRequest, TransactionLayer } from '../transaction/index.js';
import type { ChannelProvider } from './proxy.js';
import { nextHopOf, type Resolver } from './resolver.js';

export interface LocalRequest {
  /** a non-INVITE method (OPTIONS for keepalives). */
  method: string;
  /** Request-URI; also the To URI. */
  uri: string;
  /** From URI and tag. */
  from: string;
  fromTag: string;
  /** where to send instead of the R-URI (an outbound proxy, `$du`), or null. */
  dstUri?: string | null;
  /** ms until the request counts as timed out (408); 0/absent: the layer's fr_timer. */
  timeoutMs?: number;
}

/** The final reply, or none in time (the caller treats it as a local 408). */
export type LocalRequestResult = { code: number; reason: string } | { timeout: true };

/** What modules see: one method that sends a request and resolves with its outcome. */
export interface LocalRequestSender {
  /** rejects (E9005) only when the request could not be sent at all (no route, no socket). */
  request(req: LocalRequest): Promise<LocalRequestResult>;
}

/** one pending request: resolves on the first final response or the timeout. */
class PendingRequest implements ClientTransactionUser {
  constructor(private readonly done: (r: LocalRequestResult) => void) {}

  onClientResponse(_ct: ClientTransaction, msg: SipMessage, _source: Endpoint): void {
    if (msg.status >= 200) this.done({ code: msg.status, reason: msg.reason });
  }

  onClientTimeout(): void {
    this.done({ timeout: true });
  }
}

export class LocalRequests implements LocalRequestSender {
  private cseq = 1;
  private readonly callIdSuffix = randomBytes(4).toString('hex');
  private callIdCounter = 0;

  constructor(
    private readonly layer: TransactionLayer,
    private readonly channels: ChannelProvider,
    private readonly resolver: Resolver,
    /**
     * core.workers > 1: this shard's index and the shard count. The Call-ID is chosen so that the
     * main thread steers the responses back to this shard, where the client transaction is (host/shards/steer.ts). (additive)
     */
    private readonly shard: { index: number; count: number } = { index: 0, count: 1 },
  ) {}

  /** a new Call-ID that steers to this shard (about `count` tries with several shards). */
  private callId(host: string): string {
    const base = `${this.callIdCounter.toString(36)}-${this.callIdSuffix}`;
    const { index, count } = this.shard;
    if (count <= 1) return `${base}@${host}`;
    for (let salt = 0; ; salt++) {
      const id = `${base}.${salt.toString(36)}@${host}`;
      if (shardOfCallId(id, count) === index) return id;
    }
  }

  async request(req: LocalRequest): Promise<LocalRequestResult> {
    const hop = nextHopOf(req.dstUri ?? req.uri);
    if (hop === null) throw new SiphonError('TM_LOCAL_REQUEST', `no next hop for ${req.dstUri ?? req.uri}`);
    const addr = this.resolver.resolveCached(hop.host) ?? (await this.resolver.resolve(hop.host));
    if (addr === null) throw new SiphonError('TM_LOCAL_REQUEST', `cannot resolve ${hop.host}`);
    const channel = this.channels.channelFor(hop.proto, addr.family, addr.address, hop.port);
    if (channel === null) throw new SiphonError('TM_LOCAL_REQUEST', `no ${hop.proto} socket reaches ${addr.address}:${hop.port}`);
    const local = channel.local;
    const host = local.address.includes(':') ? `[${local.address}]` : local.address;
    const branch = this.layer.newBranch();
    const via = `SIP/2.0/${hop.proto === 'tcp' ? 'TCP' : 'UDP'} ${host}:${local.port};branch=${branch}`;
    this.callIdCounter = (this.callIdCounter + 1) % 0x7fffffff;
    const sent: SentRequest = {
      method: req.method,
      requestUri: req.uri,
      via,
      from: `<${req.from}>;tag=${req.fromTag}`,
      to: `<${req.uri}>`,
      callId: this.callId(host),
      cseq: this.cseq,
      routes: [],
    };
    this.cseq = this.cseq >= 0x7fffffff ? 1 : this.cseq + 1;
    // RFC 3261 §8.1.1: the mandatory header fields; no body
    const text =
      `${sent.method} ${sent.requestUri} SIP/2.0\r\nVia: ${via}\r\nMax-Forwards: 70\r\nFrom: ${sent.from}\r\nTo: ${sent.to}\r\n` +
      `Call-ID: ${sent.callId}\r\nCSeq: ${sent.cseq} ${sent.method}\r\nContent-Length: 0\r\n\r\n`;
    return new Promise<LocalRequestResult>((resolve) => {
      let settled = false;
      const user = new PendingRequest((r) => {
        if (settled) return;
        settled = true;
        resolve(r);
      });
      this.layer.startClient({
        branch,
        request: Buffer.from(text, 'latin1'),
        sent,
        channel,
        address: addr.address,
        port: hop.port,
        user,
        fr: req.timeoutMs !== undefined && req.timeoutMs > 0 ? req.timeoutMs : undefined,
      });
    });
  }
}
