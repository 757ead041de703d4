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
import { VIA_TRANSPORT, type Endpoint } from '../core/context.js';
import { SiphonError } from '../errors/registry.js';
import type { SipMessage } from '../sip/types.js';
import type { ClientTransaction, ClientTransactionUser, SentRequest, TransactionLayer } from '../transaction/index.js';
import type { ChannelProvider } from './proxy.js';
import { nextHopOf, type NextHop, type Resolver, type Target } from './resolver.js';
import type { Channel } from '../transport/types.js';

/** the URI inside a Route value `<uri>;params` (or the value itself). */
function routeUriOf(value: string): string | null {
  const lt = value.indexOf('<');
  if (lt < 0) return value.trim() || null;
  const gt = value.indexOf('>', lt);
  return gt < 0 ? null : value.slice(lt + 1, gt);
}

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

/**
 * A request inside an existing dialog (RFC 3261 §12.2.1.1), e.g. the BYE the dialog module sends
 * when a call times out: the caller gives the dialog's Call-ID, tags (in From/To), CSeq, remote
 * target (R-URI) and route set; the next hop is the first Route when it is a loose router (lr),
 * else the remote target. (additive)
 */
export interface InDialogRequest {
  method: string;
  /** the remote target (the peer's Contact). */
  uri: string;
  /** the route set, first hop first (Route header values, `<sip:...;lr>`). */
  routes: readonly string[];
  /** full From / To header values with their tags. */
  from: string;
  to: string;
  callId: string;
  cseq: number;
  /** more header lines (`Name: value`, no CRLF), e.g. Kamailio's dlg_extra_hdrs. */
  extraHeaders?: readonly string[];
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

  onClientTransportError(): void {
    this.done({ code: 503, reason: 'Service Unavailable' });
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

  /** next hop of `target`: resolved address, the socket that reaches it, our Via for it. */
  private async route(target: string): Promise<{ hop: NextHop; addr: Target; channel: Channel; via: string; branch: string; host: string }> {
    const hop = nextHopOf(target);
    if (hop === null) throw new SiphonError('TM_LOCAL_REQUEST', `no next hop for ${target}`);
    // RFC 3263 §4: the first target of the DNS answer a socket here reaches
    const targets = this.resolver.targetsCached(hop) ?? (await this.resolver.resolveTargets(hop));
    if (targets === null) throw new SiphonError('TM_LOCAL_REQUEST', `cannot resolve ${hop.host}`);
    let addr: Target | undefined;
    let channel: Channel | null = null;
    for (const t of targets) {
      addr = t;
      channel = this.channels.channelFor(t.proto, t.family, t.address, t.port, hop.host);
      if (channel !== null) break;
    }
    if (channel === null || addr === undefined) throw new SiphonError('TM_LOCAL_REQUEST', `no ${hop.proto} socket reaches ${hop.host}:${hop.port}`);
    const local = channel.local;
    const host = local.address.includes(':') ? `[${local.address}]` : local.address;
    const branch = this.layer.newBranch();
    const via = `SIP/2.0/${VIA_TRANSPORT[addr.proto]} ${host}:${local.port};branch=${branch}`;
    return { hop, addr, channel, via, branch, host };
  }

  /** starts the client transaction of `text` and resolves with its outcome. */
  private start(r: { hop: NextHop; addr: Target; channel: Channel; branch: string }, sent: SentRequest, text: string, timeoutMs: number | undefined): Promise<LocalRequestResult> {
    return new Promise<LocalRequestResult>((resolve) => {
      let settled = false;
      const user = new PendingRequest((res) => {
        if (settled) return;
        settled = true;
        resolve(res);
      });
      this.layer.startClient({
        branch: r.branch,
        request: Buffer.from(text, 'latin1'),
        sent,
        channel: r.channel,
        address: r.addr.address,
        port: r.addr.port,
        user,
        fr: timeoutMs !== undefined && timeoutMs > 0 ? timeoutMs : undefined,
      });
    });
  }

  /**
   * A request inside a dialog (InDialogRequest): sent to the first Route when it is a loose router
   * (RFC 3261 §12.2.1.1, §16.12), else to the remote target; the dialog's Call-ID steers its
   * responses back to this shard. Rejects (E9005) when it cannot be sent at all. (additive)
   */
  async requestInDialog(req: InDialogRequest): Promise<LocalRequestResult> {
    const first = req.routes[0];
    const firstUri = first === undefined ? null : routeUriOf(first);
    const r = await this.route(firstUri !== null && /;lr\b/i.test(firstUri) ? firstUri : req.uri);
    const sent: SentRequest = { method: req.method, requestUri: req.uri, via: r.via, from: req.from, to: req.to, callId: req.callId, cseq: req.cseq, routes: [...req.routes] };
    const lines = [
      `${req.method} ${req.uri} SIP/2.0`, `Via: ${r.via}`, 'Max-Forwards: 70',
      ...req.routes.map((v) => `Route: ${v}`),
      `From: ${req.from}`, `To: ${req.to}`, `Call-ID: ${req.callId}`, `CSeq: ${req.cseq} ${req.method}`,
      ...(req.extraHeaders ?? []),
      'Content-Length: 0', '', '',
    ];
    return this.start(r, sent, lines.join('\r\n'), req.timeoutMs);
  }

  async request(req: LocalRequest): Promise<LocalRequestResult> {
    const r = await this.route(req.dstUri ?? req.uri);
    const { via, host } = r;
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
    return this.start(r, sent, text, req.timeoutMs);
  }
}
