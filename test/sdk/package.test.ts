/**
 * sdk/ as the npm package @siphon/sdk: its version is the ABI version it speaks, every `exports`
 * target and `bin` exists, the testing entry re-exports the host's testing library (no drift), and
 * `npm pack` would ship the AssemblyScript sources.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { HOST_ABI_MINOR } from '../../host/wasm/loader.js';
import * as hostTesting from '../../host/testing/index.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
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
