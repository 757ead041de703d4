/**
 * One header field of a parsed message: where its line and value sit in the received bytes, or
 * (edited) its new text. SipMessageImpl (message.ts) keeps one per field, in order.
 */

/** the value spans continuation lines (RFC 3261 §7.3.1 line folding) */
export const F_FOLDED = 1;
/** added or changed by an edit: serialized from `text` */
export const F_EDITED = 4;

/**
 * One header field: where it sits in `raw`, or (edited) its new value.
 * Fields are `declare`d and assigned in the constructor: plain assignments keep construction on
 * V8's fast path (class-field define semantics cost ~3x more per object here, measured).
 */
export class HeaderLine {
  /** name as written */
  declare readonly name: string;
  /** canonical lower-case key */
  declare readonly key: string;
  /** byte offset of the line in raw; -1 for a field created by an edit */
  declare readonly lineStart: number;
  /** byte offset after the line's terminator (and continuation lines) */
  declare readonly lineEnd: number;
  declare readonly valueStart: number;
  declare readonly valueEnd: number;
  declare readonly flags: number;
  /** decoded value (cache), or the value of an edited field */
  declare text: string | undefined;

  constructor(name: string, key: string, lineStart: number, lineEnd: number, valueStart: number, valueEnd: number, flags: number, text: string | undefined) {
    this.name = name;
    this.key = key;
    this.lineStart = lineStart;
    this.lineEnd = lineEnd;
    this.valueStart = valueStart;
    this.valueEnd = valueEnd;
    this.flags = flags;
    this.text = text;
  }
}
