/**
 * scripts/build-plugins.mjs: every shipped plugin compiles to a module the host accepts (ABI v1
 * exports, memory imported from env, imports only from the ABI table, identity section), and a
 * broken plugin makes the build fail naming file:line or the refused import.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, runBuild } from './helpers/fake-host.js';
// @ts-expect-error: plain ESM script without type declarations
import { ABI_V1_1_IMPORTS, ABI_V1_IMPORTS, ABI_V1_REQUIRED_EXPORTS, MODULE_IMPORTS, listPlugins } from '../../scripts/build-plugins.mjs';

const pluginsDir = path.join(repoRoot, 'plugins');
const fixtures = path.join(repoRoot, 'test', 'sdk', 'fixtures');
const allowed = new Set<string>([...(ABI_V1_IMPORTS as Set<string>), ...(ABI_V1_1_IMPORTS as Set<string>), ...(MODULE_IMPORTS as Set<string>)]);

describe('build-plugins.mjs on the shipped plugins', () => {
  const names = listPlugins(pluginsDir) as string[];

  beforeAll(async () => {
    const r = await runBuild(names);
    expect(r.code, r.stderr).toBe(0);
  });

  it('finds hello and default', () => {
    expect(names).toEqual(expect.arrayContaining(['hello', 'default']));
  });

  for (const name of ['hello', 'default']) {
    describe(name, () => {
      const load = () => new WebAssembly.Module(readFileSync(path.join(pluginsDir, name, 'build', `${name}.wasm`)));

      it('exports sip_abi_v1, sip_abi_minor, plugin_init and request_route as functions, and no memory', () => {
        const exports = WebAssembly.Module.exports(load());
        for (const e of [...(ABI_V1_REQUIRED_EXPORTS as string[]), 'plugin_init']) {
          expect(exports).toContainEqual({ name: e, kind: 'function' });
        }
        expect(exports.some((e) => e.kind === 'memory')).toBe(false);
        expect(exports.some((e) => e.name === '__gas')).toBe(false);
      });

      it('imports its memory from env and nothing outside the ABI table', () => {
        const imports = WebAssembly.Module.imports(load());
        expect(imports).toContainEqual({ module: 'env', name: 'memory', kind: 'memory' });
        for (const i of imports) expect(allowed.has(`${i.module}.${i.name}`), `${i.module}.${i.name}`).toBe(true);
        expect(imports.some((i) => i.module === 'sip')).toBe(true);
      });

      it('carries a sip.plugin section with its name, package.json version and declared capabilities', () => {
        const sections = WebAssembly.Module.customSections(load(), 'sip.plugin');
        expect(sections).toHaveLength(1);
        const identity = JSON.parse(Buffer.from(sections[0]).toString('utf8'));
        const pkg = JSON.parse(readFileSync(path.join(pluginsDir, name, 'package.json'), 'utf8'));
        const caps = pkg.siphon?.capabilities as string[] | undefined;
        expect(identity).toEqual(caps === undefined ? { name, version: pkg.version } : { name, version: pkg.version, capabilities: caps });
      });

      it('has no bulk-memory instructions (gas metering counts loops; memory.copy/fill would escape it)', async () => {
        const binaryen = (await import('binaryen')).default;
        const mod = binaryen.readBinary(readFileSync(path.join(pluginsDir, name, 'build', `${name}.wasm`)));
        try {
          const text = mod.emitText();
          expect(text).not.toMatch(/memory\.(copy|fill)/);
        } finally {
          mod.dispose();
        }
      });
    });
  }
});

describe('build-plugins.mjs on broken plugins', () => {
  it('exits non-zero naming file:line:col of a compile error', async () => {
    const r = await runBuild(['--plugins-dir', fixtures, 'broken']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/test\/sdk\/fixtures\/broken\/assembly\/index\.ts:6:10: error TS2304: Cannot find name 'notDefinedAnywhere'/);
  });

  it('refuses a plugin importing outside ABI v1 and names the import', async () => {
    const r = await runBuild(['--plugins-dir', fixtures, '--force', 'foreign']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('plugin foreign: imports outside ABI v1');
    expect(r.stderr).toContain('env.trace');
  });

  it('exits non-zero for a plugin that does not exist', async () => {
    const r = await runBuild(['--plugins-dir', fixtures, 'no-such-plugin']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no-such-plugin/assembly/index.ts: no such file');
  });
});
