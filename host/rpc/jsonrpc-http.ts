/**
 * JSON-RPC 2.0 over HTTP, compatible with Kamailio's jsonrpcs module (reference kamailio.md §3.5):
 * POST /RPC (also /jsonrpc), the same method names as BINRPC, positional parameters (named parameters
 * are taken in their order, as jsonrpcs ignores the names), batches (JSON-RPC 2.0 §6).
 *
 * Errors: the JSON-RPC 2.0 §5.1 codes for protocol problems (-32700 parse error, -32600 invalid request,
 * -32601 method not found, -32602 invalid params when `params` is neither array nor object, -32603
 * internal error); a fault raised by a method keeps its Kamailio code and text ({code: 400|500, message}),
 * as jsonrpcs returns them.
 *
 * The same listener answers GET /metrics with the Prometheus exposition. Who may call it at all (Host,
 * Origin, token, Content-Type, body size) is decided in http-guard.ts; the deadlines and the connection
 * cap are set on the server in control-plane.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { SiphonError } from '../errors/registry.js';
import type { RpcCallObserver } from './binrpc.js';
import { CONTROL_HTTP_DEFAULTS, isJsonContentType, type HttpGuard, type Refusal } from './http-guard.js';
import { RpcFault, type RpcRegistry, type RpcValue } from './types.js';

export const JsonRpcError = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
} as const;

type Id = string | number | null;

interface JsonRpcResponse {
  jsonrpc: '2.0';
  id: Id;
  result?: RpcValue;
  error?: { code: number; message: string; data?: unknown };
}

export interface MetricsSource {
  readonly contentType: string;
  text(): Promise<string>;
}

export interface JsonRpcHttpOptions {
  registry: RpcRegistry;
  metrics?: MetricsSource | null;
  observer?: RpcCallObserver;
  log?: Logger;
  /** Host / Origin / preflight / token checks, run before anything else (http-guard.ts). */
  guard: HttpGuard;
  /** largest request body, default CONTROL_HTTP_DEFAULTS.max_body_bytes (1 MiB). */
  maxBodyBytes?: number;
  /** JSON-RPC requests in progress at once (body read + call), default CONTROL_HTTP_DEFAULTS.max_in_flight. */
  maxInFlight?: number;
  /** the operator console (host/console), served under /console with its own session auth; null: off. */
  console?: ConsoleHttp | null;
}

/** what the listener needs of the operator console (host/console/console.ts OperatorConsole). */
export interface ConsoleHttp {
  handle(req: IncomingMessage, res: ServerResponse, pathname: string, query: URLSearchParams): void;
}

function isConsolePath(url: string): boolean {
  return url === '/console' || url.startsWith('/console/') || url.startsWith('/console?');
}

/** Most requests one batch may carry (JSON-RPC 2.0 §6 sets no bound); more is -32600. */
export const MAX_BATCH_REQUESTS = 100;

export const RPC_PATHS: readonly string[] = ['/RPC', '/jsonrpc'];

function errorResponse(id: Id, code: number, message: string): JsonRpcResponse {
  return { jsonrpc: '2.0', id, error: { code, message } };
}

function validId(v: unknown): v is Id {
  return v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

/**
 * Executes one parsed JSON-RPC message (a single request or a batch). Returns the response object/array,
 * or undefined when nothing is to be answered (notifications only).
 */
export async function dispatchJsonRpc(
  registry: RpcRegistry,
  message: unknown,
  observer?: RpcCallObserver,
  log?: Logger,
): Promise<JsonRpcResponse | JsonRpcResponse[] | undefined> {
  if (Array.isArray(message)) {
    if (message.length === 0) return errorResponse(null, JsonRpcError.INVALID_REQUEST, 'Invalid Request');
    if (message.length > MAX_BATCH_REQUESTS) {
      return errorResponse(null, JsonRpcError.INVALID_REQUEST, `Invalid Request: a batch carries at most ${MAX_BATCH_REQUESTS} requests`);
    }
    const out: JsonRpcResponse[] = [];
    // batch members run one after the other: RPC methods (reloads) are not assumed to be reentrant
    for (const m of message) {
      const r = await dispatchOne(registry, m, observer, log);
      if (r) out.push(r);
    }
    return out.length > 0 ? out : undefined;
  }
  return dispatchOne(registry, message, observer, log);
}

async function dispatchOne(
  registry: RpcRegistry,
  req: unknown,
  observer?: RpcCallObserver,
  log?: Logger,
): Promise<JsonRpcResponse | undefined> {
  if (typeof req !== 'object' || req === null || Array.isArray(req)) {
    return errorResponse(null, JsonRpcError.INVALID_REQUEST, 'Invalid Request');
  }
  const r = req as Record<string, unknown>;
  const hasId = 'id' in r;
  const id: Id = hasId && validId(r.id) ? r.id : null;
  if (r.jsonrpc !== '2.0' || typeof r.method !== 'string' || (hasId && !validId(r.id))) {
    return errorResponse(id, JsonRpcError.INVALID_REQUEST, 'Invalid Request');
  }
  let params: RpcValue[];
  if (r.params === undefined) params = [];
  else if (Array.isArray(r.params)) params = r.params as RpcValue[];
  else if (typeof r.params === 'object' && r.params !== null) params = Object.values(r.params) as RpcValue[];
  else return hasId ? errorResponse(id, JsonRpcError.INVALID_PARAMS, 'Invalid params') : undefined;

  if (!registry.get(r.method)) {
    observer?.rpcCall('jsonrpc', 'fault');
    return hasId ? errorResponse(id, JsonRpcError.METHOD_NOT_FOUND, 'Method not found') : undefined;
  }
  try {
    const result = await registry.call(r.method, params);
    observer?.rpcCall('jsonrpc', 'ok');
    return hasId ? { jsonrpc: '2.0', id, result } : undefined;
  } catch (e) {
    if (e instanceof RpcFault) {
      observer?.rpcCall('jsonrpc', 'fault');
      return hasId ? errorResponse(id, e.faultCode, e.message) : undefined;
    }
    observer?.rpcCall('jsonrpc', 'error');
    log?.error({ err: e, method: r.method }, 'RPC method failed');
    return hasId ? errorResponse(id, JsonRpcError.INTERNAL_ERROR, 'Internal error') : undefined;
  }
}

/** Answers every reply carries: never sniffed, never cached, never readable cross-origin (no ACAO). */
const COMMON_HEADERS = { 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' } as const;

function send(res: ServerResponse, status: number, contentType: string, body: string, extra?: Record<string, string>): void {
  res.writeHead(status, { ...COMMON_HEADERS, ...extra, 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * A refusal closes the connection: the request body (if any) is never read, so the connection cannot
 * be reused and must not be drained (an unbounded body would be read to the end otherwise).
 */
function refuse(res: ServerResponse, r: Refusal): void {
  send(res, r.status, 'text/plain; charset=utf-8', `${r.error.message}\n`, { ...r.headers, connection: 'close' });
}

/**
 * The request handler of the control HTTP listener: JSON-RPC on POST /RPC and /jsonrpc, GET /metrics.
 * Every request passes the guard first (http-guard.ts: Host, Origin, preflight, token), /metrics
 * included: it names plugins, modules and counters, and DNS rebinding would otherwise read it.
 */
export function createControlHttpHandler(opts: JsonRpcHttpOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const maxBody = opts.maxBodyBytes ?? CONTROL_HTTP_DEFAULTS.max_body_bytes;
  const maxInFlight = opts.maxInFlight ?? CONTROL_HTTP_DEFAULTS.max_in_flight;
  const guard = opts.guard;
  // HTTP/1.1 pipelining lets one connection start any number of calls (Node parses and dispatches
  // every request of a chunk); this bounds them over the whole listener
  let inFlight = 0;
  /** counts `res` as in progress until it closes, or answers 503 when the listener is full. */
  const admitted = (res: ServerResponse): boolean => {
    if (inFlight >= maxInFlight) {
      refuse(res, {
        status: 503,
        error: new SiphonError('RPC_HTTP_BUSY', `${maxInFlight} requests are in progress; retry`),
        headers: { 'retry-after': '1' },
      });
      return false;
    }
    inFlight++;
    res.once('close', () => inFlight--);
    return true;
  };
  const consoleHttp = opts.console ?? null;
  return (req, res) => {
    // the console authenticates by its session cookie instead of the bearer token (a browser cannot send it)
    const toConsole = consoleHttp !== null && isConsolePath(req.url ?? '/');
    const refusal = guard.check(req, !toConsole);
    if (refusal !== null) {
      opts.log?.warn({ code: refusal.error.code, status: refusal.status, method: req.method, url: req.url?.slice(0, 200) }, 'control HTTP request refused');
      return refuse(res, refusal);
    }
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (toConsole) {
      if (!admitted(res)) return;
      const q = (req.url ?? '').indexOf('?');
      consoleHttp.handle(req, res, path, new URLSearchParams(q < 0 ? '' : (req.url ?? '').slice(q + 1, q + 2049)));
      return;
    }
    if (path === '/metrics') {
      if (!opts.metrics) return send(res, 404, 'text/plain', 'metrics disabled\n');
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'GET only\n', { allow: 'GET, HEAD', connection: 'close' });
      if (!admitted(res)) return;
      opts.metrics.text().then(
        (text) => send(res, 200, opts.metrics!.contentType, text),
        (e: unknown) => {
          opts.log?.error({ err: e }, 'metrics collection failed');
          send(res, 500, 'text/plain', 'metrics collection failed\n');
        },
      );
      return;
    }
    if (!RPC_PATHS.includes(path)) return send(res, 404, 'text/plain', 'not found\n', { connection: 'close' });
    if (req.method !== 'POST') {
      return send(res, 405, 'text/plain', 'POST a JSON-RPC 2.0 request\n', { allow: 'POST', connection: 'close' });
    }
    if (!isJsonContentType(req.headers['content-type'])) {
      return refuse(res, {
        status: 415,
        error: new SiphonError('RPC_HTTP_CONTENT_TYPE', 'send the request with Content-Type: application/json'),
        headers: { accept: 'application/json' },
      });
    }
    if (!admitted(res)) return;
    const tooLarge: Refusal = {
      status: 413,
      error: new SiphonError('RPC_HTTP_TOO_LARGE', `the request body exceeds ${maxBody} bytes (core.http.max_body_bytes)`),
    };
    // a declared length over the limit is refused before a byte of the body is read
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > maxBody) return refuse(res, tooLarge);
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c: Buffer) => {
      if (tooBig) return;
      size += c.length;
      if (size > maxBody) {
        // chunked (or lying) bodies: stop keeping data at once, answer, then drop the connection
        tooBig = true;
        chunks.length = 0;
        res.once('finish', () => req.socket.destroy());
        refuse(res, tooLarge);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (tooBig) return;
      let message: unknown;
      try {
        message = JSON.parse(Buffer.concat(chunks, size).toString('utf8'));
      } catch {
        return send(res, 200, 'application/json', JSON.stringify(errorResponse(null, JsonRpcError.PARSE_ERROR, 'Parse error')));
      }
      dispatchJsonRpc(opts.registry, message, opts.observer, opts.log).then(
        (out) => {
          if (out === undefined) {
            res.writeHead(204, COMMON_HEADERS);
            res.end();
          } else send(res, 200, 'application/json', JSON.stringify(out));
        },
        (e: unknown) => {
          opts.log?.error({ err: e }, 'JSON-RPC dispatch failed');
          send(res, 500, 'application/json', JSON.stringify(errorResponse(null, JsonRpcError.INTERNAL_ERROR, 'Internal error')));
        },
      );
    });
    req.on('error', () => undefined);
  };
}
