/**
 * Kamailio secfilter's SQL-injection heuristic: a plain substring search, no parsing.
 *   strict  (URI users and hosts, User-Agent, secf_check_sqli_hdr): '  "  --  %27  %22  %60
 *   relaxed (From/To display names; single quotes allowed since Apr-2025, e.g. O'Brien): --  %60
 * `#` is allowed (legal in URIs).
 */
const STRICT = ["'", '"', '--', '%27', '%22', '%60'] as const;
const RELAXED = ['--', '%60'] as const;

export function looksLikeSqlInjection(value: string, relaxed = false): boolean {
  const patterns = relaxed ? RELAXED : STRICT;
  for (let i = 0; i < patterns.length; i++) if (value.includes(patterns[i]!)) return true;
  return false;
}
