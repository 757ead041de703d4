/**
 * The differential harness (test/oracle/README.md): start Kamailio and siphon side by side
 * (OraclePair), send both the same bytes (exchange), normalise and compare what came back and what was
 * forwarded (normalise, compare), tally per module with the deliberate differences (OracleReport).
 * runCase() is the usual loop body.
 */
import { compare, normalise, type NormaliseOptions } from './compare.js';
import type { ExchangeOptions, OraclePair, Side } from './pair.js';
import type { CaseResult, OracleReport } from './report.js';

export * from './compare.js';
export * from './endpoints.js';
export * from './pair.js';
export * from './report.js';
export * from './sip-text.js';

/**
 * Sends one case to both servers and adds the comparison to `report`. `bytes` may depend on the side
 * (a generated message naming the client's address or the server's port).
 */
export async function runCase(pair: OraclePair, report: OracleReport, name: string, bytes: Buffer | string | ((side: Side) => Buffer | string), opts: NormaliseOptions & ExchangeOptions = {}): Promise<CaseResult> {
  const make = typeof bytes === 'function' ? bytes : () => bytes;
  const out = await pair.exchange(make, opts);
  const k = normalise(out.kamailio, pair.kamailio, make(pair.kamailio), opts);
  const s = normalise(out.siphon, pair.siphon, make(pair.siphon), opts);
  return report.add(name, compare(k, s));
}
