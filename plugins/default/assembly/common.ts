/**
 * Shared by the route files of plugins/default: the PASS verdict and the plugin config
 * (`routing.config`, handed over as JSON by sip.cfg_read).
 */
import { cfg_read } from "../../../sdk/assembly";

/** The route block did not finish the request: request_route goes on. */
export const PASS: i32 = -1;


/**
 * The string value of a top-level `"key": "value"` member of the plugin config JSON, null when
 * absent or not a string. Enough for flat settings; escapes inside the value are not decoded.
 */
export function configString(json: string, key: string): string | null {
  const quoted = "\"" + key + "\"";
  let p = json.indexOf(quoted);
  if (p < 0) return null;
  p += quoted.length;
  while (p < json.length && (json.charCodeAt(p) == 0x20 || json.charCodeAt(p) == 0x09 || json.charCodeAt(p) == 0x0a || json.charCodeAt(p) == 0x0d)) p++;
  if (p >= json.length || json.charCodeAt(p) != 0x3a /* : */) return null;
  p++;
  while (p < json.length && (json.charCodeAt(p) == 0x20 || json.charCodeAt(p) == 0x09 || json.charCodeAt(p) == 0x0a || json.charCodeAt(p) == 0x0d)) p++;
  if (p >= json.length || json.charCodeAt(p) != 0x22 /* " */) return null;
  const end = json.indexOf("\"", p + 1);
  return end < 0 ? null : json.substring(p + 1, end);
}

/** `routing.config.<key>` (callers keep the answer: it reads the config): "off" (or "false", "no") = false, anything else = true. */
export function configOn(key: string): bool {
  const v = configString(cfg_read(), key);
  if (v === null) return true;
  const s = v.toLowerCase();
  return !(s == "off" || s == "false" || s == "no");
}
