/**
 * vendor-filter: an example of a third party's plugin in front of the operator's own in a chain
 * (docs/plugins.md "Chains"). It needs only to read the request, answer it and add a header
 * (package.json `siphon.capabilities`: msg.read, msg.reply, msg.write); it cannot relay, save
 * contacts or touch transactions, whatever its code tries: the host refuses such imports at load.
 *
 *   routing:
 *     chain:
 *       - plugin: vendor-filter
 *         grants: [msg.read, msg.reply, msg.write]
 *       - plugin: pbx
 *         grants: all
 *
 * request_route:
 *   - a scanner (User-Agent containing one of SCANNERS, case-insensitive; Kamailio's secfilter
 *     seeds the same names) gets 403 Forbidden and the chain ends;
 *   - every other request gets `X-Vendor-Filter: <FILTER_BUILD>` appended and is passed on to the
 *     next member (return CONTINUE without a reply).
 */
import { onRequest, Context, Action, sl_reply, append_hf, msg_get, Field, is_method } from "../../../sdk/assembly";

/** Build label in the header (the chain tests rewrite it to tell two versions apart). */
const FILTER_BUILD = "vendor-filter-1";

/** lower-case User-Agent fragments of well-known SIP scanners. */
const SCANNERS: string[] = ["friendly-scanner", "sipvicious", "sipcli", "sip-scan", "sundayddr", "iwar", "vaxsipuseragent", "smap"];

onRequest((ctx: Context): i32 => {
  const ua = msg_get(Field.USER_AGENT);
  if (ua !== null && isScanner(ua)) {
    // an ACK is never answered (RFC 3261 §17.1.1.3): drop it
    if (is_method("ACK")) return Action.DROP;
    sl_reply(403, "Forbidden");
    return Action.REPLIED;
  }
  append_hf("X-Vendor-Filter: " + FILTER_BUILD);
  return Action.CONTINUE; // pass on to the next member of the chain
});

/** true when `ua` contains one of SCANNERS, ASCII case-insensitively (O(|ua| × name length), names of at most 16 bytes). */
function isScanner(ua: string): bool {
  for (let i = 0; i < SCANNERS.length; i++) {
    if (containsLower(ua, SCANNERS[i])) return true;
  }
  return false;
}

function containsLower(text: string, lower: string): bool {
  const n = text.length;
  const m = lower.length;
  for (let start = 0; start + m <= n; start++) {
    let j = 0;
    while (j < m) {
      let c = text.charCodeAt(start + j);
      if (c >= 0x41 && c <= 0x5a) c += 0x20; // A-Z → a-z
      if (c != lower.charCodeAt(j)) break;
      j++;
    }
    if (j == m) return true;
  }
  return false;
}
