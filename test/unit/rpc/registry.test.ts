import { describe, expect, it } from 'vitest';
import { isSiphonError } from '../../../host/errors/registry.js';
import {
  ctime,
  kamailioLevelToPino,
  pinoLevelToKamailio,
  registerCoreMethods,
  type LogLevelName,
  type StatisticsProvider,
} from '../../../host/rpc/core-methods.js';
import { assertLoopback, defaultCtlPath, isLoopbackHost, parseCtlAddress } from '../../../host/rpc/ctl-address.js';
import { MethodRegistry } from '../../../host/rpc/registry.js';
import { RpcFault } from '../../../host/rpc/types.js';

function setup(now = Date.UTC(2026, 0, 1, 12, 0, 0)) {
  const registry = new MethodRegistry();
  const counters = { core: { rcv_requests: 10, drops: 1 }, tm: { created: 4 } } as Record<string, Record<string, number>>;
  const providers: StatisticsProvider[] = [
    { name: 'core', statistics: () => ({ ...counters.core! }) },
    {
      name: 'tm',
      statistics: () => ({ ...counters.tm! }),
      resetStatistics: () => {
        counters.tm = { created: 0 };
      },
    },
  ];
  let level: LogLevelName = 'info';
  const stats = registerCoreMethods(registry, {
    name: 'siphon',
    version: '1.2.3',
    startedAt: new Date(now - 3_723_000),
    statisticsProviders: () => providers,
    processes: () => [
      { pid: 100, desc: 'main' },
      { pid: 101, desc: 'udp receiver 127.0.0.1:5060' },
    ],
    getLogLevel: () => level,
    setLogLevel: (l) => {
      level = l;
    },
    now: () => now,
  });
  return { registry, counters, stats, level: () => level };
}

async function fault(p: Promise<unknown>): Promise<RpcFault> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RpcFault) return e;
    throw e;
  }
  throw new Error('expected a fault');
}

describe('MethodRegistry', () => {
  it('lists methods in registration order and refuses duplicates and bad names', () => {
    const { registry } = setup();
    expect(registry.list().slice(0, 3)).toEqual(['system.listMethods', 'system.methodSignature', 'system.methodHelp']);
    expect(() => registry.register({ name: 'core.uptime', help: '', handler: () => 1 })).toThrow(/already registered/);
    expect(() => registry.register({ name: 'nodot', help: '', handler: () => 1 })).toThrow(/module\.verb/);
  });

  it('faults 404 for an unknown method and passes RpcFault through', async () => {
    const { registry } = setup();
    const f = await fault(registry.call('nope.x', []));
    expect(f.faultCode).toBe(404);
    expect(f.message).toBe('command nope.x not found');
    registry.register({ name: 't.f', help: '', handler: () => Promise.reject(new RpcFault(400, 'bad')) });
    expect((await fault(registry.call('t.f', []))).faultCode).toBe(400);
  });

  it('rethrows unexpected handler errors as RPC_INTERNAL', async () => {
    const { registry } = setup();
    registry.register({ name: 't.boom', help: '', handler: () => {
      throw new TypeError('oops');
    } });
    await expect(registry.call('t.boom', [])).rejects.toSatisfy((e) => isSiphonError(e, 'RPC_INTERNAL'));
  });
});

describe('core methods', () => {
  it('core.uptime has Kamailio\'s now/up_since/uptime', async () => {
    const { registry } = setup();
    const r = (await registry.call('core.uptime', [])) as Record<string, unknown>;
    expect(Object.keys(r)).toEqual(['now', 'up_since', 'uptime']);
    expect(r.uptime).toBe(3723);
    expect(r.now).toBe(ctime(new Date(Date.UTC(2026, 0, 1, 12, 0, 0))));
    expect(r.now).toMatch(/^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d 2026$/);
  });

  it('core.ps alternates pid and description; core.psx gives structs', async () => {
    const { registry } = setup();
    expect(await registry.call('core.ps', [])).toEqual([100, 'main', 101, 'udp receiver 127.0.0.1:5060']);
    expect(await registry.call('core.psx', [])).toEqual([
      { IDX: 0, PID: 100, DSC: 'main' },
      { IDX: 1, PID: 101, DSC: 'udp receiver 127.0.0.1:5060' },
    ]);
  });

  it('core.version, core.info, core.echo, system.methodHelp', async () => {
    const { registry } = setup();
    expect(await registry.call('core.version', [])).toMatch(/^siphon 1\.2\.3 \(/);
    expect(await registry.call('core.info', [])).toMatchObject({ version: 'siphon 1.2.3' });
    expect(await registry.call('core.echo', ['a', 1])).toEqual(['a', 1]);
    expect(await registry.call('system.methodHelp', ['core.uptime'])).toBe('Returns uptime statistics.');
    expect((await fault(registry.call('system.methodHelp', []))).faultCode).toBe(400);
    expect((await fault(registry.call('system.methodSignature', ['core.uptime']))).faultCode).toBe(500);
  });

  it('stats.get_statistics selects all, a group, a name, group.name', async () => {
    const { registry } = setup();
    expect(await registry.call('stats.get_statistics', ['all'])).toEqual([
      'core:rcv_requests = 10',
      'core:drops = 1',
      'tm:created = 4',
    ]);
    expect(await registry.call('stats.get_statistics', ['tm:'])).toEqual(['tm:created = 4']);
    expect(await registry.call('stats.get_statistics', ['drops', 'tm.created'])).toEqual(['core:drops = 1', 'tm:created = 4']);
    expect(await registry.call('stats.fetchn', ['core:'])).toEqual({ 'core.rcv_requests': 10, 'core.drops': 1 });
    expect((await fault(registry.call('stats.get_statistics', []))).faultCode).toBe(400);
  });

  it('stats.reset_statistics resets through the provider or against a baseline', async () => {
    const { registry, counters } = setup();
    await registry.call('stats.reset_statistics', ['all']);
    expect(counters.tm!.created).toBe(0); // native reset
    expect(await registry.call('stats.get_statistics', ['core:'])).toEqual(['core:rcv_requests = 0', 'core:drops = 0']);
    counters.core!.rcv_requests = 15;
    expect(await registry.call('stats.get_statistics', ['rcv_requests'])).toEqual(['core:rcv_requests = 5']);
    expect(await registry.call('stats.clear_statistics', ['rcv_requests'])).toEqual(['core:rcv_requests = 5']);
    expect(await registry.call('stats.get_statistics', ['rcv_requests'])).toEqual(['core:rcv_requests = 0']);
  });

  it('corex.debug reads and sets the level with Kamailio numbers or names', async () => {
    const s = setup();
    expect(await s.registry.call('corex.debug', [])).toEqual({ debug: 2 });
    expect(await s.registry.call('corex.debug', [3])).toEqual({ old: 2, new: 3 });
    expect(s.level()).toBe('debug');
    expect(await s.registry.call('corex.debug', ['warn'])).toEqual({ old: 3, new: 0 });
    expect(s.level()).toBe('warn');
    expect((await fault(s.registry.call('corex.debug', ['loud']))).faultCode).toBe(400);
    for (const l of ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const) {
      expect(kamailioLevelToPino(pinoLevelToKamailio(l))).toBe(l);
    }
  });
});

describe('control addresses', () => {
  it('parses ctl-style addresses', () => {
    expect(parseCtlAddress('unix:/run/x')).toEqual({ proto: 'unix', path: '/run/x' });
    expect(parseCtlAddress('unixs:/run/x')).toEqual({ proto: 'unix', path: '/run/x' });
    expect(parseCtlAddress('/tmp/ctl')).toEqual({ proto: 'unix', path: '/tmp/ctl' });
    expect(parseCtlAddress('tcp:127.0.0.1:17000')).toEqual({ proto: 'tcp', host: '127.0.0.1', port: 17000 });
    expect(parseCtlAddress('udp:localhost')).toEqual({ proto: 'udp', host: 'localhost', port: 2049 });
    expect(parseCtlAddress('tcp:[::1]:17001')).toEqual({ proto: 'tcp', host: '::1', port: 17001 });
    for (const bad of ['', 'unixd:/x', 'tcp:127.0.0.1:99999', 'ftp:x', 'unix:']) {
      expect(() => parseCtlAddress(bad), bad).toThrow(/E600/);
    }
  });

  it('knows loopback and refuses other hosts unless allowed', () => {
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('127.3.2.1')).toBe(true);
    expect(isLoopbackHost('::1')).toBe(true);
    expect(isLoopbackHost('localhost')).toBe(true);
    expect(isLoopbackHost('0.0.0.0')).toBe(false);
    expect(isLoopbackHost('*')).toBe(false);
    expect(isLoopbackHost('10.0.0.1')).toBe(false);
    expect(() => assertLoopback('0.0.0.0', 'x', false)).toThrow(/E6005/);
    expect(() => assertLoopback('0.0.0.0', 'x', true)).not.toThrow();
  });

  it('defaultCtlPath follows one documented rule', () => {
    expect(defaultCtlPath({ SIPHON_CTL: 'tcp:127.0.0.1:17000' }, 1000, '/x')).toBe('tcp:127.0.0.1:17000');
    expect(defaultCtlPath({ RUNTIME_DIRECTORY: '/run/siphon' }, 998, '/x')).toBe('/run/siphon/siphon_ctl');
    expect(defaultCtlPath({}, 0, '/x')).toBe('/run/siphon/siphon_ctl');
    expect(defaultCtlPath({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000, '/x')).toBe('/run/user/1000/siphon/siphon_ctl');
    expect(defaultCtlPath({}, 1000, '/srv/app')).toBe('/srv/app/run/siphon_ctl');
  });
});
