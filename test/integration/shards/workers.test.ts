/**
 * core.workers: 2 (host/shards/): the main thread steers by Call-ID to itself (shard 0) and to a
 * worker thread; stateful calls complete through either shard (the responses meet their client
 * transactions because they carry the request's Call-ID), replies leave from the listening socket,
 * statistics sum over the shards, plugin.* runs in every shard, and stopping ends the thread.
 * Real UDP sockets on 127.0.0.1 (ports from freePorts()).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../../helpers/ports.js';
import { TinyUas } from '../dispatcher/uas.js';
import { buildPlugins, SipClient, startTestNode, type TestNode } from '../modules/helpers.js';
import type { RpcValue } from '../../../host/rpc/types.js';

describe('core.workers: 2', () => {
  let t: TestNode;
  let uas: TinyUas;
  let client: SipClient;
  let dir: string;
  let NODE = 0;

  beforeAll(async () => {
    await buildPlugins();
    let UAS: number;
    [NODE, UAS] = (await freePorts(2)) as [number, number];
    dir = mkdtempSync(path.join(os.tmpdir(), 'siphon-shards-'));
    const list = path.join(dir, 'dispatcher.list');
    writeFileSync(list, `1 sip:127.0.0.1:${UAS}\n`);
    uas = new TinyUas(UAS);
    await uas.start();
    t = await startTestNode(
      NODE,
      [
        '  workers: 2',
        '  warmup: 0',
        `  data_dir: ${JSON.stringify(dir)}`,
        'modules:',
        '  dispatcher:',
        `    list_file: ${JSON.stringify(list)}`,
        '    ds_ping_interval: 0',
        'routing:',
        '  plugin: lb',
      ].join('\n'),
    );
    client = await SipClient.open(0);
  }, 180_000);

  afterAll(async () => {
    await client?.close();
    await t?.node.stop();
    await uas?.stop?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const stat = async (group: string): Promise<Record<string, number>> => {
    const out = (await t.node.rpc.call('stats.get_statistics', [`${group}:`])) as RpcValue[];
    const s: Record<string, number> = {};
    for (const line of out as string[]) {
      const m = /^[^:]+:([^ ]+) = (-?\d+)$/.exec(line);
      if (m) s[m[1]!] = Number(m[2]);
    }
    return s;
  };

  it('relays calls statefully through both shards; every final reply comes back', async () => {
    expect(t.node.shards).not.toBeNull();
    expect(t.node.shards!.count).toBe(2);
    const n = 40;
    const replies = await Promise.all(Array.from({ length: n }, () => client.request(NODE, { method: 'INVITE', ruri: `sip:bob@127.0.0.1:${NODE}` }, 5000)));
    expect(replies.map((r) => r?.status)).toEqual(new Array(n).fill(200));
    // both shards took part (40 distinct Call-IDs: the chance that one shard got none is 2^-39)
    expect(t.node.shards!.steered[0]).toBeGreaterThan(0);
    expect(t.node.shards!.steered[1]).toBeGreaterThan(0);
    // the statistics groups add the worker's counters to shard 0's
    const core = await stat('core');
    expect(core.relayed).toBeGreaterThanOrEqual(n);
    expect(core.received).toBe(t.node.shards!.steered[0]! + t.node.shards!.steered[1]!);
    const shards = await stat('shards');
    expect(shards.workers).toBe(2);
    expect(shards.steered_1).toBe(t.node.shards!.steered[1]);
    // /metrics counts every shard's requests too
    const text = await t.node.metrics.text();
    const invites = Number(/siphon_sip_requests_total\{direction="in",method="INVITE"[^}]*\} (\d+)/.exec(text)?.[1]);
    expect(invites).toBe(core.requests);
    expect(Number(/siphon_sip_transactions_total\{kind="server"[^}]*\} (\d+)/.exec(text)?.[1])).toBeGreaterThanOrEqual(n);
  });

  it('answers from the listening socket (RFC 3581 §4), whichever shard handled the request', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const from = new Set<number>();
    const got = new Promise<void>((resolve) => {
      let finals = 0;
      sock.on('message', (m, rinfo) => {
        from.add(rinfo.port);
        if (/^SIP\/2\.0 [2-6]/.test(m.toString())) if (++finals === 10) resolve();
      });
    });
    const port = sock.address().port;
    for (let i = 0; i < 10; i++) {
      const text = `INVITE sip:bob@127.0.0.1:${NODE} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-sock-${i}\r\nMax-Forwards: 70\r\nFrom: <sip:a@x>;tag=${i}\r\nTo: <sip:bob@x>\r\nCall-ID: sock-${i}-${process.pid}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n`;
      sock.send(text, NODE, '127.0.0.1');
    }
    await got;
    sock.close();
    expect([...from]).toEqual([NODE]);
  });

  it('plugin.list and plugin.stats count every shard\'s calls (the node\'s figures, not shard 0\'s)', async () => {
    const plugin = await stat('plugin');
    const own = t.node.plugin.stats.calls; // shard 0's instance alone
    const rows = (await t.node.rpc.call('plugin.list', [])) as Array<{ [k: string]: RpcValue }>;
    const current = rows.filter((r) => r.state === 'current');
    expect(current).toHaveLength(1);
    expect(current[0]!.calls).toBe(plugin.calls);
    expect(current[0]!.calls as number).toBeGreaterThan(own);
    expect(current[0]!.gas_used).toBe(plugin.gasUsedTotal);
    expect(current[0]!.gas_avg).toBe(Math.round(plugin.gasUsedTotal! / plugin.calls!));
    expect(current[0]!.hook_samples as number).toBeGreaterThan(0);
    const slot = (await t.node.rpc.call('plugin.stats', ['lb'])) as { [k: string]: RpcValue };
    const versions = slot.versions as Array<{ [k: string]: RpcValue }>;
    expect(versions.find((v) => v.state === 'current')!.calls).toBe(plugin.calls);
    const all = (await t.node.rpc.call('plugin.stats', [])) as Array<{ [k: string]: RpcValue }>;
    expect(all).toHaveLength(1);
    expect((all[0]!.versions as Array<{ [k: string]: RpcValue }>).find((v) => v.state === 'current')!.calls).toBe(plugin.calls);
  });

  it('runs plugin.reload in every shard', async () => {
    await t.node.rpc.call('plugin.reload', []);
    const r = await client.request(NODE, { method: 'INVITE', ruri: `sip:bob@127.0.0.1:${NODE}` }, 5000);
    expect(r?.status).toBe(200);
    const logs = t.logs.filter((l) => l.includes('plugin version active'));
    // shard 0 and the worker each loaded it twice (start + reload)
    expect(logs.filter((l) => l.includes('"shard":1')).length).toBe(2);
    expect(logs.filter((l) => !l.includes('"shard"')).length).toBe(2);
  });
});
