/**
 * Kamailio sdpops' common line edits on a small, bounded SDP reader (RFC 8866 §5: `<type>=<value>`
 * lines; the session part, then one media section per `m=` line, §5.14). The body is read as bytes
 * (latin1), split into lines once (linear), edited as lines and written back with CRLF (RFC 8866
 * §5: "CRLF", a lone LF accepted on input). Content-Length follows (SipMessage.setBody).
 *
 * Only a body whose Content-Type is application/sdp is SDP (Kamailio parse_sdp also looks inside
 * multipart bodies; siphon does not: -1). Bounds: SDP_MAX_LINES lines, SDP_MAX_MEDIA media
 * sections; a larger body is not parsed (-1), so every function is O(body).
 *
 * Codec names: an `a=rtpmap:<pt> <name>/<rate>` line names a dynamic payload type; the static ones
 * without rtpmap use RFC 3551 §6's table (0 PCMU, 8 PCMA, 9 G722, 18 G729 ...). Names compare
 * case-insensitively. Removing a codec removes its payload type from the `m=` line and its
 * `a=rtpmap`, `a=fmtp` and `a=rtcp-fb` lines (as Kamailio's sdp_remove_codecs_by_id does).
 */
import type { MessageContext } from '../core/context.js';
import { mediaType } from './textops.js';

export const SDP_MAX_LINES = 4096;
export const SDP_MAX_MEDIA = 64;

/** RFC 3551 §6 Table 4 and 5: static audio/video payload types. */
const STATIC_PT: Readonly<Record<string, string>> = {
  0: 'pcmu', 3: 'gsm', 4: 'g723', 5: 'dvi4', 6: 'dvi4', 7: 'lpc', 8: 'pcma', 9: 'g722', 10: 'l16', 11: 'l16',
  12: 'qcelp', 13: 'cn', 14: 'mpa', 15: 'g728', 16: 'dvi4', 17: 'dvi4', 18: 'g729', 25: 'celb', 26: 'jpeg',
  28: 'nv', 31: 'h261', 32: 'mpv', 33: 'mp2t', 34: 'h263',
};

interface Media {
  /** index of its m= line in `lines`. */
  at: number;
  /** index after its last line. */
  end: number;
  /** media type (audio, video ...), lower-cased. */
  type: string;
}

export class Sdp {
  private constructor(readonly lines: string[], readonly media: Media[]) {}

  /** the SDP of the message, or null (no body, not application/sdp, over the bounds). */
  static of(ctx: MessageContext): Sdp | null {
    const msg = ctx.msg;
    if (msg.body.length === 0 || mediaType(msg.header('content-type')) !== 'application/sdp') return null;
    const text = msg.body.toString('latin1');
    const lines = text.split('\n');
    if (lines.length > SDP_MAX_LINES + 1) return null;
    if (lines[lines.length - 1] === '') lines.pop();
    const media: Media[] = [];
    for (let i = 0; i < lines.length; i++) {
      let l = lines[i]!;
      if (l.endsWith('\r')) lines[i] = l = l.slice(0, -1);
      if (l.startsWith('m=')) {
        if (media.length >= SDP_MAX_MEDIA) return null;
        if (media.length > 0) media[media.length - 1]!.end = i;
        const sp = l.indexOf(' ');
        media.push({ at: i, end: lines.length, type: l.slice(2, sp < 0 ? l.length : sp).toLowerCase() });
      }
    }
    return new Sdp(lines, media);
  }

  /** writes the lines back as the message body (CRLF line ends; Content-Type kept). */
  store(ctx: MessageContext): void {
    ctx.msg.setBody(Buffer.from(this.lines.length === 0 ? '' : `${this.lines.join('\r\n')}\r\n`, 'latin1'));
  }

  /** sections of media type `type` ('' = every section). */
  private sections(type: string): Media[] {
    const t = type.toLowerCase();
    return t === '' ? this.media : this.media.filter((m) => m.type === t);
  }

  withMedia(type: string): boolean {
    return this.sections(type).length > 0 && type !== '';
  }

  /** the first line starting with `prefix`, without its line end. */
  lineStartingWith(prefix: string): string | null {
    for (const l of this.lines) if (l.startsWith(prefix)) return l;
    return null;
  }

  /** removes the lines starting with `prefix` (in the sections of `type`, or everywhere when ''); how many. */
  removeLinesByPrefix(prefix: string, type: string): number {
    const drop = new Uint8Array(this.lines.length);
    let n = 0;
    const mark = (from: number, to: number): void => {
      for (let i = from; i < to; i++) if (this.lines[i]!.startsWith(prefix)) { drop[i] = 1; n++; }
    };
    if (type === '') mark(0, this.lines.length);
    else for (const m of this.sections(type)) mark(m.at + 1, m.end);
    if (n > 0) this.dropLines(drop);
    return n;
  }

  /**
   * Removes (keep = false) or keeps only (keep = true) the codecs named in `names` (lower-case),
   * in the sections of `type` ('' = all). How many payload types were removed.
   */
  filterCodecs(names: ReadonlySet<string>, type: string, keep: boolean): number {
    const drop = new Uint8Array(this.lines.length);
    let removed = 0;
    for (const m of this.sections(type)) {
      const mline = this.lines[m.at]!.split(' ');
      // m=<media> <port> <proto> <fmt> ... (RFC 8866 §5.14)
      if (mline.length < 4) continue;
      const names0 = new Map<string, string>();
      for (let i = m.at + 1; i < m.end; i++) {
        const l = this.lines[i]!;
        if (!l.startsWith('a=rtpmap:')) continue;
        const sp = l.indexOf(' ');
        const slash = l.indexOf('/', sp);
        if (sp > 9) names0.set(l.slice(9, sp), l.slice(sp + 1, slash < 0 ? l.length : slash).toLowerCase());
      }
      const gone = new Set<string>();
      const fmts = mline.slice(3).filter((pt) => {
        const name = names0.get(pt) ?? STATIC_PT[pt] ?? '';
        const listed = names.has(name);
        if (listed === keep) return true;
        gone.add(pt);
        return false;
      });
      if (gone.size === 0) continue;
      removed += gone.size;
      this.lines[m.at] = [...mline.slice(0, 3), ...fmts].join(' ');
      for (let i = m.at + 1; i < m.end; i++) {
        const l = this.lines[i]!;
        const attr = /^a=(rtpmap|fmtp|rtcp-fb):(\S+)/.exec(l);
        if (attr !== null && gone.has(attr[2]!)) drop[i] = 1;
      }
    }
    this.dropLines(drop);
    return removed;
  }

  private dropLines(drop: Uint8Array): void {
    const kept: string[] = [];
    const remap = new Int32Array(this.lines.length + 1);
    for (let i = 0; i < this.lines.length; i++) {
      remap[i] = kept.length;
      if (drop[i] !== 1) kept.push(this.lines[i]!);
    }
    remap[this.lines.length] = kept.length;
    for (const m of this.media) {
      m.at = remap[m.at]!;
      m.end = remap[m.end]!;
    }
    this.lines.length = 0;
    this.lines.push(...kept);
  }
}

/** a codec list argument ("PCMU,telephone-event"): lower-cased names, blanks trimmed. */
export function codecNames(list: string): Set<string> {
  return new Set(list.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s.length > 0));
}
