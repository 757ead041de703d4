import { resolveDispatcherConfig, type DispatcherConfig } from '../../../host/modules/dispatcher/config.js';
import { Dispatcher } from '../../../host/modules/dispatcher/dispatcher.js';
import { parseDispatcherList } from '../../../host/modules/dispatcher/list-file.js';
import type { DsMessage } from '../../../host/modules/dispatcher/select.js';
import type { Prober } from '../../../host/modules/dispatcher/prober.js';

/** A dispatcher over list-file text held in memory (the text can be changed between reloads). */
export async function dispatcherFrom(text: string, cfg: Partial<DispatcherConfig> = {}, prober?: Prober) {
  const src = { text, description: 'memory', load: async () => parseDispatcherList(src.text, 'memory') };
  const ds = new Dispatcher(resolveDispatcherConfig(cfg), src, { prober });
  await ds.reload();
  return { ds, src };
}

export function request(over: Partial<Omit<DsMessage, 'authUsername' | 'hashPvValue'>> & { auth?: string; pv?: string } = {}): DsMessage {
  return {
    method: over.method ?? 'INVITE',
    callId: over.callId ?? 'call-1@client',
    fromUri: over.fromUri ?? 'sip:alice@example.com',
    toUri: over.toUri ?? 'sip:bob@example.com',
    requestUri: over.requestUri ?? 'sip:bob@example.com',
    authUsername: () => over.auth,
    hashPvValue: () => over.pv,
  };
}

export function target(dstUri: string | null = null, requestUri = 'sip:bob@example.com') {
  return {
    dstUri,
    requestUri,
    setRequestUri(u: string) {
      this.requestUri = u;
    },
  };
}
