/**
 * Locates the team's shared reference folder (conformance messages, bench harness). It sits next to
 * the checkout (../shared); SIPHON_SHARED overrides. Tests that need it fail loudly when it is missing
 * rather than silently skipping.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './siphon-process.js';

export function sharedDir(): string {
  const candidates = [process.env.SIPHON_SHARED, path.resolve(ROOT, '../shared'), '/work/shared'].filter(Boolean) as string[];
  for (const c of candidates) if (existsSync(path.join(c, 'conformance'))) return c;
  throw new Error(`shared reference folder not found (tried ${candidates.join(', ')}); set SIPHON_SHARED`);
}

/** Every conformance message: [relative name, bytes]. */
export function conformanceMessages(): Array<[string, Buffer]> {
  const base = path.join(sharedDir(), 'conformance');
  const out: Array<[string, Buffer]> = [];
  for (const dir of readdirSync(base, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue;
    for (const f of readdirSync(path.join(base, dir.name)).sort()) {
      if (/\.(sip|dat)$/.test(f)) out.push([`${dir.name}/${f}`, readFileSync(path.join(base, dir.name, f))]);
    }
  }
  return out;
}
