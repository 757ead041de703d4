/**
 * `siphon rpc [--ctl ADDRESS] [--json] [METHOD [ARGS...]]`: calls an RPC method over the BINRPC control
 * socket, as kamcmd does (reference kamailio.md §3.3). Without METHOD it starts an interactive shell with
 * line editing, history (kept in ~/.siphon_rpc_history) and TAB completion of method names.
 *
 * Arguments are typed like kamcmd's: a decimal integer is sent as an int, a decimal number as a double,
 * anything else as a string; prefix `s:` to force a string (`s:123`).
 * Exit status: 0 success, 1 the method answered with a fault, 2 usage or connection error.
 * (kamcmd exits 0 on a fault; siphon does not, so scripts can test it.)
 */
import { appendFile, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { BinrpcClient } from '../../rpc/binrpc-client.js';
import { defaultCtlPath } from '../../rpc/ctl-address.js';
import { formatFault, formatReply } from '../../rpc/format.js';
import { RpcFault, type RpcValue } from '../../rpc/types.js';

export interface RpcCommandIo {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  /** treat stdin as a terminal (prompt, completion); defaults to stdin.isTTY. */
  terminal?: boolean;
  /** where interactive history is kept; null disables the file. */
  historyFile?: string | null;
  env?: NodeJS.ProcessEnv;
}

export const EXIT_OK = 0;
export const EXIT_FAULT = 1;
export const EXIT_ERROR = 2;

/** kamcmd's shorthand commands (utils/kamcmd cmd_aliases), the ones siphon answers. */
const ALIASES: Record<string, string> = {
  ps: 'core.ps',
  psx: 'core.psx',
  list: 'system.listMethods',
  ls: 'system.listMethods',
  ver: 'core.version',
  version: 'core.version',
};

const USAGE = `Usage: siphon rpc [options] [METHOD [ARGS...]]
Options:
  --ctl, -s ADDRESS   control socket: unix:/path, tcp:host:port, udp:host:port
                      (default: the server's control socket, ${'$'}SIPHON_CTL overrides)
  --json              print the reply as JSON instead of kamcmd-style text
  --timeout MS        reply timeout (default 10000)
  -h, --help          this help
ARGS: a number is sent as a number; prefix s: to force a string (s:123).
Without METHOD: interactive mode (help, quit; TAB completes method names).
`;

/** Types one command-line argument the way kamcmd's parse_arg does. */
export function parseRpcArg(arg: string): RpcValue {
  if (/^[+-]?\d+$/.test(arg)) {
    const n = Number(arg);
    if (Number.isSafeInteger(n)) return n;
  }
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(arg)) return Number(arg);
  return arg.startsWith('s:') ? arg.slice(2) : arg;
}

interface Options {
  ctl: string | null;
  json: boolean;
  timeoutMs: number;
  help: boolean;
  command: string[];
}

function parseOptions(argv: readonly string[]): Options | string {
  const o: Options = { ctl: null, json: false, timeoutMs: 10_000, help: false, command: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || /^-\d/.test(a)) break;
    const eq = a.indexOf('=');
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const inline = eq > 0 ? a.slice(eq + 1) : undefined;
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--ctl':
      case '-s': {
        const v = value();
        if (!v) return `${flag} needs an address`;
        o.ctl = v;
        break;
      }
      case '--json':
        o.json = true;
        break;
      case '--timeout': {
        const v = Number(value());
        if (!Number.isInteger(v) || v <= 0) return '--timeout needs a positive number of milliseconds';
        o.timeoutMs = v;
        break;
      }
      case '-h':
      case '--help':
        o.help = true;
        break;
      default:
        return `unknown option ${a}`;
    }
  }
  o.command = argv.slice(i);
  return o;
}

function print(io: RpcCommandIo, json: boolean, values: RpcValue[]): void {
  if (json) io.stdout.write(`${JSON.stringify(values.length === 1 ? values[0] : values, null, 2)}\n`);
  else io.stdout.write(formatReply(values));
}

/** Runs one command line; returns the exit status it implies. */
async function runCommand(client: BinrpcClient, words: readonly string[], io: RpcCommandIo, json: boolean): Promise<number> {
  const method = ALIASES[words[0]!] ?? words[0]!;
  const params = words.slice(1).map(parseRpcArg);
  try {
    print(io, json, await client.call(method, params));
    return EXIT_OK;
  } catch (e) {
    if (e instanceof RpcFault) {
      if (json) io.stdout.write(`${JSON.stringify({ error: { code: e.faultCode, message: e.message } })}\n`);
      else io.stdout.write(formatFault(e.faultCode, e.message));
      return EXIT_FAULT;
    }
    io.stderr.write(`siphon rpc: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT_ERROR;
  }
}

export async function run(argv: string[], io?: RpcCommandIo): Promise<number> {
  const out: RpcCommandIo = io ?? { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
  const opts = parseOptions(argv);
  if (typeof opts === 'string') {
    out.stderr.write(`siphon rpc: ${opts}\n${USAGE}`);
    return EXIT_ERROR;
  }
  if (opts.help) {
    out.stdout.write(USAGE);
    return EXIT_OK;
  }
  const address = opts.ctl ?? defaultCtlPath(out.env ?? process.env);
  let client: BinrpcClient;
  try {
    client = await BinrpcClient.connect(address, { timeoutMs: opts.timeoutMs });
  } catch (e) {
    out.stderr.write(`siphon rpc: cannot connect to ${address}: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT_ERROR;
  }
  try {
    if (opts.command.length > 0) return await runCommand(client, opts.command, out, opts.json);
    return await interactive(client, out, opts.json);
  } finally {
    await client.close();
  }
}

/** The interactive shell: one command per line, builtins help/?, quit/exit. */
async function interactive(client: BinrpcClient, io: RpcCommandIo, json: boolean): Promise<number> {
  const terminal = io.terminal ?? (io.stdin as { isTTY?: boolean }).isTTY === true;
  const historyFile = io.historyFile === undefined ? join(homedir(), '.siphon_rpc_history') : io.historyFile;
  let methods: string[] = [];
  try {
    methods = (await client.call('system.listMethods')).filter((m): m is string => typeof m === 'string');
  } catch {
    // completion is a convenience; the shell works without it
  }
  let history: string[] = [];
  if (historyFile && terminal) {
    history = await readFile(historyFile, 'utf8').then(
      (t) => t.split('\n').filter(Boolean).reverse().slice(0, 1000),
      () => [],
    );
  }
  const words = [...methods, ...Object.keys(ALIASES), 'help', 'quit', 'exit'];
  const rl = createInterface({
    input: io.stdin,
    output: io.stdout,
    terminal,
    history,
    historySize: 1000,
    completer: (line: string): [string[], string] => {
      const parts = line.split(/\s+/);
      // the argument of system.methodHelp / help is a method name too (as kamcmd completes it)
      const completingMethod =
        parts.length === 1 || (parts.length === 2 && ['help', '?', 'system.methodHelp', 'system.methodSignature'].includes(parts[0]!));
      if (!completingMethod) return [[], line];
      const last = parts[parts.length - 1]!;
      const pool = parts.length === 1 ? words : methods;
      return [pool.filter((w) => w.startsWith(last)), last];
    },
  });
  if (terminal) io.stdout.write(`siphon rpc, connected to ${client.address}; "help" lists commands, "quit" exits\n`);
  rl.setPrompt('siphon> ');
  rl.prompt();
  let status = EXIT_OK;
  for await (const raw of rl) {
    const line = raw.trim();
    if (line !== '') {
      if (historyFile && terminal) void appendFile(historyFile, `${line}\n`, { mode: 0o600 }).catch(() => undefined);
      const parts = line.split(/\s+/);
      const cmd = parts[0]!;
      if (cmd === 'quit' || cmd === 'exit') break;
      if (cmd === 'help' || cmd === '?') {
        if (parts[1]) status = await runCommand(client, ['system.methodHelp', `s:${parts[1]}`], io, json);
        else io.stdout.write(`commands: any RPC method (TAB completes), ${Object.keys(ALIASES).join(', ')}, help [METHOD], quit\n`);
      } else {
        status = await runCommand(client, parts, io, json);
        if (status === EXIT_ERROR) break; // the connection is gone
      }
    }
    rl.prompt();
  }
  rl.close();
  return status === EXIT_ERROR ? EXIT_ERROR : EXIT_OK;
}
