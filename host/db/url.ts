/**
 * Database URLs, Kamailio style: `mysql://user:password@host:port/database` (db_mysql). Anything shown to
 * an operator goes through redactUrl() so passwords never reach logs, errors or RPC output.
 */
import { SiphonError } from '../errors/registry.js';

export interface MysqlUrl {
  kind: 'mysql';
  user: string;
  password: string;
  host: string;
  port: number;
  database: string;
  /** the URL with the password replaced by `***`. */
  redacted: string;
}

/** Replaces the password of a `scheme://user:password@host` URL with `***`. Never throws. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');
}

/** Parses a mysql:// URL (the only server scheme supported). Throws E5001 naming the (redacted) URL. */
export function parseMysqlUrl(url: string): MysqlUrl {
  const redacted = redactUrl(url);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SiphonError('DB_URL', `cannot parse "${redacted}" (expected mysql://user:password@host:port/database)`);
  }
  if (u.protocol !== 'mysql:') {
    throw new SiphonError('DB_URL', `unsupported scheme "${u.protocol.replace(/:$/, '')}" in "${redacted}" (only mysql:// is supported; leave db_url unset for the embedded store)`);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!database || database.includes('/')) throw new SiphonError('DB_URL', `no database name in "${redacted}"`);
  if (!u.hostname) throw new SiphonError('DB_URL', `no host in "${redacted}"`);
  const port = u.port ? Number(u.port) : 3306;
  return {
    kind: 'mysql',
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    database,
    redacted,
  };
}
