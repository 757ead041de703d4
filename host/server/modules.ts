/**
 * The modules siphon knows (Kamailio's loadmodule list, fixed at build time). A module runs when
 * `modules.<name>` is present in the config; its schema validates that section. To add a module,
 * add its factory here.
 */
import type { MessagePrefetcher, SiphonModule } from '../modules/types.js';
import type { SiphonServer } from './server.js';
import { PikeModule } from '../modules/pike/index.js';
import { AuthModule } from '../modules/auth/index.js';
import { createDispatcherModule } from '../modules/dispatcher/index.js';
import { createRegistrarModule } from '../modules/registrar/index.js';
import { createSecFilterModule } from '../modules/secfilter/index.js';
import { createPikeModule } from '../modules/pike/index.js';
import { createAuthDbModule } from '../modules/auth_db/index.js';
import { createAuthModule } from '../modules/auth/index.js';
import { createNathelperModule } from '../modules/nathelper/index.js';
import { createDialogModule } from '../modules/dialog/index.js';
import { createHtableModule } from '../modules/htable/index.js';
import { createAccModule } from '../modules/acc/index.js';
import { createUacModule } from '../modules/uac/index.js';
import { createRtpengineModule } from '../modules/rtpengine/index.js';

export const MODULE_FACTORIES: Readonly<Record<string, () => SiphonModule>> = {
  dispatcher: () => createDispatcherModule(),
  registrar: () => createRegistrarModule(),
  secfilter: () => createSecFilterModule(),
  pike: () => createPikeModule(),
  auth: () => createAuthModule(),
  auth_db: () => createAuthDbModule(),
  nathelper: () => createNathelperModule(),
  dialog: () => createDialogModule(),
  htable: () => createHtableModule(),
  acc: () => createAccModule(),
  uac: () => createUacModule(),
  rtpengine: () => createRtpengineModule(),
};

/** `modules.<name>` JSON schemas of every known module, for loadConfig. */
export function moduleSchemas(): Record<string, object> {
  const out: Record<string, object> = {};
  for (const [name, make] of Object.entries(MODULE_FACTORIES)) out[name] = make().configSchema;
  return out;
}

/**
 * pike on a server (host/modules/pike/README.md): pike_check_req() leaves the server's own addresses
 * out, the host check runs when `modules.pike.auto` is drop or 503, and the auth module's failed
 * verifications are counted against their source.
 */
export function wirePike(modules: readonly SiphonModule[], server: SiphonServer): void {
  const mod = modules.find((m): m is PikeModule => m instanceof PikeModule);
  if (!mod) return;
  mod.pike.setOwnAddress(server.isOwnAddress);
  server.setFloodGuard(mod.pike.cfg.auto !== 'off' ? mod.pike : null);
  // failed digest authentications count into pike (modules.auth.pike_weight): password guessing is flooding
  const auth = modules.find((m): m is AuthModule => m instanceof AuthModule)?.digestAuth;
  const pike = mod.pike;
  auth?.setFailureSink((address, weight) => void pike.penalize(address, weight));
}

/** what the modules load before routing (registrar db_mode 3, auth_db): host/modules/types.ts MessagePrefetcher. */
export function modulePrefetchers(modules: readonly SiphonModule[]): MessagePrefetcher[] {
  const out: MessagePrefetcher[] = [];
  for (const m of modules) {
    const p = m.prefetcher?.() ?? null;
    if (p !== null) out.push(p);
  }
  return out;
}
