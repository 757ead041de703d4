/**
 * Starts every control-plane listener of a node over one method registry: the BINRPC listeners (kamcmd,
 * `siphon rpc`) and the loopback HTTP listener (JSON-RPC + /metrics). The server calls this once the
 * modules have registered their methods, and calls close() on shutdown.
 */
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { SiphonError } from '../errors/registry.js';
import type { SiphonMetrics } from '../metrics/metrics.js';
import { BinrpcServer, type CtlListenerOptions } from './binrpc.js';
import { assertLoopback } from './ctl-address.js';
import { CONTROL_HTTP_DEFAULTS, HttpGuard } from './http-guard.js';
import { createControlHttpHandler, type ConsoleHttp } from './jsonrpc-http.js';
import type { RpcRegistry } from './types.js';

export interface ControlHttpOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** serve on a non-loopback address; off by default. */
  allowNonLoopback?: boolean;
  /** bearer token every request must carry (http-guard.ts); null/absent: none. */
  token?: string | null;
  /** absent: CONTROL_HTTP_DEFAULTS (http-guard.ts). */
  maxBodyBytes?: number;
  maxConnections?: number;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  maxInFlight?: number;
  /** the operator console under /console (host/console); absent/null: off. */
  console?: ConsoleHttp | null;
}

export interface ControlPlaneOptions {
  registry: RpcRegistry;
  /** BINRPC listeners; e.g. [`unix:${defaultCtlPath()}`]. */
  ctl: readonly (string | CtlListenerOptions)[];
  http: ControlHttpOptions | null;
  /** when given, served on GET /metrics and fed with RPC call counts. */
  metrics?: SiphonMetrics | null;
  log?: Logger;
  /** see BinrpcServerOptions.maxReplyBytes. */
  maxReplyBytes?: number;
}

export interface ControlPlane {
  /** BINRPC addresses listened on, ports resolved (`unix:/run/siphon/siphon_ctl`, `tcp:127.0.0.1:2049`). */
  readonly ctlAddresses: string[];
  /** the HTTP base URL (`http://127.0.0.1:PORT`), or null. */
  readonly httpUrl: string | null;
  close(): Promise<void>;
}

/**
 * The HTTP server with its bounds: a deadline for the head and one for the whole request (slowloris:
 * Node answers 408 and closes), a cap on open connections (more are closed on accept), a bounded head.
 * Node checks the deadlines every connectionsCheckingInterval (30 s by default), so that interval is
 * set to a fraction of the head deadline.
 */
function createControlHttpServer(o: ControlHttpOptions, registry: RpcRegistry, metrics: SiphonMetrics | null, log?: Logger): Server {
  const D = CONTROL_HTTP_DEFAULTS;
  const headersTimeout = o.headersTimeoutMs ?? D.headers_timeout;
  const requestTimeout = Math.max(headersTimeout, o.requestTimeoutMs ?? D.request_timeout);
  const server = createServer(
    {
      headersTimeout,
      requestTimeout,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))),
      maxHeaderSize: D.max_header_bytes,
      requireHostHeader: true,
      // keep-alive sockets must not hold close() hostage
      keepAliveTimeout: 5_000,
    },
    createControlHttpHandler({
      registry,
      metrics,
      observer: metrics ?? undefined,
      log,
      guard: new HttpGuard({ listenHost: o.host, token: o.token ?? null }),
      maxBodyBytes: o.maxBodyBytes,
      maxInFlight: o.maxInFlight,
      console: o.console ?? null,
    }),
  );
  server.maxConnections = o.maxConnections ?? D.max_connections;
  return server;
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const metrics = opts.metrics ?? null;
  const binrpc = new BinrpcServer({
    registry: opts.registry,
    log: opts.log,
    observer: metrics ?? undefined,
    maxReplyBytes: opts.maxReplyBytes,
  });
  let http: Server | null = null;
  try {
    for (const l of opts.ctl) await binrpc.listen(l);
    let httpUrl: string | null = null;
    if (opts.http) {
      const { host, port } = opts.http;
      assertLoopback(host, 'control HTTP listener', opts.http.allowNonLoopback === true);
      const server = createControlHttpServer(opts.http, opts.registry, metrics, opts.log);
      http = server;
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e) =>
          reject(new SiphonError('RPC_BIND', e.message, { where: `http://${host}:${port}`, cause: e })),
        );
        server.listen(port, host, () => resolve());
      });
      const a = server.address();
      const boundPort = typeof a === 'object' && a ? a.port : port;
      httpUrl = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
      opts.log?.info({ url: httpUrl, token: opts.http.token ? 'required' : 'none' }, 'control HTTP listener started (JSON-RPC /RPC, /metrics)');
    }
    const httpServer = http;
    return {
      ctlAddresses: binrpc.addresses,
      httpUrl,
      close: async () => {
        await binrpc.close();
        if (httpServer) {
          httpServer.closeAllConnections();
          await new Promise<void>((r) => httpServer.close(() => r()));
        }
      },
    };
  } catch (e) {
    await binrpc.close();
    if (http?.listening) await new Promise<void>((r) => http!.close(() => r()));
    throw e;
  }
}
