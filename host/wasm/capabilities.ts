/**
 * Capabilities: which host functions a plugin may call (docs/abi/v1.md "Capabilities").
 *
 * A plugin declares what it needs in its manifest (the `sip.plugin` custom section's `capabilities`
 * array, written by scripts/build-plugins.mjs from package.json `siphon.capabilities`); the operator
 * grants capabilities per plugin in config (`routing.grants`, `routing.chain[i].grants`). At load,
 * every import of the module is mapped to the capability it needs and must be both declared and
 * granted; the first import that is not refuses the version (E4070 naming the import, its namespace
 * and the capability; a reload keeps the running version). `relay` is the one capability that is not
 * an import: the RELAY action (return 3) of a plugin without it is answered 500 at run time.
 *
 * Kamailio has no equivalent (its config script is trusted); Envoy's proxy-wasm has filter chains
 * but every filter may call every host function.
 */
import { SiphonError } from '../errors/registry.js';
import type { ImportShape } from './metering.js';

/**
 * The `sip` namespace in three capabilities, plus one capability per other namespace (same name).
 * `env` (memory, abort, seed) needs none.
 */
export const SIP_CAPABILITY: Readonly<Record<string, string>> = {
  // msg.read: look at the message, log, the plugin's own variables and config, clock, randomness
  msg_get: 'msg.read', hdr_count: 'msg.read', hdr_get: 'msg.read', pv_get: 'msg.read', xlog: 'msg.read', log: 'msg.read',
  log_enabled: 'msg.read', var_get: 'msg.read', var_set: 'msg.read', cfg_read: 'msg.read', now_ms: 'msg.read',
  random_u32: 'msg.read', is_myself: 'msg.read',
  // msg.reply: answer the request statelessly
  sl_reply: 'msg.reply', reply_hdr_add: 'msg.reply',
  // msg.write: change what is forwarded (R-URI, $du, headers, Max-Forwards)
  msg_set: 'msg.write', hdr_add: 'msg.write', hdr_remove: 'msg.write', pv_set: 'msg.write', maxfwd_process: 'msg.write',
};


/**
 * `textops` and `sdpops` (ABI 1.3): message edits, so no capability of their own: reading and
 * searching is msg.read, editing msg.write, a reply body msg.reply (what sip's functions need).
 */
export const TEXT_CAPABILITY: Readonly<Record<string, string>> = {
  'textops.search': 'msg.read', 'textops.search_body': 'msg.read', 'textops.search_hf': 'msg.read', 'textops.is_present_hf_re': 'msg.read',
  'textops.has_body': 'msg.read', 'sdpops.sdp_with_media': 'msg.read', 'sdpops.sdp_get_line_startswith': 'msg.read',
  'textops.subst': 'msg.write', 'textops.subst_hf': 'msg.write', 'textops.subst_body': 'msg.write', 'textops.subst_uri': 'msg.write',
  'textops.subst_user': 'msg.write', 'textops.remove_hf_re': 'msg.write', 'textops.set_body': 'msg.write', 'textops.remove_body': 'msg.write',
  'sdpops.sdp_remove_line_by_prefix': 'msg.write', 'sdpops.sdp_remove_codecs_by_name': 'msg.write', 'sdpops.sdp_keep_codecs_by_name': 'msg.write',
  'textops.set_reply_body': 'msg.reply',
};

/** namespaces whose capability is their own name. */
export const NAMESPACE_CAPABILITIES: readonly string[] = ['tm', 'rr', 'secfilter', 'dispatcher', 'registrar', 'pike', 'auth', 'auth_db', 'nathelper', 'dialog', 'htable', 'acc', 'uac', 'rtpengine'];

/** the RELAY action (docs/abi/v1.md "Actions"): not an import, checked when the plugin returns it. */
export const RELAY_CAPABILITY = 'relay';

/** every capability name a manifest or a grant may use. */
export const CAPABILITIES: readonly string[] = ['msg.read', 'msg.reply', 'msg.write', RELAY_CAPABILITY, ...NAMESPACE_CAPABILITIES];

/** what a chain member gets when config grants nothing: read the message and answer it. */
export const DEFAULT_GRANTS: readonly string[] = ['msg.read', 'msg.reply'];

/** config grants: a list of capability names, or 'all' (every capability the plugin declares: operator trust). */
export type Grants = 'all' | readonly string[];

/** The capability an import needs; null for env imports (always allowed) and namespaces no capability covers. */
export function capabilityOf(module: string, name: string): string | null {
  if (module === 'env') return null;
  if (module === 'sip') return SIP_CAPABILITY[name] ?? null;
  if (module === 'textops' || module === 'sdpops') return TEXT_CAPABILITY[`${module}.${name}`] ?? null;
  return NAMESPACE_CAPABILITIES.includes(module) ? module : null;
}

/**
 * The manifest's `capabilities`: null when the field is absent (a plugin built before capabilities:
 * it is taken to declare what it imports, plus relay). Refuses a malformed list or an unknown name
 * (E4071), so a typo never silently drops a capability.
 */
export function manifestCapabilities(meta: { capabilities?: unknown }, where: string): readonly string[] | null {
  const c = meta.capabilities;
  if (c === undefined) return null;
  if (!Array.isArray(c) || c.length > CAPABILITIES.length * 2 || c.some((x) => typeof x !== 'string')) {
    throw new SiphonError('PLUGIN_MANIFEST', 'sip.plugin "capabilities" must be an array of capability names', { where });
  }
  const unknown = (c as string[]).filter((x) => !CAPABILITIES.includes(x));
  if (unknown.length > 0) {
    throw new SiphonError('PLUGIN_MANIFEST', `sip.plugin declares unknown capabilit${unknown.length > 1 ? 'ies' : 'y'} ${unknown.map((u) => `"${u.slice(0, 64)}"`).join(', ')} (known: ${CAPABILITIES.join(', ')})`, { where });
  }
  return [...new Set(c as string[])];
}

/** Every capability the imports need, in CAPABILITIES order. */
export function requiredCapabilities(imports: readonly ImportShape[]): string[] {
  const need = new Set<string>();
  for (const imp of imports) {
    if (imp.kind !== 'function') continue;
    const cap = capabilityOf(imp.module, imp.name);
    if (cap !== null) need.add(cap);
  }
  return CAPABILITIES.filter((c) => need.has(c));
}

/**
 * The capabilities a version runs with: what it declares (or, without a manifest list, what it
 * imports plus relay) that config grants. Refuses the first import whose capability is missing,
 * naming the import, the namespace and whether the manifest or the config lacks it (E4070).
 * `grantsKey` names the config key in the message (e.g. `routing.chain[0].grants`).
 */
export function checkCapabilities(
  imports: readonly ImportShape[],
  declared: readonly string[] | null,
  grants: Grants,
  where: string,
  grantsKey: string,
): string[] {
  const decl = declared ?? [...requiredCapabilities(imports), RELAY_CAPABILITY];
  const granted = grants === 'all' ? decl : decl.filter((c) => grants.includes(c));
  for (const imp of imports) {
    if (imp.kind !== 'function') continue;
    const cap = capabilityOf(imp.module, imp.name);
    if (cap === null || granted.includes(cap)) continue;
    const what = `imports ${imp.module}.${imp.name}: namespace "${imp.module}" needs capability "${cap}"`;
    if (!decl.includes(cap)) {
      throw new SiphonError('PLUGIN_CAPABILITY', `${what}, which its sip.plugin manifest does not declare (declared: ${decl.join(', ') || 'none'})`, { where });
    }
    const list = grants === 'all' ? 'all' : grants.join(', ') || 'none';
    throw new SiphonError('PLUGIN_CAPABILITY', `${what}, which is not granted to it (${grantsKey}: ${list})`, { where });
  }
  return CAPABILITIES.filter((c) => granted.includes(c));
}
