/**
 * plugins/default, media relay (kamailio.cfg WITH_RTPENGINE's route[NATMANAGE] rtpengine part, with the
 * WebRTC flags of Kamailio's WebSocket examples), over the rtpengine module
 * (host/modules/rtpengine/README.md). `routing.config.rtpengine`:
 *   off (default, also when absent)  no media relay: `npm start` needs no rtpengine
 *   webrtc                           only calls with a WebSocket side (a browser): its DTLS-SRTP + ICE
 *                                    media becomes plain RTP for the SIP phone and back
 *   on                               every call with SDP goes through the relay
 * Without `modules.rtpengine` the calls answer -6 and the call goes on with its own SDP.
 *
 * The flags are chosen by who RECEIVES the SDP (rtpengine rewrites the SDP for the next hop):
 *   toward a browser (WebSocket)     ICE=force RTP/SAVPF rtcp-mux-require generate-mid SDES-off,
 *                                    plus DTLS=passive in an INVITE's offer only (see below)
 *   toward a SIP phone               RTP/AVP ICE=remove DTLS=off SDES-off rtcp-mux-demux
 * both with replace-origin replace-session-connection (the relay's address in o= and c=).
 *
 * DTLS roles (RFC 5763 §5, a=setup): an offer toward the browser says DTLS=passive (setup:passive, the
 * browser connects once it has ICE). An ANSWER toward the browser carries no DTLS flag: the browser
 * offered setup:actpass, and when rtpengine received that offer it already took the active role
 * (its default) and, with ICE=force, started ICE and sent its DTLS ClientHello to the browser, which
 * keeps it until its answer arrives. DTLS=passive in the answer made rtpengine reset that connection
 * to passive; the browser's own ClientHello that followed was then dropped in about half the calls
 * (rtpengine 10.5, no "Processing incoming DTLS packet" in its log; the browser's dtlsState stayed
 * "connecting", no RTP either way). The answer keeping rtpengine's active role (setup:active) lets
 * the browser, as server, use the ClientHello it kept: no reset, no race.
 *
 * Where: request_route (INVITE offer, ACK answer of a late offer, BYE delete: rtpengine_manage picks),
 * onreply_route (18x/2xx: answer, or offer for a late offer) toward the caller, failure_route delete.
 */
import { is_method, pv, cfg_read, t_on_reply, t_on_failure, rtpengine_manage, rtpengine_delete } from "../../../sdk/assembly";
import { configString } from "./common";

/** onreply_route ids of a relayed call (beside index.ts's MANAGE_REPLY 2 / MANAGE_FAILURE 1). */
export const REPLY_RTP_TO_WS: i32 = 3;
export const REPLY_RTP_TO_UDP: i32 = 4;
/** failure_route of a relayed call: rtpengine_delete, then MANAGE_FAILURE's handling. */
export const FAILURE_RTP: i32 = 5;

const BASE = "replace-origin replace-session-connection";
const TOWARD_WS = BASE + " ICE=force RTP/SAVPF rtcp-mux-require generate-mid SDES-off";
const TOWARD_WS_OFFER = TOWARD_WS + " DTLS=passive";
const TOWARD_UDP = BASE + " RTP/AVP ICE=remove DTLS=off SDES-off rtcp-mux-demux";

/** 0 off, 1 webrtc, 2 on; -1 not read yet. */
let modeValue: i32 = -1;

function mode(): i32 {
  if (modeValue < 0) {
    const v = configString(cfg_read(), "rtpengine");
    const s = v === null ? "off" : v.toLowerCase();
    modeValue = s == "webrtc" ? 1 : s == "on" || s == "always" ? 2 : 0;
  }
  return modeValue;
}

/**
 * the flags for SDP going to a browser (ws) or a SIP phone; `invite` for a request's INVITE (its SDP
 * is the offer). A reply toward a browser answers its offer, or offers for a late offer (no DTLS
 * role then: setup:actpass, the browser picks); an ACK toward it answers the browser's late offer.
 */
export function flagsToward(ws: bool, invite: bool): string {
  if (!ws) return TOWARD_UDP;
  return invite ? TOWARD_WS_OFFER : TOWARD_WS;
}

function isWsProto(p: string | null): bool {
  if (p === null) return false;
  const s = p.toLowerCase();
  return s == "ws" || s == "wss";
}

/** the next hop ($du, else the R-URI) is a WebSocket client: `;transport=ws` / `wss` (RFC 7118 §5.2). */
function nextHopIsWs(): bool {
  const du = pv("$du");
  const target = du !== null && du.length > 0 ? du : pv("$ru");
  if (target === null) return false;
  return target.toLowerCase().indexOf(";transport=ws") >= 0;
}

/**
 * request_route, before t_relay(): engages the relay for a call with a WebSocket side (or every call,
 * mode on). INVITE: its offer (rtpengine_manage → offer when it has SDP), the reply route that answers
 * toward the caller, and the failure route that deletes. ACK: the answer of a late offer. BYE: delete.
 */
export function mediaRequest(): void {
  const m = mode();
  if (m == 0) return;
  const fromWs = isWsProto(pv("$proto"));
  const toWs = nextHopIsWs();
  if (m == 1 && !fromWs && !toWs) return;
  if (is_method("INVITE")) {
    t_on_reply(fromWs ? REPLY_RTP_TO_WS : REPLY_RTP_TO_UDP);
    t_on_failure(FAILURE_RTP);
  }
  if (is_method("INVITE") || is_method("ACK") || is_method("BYE")) rtpengine_manage(flagsToward(toWs, is_method("INVITE")));
}

/** onreply_route REPLY_RTP_*: a 18x/2xx's SDP through the relay toward the caller. */
export function mediaReply(route: i32, code: i32): void {
  if (code < 180 || code >= 300) return;
  rtpengine_manage(flagsToward(route == REPLY_RTP_TO_WS, false));
}

/** failure_route FAILURE_RTP: the call failed, its media session ends. */
export function mediaFailure(): void {
  rtpengine_delete("");
}
