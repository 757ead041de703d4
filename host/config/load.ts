/**
 * Reads siphon.yaml: YAML → ajv validation (defaults applied) → listen URIs parsed. Every error names
 * `file:line:column` and the reason, e.g.
 *   config/siphon.yaml:4:3: unknown key 'lsten' in core (did you mean 'listen'?) [E1003 ...]
 * like `kamailio -c` does for kamailio.cfg. Positions come from the YAML CST through a LineCounter.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, parseDocument, isMap, isSeq, isScalar, type Document, type Node as YamlNode, type Pair } from 'yaml';
import { SiphonError } from '../errors/registry.js';
import { parseListenUri } from '../transport/listen-uri.js';
import { DEFAULT_SERVER_HEADER } from '../core/version.js';
import { buildConfigSchema } from './schema.js';
import type { ConfigSource, SiphonConfig } from './types.js';

export interface LoadConfigOptions {
  /** JSON schemas of the known modules, by module name (`modules.<name>`); other names are errors. */
  moduleSchemas?: Readonly<Record<string, object>>;
  /** whether the host has an IPv6 loopback (default: os.networkInterfaces(); tests force it). */
  ipv6Loopback?: boolean;
}

/** Loads and validates a config file. Throws SiphonError (E1001 read, E1002 YAML, E1003 schema, E3001 listen). */
export async function loadConfig(file: string, opts: LoadConfigOptions = {}): Promise<SiphonConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new SiphonError('CONFIG_READ', (e as Error).message, { where: file, cause: e });
  }
  return parseConfig(text, file, opts);
}

/** Validates config text; `file` is used in error positions and to resolve relative paths. */
export function parseConfig(text: string, file: string | null, opts: LoadConfigOptions = {}): SiphonConfig {
  const name = file ?? '<defaults>';
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number): string => {
    const { line, col } = lineCounter.linePos(offset);
    return `${name}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    throw new SiphonError('CONFIG_YAML', err.message.split('\n')[0]!, { where: pos(err.pos[0]) });
  }
  const data = (doc.toJS() ?? {}) as unknown;
  const where = (p: ReadonlyArray<string | number>): string => {
    const node = nodeAt(doc, p);
    return node?.range ? pos(node.range[0]) : name;
  };
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new SiphonError('CONFIG_SCHEMA', 'the top level must be a mapping with core, modules and routing', { where: name });
  }

  // an absent core.listen gets the defaults, plus [::1] where the host has IPv6 (below)
  const core0 = (data as { core?: unknown }).core;
  const listenGiven = typeof core0 === 'object' && core0 !== null && (core0 as { listen?: unknown }).listen !== undefined;
  const schemas = opts.moduleSchemas ?? {};
  const ajv = new Ajv({ allErrors: false, useDefaults: true, strict: false, verbose: true });
  const validate = ajv.compile(buildConfigSchema(schemas));
  if (!validate(data)) {
    const err = pickError(validate.errors ?? []);
    throw schemaError(err, doc, where, pos, Object.keys(schemas));
  }

  const cfg = data as Omit<SiphonConfig, 'source' | 'core'> & { core: Omit<SiphonConfig['core'], 'listenAddresses'> & { server_header?: string } };
  const dir = file ? path.dirname(path.resolve(file)) : process.cwd();
  // IPv6 dual stack: the defaults listen on [::1] too, and a [::1] entry is opened only where the
  // host has an IPv6 loopback (containers often have none): skipped ones are logged at start
  const v6 = opts.ipv6Loopback ?? hasIpv6Loopback();
  const listenText = listenGiven || !v6 ? cfg.core.listen : [...cfg.core.listen, ...DEFAULT_IPV6_LISTEN];
  const listenSkipped: string[] = [];
  const listen: string[] = [];
  const listenAddresses = listenText.flatMap((uri, i) => {
    const a = parseListenUri(uri, where(['core', 'listen', i]));
    if (a.family === 6 && a.host === '::1' && !v6) {
      listenSkipped.push(a.uri);
      return [];
    }
    listen.push(uri);
    return [a];
  });
  // core.dns.servers: what c-ares accepts (an IPv4/IPv6 address, optional port): refused here, with its position
  (cfg.core.dns?.servers ?? []).forEach((srv, i) => {
    if (!validDnsServer(srv)) throw new SiphonError('CONFIG_SCHEMA', `core.dns.servers: "${srv}" is not an IP address with an optional port`, { where: where(['core', 'dns', 'servers', i]) });
  });
  const source: ConfigSource = { file, dir, where };
  return {
    core: {
      ...cfg.core,
      listen,
      listenAddresses,
      ...(listenSkipped.length > 0 ? { listenSkipped } : {}),
      server_header: cfg.core.server_header ?? DEFAULT_SERVER_HEADER,
      data_dir: path.resolve(dir, cfg.core.data_dir),
      workers: cfg.core.workers ?? defaultWorkers(where(['core'])),
    },
    modules: cfg.modules,
    routing: cfg.routing,
    source,
  };
}

/**
 * core.workers when the file does not set it: SIPHON_WORKERS from the environment (1-64), else 1 on
 * a machine with at most 2 cores (the I/O thread and one shard would share them), else one shard per
 * core up to 8 (host/shards/README.md).
 */
function defaultWorkers(where: string): number {
  const env = process.env.SIPHON_WORKERS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new SiphonError('CONFIG_SCHEMA', `SIPHON_WORKERS must be an integer from 1 to 64, not "${env}"`, { where });
    return n;
  }
  const cores = os.availableParallelism();
  return cores <= 2 ? 1 : Math.min(cores, 8);
}

/** what an absent core.listen adds on a host with IPv6 loopback (RFC 5118 addresses in Via/Record-Route). */
export const DEFAULT_IPV6_LISTEN = ['udp:[::1]:5060', 'tcp:[::1]:5060'] as const;

/** the host has ::1 on an interface (os.networkInterfaces). */
export function hasIpv6Loopback(): boolean {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv6' && a.address === '::1') return true;
  }
  return false;
}

/** "1.2.3.4", "1.2.3.4:53", "::1", "[::1]:53" (node:dns setServers forms). */
function validDnsServer(s: string): boolean {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([\d.]+)(?::(\d+))?$/.exec(s) ?? /^([0-9a-fA-F:]+)()$/.exec(s);
  if (m === null || net.isIP(m[1]!) === 0) return false;
  return m[2] === undefined || m[2] === '' || (Number(m[2]) >= 1 && Number(m[2]) <= 65535);
}

/** The built-in configuration (what an empty file gives). */
export function defaultConfig(opts: LoadConfigOptions = {}): SiphonConfig {
  return parseConfig('', null, opts);
}

/** Prefer the most specific error: an unknown key over a type error deeper in, etc. */
function pickError(errors: ErrorObject[]): ErrorObject {
  return errors.find((e) => e.keyword === 'additionalProperties') ?? errors[0]!;
}

function pathOf(instancePath: string): Array<string | number> {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function schemaError(
  err: ErrorObject,
  doc: Document,
  where: (p: ReadonlyArray<string | number>) => string,
  pos: (offset: number) => string,
  moduleNames: string[],
): SiphonError {
  const p = pathOf(err.instancePath);
  const section = p.length === 0 ? 'the top level' : p.join('.');
  if (err.keyword === 'additionalProperties') {
    const key = (err.params as { additionalProperty: string }).additionalProperty;
    const known = Object.keys((err.parentSchema as { properties?: object } | undefined)?.properties ?? {});
    const keyNode = keyNodeAt(doc, p, key);
    const at = keyNode?.range ? pos(keyNode.range[0]) : where(p);
    const guess = closest(key, known);
    const isModule = p.length === 1 && p[0] === 'modules';
    const what = isModule ? `unknown module '${key}' in modules` : `unknown key '${key}' in ${section}`;
    const hint = guess
      ? ` (did you mean '${guess}'?)`
      : isModule
        ? moduleNames.length > 0 ? ` (known modules: ${moduleNames.join(', ')})` : ' (no modules are available)'
        : known.length > 0 ? ` (allowed: ${known.join(', ')})` : '';
    return new SiphonError('CONFIG_SCHEMA', `${what}${hint}`, { where: at });
  }
  let reason: string;
  switch (err.keyword) {
    case 'type':
      reason = `${section} must be ${article((err.params as { type: string }).type)}`;
      break;
    case 'enum':
      reason = `${section} must be one of ${(err.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
      break;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
    case 'minItems':
    case 'minLength':
      reason = `${section} ${err.message ?? 'is out of range'}`;
      break;
    default:
      reason = `${section} ${err.message ?? 'is invalid'}`;
  }
  return new SiphonError('CONFIG_SCHEMA', reason, { where: where(p) });
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** The YAML node at a path of keys / indexes. */
function nodeAt(doc: Document, p: ReadonlyArray<string | number>): YamlNode | undefined {
  let node: unknown = doc.contents;
  for (const seg of p) {
    if (isMap(node)) {
      const pair = (node.items as Pair[]).find((it) => isScalar(it.key) && String(it.key.value) === String(seg));
      if (!pair) return node as YamlNode;
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (!item) return node as YamlNode;
      node = item;
    } else {
      return node as YamlNode | undefined;
    }
  }
  return node as YamlNode | undefined;
}

/** The key node of `key` inside the mapping at path `p`. */
function keyNodeAt(doc: Document, p: ReadonlyArray<string | number>, key: string): YamlNode | undefined {
  const map = nodeAt(doc, p);
  if (!isMap(map)) return undefined;
  const pair = (map.items as Pair[]).find((it) => isScalar(it.key) && String(it.key.value) === key);
  return pair?.key as YamlNode | undefined;
}

/** The allowed name closest to `word` when it is a plausible typo (edit distance ≤ max(1, len/3)). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(Math.max(word.length, best.length) / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}
