/**
 * SDP line edits (ABI 1.3, namespace `sdpops`; Kamailio sdpops names and return codes,
 * host/textops/README.md): on a body whose Content-Type is application/sdp, read once per call on
 * a bounded parser (4,096 lines, 64 media sections). `media` narrows an edit to the sections of
 * that media type ("audio", "video"; "" = all). Edits rewrite the body (CRLF lines) and
 * Content-Length.
 *
 *   sdp_remove_codecs_by_name("G729,GSM");      // offer fewer codecs
 *   sdp_keep_codecs_by_name("PCMA,telephone-event", "audio");
 *   sdp_remove_line_by_prefix("a=ice-");
 *
 * Return codes: 1 done / found; -1 no SDP, or nothing found (with_media, get_line_startswith,
 * remove_line_by_prefix); -2 empty prefix or codec list; -3 string outside memory; -4 no message.
 */
import { encodeArg, encodeArgs, argPtrA, argLenA, argPtrB, argLenB, outPtr, outCap, growOut, decodeOut } from "./buffer";

// @ts-ignore: decorator
@external("sdpops", "sdp_with_media")
declare function raw_sdp_with_media(mp: usize, ml: i32): i32;
// @ts-ignore: decorator
@external("sdpops", "sdp_get_line_startswith")
declare function raw_sdp_get_line_startswith(pp: usize, pl: i32, out: usize, cap: i32): i32;
// @ts-ignore: decorator
@external("sdpops", "sdp_remove_line_by_prefix")
declare function raw_sdp_remove_line_by_prefix(pp: usize, pl: i32, mp: usize, ml: i32): i32;
// @ts-ignore: decorator
@external("sdpops", "sdp_remove_codecs_by_name")
declare function raw_sdp_remove_codecs_by_name(lp: usize, ll: i32, mp: usize, ml: i32): i32;
// @ts-ignore: decorator
@external("sdpops", "sdp_keep_codecs_by_name")
declare function raw_sdp_keep_codecs_by_name(lp: usize, ll: i32, mp: usize, ml: i32): i32;

/** Kamailio `sdp_with_media(type)`: 1 when the SDP has an m= line of that media type, else -1. */
export function sdp_with_media(media: string): i32 {
  encodeArg(media);
  return raw_sdp_with_media(argPtrA, argLenA);
}

/** Kamailio `sdp_get_line_startswith(avp, prefix)`: the first SDP line starting with `prefix` (no CRLF), or null. */
export function sdp_get_line_startswith(prefix: string): string | null {
  encodeArg(prefix);
  let n = raw_sdp_get_line_startswith(argPtrA, argLenA, outPtr, outCap);
  if (n > outCap) {
    growOut(n);
    encodeArg(prefix);
    n = raw_sdp_get_line_startswith(argPtrA, argLenA, outPtr, outCap);
  }
  return n < 0 ? null : decodeOut(n);
}

/** Kamailio `sdp_remove_line_by_prefix(prefix [, media])`: 1 when lines were removed, -1 when none. */
export function sdp_remove_line_by_prefix(prefix: string, media: string = ""): i32 {
  encodeArgs(prefix, media);
  return raw_sdp_remove_line_by_prefix(argPtrA, argLenA, argPtrB, argLenB);
}

/** Kamailio `sdp_remove_codecs_by_name(list [, media])`: "PCMU,G729"; 1 when the SDP was processed, -1 no SDP. */
export function sdp_remove_codecs_by_name(list: string, media: string = ""): i32 {
  encodeArgs(list, media);
  return raw_sdp_remove_codecs_by_name(argPtrA, argLenA, argPtrB, argLenB);
}

/** Kamailio `sdp_keep_codecs_by_name(list [, media])`: every other codec goes; 1 processed, -1 no SDP. */
export function sdp_keep_codecs_by_name(list: string, media: string = ""): i32 {
  encodeArgs(list, media);
  return raw_sdp_keep_codecs_by_name(argPtrA, argLenA, argPtrB, argLenB);
}
