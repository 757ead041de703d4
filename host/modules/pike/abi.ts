/**
 * Plugin imports, namespace `pike` (Kamailio pike's functions, same names and return codes):
 *
 *   pike_check_req() -> i32          the source address `$si` of the running request (the server's
 *                                    own addresses answer 1 uncounted: kamailio.cfg's src_ip != myself)
 *   pike_check_ip(p, l) -> i32       the given address (KEMI pike_check_ip), e.g. an X-Forwarded-For
 *
 * 1 not blocked (also when the table could not track the source: Kamailio answers true on internal
 * errors), -1 blocked (detected earlier), -2 detected as flooding by this request. Host statuses:
 * -4 no message in this hook (pike_check_req), -3 string outside guest memory; pike_check_ip answers
 * -1 for text that is not an IPv4/IPv6 address, as Kamailio does. With the host check on
 * (`auto: drop|503`) the request was already counted before the plugin ran: pike_check_req() then
 * answers 1 without counting it twice (a blocked request never reaches the plugin).
 * Gas (besides the 20 the wrapper charges for any import): 1 per call (one table hit), plus 1 per byte
 * of pike_check_ip's argument (at most 64) and the read's own charge.
 */
import { isIP } from 'node:net';
import type { HostCallApi, ImportProvider } from '../../wasm/types.js';
import type { Pike } from './pike.js';
import { PIKE_BLOCKED, PIKE_OK } from './table.js';

type Fn = (...args: never[]) => number;

/** ABI statuses (docs/abi/v1.md "Statuses"). */
const INVALID_MEMORY = -3;
const NOT_ALLOWED = -4;
/** the longest textual IPv6 address (with an IPv4 tail) is 45 characters. */
const MAX_IP_TEXT = 64;

export class PikeImports implements ImportProvider {
  readonly namespace = 'pike';

  constructor(private readonly pike: Pike) {}

  functions(api: HostCallApi): Record<string, Fn> {
    const pike = this.pike;
    return {
      pike_check_req: () => {
        api.charge(1);
        const ctx = api.current();
        if (!ctx) return NOT_ALLOWED;
        if (ctx.floodChecked === true) return PIKE_OK;
        return pike.checkSource(ctx.source.address);
      },
      pike_check_ip: ((p: number, l: number) => {
        api.charge(1);
        if (l <= 0 || l > MAX_IP_TEXT) return PIKE_BLOCKED;
        api.charge(l);
        const ip = api.readString(p, l);
        if (ip === null) return INVALID_MEMORY;
        if (isIP(ip) === 0) return PIKE_BLOCKED;
        return pike.check(ip.toLowerCase());
      }) as Fn,
    };
  }
}
