/**
 * `siphon console` — the operator console's users (host/console, docs/console.md):
 *
 *   siphon console [-c FILE | --passwd-file FILE] passwd USER [--role admin|readonly]
 *
 * reads the password from the first line of stdin (kept out of `ps` and shell history; type it, or
 * pipe it), hashes it with scrypt and writes `USER:ROLE:HASH` into the passwd file (default
 * core.http.console.passwd_file of the config, else <data_dir>/console.passwd), mode 0600. The
 * running node re-reads the file at each login: no restart.
 *
 * Exit status: 0 done, 1 the file could not be written, 2 usage.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { firstLineOfStdin, parseCommandArgs } from '../args.js';
import { loadConfig } from '../../config/load.js';
import { consolePasswdFile } from '../../console/index.js';
import { MAX_PASSWORD_LENGTH, ROLES, setPasswdUser, validUserName, type ConsoleRole } from '../../console/password.js';
import { moduleSchemas } from '../../server/modules.js';
import { DEFAULT_CONFIG_FILE } from '../config-options.js';

const USAGE = `Usage: siphon console [options] passwd USER

Commands:
  passwd USER            set USER's console password (read from the first line of stdin)

Options:
  -c, --config FILE      the node's config (default ${DEFAULT_CONFIG_FILE}): its passwd file
  --passwd-file FILE     write this passwd file instead
  --role ROLE            admin (default) or readonly
  -h, --help             this help
`;

export interface ConsoleCommandIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  readPassword?: () => Promise<string>;
}

export async function run(argv: string[], io: ConsoleCommandIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const parsed = parseCommandArgs('console', argv, {
    config: { type: 'string', short: 'c' },
    'passwd-file': { type: 'string' },
    role: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  } as const, USAGE, io);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const [cmd, user, ...rest] = positionals;
  const role = (values.role ?? 'admin') as ConsoleRole;
  const usage = (why: string): number => {
    io.stderr.write(`siphon console: ${why} [E1010 bad command line]\n\n${USAGE}`);
    return 2;
  };
  if (cmd !== 'passwd') return usage(cmd ? `unknown command '${cmd}'` : 'command expected');
  if (user === undefined || rest.length > 0) return usage('passwd takes one USER');
  if (!validUserName(user)) return usage('USER has 1-64 letters, digits, _ . @ -');
  if (!ROLES.includes(role)) return usage('--role is admin or readonly');
  try {
    const file = values['passwd-file'] !== undefined
      ? path.resolve(values['passwd-file'])
      : consolePasswdFile(await loadConfig(values.config ?? DEFAULT_CONFIG_FILE, { moduleSchemas: moduleSchemas() }));
    if (process.stdin.isTTY && !io.readPassword) io.stderr.write(`password for ${user}: `);
    const password = (await (io.readPassword ?? firstLineOfStdin)()).replace(/\r$/, '');
    if (password.length < 8 || password.length > MAX_PASSWORD_LENGTH) {
      io.stderr.write(`siphon console: a console password has 8..${MAX_PASSWORD_LENGTH} characters\n`);
      return 2;
    }
    await mkdir(path.dirname(file), { recursive: true });
    await setPasswdUser(file, user, role, password);
    io.stdout.write(`console user ${user} (${role}) set in ${file}\n`);
    return 0;
  } catch (e) {
    io.stderr.write(`siphon console: ${(e as Error).message}\n`);
    return 1;
  }
}
