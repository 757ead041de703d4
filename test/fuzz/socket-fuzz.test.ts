/**
 * Seeded fuzzing of a running `siphon start` over real sockets: mutations of the conformance messages
 * (test/helpers/mutate.ts) sent over UDP and over TCP. Asserts that the server keeps answering
 * OPTIONS throughout and that its memory stays bounded. Seed via SIPHON_FUZZ_SEED to replay a run.
 *
 * One million messages in all (issue 10): 100,000 byte-level mutations over UDP, 100,000 over TCP,
 * and 800,000 structure-aware ones (long runs, deep nesting, huge counts, duplicated routing headers,
 * boundary Content-Lengths, compact forms), every one sent over UDP to the server; every 8th also goes
 * through the same parse and reply code in-process (parser, stateless reply builder, registrar
 * Contact reader, secfilter header reader), where a parser bug shows as an exception rather than a
 * silence. SIPHON_FUZZ_STRUCTURED changes the 800,000.
 * The port (UDP and TCP) from freeUdpTcpPort().
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { answersOptions as answersOnce, startSiphon, type SiphonProcess } from '../helpers/siphon-process.js';
import { conformanceMessages } from '../helpers/shared.js';
import { freeUdpTcpPort } from '../helpers/ports.js';
import { MAX_STRUCTURED, mulberry32, mutate, mutateStructured } from '../helpers/mutate.js';
import { parseMessage } from '../../host/sip/parser.js';
import { StatelessReplier } from '../../host/core/sl.js';
import { parseContactValue } from '../../host/modules/registrar/uri.js';
import { parseHeaderParts } from '../../host/modules/secfilter/header-parts.js';

/** siphon's UDP and TCP listen port (freeUdpTcpPort(): the child is told it before it starts) */
let port = 0;
const SEED = Number(process.env.SIPHON_FUZZ_SEED ?? 20261127);
const UDP_COUNT = 100_000;
const TCP_COUNT = 100_000;
const STRUCTURED_COUNT = Number(process.env.SIPHON_FUZZ_STRUCTURED ?? 800_000);
/** every IN_PROCESS_EVERY-th structured message is also parsed in-process */
const IN_PROCESS_EVERY = 8;
const PARSE_STATUSES = new Set([0, 400, 416, 505, 513]);
let srv: SiphonProcess;

/**
 * Liveness probe with retransmission, as a SIP UAC would do over UDP (RFC 3261 §17.1.2.2): a probe
 * datagram can be lost in a full socket buffer while the server works through a burst.
 */
async function answersOptions(proto: 'udp' | 'tcp', p: number): Promise<boolean> {
  for (let attempt = 0; attempt < 6; attempt++) if (await answersOnce(proto, p)) return true;
  return false;
}

beforeAll(async () => {
  port = await freeUdpTcpPort();
  srv = await startSiphon(['--listen', `udp:127.0.0.1:${port}`, '--listen', `tcp:127.0.0.1:${port}`], {
    readyPorts: [{ proto: 'udp', port }, { proto: 'tcp', port }],
  });
});
afterAll(async () => srv?.stop());

describe(`socket fuzz (seed ${SEED})`, () => {
  const corpus = conformanceMessages().map(([, b]) => b);

  it(`keeps answering and stays bounded under ${UDP_COUNT} mutated datagrams`, async () => {
    const rng = mulberry32(SEED);
    const sock = dgram.createSocket('udp4');
    sock.on('message', () => {});
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const rssStart = srv.rssKb();
    let rssPeak = rssStart;
    try {
      for (let i = 0; i < UDP_COUNT; i++) {
        const msg = mutate(corpus[Math.floor(rng() * corpus.length)], rng);
        await new Promise<void>((r) => sock.send(msg, port, '127.0.0.1', () => r()));
        if (i % 1000 === 999) {
          // pace the sender so the check measures the server, not kernel buffer drops
          expect(await answersOptions('udp', port), `alive after ${i + 1} datagrams`).toBe(true);
          rssPeak = Math.max(rssPeak, srv.rssKb());
        }
      }
    } finally {
      sock.close();
    }
    expect(await answersOptions('udp', port)).toBe(true);
    expect(srv.proc.exitCode).toBeNull();
    // bounded memory: no per-message growth (100k messages leaking even 1 KiB each would be ~100 MB)
    expect(rssPeak - rssStart, `RSS grew from ${rssStart} kB to ${rssPeak} kB`).toBeLessThan(96 * 1024);
  }, 300_000);

  it(`keeps answering and stays bounded under ${TCP_COUNT} mutated messages over TCP`, async () => {
    const rng = mulberry32(SEED + 1);
    const rssStart = srv.rssKb();
    let rssPeak = rssStart;
    let sent = 0;
    let written = 0;
    let conn: net.Socket | null = null;
    const open = async () => {
      const c = net.connect(port, '127.0.0.1');
      c.on('error', () => {});
      c.on('data', () => {});
      c.on('close', () => {
        if (conn === c) conn = null;
      });
      await once(c, 'connect');
      conn = c;
    };
    while (sent < TCP_COUNT) {
      if (!conn) await open();
      // a batch of mutated messages in one segment stream; a framing error makes the server close the
      // connection, and the next batch reconnects
      const batch: Buffer[] = [];
      for (let k = 0; k < 50 && sent < TCP_COUNT; k++, sent++) batch.push(mutate(corpus[Math.floor(rng() * corpus.length)], rng));
      const c = conn as net.Socket | null;
      if (!c || c.destroyed) {
        // the server closed the connection (framing error): these messages were not sent; retry them
        sent -= batch.length;
        conn = null;
        continue;
      }
      await new Promise<void>((r) => c.write(Buffer.concat(batch), () => r()));
      written += batch.length;
      if (sent % 5000 === 0) {
        expect(await answersOptions('tcp', port), `alive after ${sent} TCP messages`).toBe(true);
        rssPeak = Math.max(rssPeak, srv.rssKb());
      }
      if (sent % 1000 === 0 && conn) {
        (conn as net.Socket).destroy();
        conn = null;
      }
    }
    if (conn) (conn as net.Socket).destroy();
    expect(written).toBeGreaterThanOrEqual(TCP_COUNT);
    expect(await answersOptions('tcp', port)).toBe(true);
    expect(await answersOptions('udp', port)).toBe(true);
    expect(srv.proc.exitCode).toBeNull();
    expect(rssPeak - rssStart, `RSS grew from ${rssStart} kB to ${rssPeak} kB`).toBeLessThan(96 * 1024);
  }, 300_000);

  it(`keeps answering under ${STRUCTURED_COUNT} structure-aware mutations (all over UDP, 1 in ${IN_PROCESS_EVERY} also in-process)`, async () => {
    const rng = mulberry32(SEED + 2);
    const replier = new StatelessReplier({ serverHeader: 'fuzz', tagSeed: 'fuzz' });
    const source = { address: '192.0.2.9', port: 5099 };
    const sock = dgram.createSocket('udp4');
    sock.on('message', () => {});
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const rssStart = srv.rssKb();
    let rssPeak = rssStart;
    let sent = 0;
    let inProcess = 0;
    let accepted = 0;
    try {
      for (let i = 0; i < STRUCTURED_COUNT; i++) {
        const msg = mutateStructured(corpus[Math.floor(rng() * corpus.length)]!, rng);
        if (msg.length > MAX_STRUCTURED) throw new Error(`structured #${i}: ${msg.length} bytes`);
        await new Promise<void>((r) => sock.send(msg, port, '127.0.0.1', () => r()));
        if (++sent % 1000 === 0) {
          // pace the sender so the check measures the server, not kernel buffer drops
          expect(await answersOptions('udp', port), `alive after ${sent} structured datagrams`).toBe(true);
          rssPeak = Math.max(rssPeak, srv.rssKb());
        }
        if (i % IN_PROCESS_EVERY !== 0) continue;
        inProcess++;
        // what the server does with a datagram before routing: parse, then a stateless reply (or
        // the 400 of a failure with a usable partial); and what the modules read from it
        const r = parseMessage(msg);
        let req = r.ok ? r.message : r.failure.partial;
        if (!r.ok) {
          if (!PARSE_STATUSES.has(r.failure.status) || r.failure.detail.startsWith('parser error')) {
            throw new Error(`structured #${i}: ${JSON.stringify(r.failure)}\n${msg.toString('latin1').slice(0, 300)}`);
          }
        } else {
          accepted++;
          if (req!.kind !== 'request') req = undefined;
        }
        if (req === undefined) continue;
        replier.build(req, source, r.ok ? 200 : 400, 'OK');
        for (const v of req.headerValues('contact')) parseContactValue(v);
        for (const k of ['from', 'to', 'contact']) {
          const v = req.header(k);
          if (v !== undefined) parseHeaderParts(v);
        }
        void [req.headerValues('route'), req.headerValues('record-route'), req.headerValues('path'), req.header('expires'), req.header('user-agent')];
      }
    } finally {
      sock.close();
    }
    expect(sent).toBe(STRUCTURED_COUNT);
    expect(inProcess).toBe(Math.ceil(STRUCTURED_COUNT / IN_PROCESS_EVERY));
    expect(accepted, 'the mutations must leave some messages valid').toBeGreaterThan(inProcess / 50);
    expect(await answersOptions('udp', port)).toBe(true);
    expect(srv.proc.exitCode).toBeNull();
    expect(rssPeak - rssStart, `RSS grew from ${rssStart} kB to ${rssPeak} kB`).toBeLessThan(96 * 1024);
  }, 600_000);
});
