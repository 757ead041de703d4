/**
 * TLS with real phones (issue "TLS, WebSocket and a WebRTC gateway", must-show 2): the real `siphon start`
 * binary with config/siphon.yaml plus a tls: listener and core.tls with verify_client: required (mutual
 * TLS, Kamailio tls.cfg verify_certificate + require_certificate), certificates made by openssl for this
 * run. Two baresip UAs with client certificates of the trusted CA register over TLS with digest auth
 * (baresip checks the node's certificate against sip_cafile), one calls the other over TLS, the callee
 * answers, the caller hangs up, the BYE reaches the callee over its TLS connection.
 *
 * A phone presenting a certificate of another CA is refused at the TLS layer: its REGISTER never reaches
 * the router (REGISTER_FAIL, nothing saved) and the node logs one E3031 line naming the peer and
 * OpenSSL's reason.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Baresip, closed, established, incoming, registered, registerFailed } from '../helpers/baresip.js';
import { freePort } from '../helpers/ports.js';
import { startShipped, type ShippedNode } from '../helpers/shipped-config.js';
import { makeCa, makeLeaf, type CertFiles } from '../helpers/tls-certs.js';

const DOMAIN = 'siphon.test';
const hasBaresip = (() => {
  try {
    readFileSync('/usr/lib/baresip/modules/ctrl_tcp.so');
    return true;
  } catch {
    return false;
  }
})();

let tmp: string;
let tlsPort: number;
let node: ShippedNode | undefined;
let ca: CertFiles;
const uas: Baresip[] = [];

/** baresip's sip_certificate: the certificate and its key in one PEM file. */
function bundle(c: CertFiles, name: string): string {
  const file = path.join(tmp, `${name}-bundle.pem`);
  writeFileSync(file, readFileSync(c.cert, 'utf8') + readFileSync(c.key, 'utf8'));
  return file;
}

async function phone(user: string, password: string, cert: string): Promise<Baresip> {
  const u = await Baresip.start({ user, domain: DOMAIN, proxyPort: tlsPort, password, transport: 'tls', tls: { certificate: cert, cafile: ca.cert } });
  uas.push(u);
  return u;
}

const outcome = (u: Baresip) => u.waitFor((e) => registered()(e) || registerFailed()(e), 15_000);

describe.skipIf(!hasBaresip)('baresip over TLS with client certificates (verify_client: required)', () => {
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'siphon-baresip-tls-'));
    ca = makeCa(tmp, 'ca');
    const rogueCa = makeCa(tmp, 'rogue-ca');
    const server = makeLeaf(tmp, 'server', ca, { dns: [DOMAIN], ip: ['127.0.0.1'] });
    bundle(makeLeaf(tmp, 'alice', ca, { dns: ['alice.siphon.test'], usage: 'client' }), 'alice');
    bundle(makeLeaf(tmp, 'bob', ca, { dns: ['bob.siphon.test'], usage: 'client' }), 'bob');
    bundle(makeLeaf(tmp, 'mallory', rogueCa, { dns: ['mallory.siphon.test'], usage: 'client' }), 'mallory');
    tlsPort = await freePort('tcp');
    const tlsBlock = [
      '  tls:',
      `    certificate: ${JSON.stringify(server.cert)}`,
      `    private_key: ${JSON.stringify(server.key)}`,
      `    ca_list: ${JSON.stringify(ca.cert)}`,
      '    system_ca: false',
      '    verify_client: required',
    ].join('\n');
    node = await startShipped({ dir: tmp, domain: DOMAIN, listen: [`tls:127.0.0.1:${tlsPort}`], core: tlsBlock });
    for (const [user, pw] of [['alice', 'alice-Tls-1'], ['bob', 'bob-Tls-2'], ['mallory', 'mallory-Tls-3']]) {
      await node.cli('subscriber', 'add', `${user}@${DOMAIN}`, pw!);
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all(uas.map((u) => u.stop()));
    await node?.srv.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('two phones register over TLS (digest), alice calls bob over TLS, bob answers, alice hangs up', async () => {
    const [alice, bob] = await Promise.all([phone('alice', 'alice-Tls-1', path.join(tmp, 'alice-bundle.pem')), phone('bob', 'bob-Tls-2', path.join(tmp, 'bob-bundle.pem'))]);
    const [ra, rb] = await Promise.all([outcome(alice), outcome(bob)]);
    expect(ra.type, `${alice.describe()}\n${alice.output().slice(-3000)}\n${node!.srv.stdout().slice(-4000)}`).toBe('REGISTER_OK');
    expect(rb.type, bob.describe()).toBe('REGISTER_OK');

    await alice.dial(`sip:bob@${DOMAIN}`);
    const inc = await bob.waitFor(incoming(), 15_000);
    expect(inc.peeruri).toBe(`sip:alice@${DOMAIN}`);
    await bob.accept();
    await Promise.all([alice.waitFor(established()), bob.waitFor(established())]);
    await alice.hangup();
    const [ca1, cb] = await Promise.all([alice.waitFor(closed()), bob.waitFor(closed())]);
    expect(ca1.param).toBe('Connection reset by user');
    expect(cb.param).toBe('Connection reset by peer');
    // both phones' connections are TLS sessions of the node (its tls.list)
    const { stdout } = await node!.cli('rpc', 'tls.list');
    expect(stdout.match(/127\.0\.0\.1/g)?.length ?? 0, stdout).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('a phone whose certificate is of another CA is refused at the handshake: an E3031 line naming it, nothing registered', async () => {
    const before = node!.srv.stdout().length;
    const mallory = await phone('mallory', 'mallory-Tls-3', path.join(tmp, 'mallory-bundle.pem'));
    // the node closes the connection after the handshake; baresip retries until its own timeout, so
    // the node's log line is what the test waits for (bounded)
    const refused = (): string[] => node!.srv.stdout().slice(before).split('\n').filter((l) => l.includes('"code":3031'));
    const deadline = Date.now() + 15_000;
    while (refused().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const lines = refused();
    expect(lines.length, `${mallory.describe()}\n${node!.srv.stdout().slice(before)}`).toBeGreaterThanOrEqual(1);
    const line = JSON.parse(lines[0]!) as { msg: string; peer: string; reason: string; level: string };
    expect(line.level).toBe('warn');
    expect(line.msg).toBe('tls handshake failed [E3031]');
    expect(line.peer).toMatch(/^127\.0\.0\.1:\d+$/);
    // OpenSSL's verdict on the chain: the issuer (rogue-ca) is not in ca_list
    expect(line.reason).toMatch(/UNABLE_TO_GET_ISSUER_CERT|CERT_SIGNATURE|SELF_SIGNED|UNABLE_TO_VERIFY/);
    expect(mallory.events.some(registered()), mallory.describe()).toBe(false);
    // the location table has alice and bob, not mallory
    const { stdout } = await node!.cli('rpc', 'ul.dump');
    expect(stdout).toMatch(/AoR: alice\b/);
    expect(stdout).toMatch(/Address: sip:alice-[^ ]*;transport=tls/);
    expect(stdout).not.toMatch(/AoR: mallory/);
  }, 40_000);
});
