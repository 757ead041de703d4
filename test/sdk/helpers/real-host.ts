/**
 * The production import table (host/wasm/abi-v1.ts createEnvImports/createSipImports, the module
 * namespaces of host/wasm/loader.ts and the tm/rr stubs of host/proxy/abi.ts) over the same message
 * and the same memory as a FakeHost, so the two can be called with the same arguments and compared
 * (fake-host-drift.test.ts). The message is serialized from the FakeMessage and parsed by
 * host/sip/parser.ts; the context is the one the server would build for it.
 */
import pino from 'pino';
import type { MessageContext } from '../../../host/core/context.js';
import { parseMessage } from '../../../host/sip/parser.js';
import type { SipMessage } from '../../../host/sip/types.js';
import { createEnvImports, createSipImports, type AbiHost } from '../../../host/wasm/abi-v1.js';
import { GuestMemory } from '../../../host/wasm/guest-memory.js';
import { withUnconfiguredModules } from '../../../host/wasm/loader.js';
import { DEFAULT_PLUGIN_LIMITS } from '../../../host/wasm/types.js';
import { createHostCallApi, createProviderImports } from '../../../host/wasm/abi-modules.js';
import { tmImportProviders } from '../../../host/proxy/abi.js';
import { textImportProviders } from '../../../host/textops/abi.js';
import { serialize, type FakeHost } from './fake-host.js';

export interface RealHost {
  ctx: MessageContext;
  /** sl_reply answers, with the reply_hdr_add lines each carried. */
  replies: Array<{ code: number; reason: string; headers: string[] }>;
  /** the text of every log line the plugin wrote (xlog and log). */
  logs: string[];
  imports: Record<string, Record<string, unknown>>;
  /** results logged by the surface fixture as "key=value" (FakeHost.said()). */
  said(): Map<string, string>;
}

/**
 * The real host's imports for `fake`'s message, config, hook and log level, on `fake.memory`.
 * is_myself follows the FakeHost's rule (127.0.0.1, port 5060 or none).
 */
export function realHostFor(fake: FakeHost): RealHost {
  const parsed = parseMessage(Buffer.from(serialize(fake.msg)));
  if (!parsed.ok) throw new Error('the fake message does not parse');
  const replies: RealHost['replies'] = [];
  const logs: string[] = [];
  const levels = ['warn', 'info', 'info', 'debug'];
  const log = pino({ level: levels[fake.logLevel] ?? 'info' }, { write: (line: string) => void logs.push(String(JSON.parse(line).msg)) });
  const src = fake.msg.source;
  const ctx: MessageContext = {
    id: 1,
    msg: parsed.message as SipMessage,
    source: { address: src.ip, port: src.port, proto: src.proto as 'udp', family: 4 },
    local: { address: fake.local.ip, port: fake.local.port, proto: 'udp', family: 4 },
    dstUri: null,
    vars: new Map(),
    replied: false,
    log,
    // as the server's (host/server/server.ts): every reply carries the reply_hdr_add lines of the request
    slReply(code: number, reason: string) {
      replies.push({ code, reason, headers: [...(ctx.replyHeaders ?? [])] });
      return true;
    },
  };
  let counter = 1_000_000_000;
  const gas = {
    counter: {
      get: () => counter,
      set: (v: number) => void (counter = v),
      charge: (u: number) => (counter = counter < 0 || u > counter ? -1 : counter - u),
    },
  };
  const host: AbiHost = {
    label: 'drift@1.0.0',
    log,
    current: () => ctx,
    hook: () => fake.hook,
    globals: new Map(),
    config: Buffer.from(fake.config, 'utf8'),
    isMyself: (h, p) => h === '127.0.0.1' && (p === undefined || p === 5060),
    maxForwardsLimit: 256,
    limits: DEFAULT_PLUGIN_LIMITS,
  };
  const mem = new GuestMemory(fake.memory);
  const providers = withUnconfiguredModules([...tmImportProviders(null), ...textImportProviders()]);
  return {
    ctx,
    replies,
    logs,
    said: () => {
      const m = new Map<string, string>();
      for (const text of logs) {
        const i = text.indexOf('=');
        if (i > 0) m.set(text.slice(0, i), text.slice(i + 1));
      }
      return m;
    },
    imports: {
      env: createEnvImports(host, mem),
      sip: createSipImports(host, mem, gas),
      ...createProviderImports(providers, createHostCallApi(host, mem, gas)),
    },
  };
}
