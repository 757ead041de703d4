#!/usr/bin/env node
/**
 * PROTOTYPE of a `core.children: N` option (not wired into siphon): N worker processes, forked
 * with node:cluster, share ONE UDP socket, like Kamailio's `children=N` UDP receivers all reading
 * the same bound socket. Each worker runs a complete node (startNode: modules, plugin, pipeline)
 * without a control plane; the primary only forks, restarts nothing, and forwards SIGTERM/SIGINT.
 *
 *   npm run build && node bench/cluster-prototype.mjs --children 2 --listen udp:127.0.0.1:5080 [--plugin default]
 *
 * How the socket is shared: in a cluster worker, dgram.bind({ exclusive: false }) asks the primary
 * for the handle and every worker gets the same socket (Node 20 has no SO_REUSEPORT for dgram), so
 * the kernel hands each datagram to whichever worker reads first and replies leave from the same
 * address and port. siphon's UdpListener binds with `exclusive: true`, so this prototype turns
 * that off for the worker processes by wrapping dgram.Socket#bind (a real option would be a
 * UdpListener flag set by core.children).
 *
 * Trade-off: datagrams are spread over workers without any affinity. Stateless handling (sl
 * replies, stateless forwarding) is fine; transactions are not — a retransmission, the ACK or the
 * CANCEL of an INVITE may reach a worker that does not hold the transaction, and responses may
 * reach a worker that did not send the request. Kamailio solves that with transactions in shared
 * memory; here it would need Call-ID/branch affinity (a dispatcher process, or per-worker ports
 * advertised in Via/Record-Route) or shared transaction state.
 */
import cluster from 'node:cluster';
import dgram from 'node:dgram';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => pathToFileURL(path.join(ROOT, 'dist', p)).href;

const { values } = parseArgs({
  options: {
    children: { type: 'string', default: '2' },
    config: { type: 'string', short: 'c', default: path.join(ROOT, 'config/siphon.yaml') },
    listen: { type: 'string', short: 'l', multiple: true },
    plugin: { type: 'string', short: 'p' },
  },
});
const children = Number(values.children);

if (cluster.isPrimary) {
  for (let i = 0; i < children; i++) cluster.fork();
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const w of Object.values(cluster.workers)) w?.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 5000).unref();
  };
  cluster.on('exit', (w, code) => {
    if (!stopping) console.error(`worker ${w.process.pid} exited (${code})`);
    if (Object.keys(cluster.workers).length === 0) process.exit(0);
  });
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.log(`primary ${process.pid}: ${children} workers sharing the UDP socket`);
} else {
  // share the primary's socket instead of binding an exclusive one per worker
  const bind = dgram.Socket.prototype.bind;
  dgram.Socket.prototype.bind = function (opts, ...rest) {
    if (opts !== null && typeof opts === 'object') opts = { ...opts, exclusive: false };
    return bind.call(this, opts, ...rest);
  };
  const { configFromArgs } = await import(dist('host/cli/config-options.js'));
  const { createLogger, flushLogs } = await import(dist('host/log/logger.js'));
  const { startNode } = await import(dist('host/server/app.js'));
  const { config, pluginFile } = await configFromArgs({ config: values.config, listen: values.listen, plugin: values.plugin });
  const log = createLogger({ level: process.env.SIPHON_LOG_LEVEL ?? 'warn', base: { pid: process.pid, worker: cluster.worker.id } });
  const node = await startNode(config, log, { pluginFile, controlPlane: false });
  const shutdown = () => {
    node.stop().finally(() => {
      flushLogs();
      process.exit(0);
    });
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
