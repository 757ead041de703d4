/**
 * The contract of the SIP message layer (RFC 3261 §7, §20, §25).
 *
 * Parsing is split in two: the start line and the routing headers (Via, From, To, Call-ID, CSeq,
 * Max-Forwards, Content-Length, Route) are read eagerly because every message needs them; every
 * other header is kept as raw bytes and parsed only when asked for. Serializing keeps every header
 * the code did not touch byte-exact and applies edits.
 */

export type UriScheme = 'sip' | 'sips' | 'tel';

/** A parsed SIP, SIPS or TEL URI (RFC 3261 §19.1, RFC 3966). Values are unescaped. */
export interface SipUri {
  scheme: UriScheme;
  /** user part (for tel: the number); undefined when absent. */
  user?: string;
  password?: string;
  /** host as written: a name, an IPv4 address, or an IPv6 reference including the brackets. */
  host: string;
  port?: number;
  /** URI parameters in order; a parameter without '=' has value null. Names are lower-cased. */
  params: Array<[string, string | null]>;
  /** `?` headers of the URI, in order. */
  headers: Array<[string, string]>;
  /** the URI exactly as it appeared in the message. */
  raw: string;
}

/** name-addr or addr-spec with header parameters (From, To, Contact, Route, Record-Route ...). */
export interface NameAddr {
  /** display name without quotes and with quoted-pair escapes resolved; undefined when absent. */
  displayName?: string;
  /** the URI text between < > (or the bare addr-spec). */
  uri: string;
  /** header parameters after the URI, in order, names lower-cased. */
  params: Array<[string, string | null]>;
  /** value of the `tag` parameter, when present. */
  tag?: string;
  /** `*` in a Contact header (RFC 3261 §10.2.2). */
  star?: boolean;
}

/** One Via entry (RFC 3261 §20.42, §18.2.1; RFC 3581 rport). */
export interface Via {
  /** e.g. "SIP/2.0/UDP". */
  protocol: string;
  /** transport token upper-cased: UDP, TCP, TLS, SCTP, WS ... */
  transport: string;
  host: string;
  port?: number;
  params: Array<[string, string | null]>;
  branch?: string;
  received?: string;
  /** undefined: no rport; null: `rport` without value; number: filled in. */
  rport?: number | null;
  maddr?: string;
  ttl?: number;
  /** the entry's text as received (one comma-separated element). */
  raw: string;
}

export interface CSeq {
  seq: number;
  method: string;
}

/** A header as it sits in the message. */
export interface HeaderField {
  /** the name exactly as written (may be compact, any case). */
  readonly name: string;
  /** canonical long name, lower-cased: "via", "call-id", "from" (compact forms expanded). */
  readonly key: string;
  /** the value with line folding collapsed to single spaces, surrounding whitespace trimmed. */
  readonly value: string;
}

export interface SipMessage {
  readonly kind: 'request' | 'response';
  /** request method as written (case-sensitive, RFC 3261 §7.1); for responses, the CSeq method. */
  readonly method: string;
  /** Request-URI text (requests). Reflects setRequestUri(). */
  readonly requestUri: string;
  /** parsed Request-URI; undefined for responses. Reflects setRequestUri(). */
  readonly uri?: SipUri;
  readonly status: number;
  readonly reason: string;
  /** "SIP/2.0". */
  readonly version: string;

  // Eagerly parsed routing headers ------------------------------------------------------------
  readonly vias: readonly Via[];
  readonly from?: NameAddr;
  readonly to?: NameAddr;
  readonly callId: string;
  readonly cseq?: CSeq;
  readonly maxForwards?: number;
  readonly contentLength?: number;

  // Header access: names are case-insensitive and compact forms are accepted ("v", "Via", "VIA").
  /** first value of the header (first element for comma-separated multi-value headers). */
  header(name: string): string | undefined;
  /**
   * every value of the header, in order: repeated headers and the elements of comma-separated
   * lists (for headers whose grammar allows lists, RFC 3261 §7.3.1) are returned one per entry.
   */
  headerValues(name: string): string[];
  /** number of values headerValues(name) would return. */
  headerCount(name: string): number;
  /** all header fields in order (after edits). */
  fields(): readonly HeaderField[];
  readonly body: Buffer;

  // Edits -------------------------------------------------------------------------------------
  setRequestUri(uri: string): void;
  /** adds a header field; 'first' puts it before the first field of the same name (or at the top). */
  addHeader(name: string, value: string, where?: 'first' | 'last'): void;
  /** removes value #index of the header (per headerValues numbering), or all when index is undefined; returns how many were removed. */
  removeHeader(name: string, index?: number): number;
  /** replaces all fields of that name by one. */
  setHeader(name: string, value: string): void;
  setBody(body: Buffer, contentType?: string): void;
  /**
   * Replaces field #index of fields() by `name: value`, or removes it when value is null (textops
   * subst / remove_hf_re edit fields by position). Optional: other SipMessage implementations may
   * lack it. (additive, textops)
   */
  replaceField?(index: number, name: string, value: string | null): void;

  /** the message on the wire: untouched fields byte-exact, edits applied, Content-Length kept right. */
  toBuffer(): Buffer;
  /** the bytes this message was parsed from. */
  readonly raw: Buffer;
}

/** Why a message could not be accepted, and what to answer (RFC 3261 §8.2, §16.3, RFC 4475). */
export interface ParseFailure {
  /** status to answer with: 400, 505, 416, 413, 513 ...; 0 when the message must be dropped. */
  status: number;
  /** reason phrase naming the defect, e.g. "Bad Request - Content-Length larger than body". */
  reason: string;
  /** what the failure was about, for logs and counters. */
  detail: string;
  /**
   * Present when the message is a request whose Via, From, To, Call-ID and CSeq could be read well
   * enough to build a reply (sl_reply works on it). Absent: drop and count.
   */
  partial?: SipMessage;
}

export type ParseResult = { ok: true; message: SipMessage } | { ok: false; failure: ParseFailure };

export interface ParseLimits {
  /** largest accepted message in bytes (default 65535). */
  maxMessageSize: number;
  /** most header fields accepted (default 256). */
  maxHeaders: number;
}
