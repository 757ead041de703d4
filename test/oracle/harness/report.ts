/**
 * The tally of one module's oracle run: every case compared, the differences the module's README
 * lists as deliberate (an allow-list entry with its reason), and the unexplained ones.
 *
 *   const report = new OracleReport('sl/sanity', KNOWN);
 *   report.add('rfc4475/badvers.dat', compare(k, s));
 *   console.log(report.summary());
 *   expect(report.compared).toBeGreaterThanOrEqual(300);
 *   expect(report.unexpected()).toEqual([]);
 */
import type { Difference } from './compare.js';

/** A deliberate difference: cases matching `case`, differences whose path matches `path`. */
export interface KnownDifference {
  case: RegExp;
  path: RegExp;
  /** why siphon differs (and where the README says so). */
  reason: string;
  /** optional finer test on the two values. */
  values?: (d: Difference) => boolean;
}

export interface CaseResult {
  name: string;
  differences: Difference[];
  /** the differences no KnownDifference explains. */
  unexplained: Difference[];
  /** reasons of the KnownDifferences that explained the others. */
  known: string[];
}

export class OracleReport {
  readonly cases: CaseResult[] = [];
  constructor(
    readonly module: string,
    readonly known: readonly KnownDifference[],
  ) {}

  add(name: string, differences: Difference[]): CaseResult {
    const unexplained: Difference[] = [];
    const known = new Set<string>();
    for (const d of differences) {
      const k = this.known.find((e) => e.case.test(name) && e.path.test(d.path) && (e.values === undefined || e.values(d)));
      if (k) known.add(k.reason);
      else unexplained.push(d);
    }
    const r = { name, differences, unexplained, known: [...known] };
    this.cases.push(r);
    return r;
  }

  get compared(): number {
    return this.cases.length;
  }

  /** cases with no difference at all. */
  get identical(): number {
    return this.cases.filter((c) => c.differences.length === 0).length;
  }

  /** every unexplained difference as `case: path: kamailio ≠ siphon` lines (the test expects []). */
  unexpected(): string[] {
    return this.cases.flatMap((c) => c.unexplained.map((d) => `${c.name}: ${d.path}: kamailio ${d.kamailio} ≠ siphon ${d.siphon}`));
  }

  /** KnownDifferences that explained no case (stale allow-list entries). */
  unusedKnown(): string[] {
    const used = new Set(this.cases.flatMap((c) => c.known));
    return this.known.filter((k) => !used.has(k.reason)).map((k) => k.reason);
  }

  summary(): string {
    const byReason = new Map<string, number>();
    for (const c of this.cases) for (const r of c.known) byReason.set(r, (byReason.get(r) ?? 0) + 1);
    const lines = [
      `oracle ${this.module}: ${this.compared} cases compared with Kamailio, ${this.identical} identical, ` +
        `${this.cases.filter((c) => c.differences.length > 0 && c.unexplained.length === 0).length} with known differences only, ` +
        `${this.cases.filter((c) => c.unexplained.length > 0).length} with unexplained differences`,
    ];
    for (const [r, n] of byReason) lines.push(`  known (${n} cases): ${r}`);
    for (const u of this.unexpected().slice(0, 200)) lines.push(`  UNEXPLAINED ${u}`);
    return lines.join('\n');
  }
}
