/**
 * Console sessions and the login limiter.
 *
 * A session is a 256-bit random id in a cookie (`siphon_console`, HttpOnly, SameSite=Strict,
 * Path=/console: RFC 6265 §4.1.2.5-6 and RFC 6265bis §5.4.7), plus a second random value, the CSRF
 * token, that the page reads from /console/api/session and sends back in `X-CSRF-Token` on every
 * mutating request (OWASP "synchronizer token"). The table is bounded (max_sessions, least recently
 * used ends first) and idle sessions end after session_ttl.
 *
 * Logins: a source address that failed login_attempts times within login_window gets 429 without its
 * password being checked (the scrypt work is not spent for it); the table of sources is bounded
 * (MAX_TRACKED_SOURCES, the oldest dropped) and at most MAX_CONCURRENT_VERIFY checks run at once
 * (each costs 32 MiB of scrypt memory). Kamailio's auth modules have no such limiter; pike is the
 * nearest (and counts failed SIP digests, host/modules/pike).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { ConsoleRole } from './password.js';

export const COOKIE_NAME = 'siphon_console';
/** source addresses the login limiter tracks; beyond it the oldest entry is forgotten. */
export const MAX_TRACKED_SOURCES = 4096;
/** password checks (scrypt) in progress at once; more logins get 503. */
export const MAX_CONCURRENT_VERIFY = 4;

export interface Session {
  readonly id: string;
  readonly user: string;
  readonly role: ConsoleRole;
  readonly csrf: string;
  readonly created: number;
  lastSeen: number;
}

export class SessionTable {
  /** insertion order = recency order (a touched session is re-inserted), so the first is the LRU. */
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  create(user: string, role: ConsoleRole): Session {
    this.sweep();
    while (this.sessions.size >= this.max) {
      const oldest = this.sessions.keys().next().value as string;
      this.sessions.delete(oldest);
    }
    const t = this.now();
    const s: Session = { id: randomBytes(32).toString('base64url'), user, role, csrf: randomBytes(24).toString('base64url'), created: t, lastSeen: t };
    this.sessions.set(s.id, s);
    return s;
  }

  /** the live session for a cookie value, touched; null when unknown or idle past the ttl. */
  get(id: string | null): Session | null {
    if (id === null || id.length !== 43) return null;
    const s = this.sessions.get(id);
    if (s === undefined) return null;
    const t = this.now();
    if (t - s.lastSeen > this.ttlMs) {
      this.sessions.delete(id);
      return null;
    }
    s.lastSeen = t;
    this.sessions.delete(id);
    this.sessions.set(id, s);
    return s;
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  /** ends the sessions of a user (password changed, user removed). */
  endUser(user: string): void {
    for (const [id, s] of this.sessions) if (s.user === user) this.sessions.delete(id);
  }

  /** drops idle sessions from the front (least recently used) until a live one. */
  private sweep(): void {
    const t = this.now();
    for (const [id, s] of this.sessions) {
      if (t - s.lastSeen <= this.ttlMs) break;
      this.sessions.delete(id);
    }
  }
}

/** constant-time comparison of a presented CSRF token with the session's. */
export function csrfMatches(session: Session, presented: string | string[] | undefined): boolean {
  if (typeof presented !== 'string' || presented.length !== session.csrf.length) return false;
  return timingSafeEqual(Buffer.from(presented), Buffer.from(session.csrf));
}

/** the value of cookie `name` in a Cookie header (RFC 6265 §5.4), or null. Linear in the header. */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (header === undefined) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

export function sessionCookie(id: string, maxAgeS: number): string {
  return `${COOKIE_NAME}=${id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}`;
}

export function clearedCookie(): string {
  return `${COOKIE_NAME}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0`;
}

interface Failures {
  count: number;
  windowStart: number;
}

export class LoginLimiter {
  private readonly failures = new Map<string, Failures>();
  private verifying = 0;
  /** logins refused by the limiter (console:logins_limited). */
  limited = 0;
  failed = 0;
  succeeded = 0;

  constructor(
    private readonly attempts: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** seconds until `source` may try again, or 0 when it may try now. */
  retryAfter(source: string): number {
    const f = this.failures.get(source);
    if (f === undefined) return 0;
    const t = this.now();
    if (t - f.windowStart >= this.windowMs) {
      this.failures.delete(source);
      return 0;
    }
    return f.count >= this.attempts ? Math.max(1, Math.ceil((f.windowStart + this.windowMs - t) / 1000)) : 0;
  }

  fail(source: string): void {
    this.failed++;
    const t = this.now();
    let f = this.failures.get(source);
    if (f === undefined || t - f.windowStart >= this.windowMs) {
      this.failures.delete(source);
      if (this.failures.size >= MAX_TRACKED_SOURCES) this.failures.delete(this.failures.keys().next().value as string);
      f = { count: 0, windowStart: t };
      this.failures.set(source, f);
    }
    f.count++;
  }

  succeed(source: string): void {
    this.succeeded++;
    this.failures.delete(source);
  }

  /** a slot for one scrypt check, or false when MAX_CONCURRENT_VERIFY run already. */
  acquire(): boolean {
    if (this.verifying >= MAX_CONCURRENT_VERIFY) return false;
    this.verifying++;
    return true;
  }

  release(): void {
    this.verifying--;
  }
}
