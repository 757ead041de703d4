/**
 * Expected `dispatcher.hash` results, captured with `kamcmd dispatcher.hash N s:val1 [s:val2]` against
 * Kamailio 5.6.3 (Debian) bound to 127.0.0.1. kamcmd prints hashid as a signed 32-bit int; the values
 * below are the same bits read unsigned (negative + 2^32).
 */
export interface HashRow {
  nslots: number;
  val1: string;
  val2?: string;
  hashid: number;
  slot: number;
}

const u = (n: number): number => n >>> 0;

export const KAMAILIO_HASH_TABLE: HashRow[] = [
  { nslots: 7, val1: 'alice', val2: 'example.com', hashid: 1442294598, slot: 3 },
  { nslots: 0, val1: 'a', hashid: 109, slot: 0 },
  { nslots: 10, val1: 'ab', hashid: 27998, slot: 8 },
  { nslots: 10, val1: 'abc', hashid: 7167810, slot: 0 },
  { nslots: 10, val1: 'abcd', hashid: 1834959896, slot: 6 },
  { nslots: 10, val1: 'abcde', hashid: 1834960001, slot: 1 },
  { nslots: 13, val1: 'a84b4c76e66710@pc33.atlanta.com', hashid: u(-2119949202), slot: 2 },
  { nslots: 2, val1: 'bob', val2: 'biloxi.example.com:5070', hashid: 571038932, slot: 0 },
  { nslots: 5, val1: '1234567890', val2: '10.0.0.5:5080', hashid: 187126169, slot: 4 },
  { nslots: 100, val1: 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6', hashid: u(-1498949718), slot: 78 },
  { nslots: 3, val1: 'user', val2: 'host', hashid: u(-513615191), slot: 2 },
  { nslots: 4, val1: 'ñandú', val2: 'ejemplo.es', hashid: u(-1012986831), slot: 1 },
  { nslots: 8, val1: '日本語', hashid: 1645370755, slot: 3 },
  { nslots: 16, val1: 'Zürich@example.org', hashid: u(-1610686108), slot: 4 },
  { nslots: 1, val1: 'x', val2: 'y', hashid: 237, slot: 0 },
  { nslots: 64, val1: 'x'.repeat(112), hashid: 286505936, slot: 16 },
  { nslots: 9, val1: '~!@#$%^&*()_+', val2: '[2001:db8::1]:5062', hashid: u(-547082303), slot: 8 },
];
