/**
 * `modules.rtpengine` — Kamailio rtpengine's parameters with its defaults, plus siphon's bounds
 * (README.md "Config keys").
 */
import { isIP } from 'node:net';

export interface RtpengineConfig {
  /**
   * the rtpengine instances (Kamailio rtpengine_sock): `udp:host:port` URLs separated by spaces,
   * each optionally `=weight` (default 1), e.g. "udp:127.0.0.1:2223=2 udp:10.0.0.2:2223". One set.
   */
  rtpengine_sock: string;
  /** ms one try of an ng request waits for its answer (Kamailio rtpengine_tout_ms, 1000). */
  rtpengine_tout_ms: number;
  /** tries of one ng request per instance (Kamailio rtpengine_retr, 5). */
  rtpengine_retr: number;
  /** s an instance that did not answer stays disabled before it is pinged again (Kamailio rtpengine_disable_tout, 60). */
  rtpengine_disable_tout: number;
  /**
   * siphon: what a request whose offer/answer failed (every instance timed out or answered an
   * error) gets: 0 (default) = relayed with its SDP unchanged, as Kamailio's default config does
   * when rtpengine_manage() returns -1 (it ignores the return); 400-699 = answered with that status
   * instead (Kamailio configs that test `if (!rtpengine_offer()) sl_send_reply("503", ...)`).
   * A reply whose answer failed is always relayed unchanged.
   */
  failure_reply: number;
  /** siphon: ng requests waiting for an answer at most; past it a new one fails at once (E7602). */
  max_pending: number;
  /** siphon: calls whose rtpengine instance is remembered at most (oldest forgotten first). */
  max_sessions: number;
}

export const RTPENGINE_DEFAULTS: Readonly<RtpengineConfig> = Object.freeze({
  rtpengine_sock: 'udp:127.0.0.1:2223',
  rtpengine_tout_ms: 1000,
  rtpengine_retr: 5,
  rtpengine_disable_tout: 60,
  failure_reply: 0,
  max_pending: 1000,
  max_sessions: 100_000,
});

/** JSON schema of `modules.rtpengine` (ajv, useDefaults). */
export const rtpengineConfigSchema = {
  $id: 'siphon:modules.rtpengine',
  type: 'object',
  additionalProperties: false,
  properties: {
    rtpengine_sock: { type: 'string', minLength: 1, maxLength: 2048, default: RTPENGINE_DEFAULTS.rtpengine_sock },
    rtpengine_tout_ms: { type: 'integer', minimum: 10, maximum: 60_000, default: 1000 },
    rtpengine_retr: { type: 'integer', minimum: 1, maximum: 20, default: 5 },
    rtpengine_disable_tout: { type: 'integer', minimum: 1, maximum: 86_400, default: 60 },
    failure_reply: { anyOf: [{ const: 0 }, { type: 'integer', minimum: 400, maximum: 699 }], default: 0 },
    max_pending: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1000 },
    max_sessions: { type: 'integer', minimum: 1, maximum: 10_000_000, default: 100_000 },
  },
} as const;

/** Defaults applied over a partial section (callers that skip ajv). */
export function resolveRtpengineConfig(section: Record<string, unknown> | Partial<RtpengineConfig> = {}): RtpengineConfig {
  const out: Record<string, unknown> = { ...RTPENGINE_DEFAULTS };
  for (const [k, v] of Object.entries(section)) if (v !== undefined && k in RTPENGINE_DEFAULTS) out[k] = v;
  return out as unknown as RtpengineConfig;
}

export interface InstanceSpec {
  url: string;
  host: string;
  port: number;
  family: 4 | 6;
  weight: number;
}

/** at most this many instances in rtpengine_sock. */
export const MAX_INSTANCES = 64;

/**
 * Parses rtpengine_sock. Throws an Error naming the bad entry (the module turns it into a config
 * error, E7600). `udp:` or `udp6:` with a numeric address (IPv6 in brackets); names are refused so an
 * answer can be matched to the address it came from.
 */
export function parseSocks(text: string): InstanceSpec[] {
  const out: InstanceSpec[] = [];
  for (const entry of text.split(/\s+/).filter((t) => t !== '')) {
    const m = /^udp6?:(\[[0-9a-fA-F:.]+\]|[0-9.]+):([0-9]{1,5})(?:=([0-9]{1,4}))?$/.exec(entry);
    if (m === null) throw new Error(`rtpengine_sock: "${entry.slice(0, 80)}" is not udp:host:port[=weight]`);
    const port = Number(m[2]);
    const weight = m[3] === undefined ? 1 : Number(m[3]);
    if (port < 1 || port > 65535) throw new Error(`rtpengine_sock: port of "${entry}" out of range`);
    if (weight < 1) throw new Error(`rtpengine_sock: weight of "${entry}" must be at least 1`);
    const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
    if (isIP(host) === 0) throw new Error(`rtpengine_sock: "${entry}" needs an IP address (names are not resolved)`);
    const url = entry.replace(/=[0-9]+$/, '');
    if (out.some((i) => i.url === url)) throw new Error(`rtpengine_sock: "${url}" listed twice`);
    out.push({ url, host, port, family: host.includes(':') ? 6 : 4, weight });
  }
  if (out.length === 0) throw new Error('rtpengine_sock: no instance');
  if (out.length > MAX_INSTANCES) throw new Error(`rtpengine_sock: more than ${MAX_INSTANCES} instances`);
  return out;
}
