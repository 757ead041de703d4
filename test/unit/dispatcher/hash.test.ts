import { describe, expect, it } from 'vitest';
import { dsHash, dsHashUri } from '../../../host/modules/dispatcher/hash.js';
import { KAMAILIO_HASH_TABLE } from './kamailio-hash-table.js';

describe('dispatcher hash (Kamailio ds_get_hash)', () => {
  it('matches the values kamcmd dispatcher.hash printed on Kamailio 5.6.3', () => {
    for (const row of KAMAILIO_HASH_TABLE) {
      const h = dsHash(row.val1, row.val2);
      expect({ ...row, got: h }).toEqual({ ...row, got: row.hashid });
      expect(row.nslots > 0 ? h % row.nslots : 0).toBe(row.slot);
    }
  });

  it('hashes URIs on user + host[:port], skipping the default port', () => {
    expect(dsHashUri('sip:alice@example.com', false)).toBe(dsHash('alice', 'example.com'));
    expect(dsHashUri('sip:alice@example.com:5060;transport=udp', false)).toBe(dsHash('alice', 'example.com'));
    expect(dsHashUri('sips:alice@example.com:5061', false)).toBe(dsHash('alice', 'example.com'));
    expect(dsHashUri('sips:alice@example.com:5060', false)).toBe(dsHash('alice', 'example.com:5060'));
    expect(dsHashUri('<sip:bob:secret@biloxi.example.com:5070>', false)).toBe(dsHash('bob', 'biloxi.example.com:5070'));
    expect(dsHashUri('sip:[2001:db8::1]:5062', false)).toBe(dsHash('', '[2001:db8::1]:5062'));
    expect(dsHashUri('sip:alice@example.com:5070', true)).toBe(dsHash('alice'));
    expect(dsHashUri('sip:', false)).toBeNull();
  });

  it('is stable for a key and never 0', () => {
    expect(dsHash('')).toBe(1);
    expect(dsHash('call-1@host')).toBe(dsHash('call-1@host'));
    expect(dsHash(undefined, undefined)).toBe(0);
  });
});
