/**
 * The argument handling every `siphon <command>` shares: node:util parseArgs, a bad command line
 * answered with E1010 and the usage (exit 2), `--help` answered with the usage (exit 0).
 */
import { createInterface } from 'node:readline';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface CommandIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;

/**
 * Parses `argv` for `siphon <command>`. Returns the parsed values and positionals, or the exit code
 * when the command line was bad (2) or `--help` was asked (0); the message is already written.
 * `options` must declare `help`.
 */
export function parseCommandArgs<O extends Options>(command: string, argv: string[], options: O, usage: string, io: CommandIo = process): Parsed<O> | number {
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true }) as Parsed<O>;
  } catch (e) {
    io.stderr.write(`siphon ${command}: ${(e as Error).message} [E1010 bad command line]\n\n${usage}`);
    return 2;
  }
  if ((parsed.values as { help?: boolean }).help) {
    io.stdout.write(usage);
    return 0;
  }
  return parsed;
}

/** the first line of stdin (a password piped or typed: kept out of `ps` and the shell history). */
export async function firstLineOfStdin(): Promise<string> {
  const rl = createInterface({ input: process.stdin, terminal: false });
  try {
    for await (const line of rl) return line;
    return '';
  } finally {
    rl.close();
  }
}
