/**
 * The Kamailio `dispatcher.list` text format: one destination per line,
 *
 *   setid  uri  [flags]  [priority]  [attrs]
 *
 * separated by spaces or tabs; `#` starts a comment (also after the URI); blank lines are ignored.
 * Flags are decimal or `0x` hex, priority a non-negative integer, attrs one token without spaces
 * (Kamailio ds_load_list). Syntax errors are reported with file:line.
 */
import { readFile } from 'node:fs/promises';
import { SiphonError } from '../../errors/registry.js';
import type { DestinationSpec } from './destination.js';

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/** Parses the text of a list file. `name` is used in error locations. */
export function parseDispatcherList(text: string, name = 'dispatcher.list'): DestinationSpec[] {
  const out: DestinationSpec[] = [];
  const lines = text.split('\n');
  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln]!;
    const where = `${name}:${ln + 1}`;
    let p = 0;
    const skipWs = (): void => {
      while (p < line.length && isSpace(line.charCodeAt(p))) p++;
    };
    const token = (stopAtHash: boolean): string => {
      const s = p;
      while (p < line.length && !isSpace(line.charCodeAt(p)) && !(stopAtHash && line[p] === '#')) p++;
      return line.slice(s, p);
    };
    const atEnd = (): boolean => p >= line.length || line[p] === '#';

    skipWs();
    if (atEnd()) continue;

    const setTok = token(true);
    if (!/^[0-9]+$/.test(setTok)) {
      throw new SiphonError('DS_LIST', `set id must be a non-negative integer, got "${setTok}"`, { where });
    }
    const setid = Number.parseInt(setTok, 10);
    skipWs();
    if (atEnd()) throw new SiphonError('DS_LIST', `missing destination URI after set id ${setid}`, { where });
    const uri = token(true);

    let flags = 0;
    let priority = 0;
    let attrs = '';
    skipWs();
    if (!atEnd()) {
      const f = token(true);
      if (/^0x[0-9a-f]+$/i.test(f)) flags = Number.parseInt(f.slice(2), 16);
      else if (/^[0-9]+$/.test(f)) flags = Number.parseInt(f, 10);
      else throw new SiphonError('DS_LIST', `flags must be decimal or 0x-hex, got "${f}"`, { where });
      skipWs();
      if (!atEnd()) {
        const pr = token(true);
        if (!/^[0-9]+$/.test(pr)) throw new SiphonError('DS_LIST', `priority must be a non-negative integer, got "${pr}"`, { where });
        priority = Number.parseInt(pr, 10);
        skipWs();
        // attrs: one token; '#' is allowed inside it (Kamailio reads up to whitespace)
        if (!atEnd()) attrs = token(false);
        skipWs();
        if (p < line.length && line[p] !== '#') {
          throw new SiphonError('DS_LIST', `unexpected text after attributes: "${line.slice(p).trim()}"`, { where });
        }
      }
    }
    out.push({ setid, uri, flags, priority, attrs, where });
  }
  return out;
}

/** Reads and parses a list file (async: never blocks the event loop). */
export async function readDispatcherList(path: string): Promise<DestinationSpec[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new SiphonError('DS_LIST', `cannot read list file: ${(e as Error).message}`, { where: path, cause: e });
  }
  return parseDispatcherList(text, path);
}
