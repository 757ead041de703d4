/**
 * sdk/ as the npm package @siphon/sdk: its version is the ABI version it speaks, every `exports`
 * target and `bin` exists, the testing entry re-exports the host's testing library (no drift), and
 * `npm pack` would ship the AssemblyScript sources.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { HOST_ABI_MINOR } from '../../host/wasm/loader.js';
import * as hostTesting from '../../host/testing/index.js';

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
let tmp: string | null = null;
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** a script run with node in `dir`: its stdout, or the failure with its output. */
async function node(dir: string, file: string, args: string[] = []): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [file, ...args], { cwd: dir, timeout: 60_000 });
    return { code: 0, out: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, out: (err.stdout ?? '') + (err.stderr ?? '') };
  }
}

const PROBE = `import { PluginTester, sipRequest } from '%MODULE%';
const t = await PluginTester.load(${JSON.stringify(path.join(ROOT, 'plugins', 'hello', 'build', 'hello.wasm'))});
const r = await t.send(sipRequest('OPTIONS', 'sip:127.0.0.1:5060'));
await t.close();
console.log('reply', r.reply?.code);
`;
const SDK = path.join(ROOT, 'sdk');
const pkg = JSON.parse(readFileSync(path.join(SDK, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  exports: Record<string, string | Record<string, string>>;
  bin: Record<string, string>;
  files: string[];
  peerDependencies: Record<string, string>;
};

describe('@siphon/sdk package.json', () => {
  it('is versioned as the ABI it speaks (major.minor = 1.HOST_ABI_MINOR; sdk/assembly/types.ts ABI_MINOR)', () => {
    expect(pkg.name).toBe('@siphon/sdk');
    const [major, minor] = pkg.version.split('.').map(Number);
    expect(major).toBe(1);
    expect(minor).toBe(HOST_ABI_MINOR);
    const types = readFileSync(path.join(SDK, 'assembly', 'types.ts'), 'utf8');
    expect(types).toMatch(new RegExp(`export const ABI_MINOR: i32 = ${minor};`));
  });

  it('every exports target and bin exists; the AssemblyScript entries reach assembly/', () => {
    const targets: string[] = [];
    for (const v of Object.values(pkg.exports)) targets.push(...(typeof v === 'string' ? [v] : Object.values(v)));
    for (const t of targets.filter((x) => !x.includes('*'))) {
      // the testing types point into the host's dist/ (built by npm run build)
      const file = path.join(SDK, t);
      expect(existsSync(file), t).toBe(true);
    }
    for (const b of Object.values(pkg.bin)) expect(existsSync(path.join(SDK, b)), b).toBe(true);
    expect(readFileSync(path.join(SDK, 'index.ts'), 'utf8')).toContain('export * from "./assembly/index";');
    expect(readFileSync(path.join(SDK, 'exports.ts'), 'utf8')).toContain('export * from "./assembly/exports";');
    for (const f of ['index.ts', 'exports.ts', 'assembly/', 'testing/', 'bin/']) expect(pkg.files).toContain(f);
    expect(Object.keys(pkg.peerDependencies)).toEqual(['assemblyscript']);
  });

  it('@siphon/sdk/testing gives every runtime export of host/testing, the same objects as dist/', async () => {
    const sdkTesting = (await import(path.join(SDK, 'testing', 'index.js'))) as Record<string, unknown>;
    const dist = (await import(path.join(ROOT, 'dist', 'host', 'testing', 'index.js'))) as Record<string, unknown>;
    expect(Object.keys(sdkTesting).sort()).toEqual(Object.keys(hostTesting).sort());
    for (const k of Object.keys(sdkTesting)) expect(sdkTesting[k], k).toBe(dist[k]);
  });

  it('the siphon package exports its testing library as siphon/testing', () => {
    const root = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> };
    expect(root.exports['./testing']).toEqual({ types: './dist/host/testing/index.d.ts', default: './dist/host/testing/index.js' });
  });
});

describe('outside the siphon package', () => {
  it('npm pack of sdk/ ships the AssemblyScript sources, the testing entry and the command', async () => {
    const { stdout } = await exec('npm', ['pack', '--dry-run', '--json'], { cwd: SDK, timeout: 60_000 });
    const files = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    for (const f of ['index.ts', 'exports.ts', 'assembly/index.ts', 'assembly/exports.ts', 'assembly/env.ts', 'testing/index.js', 'testing/index.d.ts', 'bin/siphon-plugin.mjs', 'package.json']) {
      expect(files, f).toContain(f);
    }
  }, 90_000);

  it('a project depending on the siphon package imports siphon/testing', async () => {
    tmp ??= mkdtempSync(path.join(os.tmpdir(), 'siphon-sdkpkg-'));
    const dir = path.join(tmp, 'host-dep');
    mkdirSync(path.join(dir, 'node_modules'), { recursive: true });
    symlinkSync(ROOT, path.join(dir, 'node_modules', 'siphon'));
    writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}');
    writeFileSync(path.join(dir, 'probe.js'), PROBE.replace('%MODULE%', 'siphon/testing'));
    const r = await node(dir, 'probe.js');
    expect(r.out).toContain('reply 501');
  }, 90_000);

  it('an SDK installed from its tarball finds the host as the project\'s siphon dependency (testing and siphon-plugin)', async () => {
    tmp ??= mkdtempSync(path.join(os.tmpdir(), 'siphon-sdkpkg-'));
    const dir = path.join(tmp, 'tarball');
    const modules = path.join(dir, 'node_modules');
    mkdirSync(path.join(modules, '@siphon', 'sdk'), { recursive: true });
    const { stdout } = await exec('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: SDK, timeout: 60_000 });
    const tgz = path.join(tmp, (JSON.parse(stdout) as Array<{ filename: string }>)[0]!.filename);
    await exec('tar', ['-xzf', tgz, '-C', path.join(modules, '@siphon', 'sdk'), '--strip-components=1']);
    symlinkSync(ROOT, path.join(modules, 'siphon'));
    writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}');
    writeFileSync(path.join(dir, 'probe.js'), PROBE.replace('%MODULE%', '@siphon/sdk/testing'));
    expect((await node(dir, 'probe.js')).out).toContain('reply 501');
    const help = await node(dir, path.join(modules, '@siphon', 'sdk', 'bin', 'siphon-plugin.mjs'), ['--help']);
    expect(help.code, help.out).toBe(0);
    expect(help.out).toContain('Usage: siphon plugin <command>');
  }, 90_000);
});
