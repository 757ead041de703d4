/**
 * A small pseudo-variable expander for `hash_pvar` (alg 7). It covers the variables people hash
 * on; the full PV engine lives with the runtime and can replace this through `DsMessage`.
 */
import type { MessageContext } from '../../core/context.js';
import { uriHashParts } from './hash.js';

/**
 * What Kamailio prints for a variable without value inside a format such as hash_pvar: the text
 * `<null>` (a URI without user part for $fU/$tU/$rU, an absent header or tag), so alg 7 hashes
 * "<null>@call-id" for `$fU@$ci` and a From without user (checked against Kamailio 5.6.3 by
 * test/oracle/dispatcher.test.ts).
 */
const NULL_TEXT = '<null>';

function uriPart(uri: string | undefined, part: 'user' | 'host'): string {
  if (!uri) return NULL_TEXT;
  const p = uriHashParts(uri);
  if (!p) return NULL_TEXT;
  return part === 'user' ? (p.user || NULL_TEXT) : p.host;
}

/** Expands `$ci $fu $fU $fd $ft $tu $tU $td $ru $rU $rd $rm $si $sp $var(x) $avp(x) $hdr(Name)` in `template`. */
export function expandPv(template: string, ctx: MessageContext): string {
  const m = ctx.msg;
  // the template is configuration (hash_pvar), not message text; the values substituted are not rescanned
  return template.replace(/\$(var|avp|hdr)\(([^)]+)\)|\$([A-Za-z]{2})/g, (all, fn: string | undefined, arg: string | undefined, short: string | undefined) => {
    if (fn === 'var' || fn === 'avp') return ctx.vars.get(arg!) ?? '';
    if (fn === 'hdr') return m.header(arg!) ?? NULL_TEXT;
    switch (short) {
      case 'ci':
        return m.callId;
      case 'fu':
        return m.from?.uri ?? '';
      case 'fU':
        return uriPart(m.from?.uri, 'user');
      case 'fd':
        return uriPart(m.from?.uri, 'host');
      case 'ft':
        return m.from?.tag ?? NULL_TEXT;
      case 'tu':
        return m.to?.uri ?? '';
      case 'tU':
        return uriPart(m.to?.uri, 'user');
      case 'td':
        return uriPart(m.to?.uri, 'host');
      case 'ru':
        return m.requestUri;
      case 'rU':
        return uriPart(m.requestUri, 'user');
      case 'rd':
        return uriPart(m.requestUri, 'host');
      case 'rm':
        return m.method;
      case 'si':
        return ctx.source.address;
      case 'sp':
        return String(ctx.source.port);
      default:
        return all;
    }
  });
}

/** Digest `username` from Proxy-Authorization, else Authorization (RFC 3261 §22.4, §25.1). */
export function digestUsername(ctx: MessageContext): string | undefined {
  for (const h of ['proxy-authorization', 'authorization']) {
    const v = ctx.msg.header(h);
    if (!v) continue;
    // Linear: each attempt needs the literal "username" after a separator; the quoted branch's
    // alternatives are disjoint ([^"\\] vs \\.), and when it fails the token branch always matches
    // (a '"' is a [^\s,] char), so at most one attempt scans to the end of the value.
    const m = /(?:^|[\s,])username\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/i.exec(v);
    if (m) return (m[1] ?? m[2] ?? '').replace(/\\(.)/g, '$1');
  }
  return undefined;
}
