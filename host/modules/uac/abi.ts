/**
 * Plugin imports, namespace `uac` (ABI 1.3; Kamailio uac's `uac_replace_from(display, uri)` and
 * `uac_replace_to(display, uri)`, README "Functions for plugins").
 *
 * Returns: 1 replaced; -1 refused (see Uac.replace: not an initial request, no record_route() first
 * in restore mode auto, a URI that does not parse ...); -3 a string outside guest memory; -4 not in
 * request_route; -5 a URI over 512 or a display name over 128 bytes; -6 no `modules.uac` on the
 * node. A display length of -1 keeps the display name, 0 removes it; a URI length of 0 keeps the URI.
 * Gas: 20 per import call, + 200 (a header rewrite, the sealed Record-Route parameter).
 */
import type { HostCallApi, ImportProvider } from '../../wasm/types.js';
import { UAC_DISPLAY_MAX, UAC_URI_MAX, type Uac } from './uac.js';

type Fn = (...args: never[]) => number;

const BAD_ARGUMENT = -2;
const INVALID_MEMORY = -3;
const NOT_ALLOWED = -4;
const LIMIT = -5;
const GAS = 200;

export class UacImports implements ImportProvider {
  readonly namespace = 'uac';

  constructor(private readonly uac: Uac) {}

  functions(api: HostCallApi): Record<string, Fn> {
    const uac = this.uac;
    const replace = (which: 'from' | 'to', dp: number, dl: number, up: number, ul: number): number => {
      const ctx = api.current();
      if (ctx === null || api.hook() !== 'request_route') return NOT_ALLOWED;
      if (dl < -1 || ul < 0) return BAD_ARGUMENT;
      if (dl > UAC_DISPLAY_MAX || ul > UAC_URI_MAX) return LIMIT;
      const display = dl === -1 ? null : api.readString(dp, dl);
      const uri = api.readString(up, ul);
      if ((dl !== -1 && display === null) || uri === null) return INVALID_MEMORY;
      api.charge(GAS);
      return uac.replace(ctx, which, display, uri);
    };
    return {
      uac_replace_from: (dp: number, dl: number, up: number, ul: number): number => replace('from', dp, dl, up, ul),
      uac_replace_to: (dp: number, dl: number, up: number, ul: number): number => replace('to', dp, dl, up, ul),
    };
  }
}
