/** The transaction layer (RFC 3261 §17): see layer.ts. */
export { TransactionLayer, RequestMatch, type TransactionStats, type TransactionLayerOptions } from './layer.js';
export { ServerTransaction, ServerState, AckDisposition, type ServerTransactionUser } from './server-transaction.js';
export { ClientTransaction, ClientState, type ClientTransactionUser, type ClientTransactionOptions } from './client-transaction.js';
export { TimerQueue, TimerSlot, type TimerOwner, type TimerQueueOptions } from './timer-queue.js';
export { transactionTimers, DEFAULT_TRANSACTION_TIMERS, type TransactionTimers } from './config.js';
export { MAGIC_COOKIE, hasMagicCookie, serverKey, clientKey, clientKeyOfResponse } from './matching.js';
export { buildNon2xxAck, buildCancel, type SentRequest } from './requests.js';
