/**
 * Kamailio's `subscriber` table, version 7 (utils/kamctl/mysql/auth_db-create.sql, Kamailio 5.x):
 * id, username, domain, password VARCHAR(64), ha1 and ha1b VARCHAR(128), unique account_idx
 * (username, domain) and username_idx (username). The column names follow the module's
 * user_column/domain_column/password_column/password_column_2 (defaults: Kamailio's), so a table
 * created by kamdbctl serves siphon and the other way round.
 *
 * The HA1 values are kamctl's (kamctl.base _gen_ha1/_gen_ha1b): the realm is the subscriber's domain,
 *   ha1  = MD5(user:domain:password)
 *   ha1b = MD5(user@domain:domain:password)     (for UAs that send "user@domain" as username)
 */
import type { TableDef } from '../../db/index.js';
import { SiphonError } from '../../errors/registry.js';
import { ha1Of } from '../auth/hash.js';
import type { AuthDbConfig } from './config.js';

export const SUBSCRIBER_TABLE_VERSION = 7;

/** Column widths of version 7; values are checked against them before any write. */
export const USERNAME_MAX = 64;
export const DOMAIN_MAX = 64;
export const PASSWORD_MAX = 64;
export const HA1_MAX = 128;

export interface SubscriberColumns {
  user: string;
  domain: string;
  /** plain password column ('' = none configured). */
  password: string;
  /** HA1 columns ('' = not kept apart from the password column). */
  ha1: string;
  ha1b: string;
}

/** The columns of the configured table (calculate_ha1 1 names the plain password in password_column). */
export function columnsOf(cfg: AuthDbConfig): SubscriberColumns {
  if (cfg.calculate_ha1 === 1) {
    // password_column is the plain password the HA1 is computed from (kamailio.cfg sets it to
    // "password"); kamctl's ha1 column keeps its name unless password_column took it
    const ha1 = cfg.password_column === 'ha1' ? '' : 'ha1';
    const ha1b = cfg.password_column_2 === cfg.password_column ? '' : cfg.password_column_2;
    return { user: cfg.user_column, domain: cfg.domain_column, password: cfg.password_column, ha1, ha1b };
  }
  return { user: cfg.user_column, domain: cfg.domain_column, password: cfg.plain_password_column, ha1: cfg.password_column, ha1b: cfg.password_column_2 };
}

export function subscriberTableDef(name: string, c: SubscriberColumns): TableDef {
  const columns: TableDef['columns'] = [
    { name: 'id', type: 'int', length: 10, unsigned: true, autoIncrement: true, notNull: true },
    { name: c.user, type: 'varchar', length: USERNAME_MAX, notNull: true, default: '' },
    { name: c.domain, type: 'varchar', length: DOMAIN_MAX, notNull: true, default: '' },
  ];
  // the credential columns, each once (a configuration may point two parameters at one column)
  const add = (col: string, length: number): void => {
    if (col && !columns.some((x) => x.name === col)) columns.push({ name: col, type: 'varchar', length, notNull: true, default: '' });
  };
  add(c.password || 'password', PASSWORD_MAX);
  add(c.ha1 || 'ha1', HA1_MAX);
  add(c.ha1b || 'ha1b', HA1_MAX);
  return {
    name,
    version: SUBSCRIBER_TABLE_VERSION,
    columns,
    indexes: [
      { name: 'account_idx', columns: [c.user, c.domain], unique: true },
      { name: 'username_idx', columns: [c.user] },
    ],
  };
}

/**
 * The row values kamctl writes for `add`/`passwd`: HA1s with realm = domain, and the password when
 * stored (always when the module computes the HA1 from it: calculate_ha1 1).
 */
export function credentialColumns(c: SubscriberColumns, user: string, domain: string, password: string, storePassword: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  if (c.ha1) out[c.ha1] = ha1Of('MD5', user, domain, password);
  if (c.ha1b) out[c.ha1b] = ha1Of('MD5', `${user}@${domain}`, domain, password);
  if (c.password) out[c.password] = storePassword ? password : '';
  return out;
}

// ---- input checks (CLI and RPC) ----------------------------------------------------------------

/** RFC 3261 §25.1 user: unreserved / escaped / user-unreserved; no '@', ':', whitespace or controls. */
const USER_RE = /^(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+$/;
/** hostname, IPv4, or [IPv6] (RFC 3261 §25.1 host), lower-cased by the caller. */
const DOMAIN_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\])$/;

export interface Account {
  user: string;
  domain: string;
}

/** USER@DOMAIN as the CLI and RPC take it; throws E7222 with the reason. */
export function parseAccount(text: unknown): Account {
  if (typeof text !== 'string') throw bad('expected USER@DOMAIN');
  const at = text.lastIndexOf('@');
  if (at <= 0 || at === text.length - 1) throw bad('expected USER@DOMAIN');
  const user = text.slice(0, at);
  const domain = text.slice(at + 1).toLowerCase();
  if (user.length > USERNAME_MAX || !USER_RE.test(user)) throw bad(`user must be 1-${USERNAME_MAX} characters of a SIP URI user part`);
  if (domain.length > DOMAIN_MAX || !DOMAIN_RE.test(domain)) throw bad(`domain must be a host name or address of at most ${DOMAIN_MAX} characters`);
  return { user, domain };
}

/** Passwords: 1..64 characters (the column width), no control characters (they would break the CLI, logs and SQL dumps). */
export function checkPassword(pw: unknown): string {
  if (typeof pw !== 'string' || pw.length === 0) throw bad('empty password');
  if (pw.length > PASSWORD_MAX) throw bad(`password longer than ${PASSWORD_MAX} characters`);
  // C0 controls, DEL and the C1 controls
  if (/[\u0000-\u001f\u007f-\u009f]/.test(pw)) throw bad('password contains control characters');
  return pw;
}

/** A domain filter for `list` (same rules as the domain of an account). */
export function checkDomain(text: unknown): string {
  if (typeof text !== 'string' || text.length > DOMAIN_MAX || !DOMAIN_RE.test(text)) throw bad('bad domain');
  return text.toLowerCase();
}

function bad(msg: string): SiphonError {
  return new SiphonError('AUTHDB_BAD_SUBSCRIBER', msg);
}
