/**
 * `siphon plugin new --dir`, `build --project`, `deploy --project` (the real dist/ binary) on plugin
 * projects of their own in a temporary folder outside the repository: what the scaffold writes, the
 * refusals (non-empty folder, a source that does not compile, a missing re-export of the entry
 * points, no server to deploy to). The happy path to a running server is test/e2e/plugin-tutorial.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, SIPHON_BIN } from '../helpers/siphon-process.js';

const exec = promisify(execFile);
/** one AssemblyScript build -O3 of the sample: a few s, tens of s on a loaded 2-core machine. */
const BUILD_TIMEOUT_MS = 150_000;

async function run(cmd: string, args: string[], cwd: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await exec(cmd, args, { cwd, timeout: 150_000, env: { ...process.env, NO_COLOR: '1' } });
    return { code: 0, out: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, out: (err.stdout ?? '') + (err.stderr ?? '') };
  }
}
const siphon = (args: string[], cwd: string) => run(process.execPath, [SIPHON_BIN, 'plugin', ...args], cwd);

let tmp: string;
let project: string;
beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'siphon-project-'));
  project = path.join(tmp, 'proj');
  const r = await siphon(['new', 'proj', '--dir', project, '--offline'], tmp);
  expect(r.code, r.out).toBe(0);
  const i = await run('npm', ['install', '--offline', '--no-audit', '--no-fund'], project);
  expect(i.code, i.out).toBe(0);
}, 120_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('siphon plugin new --dir', () => {
  it('writes a project on the SDK package: file: link to sdk/, the host\'s compiler flags, a test on @siphon/sdk/testing', () => {
    const pkg = JSON.parse(readFileSync(path.join(project, 'package.json'), 'utf8'));
    expect(pkg.siphon).toEqual({ capabilities: ['msg.read', 'msg.reply', 'msg.write'] });
    expect(pkg.scripts).toEqual({ build: 'siphon-plugin build --project .', test: 'npm run build && vitest run', deploy: 'siphon-plugin deploy --project .' });
    expect(path.resolve(project, pkg.devDependencies['@siphon/sdk'].replace(/^file:/, ''))).toBe(path.join(ROOT, 'sdk'));
    expect(pkg.devDependencies.assemblyscript).toMatch(/^file:/);
    const asconfig = JSON.parse(readFileSync(path.join(project, 'asconfig.json'), 'utf8'));
    expect(asconfig.options).toEqual({ runtime: 'incremental', importMemory: true, noExportMemory: true, disable: ['bulk-memory'] });
    const src = readFileSync(path.join(project, 'assembly', 'index.ts'), 'utf8');
    expect(src).toContain('from "@siphon/sdk";');
    expect(src).toContain('export * from "@siphon/sdk/exports";');
    expect(readFileSync(path.join(project, 'test', 'proj.test.ts'), 'utf8')).toContain("from '@siphon/sdk/testing'");
    expect(existsSync(path.join(project, 'node_modules', '.bin', 'siphon-plugin'))).toBe(true);
  });

  it('without --offline, assemblyscript and vitest are registry versions (the ones siphon uses)', async () => {
    const dir = path.join(tmp, 'online');
    const r = await siphon(['new', 'online', '--dir', dir], tmp);
    expect(r.code, r.out).toBe(0);
    const deps = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).devDependencies;
    const version = (name: string) => JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
    expect(deps.assemblyscript).toBe(`^${version('assemblyscript')}`);
    expect(deps.vitest).toBe(`^${version('vitest')}`);
  });

  it('refuses a folder that is not empty, writing nothing', async () => {
    const dir = path.join(tmp, 'busy');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'keep.txt'), 'mine');
    const r = await siphon(['new', 'busy', '--dir', dir], tmp);
    expect(r.code).toBe(1);
    expect(r.out).toContain('exists and is not empty');
    expect(existsSync(path.join(dir, 'package.json'))).toBe(false);
  });
});

describe('siphon plugin build/deploy --project', () => {
  it('builds build/NAME.wasm with the identity from package.json', async () => {
    const r = await siphon(['build', '--project', '.'], project);
    expect(r.code, r.out).toBe(0);
    const mod = new WebAssembly.Module(readFileSync(path.join(project, 'build', 'proj.wasm')));
    const id = JSON.parse(Buffer.from(WebAssembly.Module.customSections(mod, 'sip.plugin')[0]!).toString('utf8'));
    expect(id).toEqual({ name: 'proj', version: '0.1.0', capabilities: ['msg.read', 'msg.reply', 'msg.write'] });
    expect(WebAssembly.Module.exports(mod).map((e) => e.name)).toEqual(expect.arrayContaining(['sip_abi_v1', 'sip_abi_minor', 'request_route']));
  }, BUILD_TIMEOUT_MS);

  it('a source without the entry points\' re-export is refused, saying what to add', async () => {
    const src = path.join(project, 'assembly', 'index.ts');
    const good = readFileSync(src, 'utf8');
    try {
      writeFileSync(src, good.replace('export * from "@siphon/sdk/exports";', ''));
      const r = await siphon(['build', '--project', '.', '--force'], project);
      expect(r.code).toBe(1);
      expect(r.out).toContain('missing exports sip_abi_v1, sip_abi_minor, request_route');
      expect(r.out).toContain('export * from "@siphon/sdk/exports"');
    } finally {
      writeFileSync(src, good);
    }
  }, BUILD_TIMEOUT_MS);

  it('a source that does not compile: build names file:line:col; deploy sends nothing (exit 1)', async () => {
    const src = path.join(project, 'assembly', 'index.ts');
    const good = readFileSync(src, 'utf8');
    try {
      writeFileSync(src, `${good}\nthis is not AssemblyScript;\n`);
      const b = await siphon(['build', '--project', '.'], project);
      expect(b.code).toBe(1);
      expect(b.out).toMatch(/assembly\/index\.ts:\d+:\d+: error TS\d+/);
      const d = await siphon(['deploy', '--project', '.', '--ctl', `unix:${path.join(tmp, 'none.sock')}`], project);
      expect(d.code).toBe(1);
      expect(d.out).toContain('did not build; nothing was deployed [E4023');
    } finally {
      writeFileSync(src, good);
    }
  }, BUILD_TIMEOUT_MS);

  it('deploy with no server listening: exit 2, after the copy', async () => {
    const plugins = path.join(tmp, 'server-plugins');
    mkdirSync(plugins);
    const r = await siphon(['deploy', '--project', '.', '--copy-to', plugins, '--ctl', `unix:${path.join(tmp, 'none.sock')}`], project);
    expect(r.code).toBe(2);
    expect(existsSync(path.join(plugins, 'proj.wasm'))).toBe(true);
  }, BUILD_TIMEOUT_MS);
});
