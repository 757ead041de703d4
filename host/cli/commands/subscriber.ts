/**
 * `siphon subscriber` — the subscriber table of auth_db, like `kamctl add|passwd|rm` (and a `list`
 * without secrets):
 *
 *   siphon subscriber [options] add USER@DOMAIN PASSWORD
 *   siphon subscriber [options] passwd USER@DOMAIN PASSWORD
 *   siphon subscriber [options] rm USER@DOMAIN
 *   siphon subscriber [options] list [DOMAIN]
 *
 * PASSWORD `-` reads the password from the first line of stdin (kept out of `ps` and shell history).
 * The HA1 values are kamctl's: ha1 = MD5(user:domain:password), ha1b = MD5(user@domain:domain:password);
 * the password itself is stored too unless `modules.auth_db.store_password` is off (kamctl
 * STORE_PLAINTEXT_PW, default 1).
 *
 * Where the change goes (live without a restart, host/modules/auth_db/README.md):
 *   - MySQL (`modules.auth_db.db_url` or --db-url): SQL on the table directly; every node reads it
 *     on the next request.
 *   - embedded store: the running node owns its files (single writer), so when a node answers on the
 *     control socket (--ctl, else the default path) the CLI calls its `subscriber.*` RPC and the node
 *     writes and serves the change at once. When none answers (or it runs without modules.auth_db),
 *     the CLI writes the files under core.data_dir itself.
 *
 * Exit status: 0 done, 1 refused (exists / no such subscriber), 2 usage, config, connection or DB error.
 */
import { firstLineOfStdin, parseCommandArgs } from '../args.js';
import { isSiphonError } from '../../errors/registry.js';
import { openDatabase, type Database } from '../../db/index.js';
import { loadConfig, defaultConfig } from '../../config/load.js';
import { moduleSchemas } from '../../server/modules.js';
import { authDbConfigSchema, resolveAuthDbConfig } from '../../modules/auth_db/config.js';
import { SubscriberStore, type SubscriberListing } from '../../modules/auth_db/store.js';
import { checkDomain, checkPassword, parseAccount } from '../../modules/auth_db/table.js';
import { BinrpcClient } from '../../rpc/binrpc-client.js';
import { defaultCtlPath } from '../../rpc/ctl-address.js';
import { RpcFault, type RpcValue } from '../../rpc/types.js';

const USAGE = `Usage: siphon subscriber [options] <command>

Commands:
  add USER@DOMAIN PASSWORD      add a subscriber (PASSWORD '-' reads it from stdin)
  passwd USER@DOMAIN PASSWORD   change a subscriber's password
  rm USER@DOMAIN                remove a subscriber
  list [DOMAIN]                 list subscribers (no passwords)

Options:
  -c, --config FILE      config file (default config/siphon.yaml; defaults when it does not exist)
  --db-url URL           override modules.auth_db.db_url (mysql://user:pass@host:port/db; '' = embedded)
  --data-dir DIR         override core.data_dir (embedded store)
  --ctl ADDRESS          control socket of the running node (default: the standard ctl path)
  --table NAME           subscriber table (default: the first of modules.auth_db.tables)
  -h, --help             this help
`;

/** What the command talks to; tests replace the RPC transport. */
export interface SubscriberCommandIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  /** the password for PASSWORD '-' (default: the first line of stdin). */
  readPassword?: () => Promise<string>;
  /**
   * Calls `method` on the running node; resolves null when no node answers on the control socket
   * (default: BINRPC on `--ctl`, else the default ctl path).
   */
  callNode?: (ctl: string | undefined, method: string, params: RpcValue[]) => Promise<RpcValue[] | null>;
}

class UsageError extends Error {}

/** an RPC answer of a node that runs without modules.auth_db (registry: "command X not found"). */
const isUnknownMethod = (e: unknown): boolean => e instanceof RpcFault && e.faultCode === 404 && /^command \S+ not found/.test(e.message);

async function callOverBinrpc(ctl: string | undefined, method: string, params: RpcValue[]): Promise<RpcValue[] | null> {
  let client: BinrpcClient;
  try {
    client = await BinrpcClient.connect(ctl ?? defaultCtlPath(), { timeoutMs: 10_000 });
  } catch (e) {
    if (isSiphonError(e, 'RPC_CONNECT')) return null; // no node: the CLI writes the store itself
    throw e;
  }
  try {
    return await client.call(method, params);
  } catch (e) {
    if (isUnknownMethod(e)) return null;
    throw e;
  } finally {
    await client.close();
  }
}

function formatList(rows: Array<{ id: number; user: string; domain: string }>): string {
  if (rows.length === 0) return '';
  const head = ['ID', 'USERNAME', 'DOMAIN'];
  const cells = rows.map((r) => [String(r.id), r.user, r.domain]);
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((v, i) => v.padEnd(width[i]!)).join('  ').trimEnd();
  return `${[line(head), ...cells.map(line)].join('\n')}\n`;
}

function listingOf(reply: RpcValue[]): SubscriberListing[] {
  const v = reply[0] as { subscribers?: Array<{ id: number; username: string; domain: string }> } | undefined;
  return (v?.subscribers ?? []).map((s) => ({ id: Number(s.id), user: String(s.username), domain: String(s.domain) }));
}

export async function run(argv: string[], io: SubscriberCommandIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const parsed = parseCommandArgs('subscriber', argv, {
    config: { type: 'string', short: 'c' },
    'db-url': { type: 'string' },
    'data-dir': { type: 'string' },
    ctl: { type: 'string' },
    table: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  } as const, USAGE, io);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const [cmd, ...args] = positionals;
  let db: Database | undefined;
  try {
    // arguments first: nothing is opened for a bad command line
    const arity: Record<string, [number, number]> = { add: [2, 2], passwd: [2, 2], rm: [1, 1], list: [0, 1] };
    const range = cmd !== undefined ? arity[cmd] : undefined;
    if (!range) throw new UsageError(cmd ? `unknown command '${cmd}'` : 'command expected');
    if (args.length < range[0] || args.length > range[1]) throw new UsageError(`wrong number of arguments for ${cmd}`);
    const account = cmd === 'list' ? null : parseAccount(args[0]);
    let password: string | null = null;
    if (cmd === 'add' || cmd === 'passwd') {
      const given = args[1]!;
      password = checkPassword(given === '-' ? await (io.readPassword ?? firstLineOfStdin)() : given);
    }
    const domain = cmd === 'list' && args[0] !== undefined ? checkDomain(args[0]) : undefined;

    const schemas = { ...moduleSchemas(), auth_db: authDbConfigSchema };
    const config = values.config
      ? await loadConfig(values.config, { moduleSchemas: schemas })
      : await loadConfig('config/siphon.yaml', { moduleSchemas: schemas }).catch((e) =>
          isSiphonError(e, 'CONFIG_READ') ? defaultConfig({ moduleSchemas: schemas }) : Promise.reject(e),
        );
    const cfg = resolveAuthDbConfig((config.modules['auth_db'] as Record<string, unknown> | undefined) ?? {});
    if (values['db-url'] !== undefined) cfg.db_url = values['db-url'] || null;
    const table = values.table ?? cfg.tables[0]!;
    if (!cfg.tables.includes(table)) cfg.tables = [table, ...cfg.tables];
    const who = account ? `${account.user}@${account.domain}` : '';

    // embedded store: the running node writes (and serves) it
    if (!cfg.db_url) {
      const call = io.callNode ?? callOverBinrpc;
      const params: RpcValue[] =
        cmd === 'list' ? [domain ?? '', table] : cmd === 'rm' ? [who, table] : [who, password!, table];
      const reply = await call(values.ctl, `subscriber.${cmd}`, params);
      if (reply !== null) {
        if (cmd === 'list') io.stdout.write(formatList(listingOf(reply)));
        else io.stdout.write(`${reply.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join('\n')} (through the running node)\n`);
        return 0;
      }
    }

    db = await openDatabase(cfg.db_url, { dataDir: values['data-dir'] ?? config.core.data_dir });
    const store = new SubscriberStore(db, { ...cfg, tables: [table] });
    if (cmd === 'add' || db.kind === 'embedded') await store.prepare();
    switch (cmd) {
      case 'add':
        await store.add(table, account!, password!);
        io.stdout.write(`new user '${who}' added to ${db.location}\n`);
        break;
      case 'passwd':
        await store.passwd(table, account!, password!);
        io.stdout.write(`password of '${who}' changed in ${db.location}\n`);
        break;
      case 'rm':
        await store.rm(table, account!);
        io.stdout.write(`user '${who}' removed from ${db.location}\n`);
        break;
      default:
        io.stdout.write(formatList(await store.list(table, domain)));
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`siphon subscriber: ${e.message} [E1010 bad command line]\n\n${USAGE}`);
      return 2;
    }
    if (isSiphonError(e, 'AUTHDB_BAD_SUBSCRIBER')) {
      io.stderr.write(`siphon subscriber: ${e.message}\n`);
      return 2;
    }
    if (isSiphonError(e, 'AUTHDB_SUBSCRIBER_EXISTS') || isSiphonError(e, 'AUTHDB_NO_SUBSCRIBER')) {
      io.stderr.write(`siphon subscriber: ${e.message}\n`);
      return 1;
    }
    if (e instanceof RpcFault) {
      io.stderr.write(`siphon subscriber: ${e.faultCode} ${e.message}\n`);
      return e.faultCode === 404 || e.faultCode === 409 ? 1 : 2;
    }
    io.stderr.write(`siphon subscriber: ${(e as Error).message}\n`);
    return 2;
  } finally {
    await db?.close();
  }
}
