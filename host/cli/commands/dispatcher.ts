/**
 * `siphon dispatcher` — manage dispatcher destinations in the configured store, like Kamailio's
 * `kamctl dispatcher add|show|rm|reload`:
 *
 *   siphon dispatcher [options] add SETID URI [FLAGS [PRIORITY [ATTRS [DESCRIPTION]]]]
 *   siphon dispatcher [options] show
 *   siphon dispatcher [options] rm ID             (the ID column of `show`, as kamctl's `rm <id>`)
 *   siphon dispatcher [options] rm SETID URI      (every entry of that set with that URI)
 *   siphon dispatcher [options] reload            (RPC dispatcher.reload on the running server)
 *
 * The store is the one the module reads (host/modules/dispatcher/README.md): the MySQL `dispatcher`
 * table (version 4) when `modules.dispatcher.db_url` is set, else the list file `list_file`. A list
 * file is edited line by line (comments and layout of the other lines are kept; a DESCRIPTION, which
 * the file format has no column for, is written as a trailing `# comment`) and replaced atomically.
 * After add/rm the running server is asked to reload over BINRPC; when none is reachable the change
 * applies at its next start.
 *
 * Exit status: 0 done, 1 nothing matched (rm) or the server refused the reload, 2 usage/config/store error.
 */
import { parseCommandArgs } from '../args.js';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isSiphonError } from '../../errors/registry.js';
import { checkTableVersion, openDatabase, type Database, type TableDef } from '../../db/index.js';
import { loadConfig, defaultConfig } from '../../config/load.js';
import { moduleSchemas } from '../../server/modules.js';
import { dispatcherConfigSchema, resolveDispatcherConfig } from '../../modules/dispatcher/config.js';
import { DISPATCHER_TABLE, type DispatcherRow } from '../../modules/dispatcher/db.js';
import { parseDispatcherList } from '../../modules/dispatcher/list-file.js';
import { parseDestinationUri } from '../../modules/dispatcher/destination.js';
import { BinrpcClient } from '../../rpc/binrpc-client.js';
import { defaultCtlPath } from '../../rpc/ctl-address.js';
import { RpcFault, type RpcValue } from '../../rpc/types.js';

const USAGE = `Usage: siphon dispatcher [options] <command>

Commands:
  add SETID URI [FLAGS [PRIORITY [ATTRS [DESCRIPTION]]]]
                         add a destination (kamctl dispatcher add 1 sip:mg1:5060 0 0 '' 'Media Gateway 1')
  show                   list the stored destinations (ID SETID URI FLAGS PRIORITY ATTRS DESCRIPTION)
  rm ID                  remove the destination with that ID (see show)
  rm SETID URI           remove the destinations of the set with that URI
  reload                 make the running server reload its sets (RPC dispatcher.reload)

Options:
  -c, --config FILE      config file (default config/siphon.yaml; defaults when it does not exist)
  --list-file FILE       override modules.dispatcher.list_file
  --db-url URL           override modules.dispatcher.db_url (mysql://user:pass@host:port/db; '' = list file)
  --ctl ADDRESS          control socket of the running server (default: the standard ctl path)
  --no-reload            do not ask the running server to reload after add/rm
  -h, --help             this help
`;

export interface DispatcherCommandIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  /** asks the running server to reload; default: BINRPC `dispatcher.reload` on the control socket. */
  reloadServer?: (ctl: string | undefined) => Promise<string>;
}

class UsageError extends Error {}

/** One stored destination as `show` prints it. */
export interface StoredDestination {
  /** table id, or the 1-based position among the destinations of the list file. */
  id: number;
  setid: number;
  uri: string;
  flags: number;
  priority: number;
  attrs: string;
  description: string;
}

/** The place the module reads its destinations from. */
interface DestinationStore {
  readonly location: string;
  list(): Promise<StoredDestination[]>;
  add(d: Omit<StoredDestination, 'id'>): Promise<void>;
  /** removes the destinations `match` selects; returns how many. */
  remove(match: (d: StoredDestination) => boolean): Promise<number>;
  close(): Promise<void>;
}

/** The Kamailio `dispatcher.list` file (host/modules/dispatcher/list-file.ts). */
class ListFileStore implements DestinationStore {
  readonly location: string;
  constructor(private readonly file: string) {
    this.location = file;
  }

  private async text(): Promise<string> {
    try {
      return await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw e;
    }
  }

  /** destinations with the 0-based line each one is on. */
  private async entries(): Promise<{ lines: string[]; found: Array<StoredDestination & { line: number }> }> {
    const text = await this.text();
    const name = path.basename(this.file);
    const specs = parseDispatcherList(text, name);
    const lines = text.split('\n');
    const found = specs.map((s, i) => {
      const line = Number(/:(\d+)$/.exec(s.where ?? '')?.[1] ?? 0) - 1;
      // the description is the trailing comment: a '#' after whitespace (attrs may hold a '#')
      const text = lines[line] ?? '';
      const comment = /(?:^|\s)#\s*(.*?)\s*$/.exec(text.slice(text.indexOf(s.uri) + s.uri.length));
      return { id: i + 1, setid: s.setid, uri: s.uri, flags: s.flags, priority: s.priority, attrs: s.attrs, description: comment?.[1] ?? '', line };
    });
    return { lines, found };
  }

  async list(): Promise<StoredDestination[]> {
    return (await this.entries()).found.map(({ line: _line, ...d }) => d);
  }

  async add(d: Omit<StoredDestination, 'id'>): Promise<void> {
    // the columns are positional: attrs can only be written when not empty (it is the last one)
    let line = `${d.setid} ${d.uri} ${d.flags} ${d.priority}`;
    if (d.attrs !== '') line += ` ${d.attrs}`;
    if (d.description !== '') line += ` # ${d.description.replace(/[\r\n]+/g, ' ')}`;
    parseDispatcherList(line, 'new entry'); // refuse what the module would refuse at load (E8001)
    const text = await this.text();
    await this.write(text === '' || text.endsWith('\n') ? `${text}${line}\n` : `${text}\n${line}\n`);
  }

  async remove(match: (d: StoredDestination) => boolean): Promise<number> {
    const { lines, found } = await this.entries();
    const drop = new Set(found.filter((d) => match(d)).map((d) => d.line));
    if (drop.size === 0) return 0;
    await this.write(lines.filter((_l, i) => !drop.has(i)).join('\n'));
    return drop.size;
  }

  /** write then rename: a server reloading concurrently never reads half a file. */
  private async write(text: string): Promise<void> {
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, text, 'utf8');
    await rename(tmp, this.file);
  }

  async close(): Promise<void> {}
}

/** The Kamailio `dispatcher` table (version 4) in MySQL/MariaDB. */
class TableStore implements DestinationStore {
  readonly location: string;
  constructor(
    private readonly db: Database,
    private readonly def: TableDef,
  ) {
    this.location = `table ${def.name} (${db.location})`;
  }

  async list(): Promise<StoredDestination[]> {
    const rows = await this.db.table<DispatcherRow>(this.def).all();
    return rows
      .sort((a, b) => Number(a.id) - Number(b.id))
      .map((r) => ({
        id: Number(r.id),
        setid: Number(r.setid),
        uri: String(r.destination),
        flags: Number(r.flags),
        priority: Number(r.priority),
        attrs: String(r.attrs ?? ''),
        description: String(r.description ?? ''),
      }));
  }

  async add(d: Omit<StoredDestination, 'id'>): Promise<void> {
    await this.db.table<DispatcherRow>(this.def).insert({
      setid: d.setid,
      destination: d.uri,
      flags: d.flags,
      priority: d.priority,
      attrs: d.attrs,
      description: d.description,
    });
  }

  async remove(match: (d: StoredDestination) => boolean): Promise<number> {
    const table = this.db.table<DispatcherRow>(this.def);
    let n = 0;
    for (const d of await this.list()) {
      if (match(d)) n += await table.delete({ id: d.id });
    }
    return n;
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

async function reloadOverBinrpc(ctl: string | undefined): Promise<string> {
  const client = await BinrpcClient.connect(ctl ?? defaultCtlPath());
  try {
    const reply = await client.call('dispatcher.reload');
    return reply.map((v: RpcValue) => (typeof v === 'string' ? v : JSON.stringify(v))).join('\n');
  } finally {
    await client.close();
  }
}

function integer(text: string | undefined, what: string, opts: { hex?: boolean } = {}): number {
  if (text === undefined || text === '') return 0;
  if (opts.hex && /^0x[0-9a-f]+$/i.test(text)) return Number.parseInt(text.slice(2), 16);
  if (!/^[0-9]+$/.test(text)) throw new UsageError(`${what} must be a non-negative integer, got '${text}'`);
  return Number.parseInt(text, 10);
}

function formatTable(rows: StoredDestination[]): string {
  if (rows.length === 0) return '';
  const head = ['ID', 'SETID', 'DESTINATION', 'FLAGS', 'PRIORITY', 'ATTRS', 'DESCRIPTION'];
  const cells = rows.map((d) => [String(d.id), String(d.setid), d.uri, String(d.flags), String(d.priority), d.attrs, d.description]);
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((v, i) => v.padEnd(width[i]!)).join('  ').trimEnd();
  return `${[line(head), ...cells.map(line)].join('\n')}\n`;
}

export async function run(argv: string[], io: DispatcherCommandIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const parsed = parseCommandArgs('dispatcher', argv, {
    config: { type: 'string', short: 'c' },
    'list-file': { type: 'string' },
    'db-url': { type: 'string' },
    ctl: { type: 'string' },
    'no-reload': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  } as const, USAGE, io);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const [cmd, ...args] = positionals;
  const reload = io.reloadServer ?? reloadOverBinrpc;
  let store: DestinationStore | undefined;
  try {
    if (cmd === 'reload') {
      if (args.length > 0) throw new UsageError('reload takes no arguments');
      io.stdout.write(`${await reload(values.ctl)}\n`);
      return 0;
    }
    if (cmd !== 'add' && cmd !== 'rm' && cmd !== 'show') throw new UsageError(cmd ? `unknown command '${cmd}'` : 'command expected');

    // the store: config file (when present) + overrides
    const schemas = { ...moduleSchemas(), dispatcher: dispatcherConfigSchema };
    const config = values.config
      ? await loadConfig(values.config, { moduleSchemas: schemas })
      : await loadConfig('config/siphon.yaml', { moduleSchemas: schemas }).catch((e) =>
          isSiphonError(e, 'CONFIG_READ') ? defaultConfig({ moduleSchemas: schemas }) : Promise.reject(e),
        );
    const cfg = resolveDispatcherConfig((config.modules['dispatcher'] ?? {}) as Record<string, unknown>);
    if (values['db-url'] !== undefined) cfg.db_url = values['db-url'] || null;
    if (values['list-file'] !== undefined) cfg.list_file = values['list-file'];
    if (cfg.db_url) {
      const db = await openDatabase(cfg.db_url, { dataDir: config.core.data_dir });
      const def = { ...DISPATCHER_TABLE, name: cfg.table_name };
      try {
        await checkTableVersion(db, def); // as the module: the table must exist at version 4
      } catch (e) {
        await db.close();
        throw e;
      }
      store = new TableStore(db, def);
    } else {
      // the module resolves list_file against the working directory (host/modules/dispatcher/index.ts)
      store = new ListFileStore(path.resolve(cfg.list_file));
    }

    if (cmd === 'show') {
      if (args.length > 0) throw new UsageError('show takes no arguments');
      io.stdout.write(formatTable(await store.list()));
      return 0;
    }

    let changed: number;
    if (cmd === 'add') {
      if (args.length < 2 || args.length > 6) throw new UsageError('add takes SETID URI [FLAGS [PRIORITY [ATTRS [DESCRIPTION]]]]');
      const [setText, uri, flagsText, prioText, attrs = '', description = ''] = args as [string, string, ...string[]];
      const setid = integer(setText, 'SETID');
      parseDestinationUri(uri, 'URI'); // E8003 for what the module would skip or refuse
      if (/\s/.test(attrs)) throw new UsageError('ATTRS must not contain spaces (name=value;name=value)');
      await store.add({ setid, uri, flags: integer(flagsText, 'FLAGS', { hex: true }), priority: integer(prioText, 'PRIORITY'), attrs, description });
      changed = 1;
      io.stdout.write(`added set ${setid} ${uri} to ${store.location}\n`);
    } else {
      let match: (d: StoredDestination) => boolean;
      if (args.length === 1) {
        const id = integer(args[0], 'ID');
        match = (d) => d.id === id;
      } else if (args.length === 2) {
        const setid = integer(args[0], 'SETID');
        const uri = args[1]!;
        match = (d) => d.setid === setid && d.uri === uri;
      } else throw new UsageError('rm takes ID, or SETID URI');
      changed = await store.remove(match);
      io.stdout.write(`${changed} destination(s) removed from ${store.location}\n`);
      if (changed === 0) return 1;
    }

    if (changed > 0 && !values['no-reload']) {
      try {
        io.stdout.write(`${await reload(values.ctl)}\n`);
      } catch (e) {
        if (e instanceof RpcFault) throw e;
        // no server reachable: the change applies when it starts
        io.stdout.write(`no running server reached (${(e as Error).message}); the change applies at the next start or 'siphon dispatcher reload'\n`);
      }
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`siphon dispatcher: ${e.message} [E1010 bad command line]\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof RpcFault) {
      io.stderr.write(`siphon dispatcher: ${e.faultCode} ${e.message}\n`);
      return 1;
    }
    io.stderr.write(`siphon dispatcher: ${(e as Error).message}\n`);
    return 2;
  } finally {
    await store?.close();
  }
}
