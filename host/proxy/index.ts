/** The proxy core (RFC 3261 §16): see proxy.ts. */
export { ProxyCore, ProxyTransaction, statelessBranch, ensureMaxForwardsProcessed, type ChannelProvider, type HookPinner, type ReplyBuilder, type ProxyOptions, type ProxyStats } from './proxy.js';
export { DestinationSet, type BranchTarget } from './dset.js';
export { HookContext, NO_ROUTE, type TmHooks } from './hooks.js';
export { recordRoute, recordRouteValue, looseRoute, routeUri, LR_ROUTED, LR_NO_ROUTE, LR_PRELOADED, type IsMyself } from './record-route.js';
export { Resolver, nextHopOf, type NextHop, type ResolvedAddress, type ResolverOptions } from './resolver.js';
export { pickBestResponse, responseRank } from './best-response.js';
export { TmImports, RrImports, tmImportProviders } from './abi.js';
export type { CellObserver } from './cell.js';
