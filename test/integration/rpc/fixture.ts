/**
 * A control plane over a real registry (core methods + a few test methods), listening on a unix socket
 * in a fresh temp dir, optional TCP/UDP BINRPC and HTTP on loopback ports from the 17000-17999 range.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SiphonMetrics } from '../../../host/metrics/metrics.js';
import { startControlPlane, type ControlPlane } from '../../../host/rpc/control-plane.js';
import { registerCoreMethods, type LogLevelName, type StatisticsProvider } from '../../../host/rpc/core-methods.js';
import { MethodRegistry } from '../../../host/rpc/registry.js';
import { RpcFault } from '../../../host/rpc/types.js';

export interface Fixture {
  dir: string;
  socketPath: string;
  registry: MethodRegistry;
  metrics: SiphonMetrics;
  plane: ControlPlane;
  module: { counters: Record<string, number> };
  logLevel: { value: LogLevelName };
  close(): Promise<void>;
}

export async function startFixture(opts: { http?: number; tcp?: number; udp?: number } = {}): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'siphon-rpc-'));
  const socketPath = join(dir, 'siphon_ctl');
  const registry = new MethodRegistry();
  const module = { counters: { blocked: 3, allowed: 7 } as Record<string, number> };
  const provider: StatisticsProvider = { name: 'secfilter', statistics: () => ({ ...module.counters }) };
  const logLevel = { value: 'info' as LogLevelName };
  const metrics = new SiphonMetrics({ labels: { node: 'test' } });
  metrics.addStatisticsProvider(provider);
  registerCoreMethods(registry, {
    name: 'siphon',
    version: '0.1.0',
    startedAt: new Date(Date.now() - 42_000),
    statisticsProviders: () => [provider],
    getLogLevel: () => logLevel.value,
    setLogLevel: (l) => {
      logLevel.value = l;
    },
  });
  registry.register({
    name: 'test.dump',
    help: 'a struct with nested values',
    handler: () => ({
      name: 'set-1',
      count: 2,
      ratio: 0.25,
      big: 5_000_000_000,
      negative: -17,
      enabled: true,
      targets: [
        { uri: 'sip:a@127.0.0.1', flags: 'AP' },
        { uri: 'sip:b@127.0.0.1', flags: 'IP' },
      ],
      tags: ['x', 'y'],
    }),
  });
  registry.register({
    name: 'test.fail',
    help: 'always faults',
    handler: () => {
      throw new RpcFault(500, 'reload failed: table missing');
    },
  });
  registry.register({
    name: 'test.big',
    help: 'returns N strings of 100 bytes',
    handler: (params) => Array.from({ length: Number(params[0] ?? 1) }, (_, i) => `${i}:`.padEnd(100, 'x')),
  });
  const ctl: string[] = [`unix:${socketPath}`];
  if (opts.tcp) ctl.push(`tcp:127.0.0.1:${opts.tcp}`);
  if (opts.udp) ctl.push(`udp:127.0.0.1:${opts.udp}`);
  const plane = await startControlPlane({
    registry,
    ctl,
    http: opts.http ? { host: '127.0.0.1', port: opts.http } : null,
    metrics,
  });
  return {
    dir,
    socketPath,
    registry,
    metrics,
    plane,
    module,
    logLevel,
    close: async () => {
      await plane.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
