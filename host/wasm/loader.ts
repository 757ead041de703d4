/**
 * Plugin loading and validation (wasm-host.md §5.3 steps 1–6): read the file, hash it, validate
 * the bytes, read the plugin identity, check imports/exports/memory against ABI v1
 * (docs/abi/v1.md "Module shape", "Exports"), instrument it with gas metering, compile it once.
 *
 * Every refusal is a SiphonError E4xxx whose message names the file and the reason.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { SiphonError } from '../errors/registry.js';
import { ENV_IMPORTS, SIP_IMPORTS } from './abi-v1.js';
import { meterModule, RESERVED_EXPORTS, type ModuleShape } from './metering.js';
import { checkCapabilities, manifestCapabilities, type Grants } from './capabilities.js';
import type { ImportProvider, PluginLimits } from './types.js';

/** ABI major marker and the highest minor this host implements. */
export const ABI_MARKER = 'sip_abi_v1';
export const HOST_ABI_MINOR = 3; // 1.1: namespaces tm and rr, hooks branch_route/onreply_route/failure_route; 1.2: issue #14 (dialog, htable ...); 1.3: issue #14 item 4 (uac, rr parameters, flags/AVPs; textops, sdpops) and issue #15 (rtpengine)

/** modules up to this size are compiled synchronously (see loadAndValidate). */
const SYNC_COMPILE_MAX_BYTES = 256 * 1024;

/** A plugin that passed every load-time check and is compiled. */
export interface ValidatedPlugin {
  path: string;
  name: string;
  version: string;
  sha256: string;
  /** the compiled, metered module: instances are made from it (never recompiled). */
  module: WebAssembly.Module;
  shape: ModuleShape;
  /** memory the module asks for (pages); the host memory uses initial and min(max, cap). */
  memoryInitial: number;
  memoryMax: number;
  hasPluginInit: boolean;
  /** `_start` or `_initialize` when exported (AssemblyScript --exportStart). */
  startExport: string | null;
  /** the capabilities it runs with: declared (manifest) and granted (config), capabilities.ts. */
  capabilities: readonly string[];
}

/** Who may call what (capabilities.ts): the config's grants and the key that holds them, for messages. */
export interface GrantOptions {
  grants: Grants;
  /** e.g. `routing.chain[1].grants`. */
  key: string;
}

/** the routing plugin's default: every capability it declares (operator trust). */
export const ALL_GRANTS: GrantOptions = { grants: 'all', key: 'routing.grants' };

/** Reads the custom section `name` from raw module bytes (binary format §5.5.3); null when absent. */
export function readCustomSection(bytes: Uint8Array, name: string): Uint8Array | null {
  let pos = 8; // magic + version
  const leb = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= bytes.length) return -1;
      const b = bytes[pos++];
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 35) return -1;
    }
  };
  while (pos < bytes.length) {
    const id = bytes[pos++];
    const size = leb();
    if (size < 0 || pos + size > bytes.length) return null;
    const end = pos + size;
    if (id === 0) {
      const nameLen = leb();
      if (nameLen >= 0 && pos + nameLen <= end) {
        const secName = Buffer.from(bytes.buffer, bytes.byteOffset + pos, nameLen).toString('utf8');
        if (secName === name) return bytes.subarray(pos + nameLen, end);
      }
    }
    pos = end;
  }
  return null;
}

/** What the load-time limits look at, read from the raw sections (binary format §5.5). */
export interface ModuleCounts {
  /** imported + defined functions (every import of an accepted plugin is a function or the memory). */
  functions: number;
  /** defined tables with their initial size. */
  tables: number[];
  globals: number;
  /** bytes of the data section. */
  dataBytes: number;
}

/**
 * Counts functions, tables, globals and data bytes without binaryen: O(module size), run before
 * the module reaches the metering pass, so a module over the limits costs nothing more to refuse.
 * Returns null when the sections do not parse (WebAssembly.validate has refused those already).
 */
export function countModule(bytes: Uint8Array): ModuleCounts | null {
  let pos = 8;
  const leb = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= bytes.length || shift > 35) return -1;
      const b = bytes[pos++];
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
  };
  const counts: ModuleCounts = { functions: 0, tables: [], globals: 0, dataBytes: 0 };
  while (pos < bytes.length) {
    const id = bytes[pos++];
    const size = leb();
    if (size < 0 || pos + size > bytes.length) return null;
    const end = pos + size;
    if (id === 2 || id === 3) counts.functions += leb(); // import section: every import counted as a function
    else if (id === 6) counts.globals += leb();
    else if (id === 11) counts.dataBytes += size;
    else if (id === 4) {
      const n = leb();
      for (let i = 0; i < n && pos < end; i++) {
        pos++; // element reference type
        const flags = bytes[pos++];
        counts.tables.push(leb());
        if (flags & 1) leb(); // maximum
      }
    }
    pos = end;
  }
  return counts;
}

/** Refuses a module over one of the load-time limits (routing.limits), naming the limit. */
export function checkCounts(bytes: Uint8Array, where: string, limits: PluginLimits): void {
  const c = countModule(bytes);
  if (c === null) throw new SiphonError('PLUGIN_INVALID_WASM', 'module sections do not parse', { where });
  const refuse = (what: string, n: number, max: number, key: string): never => {
    throw new SiphonError('PLUGIN_LIMIT', `module has ${n} ${what}, the limit is ${max} (routing.limits.${key})`, { where });
  };
  if (c.functions > limits.functionsMax) refuse('functions', c.functions, limits.functionsMax, 'functions_max');
  if (c.globals > limits.globalsMax) refuse('globals', c.globals, limits.globalsMax, 'globals_max');
  if (c.tables.length > limits.tablesMax) refuse('tables', c.tables.length, limits.tablesMax, 'tables_max');
  const big = Math.max(0, ...c.tables);
  if (big > limits.tableMaxElements) refuse('table elements', big, limits.tableMaxElements, 'table_max_elements');
  if (c.dataBytes > limits.dataMaxBytes) refuse('bytes of data segments', c.dataBytes, limits.dataMaxBytes, 'data_max_bytes');
}

/**
 * Plugin identity: the `sip.plugin` custom section (JSON {name, version[, capabilities]}) when
 * present, else the file name: `hello.wasm` → hello@0.0.0, `hello-1.2.0.wasm` / `hello@1.2.0.wasm` →
 * hello@1.2.0. `capabilities` is null when the manifest has no list (capabilities.ts).
 */
export function pluginIdentity(bytes: Uint8Array, path: string): { name: string; version: string; capabilities: readonly string[] | null } {
  const section = readCustomSection(bytes, 'sip.plugin');
  if (section) {
    let meta: unknown;
    try {
      meta = JSON.parse(Buffer.from(section).toString('utf8'));
    } catch (cause) {
      throw new SiphonError('PLUGIN_ABI', 'custom section sip.plugin is not valid JSON', { where: path, cause });
    }
    const m = meta as { name?: unknown; version?: unknown };
    if (typeof m.name !== 'string' || m.name === '' || typeof m.version !== 'string' || m.version === '') {
      throw new SiphonError('PLUGIN_ABI', 'custom section sip.plugin must be {"name": string, "version": string}', { where: path });
    }
    return { name: m.name, version: m.version, capabilities: manifestCapabilities(meta as { capabilities?: unknown }, path) };
  }
  const file = basename(path).replace(/\.wasm$/i, '');
  const m = /^(.+?)[-@](\d+\.\d+\.\d+[\w.+-]*)$/.exec(file);
  return m ? { name: m[1], version: m[2], capabilities: null } : { name: file, version: '0.0.0', capabilities: null };
}

/** Checks a module's shape against ABI v1; throws the first refusal. */
export function checkShape(shape: ModuleShape, where: string, limits: PluginLimits, providers: readonly ImportProvider[]): void {
  // memory: imported env.memory only (docs/abi/v1.md "Module shape")
  const mem = shape.memory;
  if (mem === null) {
    throw new SiphonError('PLUGIN_MEMORY', 'module has no memory; it must import env.memory (build with --importMemory)', { where });
  }
  if (!mem.imported) {
    throw new SiphonError('PLUGIN_MEMORY', 'module defines its own memory; it must import env.memory (build with --importMemory)', { where });
  }
  if (mem.module !== 'env' || mem.name !== 'memory') {
    throw new SiphonError('PLUGIN_MEMORY', `memory must be imported as env.memory, not ${mem.module}.${mem.name}`, { where });
  }
  if (mem.shared) throw new SiphonError('PLUGIN_MEMORY', 'shared memory is not supported', { where });
  if (mem.initial > limits.memoryMaxPages) {
    throw new SiphonError('PLUGIN_MEMORY', `module needs ${mem.initial} pages at start, the limit is ${limits.memoryMaxPages}`, { where });
  }

  // imports: env.{memory,abort,seed}, the sip table, provider namespaces — nothing else
  const providerFns = new Map<string, Set<string> | null>();
  for (const p of providers) providerFns.set(p.namespace, null);
  const unknown: string[] = [];
  const badSig: string[] = [];
  for (const imp of shape.imports) {
    const full = `${imp.module}.${imp.name}`;
    if (imp.kind === 'memory') continue; // checked above
    if (imp.kind !== 'function') {
      unknown.push(`${full} (${imp.kind})`);
      continue;
    }
    const table = imp.module === 'env' ? ENV_IMPORTS : imp.module === 'sip' ? SIP_IMPORTS : null;
    if (table) {
      const expected = table[imp.name];
      if (expected === undefined) unknown.push(full);
      else if (expected !== imp.signature) badSig.push(`${full} is ${imp.signature}, expected ${expected}`);
      continue;
    }
    if (!providerFns.has(imp.module)) {
      unknown.push(full);
      continue;
    }
    let names = providerFns.get(imp.module);
    if (!names) {
      const p = providers.find((x) => x.namespace === imp.module)!;
      if (p instanceof UnconfiguredModuleImports) {
        // a known module that is not configured: every name links to the -6 stub, as long as the
        // stub's answer fits the import's result type
        if (!STUB_SIGNATURE.test(imp.signature ?? '')) badSig.push(`${full} is ${imp.signature}, module imports return i32`);
        continue;
      }
      names = new Set(Object.keys(p.functions(PROBE_API)));
      providerFns.set(imp.module, names);
    }
    if (!names.has(imp.name)) unknown.push(full);
  }
  if (unknown.length > 0) {
    throw new SiphonError('PLUGIN_IMPORT', `unknown import${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`, { where });
  }
  if (badSig.length > 0) {
    throw new SiphonError('PLUGIN_IMPORT', `wrong import signature: ${badSig.join('; ')}`, { where });
  }

  // exports: the ABI marker, the minor version, request_route (docs/abi/v1.md "Exports")
  const fns = new Set(shape.exports.filter((e) => e.kind === 'function').map((e) => e.name));
  const reserved = shape.exports.find((e) => RESERVED_EXPORTS.includes(e.name));
  if (reserved) {
    throw new SiphonError('PLUGIN_ABI', `module exports ${reserved.name}, a name the host reserves for metering`, { where });
  }
  if (!fns.has(ABI_MARKER)) {
    const other = [...fns].find((n) => /^sip_abi_v\d+$/.test(n));
    throw new SiphonError('PLUGIN_ABI', other
      ? `module speaks ${other}, this host implements ${ABI_MARKER}`
      : `missing ABI marker export ${ABI_MARKER} (not a siphon plugin?)`, { where });
  }
  if (!fns.has('sip_abi_minor')) throw new SiphonError('PLUGIN_ABI', 'missing export sip_abi_minor', { where });
  if (!fns.has('request_route')) throw new SiphonError('PLUGIN_EXPORT', 'missing export request_route', { where });
}

// ---- module namespaces without their module (additive) -----------------------------------------

/**
 * Import namespaces of siphon modules (host/modules/*): a plugin may import from
 * one of them whether or not the module is configured (`modules.<name>` in the config), so a single
 * plugin (plugins/default) runs on every node. docs/abi/v1.md "Module namespaces".
 */
export const MODULE_NAMESPACES: readonly string[] = ['secfilter', 'dispatcher', 'registrar', 'pike', 'auth', 'auth_db', 'nathelper', 'dialog', 'htable', 'acc', 'uac', 'rtpengine'];

/** ABI status -6 UNIMPLEMENTED: the host knows the import but cannot perform it (docs/abi/v1.md). */
const UNIMPLEMENTED = -6;
/** stubs return an i32 (or nothing): `(...)->(i32)` or `(...)->()`. */
const STUB_SIGNATURE = /->\((i32)?\)$/;
const unimplemented = (): number => UNIMPLEMENTED;

/**
 * The import provider of a known module that is not configured: every function of the namespace
 * answers -6 UNIMPLEMENTED (the plugin then skips that feature). Function names are not checked
 * against the module at load (the module is not there to ask); `siphon check` checks them.
 */
export class UnconfiguredModuleImports implements ImportProvider {
  constructor(readonly namespace: string) {}

  functions(): Record<string, () => number> {
    // any name the plugin imports resolves to the stub (WebAssembly reads imports with [[Get]])
    return new Proxy({} as Record<string, () => number>, { get: (_t, key) => (typeof key === 'string' ? unimplemented : undefined) });
  }
}

/** `providers` plus an UnconfiguredModuleImports for every module namespace none of them serves. */
export function withUnconfiguredModules(providers: readonly ImportProvider[]): readonly ImportProvider[] {
  const served = new Set(providers.map((p) => p.namespace));
  const missing = MODULE_NAMESPACES.filter((ns) => !served.has(ns));
  return missing.length === 0 ? providers : [...providers, ...missing.map((ns) => new UnconfiguredModuleImports(ns))];
}

/** providers are asked for their function names at load with an API that refuses everything. */
const PROBE_API = {
  current: () => null,
  hook: () => 'load',
  readString: () => null,
  writeString: () => -3,
  charge: () => undefined,
};

/** Reads, validates, meters and compiles a plugin file. */
export async function loadAndValidate(path: string, limits: PluginLimits, providers: readonly ImportProvider[], grants: GrantOptions = ALL_GRANTS): Promise<ValidatedPlugin> {
  let bytes: Uint8Array;
  const tooBig = (n: number): SiphonError =>
    new SiphonError('PLUGIN_LIMIT', `module is ${n} bytes, the limit is ${limits.moduleMaxBytes} (routing.max_module_bytes)`, { where: path });
  try {
    // the size is checked before the file is read, and again after (it may have changed)
    const size = (await stat(path)).size;
    if (size > limits.moduleMaxBytes) throw tooBig(size);
    bytes = await readFile(path);
  } catch (cause) {
    if (cause instanceof SiphonError) throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    throw new SiphonError('PLUGIN_NOT_FOUND', code === 'ENOENT' ? 'no such file' : `cannot read: ${code ?? String(cause)}`, { where: path, cause });
  }
  if (bytes.length > limits.moduleMaxBytes) throw tooBig(bytes.length);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (!WebAssembly.validate(bytes)) {
    throw new SiphonError('PLUGIN_INVALID_WASM', 'WebAssembly.validate refused the file', { where: path });
  }
  checkCounts(bytes, path, limits);
  const { name, version, capabilities: declared } = pluginIdentity(bytes, path);
  let capabilities: readonly string[] = [];
  const metered = await meterModule(bytes, path, {
    initialGas: limits.gasInit,
    tableMaxElements: limits.tableMaxElements,
    timeoutMs: limits.meteringTimeoutMs,
    inspect: (shape) => {
      checkShape(shape, path, limits, providers);
      // after the shape: an unknown import is E4004 whatever the grants
      capabilities = checkCapabilities(shape.imports, declared, grants.grants, path, grants.key);
    },
  });
  let module: WebAssembly.Module;
  try {
    // Small modules compile synchronously in ~1 ms; the async path queues behind V8's background
    // tier-up of binaryen itself and was measured at 100-400 ms on a busy 2-core box.
    module = metered.binary.length <= SYNC_COMPILE_MAX_BYTES
      ? new WebAssembly.Module(metered.binary)
      : await WebAssembly.compile(metered.binary);
  } catch (cause) {
    throw new SiphonError('PLUGIN_INVALID_WASM', `compiling the metered module failed: ${String(cause)}`, { where: path, cause });
  }
  const shape = metered.shape;
  const fns = new Set(shape.exports.filter((e) => e.kind === 'function').map((e) => e.name));
  const mem = shape.memory!;
  return {
    path,
    name,
    version,
    sha256,
    module,
    shape,
    memoryInitial: Math.max(1, mem.initial),
    memoryMax: Math.min(limits.memoryMaxPages, mem.max ?? limits.memoryMaxPages),
    hasPluginInit: fns.has('plugin_init'),
    startExport: fns.has('_start') ? '_start' : fns.has('_initialize') ? '_initialize' : null,
    capabilities,
  };
}
