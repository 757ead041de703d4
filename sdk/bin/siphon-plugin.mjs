#!/usr/bin/env node
/**
 * `siphon-plugin ARGS` = `siphon plugin ARGS` of the siphon host the SDK belongs to (build, test,
 * deploy, list, rollback ...: docs/plugins.md). A plugin project's scripts call it:
 *
 *   "build": "siphon-plugin build --project .", "deploy": "siphon-plugin deploy --project ."
 *
 * The host is the siphon package around this SDK (../../dist), else the `siphon` package the
 * project depends on.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function hostCli() {
  const inside = fileURLToPath(new URL('../../dist/host/cli/siphon.js', import.meta.url));
  if (existsSync(inside)) return inside;
  try {
    const pkg = createRequire(path.join(process.cwd(), 'package.json')).resolve('siphon/package.json');
    const cli = path.join(path.dirname(pkg), 'dist', 'host', 'cli', 'siphon.js');
    if (existsSync(cli)) return cli;
  } catch {
    // not installed: reported below
  }
  return null;
}

const cli = hostCli();
if (cli === null) {
  process.stderr.write('siphon-plugin: no siphon host found (the SDK is not inside a built siphon package, and the project has no siphon dependency) [E1010 bad command line]\n');
  process.exit(2);
}
const child = spawn(process.execPath, [cli, 'plugin', ...process.argv.slice(2)], { stdio: 'inherit' });
child.on('error', (e) => {
  process.stderr.write(`siphon-plugin: ${e.message}\n`);
  process.exit(2);
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
