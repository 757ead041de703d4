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
import { createControlHttpHandler } from './jsonrpc-http.js';
import type { RpcRegistry } from './types.js';

export interface ControlHttpOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** serve on a non-loopback address; off by default (no authentication on this listener). */
  allowNonLoopback?: boolean;
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
      const server = createServer(
        createControlHttpHandler({ registry: opts.registry, metrics, observer: metrics ?? undefined, log: opts.log }),
      );
      http = server;
      // keep-alive sockets must not hold close() hostage
      server.keepAliveTimeout = 5_000;
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e) =>
          reject(new SiphonError('RPC_BIND', e.message, { where: `http://${host}:${port}`, cause: e })),
        );
        server.listen(port, host, () => resolve());
      });
      const a = server.address();
      const boundPort = typeof a === 'object' && a ? a.port : port;
      httpUrl = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
      opts.log?.info({ url: httpUrl }, 'control HTTP listener started (JSON-RPC /RPC, /metrics)');
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
