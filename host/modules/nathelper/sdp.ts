/**
 * fix_nated_sdp(flags[, ip]) (Kamailio nathelper): an SDP body (RFC 4566) rewritten for a UA behind
 * NAT. Flags (Kamailio's):
 *   0x01  add `a=direction:active` (once)
 *   0x02  the media address: every `c=` connection address and the address of `a=rtcp:` lines
 *         become the source address (or the given one)
 *   0x04  add `a=nortpproxy:yes` (once)
 *   0x08  the origin address of the `o=` line becomes the source address (or the given one)
 * Returns 1 when an address was replaced, 2 when none was, -1 when there is no SDP body. One pass
 * over the body's lines (bounded by the message size); the rewrite replaces addresses and adds each
 * attribute at most once, so calling it again does not grow the body. Not done (Kamailio's
 * `append_sdp_oldmediaip`): no `a=oldmediaip` lines are added.
 */
import { isIPv6 } from 'node:net';

export const SDP_DIRECTION_ACTIVE = 0x01;
export const SDP_MEDIA_IP = 0x02;
export const SDP_NORTPPROXY = 0x04;
export const SDP_ORIGIN_IP = 0x08;

const DIRECTION_LINE = 'a=direction:active';
const NORTPPROXY_LINE = 'a=nortpproxy:yes';

export interface SdpFix {
  body: string;
  replaced: boolean;
}

/** `<nettype> <addrtype> <address>` tail of a c=/o=/a=rtcp line with the address (and type) set to `ip`. */
function withAddress(tail: string, ip: string): string | null {
  // ... IN IP4 <addr>[/ttl[/n]] : the last three tokens
  const parts = tail.split(' ');
  if (parts.length < 3 || parts[parts.length - 3] !== 'IN') return null;
  const addr = parts[parts.length - 1]!;
  const slash = addr.indexOf('/');
  parts[parts.length - 2] = isIPv6(ip) ? 'IP6' : 'IP4';
  parts[parts.length - 1] = ip + (slash >= 0 ? addr.slice(slash) : '');
  return parts.join(' ');
}

/** the SDP `body` fixed per `flags` with `ip`; null when `body` does not look like SDP (no `v=` first line). */
export function fixSdp(body: string, flags: number, ip: string): SdpFix | null {
  if (!body.startsWith('v=')) return null;
  const eol = body.includes('\r\n') ? '\r\n' : '\n';
  const lines = body.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  let replaced = false;
  let hasDirection = false;
  let hasNortpproxy = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === DIRECTION_LINE) hasDirection = true;
    else if (line === NORTPPROXY_LINE) hasNortpproxy = true;
    else if (flags & SDP_MEDIA_IP && line.startsWith('c=')) {
      const next = withAddress(line.slice(2), ip);
      if (next !== null && `c=${next}` !== line) {
        lines[i] = `c=${next}`;
        replaced = true;
      }
    } else if (flags & SDP_MEDIA_IP && line.startsWith('a=rtcp:')) {
      // a=rtcp:<port> [IN IP4 <addr>] (RFC 3605)
      const sp = line.indexOf(' ');
      if (sp > 0) {
        const next = withAddress(line.slice(sp + 1), ip);
        if (next !== null && `${line.slice(0, sp + 1)}${next}` !== line) {
          lines[i] = `${line.slice(0, sp + 1)}${next}`;
          replaced = true;
        }
      }
    } else if (flags & SDP_ORIGIN_IP && line.startsWith('o=')) {
      const next = withAddress(line.slice(2), ip);
      if (next !== null && `o=${next}` !== line) {
        lines[i] = `o=${next}`;
        replaced = true;
      }
    }
  }
  // session-level attributes go before the first m= line (RFC 4566 §5)
  const extra: string[] = [];
  if (flags & SDP_DIRECTION_ACTIVE && !hasDirection) extra.push(DIRECTION_LINE);
  if (flags & SDP_NORTPPROXY && !hasNortpproxy) extra.push(NORTPPROXY_LINE);
  if (extra.length > 0) {
    let at = lines.findIndex((l) => l.startsWith('m='));
    if (at < 0) at = lines.length;
    lines.splice(at, 0, ...extra);
  }
  return { body: lines.join(eol) + eol, replaced };
}
