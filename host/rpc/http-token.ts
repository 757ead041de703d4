/**
 * The bearer token of the control HTTP listener from `core.http.token_file` (a secret kept out of the
 * config file, e.g. a systemd credential or a Kubernetes secret, which are symlinks: followed). Read
 * once at start with the rules of core/regular-file.ts: a regular file of at most 4 KiB; surrounding
 * whitespace (the trailing newline of `echo > file`) is dropped; it must hold at least 16 characters and
 * no whitespace inside. A file others can read is used but logged as a warning.
 */
import { realpath } from 'node:fs/promises';
import type { Logger } from 'pino';
import { FileRefusal, readRegularFile } from '../core/regular-file.js';
import { SiphonError } from '../errors/registry.js';
import { MAX_TOKEN_FILE_BYTES } from './http-guard.js';

/** Shortest token accepted (config `core.http.token` has the same bound in the schema). */
export const MIN_TOKEN_LENGTH = 16;

export async function readHttpToken(file: string, log?: Logger): Promise<string> {
  let text: string;
  let mode: number;
  try {
    const r = await readRegularFile(await realpath(file), MAX_TOKEN_FILE_BYTES, true);
    text = r.bytes.toString('utf8').trim();
    mode = r.mode;
  } catch (e) {
    const why = e instanceof FileRefusal ? e.detail : ((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(e));
    throw new SiphonError('RPC_HTTP_TOKEN', `core.http.token_file: ${why}`, { where: file, cause: e });
  }
  if (text.length < MIN_TOKEN_LENGTH || /\s/.test(text)) {
    throw new SiphonError('RPC_HTTP_TOKEN', `core.http.token_file must hold one token of at least ${MIN_TOKEN_LENGTH} characters without spaces`, { where: file });
  }
  if ((mode & 0o077) !== 0) log?.warn({ file, mode: (mode & 0o777).toString(8) }, 'core.http.token_file is readable by other users (chmod 600)');
  return text;
}
