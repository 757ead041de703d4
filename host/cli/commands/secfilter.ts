/**
 * `siphon secfilter` — manage the secfilter rules in the configured store (embedded files under
 * core.data_dir, or the MySQL table of modules.secfilter.db_url), like editing Kamailio's `secfilter`
 * table with kamctl/SQL, then `secfilter.reload`.
 *
 *   siphon secfilter [-c FILE] [--db-url URL] [--data-dir DIR] add bl|wl TYPE VALUE
 *   siphon secfilter ... add dst NUMBER
 *   siphon secfilter ... rm bl|wl TYPE VALUE | rm dst NUMBER      (removes rows with exactly that value)
 *   siphon secfilter ... show [TYPE]                              (TYPE: ua country domain ip user dst)
 *   siphon secfilter [--ctl ADDRESS] reload                       (asks the running server to reload)
 *
 * Exit status: 0 done, 1 nothing matched (rm) or the server refused the reload, 2 usage/config/DB error.
 */
import { parseCommandArgs } from '../args.js';
import { isSiphonError } from '../../errors/registry.js';
import { openDatabase } from '../../db/index.js';
import type { Database } from '../../db/types.js';
import { loadConfig, defaultConfig } from '../../config/load.js';
import { moduleSchemas } from '../../server/modules.js';
import { columnsOf } from '../../modules/secfilter/index.js';
import { resolveSecFilterConfig, secfilterConfigSchema } from '../../modules/secfilter/config.js';
import { RuleSet } from '../../modules/secfilter/rules.js';
import { TableRuleSource } from '../../modules/secfilter/source.js';
import { secfilterTableDef, TYPE_CODE, RULE_TYPES, type RuleType } from '../../modules/secfilter/table.js';
import { BinrpcClient } from '../../rpc/binrpc-client.js';
import { defaultCtlPath } from '../../rpc/ctl-address.js';
import { RpcFault, type RpcValue } from '../../rpc/types.js';

const USAGE = `Usage: siphon secfilter [options] <command>

Commands:
  add bl|wl TYPE VALUE   add a black/white list rule (TYPE: ua, country, domain, ip, user)
  add dst NUMBER         add a destination to the destination blacklist
  rm bl|wl TYPE VALUE    remove the rules with exactly this value
  rm dst NUMBER          remove a destination
  show [TYPE]            list the stored rules (TYPE: ua, country, domain, ip, user, dst)
  reload                 make the running server reload its rules (RPC secfilter.reload)

Options:
  -c, --config FILE      config file (default config/siphon.yaml; defaults when it does not exist)
  --db-url URL           override modules.secfilter.db_url (mysql://user:pass@host:port/db)
  --data-dir DIR         override core.data_dir (embedded store)
  --ctl ADDRESS          control socket of the running server (reload)
  -h, --help             this help
`;

export interface SecfilterCommandIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  /**
   * Asks the running server to reload (the hook the RPC transport fills). Default: BINRPC call of
   * `secfilter.reload` on the control socket (`--ctl`, else the default ctl path).
   */
  reloadServer?: (ctl: string | undefined) => Promise<string>;
}

async function reloadOverBinrpc(ctl: string | undefined): Promise<string> {
  const client = await BinrpcClient.connect(ctl ?? defaultCtlPath());
  try {
    const reply = await client.call('secfilter.reload');
    return reply.map((v: RpcValue) => (typeof v === 'string' ? v : JSON.stringify(v))).join('\n');
  } finally {
    await client.close();
  }
}

const LIST_ACTION: Record<string, number> = { bl: 0, wl: 1, dst: 2 };

function ruleType(text: string | undefined): RuleType {
  const t = RULE_TYPES.find((x) => x === text?.toLowerCase());
  if (!t) throw new UsageError(`unknown type '${text ?? ''}' (ua, country, domain, ip, user)`);
  return t;
}

class UsageError extends Error {}

export async function run(argv: string[], io: SecfilterCommandIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const parsed = parseCommandArgs('secfilter', argv, {
    config: { type: 'string', short: 'c' },
    'db-url': { type: 'string' },
    'data-dir': { type: 'string' },
    ctl: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  } as const, USAGE, io);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const [cmd, ...args] = positionals;
  let db: Database | undefined;
  try {
    if (cmd === 'reload') {
      const reply = await (io.reloadServer ?? reloadOverBinrpc)(values.ctl);
      io.stdout.write(`${reply}\n`);
      return 0;
    }
    if (cmd !== 'add' && cmd !== 'rm' && cmd !== 'show') throw new UsageError(cmd ? `unknown command '${cmd}'` : 'command expected');

    // the store: config file (when present) + overrides
    const schemas = { ...moduleSchemas(), secfilter: secfilterConfigSchema };
    const config = values.config
      ? await loadConfig(values.config, { moduleSchemas: schemas })
      : await loadConfig('config/siphon.yaml', { moduleSchemas: schemas }).catch((e) =>
          isSiphonError(e, 'CONFIG_READ') ? defaultConfig({ moduleSchemas: schemas }) : Promise.reject(e),
        );
    const cfg = resolveSecFilterConfig(config.modules['secfilter'] ?? {});
    if (values['db-url'] !== undefined) cfg.db_url = values['db-url'] || null;
    const dataDir = values['data-dir'] ?? config.core.data_dir;
    db = await openDatabase(cfg.db_url, { dataDir });
    const columns = columnsOf(cfg);
    if (db.kind === 'embedded' || cmd !== 'show') await db.ensureTable(secfilterTableDef(columns));
    const source = new TableRuleSource(db, columns);

    if (cmd === 'show') {
      const rules = RuleSet.fromRules(await source.load());
      const only = args[0]?.toLowerCase();
      if (only !== undefined && only !== 'dst') ruleType(only);
      const lines: string[] = [];
      if (!only || only === 'dst') lines.push(...rules.destinations.entries.map((v) => `dst\t-\t${v}`));
      for (const t of RULE_TYPES) {
        if (only && only !== t) continue;
        lines.push(...rules.blacklist[t].entries.map((v) => `bl\t${t}\t${v}`));
        lines.push(...rules.whitelist[t].entries.map((v) => `wl\t${t}\t${v}`));
      }
      io.stdout.write(lines.length ? `${lines.join('\n')}\n` : '');
      return 0;
    }

    const list = args[0];
    if (list === undefined || !(list in LIST_ACTION)) throw new UsageError(`list must be bl, wl or dst`);
    let type: number;
    let value: string | undefined;
    if (list === 'dst') {
      type = 0;
      value = args[1];
      if (args.length !== 2) throw new UsageError(`${cmd} dst takes one NUMBER`);
    } else {
      if (args.length !== 3) throw new UsageError(`${cmd} ${list} takes TYPE VALUE`);
      type = TYPE_CODE[ruleType(args[1])];
      value = args[2];
    }
    if (!value) throw new UsageError('empty value');
    const rule = { action: LIST_ACTION[list]!, type, data: value };
    if (cmd === 'add') {
      await source.add(rule);
      io.stdout.write(`added to ${db.location}; run 'siphon secfilter reload' to apply\n`);
      return 0;
    }
    const n = await source.remove(rule);
    io.stdout.write(`${n} rule(s) removed from ${db.location}${n ? "; run 'siphon secfilter reload' to apply" : ''}\n`);
    return n > 0 ? 0 : 1;
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`siphon secfilter: ${e.message} [E1010 bad command line]\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof RpcFault) {
      io.stderr.write(`siphon secfilter: ${e.faultCode} ${e.message}\n`);
      return 1;
    }
    io.stderr.write(`siphon secfilter: ${(e as Error).message}\n`);
    return 2;
  } finally {
    await db?.close();
  }
}
