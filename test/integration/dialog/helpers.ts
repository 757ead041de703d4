/**
 * A node with plugins/pbx, registrar and dialog over real UDP on 127.0.0.1, and scripted phones
 * (test/e2e/pbx-phone.ts) as caller and callee: REGISTER, INVITE/180/200/ACK, BYE with the route
 * set the 200 carried (RFC 3261 §12.2.1.1), CANCEL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../../host/config/load.js';
import { createLogger } from '../../../host/log/logger.js';
import { DialogModule } from '../../../host/modules/dialog/index.js';
import { startNode, type SiphonNode } from '../../../host/server/app.js';
import { moduleSchemas } from '../../../host/server/modules.js';
import type { RpcValue } from '../../../host/rpc/types.js';
import { freePort } from '../../helpers/ports.js';
import { shardOfCallId } from '../../../host/shards/steer.js';
import { Phone, parseSip, type SipText } from '../../e2e/pbx-phone.js';

export const ROOT = path.resolve(import.meta.dirname, '../../..');
export const PBX = path.join(ROOT, 'plugins/pbx/build/pbx.wasm');

export interface DialogNode {
  node: SiphonNode;
  port: number;
  dir: string;
  dialog: DialogModule;
  rpc(name: string, ...params: RpcValue[]): Promise<RpcValue>;
  stop(): Promise<void>;
}

/** starts a node; `dialog` are the lines of `modules.dialog`, `pbx` the plugin config (JSON). */
export async function dialogNode(o: { dialog: string[]; pbx?: string; core?: string[]; port?: number; dir?: string; ctl?: string; plugin?: string }): Promise<DialogNode> {
  const port = o.port ?? (await freePort('udp'));
  const dir = o.dir ?? mkdtempSync(path.join(tmpdir(), 'siphon-dlg-'));
  const yaml = [
    'core:',
    `  listen: [udp:127.0.0.1:${port}]`,
    `  ctl: [${o.ctl ? JSON.stringify(`unix:${o.ctl}`) : ''}]`,
    '  warmup: 0',
    `  data_dir: ${JSON.stringify(dir)}`,
    '  tm: { fr_timer: 2000, fr_inv_timer: 20000, wt_timer: 500 }',
    ...(o.core ?? []).map((l) => `  ${l}`),
    'modules:',
    '  registrar: { db_mode: 0, min_expires: 10 }',
    '  dialog:',
    ...o.dialog.map((l) => `    ${l}`),
    'routing:',
    `  plugin: ${JSON.stringify(o.plugin ?? PBX)}`,
    `  plugin_dirs: [${JSON.stringify(path.join(ROOT, 'plugins'))}]`,
    `  config: ${o.pbx ?? '{}'}`,
  ].join('\n');
  const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
  const node = await startNode(config, createLogger({ level: 'error', destination: { write: () => {} } }), { controlPlane: o.ctl !== undefined });
  const dialog = node.modules.find((m): m is DialogModule => m instanceof DialogModule)!;
  return {
    node, port, dir, dialog,
    rpc: (name, ...params) => node.rpc.call(name, params),
    stop: async () => {
      await node.stop();
      if (o.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const isInvite = (m: SipText): boolean => m.method === 'INVITE';
export const isBye = (m: SipText): boolean => m.method === 'BYE';

/** an established call: what the caller needs to ACK / BYE and the callee to BYE. */
export interface Call {
  callId: string;
  fromTag: string;
  toTag: string;
  /** the Record-Route values of the 200 (the caller's route set reversed: RFC 3261 §12.1.2). */
  rr: string[];
  calleeContact: string;
  final: SipText;
}

let cseq = 10;

/** Phone.invite with a chosen Call-ID (a test steering calls to a shard). */
export function inviteWithCallId(caller: Phone, to: string, callId: string, port: number, extra: string[] = []): { callId: string; branch: string; text: string; fromTag: string } {
  const id = `${process.pid}-${++branch}`;
  const b = `z9hG4bK-inv-${id}`;
  const fromTag = `f${id}`;
  const text =
    `INVITE sip:${to}@127.0.0.1:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=${b};rport\r\n` +
    `Max-Forwards: 70\r\nFrom: <sip:${caller.user}@127.0.0.1>;tag=${fromTag}\r\nTo: <sip:${to}@127.0.0.1>\r\n` +
    `Call-ID: ${callId}\r\nCSeq: 1 INVITE\r\nContact: <${caller.contact}>\r\n${extra.map((l) => `${l}\r\n`).join('')}Content-Length: 0\r\n\r\n`;
  caller.send(text);
  return { callId, branch: b, text, fromTag };
}

/** INVITE from `caller` to extension `to` through the node; the callee answers `code` (200 sets the call up, ACKed). */
export async function call(caller: Phone, callee: Phone | null, to: string, code = 200, o: { callId?: string; port?: number; extra?: string[] } = {}): Promise<Call> {
  const inv = o.callId !== undefined ? inviteWithCallId(caller, to, o.callId, o.port!, o.extra) : caller.invite(to);
  if (callee !== null) {
    const got = await callee.next((m) => isInvite(m) && m.header('Call-ID') === inv.callId);
    if (got === null) throw new Error(`callee ${callee.user} got no INVITE`);
    callee.reply(got, 180, 'Ringing');
    callee.reply(got, code, code === 200 ? 'OK' : 'Busy Here');
  }
  const final = await caller.next((m) => m.status >= 200 && m.header('Call-ID') === inv.callId, 6000);
  if (final === null) throw new Error(`no final reply to ${inv.callId}`);
  const toTag = /;tag=([^;>\s]+)/.exec(final.header('To') ?? '')?.[1] ?? '';
  const rr = final.headers('Record-Route');
  const calleeContact = /<([^>]+)>/.exec(final.header('Contact') ?? '')?.[1] ?? '';
  const c: Call = { callId: inv.callId, fromTag: inv.fromTag, toTag, rr, calleeContact, final };
  if (final.status === 200) inDialog(caller, c, 'ACK', 1);
  else if (final.status >= 300) ackNon2xx(caller, inv, final);
  return c;
}

function ackNon2xx(caller: Phone, inv: { callId: string; branch: string; text: string; fromTag: string }, final: SipText): void {
  const ruri = inv.text.split(' ')[1];
  caller.send(
    `ACK ${ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=${inv.branch};rport\r\nMax-Forwards: 70\r\n` +
      `From: <sip:${caller.user}@127.0.0.1>;tag=${inv.fromTag}\r\nTo: ${final.header('To')}\r\nCall-ID: ${inv.callId}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n`,
  );
}

let branch = 0;

/** a request of the caller inside the call (ACK of the 2xx, BYE): R-URI the callee's Contact, Route the 200's Record-Route reversed. */
export function inDialog(caller: Phone, c: Call, method: string, seq: number, extra: string[] = []): void {
  const routes = [...c.rr].reverse();
  caller.send(
    [
      `${method} ${c.calleeContact} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-dlg-${process.pid}-${++branch};rport`,
      'Max-Forwards: 70',
      ...routes.map((r) => `Route: ${r}`),
      `From: <sip:${caller.user}@127.0.0.1>;tag=${c.fromTag}`,
      `To: ${c.final.header('To')}`,
      `Call-ID: ${c.callId}`,
      `CSeq: ${seq} ${method}`,
      ...extra,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

/** the caller hangs up: BYE, its 200 (the callee answers the BYE it receives). */
export async function hangUp(caller: Phone, callee: Phone, c: Call): Promise<number> {
  inDialog(caller, c, 'BYE', 2 + cseq++);
  const bye = await callee.next((m) => isBye(m) && m.header('Call-ID') === c.callId);
  if (bye === null) throw new Error('callee got no BYE');
  callee.reply(bye, 200, 'OK');
  const ok = await caller.next((m) => m.status >= 200 && m.header('Call-ID') === c.callId && /BYE/.test(m.header('CSeq') ?? ''));
  return ok?.status ?? 0;
}

/** answers a BYE the node sent (a timeout or dlg_bye) with 200. */
export function answerBye(p: Phone, bye: SipText): void {
  p.reply(bye, 200, 'OK');
}

export { Phone, parseSip };

/** the dialog records of a dlg.list answer. */
export function records(v: RpcValue): Array<Record<string, RpcValue>> {
  return (Array.isArray(v) ? v : [v]).filter((x): x is Record<string, RpcValue> => x !== null && typeof x === 'object' && !Array.isArray(x));
}

/** waits (bounded, no sleep) until `cond` holds. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The node's dialog statistics, summed over its shards (stats.get_statistics dialog:): the tests
 * hold with SIPHON_WORKERS=2 too.
 */
export async function stats(n: DialogNode): Promise<Record<string, number>> {
  const lines = (await n.rpc('stats.get_statistics', 'dialog:')) as string[];
  const out: Record<string, number> = {};
  for (const l of lines) {
    const m = /^dialog:(\w+) = (-?\d+)$/.exec(l);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

let steered = 0;
/** a Call-ID the node steers to shard 0, whose module the test reads in-process (events, the table). */
export function shard0CallId(n: DialogNode, tag: string): string {
  const count = n.node.config.core.workers ?? 1;
  for (;;) {
    const id = `dlg-${tag}-${process.pid}-${++steered}`;
    if (shardOfCallId(id, count) === 0) return id;
  }
}

export function tmpDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'siphon-dlg-'));
}
