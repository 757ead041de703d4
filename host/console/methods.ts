/**
 * Which RPC methods the console's JSON endpoint (POST /console/api/rpc) calls, per role. The console
 * has no module logic of its own: every page calls these methods of the one registry (host/rpc), the
 * same ones kamcmd and `siphon rpc` call. A method not listed here is refused (403 E6034) even to an
 * admin: the console offers what its pages need, not a general RPC shell.
 */
import type { ConsoleRole } from './password.js';

/** methods that only read; both roles. */
export const READ_METHODS: ReadonlySet<string> = new Set([
  'core.version', 'core.uptime', 'core.info', 'system.listMethods',
  'stats.get_statistics', 'stats.fetch',
  'ul.dump', 'ul.lookup',
  'dispatcher.list',
  'secfilter.print', 'secfilter.stats',
  'pike.list', 'pike.top',
  'plugin.list', 'plugin.stats',
  'acc.cdrs',
  'dlg.list', 'dlg.stats_active',
  'auth.stats',
]);

/** methods that change state; admin only. */
export const ADMIN_METHODS: ReadonlySet<string> = new Set([
  'ul.rm', 'ul.rm_contact',
  'dispatcher.set_state', 'dispatcher.add', 'dispatcher.remove', 'dispatcher.reload',
  'secfilter.add_bl', 'secfilter.add_wl', 'secfilter.del_bl', 'secfilter.del_wl', 'secfilter.add_dst', 'secfilter.del_dst', 'secfilter.reload', 'secfilter.stats_reset',
  'pike.unblock',
  'plugin.load', 'plugin.reload', 'plugin.rollback',
  'dlg.end_dlg',
]);

/** 'ok', or why `role` may not call `method`. */
export function allowed(role: ConsoleRole, method: string): 'ok' | 'admin-only' | 'not-offered' {
  if (READ_METHODS.has(method)) return 'ok';
  if (ADMIN_METHODS.has(method)) return role === 'admin' ? 'ok' : 'admin-only';
  return 'not-offered';
}
