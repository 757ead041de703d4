/**
 * The ABI import list exists in three places that must agree: the spec table (docs/abi/v1.md), the
 * SDK's raw imports (sdk/assembly/env.ts) and the build's allow-list (scripts/build-plugins.mjs).
 * The same holds for the msg_get field ids (spec table vs sdk/assembly/types.ts).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './helpers/fake-host.js';
// @ts-expect-error: plain ESM script without type declarations
import { ABI_V1_IMPORTS } from '../../scripts/build-plugins.mjs';

const spec = readFileSync(path.join(repoRoot, 'docs', 'abi', 'v1.md'), 'utf8');
const envTs = readFileSync(path.join(repoRoot, 'sdk', 'assembly', 'env.ts'), 'utf8');
const typesTs = readFileSync(path.join(repoRoot, 'sdk', 'assembly', 'types.ts'), 'utf8');

/** `name -> number of parameters` from the spec's import table rows: | `name` | `(a: i32, ...) -> ...` | */
function specImports(): Map<string, number> {
  const section = spec.slice(spec.indexOf('## Imports, namespace `sip`'));
  const table = section.slice(0, section.indexOf('\n\n', section.indexOf('| import |')));
  const out = new Map<string, number>();
  for (const m of table.matchAll(/^\| `(\w+)` \| `\(([^)]*)\)/gm)) {
    out.set(m[1], m[2].trim() === '' ? 0 : m[2].split(',').length);
  }
  return out;
}

function sdkImports(): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of envTs.matchAll(/@external\("sip", "(\w+)"\)\s*export declare function \w+\(([^)]*)\)/g)) {
    out.set(m[1], m[2].trim() === '' ? 0 : m[2].split(',').length);
  }
  return out;
}

describe('ABI v1 import list', () => {
  it('the spec table and sdk/assembly/env.ts list the same imports with the same arity', () => {
    const fromSpec = specImports();
    expect(fromSpec.size).toBeGreaterThanOrEqual(20);
    expect(Object.fromEntries(sdkImports())).toEqual(Object.fromEntries(fromSpec));
  });

  it("the build's allow-list is the spec table plus env.memory, env.abort and env.seed", () => {
    const expected = new Set([...specImports().keys()].map((n) => `sip.${n}`));
    for (const e of ['env.memory', 'env.abort', 'env.seed']) expected.add(e);
    expect([...(ABI_V1_IMPORTS as Set<string>)].sort()).toEqual([...expected].sort());
  });

  it('the msg_get field ids of the spec match the SDK Field enum', () => {
    const fromSpec = [...spec.matchAll(/^\| (\d+) \| ([A-Z_]+) \|/gm)].map((m) => `${m[2]}=${m[1]}`);
    const fromSdk = [...typesTs.matchAll(/\*\/ ([A-Z_]+) = (\d+),/g)].map((m) => `${m[1]}=${m[2]}`);
    expect(fromSpec.length).toBe(32);
    expect(fromSdk).toEqual(fromSpec);
  });
});
