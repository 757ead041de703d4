/**
 * The modules siphon knows (Kamailio's loadmodule list, fixed at build time). A module runs when
 * `modules.<name>` is present in the config; its schema validates that section. To add a module,
 * add its factory here.
 */
import type { SiphonModule } from '../modules/types.js';
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
