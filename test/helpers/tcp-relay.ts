/**
 * A TCP relay for failure tests: listens on 127.0.0.1:<ephemeral> and forwards every connection to
 * `target`. `blackhole()` makes it stop forwarding without closing anything (bytes in both
 * directions are dropped, new connections are accepted and then ignored), which is what a hung
 * database server or a partitioned network looks like to the client; `resume()` forwards again
 * (connections opened during the outage stay dead, like a real client's would after the partition).
 */
import net from 'node:net';

export class TcpRelay {
  private holed = false;
  private readonly sockets = new Set<net.Socket>();
  /** connections accepted so far. */
  accepted = 0;
  /** bytes from clients dropped while black-holed (a request that reached the "server" unanswered). */
  swallowed = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async open(target: { host: string; port: number }): Promise<TcpRelay> {
    let relay: TcpRelay | undefined;
    const server = net.createServer((client) => relay!.accept(client, target));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    relay = new TcpRelay(server, (server.address() as net.AddressInfo).port);
    return relay;
  }

  private accept(client: net.Socket, target: { host: string; port: number }): void {
    this.accepted++;
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => undefined);
    if (this.holed) {
      client.on('data', (d: Buffer) => void (this.swallowed += d.length)); // accepted, never answered
      return;
    }
    const upstream = net.connect(target.port, target.host);
    this.sockets.add(upstream);
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => undefined);
    client.on('close', () => upstream.destroy());
    client.on('data', (d: Buffer) => {
      if (!this.holed) upstream.write(d);
      else this.swallowed += d.length;
    });
    upstream.on('data', (d) => {
      if (!this.holed) client.write(d);
    });
  }

  blackhole(): void {
    this.holed = true;
  }

  resume(): void {
    this.holed = false;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
