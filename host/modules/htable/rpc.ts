/**
 * RPC methods of htable, with Kamailio's names, parameters, reply shapes and fault texts (htable.c
 * htable_rpc_*, checked against Kamailio 5.6.3 with kamcmd): `htable.get`, `sets`, `seti`, `setxs`, `setxi`, `setex`,
 * `delete`, `dump`, `reload`, `store`, `flush`, `listTables`, `stats`. They run on shard 0, whose
 * tables are the node's (README "Shards"); every change reaches the worker shards.
 */
import { RpcFault, type RpcMethod, type RpcValue } from '../../rpc/types.js';
import type { Htable } from './htable.js';
import type { HtTable, HtValue } from './table.js';

/** what the RPC layer needs of the module besides the tables: the DB side of a table. */
export interface HtableDbControl {
  /** reloads a table from its dbtable; how many items it holds now. Throws RpcFault when it has none. */
  reload(table: string): Promise<number>;
  /** writes a table to its dbtable; how many rows. */
  store(table: string): Promise<number>;
}

/** AVP_VAL_STR: the `flags` htable.get shows for a string value (0 for an integer). */
const AVP_VAL_STR = 2;

const pad = (n: number): string => String(n).padStart(2, '0');

/** Kamailio prints an item's expiry as local time `YYYY-MM-DD HH:MM:SS`, or NEVER. */
export function expireText(ms: number): string {
  if (ms === 0) return 'NEVER';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function str(v: RpcValue | undefined): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

function tableOf(ht: Htable, v: RpcValue | undefined): HtTable {
  const t = ht.table(str(v) ?? '');
  if (t === undefined) throw new RpcFault(500, 'No such htable');
  return t;
}

/** an integer parameter: kamcmd sends `123` as an int; JSON-RPC callers may send "123". */
function intOf(v: RpcValue | undefined): number | null {
  if (typeof v === 'number') return Number.isInteger(v) && (v | 0) === v ? v : null;
  if (typeof v === 'string' && /^[-+]?\d{1,10}$/.test(v.trim())) {
    const n = Number(v);
    return (n | 0) === n ? n : null;
  }
  return null;
}

function setReply(r: unknown): string {
  if (r === 'full') throw new RpcFault(500, 'Unable to set key: htable full (max_entries)');
  if (r === 'bytes') throw new RpcFault(500, 'Unable to set key: htable full (max_bytes)');
  if (r === 'key') throw new RpcFault(500, 'Unable to set key: key too long (max_key_length)');
  if (r === 'value') throw new RpcFault(500, 'Unable to set key: value too long (max_value_length)');
  return 'Ok. Key set to new value.';
}

const valueOut = (v: HtValue): RpcValue => v;

export function htableRpcMethods(ht: Htable, db: HtableDbControl): RpcMethod[] {
  return [
    {
      name: 'htable.get',
      help: 'Get one key from a hash table.',
      handler(params) {
        if (params.length < 2) throw new RpcFault(500, 'Not enough parameters (htable name and key name)');
        const tab = tableOf(ht, params[0]);
        const it = ht.get(tab.name, str(params[1]) ?? '');
        if (!it) throw new RpcFault(500, "Key name doesn't exist in htable.");
        return { item: { name: it.key, value: valueOut(it.value), flags: typeof it.value === 'string' ? AVP_VAL_STR : 0, expire: expireText(it.expires) } };
      },
    },
    {
      name: 'htable.sets',
      help: 'Set one key in a hash table to a string value.',
      handler(params) {
        const value = str(params[2]);
        if (params.length < 3 || value === null) throw new RpcFault(500, 'Not enough parameters (htable name, key name and value)');
        const tab = tableOf(ht, params[0]);
        return setReply(ht.set(tab.name, str(params[1]) ?? '', value));
      },
    },
    {
      name: 'htable.seti',
      help: 'Set one key in a hash table to an integer value.',
      handler(params) {
        const value = intOf(params[2]);
        if (params.length < 3 || value === null) throw new RpcFault(500, 'Not enough parameters (htable name, key name and value)');
        const tab = tableOf(ht, params[0]);
        return setReply(ht.set(tab.name, str(params[1]) ?? '', value));
      },
    },
    {
      name: 'htable.setxs',
      help: 'Set one key in a hash table to a string value, with its expire (seconds).',
      handler(params) {
        const value = str(params[2]);
        const secs = intOf(params[3]);
        if (params.length < 4 || value === null || secs === null || secs < 0) throw new RpcFault(500, 'Not enough parameters (htable name, key name, value and expire)');
        const tab = tableOf(ht, params[0]);
        const key = str(params[1]) ?? '';
        const r = setReply(ht.set(tab.name, key, value));
        ht.setExpire(tab.name, key, secs);
        return r;
      },
    },
    {
      name: 'htable.setxi',
      help: 'Set one key in a hash table to an integer value, with its expire (seconds).',
      handler(params) {
        const value = intOf(params[2]);
        const secs = intOf(params[3]);
        if (params.length < 4 || value === null || secs === null || secs < 0) throw new RpcFault(500, 'Not enough parameters (htable name, key name, value and expire)');
        const tab = tableOf(ht, params[0]);
        const key = str(params[1]) ?? '';
        const r = setReply(ht.set(tab.name, key, value));
        ht.setExpire(tab.name, key, secs);
        return r;
      },
    },
    {
      name: 'htable.setex',
      help: 'Set the expire of one key in a hash table (seconds from now, 0 = never).',
      handler(params) {
        const secs = intOf(params[2]);
        if (params.length < 3 || secs === null || secs < 0) throw new RpcFault(500, 'Not enough parameters (htable name, key name and expire)');
        const tab = tableOf(ht, params[0]);
        if (!ht.setExpire(tab.name, str(params[1]) ?? '', secs)) throw new RpcFault(404, 'Key not found in htable.');
        return 'Ok. Key expire set.';
      },
    },
    {
      name: 'htable.delete',
      help: 'Delete one key from a hash table.',
      handler(params) {
        if (params.length < 2) throw new RpcFault(500, 'Not enough parameters (htable name & key name)');
        const tab = tableOf(ht, params[0]);
        if (!ht.remove(tab.name, str(params[1]) ?? '')) throw new RpcFault(404, 'Key not found in htable.');
        return 'Ok. Key deleted.';
      },
    },
    {
      name: 'htable.dump',
      help: 'Dump the content of a hash table, grouped by slot.',
      handler(params) {
        if (params.length < 1) throw new RpcFault(500, 'No htable name given');
        const tab = tableOf(ht, params[0]);
        const slots = new Map<number, RpcValue[]>();
        for (const it of tab.live(ht.now())) {
          const e = tab.slotOf(it.key);
          let s = slots.get(e);
          if (s === undefined) slots.set(e, (s = []));
          s.push({ name: it.key, value: valueOut(it.value), type: typeof it.value === 'string' ? 'str' : 'int' });
        }
        return [...slots.keys()].sort((a, b) => a - b).map((e) => ({ entry: e, size: slots.get(e)!.length, slot: slots.get(e)! }));
      },
    },
    {
      name: 'htable.reload',
      help: 'Reload a hash table from its database table.',
      async handler(params) {
        if (params.length < 1) throw new RpcFault(500, 'No htable name given');
        const tab = tableOf(ht, params[0]);
        await db.reload(tab.name);
        return [];
      },
    },
    {
      name: 'htable.store',
      help: 'Write a hash table to its database table.',
      async handler(params) {
        if (params.length < 1) throw new RpcFault(500, 'No htable name given');
        const tab = tableOf(ht, params[0]);
        await db.store(tab.name);
        return [];
      },
    },
    {
      name: 'htable.flush',
      help: 'Empty a hash table.',
      handler(params) {
        if (params.length < 1) throw new RpcFault(500, 'No htable name given');
        const tab = tableOf(ht, params[0]);
        ht.reset(tab.name);
        return 'Ok. Htable flushed.';
      },
    },
    {
      name: 'htable.listTables',
      help: 'List the defined hash tables.',
      handler() {
        // Kamailio keeps its tables in a list it prepends to: the last defined comes first
        return [...ht.specs.values()].reverse().map((s) => ({
          name: s.name,
          dbtable: s.dbtable,
          dbmode: s.dbmode,
          expire: s.autoexpire,
          updateexpire: s.updateexpire,
          size: 2 ** s.size,
          dmqreplicate: 0,
        }));
      },
    },
    {
      name: 'htable.stats',
      help: 'Statistics of the hash tables: slots, items, fewest and most items in a slot.',
      handler() {
        const now = ht.now();
        return [...ht.specs.values()].reverse().map((s) => {
          const tab = ht.table(s.name)!;
          const per = new Map<number, number>();
          let all = 0;
          for (const it of tab.live(now)) {
            const e = tab.slotOf(it.key);
            per.set(e, (per.get(e) ?? 0) + 1);
            all++;
          }
          let max = 0;
          let min = per.size < tab.slots ? 0 : Infinity;
          for (const n of per.values()) {
            if (n > max) max = n;
            if (n < min) min = n;
          }
          return { name: s.name, slots: tab.slots, all, min: min === Infinity ? 0 : min, max };
        });
      },
    },
  ];
}
