/**
 * Plugin imports, namespace `nathelper` (Kamailio nathelper's functions, same names and return
 * codes; README.md "Functions for plugins"). Kamailio: 1 true / done, -1 false / error; for
 * handle_ruri_alias 2 = no alias. Host statuses: -4 no message in this hook, -3 string outside
 * guest memory, -7 internal (logged).
 *
 * Edits replace what a previous call wrote (a Contact's host:port, its `alias` or `received`
 * parameter, the top Via's rport/received), so calling a function twice leaves the message the same
 * size. Gas: 20 per import call (the wrapper) + GAS_BASE + 1 per 8 bytes of the header values read.
 */
import { isIP } from 'node:net';
import type { MessageContext } from '../../core/context.js';
import type { HostCallApi, ImportProvider } from '../../wasm/types.js';
import { isPrivateAddress, plainAddress, sameAddress } from './address.js';
import type { NathelperConfig } from './config.js';
import { natUacTest, NAT_FLAG } from './nat-test.js';
import {
  aliasOf,
  aliasToUri,
  contactUriBounds,
  hostText,
  mapContactUri,
  removeUriParam,
  replaceHostPort,
  setContactParam,
  setUriParam,
  sourceUri,
  uriHostPort,
  uriParam,
  viaWithRport,
} from './rewrite.js';
import { fixSdp } from './sdp.js';
import type { NathelperStats } from './stats.js';

type Fn = (...args: never[]) => number;

const INVALID_MEMORY = -3;
const NOT_ALLOWED = -4;
const INTERNAL = -7;
/** Kamailio's false / error. */
const FALSE = -1;
const GAS_BASE = 10;
/** Contacts add_rcv_param() edits at most (registrar's max_contacts is 10; more is refused, -1). */
export const MAX_EDITED_CONTACTS = 64;
/** the longest address text is_rfc1918() reads (a bracketed IPv6 with an IPv4 tail is 47). */
const MAX_IP_TEXT = 64;

/** the cost of reading `n` bytes of header text (1 per 8 bytes). */
const bytesGas = (n: number): number => (n + 7) >>> 3;

export class NathelperImports implements ImportProvider {
  readonly namespace = 'nathelper';

  constructor(
    private readonly cfg: NathelperConfig,
    private readonly stats: NathelperStats,
  ) {}

  functions(api: HostCallApi): Record<string, Fn> {
    const cfg = this.cfg;
    const stats = this.stats;
    /** runs f on the current message; maps a missing message and a throw to statuses. */
    const withCtx = (name: string, f: (ctx: MessageContext) => number): number => {
      api.charge(GAS_BASE);
      const ctx = api.current();
      if (!ctx) return NOT_ALLOWED;
      try {
        return f(ctx);
      } catch (e) {
        ctx.log.error({ err: (e as Error).message, fn: name }, 'nathelper import failed');
        return INTERNAL;
      }
    };
    /** the Contact values of the message, charged by size; null when there are none or too many. */
    const contacts = (ctx: MessageContext, max: number): string[] | null => {
      const values = ctx.msg.headerValues('contact');
      let bytes = 0;
      for (const v of values) bytes += v.length;
      api.charge(bytesGas(bytes));
      if (values.length === 0 || values.length > max || values[0]!.trim() === '*') return null;
      return values;
    };
    /** writes the Contact values back as one header field (RFC 3261 §7.3.1: same meaning). */
    const storeContacts = (ctx: MessageContext, values: string[]): void => {
      ctx.msg.setHeader('Contact', values.join(', '));
    };

    return {
      /** nat_uac_test(flags): 1 when any enabled test says NAT, -1 when none does. */
      nat_uac_test: ((flags: number) =>
        withCtx('nat_uac_test', (ctx) => {
          if (flags & (NAT_FLAG.SDP_PRIVATE | NAT_FLAG.SDP_SOURCE)) api.charge(bytesGas(ctx.msg.body.length));
          const nat = natUacTest(ctx.msg, ctx.source, flags, cfg.nat_addr_mode);
          if (nat) stats.natDetected++;
          return nat ? 1 : FALSE;
        })) as Fn,

      /** fix_nated_contact(): the first Contact URI's host:port becomes the source address:port. */
      fix_nated_contact: () =>
        withCtx('fix_nated_contact', (ctx) => {
          const values = contacts(ctx, Number.MAX_SAFE_INTEGER);
          if (values === null) return FALSE;
          const next = mapContactUri(values[0]!, (uri) => replaceHostPort(uri, `${hostText(ctx.source.address)}:${ctx.source.port}`));
          if (next === null) return FALSE;
          values[0] = next;
          storeContacts(ctx, values);
          stats.contactsFixed++;
          return 1;
        }),

      /** fix_nated_register(): save() stores the source as `received` (Kamailio received_avp). */
      fix_nated_register: () =>
        withCtx('fix_nated_register', (ctx) => {
          if (ctx.msg.kind !== 'request') return FALSE;
          ctx.natReceived = sourceUri(ctx.source);
          stats.registersFixed++;
          return 1;
        }),

      /**
       * add_rcv_param(flag): `received="sip:ip:port[;transport=x]"` on every Contact (flag 0), or
       * `;received=sip:ip:port` in every Contact URI (flag != 0; UDP only, as Kamailio).
       */
      add_rcv_param: ((flag: number) =>
        withCtx('add_rcv_param', (ctx) => {
          const values = contacts(ctx, MAX_EDITED_CONTACTS);
          if (values === null) return FALSE;
          const rcv = sourceUri(ctx.source);
          if (flag !== 0 && ctx.source.proto !== 'udp') return FALSE;
          for (let i = 0; i < values.length; i++) {
            const next = flag === 0 ? setContactParam(values[i]!, 'received', rcv) : mapContactUri(values[i]!, (uri) => setUriParam(uri, 'received', rcv));
            if (next === null) return FALSE;
            values[i] = next;
          }
          storeContacts(ctx, values);
          return 1;
        })) as Fn,

      /** set_contact_alias(trim): `;alias=ip~port~proto` (the source) in the first Contact URI; an existing alias is always replaced. */
      set_contact_alias: ((_trim: number) =>
        withCtx('set_contact_alias', (ctx) => {
          const values = contacts(ctx, Number.MAX_SAFE_INTEGER);
          if (values === null) return FALSE;
          const next = mapContactUri(values[0]!, (uri) => setUriParam(uri, 'alias', aliasOf(ctx.source)));
          if (next === null) return FALSE;
          values[0] = next;
          storeContacts(ctx, values);
          return 1;
        })) as Fn,

      /**
       * add_contact_alias(): as set_contact_alias(), but only when the source differs from the first
       * Contact URI's host, port (5060 when absent) or transport (UDP when absent): 1 added, 2 not
       * needed, -1 no readable Contact.
       */
      add_contact_alias: () =>
        withCtx('add_contact_alias', (ctx) => {
          const values = contacts(ctx, Number.MAX_SAFE_INTEGER);
          if (values === null) return FALSE;
          const b = contactUriBounds(values[0]!);
          const uri = b === null ? null : values[0]!.slice(b[0], b[1]);
          const hp = uri === null ? null : uriHostPort(uri);
          if (uri === null || hp === null) return FALSE;
          const transport = uriParam(uri, 'transport');
          const proto = typeof transport === 'string' ? transport.toLowerCase() : 'udp';
          if (sameAddress(hp.host, ctx.source.address) && (hp.port ?? 5060) === ctx.source.port && proto === ctx.source.proto) return 2;
          const next = mapContactUri(values[0]!, (u) => setUriParam(u, 'alias', aliasOf(ctx.source)));
          if (next === null) return FALSE;
          values[0] = next;
          storeContacts(ctx, values);
          return 1;
        }),

      /**
       * handle_ruri_alias(): an R-URI `alias=ip~port~proto` parameter is removed and becomes `$du`:
       * 1 done, 2 no alias, -1 unreadable alias (nothing changed).
       */
      handle_ruri_alias: () =>
        withCtx('handle_ruri_alias', (ctx) => {
          const msg = ctx.msg;
          if (msg.kind !== 'request') return FALSE;
          api.charge(bytesGas(msg.requestUri.length));
          const alias = uriParam(msg.requestUri, 'alias');
          if (alias === undefined) return 2;
          const du = alias === null ? null : aliasToUri(alias, (s) => isIP(s) !== 0);
          const ruri = removeUriParam(msg.requestUri, 'alias');
          if (du === null || ruri === null) return FALSE;
          msg.setRequestUri(ruri);
          ctx.dstUri = du;
          return 1;
        }),

      /** force_rport(): replies go to the source port as if the top Via had `rport` (RFC 3581 §4; Kamailio core). */
      force_rport: () =>
        withCtx('force_rport', (ctx) => {
          const msg = ctx.msg;
          const via = msg.vias[0];
          if (msg.kind !== 'request' || via === undefined) return FALSE;
          api.charge(bytesGas(via.raw.length));
          const next = viaWithRport(via.raw, ctx.source);
          if (next === null) return FALSE;
          msg.removeHeader('via', 0);
          msg.addHeader('Via', next, 'first');
          return 1;
        }),

      /**
       * fix_nated_sdp(flags, ip): the SDP body rewritten (sdp.ts): 1 an address replaced, 2 none,
       * -1 no SDP body or `ip` not a numeric address. `l` 0: the source address.
       */
      fix_nated_sdp: ((flags: number, p: number, l: number) =>
        withCtx('fix_nated_sdp', (ctx) => {
          let ip = plainAddress(ctx.source.address);
          if (l !== 0) {
            if (l < 0 || l > MAX_IP_TEXT) return FALSE;
            const given = api.readString(p, l);
            if (given === null) return INVALID_MEMORY;
            if (isIP(given.trim()) === 0) return FALSE;
            ip = given.trim();
          }
          const msg = ctx.msg;
          const type = msg.header('content-type');
          if (msg.body.length === 0 || type === undefined || !type.toLowerCase().startsWith('application/sdp')) return FALSE;
          api.charge(bytesGas(msg.body.length));
          const fixed = fixSdp(msg.body.toString('utf8'), flags, ip);
          if (fixed === null) return FALSE;
          msg.setBody(Buffer.from(fixed.body, 'utf8'));
          return fixed.replaced ? 1 : 2;
        })) as Fn,

      /** is_rfc1918(ip): 1 private/shared address (RFC 1918, RFC 6598), -1 not (or not an IPv4 address). */
      is_rfc1918: ((p: number, l: number) => {
        api.charge(GAS_BASE);
        if (l <= 0 || l > MAX_IP_TEXT) return FALSE;
        const ip = api.readString(p, l);
        if (ip === null) return INVALID_MEMORY;
        return isPrivateAddress(ip.trim(), cfg.nat_addr_mode) ? 1 : FALSE;
      }) as Fn,
    };
  }
}
