/**
 * Plugin imports, namespace `secfilter` (Kamailio's secf_* functions; names without the `secf_` prefix,
 * plus the KEMI aliases `sqli_hdr` / `secf_sqli_hdr` and the master `ki_check_*` names). Every function
 * returns Kamailio's code (see README.md). Where Kamailio would report an error — no message in this
 * hook, a (ptr, len) outside guest memory — the result is -1, never a trap, so the secfilter codes
 * -2/-3/-4 keep their meaning.
 */
import type { HostCallApi, ImportProvider } from '../../wasm/types.js';
import { HeaderKind, headerPartsOf, type SecFilter } from './secfilter.js';

type Fn = (...args: never[]) => number;

export class SecFilterImports implements ImportProvider {
  readonly namespace = 'secfilter';

  constructor(private readonly sf: SecFilter) {}

  functions(api: HostCallApi): Record<string, Fn> {
    const sf = this.sf;
    /** reads a (ptr, len) string argument; null → the function answers -1. */
    const arg = (p: number, l: number): string | null => {
      if (l < 0) return null;
      api.charge(l);
      return api.readString(p, l);
    };
    const withMsg =
      (f: (ctx: NonNullable<ReturnType<HostCallApi['current']>>) => number): Fn =>
      () => {
        const ctx = api.current();
        return ctx ? f(ctx) : -1;
      };
    const withArg =
      (f: (v: string) => number): Fn =>
      ((p: number, l: number) => {
        const v = arg(p, l);
        return v === null ? -1 : f(v);
      }) as Fn;

    const header = (check: (k: HeaderKind, h: ReturnType<typeof headerPartsOf>) => number, kind: HeaderKind): Fn =>
      withMsg((ctx) => check(kind, headerPartsOf(ctx.msg, kind)));
    const combined = header.bind(null, (k, h) => sf.checkHeader(k, h));
    const username = header.bind(null, (k, h) => sf.checkUsernameHdr(k, h));
    const name = header.bind(null, (k, h) => sf.checkNameHdr(k, h));
    const domain = header.bind(null, (k, h) => sf.checkDomainHdr(k, h));

    const fns: Record<string, Fn> = {
      check_ip: withMsg((ctx) => sf.checkIp(ctx.source.address)),
      check_ua: withMsg((ctx) => sf.checkUa(ctx.msg.header('user-agent'))),
      check_country: withArg((cc) => sf.checkCountry(cc)),
      check_dst: withArg((n) => sf.checkDst(n)),
      check_from_hdr: combined(HeaderKind.FROM),
      check_to_hdr: combined(HeaderKind.TO),
      check_contact_hdr: combined(HeaderKind.CONTACT),
      check_sqli_hdr: withArg((v) => sf.checkSqliHdr(v)),
      check_sqli_all: withMsg((ctx) => sf.checkSqliAll(ctx.msg)),
      check_username_from_hdr: username(HeaderKind.FROM),
      check_username_to_hdr: username(HeaderKind.TO),
      check_username_contact_hdr: username(HeaderKind.CONTACT),
      check_name_from_hdr: name(HeaderKind.FROM),
      check_name_to_hdr: name(HeaderKind.TO),
      check_name_contact_hdr: name(HeaderKind.CONTACT),
      check_domain_from_hdr: domain(HeaderKind.FROM),
      check_domain_to_hdr: domain(HeaderKind.TO),
      check_domain_contact_hdr: domain(HeaderKind.CONTACT),
    };
    // native names (secf_check_*) and the KEMI spellings as aliases
    for (const [k, f] of Object.entries({ ...fns })) fns[`secf_${k}`] = f;
    fns['sqli_hdr'] = fns['check_sqli_hdr']!;
    fns['secf_sqli_hdr'] = fns['check_sqli_hdr']!;
    for (const g of ['username', 'name', 'domain']) {
      for (const h of ['from', 'to', 'contact']) fns[`ki_check_${g}_${h}_hdr`] = fns[`check_${g}_${h}_hdr`]!;
    }
    return fns;
  }
}
