/**
 * docs/deployment.md, "N nodes behind a dispatcher tier", run on loopback: three real `siphon start`
 * processes started from the files in config/examples/cluster/ (the ones the page prints; only
 * ports, the database name and paths are replaced), one MariaDB database with Kamailio's schema
 * (kamdbctl's SQL through createKamailioDb, dropped at the end).
 *
 *   UA alice ──► tier (plugins/lb: record_route, ds_select_dst(1, 4) round robin) ──► node A | node B
 *                                                                 (plugins/default, location db_mode 3,
 *                                                                  auth + auth_db on the same database)
 *
 * Round robin over two active nodes alternates, so consecutive out-of-dialog requests through the
 * tier land on different nodes. That is what the test shows, read back from the nodes themselves
 * (auth and registrar statistics over their control sockets, the location row's server_id, each
 * node's call log line):
 *   - alice's REGISTER is challenged by one node and her answer accepted by the other (the nonce
 *     secret is the row both read from the shared database), which saves the binding;
 *   - carol's INVITE (another domain, so not challenged, as in kamailio.cfg) goes to the node that
 *     did NOT save the binding, which finds it in the shared table and reaches alice; 180/200, ACK and
 *     BYE follow the Record-Route set through the tier and that node in both directions;
 *   - node A is stopped: the tier's keepalives mark it inactive (waited for over RPC), and a new call
 *     completes through node B.
 * Ports from freePorts(); the UAs are UDP sockets on ephemeral ports.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BinrpcClient } from '../../host/rpc/binrpc-client.js';
import type { RpcValue } from '../../host/rpc/types.js';
import { digestCredentials } from '../helpers/digest-client.js';
import { createKamailioDb, type KamailioDb } from '../helpers/kamailio-db.js';
import { freePorts } from '../helpers/ports.js';
import { ROOT, startSiphon, type SiphonProcess } from '../helpers/siphon-process.js';
import { waitFor } from './lb-support.js';
import { Phone, responseText, type SipText } from './pbx-phone.js';
import { finalFor, requestText, send, tagOf, uniq, uriOf, type Req } from './pbx-sip.js';

const EXAMPLES = path.join(ROOT, 'config/examples/cluster');
const FILES = ['tier.yaml', 'node-a.yaml', 'node-b.yaml', 'dispatcher.list'] as const;
/** the cluster's SIP domain (the nodes' alias) and alice's account in the subscriber table. */
const DOMAIN = 'example.com';
const PASSWORD = 'alice-secret';

interface Proc {
  name: 'tier' | 'node-a' | 'node-b';
  port: number;
  /** the location rows' server_id this process writes (nodes only). */
  serverId: number;
  sip: SiphonProcess;
  rpc: BinrpcClient;
}

let tmp: string;
let kdb: KamailioDb;
let tier: Proc;
let nodeA: Proc;
let nodeB: Proc;
const procs: Proc[] = [];
const phones: Phone[] = [];

/**
 * An example file with the demo's fixed addresses swapped for this run's: ports 5060/5071/5072,
 * the database siphon_cluster, var/cluster/ (data_dir, ctl) and the list file's path. Anything else
 * stays byte for byte what docs/deployment.md shows.
 */
function render(file: string, ports: { tier: number; a: number; b: number }): string {
  let text = readFileSync(path.join(EXAMPLES, file), 'utf8');
  const subs: Array<[string, string]> = [
    ['127.0.0.1:5060', `127.0.0.1:${ports.tier}`],
    ['127.0.0.1:5071', `127.0.0.1:${ports.a}`],
    ['127.0.0.1:5072', `127.0.0.1:${ports.b}`],
    ['/siphon_cluster', `/${kdb.name}`],
    ['../../../var/cluster/', `${tmp}/`],
    ['unix:var/cluster/', `unix:${tmp}/`],
    ['config/examples/cluster/dispatcher.list', path.join(tmp, 'dispatcher.list')],
  ];
  for (const [from, to] of subs) text = text.split(from).join(to);
  expect(text, `${file} still names a demo address`).not.toMatch(/:50(60|71|72)\b|siphon_cluster|var\/cluster/);
  writeFileSync(path.join(tmp, file), text);
  return path.join(tmp, file);
}

async function start(name: Proc['name'], port: number, serverId: number): Promise<Proc> {
  const sip = await startSiphon(['-c', path.join(tmp, `${name}.yaml`)], { readyPorts: [{ proto: 'udp', port }] });
  // the control socket opens right after the SIP sockets
  const ctl = `unix:${path.join(tmp, `${name}.ctl`)}`;
  const rpc = await waitFor(() => BinrpcClient.connect(ctl).catch(() => null), 10_000);
  if (rpc === null) {
    await sip.stop();
    throw new Error(`${name}: no control socket at ${ctl}: ${sip.stdout().slice(-2000)}`);
  }
  const p: Proc = { name, port, serverId, sip, rpc };
  procs.push(p);
  return p;
}

/** one counter of a process (stats.fetchn: {"group.name": n}). */
async function stat(p: Proc, group: string, name: string): Promise<number> {
  const [v] = await p.rpc.call('stats.fetchn', [`${group}:`]);
  return Number((v as Record<string, RpcValue>)[`${group}.${name}`] ?? NaN);
}

/** the tier's state letters for a node (dispatcher.list: RECORDS[].SET.TARGETS[].DEST.{URI, FLAGS}). */
async function flagsOf(p: Proc): Promise<string | null> {
  const [list] = await tier.rpc.call('dispatcher.list');
  const records = (list as { RECORDS: Array<{ SET: { TARGETS: Array<{ DEST: { URI: string; FLAGS: string } }> } }> }).RECORDS;
  for (const r of records) for (const t of r.SET.TARGETS) if (t.DEST.URI === `sip:127.0.0.1:${p.port}`) return t.DEST.FLAGS;
  return null;
}

async function phone(user: string): Promise<Phone> {
  const p = await Phone.open(user, tier.port);
  phones.push(p);
  return p;
}

/** the sent-by port of a message's top Via: where a response to it goes (RFC 3261 §18.2.2). */
function topViaPort(m: SipText): number {
  return Number(/^SIP\/2\.0\/UDP 127\.0\.0\.1:(\d+)/.exec(m.headers('Via')[0] ?? '')![1]);
}

/** the sent-by ports of all Vias of a message, top first: the hops it took, last hop first. */
const viaPorts = (m: SipText): number[] => m.headers('Via').map((v) => Number(/127\.0\.0\.1:(\d+)/.exec(v)![1]));

/** the port of a Record-Route value <sip:127.0.0.1:PORT;lr...>. */
const rrPort = (v: string): number => Number(/^<sip:127\.0\.0\.1:(\d+);lr/.exec(v)?.[1] ?? NaN);

/** answers a request the way a UA does: to its top Via, with a To-tag and our Contact. */
function answer(ua: Phone, req: SipText, code: number, reason: string): void {
  ua.send(responseText(req, code, reason, { contact: ua.contact, toTag: `t-${ua.user}` }), topViaPort(req));
}

/** alice's REGISTER through the tier: 401 (from one node), then her answer to that nonce (to the next). */
async function registerAlice(ua: Phone): Promise<SipText | null> {
  const req: Req = {
    method: 'REGISTER', ruri: `sip:${DOMAIN}`, from: `sip:alice@${DOMAIN}`, fromTag: `r${uniq()}`, to: `sip:alice@${DOMAIN}`,
    callId: `reg-${uniq()}`, cseq: 1, via: `127.0.0.1:${ua.port}`, contact: ua.contact, extra: ['Expires: 300'],
  };
  send(ua, req);
  const challenge = await finalFor(ua, req);
  expect(challenge?.status, challenge?.raw).toBe(401);
  // the first challenge (SHA-256 by the auth module's default), answered as RFC 7616 §3.4 says
  const c = challenge!.header('WWW-Authenticate')!;
  const param = (n: string): string => new RegExp(`${n}="?([^",]+)`).exec(c)![1]!;
  const line = digestCredentials(param('nonce'), {
    username: 'alice', password: PASSWORD, realm: param('realm'), alg: param('algorithm') === 'SHA-256' ? 'SHA-256' : 'MD5', uri: req.ruri,
  });
  const answered: Req = { ...req, cseq: 2, extra: [...req.extra!, line] };
  send(ua, answered);
  return finalFor(ua, answered);
}

/**
 * carol calls alice through the tier and hangs up: INVITE, 180, 200, ACK, BYE, 200. Returns the
 * port of the node that handled it (the top Record-Route alice saw) after checking that every
 * request and response crossed the tier and that node, in that order.
 */
async function call(caller: Phone, callee: Phone): Promise<{ node: number; callId: string }> {
  const callId = `call-${uniq()}`;
  const dialog = { from: `sip:carol@example.net`, fromTag: `c${uniq()}`, to: `sip:alice@${DOMAIN}`, callId, via: `127.0.0.1:${caller.port}` };
  send(caller, { ...dialog, method: 'INVITE', ruri: `sip:alice@${DOMAIN}`, cseq: 1, contact: caller.contact });
  const ofCall = (m: SipText): boolean => m.header('Call-ID') === callId;

  const inv = await callee.next((m) => m.method === 'INVITE' && ofCall(m));
  expect(inv?.firstLine, 'the INVITE reaches alice at her registered Contact').toBe(`INVITE ${callee.contact} SIP/2.0`);
  // RFC 3261 §16.6 step 4: both proxies record-routed; the node's entry is on top (added last)
  const rr = inv!.headers('Record-Route');
  expect(rr.map(rrPort)).toHaveLength(2);
  const node = rrPort(rr[0]!);
  expect([nodeA.port, nodeB.port]).toContain(node);
  expect(rrPort(rr[1]!)).toBe(tier.port);
  expect(viaPorts(inv!)).toEqual([node, tier.port, caller.port]);

  answer(callee, inv!, 180, 'Ringing');
  expect((await caller.next((m) => m.status === 180 && ofCall(m)))?.status).toBe(180);
  answer(callee, inv!, 200, 'OK');
  const ok = await caller.next((m) => m.status === 200 && ofCall(m) && /INVITE/.test(m.header('CSeq') ?? ''));
  expect(ok?.header('Contact')).toContain(callee.contact);

  // RFC 3261 §12.1.2: the caller's route set is the Record-Route of the 200 in reverse: tier, node
  const routes = ok!.headers('Record-Route').reverse();
  expect(routes.map(rrPort)).toEqual([tier.port, node]);
  const inDialog = (method: string, cseq: number): Req => ({
    ...dialog, method, cseq, ruri: uriOf(ok!.header('Contact')!), toTag: tagOf(ok!.header('To')), extra: routes.map((r) => `Route: ${r}`),
  });
  // RFC 3261 §13.2.2.4: the ACK of a 2xx is a request of its own, routed like the BYE
  caller.send(requestText(inDialog('ACK', 1)).text);
  const ack = await callee.next((m) => m.method === 'ACK' && ofCall(m));
  expect(ack?.firstLine).toBe(`ACK ${callee.contact} SIP/2.0`);
  expect(viaPorts(ack!)).toEqual([node, tier.port, caller.port]);

  caller.send(requestText(inDialog('BYE', 2)).text);
  const bye = await callee.next((m) => m.method === 'BYE' && ofCall(m));
  expect(bye?.firstLine).toBe(`BYE ${callee.contact} SIP/2.0`);
  expect(viaPorts(bye!)).toEqual([node, tier.port, caller.port]);
  answer(callee, bye!, 200, 'OK');
  expect(await caller.next((m) => m.status === 200 && ofCall(m) && /BYE/.test(m.header('CSeq') ?? ''))).not.toBeNull();
  return { node, callId };
}

/** the node's own log says it routed this call (plugins/default logs every new INVITE). */
async function logged(p: Proc, callId: string): Promise<boolean> {
  return (await waitFor(async () => (p.sip.stdout().includes(`call ${callId}: INVITE`) ? true : null), 5000)) === true;
}

const byPort = (port: number): Proc => (port === nodeA.port ? nodeA : nodeB);

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'siphon-deploy-'));
  kdb = await createKamailioDb('deploy', ['auth_db', 'usrloc']);
  await kdb.addSubscriber('alice', DOMAIN, PASSWORD);
  const [t, a, b] = await freePorts(3);
  for (const f of FILES) render(f, { tier: t!, a: a!, b: b! });
  // one after the other, nodes first: each start (plugin compile, warm-up) gets the CPU to itself,
  // which keeps it within startSiphon's bound on a loaded machine
  nodeA = await start('node-a', a!, 1);
  nodeB = await start('node-b', b!, 2);
  tier = await start('tier', t!, 0);
  // the tier routes to a node once its keepalives were answered
  for (const n of [nodeA, nodeB]) expect(await waitFor(async () => ((await flagsOf(n))?.startsWith('A') ? true : null), 10_000)).toBe(true);
}, 150_000);

afterAll(async () => {
  for (const p of phones) p.close();
  for (const p of procs) await p.rpc.close();
  await Promise.all(procs.map((p) => p.sip.stop()));
  await kdb?.drop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('docs/deployment.md: a dispatcher tier in front of two nodes on one MariaDB database', () => {
  it('the page prints the example files the test runs, unchanged', () => {
    const doc = readFileSync(path.join(ROOT, 'docs/deployment.md'), 'utf8');
    for (const f of FILES) expect(doc, `docs/deployment.md lacks config/examples/cluster/${f}`).toContain(readFileSync(path.join(EXAMPLES, f), 'utf8').trimEnd());
  });

  it('registered through one node, called through the other; after node A stops, calls go through B', async () => {
    const alice = await phone('alice');
    const carol = await phone('carol');

    const reg = await registerAlice(alice);
    expect(reg?.status, reg?.raw).toBe(200);
    expect(reg?.header('Contact')).toContain(`<${alice.contact}>;expires=300`);
    // the challenge came from one node (no credentials), the answer was accepted by the other
    const challenged = [await stat(nodeA, 'auth', 'no_credentials'), await stat(nodeB, 'auth', 'no_credentials')];
    const accepted = [await stat(nodeA, 'auth', 'ok'), await stat(nodeB, 'auth', 'ok')];
    expect([...challenged].sort()).toEqual([0, 1]);
    expect(accepted).toEqual(challenged.map((n) => 1 - n));
    const saver = accepted[0] === 1 ? nodeA : nodeB;
    expect(await stat(saver, 'registrar', 'accepted_regs')).toBe(1);
    // db_mode 3 answers 200 once the row is committed: it is in the shared table, written by `saver`
    const [rows] = await kdb.conn.query('SELECT contact, server_id, socket FROM location WHERE username = ?', ['alice']);
    expect(rows).toEqual([{ contact: alice.contact, server_id: saver.serverId, socket: `udp:127.0.0.1:${saver.port}` }]);

    // the next request through the round robin goes to the other node: it finds alice in the table
    const first = await call(carol, alice);
    const other = byPort(first.node);
    expect(other).not.toBe(saver);
    expect(await logged(other, first.callId)).toBe(true);
    expect(saver.sip.stdout()).not.toContain(`call ${first.callId}: INVITE`);

    // node A goes away: the tier's keepalives mark it inactive (I), the next call is node B's
    const downs = await stat(tier, 'dispatcher', 'dst_down_events');
    await nodeA.sip.stop();
    expect(await waitFor(async () => ((await flagsOf(nodeA))?.startsWith('I') ? true : null), 10_000)).toBe(true);
    expect(await stat(tier, 'dispatcher', 'dst_down_events')).toBe(downs + 1);
    const second = await call(carol, alice);
    expect(second.node).toBe(nodeB.port);
    expect(await logged(nodeB, second.callId)).toBe(true);
  }, 60_000);
});
