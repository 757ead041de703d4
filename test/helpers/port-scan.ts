/**
 * Finds fixed port numbers that test files listen or bind on (issue #12): two files that bind the same
 * port collide when vitest runs them in parallel workers, and any fixed port can collide with another
 * engineer's run or an ephemeral port the OS handed out. Tests bind port 0 or take `freePort()`
 * (test/helpers/ports.ts) instead; test/unit/meta/test-ports.test.ts runs this scan.
 *
 * The scan is textual and deliberately wide: a number from 1024 to 65535 counts as a bound port when it
 * sits in one of the shapes below. Ports below 1024 are never bound by a test (no privileges); they
 * name a destination where nothing listens (`127.0.0.1:1`, `:9`) and are left out.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface PortUse {
  /** path relative to the repository root, with forward slashes. */
  file: string;
  line: number;
  port: number;
  /** the source line, trimmed. */
  text: string;
}

const PORT = '(\\d{4,5})';
/** shapes in which a literal port is listened or bound on. */
const SHAPES: RegExp[] = [
  // a listen/ctl address as siphon, Kamailio (listen=) and kamcmd (-s) take it: udp:127.0.0.1:5060, tcp:[::1]:5060
  new RegExp(`\\b(?:udp|tcp|tls|sctp|ws|wss):(?:\\d{1,3}(?:\\.\\d{1,3}){3}|\\[[0-9a-f:]*\\]|\\*|localhost):${PORT}\\b`, 'gi'),
  // socket.bind(5060) / server.listen(5060) / bind({ port: 5060 })
  new RegExp(`\\.(?:bind|listen)\\(\\s*(?:\\{\\s*port:\\s*)?${PORT}\\b`, 'g'),
  // a named port or a base of a port range: const PORT = 5060, UDP_PORT = ..., let port = ..., const base = ...
  new RegExp(`\\b(?:[A-Za-z_]*(?:PORT|Port)|port|base|BASE)\\s*=\\s*${PORT}\\b`, 'g'),
  // a list of ports: for (const port of [19711, 19712])
  new RegExp(`\\bports?\\s+of\\s+\\[\\s*${PORT}\\b`, 'g'),
];

/** an options object naming the port of a listener, on a line that starts, opens or binds something:
 * startFixture({ tcp: 17011, udp: 17012 }), http: { port: 17042 }, Prober.start({ port: 18121 }). */
const LISTENER_CALL = /\b(?:startFixture|start|open|listen|bind|http)\b/;
const OPTION_PORT = new RegExp(`[{,]\\s*(?:port|tcp|udp)\\s*:\\s*${PORT}\\b`, 'g');

/**
 * a number literal as the first argument of a call whose name says it opens, starts, listens or binds
 * (startTestNode(19700, ...), SipClient.open(19750), startGateway(5091), openSocket(\n 19704)): the
 * name begins with the verb or holds it capitalised; the argument may be on the next line.
 */
const OPENING_CALL = new RegExp(`\\b([A-Za-z_$][\\w$]*)\\s*\\(\\s*${PORT}\\b`, 'g');
const OPENING_NAME = /^(?:open|start|listen|bind)(?!sWith\b)|(?:Open|Start|Listen|Bind)/;

/** [line index, port] of every OPENING_CALL in `text`, the line being the number's. */
function openingCalls(text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const m of text.matchAll(OPENING_CALL)) {
    if (!OPENING_NAME.test(m[1]!)) continue;
    const at = m.index! + m[0].length - m[2]!.length;
    out.push([text.slice(0, at).split('\n').length - 1, Number(m[2])]);
  }
  return out;
}

/** an Endpoint value ({ address, port, proto, family }) describes a peer in a unit test, it binds nothing. */
const ENDPOINT_VALUE = /\baddress:\s*['"`][^'"`]*['"`]\s*,\s*port:\s*\d+\s*,\s*proto:/;

/** a line holding a matcher (`expect(x).toEqual('udp:127.0.0.1:5060')`) states a value, it binds nothing. */
const EXPECTATION = /\)\.(?:not\.)?to[A-Z]\w*\(/;

/** a constant bound to a number: `const NODE_A = 19400;` */
const NAMED = new RegExp(`\\b(?:const|let|var)\\s+([A-Za-z_$][\\w$]*)\\s*=\\s*${PORT}\\s*(?:[;,]|$)`);
const NAMED_ALL = new RegExp(NAMED.source, 'g');

/** the constants of `text` holding a number that the file then uses as a port: in an address
 * (`127.0.0.1:${NODE_A}`), a `port:` option, a bind/listen call, or the first argument of a bind/listen/open/start call (`TestUA.bind(BASE + 1)`). */
function namedPorts(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(NAMED_ALL)) {
    const id = m[1]!.replace(/\$/g, '\\$');
    const used = new RegExp(
      `:\\$\\{${id}\\b|\\bport:\\s*${id}\\b|\\.(?:bind|listen|open|start)\\(\\s*${id}\\b`,
    );
    if (used.test(text)) names.add(m[1]!);
  }
  return names;
}

/** every test source file under `dir` (recursively), .ts only. */
export function testSources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...testSources(p));
    else if (e.isFile() && e.name.endsWith('.ts')) out.push(p);
  }
  return out.sort();
}

/** the fixed ports `text` (the content of `file`) listens or binds on. */
export function scanPorts(file: string, text: string): PortUse[] {
  const uses: PortUse[] = [];
  const lines = text.split('\n');
  const portNames = namedPorts(text);
  const calls = openingCalls(text);
  lines.forEach((raw, i) => {
    if (ENDPOINT_VALUE.test(raw) || EXPECTATION.test(raw)) return;
    const seen = new Set<number>();
    for (const [line, port] of calls) {
      if (line !== i || port < 1024 || port > 65535 || seen.has(port)) continue;
      seen.add(port);
      uses.push({ file, line: i + 1, port, text: raw.trim() });
    }
    const named = NAMED.exec(raw);
    if (named && portNames.has(named[1]!)) {
      seen.add(Number(named[2]));
      uses.push({ file, line: i + 1, port: Number(named[2]), text: raw.trim() });
    }
    for (const shape of LISTENER_CALL.test(raw) ? [...SHAPES, OPTION_PORT] : SHAPES) {
      for (const m of raw.matchAll(shape)) {
        const port = Number(m[1]);
        if (port < 1024 || port > 65535 || seen.has(port)) continue;
        seen.add(port);
        uses.push({ file, line: i + 1, port, text: raw.trim() });
      }
    }
  });
  return uses;
}

/** this scan and its test hold example ports in the shapes they look for. */
const SELF = ['test/helpers/port-scan.ts', 'test/unit/test-ports.test.ts'];

/** scans every .ts file under `root`/test. */
export function scanTree(root: string, skip: string[] = SELF): PortUse[] {
  return testSources(path.join(root, 'test')).filter((f) => !skip.some((s) => f.endsWith(s))).flatMap((f) =>
    scanPorts(path.relative(root, f).split(path.sep).join('/'), readFileSync(f, 'utf8')),
  );
}
