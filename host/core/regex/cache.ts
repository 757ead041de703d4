/**
 * A bounded cache of compiled patterns, so a plugin calling `search("^INVITE")` for every message
 * compiles it once (Kamailio compiles a config's regex parameters once, at fixup). Least recently
 * used entries go first past `max` entries; a pattern that does not compile is cached as its error,
 * so a bad pattern repeated per message costs a Map lookup, not a parse.
 */
import { RegexError } from './compile.js';

export class PatternCache<T> {
  private readonly map = new Map<string, T | RegexError>();

  constructor(private readonly max: number, private readonly build: (key: string) => T) {}

  /** the compiled value for `key`, or the RegexError compiling it gave. */
  get(key: string): T | RegexError {
    const hit = this.map.get(key);
    if (hit !== undefined) {
      // refresh: Map iteration order is insertion order, so re-inserting makes it the newest
      this.map.delete(key);
      this.map.set(key, hit);
      return hit;
    }
    let v: T | RegexError;
    try {
      v = this.build(key);
    } catch (e) {
      if (!(e instanceof RegexError)) throw e;
      v = e;
    }
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value as string);
    this.map.set(key, v);
    return v;
  }

  get size(): number {
    return this.map.size;
  }
}
