/**
 * Console operator passwords: scrypt (RFC 7914) hashes from node:crypto, and the passwd file
 * `siphon console passwd` writes. A hash is stored as
 *
 *     scrypt$<N>$<r>$<p>$<salt base64>$<key base64>
 *
 * The passwd file holds one `user:role:hash` a line (`#` comments); roles are `admin` and `readonly`.
 * Kamailio's Siremis keeps operator users in its own MySQL table with salted hashes; there is no
 * Kamailio core equivalent.
 *
 * Bounds: a file is at most 64 KiB and 256 users; N ≤ 2^20, r ≤ 32, p ≤ 16 (a hand-edited hash with huge
 * parameters would otherwise make each login burn memory and CPU); verification runs on libuv's
 * thread pool (async scrypt), never on the event loop.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { chmod, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { SiphonError } from '../errors/registry.js';

export type ConsoleRole = 'admin' | 'readonly';
export const ROLES: readonly ConsoleRole[] = ['admin', 'readonly'];

export interface ConsoleUser {
  name: string;
  role: ConsoleRole;
  hash: string;
}

/** scrypt cost of new hashes: N=2^15, r=8, p=1 (32 MiB and tens of ms per check; RFC 7914 §2 suggests N=2^14 for interactive logins). */
export const SCRYPT_DEFAULTS = { N: 32768, r: 8, p: 1, keyLen: 32, saltLen: 16 } as const;
const MAX_N = 1 << 20;
const MAX_R = 32;
const MAX_P = 16;
/** largest passwd file read, bytes. */
export const MAX_PASSWD_BYTES = 64 * 1024;
/** most users in one passwd file. */
export const MAX_USERS = 256;
/** longest password accepted at login or by `siphon console passwd`. */
export const MAX_PASSWORD_LENGTH = 1024;
const USER_RE = /^[A-Za-z0-9_.@-]{1,64}$/;

function scrypt(password: string, salt: Buffer, keyLen: number, o: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keyLen, o, (e, k) => (e ? reject(e) : resolve(k))));
}

function memFor(N: number, r: number): number {
  // scrypt needs 128 * N * r bytes (plus a little); node refuses above maxmem
  return 128 * N * r + 1024 * 1024;
}

export async function hashPassword(password: string): Promise<string> {
  if (password.length === 0 || password.length > MAX_PASSWORD_LENGTH) {
    throw new SiphonError('CONSOLE_PASSWD', `a console password has 1..${MAX_PASSWORD_LENGTH} characters`);
  }
  const { N, r, p, keyLen, saltLen } = SCRYPT_DEFAULTS;
  const salt = randomBytes(saltLen);
  const key = await scrypt(password, salt, keyLen, { N, r, p, maxmem: memFor(N, r) });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

/** null when `hash` is not a usable scrypt$ string (bad format or parameters out of bounds). */
export function parseHash(hash: string): ParsedHash | null {
  const parts = hash.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (!Number.isInteger(N) || N < 2 || N > MAX_N || (N & (N - 1)) !== 0) return null;
  if (!Number.isInteger(r) || r < 1 || r > MAX_R || !Number.isInteger(p) || p < 1 || p > MAX_P) return null;
  const salt = Buffer.from(parts[4]!, 'base64');
  const key = Buffer.from(parts[5]!, 'base64');
  if (salt.length < 8 || key.length < 16 || key.length > 64) return null;
  return { N, r, p, salt, key };
}

/** true when `password` matches `hash` (constant-time comparison of the derived keys). */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const h = parseHash(hash);
  if (h === null || password.length > MAX_PASSWORD_LENGTH) return false;
  const key = await scrypt(password, h.salt, h.key.length, { N: h.N, r: h.r, p: h.p, maxmem: memFor(h.N, h.r) });
  return timingSafeEqual(key, h.key);
}

/** Parses passwd file text; errors name the line. */
export function parsePasswd(text: string, where: string): ConsoleUser[] {
  const users: ConsoleUser[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [name, role, hash, ...rest] = line.split(':');
    if (rest.length > 0 || name === undefined || role === undefined || hash === undefined) {
      throw new SiphonError('CONSOLE_PASSWD', 'a line is user:role:hash', { where: `${where}:${i + 1}` });
    }
    if (!USER_RE.test(name)) throw new SiphonError('CONSOLE_PASSWD', `bad user name "${name.slice(0, 64)}"`, { where: `${where}:${i + 1}` });
    if (!ROLES.includes(role as ConsoleRole)) throw new SiphonError('CONSOLE_PASSWD', `role must be admin or readonly, not "${role.slice(0, 32)}"`, { where: `${where}:${i + 1}` });
    if (parseHash(hash) === null) throw new SiphonError('CONSOLE_PASSWD', 'the hash is not scrypt$N$r$p$salt$key (siphon console passwd writes one)', { where: `${where}:${i + 1}` });
    if (users.length >= MAX_USERS) throw new SiphonError('CONSOLE_PASSWD', `more than ${MAX_USERS} users`, { where: `${where}:${i + 1}` });
    users.push({ name, role: role as ConsoleRole, hash });
  }
  return users;
}

/** Reads a passwd file; an absent file is an empty list. */
export async function readPasswd(file: string): Promise<ConsoleUser[]> {
  let size: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new SiphonError('CONSOLE_PASSWD', 'not a regular file', { where: file });
    size = st.size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  if (size > MAX_PASSWD_BYTES) throw new SiphonError('CONSOLE_PASSWD', `larger than ${MAX_PASSWD_BYTES} bytes`, { where: file });
  const text = await readFile(file, 'utf8');
  return parsePasswd(text.slice(0, MAX_PASSWD_BYTES), file);
}

export function validUserName(name: string): boolean {
  return USER_RE.test(name);
}

/** Sets (adds or replaces) one user in the passwd file: written to a temporary file, mode 0600, renamed. */
export async function setPasswdUser(file: string, name: string, role: ConsoleRole, password: string): Promise<void> {
  if (!USER_RE.test(name)) throw new SiphonError('CONSOLE_PASSWD', `bad user name "${name.slice(0, 64)}" (letters, digits, _ . @ -, at most 64)`);
  const users = (await readPasswd(file)).filter((u) => u.name !== name);
  users.push({ name, role, hash: await hashPassword(password) });
  if (users.length > MAX_USERS) throw new SiphonError('CONSOLE_PASSWD', `more than ${MAX_USERS} users`, { where: file });
  const text = `# siphon console users: user:role:scrypt hash (siphon console passwd)\n${users.map((u) => `${u.name}:${u.role}:${u.hash}`).join('\n')}\n`;
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}
