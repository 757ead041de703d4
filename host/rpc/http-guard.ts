/**
 * Who may talk to the control HTTP listener (JSON-RPC and /metrics). The listener binds loopback, but
 * a loopback bind alone does not keep a web page out: the operator's browser is on loopback too. A page
 * can POST to http://127.0.0.1:PORT/RPC (a "simple" cross-origin request needs no CORS preflight when
 * its Content-Type is text/plain or a form type), and DNS rebinding makes evil.example resolve to
 * 127.0.0.1 so that the page is even same-origin with the listener. The checks below close both:
 *
 *   1. Host must be a loopback name (127.0.0.0/8, [::1], localhost) or the listener's own address,
 *      any port (an ssh tunnel, `ssh -L 9000:127.0.0.1:8080`, arrives as localhost:9000). A rebinding
 *      page sends its own name (Host: evil.example) → 421 Misdirected Request (RFC 9110 §15.5.20).
 *   2. Origin, when present, must be http://<the same host:port as Host> (RFC 6454 same origin);
 *      `Origin: null` (sandboxed frames, file://) is foreign. Fetch metadata (`Sec-Fetch-Site`), when
 *      present, must be `same-origin` or `none`. CORS preflights (OPTIONS with
 *      Access-Control-Request-Method) are refused and no Access-Control-* header is ever sent, so a
 *      browser never lets a foreign page read a reply. → 403.
 *   3. The bearer token (RFC 6750 §2.1), when configured: compared in constant time over SHA-256
 *      digests (equal lengths, no early exit). → 401 with `WWW-Authenticate: Bearer`.
 *   4. JSON-RPC bodies must be `Content-Type: application/json` (the type a browser cannot send
 *      cross-origin without a preflight) → 415; bodies are bounded → 413.
 *
 * Kamailio's xhttp/jsonrpcs have no such checks (xhttp serves whatever reaches the SIP TCP port; access
 * control is left to the routing script); these follow the MCP/JSON-RPC-over-localhost practice.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { SiphonError, type ErrorName } from '../errors/registry.js';
import { isLoopbackHost } from './ctl-address.js';

/** Limits of the control HTTP listener (config `core.http.*`, docs/operations.md). */
export const CONTROL_HTTP_DEFAULTS = {
  /** largest JSON-RPC request body; Kamailio reads an xhttp request into its TCP buffer (BUF_SIZE 64 KiB). */
  max_body_bytes: 1024 * 1024,
  /** open connections at once; more are closed on accept (Kamailio: tcp_max_connections, shared with SIP). */
  max_connections: 16,
  /** deadline for the request line and headers, ms (Kamailio: tcp_msg_data_timeout). */
  headers_timeout: 5000,
  /** deadline for the whole request (headers + body), ms (Kamailio: tcp_msg_read_timeout). */
  request_timeout: 10_000,
  /** JSON-RPC requests in progress at once over the listener (pipelined ones included); more get 503. */
  max_in_flight: 32,
  /** largest request head (request line + headers), bytes; Node's default is 16 KiB. */
  max_header_bytes: 8192,
} as const;

/** A bearer token file larger than this is not a token. */
export const MAX_TOKEN_FILE_BYTES = 4096;

export interface HttpGuardOptions {
  /** the address the listener is bound to; accepted in Host besides the loopback names. */
  listenHost: string;
  /** the bearer token, or null for none. */
  token: string | null;
}

export interface Refusal {
  status: number;
  error: SiphonError;
  headers?: Record<string, string>;
}

/** `name[:port]` / `[v6][:port]` of a Host header, lower-cased; null when malformed. */
export function parseHostHeader(value: string): { host: string; port: string } | null {
  let host: string;
  let port = '';
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0) return null;
    host = value.slice(1, close);
    const rest = value.slice(close + 1);
    if (rest !== '') {
      if (rest[0] !== ':') return null;
      port = rest.slice(1);
    }
    if (isIP(host) !== 6) return null;
  } else {
    const colon = value.indexOf(':');
    if (colon >= 0) {
      if (value.indexOf(':', colon + 1) >= 0) return null; // an unbracketed IPv6 literal is not a Host
      host = value.slice(0, colon);
      port = value.slice(colon + 1);
    } else host = value;
  }
  if (host === '' || (port !== '' && !/^\d{1,5}$/.test(port))) return null;
  return { host: host.toLowerCase(), port };
}

function refuse(status: number, name: ErrorName, detail: string, headers?: Record<string, string>): Refusal {
  return { status, error: new SiphonError(name, detail), headers };
}

/** Digest of a token, computed once when the listener starts. */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * The request-independent part of the guard, built once per listener: the accepted host names and the
 * token digest. `check` runs per request, before the path is looked at; it allocates nothing on the
 * accepted path except the header parse.
 */
export class HttpGuard {
  private readonly listenHost: string;
  private readonly digest: Buffer | null;

  constructor(opts: HttpGuardOptions) {
    this.listenHost = opts.listenHost.toLowerCase();
    this.digest = opts.token === null ? null : tokenDigest(opts.token);
  }

  get requiresToken(): boolean {
    return this.digest !== null;
  }

  private hostAllowed(host: string): boolean {
    return isLoopbackHost(host) || host === this.listenHost;
  }

  /**
   * null when the request may proceed; otherwise the answer to give. `token` false: the path has its
   * own authentication (the console's session cookie, host/console), the other checks still apply.
   */
  check(req: IncomingMessage, token = true): Refusal | null {
    const hostValue = req.headers.host;
    const host = hostValue === undefined ? null : parseHostHeader(hostValue);
    if (host === null || !this.hostAllowed(host.host)) {
      // the value is the caller's own; echoing it back would only help a reflected-content attack
      return refuse(421, 'RPC_HTTP_HOST', 'the Host header must name the loopback address this listener serves (127.0.0.1, [::1] or localhost)');
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !sameOrigin(origin, host)) {
      return refuse(403, 'RPC_HTTP_ORIGIN', 'requests from another origin (a web page) are refused');
    }
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      return refuse(403, 'RPC_HTTP_ORIGIN', 'requests from another site (a web page) are refused');
    }
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      return refuse(403, 'RPC_HTTP_ORIGIN', 'CORS preflight refused: this listener serves no web page');
    }
    if (this.digest !== null && token) {
      const auth = req.headers.authorization;
      if (auth === undefined) {
        return refuse(401, 'RPC_HTTP_AUTH', 'send Authorization: Bearer <core.http token>', { 'www-authenticate': 'Bearer realm="siphon"' });
      }
      // RFC 6750 §2.1: "Bearer" b64token; the scheme is case-insensitive (RFC 9110 §11.1)
      const m = /^bearer +([^\s]+) *$/i.exec(auth);
      if (m === null || !timingSafeEqual(tokenDigest(m[1]!), this.digest)) {
        return refuse(401, 'RPC_HTTP_AUTH', 'the bearer token does not match', {
          'www-authenticate': 'Bearer realm="siphon", error="invalid_token"',
        });
      }
    }
    return null;
  }
}

/** RFC 6454 §5: `Origin` equals http://<Host> (a browser on the listener's own page); nothing else. */
function sameOrigin(origin: string, host: { host: string; port: string }): boolean {
  const o = origin.toLowerCase();
  if (!o.startsWith('http://')) return false; // also "null", https://, chrome-extension://
  const rest = o.slice('http://'.length);
  if (rest.includes('/')) return false; // an Origin is scheme://host[:port] only
  const p = parseHostHeader(rest);
  if (p === null) return false;
  const port = (s: string): string => (s === '' ? '80' : String(Number(s)));
  return p.host === host.host && port(p.port) === port(host.port);
}

/**
 * RFC 8259 §11 / RFC 9110 §8.3: `application/json`, parameters allowed; a charset other than UTF-8 is
 * refused (JSON text exchanged between systems is UTF-8).
 */
export function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  // a scan over `;`-separated parts (the head is bounded by max_header_bytes): no regex backtracking
  const parts = value.split(';');
  if (parts[0]!.trim().toLowerCase() !== 'application/json') return false;
  for (let i = 1; i < parts.length; i++) {
    const eq = parts[i]!.indexOf('=');
    if (eq < 0 || parts[i]!.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    const cs = parts[i]!.slice(eq + 1).trim().replace(/^"|"$/g, '').toLowerCase();
    if (cs !== 'utf-8' && cs !== 'utf8') return false;
  }
  return true;
}
