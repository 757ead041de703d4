/**
 * Kamailio's TCP RPCs over the TCP listeners (Kamailio core_cmd.c `core.tcp_info`, `core.tcp_list`):
 * what is open and what waits to be written, for an operator chasing a peer that holds slots or
 * does not read.
 */
import { RpcFault, type RpcMethod, type RpcValue } from '../rpc/types.js';
import { SiphonError } from '../errors/registry.js';
import type { TlsContexts } from './tls-options.js';
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
          if (l.tls !== null) {
            info.max_tls_connections += l.maxConnections;
            info.opened_tls_connections += l.connectionCount;
          }
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
              type: l.tls === null ? 'TCP' : 'TLS',
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

/**
 * Kamailio's tls module RPCs (tls_rpc.c) over the tls: listeners: `tls.info` (connection counts),
 * `tls.list` (one struct per TLS connection), `tls.options` (the settings in force and each
 * profile's certificate), `tls.reload` (re-reads every certificate, key and CA file; a failure keeps
 * the running contexts and answers the file and reason).
 */
export function tlsRpcMethods(contexts: () => TlsContexts | null, listeners: () => Iterable<Listener | undefined>): RpcMethod[] {
  const need = (): TlsContexts => {
    const c = contexts();
    if (c === null) throw new RpcFault(500, 'TLS not configured: no tls: listener in core.listen');
    return c;
  };
  return [
    {
      name: 'tls.info',
      help: 'Returns TLS related info: max_connections, opened_connections, clear_text_write_queued_bytes.',
      handler: () => {
        const info = { max_connections: 0, opened_connections: 0, clear_text_write_queued_bytes: 0 };
        for (const l of tcpListeners(listeners())) {
          if (l.tls === null) continue;
          info.max_connections += l.maxConnections;
          info.opened_connections += l.connectionCount;
          info.clear_text_write_queued_bytes += l.writeQueueBytes;
        }
        return info;
      },
    },
    {
      name: 'tls.list',
      help: 'Lists the TLS connections: id, peer and local addresses, protocol version, cipher, server name, peer certificate subject, state.',
      handler: () => {
        const out: RpcValue[] = [];
        for (const l of tcpListeners(listeners())) for (const info of l.tlsConnections()) out.push({ ...info });
        return out;
      },
    },
    {
      name: 'tls.options',
      help: 'Dumps the TLS settings in force and the certificate of each server profile.',
      handler: () => {
        const c = need();
        const s = c.settings;
        return {
          min_version: s.min_version,
          verify_client: s.verify_client,
          verify_server: s.verify_server ? 1 : 0,
          system_ca: s.system_ca ? 1 : 0,
          ca_list: s.ca_list ?? '',
          cipher_list: s.cipher_list ?? '',
          client_certificate: s.client_certificate ?? '',
          reloads: c.reloads,
          loaded_at: Math.floor(c.loadedAt / 1000),
          profiles: c.profiles().map((p) => ({ server_name: p.name, verify_client: p.verifyClient, subject: p.subject, valid_to: p.validTo })),
        };
      },
    },
    {
      name: 'tls.reload',
      help: 'Re-reads the TLS certificates, keys and CA lists; new connections use them, open ones keep theirs. On an error the running ones stay.',
      handler: () => {
        const c = need();
        try {
          c.reload();
        } catch (e) {
          if (e instanceof SiphonError) throw new RpcFault(500, e.message);
          throw e;
        }
        return 'Ok. TLS configuration reloaded.';
      },
    },
  ];
}
