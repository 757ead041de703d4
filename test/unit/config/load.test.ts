/**
 * siphon.yaml loading: typos and wrong types are errors naming file:line:column, defaults fill the
 * rest, the shipped config is valid.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, parseConfig, closest } from '../../../host/config/load.js';
import { isSiphonError } from '../../../host/errors/registry.js';
import { DEFAULT_SERVER_HEADER } from '../../../host/core/version.js';
import { moduleSchemas } from '../../../host/server/modules.js';
import { CORE_DEFAULTS } from '../../../host/config/schema.js';

function errorOf(text: string, opts = {}): Error & { code?: number } {
  try {
    parseConfig(text, 'conf/test.yaml', opts);
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('config errors name the place and the reason', () => {
  it('a typo in a core key gives line and column and a suggestion', () => {
    const e = errorOf('core:\n  log_level: info\n  lsten:\n    - udp:127.0.0.1:15001\n');
    expect(isSiphonError(e, 'CONFIG_SCHEMA')).toBe(true);
    expect(e.message).toMatch(/^conf\/test\.yaml:3:3: unknown key 'lsten' in core \(did you mean 'listen'\?\)/);
    expect(e.message).toContain('[E1003');
  });

  it('a typo in a nested section is found too', () => {
    const e = errorOf('core:\n  tcp:\n    idle_timout: 10\n');
    expect(e.message).toMatch(/conf\/test\.yaml:3:5: unknown key 'idle_timout' in core\.tcp \(did you mean 'idle_timeout'\?\)/);
  });

  it('an unknown top-level section is refused', () => {
    const e = errorOf('core: {}\nroutng:\n  plugin: x\n');
    expect(e.message).toMatch(/:2:1: unknown key 'routng' in the top level \(did you mean 'routing'\?\)/);
  });

  it('an unrelated unknown key lists the allowed keys', () => {
    const e = errorOf('routing:\n  zzz: 1\n');
    // the first keys and config; the hardening keys (plugin_dirs, max_module_bytes, ...) sit in between
    expect(e.message).toMatch(/:2:3: unknown key 'zzz' in routing \(allowed: plugin, memory_max_pages, gas_per_hook, [a-z_, ]*\bconfig\b[a-z_, ]*\)/);
    expect(e.message).toMatch(/\bplugin_dirs, max_module_bytes\b/);
  });

  it('a wrong type names the key and the expected type at the value', () => {
    const e = errorOf('core:\n  tcp:\n    max_connections: lots\n');
    expect(e.message).toMatch(/^conf\/test\.yaml:3:22: core\.tcp\.max_connections must be an integer/);
  });

  it('an out-of-range number is refused', () => {
    const e = errorOf('core:\n  max_message_size: 10\n');
    expect(e.message).toMatch(/:2:21: core\.max_message_size must be >= 512/);
  });

  it('an enum value not in the list is refused with the list', () => {
    const e = errorOf('core:\n  log_level: loud\n');
    expect(e.message).toMatch(/:2:14: core\.log_level must be one of "fatal", "error"/);
  });

  it('a bad listen URI is E3001 at its list item', () => {
    const e = errorOf('core:\n  listen:\n    - udp:127.0.0.1:15001\n    - sctp:127.0.0.1\n');
    expect(isSiphonError(e, 'TRANSPORT_LISTEN_URI')).toBe(true);
    expect(e.message).toMatch(/^conf\/test\.yaml:4:7: 'sctp:127\.0\.0\.1': unsupported transport 'sctp'/);
  });

  it('an unknown module is an error; a known one is validated by its own schema', () => {
    const e = errorOf('modules:\n  dispatchr: {}\n', { moduleSchemas: moduleSchemas() });
    expect(e.message).toMatch(/:2:3: unknown module 'dispatchr' in modules \(did you mean 'dispatcher'\?\)/);
    const e2 = errorOf('modules:\n  dispatcher:\n    no_such_param: 1\n', { moduleSchemas: moduleSchemas() });
    expect(e2.message).toMatch(/:3:5: unknown key 'no_such_param' in modules\.dispatcher/);
  });

  it('YAML syntax errors are E1002 with a position', () => {
    const e = errorOf('core:\n  listen: [udp:127.0.0.1\n');
    expect(isSiphonError(e, 'CONFIG_YAML')).toBe(true);
    expect(e.message).toMatch(/^conf\/test\.yaml:\d+:\d+: /);
  });

  it('duplicate keys are refused', () => {
    const e = errorOf('core:\n  node_id: a\n  node_id: b\n');
    expect(isSiphonError(e, 'CONFIG_YAML')).toBe(true);
    expect(e.message).toMatch(/:3:3: /);
  });

  it('a missing file is E1001 naming the file', async () => {
    await expect(loadConfig('/nonexistent/siphon.yaml')).rejects.toThrow(/\/nonexistent\/siphon\.yaml: .*E1001/);
  });
});

describe('defaults', () => {
  it('an empty file gives the documented defaults', () => {
    const c = parseConfig('', '/etc/siphon/siphon.yaml', { ipv6Loopback: false });
    expect(c.core.listen).toEqual(['udp:127.0.0.1:5060', 'tcp:127.0.0.1:5060']);
    expect(c.core.listenAddresses.map((a) => a.uri)).toEqual(['udp:127.0.0.1:5060', 'tcp:127.0.0.1:5060']);
    expect(c.core.log_level).toBe('info');
    expect(c.core.server_header).toBe(DEFAULT_SERVER_HEADER);
    expect(c.core.max_message_size).toBe(65535);
    expect(c.core.max_headers).toBe(256);
    expect(c.core.tcp).toEqual({ ...CORE_DEFAULTS.tcp });
    expect(c.core.tcp).toMatchObject({ idle_timeout: 120, max_connections: 2048, conn_wq_max: 32768, msg_read_timeout: 20 });
    expect(c.core.aliases).toEqual([]);
    expect(c.core.data_dir).toBe('/etc/siphon/data');
    expect(c.modules).toEqual({});
    expect(c.routing).toEqual({ plugin: 'default', memory_max_pages: 256, gas_per_hook: 2_000_000, hook_timeout_ms: 100, init_timeout_ms: 1000, config: {} });
  });

  it('a partial tcp section keeps the other default; server_header "" disables the header', () => {
    const c = parseConfig('core:\n  server_header: ""\n  tcp:\n    idle_timeout: 5\n', null);
    expect(c.core.tcp).toEqual({ ...CORE_DEFAULTS.tcp, idle_timeout: 5 });
    expect(c.core.server_header).toBe('');
  });

  it('routing.config is passed through as given', () => {
    const c = parseConfig('routing:\n  plugin: ./x.wasm\n  config:\n    domains: [a.example, b.example]\n    n: 3\n', null);
    expect(c.routing.config).toEqual({ domains: ['a.example', 'b.example'], n: 3 });
  });

  it('source.where() points at values for later errors', () => {
    const c = parseConfig('core:\n  listen:\n    - udp:127.0.0.1:15001\n', 'a.yaml');
    expect(c.source.where(['core', 'listen', 0])).toBe('a.yaml:3:7');
  });

  it('the shipped config/siphon.yaml is valid', async () => {
    const c = await loadConfig(path.resolve('config/siphon.yaml'), { moduleSchemas: moduleSchemas() });
    expect(c.routing.plugin).toBe('default');
    expect(c.core.listen.slice(0, 2)).toEqual(['udp:127.0.0.1:5060', 'tcp:127.0.0.1:5060']);
  });

  it('dual stack: the defaults add [::1] where the host has an IPv6 loopback; [::1] entries are skipped (and reported) where it has none', async () => {
    const v6 = parseConfig('', null, { ipv6Loopback: true });
    expect(v6.core.listenAddresses.map((a) => a.uri)).toEqual(['udp:127.0.0.1:5060', 'tcp:127.0.0.1:5060', 'udp:[::1]:5060', 'tcp:[::1]:5060']);
    expect(v6.core.listenAddresses[2]!.family).toBe(6);
    const shipped = await readFile(path.resolve('config/siphon.yaml'), 'utf8');
    const v4only = parseConfig(shipped, 'siphon.yaml', { moduleSchemas: moduleSchemas(), ipv6Loopback: false });
    expect(v4only.core.listen).toEqual(['udp:127.0.0.1:5060', 'tcp:127.0.0.1:5060']);
    expect(v4only.core.listenSkipped).toEqual(['udp:[::1]:5060', 'tcp:[::1]:5060']);
    const both = parseConfig(shipped, 'siphon.yaml', { moduleSchemas: moduleSchemas(), ipv6Loopback: true });
    expect(both.core.listen).toEqual(['udp:127.0.0.1:5060', 'tcp:127.0.0.1:5060', 'udp:[::1]:5060', 'tcp:[::1]:5060']);
    expect(both.core.listenSkipped).toBeUndefined();
    // a listen list given explicitly is kept as written (no [::1] added)
    expect(parseConfig('core:\n  listen: [udp:127.0.0.1:5070]\n', null, { ipv6Loopback: true }).core.listen).toEqual(['udp:127.0.0.1:5070']);
  });

  it('core.dns.servers must be IP addresses (c-ares takes no names): a bad one names its position', () => {
    expect(parseConfig('core:\n  dns: { servers: ["127.0.0.1:5353", "[::1]:53", "::1"] }\n', null).core.dns?.servers).toHaveLength(3);
    expect(() => parseConfig('core:\n  dns:\n    servers: ["127.0.0.1", "999.1.1.1:53"]\n', 'x.yaml')).toThrow(/x\.yaml:3:\d+.*999\.1\.1\.1/);
  });

  it('loadConfig reads a file from disk', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'siphon-cfg-'));
    const file = path.join(dir, 's.yaml');
    writeFileSync(file, 'core:\n  listen: ["tcp:[::1]:15002"]\n  data_dir: store\n');
    const c = await loadConfig(file);
    expect(c.core.listenAddresses[0]).toMatchObject({ proto: 'tcp', host: '::1', port: 15002, family: 6 });
    expect(c.core.data_dir).toBe(path.join(dir, 'store'));
  });
});

describe('did-you-mean', () => {
  it('suggests only plausible typos', () => {
    expect(closest('lsten', ['listen', 'log_level'])).toBe('listen');
    expect(closest('max_conections', ['max_connections', 'idle_timeout'])).toBe('max_connections');
    expect(closest('xyz', ['listen', 'log_level'])).toBeUndefined();
  });
});

describe('routing.chain and grants (docs/plugins.md "Chains", "Capabilities")', () => {
  it('accepts bare names and entries with config, grants and budgets; grants is a list or all', () => {
    const c = parseConfig(
      'routing:\n  grants: all\n  chain:\n    - vendor-filter\n    - plugin: pbx\n      grants: [msg.read, tm, relay]\n      config: { forward: { "1": "2" } }\n      gas_per_hook: 50000\n      memory_max_pages: 8\n',
      'conf/test.yaml',
    );
    expect(c.routing.grants).toBe('all');
    expect(c.routing.chain).toEqual(['vendor-filter', { plugin: 'pbx', grants: ['msg.read', 'tm', 'relay'], config: { forward: { '1': '2' } }, gas_per_hook: 50000, memory_max_pages: 8 }]);
  });

  it('an unknown capability in grants is a config error at its place, listing the known ones', () => {
    const e = errorOf('routing:\n  chain:\n    - plugin: pbx\n      grants: [msg.read, registar]\n');
    expect(isSiphonError(e, 'CONFIG_SCHEMA')).toBe(true);
    expect(e.message).toMatch(/conf\/test\.yaml:4:/);
    expect(e.message).toContain('registrar');
  });

  it('an unknown key in a chain entry and an empty chain are refused', () => {
    expect(errorOf('routing:\n  chain:\n    - plugin: pbx\n      grant: all\n').message).toMatch(/grant/);
    expect(isSiphonError(errorOf('routing:\n  chain: []\n'), 'CONFIG_SCHEMA')).toBe(true);
  });
});
