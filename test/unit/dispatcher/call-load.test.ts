/**
 * The call-load table (alg 10) is bounded: at ds_hash_max_entries the oldest call is forgotten and
 * handed to onEvict (the dispatcher decrements that destination's load).
 */
import { describe, expect, it } from 'vitest';
import { CallLoadTable, type CallLoadEntry } from '../../../host/modules/dispatcher/call-load.js';

describe('CallLoadTable bounds', () => {
  it('keeps at most maxEntries calls under a flood of fresh Call-IDs, evicting the oldest', () => {
    const evicted: CallLoadEntry[] = [];
    const t = new CallLoadTable(7200, 7200, () => 0, 100, (e) => evicted.push(e));
    for (let i = 0; i < 100_000; i++) t.add(`flood-${i}`, 1, i % 2 === 0 ? 'a' : 'b');
    expect(t.size).toBe(100);
    expect(t.evicted).toBe(99_900);
    expect(evicted).toHaveLength(99_900);
    expect(t.get('flood-0')).toBeUndefined();
    expect(t.get('flood-99999')).toBeDefined();
  });

  it('re-adding a Call-ID replaces its entry (the old load is released once)', () => {
    const evicted: CallLoadEntry[] = [];
    const t = new CallLoadTable(7200, 7200, () => 0, 10, (e) => evicted.push(e));
    t.add('c1', 1, 'a');
    t.add('c1', 1, 'b');
    expect(t.size).toBe(1);
    expect(evicted.map((e) => e.duid)).toEqual(['a']);
    expect(t.evicted).toBe(0);
  });
});
