/**
 * The shape TCP connections use to cut a byte stream into SIP messages (RFC 3261 §18.3). The SIP
 * layer's frameStream (host/sip/framing.ts) does the work; this file adapts its result to what the
 * connection loop needs and is the one place to change if that contract moves.
 */
export type Frame =
  /** bytes [start, end) are one complete message. */
  | { kind: 'message'; start: number; end: number }
  /** CRLFs between messages, up to `end`; `pong` when it was a CRLFCRLF keepalive ping (RFC 5626 §4.4.1). */
  | { kind: 'keepalive'; end: number; pong: boolean }
  /**
   * more bytes are needed; `need` (when known: the header section is complete) is the message's
   * total length from `offset`, so the connection can wait for that many bytes without framing again.
   */
  | { kind: 'incomplete'; need?: number }
  /** the stream cannot be framed (no usable Content-Length ...): the connection is closed. */
  | { kind: 'error'; reason: string };

export type StreamFramer = (buf: Buffer, offset: number) => Frame;
