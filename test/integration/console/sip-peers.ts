/**
 * Small real SIP peers on UDP 127.0.0.1 for the console tests: a client that sends a request and waits
 * for its final reply, and a gateway that answers every INVITE with a final status (and remembers what
 * it got). Enough SIP to drive the node; the node itself is the thing under test.
 */
import dgram from 'node:dgram';

export interface Peer {
  port: number;
  /** requests received (first lines and Call-IDs). */
  got: { method: string; callId: string }[];
  close(): void;
}

const header = (text: string, name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(text)?.[1]?.trim() ?? '';

/** a reply to `req` with `status` (Via, From, To + tag, Call-ID, CSeq copied; RFC 3261 §8.2.6). */
export function replyTo(req: string, status: number, reason: string): string {
  const vias = req.split('\r\n').filter((l) => /^(via|v):/i.test(l));
  const to = header(req, 'To');
  return [`SIP/2.0 ${status} ${reason}`, ...vias, `From: ${header(req, 'From')}`, `To: ${to.includes('tag=') ? to : `${to};tag=gw${status}`}`,
    `Call-ID: ${header(req, 'Call-ID')}`, `CSeq: ${header(req, 'CSeq')}`, 'Content-Length: 0', '', ''].join('\r\n');
}

/** a gateway: INVITE → `status`; ACK taken silently; anything else → 200. */
export async function gateway(status = 486, reason = 'Busy Here'): Promise<Peer> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const got: Peer['got'] = [];
  s.on('message', (m, rinfo) => {
    const text = m.toString('latin1');
    if (text.startsWith('SIP/2.0')) return;
    const method = text.slice(0, text.indexOf(' '));
    got.push({ method, callId: header(text, 'Call-ID') });
    if (method === 'ACK') return;
    const out = method === 'INVITE' ? replyTo(text, status, reason) : replyTo(text, 200, 'OK');
    s.send(out, rinfo.port, rinfo.address);
  });
  return { port: s.address().port, got, close: () => s.close() };
}

export interface Client {
  port: number;
  /** sends `lines` (the request without Via/Content-Length) and resolves with the final status, or 0 after `ms`. */
  request(method: string, uri: string, callId: string, extra?: string[], ms?: number): Promise<number>;
  close(): void;
}

export async function client(target: number): Promise<Client> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  const waiting = new Map<string, (status: number) => void>();
  s.on('message', (m) => {
    const text = m.toString('latin1');
    if (!text.startsWith('SIP/2.0 ')) {
      // a request to us (a relayed BYE ...): 200
      if (!text.startsWith('ACK')) s.send(replyTo(text, 200, 'OK'), target, '127.0.0.1');
      return;
    }
    const status = Number(text.slice(8, 11));
    if (status < 200) return;
    const callId = header(text, 'Call-ID');
    if (header(text, 'CSeq').endsWith('INVITE')) {
      // RFC 3261 §17.1.1.3: the ACK of a non-2xx final reply
      s.send([`ACK ${uriOf.get(callId)} SIP/2.0`, header(text, 'Via') ? `Via: ${header(text, 'Via')}` : '', 'Max-Forwards: 70', `From: ${header(text, 'From')}`, `To: ${header(text, 'To')}`, `Call-ID: ${callId}`, `CSeq: ${header(text, 'CSeq').split(' ')[0]} ACK`, 'Content-Length: 0', '', ''].filter((l, i, a) => l !== '' || i >= a.length - 2).join('\r\n'), target, '127.0.0.1');
    }
    waiting.get(callId)?.(status);
    waiting.delete(callId);
  });
  const uriOf = new Map<string, string>();
  let n = 0;
  return {
    port,
    request: (method, uri, callId, extra = [], ms = 5000) => {
      uriOf.set(callId, uri);
      const msg = [`${method} ${uri} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-${callId}-${++n};rport`, 'Max-Forwards: 70',
        `From: <sip:alice@127.0.0.1>;tag=c${n}`, `To: <${method === 'REGISTER' ? 'sip:alice@127.0.0.1' : uri}>`, `Call-ID: ${callId}`, `CSeq: ${n} ${method}`, `Contact: <sip:alice@127.0.0.1:${port}>`, ...extra, 'Content-Length: 0', '', ''].join('\r\n');
      return new Promise<number>((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(callId);
          resolve(0);
        }, ms);
        waiting.set(callId, (st) => {
          clearTimeout(timer);
          resolve(st);
        });
        s.send(msg, target, '127.0.0.1');
      });
    },
    close: () => s.close(),
  };
}
