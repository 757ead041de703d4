/**
 * Dialog profiles (Kamailio dialog README "Dialog profiling"): named sets of dialogs, with or
 * without a value per membership (`profiles_with_value` / `profiles_no_value`). The store keeps
 * counts only, per profile and per (profile, value); the memberships themselves are on the dialogs
 * (Dialog.profiles), so listing a profile walks the dialogs and counting is one Map read.
 *
 * A value's entry exists only while a dialog holds it, so the store is bounded by
 * max_dialogs × max_profiles_per_dialog entries.
 *
 * With several shards (core.workers) the counts that decide (get_profile_size) must be the node's:
 * shard 0 keeps the authoritative ProfileCounts and the worker shards mirror them (shard.ts).
 */

/** Kamailio: a profile without value ignores the value given to it. */
export interface ProfileDef {
  name: string;
  hasValue: boolean;
}

/** Counts per profile and per value; what set/unset/get_profile_size work on. */
export class ProfileCounts {
  private readonly totals = new Map<string, number>();
  /** profile → value → count (profiles with value only). */
  private readonly values = new Map<string, Map<string, number>>();

  constructor(readonly defs: ReadonlyMap<string, ProfileDef>) {
    for (const d of defs.values()) {
      this.totals.set(d.name, 0);
      if (d.hasValue) this.values.set(d.name, new Map());
    }
  }

  /** adds `delta` (+1 / -1) to a membership; unknown profiles are ignored. */
  add(profile: string, value: string, delta: number): void {
    const t = this.totals.get(profile);
    if (t === undefined) return;
    this.totals.set(profile, Math.max(0, t + delta));
    const byValue = this.values.get(profile);
    if (byValue === undefined) return;
    const n = (byValue.get(value) ?? 0) + delta;
    if (n > 0) byValue.set(value, n);
    else byValue.delete(value);
  }

  /** Kamailio get_profile_size: with a value, the dialogs holding that value; without, every member. -1 unknown profile. */
  size(profile: string, value: string | null): number {
    const t = this.totals.get(profile);
    if (t === undefined) return -1;
    if (value === null) return t;
    const byValue = this.values.get(profile);
    // Kamailio: a profile without value ignores the value
    if (byValue === undefined) return t;
    return byValue.get(value) ?? 0;
  }

  /** every (profile, value, count) with a count, for the shard mirror's start. */
  entries(): Array<[string, string, number]> {
    const out: Array<[string, string, number]> = [];
    for (const [name, total] of this.totals) {
      const byValue = this.values.get(name);
      if (byValue === undefined) {
        if (total > 0) out.push([name, '', total]);
      } else {
        for (const [v, n] of byValue) out.push([name, v, n]);
      }
    }
    return out;
  }

  /** replaces every count (a worker shard taking shard 0's table). */
  reset(entries: ReadonlyArray<readonly [string, string, number]>): void {
    for (const k of this.totals.keys()) this.totals.set(k, 0);
    for (const m of this.values.values()) m.clear();
    for (const [p, v, n] of entries) if (Number.isInteger(n) && n > 0) this.add(p, v, n);
  }
}

/** profile definitions from the config's two lists (a name in both is a profile with value). */
export function profileDefs(withValue: readonly string[], noValue: readonly string[]): Map<string, ProfileDef> {
  const defs = new Map<string, ProfileDef>();
  for (const n of noValue) defs.set(n, { name: n, hasValue: false });
  for (const n of withValue) defs.set(n, { name: n, hasValue: true });
  return defs;
}
