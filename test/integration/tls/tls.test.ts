/**
 * TLS end to end (issue "TLS, WebSocket and a WebRTC gateway", item 1): a node started from YAML with
 * a tls: listener (plugins/default), real TLS clients and a TLS UAS on 127.0.0.1, certificates made
 * by openssl for this run (test/helpers/tls-certs.ts).
 *
 * - keepalive OPTIONS over TLS answered on the same connection; tls.list / core.tcp_list show it;
 * - SNI picks the per-domain certificate (core.tls.domains), an unknown name gets the default;
 * - verify_client: optional refuses a client certificate from an unknown CA, accepts none or a good one;
 * - an INVITE to `sip:...;transport=tls` and to a `sips:` URI is relayed over TLS (Via TLS,
 *   Record-Route ;transport=tls) and its 200 comes back over the caller's connection;
 * - a UAS whose certificate does not chain to ca_list is refused (E3032 naming the peer and the
 *   reason) and the caller gets 503 at once (RFC 3261 §17.1.4), not 408 after Timer B;
 * - a non-TLS client on the TLS port costs one connection and the node keeps serving;
 * - tls.reload swaps certificates for new connections; a bad file is refused and the old ones stay.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import dgram from 'node:dgram';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseConfig } from '../../../host/config/load.js';
import { createLogger } from '../../../host/log/logger.js';
import { startNode, type SiphonNode } from '../../../host/server/app.js';
import { freePort } from '../../helpers/ports.js';
import { makeCa, makeLeaf, type CertFiles } from '../../helpers/tls-certs.js';
import { until } from '../../adversarial/tcp-helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
let dir: string;
let node: SiphonNode;
let TLS_PORT = 0;
let WSS_PORT = 0;
let ca: CertFiles;
let rogueCa: CertFiles;
let client: CertFiles;
let rogueClient: CertFiles;
let uasGood: CertFiles;
let uasRogue: CertFiles;
const logLines: string[] = [];
const open: Array<{ destroy(): void }> = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'siphon-tls-'));
  ca = makeCa(dir, 'ca');
  rogueCa = makeCa(dir, 'rogue-ca');
  makeLeaf(dir, 'server', ca, { dns: ['siphon.test'], ip: ['127.0.0.1'] });
  makeLeaf(dir, 'pbx', ca, { dns: ['pbx.example.test'] });
  makeLeaf(dir, 'server2', ca, { dns: ['siphon.test'], ip: ['127.0.0.1'] });
  client = makeLeaf(dir, 'alice', ca, { dns: ['alice.test'], usage: 'client' });
  rogueClient = makeLeaf(dir, 'mallory', rogueCa, { dns: ['mallory.test'], usage: 'client' });
  uasGood = makeLeaf(dir, 'uas', ca, { dns: ['uas.test'], ip: ['127.0.0.1'] });
  uasRogue = makeLeaf(dir, 'uas-rogue', rogueCa, { dns: ['uas.test'], ip: ['127.0.0.1'] });
  copyFileSync(path.join(dir, 'server.pem'), path.join(dir, 'live.pem'));
  copyFileSync(path.join(dir, 'server.key'), path.join(dir, 'live.key'));
  TLS_PORT = await freePort('tcp');
  WSS_PORT = await freePort('tcp');
  const yaml = [
    'core:',
    `  listen: [tls:127.0.0.1:${TLS_PORT}, wss:127.0.0.1:${WSS_PORT}]`,
    '  ctl: []',
    '  warmup: 0',
    '  log_level: info',
    '  tls:',
    '    certificate: live.pem',
    '    private_key: live.key',
    '    ca_list: ca.pem',
    '    system_ca: false',
    '    verify_client: optional',
    '    domains:',
    '      - server_name: pbx.example.test',
    '        certificate: pbx.pem',
    '        private_key: pbx.key',
    'routing:',
    '  plugin: default',
  ].join('\n');
  const config = parseConfig(yaml, path.join(dir, 'siphon.yaml'));
  node = await startNode(config, createLogger({ level: 'info', destination: { write: (l: string) => void logLines.push(l) } }));
}, 60_000);

afterAll(async () => {
  for (const s of open) s.destroy();
  if (process.env.TLS_DEBUG) writeFileSync('/tmp/tls-debug.log', logLines.join(''));
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** a TLS client of the node; resolves once the handshake is done (or rejects with its error). */
function connect(o: { servername?: string; cert?: CertFiles } = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port: TLS_PORT,
      ca: [readPem(ca.cert)],
      ...(o.servername !== undefined ? { servername: o.servername } : {}),
      checkServerIdentity: () => undefined, // the tests look at which certificate came
      ...(o.cert !== undefined ? { cert: readPem(o.cert.cert), key: readPem(o.cert.key) } : {}),
    });
    open.push(s);
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

function readPem(file: string): string {
  return readFileSync(file, 'utf8');
}

/** collects SIP messages from a stream (every message here has Content-Length 0 or a body we skip by it). */
class Reader {
  private text = '';
  private readonly waiters: Array<{ match: (m: string) => boolean; resolve: (m: string) => void }> = [];
  readonly messages: string[] = [];
  constructor(readonly socket: tls.TLSSocket) {
    socket.on('data', (d: Buffer) => {
      this.text += d.toString('latin1');
      for (;;) {
        const end = this.text.indexOf('\r\n\r\n');
        if (end < 0) return;
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(this.text.slice(0, end));
        const total = end + 4 + (cl ? Number(cl[1]) : 0);
        if (this.text.length < total) return;
        const m = this.text.slice(0, total);
        this.text = this.text.slice(total);
        this.messages.push(m);
        for (let i = 0; i < this.waiters.length; i++) {
          if (this.waiters[i]!.match(m)) {
            this.waiters[i]!.resolve(m);
            this.waiters.splice(i, 1);
            break;
          }
        }
      }
    });
  }
  next(match: (m: string) => boolean, what: string, ms = 5000): Promise<string> {
    const have = this.messages.find(match);
    if (have !== undefined) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got:\n${this.messages.map((x) => x.split('\r\n')[0]).join('\n')}`)), ms);
      this.waiters.push({ match, resolve: (m) => (clearTimeout(t), resolve(m)) });
    });
  }
}

function options(n: number, from: tls.TLSSocket): string {
  return (
    `OPTIONS sip:127.0.0.1:${TLS_PORT};transport=tls SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:${from.localPort};branch=z9hG4bK-tls-o${n}\r\n` +
    `Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=o${n}\r\nTo: <sip:127.0.0.1>\r\n` +
    `Call-ID: tls-options-${n}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`
  );
}

function invite(n: number, ruri: string, from: tls.TLSSocket): string {
  return (
    `INVITE ${ruri} SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:${from.localPort};branch=z9hG4bK-tls-i${n}\r\n` +
    `Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=i${n}\r\nTo: <${ruri}>\r\n` +
    `Call-ID: tls-invite-${n}@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:${from.localPort};transport=tls>\r\nContent-Length: 0\r\n\r\n`
  );
}

/** A TLS UAS: answers every INVITE 200 (with its Record-Route and Via copied) on the same connection. */
async function startUas(cert: CertFiles): Promise<{ port: number; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const conns = new Set<net.Socket>();
  const server = tls.createServer({ cert: readPem(cert.cert), key: readPem(cert.key) }, (s) => {
    s.on('error', () => {});
    const r = new Reader(s);
    void (async () => {
      for (;;) {
        const req = await r.next((m) => m.startsWith('INVITE ') && !requests.includes(m), 'INVITE', 60_000).catch(() => null);
        if (req === null) return;
        requests.push(req);
        const head = req.split('\r\n\r\n')[0]!.split('\r\n');
        const keep = head.filter((l) => /^(via|record-route|from|to|call-id|cseq):/i.test(l)).map((l) => (/^to:/i.test(l) ? `${l};tag=uas` : l));
        s.write(`SIP/2.0 200 OK\r\n${keep.join('\r\n')}\r\nContact: <sip:bob@127.0.0.1:${(server.address() as net.AddressInfo).port};transport=tls>\r\nContent-Length: 0\r\n\r\n`);
      }
    })();
  });
  server.on('tlsClientError', () => {});
  server.on('connection', (c: net.Socket) => {
    conns.add(c);
    c.once('close', () => conns.delete(c));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    requests,
    close: () => new Promise<void>((r) => {
      server.close(() => r());
      for (const c of conns) c.destroy(); // siphon keeps its connection open (idle_timeout)
    }),
  };
}

describe('TLS listener', () => {
  it('answers a keepalive OPTIONS over TLS on the same connection and lists the session', async () => {
    const s = await connect({ servername: 'siphon.test' });
    const r = new Reader(s);
    s.write(options(1, s));
    const reply = await r.next((m) => m.startsWith('SIP/2.0 '), 'the OPTIONS reply');
    expect(reply.split('\r\n')[0]).toMatch(/^SIP\/2\.0 200 /);
    expect(reply).toMatch(/\r\nVia: SIP\/2\.0\/TLS 127\.0\.0\.1:\d+;branch=z9hG4bK-tls-o1/);
    expect(s.getPeerCertificate().subject.CN).toBe('server');
    const list = (await node.rpc.call('tls.list', [])) as Array<Record<string, unknown>>;
    const mine = list.find((c) => c.src_port === s.localPort);
    expect(mine).toMatchObject({ direction: 'in', dst_port: TLS_PORT, server_name: 'siphon.test', state: 'established', peer_verified: 0 });
    expect(String(mine!.version)).toMatch(/^TLSv1\.[23]$/);
    const tcpList = (await node.rpc.call('core.tcp_list', [])) as Array<Record<string, unknown>>;
    expect(tcpList.find((c) => c.src_port === s.localPort)).toMatchObject({ type: 'TLS' });
    expect(await node.rpc.call('tls.info', [])).toMatchObject({ max_connections: 2048 });
    s.destroy();
  });

  it('picks the per-domain certificate by SNI and the default one for other names', async () => {
    const pbx = await connect({ servername: 'pbx.example.test' });
    expect(pbx.getPeerCertificate().subject.CN).toBe('pbx');
    const other = await connect({ servername: 'other.test' });
    expect(other.getPeerCertificate().subject.CN).toBe('server');
    const opts = (await node.rpc.call('tls.options', [])) as { profiles: Array<{ server_name: string; subject: string }> };
    expect(opts.profiles.map((p) => p.server_name)).toEqual(['default', 'pbx.example.test']);
    pbx.destroy();
    other.destroy();
  });

  it('verify_client optional: refuses a certificate from an unknown CA, accepts none or a trusted one', async () => {
    const good = await connect({ servername: 'siphon.test', cert: client });
    const r = new Reader(good);
    good.write(options(2, good));
    expect((await r.next((m) => m.startsWith('SIP/2.0 '), 'reply')).split('\r\n')[0]).toMatch(/^SIP\/2\.0 200 /);
    const list = (await node.rpc.call('tls.list', [])) as Array<Record<string, unknown>>;
    expect(list.find((c) => c.src_port === good.localPort)).toMatchObject({ peer_verified: 1 });
    expect(String(list.find((c) => c.src_port === good.localPort)!.peer_subject)).toContain('CN=alice');

    // the handshake itself completes (the server asked, the client sent one); the node then closes
    const bad = await connect({ servername: 'siphon.test', cert: rogueClient }).catch((e: Error) => e);
    if (!(bad instanceof Error)) {
      await new Promise<void>((resolve) => (bad.destroyed ? resolve() : bad.once('close', () => resolve())));
      expect(bad.destroyed).toBe(true);
    }
    await until(() => logLines.some((l) => l.includes('"code":3031') && /"reason":"[A-Z_]*(ISSUER|CERT|SIGNATURE)/.test(l)));
    good.destroy();
  });

  it('survives a client that does not speak TLS on the TLS port', async () => {
    const raw = net.connect({ host: '127.0.0.1', port: TLS_PORT });
    open.push(raw);
    raw.on('error', () => {});
    await new Promise((r) => raw.once('connect', r));
    raw.write(options(3, { localPort: raw.localPort } as tls.TLSSocket));
    await new Promise<void>((r) => raw.once('close', () => r()));
    const s = await connect({ servername: 'siphon.test' });
    const rd = new Reader(s);
    s.write(options(4, s));
    expect((await rd.next((m) => m.startsWith('SIP/2.0 '), 'reply')).split('\r\n')[0]).toMatch(/^SIP\/2\.0 200 /);
    s.destroy();
  });
});

describe('wss: listener', () => {
  it('speaks SIP over WebSocket over TLS with the same certificates', async () => {
    const c = new WebSocket(`wss://127.0.0.1:${WSS_PORT}`, ['sip'], { ca: [readPem(ca.cert)], servername: 'siphon.test' });
    open.push({ destroy: () => c.terminate() });
    await new Promise((resolve, reject) => {
      c.once('open', resolve);
      c.once('error', reject);
    });
    const reply = new Promise<string>((r) => c.once('message', (d: Buffer) => r(d.toString('utf8'))));
    c.send(
      `OPTIONS sip:127.0.0.1:${WSS_PORT};transport=wss SIP/2.0\r\nVia: SIP/2.0/WSS x1.invalid;branch=z9hG4bK-wss1\r\nMax-Forwards: 70\r\n` +
        `From: <sip:probe@127.0.0.1>;tag=w1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: wss-1@x1.invalid\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
    );
    const r = await reply;
    expect(r.split('\r\n')[0]).toMatch(/^SIP\/2\.0 200 /);
    expect(r).toMatch(/\r\nVia: SIP\/2\.0\/WSS x1\.invalid;branch=z9hG4bK-wss1;received=127\.0\.0\.1/);
    c.terminate();
  });
});

describe('relaying over TLS', () => {
  it('relays to sip:...;transport=tls and to sips: over TLS with TLS Via and Record-Route, and the 200 comes back', async () => {
    const uas = await startUas(uasGood);
    try {
      const s = await connect({ servername: 'siphon.test' });
      const r = new Reader(s);
      s.write(invite(1, `sip:bob@127.0.0.1:${uas.port};transport=tls`, s));
      const ok = await r.next((m) => m.startsWith('SIP/2.0 200'), 'the relayed 200');
      expect(ok).toContain('Call-ID: tls-invite-1@127.0.0.1');
      expect(uas.requests).toHaveLength(1);
      const relayed = uas.requests[0]!;
      expect(relayed).toMatch(new RegExp(`\\r\\nVia: SIP/2\\.0/TLS 127\\.0\\.0\\.1:${TLS_PORT};branch=z9hG4bK`));
      expect(relayed).toMatch(new RegExp(`\\r\\nRecord-Route: <sip:127\\.0\\.0\\.1:${TLS_PORT};transport=tls;lr`));

      s.write(invite(2, `sips:bob@127.0.0.1:${uas.port}`, s));
      await r.next((m) => m.startsWith('SIP/2.0 200') && m.includes('tls-invite-2@'), 'the relayed 200 of the sips INVITE');
      expect(uas.requests[1]).toMatch(/^INVITE sips:bob@127\.0\.0\.1:\d+ SIP\/2\.0/);
      // the outgoing session verified the UAS against ca_list
      const out = ((await node.rpc.call('tls.list', [])) as Array<Record<string, unknown>>).find((c) => c.direction === 'out' && c.src_port === uas.port);
      expect(out).toMatchObject({ state: 'established' });
      s.destroy();
    } finally {
      await uas.close();
    }
  });

  it('refuses a UAS whose certificate does not chain to ca_list: E3032 with the peer and reason, the branch ends 503 at once', async () => {
    const uas = await startUas(uasRogue);
    try {
      const s = await connect({ servername: 'siphon.test' });
      const r = new Reader(s);
      const t0 = Date.now();
      s.write(invite(3, `sip:bob@127.0.0.1:${uas.port};transport=tls`, s));
      const final = await r.next((m) => /^SIP\/2\.0 [3-6]\d\d /.test(m), 'a final response');
      // the branch ended 503 (RFC 3261 §17.1.4); plugins/default's failure_route answers 5xx with 480
      expect(final.split('\r\n')[0]).toBe('SIP/2.0 480 Temporarily Unavailable');
      expect(logLines.some((l) => l.includes('tls-invite-3@') && l.includes('failed (503)'))).toBe(true);
      expect(Date.now() - t0).toBeLessThan(4000); // not Timer B's 32 s
      expect(uas.requests).toHaveLength(0);
      const line = logLines.find((l) => l.includes('"code":3032') && l.includes(`127.0.0.1:${uas.port}`));
      expect(line, 'E3032 names the peer').toBeDefined();
      expect(JSON.parse(line!).reason).toMatch(/CERT|SIGNATURE|ISSUER|SELF_SIGNED/);
      s.destroy();
    } finally {
      await uas.close();
    }
  });
});

describe('tls.reload', () => {
  it('serves new certificates to new connections; a bad file is refused and the running ones stay', async () => {
    const before = await connect({ servername: 'siphon.test' });
    const serialBefore = before.getPeerCertificate().serialNumber;
    copyFileSync(path.join(dir, 'server2.pem'), path.join(dir, 'live.pem'));
    copyFileSync(path.join(dir, 'server2.key'), path.join(dir, 'live.key'));
    expect(await node.rpc.call('tls.reload', [])).toBe('Ok. TLS configuration reloaded.');
    const after = await connect({ servername: 'siphon.test' });
    expect(after.getPeerCertificate().serialNumber).not.toBe(serialBefore);

    // a key that does not match the certificate: refused, naming the files; the server2 contexts stay
    copyFileSync(path.join(dir, 'pbx.key'), path.join(dir, 'live.key'));
    await expect(node.rpc.call('tls.reload', [])).rejects.toThrow(/E3030|live\.pem/);
    writeFileSync(path.join(dir, 'live.key'), 'not a key');
    await expect(node.rpc.call('tls.reload', [])).rejects.toThrow(/live/);
    const still = await connect({ servername: 'siphon.test' });
    expect(still.getPeerCertificate().serialNumber).toBe(after.getPeerCertificate().serialNumber);
    for (const s of [before, after, still]) s.destroy();
  });
});

describe('TLS settings', () => {
  it('refuses a tls: listener without a certificate, naming the listen entry', async () => {
    const port = await freePort('tcp');
    const config = parseConfig(['core:', `  listen: [tls:127.0.0.1:${port}]`, '  ctl: []', '  warmup: 0', 'routing:', '  plugin: default'].join('\n'), path.join(dir, 'no-cert.yaml'));
    await expect(startNode(config, createLogger({ level: 'silent' }))).rejects.toThrow(/no-cert\.yaml:2:\d+.*needs core\.tls\.certificate.*E3030/);
  });

  it('refuses a missing certificate file with its path and the config line', async () => {
    const port = await freePort('tcp');
    const yaml = ['core:', `  listen: [tls:127.0.0.1:${port}]`, '  ctl: []', '  warmup: 0', '  tls:', '    certificate: nowhere.pem', '    private_key: live.key', 'routing:', '  plugin: default'].join('\n');
    const config = parseConfig(yaml, path.join(dir, 'missing.yaml'));
    await expect(startNode(config, createLogger({ level: 'silent' }))).rejects.toThrow(/missing\.yaml:6:\d+.*cannot read .*nowhere\.pem: ENOENT/);
  });
});

describe('forwarding that no socket can do', () => {
  it('answers 503, not 500: sips: on a node without a tls: listener, an IPv6 target on an IPv4-only node', async () => {
    const port = await freePort('udp');
    const config = parseConfig(['core:', `  listen: [udp:127.0.0.1:${port}]`, '  ctl: []', '  warmup: 0', 'routing:', '  plugin: default'].join('\n'), path.join(dir, 'udp-only.yaml'));
    const udpNode = await startNode(config, createLogger({ level: 'silent' }));
    const ua = dgram.createSocket('udp4');
    try {
      await new Promise<void>((r) => ua.bind(0, '127.0.0.1', () => r()));
      const finals = new Map<string, string>();
      ua.on('message', (m) => {
        const t = m.toString('latin1');
        const id = /\r\nCall-ID: ([^\r]+)/i.exec(t)?.[1];
        if (id !== undefined && /^SIP\/2\.0 [2-6]\d\d /.test(t)) finals.set(id, t.split('\r\n')[0]!);
      });
      const send = (n: number, ruri: string): void => {
        const msg =
          `INVITE ${ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${ua.address().port};branch=z9hG4bK-nosock${n}\r\nMax-Forwards: 70\r\n` +
          `From: <sip:alice@127.0.0.1>;tag=ns${n}\r\nTo: <${ruri}>\r\nCall-ID: nosock-${n}@127.0.0.1\r\nCSeq: 1 INVITE\r\n` +
          `Contact: <sip:alice@127.0.0.1:${ua.address().port}>\r\nContent-Length: 0\r\n\r\n`;
        ua.send(msg, port, '127.0.0.1');
      };
      send(1, 'sips:bob@127.0.0.1:5999');
      send(2, 'sip:bob@[2001:db8::10]');
      send(3, 'sip:bob@127.0.0.1:5999;transport=tls');
      await until(() => finals.size === 3, 5000, 'three final responses');
      expect(finals.get('nosock-1@127.0.0.1')).toBe('SIP/2.0 503 Service Unavailable');
      expect(finals.get('nosock-2@127.0.0.1')).toBe('SIP/2.0 503 Service Unavailable');
      expect(finals.get('nosock-3@127.0.0.1')).toBe('SIP/2.0 503 Service Unavailable');
    } finally {
      ua.close();
      await udpNode.stop();
    }
  });
});
