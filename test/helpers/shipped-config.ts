/**
 * config/siphon.yaml (what `npm start` runs) for a test node: only what a test must change is
 * changed, the listen address (an ephemeral UDP port), data_dir, the control socket, no warm-up and
 * the domain as an alias (the node is not on port 5060, so sip:bob@127.0.0.1 would not be this node).
 * `edit` may change more for a test that is about that setting (routing.config.auth, modules).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './siphon-process.js';

export function shippedConfigText(o: { port: number; dataDir: string; ctl: string | null; domain: string; edit?: (text: string) => string }): string {
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
  if (o.edit) text = o.edit(text);
  return text;
}
