/**
 * rtpengine from a plugin (ABI 1.3, namespace `rtpengine`; Kamailio rtpengine's functions,
 * host/modules/rtpengine/README.md "Functions for plugins"): media relay control, so a WebRTC
 * offer (DTLS-SRTP, ICE) becomes plain RTP for a SIP phone and back, or any call's media is
 * anchored on the relay.
 *
 *   // request_route, an INVITE with SDP:      rtpengine_offer("replace-origin replace-session-connection");
 *   // onreply_route, its 18x/2xx with SDP:    rtpengine_answer("replace-origin replace-session-connection");
 *   // BYE / CANCEL / failure_route:           rtpengine_delete("");
 *   // or Kamailio's all-in-one:               rtpengine_manage("trust-address");
 *
 * offer/answer/manage only record the command: the host sends it after the hook returns and
 * before the message leaves, and puts rtpengine's SDP in the body. 1 = recorded (for delete: sent);
 * -1 = nothing to do or cannot (no SDP body, no rtpengine instance enabled, flags refused: over
 * 1024 bytes or 64 tokens); -3 string outside memory; -4 no message in this hook; -6 UNIMPLEMENTED
 * (no `modules.rtpengine` on this node); -7 internal.
 */
import { encodeArg, argPtrA, argLenA } from "./buffer";

// @ts-ignore: decorator
@external("rtpengine", "rtpengine_offer")
declare function raw_rtpengine_offer(p: usize, l: i32): i32;
// @ts-ignore: decorator
@external("rtpengine", "rtpengine_answer")
declare function raw_rtpengine_answer(p: usize, l: i32): i32;
// @ts-ignore: decorator
@external("rtpengine", "rtpengine_manage")
declare function raw_rtpengine_manage(p: usize, l: i32): i32;
// @ts-ignore: decorator
@external("rtpengine", "rtpengine_delete")
declare function raw_rtpengine_delete(p: usize, l: i32): i32;

/** Kamailio `rtpengine_offer(flags)`: the SDP offer of this request (or reply, late offer) through rtpengine. */
export function rtpengine_offer(flags: string = ""): i32 {
  encodeArg(flags);
  return raw_rtpengine_offer(argPtrA, argLenA);
}

/** Kamailio `rtpengine_answer(flags)`: the SDP answer of this reply (or ACK, late offer) through rtpengine. */
export function rtpengine_answer(flags: string = ""): i32 {
  encodeArg(flags);
  return raw_rtpengine_answer(argPtrA, argLenA);
}

/** Kamailio `rtpengine_manage(flags)`: offer, answer or delete, chosen from the message. */
export function rtpengine_manage(flags: string = ""): i32 {
  encodeArg(flags);
  return raw_rtpengine_manage(argPtrA, argLenA);
}

/** Kamailio `rtpengine_delete(flags)`: ends the call's media session (sent now, not waited for). */
export function rtpengine_delete(flags: string = ""): i32 {
  encodeArg(flags);
  return raw_rtpengine_delete(argPtrA, argLenA);
}
