/**
 * hello and default through the production runtime (host/wasm/runtime.ts loadPlugin) instead of the
 * recording host: the loader accepts what the build emits, and the routing decisions hold against
 * messages parsed by host/sip/parser.ts. Each part runs as soon as the host piece it needs exists.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { repoRoot, runBuild } from './helpers/fake-host.js';
import type { MessageContext } from '../../host/core/context.js';
import type { SipMessage } from '../../host/sip/types.js';
import type { LoadedPlugin } from '../../host/wasm/types.js';

const runtimeFile = path.join(repoRoot, 'host', 'wasm', 'runtime.ts');
const parserFile = path.join(repoRoot, 'host', 'sip', 'parser.ts');
const hasRuntime = existsSync(runtimeFile);
const hasParser = existsSync(parserFile);
const log = pino({ level: 'silent' });

async function load(name: string): Promise<LoadedPlugin> {
  const r = await runBuild([name]);
  expect(r.code, r.stderr).toBe(0);
  const runtime = await import(/* @vite-ignore */ runtimeFile);
  // plugins/default imports tm/rr (ABI 1.1): a node without transactions links them to -6 stubs
  const { tmImportProviders } = await import(/* @vite-ignore */ path.join(repoRoot, 'host', 'proxy', 'abi.ts'));
  return runtime.loadPlugin(runtime.resolvePluginPath(name, repoRoot), {
    log,
    isMyself: (host: string) => host === '127.0.0.1',
    providers: tmImportProviders(null),
  });
}

describe.skipIf(!hasRuntime)('SDK plugins on the production loader', () => {
  it('loads hello and default with their sip.plugin identity', async () => {
    for (const name of ['hello', 'default']) {
      const plugin = await load(name);
      try {
        expect(plugin.info.name).toBe(name);
        expect(plugin.info.version).toBe('1.0.0');
      } finally {
        plugin.close();
      }
    }
  });
});

describe.skipIf(!hasRuntime || !hasParser)('SDK plugins routing parsed messages on the production runtime', () => {
  function request(method: string, ruri: string, extra = '', maxForwards: string | null = '70'): string {
    return (
      `${method} ${ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:19160;branch=z9hG4bK-sdk-rt;rport\r\n` +
      (maxForwards === null ? '' : `Max-Forwards: ${maxForwards}\r\n`) +
      `From: <sip:bob@127.0.0.1>;tag=rt1\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: sdk-runtime-1\r\n` +
      `CSeq: 1 ${method}\r\n${extra}Content-Length: 0\r\n\r\n`
    );
  }

  async function route(plugin: LoadedPlugin, text: string) {
    const { parseMessage } = await import(/* @vite-ignore */ parserFile);
    const parsed = parseMessage(Buffer.from(text));
    expect(parsed.ok).toBe(true);
    const replies: Array<{ code: number; reason: string }> = [];
    const ctx: MessageContext = {
      id: 1,
      msg: parsed.message as SipMessage,
      source: { address: '127.0.0.1', port: 19160, proto: 'udp', family: 4 },
      local: { address: '127.0.0.1', port: 19161, proto: 'udp', family: 4 },
      dstUri: null,
      vars: new Map(),
      replied: false,
      log,
      slReply(code: number, reason: string) {
        replies.push({ code, reason });
        this.replied = true;
        return true;
      },
    };
    const action = plugin.requestRoute(ctx);
    return { action, replies: replies.map((r) => `${r.code} ${r.reason}`) };
  }

  it('hello answers 501 and never answers an ACK', async () => {
    const hello = await load('hello');
    try {
      expect((await route(hello, request('MESSAGE', 'sip:alice@127.0.0.1'))).replies).toEqual(['501 Not Implemented']);
      const ack = await route(hello, request('ACK', 'sip:alice@127.0.0.1'));
      expect(ack.replies).toEqual([]);
    } finally {
      hello.close();
    }
  });

  it('default answers 200 to OPTIONS sip:127.0.0.1, 483 to Max-Forwards 0, nothing to an ACK', async () => {
    const def = await load('default');
    try {
      expect((await route(def, request('OPTIONS', 'sip:127.0.0.1'))).replies).toEqual(['200 OK']);
      expect((await route(def, request('OPTIONS', 'sip:127.0.0.1', '', '0'))).replies).toEqual(['483 Too Many Hops']);
      expect((await route(def, request('ACK', 'sip:bob@127.0.0.1', '', '0'))).replies).toEqual([]);
      expect((await route(def, request('INVITE', 'sip:bob@127.0.0.1'))).replies).toEqual(['404 Not Found']);
    } finally {
      def.close();
    }
  });
});
