/**
 * RPC methods of secfilter (Kamailio secfilter_rpc.c, 6.1 names and replies). Differences on purpose:
 * add_dst/del_dst take the number as a string (Kamailio parses an int, losing `+` and leading zeros);
 * print returns arrays where Kamailio repeats `Value` keys in a struct (JSON cannot repeat keys).
 */
import { isSiphonError } from '../../errors/registry.js';
import { RpcFault, type RpcMethod, type RpcValue } from '../../rpc/types.js';
import type { ListKind } from './rules.js';
import type { SecFilter } from './secfilter.js';
import { RULE_TYPES, type RuleType } from './table.js';

const PRINT_TYPES = ['ua', 'country', 'domain', 'ip', 'user', 'dst'] as const;
type PrintType = (typeof PRINT_TYPES)[number];

/** Kamailio compares the keyword with the given text as a prefix (`u` is taken as `ua`). */
function keyword<T extends string>(given: string, words: readonly T[]): T | undefined {
  const g = given.toLowerCase();
  return words.find((w) => w === g) ?? (g.length > 0 ? words.find((w) => w.startsWith(g)) : undefined);
}

function str(params: RpcValue[], i: number, usage: string): string {
  const v = params[i];
  if (typeof v === 'string' && v.length > 0) return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  throw new RpcFault(400, usage);
}

function ruleType(given: string, usage: string): RuleType {
  const t = keyword(given, RULE_TYPES);
  if (!t) throw new RpcFault(400, `Invalid type "${given}" (ua, country, domain, ip, user). ${usage}`);
  return t;
}

export function secfilterRpcMethods(sf: SecFilter): RpcMethod[] {
  const listMethods = (verb: 'add' | 'del', kind: ListKind): RpcMethod => {
    const short = kind === 'blacklist' ? 'bl' : 'wl';
    const example = kind === 'blacklist' ? 'sipvicious' : 'trusted_user';
    const usage = `Invalid Parameters. Usage: secfilter.${verb}_${short} type value\n     Example: secfilter.${verb}_${short} user ${example}`;
    return {
      name: `secfilter.${verb}_${short}`,
      help:
        verb === 'add'
          ? `Add a value to the ${kind} in memory (type: ua, country, domain, ip, user).`
          : `Remove from the ${kind} in memory every value starting with the given text.`,
      handler(params) {
        const typeText = str(params, 0, usage);
        const value = str(params, 1, usage);
        const type = ruleType(typeText, usage);
        if (verb === 'add') {
          sf.addRule(kind, type, value);
          return `Values (${type}, ${value}) inserted into ${kind}`;
        }
        const n = sf.removeRules(kind, type, value);
        if (n === 0) throw new RpcFault(500, `Values (${type}, ${value}) not found in ${kind}`);
        return `Values (${type}, ${value}) removed from ${kind} (${n} entries)`;
      },
    };
  };

  const dstUsage = (verb: string) => `Invalid Parameters. Usage: secfilter.${verb}_dst number\n     Example: secfilter.${verb}_dst 555123123`;

  return [
    {
      name: 'secfilter.reload',
      help: 'Reload the black and white lists from the database (rate-limited by reload_delta).',
      async handler() {
        try {
          await sf.reload();
        } catch (e) {
          if (isSiphonError(e, 'SECF_RELOAD_TOO_SOON')) throw new RpcFault(500, 'ongoing reload');
          const reason = e instanceof Error ? e.message : String(e);
          throw new RpcFault(500, `Error loading data from database: ${reason}`);
        }
        return 'Data reloaded';
      },
    },
    {
      name: 'secfilter.print',
      help: 'Print the lists: all, or one type (ua, country, domain, ip, user, dst).',
      handler(params) {
        let only: PrintType | undefined;
        if (params.length > 0 && params[0] !== null && params[0] !== '') {
          only = keyword(String(params[0]), PRINT_TYPES);
          if (!only) throw new RpcFault(400, `Invalid type "${String(params[0])}" (ua, country, domain, ip, user, dst)`);
        }
        const rules = sf.rules;
        const out: Record<string, RpcValue> = {};
        const both = (t: RuleType): RpcValue => ({ Blacklisted: [...rules.blacklist[t].entries], Whitelisted: [...rules.whitelist[t].entries] });
        if (!only || only === 'dst') out['Destinations'] = { Blacklisted: [...rules.destinations.entries] };
        if (!only || only === 'ua') out['User-Agent'] = both('ua');
        if (!only || only === 'country') out['Country'] = both('country');
        if (!only || only === 'domain') out['Domain'] = both('domain');
        if (!only || only === 'ip') out['IP-Address'] = both('ip');
        if (!only || only === 'user') out['Username'] = both('user');
        return out;
      },
    },
    {
      name: 'secfilter.stats',
      help: 'Print the hit counters (Blacklist, Whitelist, Other).',
      handler: () => sf.stats.toRpc(),
    },
    {
      name: 'secfilter.stats_reset',
      help: 'Reset the hit counters.',
      handler() {
        sf.resetStats();
        return 'Statistics reset';
      },
    },
    listMethods('add', 'blacklist'),
    listMethods('add', 'whitelist'),
    listMethods('del', 'blacklist'),
    listMethods('del', 'whitelist'),
    {
      name: 'secfilter.add_dst',
      help: 'Add a number to the destination blacklist in memory.',
      handler(params) {
        const n = str(params, 0, dstUsage('add'));
        sf.addRule('destination', 'ua', n);
        return `Values (${n}) inserted into blacklist destinations`;
      },
    },
    {
      name: 'secfilter.del_dst',
      help: 'Remove from the destination blacklist every number starting with the given one.',
      handler(params) {
        const n = str(params, 0, dstUsage('del'));
        const removed = sf.removeRules('destination', 'ua', n);
        if (removed === 0) throw new RpcFault(500, `Values (${n}) not found in blacklist destinations`);
        return `Values (${n}) removed from blacklist destinations (${removed} entries)`;
      },
    },
  ];
}
