#!/usr/bin/env node
/**
 * Builds the AssemblyScript routing plugins to WebAssembly.
 *
 *   node scripts/build-plugins.mjs [--debug] [--force] [--plugins-dir DIR] [name ...]
 *
 * Every folder DIR/<name>/ (default DIR = plugins/) holding assembly/index.ts is compiled, together with
 * the SDK's entry file sdk/assembly/exports.ts (so every plugin exports the ABI entry points
 * whether or not its author remembered them), to DIR/<name>/build/<name>.wasm. Then:
 *   - a custom section `sip.plugin` with {"name","version"[,"capabilities"]} is appended (version from
 *     DIR/<name>/package.json or plugin.json, else 0.0.0; capabilities from package.json
 *     `siphon.capabilities` or plugin.json `capabilities`): the host reads it for plugin identity and
 *     checks every import against the capabilities declared and granted (host/wasm/capabilities.ts);
 *   - an import whose capability the plugin does not declare fails the build here, naming it (the host
 *     would refuse it at load, E4070);
 *   - the module's imports are checked against ABI v1 (docs/abi/v1.md); an import the host would
 *     refuse (E4004) fails the build here instead, naming the import.
 * Compiler errors are printed as `file:line:col: error TSxxxx: message` and the exit code is 1.
 * A plugin whose .wasm is newer than its sources, the SDK and this script is skipped unless --force.
 *
 * The compiler flags are those of asconfig.json's targets (keep both in sync).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..');
const sdkDir = path.join(repoRoot, 'sdk', 'assembly');
const sdkEntry = path.join(sdkDir, 'exports.ts');

/** Release flags (wasm-host.md §2): incremental GC, host-created memory, no bulk memory (metering). */
export const RELEASE_FLAGS = [
  '--optimizeLevel', '3', '--shrinkLevel', '0', '--noAssert',
  '--runtime', 'incremental',
  '--importMemory', '--noExportMemory',
  '--disable', 'bulk-memory',
];
/** Debug flags: no optimisation, assertions kept, name section for readable trap backtraces. */
export const DEBUG_FLAGS = [
  '--debug',
  '--runtime', 'incremental',
  '--importMemory', '--noExportMemory',
  '--disable', 'bulk-memory',
];

/** Every import a v1 plugin may have: `module.name` (docs/abi/v1.md, "Module shape" and "Imports"). */
export const ABI_V1_IMPORTS = new Set([
  'env.memory', 'env.abort', 'env.seed',
  'sip.msg_get', 'sip.msg_set', 'sip.hdr_count', 'sip.hdr_get', 'sip.hdr_add', 'sip.hdr_remove',
  'sip.pv_get', 'sip.pv_set', 'sip.sl_reply', 'sip.reply_hdr_add', 'sip.xlog', 'sip.log', 'sip.log_enabled',
  'sip.var_get', 'sip.var_set', 'sip.cfg_read', 'sip.now_ms', 'sip.random_u32',
  'sip.is_myself', 'sip.maxfwd_process',
]);
/**
 * Imports of the module namespaces added by ABI 1.1 (docs/abi/v1.md "Namespaces tm and rr"); a
 * plugin may use them in addition to ABI_V1_IMPORTS.
 */
export const ABI_V1_1_IMPORTS = new Set([
  'tm.t_relay', 'tm.t_on_branch', 'tm.t_on_reply', 'tm.t_on_failure', 'tm.t_reply', 'tm.t_is_canceled',
  'tm.t_branch_index', 'tm.t_set_timeouts', 'tm.forward', 'tm.t_reply_code',
  'rr.record_route', 'rr.loose_route',
  // ABI 1.3 (docs/abi/v1.md "Namespaces tm and rr": route parameters)
  'rr.add_rr_param', 'rr.check_route_param', 'rr.is_direction',
]);
/**
 * Imports of the module namespaces `secfilter`, `dispatcher`, `registrar`, `pike`, `auth`, `auth_db`, `nathelper` and `dialog` (docs/abi/v1.md "Module namespaces",
 * host/modules/<name>/abi.ts): the functions sdk/assembly/secfilter.ts and dispatcher.ts declare.
 * A node without the module links them to -6 UNIMPLEMENTED stubs, so a plugin may always use them.
 */
export const MODULE_IMPORTS = new Set([
  ...[
    'check_ip', 'check_ua', 'check_country', 'check_dst', 'check_from_hdr', 'check_to_hdr', 'check_contact_hdr',
    'check_sqli_hdr', 'check_sqli_all',
    'check_username_from_hdr', 'check_username_to_hdr', 'check_username_contact_hdr',
    'check_name_from_hdr', 'check_name_to_hdr', 'check_name_contact_hdr',
    'check_domain_from_hdr', 'check_domain_to_hdr', 'check_domain_contact_hdr',
  ].map((n) => `secfilter.${n}`),
  ...[
    'ds_select_dst', 'ds_select_domain', 'ds_select', 'ds_next_dst', 'ds_next_domain', 'ds_set_dst', 'ds_set_domain',
    'ds_mark_dst', 'ds_mark_addr', 'ds_is_from_list', 'ds_is_from_list_mode', 'ds_is_from_list_uri', 'ds_list_exists',
    'ds_is_active', 'ds_is_active_uri', 'ds_load_update', 'ds_load_unset', 'ds_dst_count', 'ds_current_set',
    'ds_current_uri', 'ds_current_attrs',
  ].map((n) => `dispatcher.${n}`),
  ...['save', 'lookup', 'lookup_uri', 'registered', 'registered_uri', 'unregister', 'unregister_ruid'].map((n) => `registrar.${n}`),
  ...['pike_check_req', 'pike_check_ip'].map((n) => `pike.${n}`),
  ...[
    'www_challenge', 'proxy_challenge', 'auth_challenge', 'has_credentials', 'consume_credentials',
    'auth_get_www_authenticate', 'auth_get_proxy_authenticate',
  ].map((n) => `auth.${n}`),
  ...['www_authorize', 'www_authenticate', 'proxy_authorize', 'proxy_authenticate', 'auth_check'].map((n) => `auth_db.${n}`),
  ...[
    'nat_uac_test', 'fix_nated_contact', 'fix_nated_register', 'add_rcv_param', 'set_contact_alias', 'handle_ruri_alias',
    'force_rport', 'is_rfc1918', 'fix_nated_sdp', 'add_contact_alias',
  ].map((n) => `nathelper.${n}`),
  // ABI 1.2 (host/modules/dialog/abi.ts)
  ...[
    'dlg_manage', 'is_in_dlg', 'is_known_dlg', 'set_dlg_profile', 'unset_dlg_profile', 'is_in_profile', 'get_profile_size',
    'dlg_setflag', 'dlg_resetflag', 'dlg_isflagset', 'dlg_bye', 'dlg_set_timeout', 'dlg_get', 'dlg_var_get', 'dlg_var_set',
    'dlg_ctx_get', 'dlg_ctx_set',
  ].map((n) => `dialog.${n}`),
  // ABI 1.2 (docs/abi/v1.md "Module namespace `htable`")
  ...[
    'sht_get', 'sht_get_int', 'sht_sets', 'sht_seti', 'sht_inc', 'sht_status', 'sht_rm', 'sht_getex', 'sht_setex',
    'sht_rm_name', 'sht_rm_value', 'sht_match_name', 'sht_match_value', 'sht_reset',
    'sht_iterator_start', 'sht_iterator_next', 'sht_iterator_key', 'sht_iterator_value', 'sht_iterator_end',
  ].map((n) => `htable.${n}`),
  // ABI 1.2 (docs/abi/v1.md "Module namespace `acc`")
  ...['acc_log_request', 'acc_db_request'].map((n) => `acc.${n}`),
  // ABI 1.3 (docs/abi/v1.md "Module namespace `uac`")
  ...['uac_replace_from', 'uac_replace_to'].map((n) => `uac.${n}`),
  // ABI 1.3 (docs/abi/v1.md "Module namespace `rtpengine`")
  ...['rtpengine_offer', 'rtpengine_answer', 'rtpengine_manage', 'rtpengine_delete'].map((n) => `rtpengine.${n}`),
  // ABI 1.3 (docs/abi/v1.md "Namespaces `textops` and `sdpops`", host/textops/abi.ts)
  ...[
    'search', 'search_body', 'search_hf', 'is_present_hf_re', 'remove_hf_re', 'subst', 'subst_hf', 'subst_body', 'subst_uri',
    'subst_user', 'has_body', 'set_body', 'remove_body', 'set_reply_body',
  ].map((n) => `textops.${n}`),
  ...['sdp_with_media', 'sdp_get_line_startswith', 'sdp_remove_line_by_prefix', 'sdp_remove_codecs_by_name', 'sdp_keep_codecs_by_name'].map((n) => `sdpops.${n}`),
]);
/** Exports the host requires from every plugin. */
export const ABI_V1_REQUIRED_EXPORTS = ['sip_abi_v1', 'sip_abi_minor', 'request_route'];
/**
 * Capability of each import (host/wasm/capabilities.ts, mirrored here because this script runs without
 * the host build; test/runtime/chain.test.ts keeps both equal): `sip` in three groups, every
 * other namespace its own name, `env` none. `relay` (the RELAY action) is declared, never imported.
 */
export const SIP_CAPABILITY = {
  msg_get: 'msg.read', hdr_count: 'msg.read', hdr_get: 'msg.read', pv_get: 'msg.read', xlog: 'msg.read', log: 'msg.read',
  log_enabled: 'msg.read', var_get: 'msg.read', var_set: 'msg.read', cfg_read: 'msg.read', now_ms: 'msg.read',
  random_u32: 'msg.read', is_myself: 'msg.read',
  sl_reply: 'msg.reply', reply_hdr_add: 'msg.reply',
  msg_set: 'msg.write', hdr_add: 'msg.write', hdr_remove: 'msg.write', pv_set: 'msg.write', maxfwd_process: 'msg.write',
};
/** textops / sdpops (ABI 1.3): msg.read, msg.write or msg.reply per function (host/wasm/capabilities.ts TEXT_CAPABILITY). */
export const TEXT_CAPABILITY = {
  'textops.search': 'msg.read', 'textops.search_body': 'msg.read', 'textops.search_hf': 'msg.read', 'textops.is_present_hf_re': 'msg.read',
  'textops.has_body': 'msg.read', 'sdpops.sdp_with_media': 'msg.read', 'sdpops.sdp_get_line_startswith': 'msg.read',
  'textops.subst': 'msg.write', 'textops.subst_hf': 'msg.write', 'textops.subst_body': 'msg.write', 'textops.subst_uri': 'msg.write',
  'textops.subst_user': 'msg.write', 'textops.remove_hf_re': 'msg.write', 'textops.set_body': 'msg.write', 'textops.remove_body': 'msg.write',
  'sdpops.sdp_remove_line_by_prefix': 'msg.write', 'sdpops.sdp_remove_codecs_by_name': 'msg.write', 'sdpops.sdp_keep_codecs_by_name': 'msg.write',
  'textops.set_reply_body': 'msg.reply',
};
export const NAMESPACE_CAPABILITIES = ['tm', 'rr', 'secfilter', 'dispatcher', 'registrar', 'pike', 'auth', 'auth_db', 'nathelper', 'dialog', 'htable', 'acc', 'uac', 'rtpengine'];
export const CAPABILITIES = ['msg.read', 'msg.reply', 'msg.write', 'relay', ...NAMESPACE_CAPABILITIES];

/** the capability an import `module.name` needs, or null. */
export function capabilityOf(module, name) {
  if (module === 'env') return null;
  if (module === 'sip') return SIP_CAPABILITY[name] ?? null;
  if (module === 'textops' || module === 'sdpops') return TEXT_CAPABILITY[`${module}.${name}`] ?? null;
  return NAMESPACE_CAPABILITIES.includes(module) ? module : null;
}

/** Name of the custom section carrying the plugin identity. */
export const IDENTITY_SECTION = 'sip.plugin';

/** DiagnosticCategory of the AssemblyScript compiler. */
const CATEGORY = ['pedantic', 'info', 'warning', 'error'];

class BuildError extends Error {}

/**
 * identity + the capabilities the plugin declares: package.json `siphon.capabilities` (plugin.json
 * `capabilities`), checked against the known names; absent: no list (the host then takes the imports').
 */
function withCapabilities(identity, meta, file, isPackageJson) {
  const caps = isPackageJson ? meta.siphon?.capabilities : meta.capabilities;
  if (caps === undefined) return identity;
  const key = isPackageJson ? 'siphon.capabilities' : 'capabilities';
  if (!Array.isArray(caps) || caps.some((c) => typeof c !== 'string')) throw new BuildError(`${file}: "${key}" must be an array of capability names`);
  const unknown = caps.filter((c) => !CAPABILITIES.includes(c));
  if (unknown.length > 0) throw new BuildError(`${file}: "${key}" has unknown capabilities ${unknown.join(', ')} (known: ${CAPABILITIES.join(', ')})`);
  return { ...identity, capabilities: [...new Set(caps)] };
}

/** Reads {name, version[, capabilities]} for a plugin folder. */
function pluginIdentity(dir, name) {
  for (const file of ['package.json', 'plugin.json']) {
    const p = path.join(dir, file);
    if (!existsSync(p)) continue;
    let meta;
    try {
      meta = JSON.parse(readFileSync(p, 'utf8'));
    } catch (e) {
      throw new BuildError(`${p}: not valid JSON (${e.message})`);
    }
    return withCapabilities({ name, version: typeof meta.version === 'string' ? meta.version : '0.0.0' }, meta, p, file === 'package.json');
  }
  return { name, version: '0.0.0' };
}

function uleb128(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Appends a custom section (id 0, WebAssembly core spec §5.5.3) to a module's bytes. */
export function appendCustomSection(wasm, name, payload) {
  const nameBytes = Buffer.from(name, 'utf8');
  const body = Buffer.concat([Buffer.from(uleb128(nameBytes.length)), nameBytes, Buffer.from(payload)]);
  return Buffer.concat([Buffer.from(wasm), Buffer.from([0]), Buffer.from(uleb128(body.length)), body]);
}

function newestMtime(target) {
  const st = statSync(target);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(target, { withFileTypes: true })) {
    if (entry.name === 'build' || entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    newest = Math.max(newest, newestMtime(path.join(target, entry.name)));
  }
  return newest;
}

/** `file:line:col: error TSxxxx: message`, the location computed from the range's start offset (paths relative to baseDir). */
function formatDiagnostic(d, baseDir = repoRoot) {
  const category = CATEGORY[d.category] ?? 'error';
  const range = d.range;
  if (range && range.source && !range.source.normalizedPath.startsWith('~lib/')) {
    const abs = path.resolve(baseDir, range.source.normalizedPath);
    let where = path.relative(process.cwd(), abs);
    try {
      const before = readFileSync(abs, 'utf8').slice(0, range.start);
      const line = before.split('\n').length;
      const col = range.start - before.lastIndexOf('\n');
      where = `${where}:${line}:${col}`;
    } catch {
      // source not readable: the path alone still names the file
    }
    return `${where}: ${category} TS${d.code}: ${d.message}`;
  }
  return `${category} TS${d.code}: ${d.message}`;
}

const ascModules = new Map();
/** The AssemblyScript compiler: the one `fromDir` depends on when it has one (a plugin project pins its own), else siphon's. */
async function loadAsc(fromDir = null) {
  let spec = 'assemblyscript/asc';
  if (fromDir !== null) {
    try {
      spec = pathToFileURL(createRequire(path.join(fromDir, 'package.json')).resolve('assemblyscript/asc')).href;
    } catch {
      // no assemblyscript in the project: siphon's compiler
    }
  }
  if (!ascModules.has(spec)) ascModules.set(spec, (await import(spec)).default);
  return ascModules.get(spec);
}

/** true when outFile is newer than every input (the plugin's folder, the SDK, this script). */
function upToDate(outFile, inputs) {
  if (!existsSync(outFile)) return false;
  const built = statSync(outFile).mtimeMs;
  return built > Math.max(...inputs.map(newestMtime), statSync(fileURLToPath(import.meta.url)).mtimeMs);
}

/** Runs asc on `entries` (relative to baseDir); returns the binary or throws BuildError with the diagnostics. */
async function compile(asc, name, entries, baseDir, debug) {
  const diagnostics = [];
  let binary = null;
  const output = [];
  const sink = { write: (s) => { output.push(String(s)); return true; } };
  const { error } = await asc.main(
    [...entries, '--outFile', `${name}.wasm`, '--baseDir', baseDir, ...(debug ? DEBUG_FLAGS : RELEASE_FLAGS)],
    {
      stdout: sink,
      stderr: sink,
      reportDiagnostic: (d) => diagnostics.push(d),
      writeFile: (filename, contents) => {
        if (String(filename).endsWith('.wasm')) binary = contents;
      },
    },
  );
  const errors = diagnostics.filter((d) => d.category === 3);
  if (error || errors.length > 0 || !binary) {
    const lines = errors.length > 0 ? errors.map((d) => formatDiagnostic(d, baseDir)) : [output.join('').trim() || String(error?.message ?? 'no output')];
    throw new BuildError(`plugin ${name} does not compile:\n${lines.join('\n')}`);
  }
  return binary;
}

/**
 * Refuses what the host would refuse at load (E4004, E4005), naming the import or export; then
 * appends the identity section and writes outFile (write then rename: a host loading the file
 * concurrently never sees half of it).
 */
function finish(binary, identity, outFile, missingHint = '') {
  const module = new WebAssembly.Module(binary);
  const foreign = WebAssembly.Module.imports(module)
    .map((i) => `${i.module}.${i.name}`)
    .filter((n) => !ABI_V1_IMPORTS.has(n) && !ABI_V1_1_IMPORTS.has(n) && !MODULE_IMPORTS.has(n));
  if (foreign.length > 0) {
    throw new BuildError(
      `plugin ${identity.name}: imports outside ABI v1 (docs/abi/v1.md): ${foreign.join(', ')}` +
        ' (AssemblyScript adds env.trace for trace(), console.* imports for console.log: use xlog)',
    );
  }
  const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const missing = ABI_V1_REQUIRED_EXPORTS.filter((e) => !exported.has(e));
  if (missing.length > 0) throw new BuildError(`plugin ${identity.name}: missing exports ${missing.join(', ')}${missingHint}`);
  if (identity.capabilities) {
    // what the host would refuse at load whatever config grants (E4070): an undeclared capability
    const undeclared = new Map();
    for (const i of WebAssembly.Module.imports(module)) {
      const cap = capabilityOf(i.module, i.name);
      if (cap !== null && !identity.capabilities.includes(cap)) undeclared.set(cap, `${i.module}.${i.name}`);
    }
    if (undeclared.size > 0) {
      const list = [...undeclared].map(([cap, imp]) => `${cap} (for ${imp})`).join(', ');
      throw new BuildError(`plugin ${identity.name}: imports need capabilities its package.json "siphon.capabilities" does not declare: ${list}`);
    }
  }
  const wasm = appendCustomSection(binary, IDENTITY_SECTION, Buffer.from(JSON.stringify(identity), 'utf8'));
  mkdirSync(path.dirname(outFile), { recursive: true });
  const tmp = `${outFile}.${process.pid}.tmp`;
  writeFileSync(tmp, wasm);
  renameSync(tmp, outFile);
  return wasm.length;
}

/**
 * Compiles one plugin. Returns {name, outFile, skipped, bytes}; throws BuildError with the
 * compiler's messages when it does not compile or imports something outside ABI v1.
 */
export async function buildPlugin(pluginsDir, name, { debug = false, force = false } = {}) {
  const dir = path.join(pluginsDir, name);
  const entry = path.join(dir, 'assembly', 'index.ts');
  if (!existsSync(entry)) throw new BuildError(`${path.relative(process.cwd(), entry)}: no such file`);
  const outFile = path.join(dir, 'build', `${name}.wasm`);
  if (!force && upToDate(outFile, [dir, sdkDir])) return { name, outFile, skipped: true, bytes: statSync(outFile).size };

  // asc names a module by its path relative to --baseDir and normalises `..` textually: a plugin
  // outside the package reaching the SDK by `../../..` would get a second copy of the SDK (its
  // onRequest() fills a handler table request_route never reads, so every request is dropped).
  // Compiling from the common ancestor of the SDK and the plugin keeps one identity per file.
  const baseDir = commonAncestor(repoRoot, path.resolve(dir));
  const rel = (p) => path.relative(baseDir, p).split(path.sep).join('/');
  const binary = await compile(await loadAsc(), name, [rel(sdkEntry), rel(entry)], baseDir, debug);
  const bytes = finish(binary, pluginIdentity(dir, name), outFile);
  return { name, outFile, skipped: false, bytes };
}

/**
 * A plugin project of its own (`siphon plugin new NAME --dir PATH`, docs/tutorial-plugin.md):
 * PATH/package.json (its name without @scope/ names the plugin, its version is the plugin's) and
 * PATH/assembly/index.ts importing the SDK package `@siphon/sdk` and re-exporting the ABI entry
 * points (`export * from "@siphon/sdk/exports"`). It is compiled alone from PATH, so asc resolves
 * the SDK through PATH/node_modules once (one identity), with the project's own assemblyscript when
 * it has one. Output: PATH/build/NAME.wasm. Returns {name, outFile, skipped, bytes}.
 */
export async function buildProject(projectDir, { debug = false, force = false } = {}) {
  const dir = path.resolve(projectDir);
  const pkgFile = path.join(dir, 'package.json');
  if (!existsSync(pkgFile)) throw new BuildError(`${path.relative(process.cwd(), pkgFile) || pkgFile}: no such file (not a plugin project)`);
  let pkg;
  try {
    pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
  } catch (e) {
    throw new BuildError(`${pkgFile}: not valid JSON (${e.message})`);
  }
  const name = String(pkg.name ?? path.basename(dir)).replace(/^@[^/]+\//, '');
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name)) throw new BuildError(`${pkgFile}: the package name "${pkg.name}" is not a plugin name (letters, digits, _ . -)`);
  const entry = path.join(dir, 'assembly', 'index.ts');
  if (!existsSync(entry)) throw new BuildError(`${path.relative(process.cwd(), entry) || entry}: no such file`);
  const outFile = path.join(dir, 'build', `${name}.wasm`);
  const inputs = [path.join(dir, 'assembly'), pkgFile];
  const sdk = path.join(dir, 'node_modules', '@siphon', 'sdk', 'assembly');
  if (existsSync(sdk)) inputs.push(sdk);
  if (!force && upToDate(outFile, inputs)) return { name, outFile, skipped: true, bytes: statSync(outFile).size };
  const binary = await compile(await loadAsc(dir), name, ['assembly/index.ts'], dir, debug);
  const identity = withCapabilities({ name, version: typeof pkg.version === 'string' ? pkg.version : '0.0.0' }, pkg, pkgFile, true);
  const bytes = finish(binary, identity, outFile, ' (assembly/index.ts must re-export the entry points: export * from "@siphon/sdk/exports")');
  return { name, outFile, skipped: false, bytes };
}

/** The deepest folder holding both absolute paths (the filesystem root at worst). */
function commonAncestor(a, b) {
  let dir = a;
  for (;;) {
    const r = path.relative(dir, b);
    if (r !== '..' && !r.startsWith(`..${path.sep}`) && !path.isAbsolute(r)) return dir;
    const up = path.dirname(dir);
    if (up === dir) return dir;
    dir = up;
  }
}

/** Names of every plugin folder under pluginsDir (those with assembly/index.ts). */
export function listPlugins(pluginsDir) {
  if (!existsSync(pluginsDir)) return [];
  return readdirSync(pluginsDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(path.join(pluginsDir, e.name, 'assembly', 'index.ts')))
    .map((e) => e.name)
    .sort();
}

async function main(argv) {
  let pluginsDir = path.join(repoRoot, 'plugins');
  let debug = false;
  let force = false;
  let project = null;
  const names = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--debug') debug = true;
    else if (arg === '--force') force = true;
    else if (arg === '--plugins-dir') pluginsDir = path.resolve(argv[++i] ?? '');
    else if (arg === '--project') project = path.resolve(argv[++i] ?? '.');
    else if (arg === '-h' || arg === '--help') {
      process.stdout.write('usage: node scripts/build-plugins.mjs [--debug] [--force] [--plugins-dir DIR] [name ...]\n' +
        '       node scripts/build-plugins.mjs [--debug] [--force] --project DIR   (a plugin project of its own → DIR/build/NAME.wasm)\n');
      return 0;
    } else if (arg.startsWith('-')) {
      process.stderr.write(`build-plugins: unknown option ${arg}\n`);
      return 2;
    } else names.push(arg);
  }
  if (project !== null) {
    const started = performance.now();
    try {
      const r = await buildProject(project, { debug, force: force || debug });
      const ms = Math.round(performance.now() - started);
      process.stdout.write(`build-plugins: ${r.name} ${r.skipped ? 'up to date' : `built (${r.bytes} bytes, ${ms} ms)`} → ${path.relative(process.cwd(), r.outFile)}\n`);
      return 0;
    } catch (e) {
      process.stderr.write(`${e instanceof BuildError ? e.message : e.stack}\n`);
      return 1;
    }
  }
  const targets = names.length > 0 ? names : listPlugins(pluginsDir);
  if (targets.length === 0) {
    process.stderr.write(`build-plugins: no plugins found in ${pluginsDir}\n`);
    return 1;
  }
  let failed = 0;
  for (const name of targets) {
    const started = performance.now();
    try {
      // debug and release share the output path: a debug build is always rebuilt
      const r = await buildPlugin(pluginsDir, name, { debug, force: force || debug });
      const ms = Math.round(performance.now() - started);
      process.stdout.write(
        `build-plugins: ${name} ${r.skipped ? 'up to date' : `built (${r.bytes} bytes, ${ms} ms)`} → ${path.relative(process.cwd(), r.outFile)}\n`,
      );
    } catch (e) {
      failed++;
      process.stderr.write(`${e instanceof BuildError ? e.message : e.stack}\n`);
    }
  }
  return failed > 0 ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
