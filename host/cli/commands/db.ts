/**
 * `siphon db migrate [-c FILE] [--db-url URL] [--data-dir DIR]` — creates the tables of the modules
 * (and Kamailio's `version` rows), like `kamdbctl create` for the tables siphon uses. Existing tables at
 * the expected version are left alone; a table at another version is reported (E5005).
 * Exit status: 0 done, 2 usage/config/DB error.
 */
import { parseCommandArgs } from '../args.js';
import { migrate, openDatabase } from '../../db/index.js';
import type { Database, TableDef } from '../../db/types.js';
import { defaultConfig, loadConfig } from '../../config/load.js';
import { isSiphonError } from '../../errors/registry.js';
import { moduleSchemas } from '../../server/modules.js';
import { columnsOf } from '../../modules/secfilter/index.js';
import { resolveSecFilterConfig, secfilterConfigSchema } from '../../modules/secfilter/config.js';
import { secfilterTableDef } from '../../modules/secfilter/table.js';

const USAGE = `Usage: siphon db migrate [-c FILE] [--db-url URL] [--data-dir DIR]

Creates the secfilter table (version 1) and the version table in the configured store.
`;

export interface DbCommandIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** the tables siphon's modules need, from their config. (Dispatcher/registrar add theirs here.) */
export function moduleTables(modules: Record<string, Record<string, unknown>>): TableDef[] {
  return [secfilterTableDef(columnsOf(resolveSecFilterConfig(modules['secfilter'] ?? {})))];
}

export async function run(argv: string[], io: DbCommandIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const parsed = parseCommandArgs('db', argv, {
    config: { type: 'string', short: 'c' },
    'db-url': { type: 'string' },
    'data-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  } as const, USAGE, io);
  if (typeof parsed === 'number') return parsed;
  if (parsed.positionals[0] !== 'migrate' || parsed.positionals.length !== 1) {
    io.stderr.write(`siphon db: expected 'migrate' [E1010 bad command line]\n\n${USAGE}`);
    return 2;
  }
  let db: Database | undefined;
  try {
    const schemas = { ...moduleSchemas(), secfilter: secfilterConfigSchema };
    const file = parsed.values.config ?? 'config/siphon.yaml';
    const config = await loadConfig(file, { moduleSchemas: schemas }).catch((e) =>
      !parsed.values.config && isSiphonError(e, 'CONFIG_READ') ? defaultConfig({ moduleSchemas: schemas }) : Promise.reject(e),
    );
    const url = parsed.values['db-url'] ?? (resolveSecFilterConfig(config.modules['secfilter'] ?? {}).db_url || undefined);
    db = await openDatabase(url, { dataDir: parsed.values['data-dir'] ?? config.core.data_dir });
    for (const r of await migrate(db, moduleTables(config.modules))) {
      io.stdout.write(`${r.table}\tversion ${r.version}\t${r.status === 'created' ? 'created' : 'up to date'}\n`);
    }
    return 0;
  } catch (e) {
    io.stderr.write(`siphon db: ${(e as Error).message}\n`);
    return 2;
  } finally {
    await db?.close();
  }
}
