#!/usr/bin/env node
/**
 * What one hostile 64 KB request costs the parse and the stateless reply (issue 10, "a linear
 * edge"), against a benign request of the same size: the run of blanks before a fold (header folding),
 * blanks before `;rport` / `;received` in the top Via (the reply's Via rewrite), thousands of URI
 * parameters. CPU time of parse + stateless reply per message, best of five after a warm-up.
 *
 *   npm run build && node bench/linear-edge.bench.mjs [--size 64000] [--compare /tmp/old-siphon]
 *
 * --compare DIR: the same cases on another built checkout (`git archive <rev> | tar -x -C DIR`,
 * node_modules linked, `npx tsc -p DIR`). A quadratic case on the old build can
 * take seconds per message: --size 16000 keeps such a comparison short.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};
const SIZE = Number(arg('--size', 64_000));
const COMPARE = arg('--compare', '');

async function load(dir) {
  const imp = (p) => import(pathToFileURL(path.join(dir, 'dist/host', p)).href);
  const { parseMessage } = await imp('sip/parser.js');
  const { StatelessReplier } = await imp('core/sl.js');
  return { name: dir === ROOT ? 'this build' : path.basename(dir), parseMessage, replier: new StatelessReplier({ serverHeader: 'bench', tagSeed: 'bench' }) };
}

function request(via, extra, ruri = 'sip:alice@127.0.0.1') {
  return `OPTIONS ${ruri} SIP/2.0\r\nVia: ${via}\r\nMax-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: bench-1\r\nCSeq: 1 OPTIONS\r\n${extra}Content-Length: 0\r\n\r\n`;
}

/** [name, (run) => message text]; the run fills the message to SIZE bytes */
const CASES = [
  ['Via: blanks before ;x;rport', (r) => request(`SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;p=v${r};x=1;rport`, '')],
  ['Via: blanks before ;received', (r) => request(`SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1${r};received=10.9.9.9;rport`, '')],
  ['From: blanks before a fold', (r) => request('SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport', '').replace('From: <sip:a@127.0.0.1>;tag=1', `From: <sip:a@127.0.0.1>;tag=1${r}x\r\n y`)],
  ['R-URI: ;a parameters', (r) => request('SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport', '', `sip:alice@127.0.0.1${r};b=c`)],
];
function fill(caseName, hostile, n) {
  if (!hostile) return 'a'.repeat(n);
  if (caseName.startsWith('R-URI')) return ';a'.repeat(n / 2);
  return ' '.repeat(n);
}

function message(c, hostile) {
  const [name, make] = c;
  const base = make('').length;
  const n = Math.max(0, SIZE - base - 4);
  const text = make(hostile ? fill(name, true, n) : (name.startsWith('R-URI') ? `;p=${'a'.repeat(n)}` : fill(name, false, n)));
  return Buffer.from(text, 'latin1');
}

function cpuUs() {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function once(build, buf) {
  const t0 = cpuUs();
  const r = build.parseMessage(buf, { maxMessageSize: 1 << 20 });
  const req = r.ok ? r.message : r.failure.partial;
  if (req !== undefined) build.replier.build(req, { address: '192.0.2.9', port: 5099 }, r.ok ? 404 : 400, 'x');
  return cpuUs() - t0;
}

const builds = [await load(ROOT)];
if (COMPARE) builds.push(await load(path.resolve(COMPARE)));
const rows = [];
for (const c of CASES) {
  for (const hostile of [false, true]) {
    const buf = message(c, hostile);
    for (const b of builds) {
      // warm-up (JIT tiers): 20 runs, or 2 s of CPU for a case that is slow on that build
      let spent = 0;
      for (let k = 0; k < 20 && spent < 2e6; k++) spent += once(b, buf);
      let best = Infinity;
      for (let k = 0; k < 5 && (k < 2 || best < 1e5); k++) best = Math.min(best, once(b, buf));
      rows.push({ build: b.name, case: c[0], kind: hostile ? 'hostile' : 'benign', bytes: buf.length, 'cpu µs': best });
    }
  }
}
console.table(rows);
