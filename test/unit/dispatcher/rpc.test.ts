import { describe, expect, it } from 'vitest';
import { dispatcherRpcMethods } from '../../../host/modules/dispatcher/rpc.js';
import { RpcFault, type RpcValue } from '../../../host/rpc/types.js';
import { DsTargetList } from '../../../host/modules/dispatcher/failover.js';
import { SetOp } from '../../../host/modules/dispatcher/dispatcher.js';
import { KAMAILIO_HASH_TABLE } from './kamailio-hash-table.js';
import { dispatcherFrom, request, target } from './helpers.js';

const LIST = '1 sip:127.0.0.1:18101 0 0 duid=a\n1 sip:127.0.0.1:18102 0 0 duid=b\n1 sip:127.0.0.1:18103 0 5 weight=50\n2 sip:127.0.0.1:18104 8 10\n';

async function rpc(cfg: Record<string, unknown> = {}, text = LIST) {
  const { ds, src } = await dispatcherFrom(text, cfg);
  const methods = new Map(dispatcherRpcMethods(ds).map((m) => [m.name, m]));
  const call = async (name: string, ...params: RpcValue[]) => methods.get(name)!.handler(params);
  return { ds, src, call };
}

async function fault(p: Promise<unknown>): Promise<[number, string]> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RpcFault) return [e.faultCode, e.message];
    throw e;
  }
  throw new Error('no fault');
}

describe('dispatcher RPC', () => {
  it('dispatcher.list has Kamailio\'s structure', async () => {
    const { call } = await rpc({ ds_ping_latency_stats: 1, ds_hash_size: 2 });
    const out = (await call('dispatcher.list')) as any;
    expect(out.NRSETS).toBe(2);
    // Kamailio's AVL post-order: with sets 1 and 2, set 2 comes first
    expect(out.RECORDS.map((r: any) => r.SET.ID)).toEqual([2, 1]);
    const t = out.RECORDS[1].SET.TARGETS;
    expect(t.map((x: any) => x.DEST.URI)).toEqual(['sip:127.0.0.1:18103', 'sip:127.0.0.1:18102', 'sip:127.0.0.1:18101']);
    expect(t[0].DEST).toMatchObject({
      IDX: 0,
      FLAGS: 'AX',
      PRIORITY: 5,
      ATTRS: { BODY: 'weight=50', DUID: null, MAXLOAD: 0, WEIGHT: 50, RWEIGHT: 0, SOCKET: null, SOCKNAME: null, OBPROXY: null },
      LATENCY: { AVG: 0, STD: 0, EST: 0, MAX: 0, TIMEOUT: 0 },
      RUNTIME: { DLGLOAD: 0 },
    });
    const set2 = out.RECORDS[0].SET.TARGETS[0].DEST;
    expect(set2.FLAGS).toBe('AP');
    expect(set2.ATTRS).toBeUndefined();
    const short = (await call('dispatcher.list', 'short')) as any;
    expect(short.RECORDS[1].SET.TARGETS[0].DEST.ATTRS).toBeUndefined();
    const full = (await call('dispatcher.list', 'full')) as any;
    expect(full.RECORDS[0].SET.TARGETS[0].DEST).toMatchObject({ HOST: '127.0.0.1', IPADDR: '127.0.0.1', PORT: 18104, PROTOID: 1 });
  });

  it('dispatcher.list faults with 500 No Destination Sets when empty', async () => {
    const { call } = await rpc({}, '# nothing\n');
    expect(await fault(call('dispatcher.list'))).toEqual([500, 'No Destination Sets']);
  });

  it('dispatcher.set_state dx takes a target out of rotation at once; a/all brings them back', async () => {
    const { ds, call } = await rpc();
    expect(await call('dispatcher.set_state', 'dx', 1, 'sip:127.0.0.1:18103')).toBe('Ok. Dispatcher state updated.');
    const list = new DsTargetList();
    const seen = new Set(Array.from({ length: 9 }, () => {
      const t = target();
      ds.select(request(), t, list, 1, 4, 0, SetOp.DST_URI);
      return t.dstUri;
    }));
    expect(seen).toEqual(new Set(['sip:127.0.0.1:18102', 'sip:127.0.0.1:18101']));
    expect(((await call('dispatcher.list')) as any).RECORDS[1].SET.TARGETS[0].DEST.FLAGS).toBe('DX');
    await call('dispatcher.set_state', 'ip', 1, 'all');
    expect(((await call('dispatcher.list')) as any).RECORDS[1].SET.TARGETS.map((x: any) => x.DEST.FLAGS)).toEqual(['IP', 'IP', 'IP']);
    await call('dispatcher.set_duid_state', 'a', 1, 'b');
    expect(((await call('dispatcher.list')) as any).RECORDS[1].SET.TARGETS[1].DEST.FLAGS).toBe('AX');
    expect(await fault(call('dispatcher.set_state', 'q', 1, 'x'))).toEqual([500, 'Unknown State Value']);
    expect(await fault(call('dispatcher.set_state', 'a', 1, 'sip:nowhere'))).toEqual([500, 'State Update Failed']);
    expect(await fault(call('dispatcher.set_state', 'a'))).toEqual([500, 'Invalid Parameters']);
  });

  it('dispatcher.hash answers as Kamailio does', async () => {
    const { call } = await rpc();
    for (const r of KAMAILIO_HASH_TABLE) {
      const params: RpcValue[] = [r.nslots, r.val1, ...(r.val2 !== undefined ? [r.val2] : [])];
      expect(await call('dispatcher.hash', ...params)).toEqual({ hashid: r.hashid, slot: r.slot });
    }
    expect(await fault(call('dispatcher.hash', 3))).toEqual([500, 'Invalid Parameters']);
  });

  it('dispatcher.ping_active reports and switches keepalives', async () => {
    const { ds, call } = await rpc();
    expect(await call('dispatcher.ping_active')).toEqual({ OldPingState: 1 });
    expect(await call('dispatcher.ping_active', 0)).toEqual({ NewPingState: 0, OldPingState: 1 });
    expect(ds.pingActive).toBe(0);
  });

  it('dispatcher.add / remove change sets in memory and keep states; reload restores the source', async () => {
    const { ds, call } = await rpc();
    await call('dispatcher.set_state', 'i', 1, 'sip:127.0.0.1:18101');
    expect(await call('dispatcher.add', 1, 'sip:127.0.0.1:18109', 0, 7, 'duid=new')).toBe('Ok. Dispatcher destination added.');
    expect(ds.sets.get(1)!.dests.map((d) => d.uri.slice(-5))).toEqual(['18109', '18103', '18102', '18101']);
    expect(ds.sets.get(1)!.dests[3]!.flags).toBe(1);
    await call('dispatcher.add', 7, 'sip:127.0.0.1:18110');
    expect(ds.listExists(7)).toBe(1);
    expect(await call('dispatcher.remove', 1, 'sip:127.0.0.1:18102')).toBe('Ok. Dispatcher destination removed.');
    expect(ds.sets.get(1)!.dests).toHaveLength(3);
    expect(await fault(call('dispatcher.remove', 1, 'sip:127.0.0.1:18102'))).toEqual([500, 'Removing dispatcher dst failed']);
    expect(await fault(call('dispatcher.add', 1, 'sip:'))).toEqual([500, 'Adding dispatcher dst failed']);
    expect(await call('dispatcher.reload')).toBe('Ok. Dispatcher successfully reloaded.');
    expect(ds.sets.get(1)!.dests.map((d) => d.uri.slice(-5))).toEqual(['18103', '18102', '18101']);
    expect(ds.listExists(7)).toBe(-1);
  });

  it('a failed reload keeps the running sets; reload_delta refuses quick reloads', async () => {
    const { ds, src, call } = await rpc();
    const before = ds.sets;
    src.text = '1 sip:127.0.0.1:18101\nbroken line\n';
    expect(await fault(call('dispatcher.reload'))).toEqual([500, 'Reload Failed']);
    expect(ds.sets).toBe(before);
    const r = await rpc({ reload_delta: 60 });
    await r.call('dispatcher.reload').catch(() => undefined);
    expect(await fault(r.call('dispatcher.reload'))).toEqual([500, 'Ongoing reload']);
  });

  it('ds_retain_latency_stats keeps latency of unchanged targets across a reload', async () => {
    const { ds, src } = await dispatcherFrom('1 sip:127.0.0.1:18101\n1 sip:127.0.0.1:18102', { ds_ping_latency_stats: 1, ds_retain_latency_stats: 1 });
    ds.sets.get(1)!.dests[0]!.latency.add(42, 0.1);
    src.text = '1 sip:127.0.0.1:18101\n1 sip:127.0.0.1:18102\n1 sip:127.0.0.1:18103';
    await ds.reload();
    const s = ds.sets.get(1)!;
    expect(s.dests[s.indexOfUri('sip:127.0.0.1:18102')]!.latency.average).toBe(42);
    const { ds: ds2, src: src2 } = await dispatcherFrom('1 sip:127.0.0.1:18101', { ds_ping_latency_stats: 1 });
    ds2.sets.get(1)!.dests[0]!.latency.add(42, 0.1);
    await ds2.reload();
    expect(ds2.sets.get(1)!.dests[0]!.latency.count).toBe(0);
    void src2;
  });
});
