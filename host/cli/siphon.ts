#!/usr/bin/env node
/**
 * `siphon` — one binary, one subcommand per file in host/cli/commands/ (each exports
 * `run(argv: string[]): Promise<number>`, the exit code). To add a subcommand: add its file and a
 * line to COMMANDS below.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { VERSION } from '../core/version.js';

interface CommandEntry {
  summary: string;
  /** module under ./commands/ (without extension). */
  file: string;
}

export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  start: { summary: 'run the SIP server', file: 'start' },
  check: { summary: 'validate the config and load the plugin, without opening sockets', file: 'check' },
  rpc: { summary: 'call an RPC method on a running server (kamcmd-like)', file: 'rpc' },
  plugin: { summary: 'build, inspect and reload routing plugins', file: 'plugin' },
  secfilter: { summary: 'manage secfilter rules', file: 'secfilter' },
  dispatcher: { summary: 'manage dispatcher destinations', file: 'dispatcher' },
  subscriber: { summary: 'manage auth_db subscribers (add, passwd, rm, list)', file: 'subscriber' },
  cdr: { summary: 'list the running server\'s recent CDRs (acc.cdrs)', file: 'cdr' },
  console: { summary: 'operator console users (passwd)', file: 'console' },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `siphon ${VERSION} — a SIP server whose routing logic is a WebAssembly plugin

Usage: siphon <command> [options]

Commands:
${lines.join('\n')}

Options:
  -h, --help     this help (siphon <command> --help for a command's options)
  -v, --version  print the version

Run \`siphon start -c config/siphon.yaml\` to serve; \`siphon check -c FILE\` to validate a config.
`;
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    process.stdout.write(usage());
    return first === undefined ? 1 : 0;
  }
  if (first === '-v' || first === '--version' || first === 'version') {
    process.stdout.write(`siphon ${VERSION}\n`);
    return 0;
  }
  const entry = COMMANDS[first];
  if (!entry) {
    process.stderr.write(`siphon: unknown command '${first}' [E1010 bad command line]\n\n${usage()}`);
    return 2;
  }
  let mod: { run?: (argv: string[]) => Promise<number> };
  try {
    mod = (await import(`./commands/${entry.file}.js`)) as typeof mod;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(`commands/${entry.file}.`)) {
      process.stderr.write(`siphon: the '${first}' command is not available in this build\n`);
      return 2;
    }
    throw e;
  }
  if (typeof mod.run !== 'function') {
    process.stderr.write(`siphon: the '${first}' command is not available in this build\n`);
    return 2;
  }
  return mod.run(rest);
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href; // npm's bin is a symlink
  } catch {
    return false;
  }
}

const invokedDirectly = isEntryPoint();
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => {
      // `start` keeps running (its sockets hold the loop); others exit with their code
      if (code !== -1) process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`siphon: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
