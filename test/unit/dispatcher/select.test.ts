import { describe, expect, it } from 'vitest';
import { DsTargetList } from '../../../host/modules/dispatcher/failover.js';
import { SetOp } from '../../../host/modules/dispatcher/dispatcher.js';
import { dsHash, dsHashUri } from '../../../host/modules/dispatcher/hash.js';
import { DsFlag } from '../../../host/modules/dispatcher/destination.js';
import { dispatcherFrom, request, target } from './helpers.js';

const FOUR = ['1 sip:127.0.0.1:18101', '1 sip:127.0.0.1:18102', '1 sip:127.0.0.1:18103', '1 sip:127.0.0.1:18104'].join('\n');
// index order after load: 18104, 18103, 18102, 18101 (equal priorities reversed)

function counts(n: number, pick: () => string): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const u = pick();
    m.set(u, (m.get(u) ?? 0) + 1);
  }
  return m;
}

describe('ds_select_dst algorithms', () => {
  it('round-robin (4) spreads evenly and walks the index order', async () => {
    const { ds } = await dispatcherFrom(FOUR);
    const list = new DsTargetList();
    const seq: string[] = [];
    let failures = 0;
    const c = counts(40000, () => {
      const t = target();
      if (ds.select(request(), t, list, 1, 4, 0, SetOp.DST_URI) !== 1) failures++;
      if (seq.length < 5) seq.push(t.dstUri!);
      return t.dstUri!;
    });
    expect(seq).toEqual(['sip:127.0.0.1:18104', 'sip:127.0.0.1:18103', 'sip:127.0.0.1:18102', 'sip:127.0.0.1:18101', 'sip:127.0.0.1:18104']);
    expect(failures).toBe(0);
    expect([...c.values()]).toEqual([10000, 10000, 10000, 10000]);
  });

  it('round-robin skips an inactive target and resumes after the one used', async () => {
    const { ds } = await dispatcherFrom(FOUR);
    ds.setState(DsFlag.INACTIVE, 1, 'sip:127.0.0.1:18103');
    const list = new DsTargetList();
    const seq = Array.from({ length: 6 }, () => {
      const t = target();
      ds.select(request(), t, list, 1, 4, 0, SetOp.DST_URI);
      return t.dstUri!.slice(-5);
    });
    expect(seq).toEqual(['18104', '18102', '18101', '18104', '18102', '18101']);
  });

  it('weight (9) gives 80/20 within 2 % over 100k selections', async () => {
    const { ds } = await dispatcherFrom('1 sip:127.0.0.1:18101 0 0 weight=80\n1 sip:127.0.0.1:18102 0 0 weight=20');
    const list = new DsTargetList();
    const c = counts(100000, () => {
      const t = target();
      ds.select(request(), t, list, 1, 9, 0, SetOp.DST_URI);
      return t.dstUri!;
    });
    // index 0 is 18102 (reverse order) with weight 20
    expect(Math.abs(c.get('sip:127.0.0.1:18102')! / 100000 - 0.2)).toBeLessThan(0.02);
    expect(Math.abs(c.get('sip:127.0.0.1:18101')! / 100000 - 0.8)).toBeLessThan(0.02);
  });

  it('relative weight (11) follows rweight and rebuilds when a target goes down', async () => {
    const { ds } = await dispatcherFrom('1 sip:127.0.0.1:18101 0 0 rweight=75\n1 sip:127.0.0.1:18102 0 0 rweight=25\n1 sip:127.0.0.1:18103 0 0 rweight=50');
    const list = new DsTargetList();
    const pick = () => {
      const t = target();
      ds.select(request(), t, list, 1, 11, 0, SetOp.DST_URI);
      return t.dstUri!.slice(-5);
    };
    const c = counts(1000, pick);
    expect([c.get('18101'), c.get('18102'), c.get('18103')]).toEqual([510, 160, 330]); // index order 18103,18102,18101: 33, 16, 50 slots, the 1 left over to the last filled (18101)
    ds.markAddr(DsFlag.INACTIVE, 1, 'sip:127.0.0.1:18101');
    const c2 = counts(1000, pick);
    expect([c2.get('18101'), c2.get('18102'), c2.get('18103')]).toEqual([undefined, 340, 660]); // 66 + 33, the rest to 18102
  });

  it('hash algorithms (0-3, 5, 7) pick slot hash % n, stable per key, equal to Kamailio\'s hash', async () => {
    const { ds } = await dispatcherFrom(FOUR, { hash_pvar: '$fU' });
    const uris = ds.sets.get(1)!.dests.map((d) => d.uri);
    const list = new DsTargetList();
    for (let i = 0; i < 200; i++) {
      const callId = `c${i}-${i * 7919}@host`;
      const msg = request({ callId, fromUri: `sip:user${i}@example.com`, toUri: `<sip:to${i}@example.net:5070>`, requestUri: `sip:r${i}@10.0.0.1`, auth: `u${i}`, pv: `pv${i}` });
      const expectFor = (alg: number): string => {
        const h =
          alg === 0 ? dsHash(callId) : alg === 1 ? dsHashUri(msg.fromUri!, false)! : alg === 2 ? dsHashUri(msg.toUri!, false)! : alg === 3 ? dsHashUri(msg.requestUri, false)! : alg === 5 ? dsHash(`u${i}`) : dsHash(`pv${i}`);
        return uris[h % 4]!;
      };
      for (const alg of [0, 1, 2, 3, 5, 7]) {
        const t1 = target();
        const t2 = target();
        ds.select(msg, t1, list, 1, alg, 0, SetOp.DST_URI);
        ds.select(msg, t2, list, 1, alg, 0, SetOp.DST_URI);
        expect(t1.dstUri).toBe(expectFor(alg));
        expect(t2.dstUri).toBe(t1.dstUri);
      }
    }
    // alg 7 without a value fails; alg 5 without credentials falls back to round-robin
    expect(ds.select(request(), target(), list, 1, 7, 0, SetOp.DST_URI)).toBe(-1);
    expect(ds.select(request(), target(), list, 1, 5, 0, SetOp.DST_URI)).toBe(1);
  });

  it('alg 5 hashes the user part of a digest username user@domain, as Kamailio (test/oracle/dispatcher.test.ts)', async () => {
    const { ds } = await dispatcherFrom(FOUR);
    const uris = ds.sets.get(1)!.dests.map((d) => d.uri);
    for (const user of ['frank', '1002', '+4930123', 'carol']) {
      const t = target();
      ds.select(request({ auth: `${user}@example.com` }), t, new DsTargetList(), 1, 5, 0, SetOp.DST_URI);
      expect(t.dstUri).toBe(uris[dsHash(user) % 4]);
    }
  });

  it('a hashed pick on an inactive target walks to the next usable one', async () => {
    const { ds } = await dispatcherFrom(FOUR);
    const callId = 'walk@test';
    const slot = dsHash(callId) % 4;
    const uris = ds.sets.get(1)!.dests.map((d) => d.uri);
    ds.setState(DsFlag.DISABLED, 1, uris[slot]!);
    const t = target();
    ds.select(request({ callId }), t, new DsTargetList(), 1, 0, 0, SetOp.DST_URI);
    expect(t.dstUri).toBe(uris[(slot + 1) % 4]);
  });

  it('failover list: chosen, then after, then before; limit; ds_next_dst and ds_mark_dst', async () => {
    const { ds } = await dispatcherFrom(FOUR, { flags: 2 });
    const list = new DsTargetList();
    const t = target();
    ds.select(request(), t, list, 1, 4, 0, SetOp.DST_URI); // 18104
    ds.select(request(), t, list, 1, 4, 0, SetOp.DST_URI); // 18103
    expect(list.all().map((x) => x.uri.slice(-5))).toEqual(['18103', '18102', '18101', '18104']);
    expect(list.cnt).toBe(4);
    expect(ds.markDst(list)).toBe(1); // default: inactive
    expect(ds.sets.get(1)!.dests[1]!.flags & DsFlag.INACTIVE).toBe(DsFlag.INACTIVE);
    expect(ds.next(t, list, SetOp.DST_URI)).toBe(1);
    expect(t.dstUri).toBe('sip:127.0.0.1:18102');
    expect(ds.next(t, list, SetOp.DST_URI)).toBe(1);
    expect(ds.next(t, list, SetOp.DST_URI)).toBe(1);
    expect(t.dstUri).toBe('sip:127.0.0.1:18104');
    expect(ds.next(t, list, SetOp.DST_URI)).toBe(-1);
    // limit 2: chosen + one failover; the inactive 18103 is left out
    ds.select(request(), t, list, 1, 8, 2, SetOp.DST_URI);
    expect(list.all().map((x) => x.uri.slice(-5))).toEqual(['18104', '18102']);
  });

  it('without failover (flags bit 2 off) ds_next_dst and ds_mark_dst return -1, as in Kamailio', async () => {
    const { ds } = await dispatcherFrom(FOUR);
    const list = new DsTargetList();
    const t = target();
    ds.select(request(), t, list, 1, 4, 0, SetOp.DST_URI);
    expect(list.length).toBe(0);
    expect(ds.next(t, list, SetOp.DST_URI)).toBe(-1);
    expect(ds.markDst(list)).toBe(-1);
  });

  it('use_default keeps the last entry out of rotation and uses it when all others fail', async () => {
    const { ds } = await dispatcherFrom('1 sip:127.0.0.1:18101 0 0\n1 sip:127.0.0.1:18102 0 5\n1 sip:127.0.0.1:18103 0 10', { use_default: 1, flags: 2 });
    // order: 18103 (10), 18102 (5), 18101 (0) = default
    const list = new DsTargetList();
    const seq = Array.from({ length: 4 }, () => {
      const t = target();
      ds.select(request(), t, list, 1, 4, 0, SetOp.DST_URI);
      return t.dstUri!.slice(-5);
    });
    expect(seq).toEqual(['18103', '18102', '18103', '18102']);
    expect(list.all().map((x) => x.uri.slice(-5))).toEqual(['18102', '18103', '18101']);
    ds.setState(DsFlag.INACTIVE, 1, 'sip:127.0.0.1:18103');
    ds.setState(DsFlag.INACTIVE, 1, 'sip:127.0.0.1:18102');
    const t = target();
    expect(ds.select(request(), t, list, 1, 4, 0, SetOp.DST_URI)).toBe(1);
    expect(t.dstUri).toBe('sip:127.0.0.1:18101');
    ds.setState(DsFlag.DISABLED, 1, 'sip:127.0.0.1:18101');
    expect(ds.select(request(), t, list, 1, 4, 0, SetOp.DST_URI)).toBe(-1);
  });

  it('serial (8), rr-or-serial (14), priority+weight (15)', async () => {
    const { ds } = await dispatcherFrom('1 sip:127.0.0.1:18101 0 1\n1 sip:127.0.0.1:18102 0 2\n2 sip:127.0.0.1:18103 0 3\n2 sip:127.0.0.1:18104 0 3');
    const list = new DsTargetList();
    const pick = (set: number, alg: number) => {
      const t = target();
      ds.select(request(), t, list, set, alg, 0, SetOp.DST_URI);
      return t.dstUri!.slice(-5);
    };
    expect([pick(1, 8), pick(1, 8)]).toEqual(['18102', '18102']);
    expect([pick(1, 14), pick(1, 14)]).toEqual(['18102', '18102']); // priorities differ: serial
    expect([pick(2, 14), pick(2, 14), pick(2, 14)]).toEqual(['18104', '18103', '18104']); // same priority > 0: round-robin
    // alg 15: lowest priority value wins (SRV convention), next level when it is down
    expect(new Set(Array.from({ length: 50 }, () => pick(1, 15)))).toEqual(new Set(['18101']));
    ds.markAddr(DsFlag.INACTIVE, 1, 'sip:127.0.0.1:18101');
    expect(new Set(Array.from({ length: 50 }, () => pick(1, 15)))).toEqual(new Set(['18102']));
  });

  it('call load (10) picks the least loaded duid, honours maxload, and load_update/unset release it', async () => {
    const { ds } = await dispatcherFrom('1 sip:127.0.0.1:18101 0 0 duid=a;maxload=2\n1 sip:127.0.0.1:18102 0 0 duid=b;maxload=1', { ds_hash_size: 4, flags: 2 });
    const list = new DsTargetList();
    const pick = (callId: string, method = 'INVITE') => {
      const t = target();
      const rc = ds.select(request({ callId, method }), t, list, 1, 10, 0, SetOp.DST_URI);
      return rc < 0 ? null : t.dstUri!.slice(-5);
    };
    expect(pick('c1')).toBe('18102'); // index 0, load 0
    expect(list.current()!.dstid).toBe('b');
    expect(pick('c2')).toBe('18101');
    expect(pick('c3')).toBe('18101');
    expect(pick('c4')).toBeNull(); // everyone at maxload
    expect(pick('x', 'OPTIONS')).toBe('18102'); // non-INVITE: first entry, no load
    expect(ds.loadUpdate({ kind: 'response', method: 'INVITE', callId: 'c1', status: 200, cseqMethod: 'INVITE' })).toBe(1);
    expect(ds.callLoad!.get('c1')!.confirmed).toBe(true);
    expect(ds.loadUpdate({ kind: 'request', method: 'BYE', callId: 'c1' })).toBe(1);
    expect(ds.loadUnset('c2')).toBe(1);
    expect(ds.loadUnset('c2')).toBe(-1);
    expect(ds.sets.get(1)!.dests.map((d) => d.load)).toEqual([0, 1]);
    expect(pick('c5')).toBe('18102');
  });

  it('latency optimised (13) prefers the adjusted best priority', async () => {
    const { ds } = await dispatcherFrom('1 sip:127.0.0.1:18101 0 10 latency=200\n1 sip:127.0.0.1:18102 0 10 latency=20', { flags: 2 });
    const list = new DsTargetList();
    const t = target();
    ds.select(request(), t, list, 1, 13, 0, SetOp.DST_URI);
    // 18101: 10 - 200/10 → floor 1; 18102: 10 - 20/10 = 8
    expect(t.dstUri).toBe('sip:127.0.0.1:18102');
    expect(list.all().map((x) => x.uri.slice(-5))).toEqual(['18102', '18101']);
  });

  it('force_dst=0 refuses to overwrite a set $du; ds_select_domain rewrites host:port of the R-URI', async () => {
    const { ds } = await dispatcherFrom('1 sip:127.0.0.1:18101;transport=udp', { force_dst: 0 });
    const list = new DsTargetList();
    expect(ds.select(request(), target('sip:already@set'), list, 1, 4, 0, SetOp.DST_URI)).toBe(-1);
    const t = target(null, 'sip:bob@example.com:5080;user=phone');
    expect(ds.select(request(), t, list, 1, 4, 0, SetOp.RURI)).toBe(1);
    expect(t.requestUri).toBe('sip:bob@127.0.0.1:18101;transport=udp');
    expect(ds.select(request(), target(), list, 9, 4, 0, SetOp.DST_URI)).toBe(-1);
  });

  it('ds_list_exists, ds_is_active and ds_is_from_list', async () => {
    const { ds } = await dispatcherFrom('1 sip:127.0.0.1:18101 0 0 duid=x\n2 sip:127.0.0.2\n3 sip:127.0.0.3:18103;transport=tcp');
    expect([ds.listExists(1), ds.listExists(4)]).toEqual([1, -1]);
    expect(ds.isActive(1)).toBe(1);
    ds.setState(DsFlag.INACTIVE, 1, 'all');
    expect(ds.isActive(1)).toBe(-1);
    const src = (address: string, port: number, proto = 'udp') => ({ address, port, proto });
    expect(ds.isFromList(1, 2, src('127.0.0.1', 18101))).toEqual({ rc: 1, setid: 1, attrs: 'duid=x' });
    expect(ds.isFromList(1, 2, src('127.0.0.1', 18109)).rc).toBe(-1); // port differs
    expect(ds.isFromList(1, 3, src('127.0.0.1', 18109)).rc).toBe(1); // port ignored
    expect(ds.isFromList(1, 4 | 2, src('127.0.0.1', 18101)).rc).toBe(-1); // must be active
    expect(ds.isFromList(-1, 2, src('127.0.0.2', 4444))).toMatchObject({ rc: 1, setid: 2 }); // no port: any port
    expect(ds.isFromList(3, 0, src('127.0.0.3', 18103, 'udp')).rc).toBe(-1); // proto compared in mode 0
    expect(ds.isFromList(3, 0, src('127.0.0.3', 18103, 'tcp')).rc).toBe(1);
    expect(ds.isFromList(-1, 2, src('0.0.0.0', 0), 'sip:127.0.0.3:18103').rc).toBe(1);
    expect(ds.isFromList(-1, 16, src('127.0.0.3', 1))).toMatchObject({ rc: 1, setid: 3 }); // best partial match
  });
});
