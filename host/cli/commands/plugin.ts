/**
 * `siphon plugin <verb>`: the routing-plugin workflow.
 *
 *   new NAME                 scaffold DIR/NAME (assembly/index.ts on the SDK, package.json, README.md)
 *   new NAME --dir PATH      a plugin project of its own in PATH (plugin-project.ts: npm install && npm test)
 *   build [NAME...]          compile with scripts/build-plugins.mjs → DIR/NAME/build/NAME.wasm
 *   build --project PATH     compile the project in PATH → PATH/build/NAME.wasm
 *   test NAME|PATH MSG.sip   offline: one message through the node's message path (host/testing), print the decision
 *   deploy NAME              build, then `plugin.load NAME PATH` on the running server (BINRPC)
 *   deploy --project PATH    the same for a project; --copy-to DIR first copies the .wasm into a server plugin directory
 *   list | stats | rollback [NAME] | reload [NAME]     the plugin.* RPC methods of the running server
 *
 * DIR is --plugins-dir, else ./plugins when it exists, else the siphon package's plugins/.
 * Exit codes: 0 ok, 1 refused/failed (build error, load refused, RPC fault), 2 usage or connection error.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import type { Endpoint } from '../../core/context.js';
import { PACKAGE_ROOT } from '../../core/version.js';
import { isSiphonError, SiphonError } from '../../errors/registry.js';
import { BinrpcClient } from '../../rpc/binrpc-client.js';
import { defaultCtlPath } from '../../rpc/ctl-address.js';
import { formatReply } from '../../rpc/format.js';
import { RpcFault, type RpcValue } from '../../rpc/types.js';
import { resolvePluginPath } from '../../wasm/runtime.js';
import { scaffoldProject } from './plugin-project.js';
import type { ActionName } from '../../testing/decision.js';
import { PluginTester } from '../../testing/tester.js';
import { parseRequest } from '../../testing/request.js';
import type { WasmPlugin } from '../../wasm/plugin.js';

export interface PluginCommandIo {
  stdout: Writable;
  stderr: Writable;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

const USAGE = `Usage: siphon plugin <command> [options]
Commands:
  new NAME                    scaffold a plugin in DIR/NAME from the SDK
  new NAME --dir PATH         a plugin project of its own in PATH (npm install && npm test there)
  build [NAME...]             compile plugins (all of DIR when no NAME) to DIR/NAME/build/NAME.wasm
  build --project PATH        compile the plugin project in PATH to PATH/build/NAME.wasm
  test NAME|PATH MESSAGE.sip  run request_route offline on one SIP message and print the decision
  deploy NAME                 build NAME, then load it on the running server (plugin.load over BINRPC)
  deploy --project PATH       build the project in PATH, then load it the same way
  list                        the running server's plugin versions (plugin.list)
  stats [NAME]                per plugin counters, backoff and last event (plugin.stats)
  rollback [NAME]             back to the previous, still loaded version (plugin.rollback)
  reload [NAME]               load the current version's file again (plugin.reload)
Options:
  --plugins-dir DIR   plugin folders (default ./plugins when present, else the package's plugins/)
  --ctl, -s ADDRESS   control socket for deploy/list/...: unix:/path, tcp:host:port (default: ${'$'}SIPHON_CTL
                      or the server's default socket)
  --dir PATH          new: create a plugin project of its own in PATH instead of DIR/NAME
  --offline           new --dir: link assemblyscript and vitest to siphon's copies (file:), no registry
  --project PATH      build/deploy: a plugin project (package.json + assembly/index.ts) instead of DIR/NAME
  --as NAME           deploy: the running plugin to replace (default: NAME)
  --copy-to DIR       deploy: copy the .wasm into DIR (a folder of the server's routing.plugin_dirs) and load that copy
  --force, --debug    build/deploy: rebuild even when up to date / debug build
  --config JSON       test: routing.config handed to the plugin (JSON text)
  --source IP:PORT    test: where the message comes from (default 127.0.0.1:5080)
  --local IP:PORT     test: the local socket it arrived on (default 127.0.0.1:5060)
  --proto udp|tcp     test: transport (default udp)
  --json              print machine-readable JSON
  -h, --help          this help
`;

const OPTIONS = {
  'plugins-dir': { type: 'string' },
  dir: { type: 'string' },
  offline: { type: 'boolean' },
  project: { type: 'string' },
  'copy-to': { type: 'string' },
  ctl: { type: 'string', short: 's' },
  as: { type: 'string' },
  force: { type: 'boolean' },
  debug: { type: 'boolean' },
  config: { type: 'string' },
  source: { type: 'string' },
  local: { type: 'string' },
  proto: { type: 'string' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean };

const defaultIo = (): PluginCommandIo => ({ stdout: process.stdout, stderr: process.stderr });

export async function run(argv: string[], io: PluginCommandIo = defaultIo()): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (e) {
    io.stderr.write(`siphon plugin: ${(e as Error).message} [E1010 bad command line]\n${USAGE}`);
    return EXIT_USAGE;
  }
  const [verb, ...args] = positionals;
  if (values.help || verb === undefined || verb === 'help') {
    (verb === undefined && !values.help ? io.stderr : io.stdout).write(USAGE);
    return verb === undefined && !values.help ? EXIT_USAGE : EXIT_OK;
  }
  const ctx = new CommandContext(values, io);
  try {
    switch (verb) {
      case 'new':
        return one(args, 'new NAME', (n) => ctx.scaffold(n), io);
      case 'build':
        if (values.project !== undefined) return args.length > 0 ? usage(io, 'build --project PATH') : await ctx.buildProject();
        return await ctx.build(args);
      case 'test':
        if (args.length !== 2) return usage(io, 'test NAME|PATH MESSAGE.sip');
        return await ctx.test(args[0]!, args[1]!);
      case 'deploy':
        if (values.project !== undefined) return args.length > 0 ? usage(io, 'deploy --project PATH') : await ctx.deployProject();
        return await one(args, 'deploy NAME', (n) => ctx.deploy(n), io);
      case 'list':
        return await ctx.rpc('plugin.list', []);
      case 'stats':
        return await ctx.rpc('plugin.stats', args.slice(0, 1));
      case 'rollback':
        return await ctx.rpc('plugin.rollback', args.slice(0, 1));
      case 'reload':
        return await ctx.rpc('plugin.reload', args.slice(0, 1));
      default:
        io.stderr.write(`siphon plugin: unknown command '${verb}' [E1010 bad command line]\n${USAGE}`);
        return EXIT_USAGE;
    }
  } catch (e) {
    io.stderr.write(`siphon plugin ${verb}: ${(e as Error).message}\n`);
    return isSiphonError(e, 'RPC_CONNECT') || isSiphonError(e, 'CLI_USAGE') ? EXIT_USAGE : EXIT_FAILED;
  }
}

function usage(io: PluginCommandIo, form: string): number {
  io.stderr.write(`siphon plugin: usage: siphon plugin ${form} [E1010 bad command line]\n`);
  return EXIT_USAGE;
}

function one(args: string[], form: string, f: (name: string) => number | Promise<number>, io: PluginCommandIo): number | Promise<number> {
  if (args.length !== 1) return usage(io, form);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(args[0]!)) {
    io.stderr.write(`siphon plugin: bad plugin name "${args[0]}" (letters, digits, _ . -) [E1010 bad command line]\n`);
    return EXIT_USAGE;
  }
  return f(args[0]!);
}

class CommandContext {
  readonly cwd: string;
  readonly pluginsDir: string;

  constructor(
    private readonly values: Values,
    private readonly io: PluginCommandIo,
  ) {
    this.cwd = io.cwd ?? process.cwd();
    const local = path.join(this.cwd, 'plugins');
    this.pluginsDir = values['plugins-dir'] ? path.resolve(this.cwd, values['plugins-dir']) : existsSync(local) ? local : path.join(PACKAGE_ROOT, 'plugins');
  }

  private out(s: string): void {
    this.io.stdout.write(s);
  }

  // ---- new ------------------------------------------------------------------------------------

  scaffold(name: string): number {
    if (this.values.dir !== undefined) return this.scaffoldProject(name, path.resolve(this.cwd, this.values.dir));
    const dir = path.join(this.pluginsDir, name);
    if (existsSync(dir)) {
      this.io.stderr.write(`siphon plugin new: ${dir} already exists\n`);
      return EXIT_FAILED;
    }
    const assemblyDir = path.join(dir, 'assembly');
    mkdirSync(assemblyDir, { recursive: true });
    let sdk = path.relative(assemblyDir, path.join(PACKAGE_ROOT, 'sdk', 'assembly')).split(path.sep).join('/');
    if (!sdk.startsWith('.')) sdk = `./${sdk}`;
    writeFileSync(path.join(assemblyDir, 'index.ts'), pluginTemplate(name, sdk));
    writeFileSync(
      path.join(dir, 'package.json'),
      // capabilities: what the sample route calls (docs/plugins.md "Capabilities"), as the --dir project declares them
      `${JSON.stringify({ name, version: '0.1.0', private: true, description: `siphon routing plugin ${name}`, siphon: { capabilities: ['msg.read', 'msg.reply', 'msg.write'] } }, null, 2)}\n`,
    );
    writeFileSync(path.join(dir, 'README.md'), readmeTemplate(name, path.relative(this.cwd, this.pluginsDir) || '.'));
    this.out(`created ${path.relative(this.cwd, dir) || dir}/{assembly/index.ts,package.json,README.md}\n`);
    this.out(`next: siphon plugin build ${name}${this.values['plugins-dir'] ? ` --plugins-dir ${this.values['plugins-dir']}` : ''}\n`);
    return EXIT_OK;
  }

  /** new NAME --dir PATH: a project of its own (plugin-project.ts). */
  private scaffoldProject(name: string, dir: string): number {
    let made;
    try {
      made = scaffoldProject(name, dir, this.values.offline === true, (sdk, extra) => pluginTemplate(name, sdk) + extra);
    } catch (e) {
      this.io.stderr.write(`siphon plugin new: ${(e as Error).message}\n`);
      return EXIT_FAILED;
    }
    const rel = path.relative(this.cwd, made.dir);
    const shown = rel === '' ? '.' : rel.startsWith('..') ? made.dir : rel;
    this.out(`created ${shown}/{${made.files.join(',')}}\n`);
    this.out(`next: cd ${shown} && npm install && npm test\n`);
    return EXIT_OK;
  }

  // ---- build ----------------------------------------------------------------------------------

  async build(names: string[]): Promise<number> {
    return this.runBuild(['--plugins-dir', this.pluginsDir, ...names]);
  }

  /** build --project PATH: the project's own build (scripts/build-plugins.mjs buildProject). */
  async buildProject(): Promise<number> {
    return this.runBuild(['--project', path.resolve(this.cwd, this.values.project ?? '.')]);
  }

  private async runBuild(what: string[]): Promise<number> {
    const args = [path.join(PACKAGE_ROOT, 'scripts', 'build-plugins.mjs'), ...what];
    if (this.values.force) args.push('--force');
    if (this.values.debug) args.push('--debug');
    return new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, args, { cwd: this.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: this.io.env ?? process.env });
      child.stdout.on('data', (d: Buffer) => this.io.stdout.write(d));
      child.stderr.on('data', (d: Buffer) => this.io.stderr.write(d));
      child.on('error', reject);
      child.on('close', (code) => resolve(code === 0 ? EXIT_OK : EXIT_FAILED));
    });
  }

  // ---- deploy ---------------------------------------------------------------------------------

  async deploy(name: string): Promise<number> {
    const built = await this.build([name]);
    if (built !== EXIT_OK) {
      this.io.stderr.write(`siphon plugin deploy: ${new SiphonError('PLUGIN_BUILD', `${name} did not build; nothing was deployed`).message}\n`);
      return EXIT_FAILED;
    }
    return this.load(name, path.join(this.pluginsDir, name, 'build', `${name}.wasm`));
  }

  /** deploy --project PATH: build the project, then load its .wasm (named after its package.json). */
  async deployProject(): Promise<number> {
    const dir = path.resolve(this.cwd, this.values.project ?? '.');
    if (await this.buildProject() !== EXIT_OK) {
      this.io.stderr.write(`siphon plugin deploy: ${new SiphonError('PLUGIN_BUILD', `${dir} did not build; nothing was deployed`).message}\n`);
      return EXIT_FAILED;
    }
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
    const name = String(pkg.name ?? path.basename(dir)).replace(/^@[^/]+\//, '');
    return this.load(name, path.join(dir, 'build', `${name}.wasm`));
  }

  /**
   * plugin.load (--as or NAME) of `file`; with --copy-to DIR the file is first copied into DIR
   * (written aside and renamed: a server loading concurrently never reads half a module).
   */
  private async load(name: string, built: string): Promise<number> {
    let file = built;
    const copyTo = this.values['copy-to'];
    if (copyTo !== undefined) {
      const dir = path.resolve(this.cwd, copyTo);
      file = path.join(dir, path.basename(built));
      const tmp = `${file}.${process.pid}.tmp`;
      copyFileSync(built, tmp);
      renameSync(tmp, file);
      this.out(`copied ${path.relative(this.cwd, built) || built} → ${file}\n`);
    }
    const target = this.values.as ?? name;
    const code = await this.rpc('plugin.load', [target, file], (reply) => {
      const r = reply as Record<string, RpcValue>;
      return `deployed ${r.name}@${r.version} sha256 ${String(r.sha256).slice(0, 12)} in ${r.duration_ms} ms (previous: ${r.previous ?? 'none'})\n`;
    });
    return code;
  }

  // ---- RPC verbs ------------------------------------------------------------------------------

  async rpc(method: string, params: RpcValue[], render?: (reply: RpcValue) => string): Promise<number> {
    const address = this.values.ctl ?? defaultCtlPath(this.io.env ?? process.env);
    const timeoutMs = this.values.timeout ? Number(this.values.timeout) : 30_000;
    const client = await BinrpcClient.connect(address, { timeoutMs });
    try {
      const values = await client.call(method, params);
      const reply = values.length === 1 ? values[0]! : values;
      if (this.values.json) this.out(`${JSON.stringify(reply, null, 2)}\n`);
      else this.out(render ? render(reply) : `${formatReply(values)}\n`);
      return EXIT_OK;
    } catch (e) {
      if (e instanceof RpcFault) {
        this.io.stderr.write(`siphon plugin: ${method} refused: ${e.faultCode} ${e.message}\n`);
        return EXIT_FAILED;
      }
      throw e;
    } finally {
      await client.close();
    }
  }

  // ---- test -----------------------------------------------------------------------------------

  async test(pluginArg: string, messageFile: string): Promise<number> {
    const bare = /^[A-Za-z0-9_.-]+$/.test(pluginArg) && !pluginArg.endsWith('.wasm');
    const file = bare ? path.join(this.pluginsDir, pluginArg, 'build', `${pluginArg}.wasm`) : resolvePluginPath(pluginArg, this.cwd);
    const source = endpoint(this.values.source ?? '127.0.0.1:5080', this.proto());
    const local = endpoint(this.values.local ?? '127.0.0.1:5060', this.proto());
    let config: unknown;
    if (this.values.config !== undefined) {
      try {
        config = JSON.parse(this.values.config);
      } catch (e) {
        throw new SiphonError('CLI_USAGE', `--config is not JSON: ${(e as Error).message}`);
      }
    }
    const raw = readFileSync(path.resolve(this.cwd, messageFile));
    const msg = parseRequest(raw, messageFile);
    const startLine = raw.toString('latin1').split(/\r?\n/, 1)[0] ?? '';

    // the node's own message path without sockets (host/testing): sanity, the plugin, stateless
    // replies and tm exactly as a server runs them
    const tester = await PluginTester.load(file, {
      config,
      source: `${hostPart(source)}:${source.port}`,
      listen: `${local.proto}:${hostPart(local)}:${local.port}`,
      logLevel: 'trace',
    });
    try {
      const t0 = performance.now();
      const r = await tester.send(raw);
      const ms = performance.now() - t0;
      const relayed = r.relay !== null || r.action === 'RELAY';
      const decision: Decision = {
        plugin: { name: tester.plugin.info.name, version: tester.plugin.info.version, sha256: tester.plugin.info.sha256, path: tester.plugin.info.path },
        message: { method: msg.method, requestUri: msg.uri === undefined ? startLine : msg.requestUri, callId: msg.callId },
        action: r.action ?? 'NONE',
        actionCode: r.action === null ? null : ACTION_CODES[r.action],
        replies: r.replies.map((x) => ({ code: x.code, reason: x.reason, headers: x.headers })),
        relay: relayed ? { target: r.du ?? r.ruri, via: r.du !== null ? '$du' : 'R-URI', ruri: r.ruri, du: r.du, sentTo: r.relay === null ? null : `${r.relay.to.address}:${r.relay.to.port}` } : null,
        headersChanged: { removed: r.headersRemoved, added: r.headersAdded, bodyChanged: r.bodyChanged },
        replyHeaders: r.replyHeaders,
        vars: r.vars,
        logs: r.logs.map((l) => ({ level: l.level, msg: l.msg })),
        gasUsed: r.gasUsed,
        ms: Math.round(ms * 1000) / 1000,
        failure: r.action === 'ERROR' ? ((tester.plugin as Partial<WasmPlugin>).lastFailure ?? null) : null,
      };
      if (this.values.json) {
        this.out(`${JSON.stringify(decision, null, 2)}\n`);
      } else {
        this.out(renderDecision(decision, this.cwd));
      }
      return r.action === 'ERROR' ? EXIT_FAILED : EXIT_OK;
    } finally {
      await tester.close();
    }
  }

  private proto(): 'udp' | 'tcp' {
    const p = (this.values.proto ?? 'udp').toLowerCase();
    if (p !== 'udp' && p !== 'tcp') throw new SiphonError('CLI_USAGE', `--proto must be udp or tcp, not "${p}"`);
    return p;
  }
}

/** an address as it goes into a URI or IP:PORT text (IPv6 in brackets). */
function hostPart(e: Endpoint): string {
  return e.family === 6 ? `[${e.address}]` : e.address;
}

/** docs/abi/v1.md "Actions". */
const ACTION_CODES: Record<ActionName, number> = { CONTINUE: 0, DROP: 1, REPLIED: 2, RELAY: 3, SUSPEND: 4, ERROR: -1 };

function endpoint(text: string, proto: 'udp' | 'tcp'): Endpoint {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text);
  if (!m) throw new SiphonError('CLI_USAGE', `expected IP:PORT, got "${text}"`);
  const address = m[1]!.replace(/^\[|\]$/g, '');
  return { address, port: Number(m[2]), proto, family: address.includes(':') ? 6 : 4 };
}

interface Decision {
  plugin: { name: string; version: string; sha256: string; path: string };
  message: { method: string; requestUri: string | undefined; callId: string };
  /** request_route's action; NONE when the host answered before routing (sanity, retransmission). */
  action: ActionName | 'NONE';
  actionCode: number | null;
  /** replies sent to the sender, as on the wire. */
  replies: Array<{ code: number; reason: string; headers: string[] }>;
  /** target: $du or the R-URI; sentTo: where tm sent the branch (null while resolving a name). */
  relay: { target: string; via: string; ruri: string; du: string | null; sentTo: string | null } | null;
  headersChanged: { removed: string[]; added: string[]; bodyChanged: boolean };
  replyHeaders: string[];
  vars: Record<string, string>;
  logs: Array<{ level: string; msg: string }>;
  gasUsed: number;
  ms: number;
  failure: { errorClass: string; message: string } | null;
}

function renderDecision(d: Decision, cwd: string): string {
  const out: string[] = [];
  out.push(`plugin   ${d.plugin.name}@${d.plugin.version} (sha256 ${d.plugin.sha256.slice(0, 12)}) ${path.relative(cwd, d.plugin.path) || d.plugin.path}`);
  out.push(`message  ${d.message.method} ${d.message.requestUri ?? ''} (Call-ID ${d.message.callId})`);
  out.push(d.actionCode === null ? 'action   none: the host answered before request_route (sanity check, retransmission)' : `action   ${d.action} (${d.actionCode})`);
  if (d.failure && d.action === 'ERROR') out.push(`failure  ${d.failure.errorClass}: ${d.failure.message} → the server answers 500 (ACK: dropped)`);
  if (d.replies.length === 0) {
    out.push('reply    none');
  } else {
    for (const r of d.replies) {
      out.push(`reply    ${r.code} ${r.reason}`);
      for (const h of r.headers) out.push(`           ${h}`);
    }
  }
  if (d.relay) out.push(`relay    to ${d.relay.target} (${d.relay.via}; R-URI ${d.relay.ruri}${d.relay.du ? `, $du ${d.relay.du}` : ''}; ${d.relay.sentTo === null ? 'not sent' : `sent to ${d.relay.sentTo}`})`);
  else out.push('relay    no');
  const hc = d.headersChanged;
  if (hc.removed.length === 0 && hc.added.length === 0 && !hc.bodyChanged) {
    out.push('changes  none');
  } else {
    out.push('changes');
    for (const l of hc.removed) out.push(`         - ${l}`);
    for (const l of hc.added) out.push(`         + ${l}`);
    if (hc.bodyChanged) out.push('         (body changed)');
  }
  const vars = Object.entries(d.vars);
  if (vars.length > 0) out.push(`vars     ${vars.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  if (d.logs.length === 0) out.push('log      none');
  for (const l of d.logs) out.push(`log      ${l.level.padEnd(5)} ${l.msg}`);
  out.push(`cost     ${d.gasUsed} gas, ${d.ms} ms`);
  return `${out.join('\n')}\n`;
}

// ---- templates ---------------------------------------------------------------------------------

function pluginTemplate(name: string, sdk: string): string {
  return `/**
 * ${name}: a siphon routing plugin. request_route runs once per request; return an action:
 * exit() after replying, drop() to discard, relay() to forward to $du / the R-URI.
 *
 * The same logic in kamailio.cfg:
 *
 *   request_route {
 *     if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
 *     if (is_method("ACK")) exit;
 *     if (is_method("OPTIONS") && $rU == $null) {
 *       append_to_reply("X-Plugin: ${name}\\r\\n");
 *       sl_send_reply("200", "OK");
 *       exit;
 *     }
 *     sl_send_reply("404", "Not Found");
 *   }
 */
import {
  onRequest, Context, is_method, has_ruri_user, mf_process_maxfwd_header,
  sl_reply, append_to_reply, xinfo, exit, drop,
} from "${sdk}";

onRequest((ctx: Context): i32 => {
  // RFC 3261 §16.3 step 3: a request that ran out of hops gets 483
  if (mf_process_maxfwd_header(10) < 0) {
    sl_reply(483, "Too Many Hops");
    return exit();
  }
  // RFC 3261 §17.2.1: an ACK is never answered
  if (is_method("ACK")) return drop();
  xinfo("${name}: $rm $ru from $si:$sp");
  // keepalive OPTIONS to the server itself (no user in the R-URI)
  if (is_method("OPTIONS") && !has_ruri_user()) {
    append_to_reply("X-Plugin: ${name}");
    sl_reply(200, "OK");
    return exit();
  }
  sl_reply(404, "Not Found");
  return exit();
});
`;
}

function readmeTemplate(name: string, dir: string): string {
  const d = dir === 'plugins' ? '' : ` --plugins-dir ${dir}`;
  return `# ${name}

A siphon routing plugin (AssemblyScript, ABI v1 — see docs/abi/v1.md and sdk/README.md of siphon).

| step | command |
|---|---|
| build | \`siphon plugin build ${name}${d}\` → \`build/${name}.wasm\` |
| try it offline | \`siphon plugin test ${name} message.sip${d}\` |
| run it | \`siphon start --plugin ${dir}/${name}/build/${name}.wasm\` |
| hot-swap a new build into a running server | \`siphon plugin deploy ${name}${d}\` |
| go back | \`siphon plugin rollback ${name}\` |

The version reported by \`siphon plugin list\` comes from \`package.json\`; bump it with every change.
`;
}
