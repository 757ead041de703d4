/**
 * JSON schema of siphon.yaml. Like kamailio.cfg it has three parts (kamailio.md §6.1): `core`
 * (global parameters), `modules` (Kamailio's modparam, one section per module) and `routing`
 * (where kamailio.cfg has request_route: here the Wasm plugin and its settings).
 *
 * Every object is closed (additionalProperties: false) so a typo is an error naming the key,
 * never a silently ignored setting. Defaults are filled in by ajv (`useDefaults`).
 */

/** Defaults also used when no config file is given. */
export const CORE_DEFAULTS = {
  listen: ['udp:127.0.0.1:5060', 'tcp:127.0.0.1:5060'],
  log_level: 'info',
  node_id: 'siphon',
  data_dir: 'data',
  /** Kamailio's BUF_SIZE is 65535; a UDP datagram cannot be larger anyway. */
  max_message_size: 65535,
  max_headers: 256,
  /** tcp_connection_lifetime default (120 s) and tcp_max_connections default (2048). */
  tcp: { idle_timeout: 120, max_connections: 2048 },
} as const;

export const ROUTING_DEFAULTS = {
  plugin: 'default',
  memory_max_pages: 256,
  gas_per_hook: 2_000_000,
} as const;

export function buildConfigSchema(moduleSchemas: Readonly<Record<string, object>>): object {
  const moduleProps: Record<string, object> = {};
  for (const [name, schema] of Object.entries(moduleSchemas)) moduleProps[name] = schema;
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      core: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          listen: {
            type: 'array',
            items: { type: 'string', minLength: 1 },
            minItems: 1,
            default: [...CORE_DEFAULTS.listen],
          },
          log_level: {
            type: 'string',
            enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
            default: CORE_DEFAULTS.log_level,
          },
          /** `Server:` header of locally generated replies; "" disables it; absent = "siphon (<version>)". */
          server_header: { type: 'string' },
          node_id: { type: 'string', minLength: 1, default: CORE_DEFAULTS.node_id },
          data_dir: { type: 'string', minLength: 1, default: CORE_DEFAULTS.data_dir },
          max_message_size: { type: 'integer', minimum: 512, maximum: 1_048_576, default: CORE_DEFAULTS.max_message_size },
          max_headers: { type: 'integer', minimum: 8, maximum: 4096, default: CORE_DEFAULTS.max_headers },
          tcp: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              idle_timeout: { type: 'number', exclusiveMinimum: 0, default: CORE_DEFAULTS.tcp.idle_timeout },
              max_connections: { type: 'integer', minimum: 1, default: CORE_DEFAULTS.tcp.max_connections },
            },
          },
          /** Kamailio `alias`: other host[:port] names this server answers to (check_self). */
          aliases: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
        },
      },
      modules: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: moduleProps,
      },
      routing: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          plugin: { type: 'string', minLength: 1, default: ROUTING_DEFAULTS.plugin },
          memory_max_pages: { type: 'integer', minimum: 1, maximum: 65536, default: ROUTING_DEFAULTS.memory_max_pages },
          gas_per_hook: { type: 'integer', minimum: 1000, default: ROUTING_DEFAULTS.gas_per_hook },
          config: { type: 'object', default: {} },
        },
      },
    },
  };
}
