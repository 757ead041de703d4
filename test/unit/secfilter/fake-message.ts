/** A minimal SipMessage/MessageContext stand-in until the real parser lands (only what secfilter reads). */
import type { MessageContext } from '../../../host/core/context.js';
import type { NameAddr, SipMessage } from '../../../host/sip/types.js';

export function fakeContext(opts: { from?: NameAddr; to?: NameAddr; headers?: Record<string, string>; source?: string }): MessageContext {
  const headers = new Map(Object.entries(opts.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const msg = {
    kind: 'request',
    method: 'INVITE',
    from: opts.from,
    to: opts.to,
    header: (name: string) => headers.get(name.toLowerCase()),
  } as unknown as SipMessage;
  return {
    id: 1,
    msg,
    source: { address: opts.source ?? '127.0.0.1', port: 5070, proto: 'udp', family: 4 },
  } as unknown as MessageContext;
}
