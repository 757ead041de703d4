/**
 * The core RPC methods every siphon node answers, with Kamailio's names and reply shapes
 * (Kamailio src/core/core_cmd.c, kex stats RPCs, corex.debug). Server facts come in through
 * `ServerFacts`, so the registry holds no globals and tests can inject a fake clock or process list.
 */
import { FaultCode, intParam, stringParam, type MethodRegistry } from './registry.js';
import { RpcFault, type RpcMethod, type RpcValue } from './types.js';

/** Something that has counters: a SiphonModule fits (its name is the statistics group). */
export interface StatisticsProvider {
  readonly name: string;
  statistics(): Record<string, number>;
  /** optional native reset; without it the control plane resets by remembering a baseline. */
  resetStatistics?(names?: readonly string[]): void;
}

export interface ProcessInfo {
  pid: number;
  desc: string;
}

/** Log level as pino names it. */
export type LogLevelName = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface ServerFacts {
  /** product name, `siphon`. */
  readonly name: string;
  readonly version: string;
  readonly startedAt: Date;
  /** what core.info reports beside the version; all optional. */
  readonly build?: { id?: string; compiler?: string; compiled?: string; flags?: string };
  /** the processes/threads of the node (core.ps); defaults to this process as "main". */
  processes?(): ProcessInfo[];
  /** statistics groups (modules and core counters), read at call time. */
  statisticsProviders(): Iterable<StatisticsProvider>;
  getLogLevel(): LogLevelName;
  setLogLevel(level: LogLevelName): void;
  /** clock, for tests; defaults to Date.now. */
  now?(): number;
}

/**
 * Kamailio log levels (src/core/dprint.h: L_ALERT -5 ... L_ERR -1, L_WARN 0, L_NOTICE 1, L_INFO 2,
 * L_DBG 3) mapped onto pino levels. Levels above 3 mean trace.
 */
export function kamailioLevelToPino(level: number): LogLevelName {
  if (level <= -2) return 'fatal';
  if (level === -1) return 'error';
  if (level === 0) return 'warn';
  if (level <= 2) return 'info';
  if (level === 3) return 'debug';
  return 'trace';
}

export function pinoLevelToKamailio(level: LogLevelName): number {
  switch (level) {
    case 'silent':
    case 'fatal':
      return -2;
    case 'error':
      return -1;
    case 'warn':
      return 0;
    case 'info':
      return 2;
    case 'debug':
      return 3;
    case 'trace':
      return 4;
  }
}

const PINO_LEVELS: readonly LogLevelName[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** C ctime() rendering without the trailing newline, e.g. "Fri Nov 27 20:10:15 2026" (local time). */
export function ctime(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const two = (n: number): string => String(n).padStart(2, '0');
  return (
    `${days[d.getDay()]} ${months[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`
  );
}

/**
 * Statistics as stats.get_statistics sees them: `group:name` counters from the providers, minus the
 * baseline taken at the last stats.reset_statistics for providers that cannot reset themselves.
 */
export class StatisticsView {
  private readonly baselines = new Map<string, Map<string, number>>();

  constructor(private readonly providers: () => Iterable<StatisticsProvider>) {}

  /** every counter, group by group, as [group, name, value]. */
  *all(): Generator<[string, string, number]> {
    for (const p of this.providers()) {
      const base = this.baselines.get(p.name);
      const stats = p.statistics();
      for (const name of Object.keys(stats)) {
        yield [p.name, name, stats[name]! - (base?.get(name) ?? 0)];
      }
    }
  }

  /**
   * Counters matching Kamailio's statsid forms: `all`, `group:` (a whole group), `group:name`,
   * `group.name` or a bare `name` (in any group).
   */
  *select(id: string): Generator<[string, string, number]> {
    const m = parseStatId(id);
    for (const entry of this.all()) {
      if (m.group !== null && entry[0] !== m.group) continue;
      if (m.name !== null && entry[1] !== m.name) continue;
      yield entry;
    }
  }

  reset(id: string): number {
    const m = parseStatId(id);
    let count = 0;
    for (const p of this.providers()) {
      if (m.group !== null && p.name !== m.group) continue;
      const stats = p.statistics();
      const names = Object.keys(stats).filter((n) => m.name === null || n === m.name);
      if (names.length === 0) continue;
      count += names.length;
      if (p.resetStatistics) {
        p.resetStatistics(m.name === null ? undefined : names);
        this.baselines.delete(p.name);
        continue;
      }
      let base = this.baselines.get(p.name);
      if (!base) this.baselines.set(p.name, (base = new Map()));
      for (const n of names) base.set(n, stats[n]!);
    }
    return count;
  }
}

function parseStatId(id: string): { group: string | null; name: string | null } {
  if (id === 'all') return { group: null, name: null };
  const sep = id.search(/[:.]/);
  if (sep < 0) return { group: null, name: id };
  const group = id.slice(0, sep);
  const name = id.slice(sep + 1);
  return { group, name: name === '' ? null : name };
}

function statIds(params: readonly RpcValue[]): string[] {
  if (params.length === 0) throw new RpcFault(FaultCode.BAD_PARAMS, 'statistics id expected (all, group: or name)');
  return params.map((_, i) => stringParam(params, i, 'statistics id'));
}

/** Registers system.*, core.*, stats.* and corex.debug; returns the StatisticsView they share. */
export function registerCoreMethods(registry: MethodRegistry, facts: ServerFacts): StatisticsView {
  const now = facts.now ?? Date.now;
  const stats = new StatisticsView(() => facts.statisticsProviders());
  const upSince = ctime(facts.startedAt);

  const methods: RpcMethod[] = [
    {
      name: 'system.listMethods',
      help: 'Lists all RPC methods supported by the server.',
      handler: () => registry.list(),
    },
    {
      name: 'system.methodSignature',
      help: 'Returns signature of given method.',
      // Kamailio answers this with a fault as well; kamcmd only offers it for completion.
      handler: () => {
        throw new RpcFault(FaultCode.FAILURE, 'Not Implemented Yet');
      },
    },
    {
      name: 'system.methodHelp',
      help: 'Print the help string for given method.',
      handler: (params) => {
        if (typeof params[0] !== 'string') throw new RpcFault(FaultCode.BAD_PARAMS, 'Method Name Expected');
        const m = registry.get(params[0]);
        if (!m) throw new RpcFault(FaultCode.BAD_PARAMS, 'command not found');
        return m.help || 'undocumented';
      },
    },
    {
      name: 'core.echo',
      help: 'Returns back its parameters.',
      handler: (params) => params.slice(),
    },
    {
      name: 'core.version',
      help: 'Returns the version string of the server.',
      handler: () => `${facts.name} ${facts.version} (${process.arch}/${process.platform})`,
    },
    {
      name: 'core.info',
      help: 'Verbose info, including version number, compile flags, compiler,repository hash etc.',
      handler: () => ({
        version: `${facts.name} ${facts.version}`,
        id: facts.build?.id ?? 'unknown',
        compiler: facts.build?.compiler ?? `node ${process.version}`,
        compiled: facts.build?.compiled ?? 'unknown',
        flags: facts.build?.flags ?? '',
      }),
    },
    {
      name: 'core.uptime',
      help: 'Returns uptime statistics.',
      handler: () => {
        const t = now();
        return {
          now: ctime(new Date(t)),
          up_since: upSince,
          uptime: Math.floor((t - facts.startedAt.getTime()) / 1000),
        };
      },
    },
    {
      name: 'core.ps',
      help: 'Returns the description of running processes.',
      // Kamailio sends pid and description as alternating top-level values
      handler: () => {
        const list = facts.processes?.() ?? [{ pid: process.pid, desc: 'main process' }];
        const out: RpcValue[] = [];
        for (const p of list) out.push(p.pid, p.desc);
        return out;
      },
    },
    {
      name: 'core.psx',
      help: 'Returns the detailed description of running processes.',
      handler: () =>
        (facts.processes?.() ?? [{ pid: process.pid, desc: 'main process' }]).map((p, i) => ({
          IDX: i,
          PID: p.pid,
          DSC: p.desc,
        })),
    },
    {
      name: 'stats.get_statistics',
      help: 'Print the list of available internal statistics (all, group: or name).',
      handler: (params) => {
        const out: RpcValue[] = [];
        for (const id of statIds(params)) {
          for (const [g, n, v] of stats.select(id)) out.push(`${g}:${n} = ${v}`);
        }
        return out;
      },
    },
    {
      name: 'stats.fetch',
      help: 'Print the list of available internal statistics as a structure (values as strings).',
      handler: (params) => {
        const out: { [k: string]: RpcValue } = {};
        for (const id of statIds(params)) {
          for (const [g, n, v] of stats.select(id)) out[`${g}.${n}`] = String(v);
        }
        return out;
      },
    },
    {
      name: 'stats.fetchn',
      help: 'Print the list of available internal statistics as a structure (values as numbers).',
      handler: (params) => {
        const out: { [k: string]: RpcValue } = {};
        for (const id of statIds(params)) {
          for (const [g, n, v] of stats.select(id)) out[`${g}.${n}`] = v;
        }
        return out;
      },
    },
    {
      name: 'stats.reset_statistics',
      help: 'Reset internal statistics (all, group: or name).',
      handler: (params) => {
        for (const id of statIds(params)) stats.reset(id);
        return [];
      },
    },
    {
      name: 'stats.clear_statistics',
      help: 'Returns, then resets statistics (all, group: or name).',
      handler: (params) => {
        const out: RpcValue[] = [];
        for (const id of statIds(params)) {
          for (const [g, n, v] of stats.select(id)) out.push(`${g}:${n} = ${v}`);
          stats.reset(id);
        }
        return out;
      },
    },
    {
      name: 'corex.debug',
      help: 'Control the global level of debug (Kamailio levels: -1 error, 0 warn, 2 info, 3 debug; or a level name).',
      handler: (params): RpcValue => {
        const old = pinoLevelToKamailio(facts.getLogLevel());
        if (params.length === 0) return { debug: old };
        let level: LogLevelName;
        const p = params[0];
        if (typeof p === 'string' && (PINO_LEVELS as readonly string[]).includes(p)) level = p as LogLevelName;
        else level = kamailioLevelToPino(intParam(params, 0, 'debug level'));
        facts.setLogLevel(level);
        return { old, new: typeof p === 'number' ? p : pinoLevelToKamailio(level) };
      },
    },
  ];
  registry.registerAll(methods);
  return stats;
}
