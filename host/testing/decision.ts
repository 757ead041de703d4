/**
 * What a routing hook changed, shared by `siphon plugin test` (host/cli/commands/plugin.ts) and the
 * testing library: the action's name and a line diff of the request before and after the hook.
 */
import { Action } from '../core/context.js';

export type ActionName = 'CONTINUE' | 'DROP' | 'REPLIED' | 'RELAY' | 'SUSPEND' | 'ERROR';

/** docs/abi/v1.md "Actions"; anything else (a negative action, a failed hook) is ERROR. */
export function actionName(a: Action): ActionName {
  switch (a) {
    case Action.CONTINUE:
      return 'CONTINUE';
    case Action.DROP:
      return 'DROP';
    case Action.REPLIED:
      return 'REPLIED';
    case Action.RELAY:
      return 'RELAY';
    case Action.SUSPEND:
      return 'SUSPEND';
    default:
      return 'ERROR';
  }
}

export interface MessageDiff {
  /** start line / header lines of `before` that are not in `after` (multiset difference). */
  removed: string[];
  added: string[];
  bodyChanged: boolean;
}

/** Lines of the start line + header section, before and after: what the plugin changed. Linear in the lines. */
export function diffMessage(before: Buffer, after: Buffer): MessageDiff {
  // the parser also takes bare-LF line ends (RFC 3261 §7.5 leniency), which untouched lines keep
  const split = (b: Buffer): { lines: string[]; body: Buffer } => {
    const crlf = b.indexOf('\r\n\r\n');
    const lf = b.indexOf('\n\n');
    const [end, sepLen] = crlf >= 0 && (lf < 0 || crlf < lf) ? [crlf, 4] : [lf, 2];
    const head = end < 0 ? b.toString('latin1') : b.subarray(0, end).toString('latin1');
    return { lines: head.split(/\r?\n/), body: end < 0 ? Buffer.alloc(0) : b.subarray(end + sepLen) };
  };
  const a = split(before);
  const b = split(after);
  const minus = (from: string[], other: string[]): string[] => {
    const count = new Map<string, number>();
    for (const l of other) count.set(l, (count.get(l) ?? 0) + 1);
    const out: string[] = [];
    for (const l of from) {
      const n = count.get(l) ?? 0;
      if (n > 0) count.set(l, n - 1);
      else out.push(l);
    }
    return out;
  };
  const removed = minus(a.lines, b.lines);
  const added = minus(b.lines, a.lines);
  // Content-Length follows the body; it is not the plugin's edit unless the body changed
  const bodyChanged = !a.body.equals(b.body);
  const notLength = (l: string): boolean => !/^(content-length|l)\s*:/i.test(l);
  return {
    removed: bodyChanged ? removed : removed.filter(notLength),
    added: bodyChanged ? added : added.filter(notLength),
    bodyChanged,
  };
}
