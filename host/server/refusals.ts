/**
 * Requests the pipeline answers (or drops) before routing: unparsable messages (a request with a
 * readable start line gets the parser's 4xx, RFC 3261 §21.4.1), sources the flood guard sheds
 * (pike auto mode: dropped or 503), and new requests while the transaction table is full
 * (core.tm.max_transactions: 503 + Retry-After, RFC 3261 §21.5.4). Split out of server.ts.
 */
import type { Endpoint } from '../core/context.js';
import { Errors } from '../errors/registry.js';
import type { ParseFailure, SipMessage } from '../sip/types.js';
import type { TransactionLayer } from '../transaction/index.js';
import type { Channel } from '../transport/types.js';
import type { FloodGuard } from './server-types.js';
import type { SiphonServer } from './server.js';

/** a request the flood guard shed: dropped, or 503 + Retry-After (never to an ACK). */
export function refuseFlood(server: SiphonServer, guard: FloodGuard, msg: SipMessage, source: Endpoint, channel: Channel, shed: number): void {
  const c = server.counters;
  c.requests++;
  if (shed === 2 && msg.method !== 'ACK') {
    c.floodRejected++;
    server.send(msg, source, channel, 503, 'Service Unavailable', guard.retryAfterHeaders);
  } else {
    c.floodDropped++;
  }
}

/** an unparsable message: the parser's status to a request with a readable partial (never an ACK), else dropped; counted. */
export function onParseFailure(server: SiphonServer, failure: ParseFailure, source: Endpoint, channel: Channel): void {
  const c = server.counters;
  c.parseErrors++;
  server.metrics?.parseError(source.proto);
  const partial = failure.partial;
  if (failure.status > 0 && partial !== undefined && partial.kind === 'request' && partial.method !== 'ACK') {
    c.parseErrorsReplied++;
    server.send(partial, source, channel, failure.status, failure.reason);
  } else {
    c.parseErrorsDropped++;
  }
  if (server.log.isLevelEnabled('debug')) {
    server.log.debug({ src: `${source.address}:${source.port}`, proto: source.proto, status: failure.status, detail: failure.detail, callid: partial?.callId }, 'unparsable message');
  }
}

/** a new request while the transaction table is full: 503 + Retry-After statelessly, warned at most every 10 s. */
export function refuseTableFull(server: SiphonServer, layer: TransactionLayer, msg: SipMessage, source: Endpoint, channel: Channel): void {
  server.counters.transactionsFullRejected++;
  layer.refusedFull();
  const now = Date.now();
  if (now - server.tableFullWarnAt >= 10_000) {
    // at most every 10 s: the counter (tm:tableFull) has every refusal
    server.tableFullWarnAt = now;
    server.log.warn({ code: Errors.TM_TABLE_FULL.code, max: layer.maxServer, refused: layer.stats.tableFull }, 'transaction table full: new requests get 503 [E9011]');
  }
  server.send(msg, source, channel, 503, 'Service Unavailable', [server.tableFullRetryAfter]);
}
