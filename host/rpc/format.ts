/**
 * Human-readable rendering of RPC replies, in kamcmd's style: one line per top-level value, structs as
 * `{` / `\tname: value` / `}` indented with tabs, arrays as `[` ... `]`.
 */
import type { RpcValue } from './types.js';

export function formatReply(values: readonly RpcValue[]): string {
  const lines: string[] = [];
  for (const v of values) render(v, 0, null, lines);
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** kamcmd prints faults as `error: <code> - <message>`. */
export function formatFault(code: number, message: string): string {
  return `error: ${code} - ${message}\n`;
}

function scalar(v: RpcValue): string {
  if (v === null) return '<null string>';
  if (typeof v === 'number' && !Number.isInteger(v)) return v.toFixed(6); // kamcmd prints doubles with %f
  return String(v);
}

function render(v: RpcValue, depth: number, name: string | null, out: string[]): void {
  const indent = '\t'.repeat(depth);
  const label = name === null ? '' : `${name}: `;
  if (Array.isArray(v)) {
    out.push(`${indent}${label}[`);
    for (const e of v) render(e, depth + 1, null, out);
    out.push(`${indent}]`);
  } else if (v !== null && typeof v === 'object') {
    out.push(`${indent}${label}{`);
    for (const k of Object.keys(v)) render(v[k]!, depth + 1, k, out);
    out.push(`${indent}}`);
  } else {
    out.push(`${indent}${label}${scalar(v)}`);
  }
}
