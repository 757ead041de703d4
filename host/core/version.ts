/**
 * siphon's version, read once from package.json (found by walking up from this file, so it works
 * both from the sources under vitest and from dist/ after `npm run build`).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): { root: string; version: string } {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'siphon') return { root: dir, version: pkg.version ?? '0.0.0' };
    }
    dir = path.dirname(dir);
  }
  return { root: process.cwd(), version: '0.0.0' };
}

const found = findPackageRoot();
/** the package version, e.g. "0.1.0". */
export const VERSION: string = found.version;
/** the repository / package root (holds plugins/, config/). */
export const PACKAGE_ROOT: string = found.root;
/** default `Server:` header of local replies (Kamailio: "kamailio (5.6.3 (x86_64/linux))"). */
export const DEFAULT_SERVER_HEADER = `siphon (${VERSION})`;
