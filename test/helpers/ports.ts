/**
 * Free ports for child processes that must be told a port before they start (baresip's ctrl_tcp, a
 * siphon node's listen address, Kamailio's listen=): the OS picks an ephemeral port (bind to port 0),
 * the socket is closed and the number handed over. Another process could take it in between; the
 * ephemeral range makes that unlikely, and the caller's start-up fails loudly if it happens.
 */
import dgram from 'node:dgram';
import net from 'node:net';

/** an ephemeral port free on 127.0.0.1 for `proto` at the time of the call. */
export async function freePort(proto: 'udp' | 'tcp' = 'udp'): Promise<number> {
  const h = await holdPort(proto);
  await h.close();
  return h.port;
}

/** a port free on 127.0.0.1 for both UDP and TCP (a node listening on both, as config/siphon.yaml does). */
export async function freeUdpTcpPort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await freePort('udp');
    const ok = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no port free for both UDP and TCP on 127.0.0.1 after 20 tries');
}

/**
 * `n` distinct ports free on 127.0.0.1 for `proto` at the time of the call (all bound to port 0 at once,
 * then closed): for a test that needs a proxy, a UAC and UASes on ports it names in its messages. The
 * ports are not contiguous; index them (`p[0]` the proxy, `p[1]` the UAC ...).
 */
export async function freePorts(n: number, proto: 'udp' | 'tcp' = 'udp'): Promise<number[]> {
  const held: Array<{ port: number; close: () => Promise<void> }> = [];
  try {
    for (let i = 0; i < n; i++) held.push(await holdPort(proto));
    return held.map((h) => h.port);
  } finally {
    await Promise.all(held.map((h) => h.close()));
  }
}

/**
 * A port below 10000 free on 127.0.0.1 for `proto`, for a client that cannot name a five-digit port
 * (sipsak 0.9.8 cuts `sip:127.0.0.1:15900` to `sip:127.0.0.1:1590` in its Request-URI). Ephemeral
 * ports have five digits, so candidates are drawn at random from 1024-9999 and the first that binds is
 * handed over (random, so two files asking at once rarely try the same one).
 */
export async function freeShortPort(proto: 'udp' | 'tcp' = 'udp'): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const h = await holdPort(proto, 1024 + Math.floor(Math.random() * (10000 - 1024))).catch(() => null);
    if (h === null) continue;
    await h.close();
    return h.port;
  }
  throw new Error(`no ${proto} port below 10000 free on 127.0.0.1 after 50 tries`);
}

/** binds `port` on 127.0.0.1 (0: the OS picks one) and keeps it until `close()`. */
async function holdPort(proto: 'udp' | 'tcp', port = 0): Promise<{ port: number; close: () => Promise<void> }> {
  if (proto === 'tcp') {
    const srv = net.createServer();
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve());
    });
    return { port: (srv.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => srv.close(() => r())) };
  }
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', (err) => {
      sock.close(); // a failed bind leaves the handle open
      reject(err);
    });
    sock.bind(port, '127.0.0.1', () => resolve());
  });
  return { port: sock.address().port, close: () => new Promise<void>((r) => sock.close(() => r())) };
}
