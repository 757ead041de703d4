import { describe, expect, it } from 'vitest';
import { parseDispatcherList } from '../../../host/modules/dispatcher/list-file.js';
import { parseAttrs, parseDestinationUri } from '../../../host/modules/dispatcher/destination.js';
import { isSiphonError } from '../../../host/errors/registry.js';
import { avlPostOrder } from '../../../host/modules/dispatcher/sets.js';
import { dispatcherFrom } from './helpers.js';

describe('dispatcher.list parsing', () => {
  it('reads set, uri, flags (decimal and hex), priority and attrs, skipping comments and blanks', () => {
    const specs = parseDispatcherList(
      [
        '# a comment',
        '',
        '1 sip:10.0.0.5:5060 0 10 weight=50;duid=gw5',
        '\t2   sip:pbx.example.com;transport=tcp 0x8 0 socket=udp:10.0.0.1:5060  # trailing comment',
        '3 sip:10.0.0.7 # only a uri',
        '4 sip:10.0.0.8 12',
        '   ',
      ].join('\n'),
      'd.list',
    );
    expect(specs).toEqual([
      { setid: 1, uri: 'sip:10.0.0.5:5060', flags: 0, priority: 10, attrs: 'weight=50;duid=gw5', where: 'd.list:3' },
      { setid: 2, uri: 'sip:pbx.example.com;transport=tcp', flags: 8, priority: 0, attrs: 'socket=udp:10.0.0.1:5060', where: 'd.list:4' },
      { setid: 3, uri: 'sip:10.0.0.7', flags: 0, priority: 0, attrs: '', where: 'd.list:5' },
      { setid: 4, uri: 'sip:10.0.0.8', flags: 12, priority: 0, attrs: '', where: 'd.list:6' },
    ]);
  });

  it('reports syntax errors with file:line and code E8001', () => {
    const cases: Array<[string, RegExp]> = [
      ['1 sip:a\nx sip:b', /^d\.list:2: set id must be/],
      ['\n\n7', /^d\.list:3: missing destination URI/],
      ['1 sip:a zz', /^d\.list:1: flags must be/],
      ['1 sip:a 0 -3', /^d\.list:1: priority must be/],
      ['1 sip:a 0 0 a=b extra', /^d\.list:1: unexpected text/],
    ];
    for (const [text, re] of cases) {
      let err: unknown;
      try {
        parseDispatcherList(text, 'd.list');
      } catch (e) {
        err = e;
      }
      expect(isSiphonError(err, 'DS_LIST'), text).toBe(true);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).toContain('[E8001');
    }
  });

  it('parses attributes like Kamailio (ranges, oc clamps, unknown names kept)', () => {
    const a = parseAttrs('duid=gw1;weight=150;rweight=30;maxload=20;cc=1;latency=40;ocmax=0;ocrate=5;ocmin=10;foo=bar;');
    expect(a.body).toBe('duid=gw1;weight=150;rweight=30;maxload=20;cc=1;latency=40;ocmax=0;ocrate=5;ocmin=10;foo=bar');
    expect([a.duid, a.weight, a.rweight, a.maxload, a.cc, a.latency, a.ocmax, a.ocmin, a.ocrate]).toEqual(['gw1', 0, 30, 20, 1, 40, 100, 10, 10]);
    expect(a.all.at(-1)).toEqual(['foo', 'bar']);
    expect(parseAttrs('').body).toBeNull();
    expect(parseAttrs('', true).body).toBe('none=yes');
  });

  it('derives host, port and protocol of a destination (RFC 3263 defaults as Kamailio)', () => {
    expect(parseDestinationUri('sip:10.0.0.1')).toMatchObject({ host: '10.0.0.1', port: 0, proto: 'udp' });
    expect(parseDestinationUri('sips:gw.example.com:5061')).toMatchObject({ port: 5061, proto: 'tcp' });
    expect(parseDestinationUri('sip:gw.example.com')).toMatchObject({ proto: 'none' });
    expect(parseDestinationUri('sip:gw.example.com;transport=TLS')).toMatchObject({ proto: 'tls' });
    expect(parseDestinationUri('10.1.1.1:5080')).toMatchObject({ uri: 'sip:10.1.1.1:5080', port: 5080 });
    expect(() => parseDestinationUri('sip:')).toThrow(/E8003/);
  });

  it('orders a set by priority, highest first, equal priorities in reverse list order (as Kamailio 5.6.3 lists them)', async () => {
    const { ds } = await dispatcherFrom(
      ['1 sip:127.0.0.1:18101 0 0 duid=a', '1 sip:127.0.0.1:18102 0 0 duid=b', '1 sip:127.0.0.1:18103 0 5 weight=50', '2 sip:127.0.0.1:18104 8 10', '2 sip:127.0.0.1:18105 0 5', '3 sip:127.0.0.1:18106'].join('\n'),
    );
    expect(ds.sets.get(1)!.dests.map((d) => d.uri)).toEqual(['sip:127.0.0.1:18103', 'sip:127.0.0.1:18102', 'sip:127.0.0.1:18101']);
    // Kamailio walks its AVL tree of set ids post-order: sets 1,2,3 list as 1,3,2
    expect(ds.sets.ordered.map((s) => s.id)).toEqual([1, 3, 2]);
    expect(avlPostOrder([1, 2, 3, 4, 5, 6, 7])).toEqual([1, 3, 2, 5, 7, 6, 4]);
  });

  it('skips a bad destination with ds_load_mode 0 and fails the load with ds_load_mode 1', async () => {
    const text = '1 sip:127.0.0.1:18101\n1 sip:\n';
    const { ds } = await dispatcherFrom(text);
    expect(ds.sets.get(1)!.dests).toHaveLength(1);
    expect(ds.sets.skipped[0]).toMatch(/memory:2: bad uri/);
    await expect(dispatcherFrom(text, { ds_load_mode: 1 })).rejects.toThrow(/memory:2: bad uri.*E8002/s);
  });
});
