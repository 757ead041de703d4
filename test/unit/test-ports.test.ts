/**
 * No test listens on a fixed port (issue #12). Files run in parallel vitest workers, beside other
 * engineers' runs: a fixed port collides with another file using the same one, or with an ephemeral
 * port the OS gave someone else. Tests bind port 0, or take `freePort()` / `freeUdpTcpPort()`
 * (test/helpers/ports.ts) when a child process must be told its port before it starts.
 *
 * The scan (test/helpers/port-scan.ts) finds a number in a listening shape (a listen/ctl address, a
 * bind/listen call, a PORT constant, a { port } option, the first argument of an open/start/listen/bind call); ALLOWED lists the fixed ports that stay, each
 * with the reason. Two files may never share a port they bind, allowed or not.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanPorts, scanTree, type PortUse } from '../helpers/port-scan.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** the MariaDB server the suites share (127.0.0.1:3306): connected to, never bound by a test. */
const EVERYWHERE: Record<number, string> = { 3306: 'the shared MariaDB server; tests connect to it' };

const PARSED = 'a listen address parsed and compared, never bound';
const CHECKED = 'the listen address of a config given to `siphon check`, which validates it and opens no socket';

/** file → port → why the literal is not a port this test binds, or why it is still fixed. */
const ALLOWED: Record<string, Record<number, string>> = {
  'test/e2e/start.test.ts': { 15920: CHECKED },
  'test/integration/cli.test.ts': { 15220: CHECKED },
  'test/integration/modules/without-modules.test.ts': { 19707: CHECKED },
  'test/integration/rpc/listeners.test.ts': { 17041: 'non-loopback control addresses, refused (RPC_NON_LOOPBACK) before any bind' },
  'test/integration/warmup.test.ts': { 19615: 'warmUp() alone drives its copy of the message path without sockets: parsed, never bound' },
  'test/unit/config/load.test.ts': { 15001: PARSED, 15002: PARSED },
  'test/unit/dialog/table.test.ts': { 5060: 'the socket name of a restored dialog record, compared, never bound' },
  'test/unit/dispatcher/list-file.test.ts': { 5060: PARSED },
  'test/unit/secfilter/cli.test.ts': { 16020: 'the --ctl address is handed to an injected caller and compared, never bound' },
  'test/unit/transport/listen-uri.test.ts': { 5060: PARSED, 5061: PARSED, 5070: PARSED },
  'test/unit/rtpengine/flags.test.ts': { 2223: PARSED, 2224: PARSED },
  'test/integration/rtpengine/helpers.ts': { 30000: 'the base of a random 200-port media range handed to rtpengine (--port-min/--port-max); rtpengine skips ports in use' },
};

const where = (u: PortUse) => `${u.file}:${u.line} ${u.port} (${u.text.slice(0, 100)})`;

describe('fixed ports in tests', () => {
  const uses = scanTree(ROOT);

  it('the scan sees listening shapes (it would catch a fixed port if one came back)', () => {
    const found = (src: string) => scanPorts('x.ts', src).map((u) => u.port);
    expect(found('const PORT = 19400;')).toEqual([19400]);
    expect(found("listen: ['udp:127.0.0.1:19401', 'tcp:[::1]:19402']")).toEqual([19401, 19402]);
    expect(found('sock.bind(19403, "127.0.0.1")')).toEqual([19403]);
    expect(found('srv.listen({ port: 19404 })')).toEqual([19404]);
    expect(found('const peer = { port: 19409 };')).toEqual([]);
    expect(found('await startFixture({ tcp: 19405, udp: 19406 })')).toEqual([19405, 19406]);
    expect(found('const base = 19407;')).toEqual([19407]);
    expect(found('const NODE_A = 19410;\nlisten: [`udp:127.0.0.1:${NODE_A}`]')).toEqual([19410]);
    expect(found('const LIMIT = 19411;\nif (n > LIMIT) throw x;')).toEqual([]);
    expect(found('listen=udp:127.0.0.1:19408')).toEqual([19408]);
    // a number as the first argument of a call that opens, starts, listens or binds, also on the next line
    expect(found('reply = await startTestNode(19412, yaml);')).toEqual([19412]);
    expect(found('client = await SipClient.open(19413);')).toEqual([19413]);
    expect(found('gw = await startGateway(5091);')).toEqual([5091]);
    expect(found('node = await startTestNode(\n  19414,\n  yaml);')).toEqual([19414]);
    expect(scanPorts('x.ts', 'node = await startTestNode(\n  19414,\n  yaml);')[0]?.line).toBe(2);
    expect(found("if (s.startsWith(1234)) restart(19415); await stop(19416); sleep(19417);")).toEqual([]);
    // an Endpoint value names a peer, a matcher states a value, and ports below 1024 are destinations nobody listens on
    expect(found("const SRC = { address: '127.0.0.1', port: 5080, proto: 'udp', family: 4 };")).toEqual([]);
    expect(found("expect(c.core.listen).toEqual(['udp:127.0.0.1:5060']);")).toEqual([]);
    expect(found("db_url: 'mysql://root@127.0.0.1:1/x', dead: 'udp:127.0.0.1:9'")).toEqual([]);
  });

  it('no two files use the same fixed port', () => {
    const files = new Map<number, Set<string>>();
    const unbound = new Set([PARSED, CHECKED]);
    const bound = uses.filter((u) => EVERYWHERE[u.port] === undefined && !unbound.has(ALLOWED[u.file]?.[u.port] ?? ''));
    for (const u of bound) files.set(u.port, (files.get(u.port) ?? new Set()).add(u.file));
    const shared = [...files].filter(([, f]) => f.size > 1).map(([p, f]) => `${p}: ${[...f].join(', ')}`);
    expect(shared, 'ports used by more than one test file').toEqual([]);
  });

  it('every fixed port left is on the allow-list, with its reason', () => {
    const unlisted = uses.filter((u) => EVERYWHERE[u.port] === undefined && ALLOWED[u.file]?.[u.port] === undefined).map(where);
    expect(unlisted, 'bind port 0 or use freePort() (test/helpers/ports.ts), or add it to ALLOWED with the reason').toEqual([]);
  });

  it('the allow-list names no port a file no longer uses', () => {
    const stale = Object.entries(ALLOWED).flatMap(([file, ports]) =>
      Object.keys(ports).map(Number).filter((p) => !uses.some((u) => u.file === file && u.port === p)).map((p) => `${file} ${p}`),
    );
    expect(stale).toEqual([]);
  });
});
