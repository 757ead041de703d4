/**
 * config/siphon.yaml (what `npm start` runs) for a test node: only what a test must change is
 * changed, the listen address (an ephemeral UDP port), data_dir, the control socket, no warm-up and
 * the domain as an alias (the node is not on port 5060, so sip:bob@127.0.0.1 would not be this node).
 * `edit` may change more for a test that is about that setting (routing.config.auth, modules);
 * `listen` adds listeners after the UDP one (`wss:127.0.0.1:PORT`), `core` adds keys to the core section
 * (YAML lines indented by two spaces: `  tls:\n    certificate: ...`).
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';
import { ROOT, SIPHON_BIN, startSiphon, type SiphonProcess } from './siphon-process.js';

export function shippedConfigText(o: { port: number; dataDir: string; ctl: string | null; domain: string; listen?: string[]; core?: string; edit?: (text: string) => string }): string {
  const ctl = o.ctl === null ? '[]' : `[${JSON.stringify(`unix:${o.ctl}`)}]`;
  let text = readFileSync(path.join(ROOT, 'config/siphon.yaml'), 'utf8')
    .replace(/  listen:\n(    - .*\n)+/, `  listen:\n    - udp:127.0.0.1:${o.port}\n  ctl: ${ctl}\n`)
    .replace(/  data_dir: .*/, `  data_dir: ${JSON.stringify(o.dataDir)}`)
    .replace(/  warmup: \d+/, '  warmup: 0')
    .replace(/  aliases: \[\]/, `  aliases: [${o.domain}]`);
  // the shipped file must still have the shape the replacements expect
  if (!text.includes(`udp:127.0.0.1:${o.port}`) || !text.includes(`aliases: [${o.domain}]`) || !text.includes('warmup: 0')) {
    throw new Error('config/siphon.yaml changed shape: update test/helpers/shipped-config.ts');
  }
  if (o.listen) text = text.replace(`    - udp:127.0.0.1:${o.port}\n`, `    - udp:127.0.0.1:${o.port}\n${o.listen.map((l) => `    - ${l}\n`).join('')}`);
  if (o.core) text = text.replace(/^core:\n/m, `core:\n${o.core.replace(/\n?$/, '\n')}`);
  if (o.edit) text = o.edit(text);
  return text;
}

export interface ShippedNode {
  srv: SiphonProcess;
  /** the config file and the control socket (unix) of the node. */
  cfg: string;
  ctl: string;
  /** its UDP port on 127.0.0.1 */
  port: number;
  /** `siphon <args>` against the running node (subscriber add ..., rpc ...), cwd the package root. */
  cli(cmd: string, ...args: string[]): Promise<{ stdout: string; stderr: string }>;
}

const run = promisify(execFile);

/**
 * The real `siphon start` binary on config/siphon.yaml (shippedConfigText) written into `dir`: a free UDP
 * port, data and control socket under `dir`; resolves once the UDP port answers.
 */
export async function startShipped(o: { dir: string; domain: string; listen?: string[]; core?: string; edit?: (text: string) => string }): Promise<ShippedNode> {
  const ctl = path.join(o.dir, 'ctl.sock');
  const port = await freePort('udp');
  const cfg = path.join(o.dir, 'siphon.yaml');
  writeFileSync(cfg, shippedConfigText({ port, dataDir: path.join(o.dir, 'data'), ctl, domain: o.domain, listen: o.listen, core: o.core, edit: o.edit }));
  const srv = await startSiphon(['-c', cfg], { readyPorts: [{ proto: 'udp', port }] });
  // `siphon rpc` takes the control socket only; the other commands (subscriber ...) the config too
  const cli = (cmd: string, ...rest: string[]): Promise<{ stdout: string; stderr: string }> =>
    run(process.execPath, [SIPHON_BIN, cmd, ...(cmd === 'rpc' ? [] : ['-c', cfg]), '--ctl', `unix:${ctl}`, ...rest], { cwd: ROOT, timeout: 20_000 });
  return { srv, cfg, ctl, port, cli };
}
