/**
 * uac_replace_from / uac_replace_to with restore mode auto, over real UDP through a node running
 * the uac-probe plugin (built here): a caller socket and a callee socket play the two UAs.
 *
 *   - the callee sees the replaced From (tag kept), our Record-Route carries a sealed `vsf` that
 *     does not hold the original in clear, and add_rr_param's `probe=1`;
 *   - the caller sees its original From in the 180 / 200 and in a tm-built reply (408 path is not
 *     needed: the failure_route's t_reply is one);
 *   - ACK and a re-INVITE from the caller go downstream with the replaced From (is_direction
 *     downstream, check_route_param matches); the callee's BYE reaches the caller with the caller's
 *     original URI as To (upstream), and the caller's 200 reaches the callee with the replaced To;
 *   - a tampered `vsf` is refused: the BYE is relayed unrestored, E9401 logged, counted;
 *   - uac_replace_from without record_route() is refused (-1), nothing changed; a stateless reply
 *     after a replacement carries the original From;
 *   - message flags and AVPs set in request_route are read in onreply_route and failure_route;
 *     the per-transaction AVP store stops at its bound (-5).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../../host/config/load.js';
import { createLogger } from '../../../host/log/logger.js';
import { startNode, type SiphonNode } from '../../../host/server/app.js';
import { moduleSchemas } from '../../../host/server/modules.js';
import { AVP_MAX_BYTES } from '../../../host/core/avp.js';
import { freePort } from '../../helpers/ports.js';
import { ROOT, until } from '../dialog/helpers.js';

const run = promisify(execFile);
const PLUGINS = path.join(import.meta.dirname, 'plugins');
const PROBE = path.join(PLUGINS, 'uac-probe/build/uac-probe.wasm');

let node: SiphonNode;
let port = 0;
let caller: Ua;
let callee: Ua;
let dir = '';
const lines: Array<Record<string, unknown>> = [];
let seq = 0;

/** a UDP socket that collects what it receives. */
class Ua {
  readonly got: string[] = [];
  private waiters: Array<{ pred: (s: string) => boolean; resolve: (s: string) => void }> = [];
  constructor(readonly sock: Socket) {
    sock.on('message', (b) => {
      const s = b.toString();
      this.got.push(s);
      this.waiters = this.waiters.filter((w) => (w.pred(s) ? (w.resolve(s), false) : true));
    });
  }
  get port(): number {
    return this.sock.address().port;
  }
  send(text: string): void {
    this.sock.send(text, port, '127.0.0.1');
  }
  /** the first message (already received or coming) matching `pred`. */
  wait(pred: (s: string) => boolean, what: string): Promise<string> {
    const have = this.got.find(pred);
    if (have !== undefined) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 5000);
      this.waiters.push({ pred, resolve: (s) => (clearTimeout(timer), resolve(s)) });
    });
  }
}

async function ua(): Promise<Ua> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return new Ua(s);
}

function header(msg: string, name: string): string[] {
  const out: string[] = [];
  for (const line of msg.split('\r\n\r\n')[0]!.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (line.slice(0, i).trim().toLowerCase() === name.toLowerCase()) out.push(line.slice(i + 1).trim());
  }
  return out;
}
const h1 = (msg: string, name: string): string => header(msg, name)[0] ?? '';
const startLine = (msg: string): string => msg.slice(0, msg.indexOf('\r\n'));
const isReq = (method: string, callId: string) => (s: string) => s.startsWith(`${method} `) && s.includes(`Call-ID: ${callId}\r\n`);
const isResp = (code: number, method: string, callId: string) => (s: string) =>
  s.startsWith(`SIP/2.0 ${code} `) && s.includes(`Call-ID: ${callId}\r\n`) && new RegExp(`^CSeq: \\d+ ${method}\\r?$`, 'm').test(s);

/** the response a UA (behind `via` of the request it received) sends back: Vias, From, To (+ tag), Call-ID, CSeq, RR copied. */
function response(req: string, code: number, reason: string, toTag: string | null, extra: string[] = []): string {
  const to = h1(req, 'To');
  const lines = [
    `SIP/2.0 ${code} ${reason}`,
    ...header(req, 'Via').map((v) => `Via: ${v}`),
    ...header(req, 'Record-Route').map((v) => `Record-Route: ${v}`),
    `From: ${h1(req, 'From')}`,
    `To: ${toTag !== null && !to.includes(';tag=') ? `${to};tag=${toTag}` : to}`,
    `Call-ID: ${h1(req, 'Call-ID')}`,
    `CSeq: ${h1(req, 'CSeq')}`,
    ...extra,
    'Content-Length: 0',
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

beforeAll(async () => {
  await run(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', PLUGINS], { cwd: ROOT, timeout: 120_000 });
  port = await freePort('udp');
  dir = mkdtempSync(path.join(tmpdir(), 'siphon-uac-'));
  const yaml = [
    'core:',
    `  listen: [udp:127.0.0.1:${port}]`,
    '  ctl: []',
    '  warmup: 0',
    `  data_dir: ${JSON.stringify(dir)}`,
    'modules:',
    '  uac:',
    '    restore_passwd: "test secret"',
    'routing:',
    `  plugin: ${JSON.stringify(PROBE)}`,
  ].join('\n');
  const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
  const log = createLogger({ level: 'info', destination: { write: (s: string) => { for (const l of s.split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>); } } });
  node = await startNode(config, log, { controlPlane: false });
  caller = await ua();
  callee = await ua();
}, 180_000);

afterAll(async () => {
  caller?.sock.close();
  callee?.sock.close();
  await node?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Call {
  n: number;
  callId: string;
  invite: string; // as the callee received it
  ok: string; // the 200 as the caller received it
  routeSet: string[]; // the caller's route set (Record-Route of the 200, in order)
}

/** an INVITE from caller to callee through the node, answered 180 then 200, ACKed. */
async function call(extra: string[]): Promise<Call> {
  const n = ++seq;
  const callId = `uac-${process.pid}-${n}`;
  const text = [
    `INVITE sip:bob@127.0.0.1:${callee.port} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-inv-${callId};rport`,
    'Max-Forwards: 70',
    `From: "Alice Original" <sip:alice@127.0.0.1>;tag=ft${n}`,
    `To: <sip:bob@127.0.0.1>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:alice@127.0.0.1:${caller.port}>`,
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  caller.send(text);
  const invite = await callee.wait(isReq('INVITE', callId), 'the INVITE at the callee');
  callee.sock.send(response(invite, 180, 'Ringing', `tt${n}`), port, '127.0.0.1');
  await caller.wait(isResp(180, 'INVITE', callId), 'the 180');
  callee.sock.send(response(invite, 200, 'OK', `tt${n}`, [`Contact: <sip:bob@127.0.0.1:${callee.port}>`]), port, '127.0.0.1');
  const ok = await caller.wait(isResp(200, 'INVITE', callId), 'the 200');
  const routeSet = header(ok, 'Record-Route');
  // RFC 3261 §13.2.2.4: the ACK of the 2xx, through the route set
  caller.send(inDialog('ACK', 1, { callId, from: `"Alice Original" <sip:alice@127.0.0.1>;tag=ft${n}`, to: h1(ok, 'To'), target: `sip:bob@127.0.0.1:${callee.port}`, routes: routeSet, via: caller.port }));
  await callee.wait(isReq('ACK', callId), 'the ACK at the callee');
  return { n, callId, invite, ok, routeSet };
}

/** a MESSAGE from the caller to the callee through the node, with `X-Mode: mode` unless null. */
function sendMessage(callId: string, fromLine: string, mode: string | null): void {
  caller.send([
    `MESSAGE sip:bob@127.0.0.1:${callee.port} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-${callId};rport`,
    'Max-Forwards: 70', fromLine, 'To: <sip:bob@127.0.0.1>', `Call-ID: ${callId}`, 'CSeq: 1 MESSAGE',
    ...(mode === null ? [] : [`X-Mode: ${mode}`]), 'Content-Length: 0', '', '',
  ].join('\r\n'));
}

function inDialog(method: string, cseq: number, d: { callId: string; from: string; to: string; target: string; routes: string[]; via: number }): string {
  return [
    `${method} ${d.target} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${d.via};branch=z9hG4bK-${method.toLowerCase()}-${d.callId}-${cseq}-${++seq};rport`,
    'Max-Forwards: 70',
    ...d.routes.map((r) => `Route: ${r}`),
    `From: ${d.from}`,
    `To: ${d.to}`,
    `Call-ID: ${d.callId}`,
    `CSeq: ${cseq} ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

describe('uac_replace_from with restore mode auto', () => {
  let c: Call;
  beforeAll(async () => {
    c = await call(['X-From-Display: Anonymous', 'X-From-Uri: sip:anon@anon.invalid']);
  });

  it('the callee sees the replaced From (tag kept) and a sealed vsf in our Record-Route', () => {
    expect(h1(c.invite, 'From')).toBe(`"Anonymous" <sip:anon@anon.invalid>;tag=ft${c.n}`);
    const rr = h1(c.invite, 'Record-Route');
    expect(rr).toMatch(/;ftag=ft\d+/);
    expect(rr).toContain(';probe=1');
    const vsf = /;vsf=([A-Za-z0-9_-]+)/.exec(rr)?.[1];
    expect(vsf).toBeDefined();
    expect(vsf!.length).toBeGreaterThan(40);
    expect(Buffer.from(vsf!, 'base64url').toString('latin1')).not.toContain('alice');
  });

  it('the caller sees its original From in the 180 and the 200', async () => {
    const ringing = await caller.wait(isResp(180, 'INVITE', c.callId), '180');
    expect(h1(ringing, 'From')).toMatch(/^"Alice Original" <sip:alice@127\.0\.0\.1>;tag=ft\d+$/);
    expect(h1(c.ok, 'From')).toMatch(/^"Alice Original" <sip:alice@127\.0\.0\.1>;tag=ft\d+$/);
  });

  it('the ACK reaches the callee with the replaced From, downstream, with the route parameter', async () => {
    const ack = await callee.wait(isReq('ACK', c.callId), 'ACK');
    expect(h1(ack, 'From')).toMatch(/^"Anonymous" <sip:anon@anon\.invalid>;tag=ft\d+$/);
    expect(h1(ack, 'X-Dir')).toBe('downstream');
    expect(h1(ack, 'X-Probe')).toBe('yes');
  });

  it("the callee's BYE reaches the caller with the caller's original URI as To; the caller's 200 reaches the callee with the replaced To", async () => {
    // RFC 3261 §12.1.1: the UAS's route set is the Record-Route in order (one entry here)
    const calleeRoutes = header(c.invite, 'Record-Route');
    const bye = inDialog('BYE', 1, {
      callId: c.callId,
      from: `${h1(c.invite, 'To')};tag=tt${c.n}`,
      to: h1(c.invite, 'From'),
      target: `sip:alice@127.0.0.1:${caller.port}`,
      routes: calleeRoutes,
      via: callee.port,
    });
    callee.sock.send(bye, port, '127.0.0.1');
    const got = await caller.wait(isReq('BYE', c.callId), 'the BYE at the caller');
    expect(h1(got, 'To')).toMatch(/^"Alice Original" <sip:alice@127\.0\.0\.1>;tag=ft\d+$/);
    expect(h1(got, 'X-Dir')).toBe('upstream');
    caller.send(response(got, 200, 'OK', null));
    const ok = await callee.wait(isResp(200, 'BYE', c.callId), 'the 200 of the BYE at the callee');
    expect(h1(ok, 'To')).toMatch(/^"Anonymous" <sip:anon@anon\.invalid>;tag=ft\d+$/);
  });

  it('a tampered vsf is refused: the request goes on unrestored and E9401 is logged', async () => {
    const rr = c.routeSet[0]!;
    const vsf = /;vsf=([A-Za-z0-9_-]+)/.exec(rr)![1]!;
    const flipped = vsf.slice(0, 20) + (vsf[20] === 'A' ? 'B' : 'A') + vsf.slice(21);
    const bye = inDialog('BYE', 2, {
      callId: c.callId,
      from: `<sip:bob@127.0.0.1>;tag=tt${c.n}`,
      to: h1(c.invite, 'From'),
      target: `sip:alice@127.0.0.1:${caller.port}`,
      routes: [rr.replace(vsf, flipped)],
      via: callee.port,
    });
    callee.sock.send(bye, port, '127.0.0.1');
    const got = await caller.wait((s) => isReq('BYE', c.callId)(s) && /^CSeq: 2 BYE/m.test(s), 'the tampered BYE at the caller');
    expect(h1(got, 'To')).toMatch(/^"Anonymous" <sip:anon@anon\.invalid>;tag=ft\d+$/);
    await until(() => lines.some((l) => l.code === 9401), 'the E9401 line');
  });
});

describe('uac_replace_to, refusals, flags and AVPs', () => {
  it('uac_replace_to: the callee sees the replaced To, the caller its original To (with the callee tag) in the 200', async () => {
    const c = await call(['X-To-Uri: sip:desk@pbx.invalid']);
    expect(h1(c.invite, 'To')).toBe('<sip:desk@pbx.invalid>');
    expect(h1(c.invite, 'Record-Route')).toMatch(/;vst=[A-Za-z0-9_-]{40,}/);
    expect(h1(c.ok, 'To')).toMatch(/^<sip:bob@127\.0\.0\.1>;tag=tt\d+$/);
    // the callee's BYE: its From is the replaced To; the caller sees its original To
    const bye = inDialog('BYE', 1, {
      callId: c.callId,
      from: `<sip:desk@pbx.invalid>;tag=${/tag=([^;]+)/.exec(h1(c.ok, 'To'))![1]}`,
      to: h1(c.invite, 'From'),
      target: `sip:alice@127.0.0.1:${caller.port}`,
      routes: c.routeSet,
      via: callee.port,
    });
    callee.sock.send(bye, port, '127.0.0.1');
    const got = await caller.wait(isReq('BYE', c.callId), 'the BYE at the caller');
    expect(h1(got, 'From')).toMatch(/^<sip:bob@127\.0\.0\.1>;tag=tt\d+$/);
  });

  it('uac_replace_from without record_route() is refused with -1', async () => {
    const callId = `uac-norr-${process.pid}`;
    sendMessage(callId, 'From: <sip:alice@127.0.0.1>;tag=x', 'norr');
    const r = await caller.wait(isResp(403, 'MESSAGE', callId), 'the 403');
    expect(startLine(r)).toBe('SIP/2.0 403 uac=-1');
    expect(h1(r, 'From')).toBe('<sip:alice@127.0.0.1>;tag=x');
  });

  it('a stateless reply after uac_replace_from carries the original From (Kamailio builds it from the received request)', async () => {
    const callId = `uac-sl-${process.pid}`;
    sendMessage(callId, 'From: "Al" <sip:alice@127.0.0.1>;tag=sl1', 'sl');
    const r = await caller.wait(isResp(486, 'MESSAGE', callId), 'the 486');
    expect(startLine(r)).toBe('SIP/2.0 486 sl uac=1');
    expect(h1(r, 'From')).toBe('"Al" <sip:alice@127.0.0.1>;tag=sl1');
  });

  it('flags and AVPs set in request_route are read in onreply_route and failure_route', async () => {
    const callId = `uac-fr-${process.pid}`;
    sendMessage(callId, 'From: <sip:alice@127.0.0.1>;tag=fr1', null);
    const req = await callee.wait(isReq('MESSAGE', callId), 'the MESSAGE at the callee');
    callee.sock.send(response(req, 486, 'Busy Here', 'b1'), port, '127.0.0.1');
    const r = await caller.wait(isResp(500, 'MESSAGE', callId), 'the failure_route reply');
    expect(startLine(r)).toBe('SIP/2.0 500 f=1 a=2 a1=1 n=2 x=v');
    await until(() => lines.some((l) => JSON.stringify(l).includes('probe reply mf=8 a=2 n=2 x=v')), 'the onreply_route line');
  });

  it('the AVP store of a transaction stops at its bound (-5) and keeps what it holds', async () => {
    const callId = `uac-avp-${process.pid}`;
    sendMessage(callId, 'From: <sip:alice@127.0.0.1>;tag=av1', 'avp');
    const r = await caller.wait(isResp(200, 'MESSAGE', callId), 'the 200');
    // 301 characters per value ("n" + 300): the byte bound (65,536) is reached before the count (256)
    const fit = Math.floor(AVP_MAX_BYTES / 301);
    expect(startLine(r)).toBe(`SIP/2.0 200 avp=${fit} rc=-5 x=1 cnt=${fit}`);
  });
});
