/**
 * `core.http.console`: the operator console on the control HTTP listener (README.md "Config keys").
 * Absent: off (no /console path at all). Every bound has a default here and in the README.
 */

/** Defaults of core.http.console (seconds, counts, bytes). */
export const CONSOLE_DEFAULTS = {
  /** idle time after which a session ends, s. */
  session_ttl: 3600,
  /** sessions at once; a new login beyond it ends the least recently used one. */
  max_sessions: 32,
  /** failed logins from one address within login_window before it gets 429. */
  login_attempts: 5,
  /** s. */
  login_window: 300,
  /** overview sample period, s; the overview keeps one hour of samples (3600 / sample_interval). */
  sample_interval: 5,
  /** messages the live trace keeps (ring); the oldest goes first. */
  trace_messages: 2000,
  /** bytes of one traced message kept; the rest is cut (marked). */
  trace_message_bytes: 8192,
  /** live streams (SSE) open at once over all sessions. */
  max_streams: 8,
  /** bytes an SSE stream may have unsent before its events are dropped (counted, then the stream is closed). */
  stream_buffer: 256 * 1024,
} as const;

/** HEP (Homer) export of the traced messages, HEPv3 over UDP. */
export interface HepConfig {
  /** udp:host:port of the Homer collector (heplify-server), e.g. udp:127.0.0.1:9060. */
  address: string;
  /** HEP capture agent id (chunk 0x000c); default 2001. */
  capture_id?: number;
  /** HEP auth key (chunk 0x000e); absent: none. */
  password?: string;
}

export interface ConsoleConfig {
  /** the passwd file `siphon console passwd` writes; relative to the config file; default <data_dir>/console.passwd. */
  passwd_file?: string;
  session_ttl?: number;
  max_sessions?: number;
  login_attempts?: number;
  login_window?: number;
  sample_interval?: number;
  trace_messages?: number;
  trace_message_bytes?: number;
  max_streams?: number;
  stream_buffer?: number;
  hep?: HepConfig;
}

export type ResolvedConsoleConfig = { -readonly [K in keyof typeof CONSOLE_DEFAULTS]: number } & {
  passwdFile: string;
  hep: HepConfig | null;
};

export function resolveConsoleConfig(c: ConsoleConfig, passwdFile: string): ResolvedConsoleConfig {
  const D = CONSOLE_DEFAULTS;
  return {
    session_ttl: c.session_ttl ?? D.session_ttl,
    max_sessions: c.max_sessions ?? D.max_sessions,
    login_attempts: c.login_attempts ?? D.login_attempts,
    login_window: c.login_window ?? D.login_window,
    sample_interval: c.sample_interval ?? D.sample_interval,
    trace_messages: c.trace_messages ?? D.trace_messages,
    trace_message_bytes: c.trace_message_bytes ?? D.trace_message_bytes,
    max_streams: c.max_streams ?? D.max_streams,
    stream_buffer: c.stream_buffer ?? D.stream_buffer,
    passwdFile,
    hep: c.hep ?? null,
  };
}

/** JSON schema of core.http.console (host/config/schema.ts includes it). */
export const CONSOLE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    passwd_file: { type: 'string', minLength: 1 },
    session_ttl: { type: 'integer', minimum: 60, maximum: 86_400 },
    max_sessions: { type: 'integer', minimum: 1, maximum: 1024 },
    login_attempts: { type: 'integer', minimum: 1, maximum: 1000 },
    login_window: { type: 'integer', minimum: 1, maximum: 86_400 },
    sample_interval: { type: 'integer', minimum: 1, maximum: 60 },
    trace_messages: { type: 'integer', minimum: 10, maximum: 100_000 },
    trace_message_bytes: { type: 'integer', minimum: 512, maximum: 65_535 },
    max_streams: { type: 'integer', minimum: 1, maximum: 64 },
    stream_buffer: { type: 'integer', minimum: 16_384, maximum: 16_777_216 },
    hep: {
      type: 'object',
      additionalProperties: false,
      required: ['address'],
      properties: {
        address: { type: 'string', pattern: '^udp:' },
        capture_id: { type: 'integer', minimum: 0, maximum: 4_294_967_295 },
        password: { type: 'string', minLength: 1, maxLength: 256 },
      },
    },
  },
} as const;
