/**
 * Kamailio's TCP RPCs over the TCP listeners (Kamailio core_cmd.c `core.tcp_info`, `core.tcp_list`):
 * what is open and what waits to be written, for an operator chasing a peer that holds slots or
 * does not read.
 */
import type { RpcMethod, RpcValue } from '../rpc/types.js';
import { performance } from 'node:perf_hooks';
import { TcpListener } from './tcp.js';
import type { Listener } from './types.js';

function* tcpListeners(all: Iterable<Listener | undefined>): Generator<TcpListener> {
  for (const l of all) if (l instanceof TcpListener) yield l;
}

export function tcpRpcMethods(listeners: () => Iterable<Listener | undefined>): RpcMethod[] {
  return [
    {
      name: 'core.tcp_info',
      help: 'Returns TCP related info: max_connections, opened_connections, write_queued_bytes (summed over the TCP listeners).',
      handler: () => {
        const info = { readers: 1, max_connections: 0, max_tls_connections: 0, opened_connections: 0, opened_tls_connections: 0, write_queued_bytes: 0, inbound_connections: 0 };
        for (const l of tcpListeners(listeners())) {
          info.max_connections += l.maxConnections;
          info.opened_connections += l.connectionCount;
          info.inbound_connections += l.inboundCount;
          info.write_queued_bytes += l.writeQueueBytes;
        }
        return info;
      },
    },
    {
      name: 'core.tcp_list',
      help: 'Returns the open TCP connections: id, state, peer (src) and local (dst) addresses, direction, age, bytes waiting to be written.',
      handler: () => {
        const out: RpcValue[] = [];
        const now = performance.now();
        for (const l of tcpListeners(listeners())) {
          for (const c of l.connections()) {
            out.push({
              id: c.id,
              type: 'TCP',
              state: c.connecting ? 'CONN_CONNECT' : c.readPaused ? 'CONN_READ_PAUSED' : 'CONN_OK',
              direction: c.direction,
              age: Math.floor((now - c.openedAt) / 1000),
              src_ip: c.source.address,
              src_port: c.source.port,
              dst_ip: c.local.address,
              dst_port: c.local.port,
              write_queued: c.writeQueueBytes,
              partial_message: c.partialSince > 0 ? 1 : 0,
            });
          }
        }
        return out;
      },
    },
  ];
}
