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

async function holdPort(proto: 'udp' | 'tcp'): Promise<{ port: number; close: () => Promise<void> }> {
  if (proto === 'tcp') {
    const srv = net.createServer();
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => resolve());
    });
    return { port: (srv.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => srv.close(() => r())) };
  }
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => resolve());
  });
  return { port: sock.address().port, close: () => new Promise<void>((r) => sock.close(() => r())) };
}
