/**
 * plugins/default, kamailio.cfg WITH_NAT: route[NATDETECT], the NAT part of route[REGISTRAR]
 * (FLB_NATB / FLB_NATSIPPING), route[DLGURI] and the reply half of route[NATMANAGE], over nathelper
 * (host/modules/nathelper/README.md). Without `modules.nathelper` every call answers -6 and these
 * blocks pass; `routing.config.nat: off` turns them off (a lab where nothing is NATed).
 *
 * What a NATed UA gets: its REGISTER is stored with the source address as `received`, so calls to it
 * go to the NAT's public side (fix_nated_register); its other requests carry an `alias` on the Contact
 * (set_contact_alias) so in-dialog requests sent to that Contact come back through the NAT
 * (handle_ruri_alias); the registrar keeps its NAT branch flags, which nathelper's keepalives select.
 * A UA that is not NATed (a gateway registering another socket than it sends from, Via = source) is
 * left alone: its Contact stays the target (issue #11).
 */
import {
  is_method, pv, hdr_count, hdr_get, cfg_read,
  nat_uac_test, fix_nated_register, set_contact_alias, handle_ruri_alias, force_rport,
  setbflag, NAT_CONTACT_PRIVATE, NAT_VIA_RECEIVED, NAT_VIA_PORT, NAT_WEBSOCKET,
} from "../../../sdk/assembly";
import { configString } from "./common";

/** kamailio.cfg's branch flags: FLB_NATB (the contact is NATed), FLB_NATSIPPING (send it SIP pings). */
export const FLB_NATB: i32 = 6;
export const FLB_NATSIPPING: i32 = 7;

/**
 * kamailio.cfg nat_uac_test("19"): private Contact, Via host not the source, Via port not the source
 * port; plus 64 (WITH_WEBSOCKETS): a WebSocket client is reachable only over its connection.
 */
const NAT_TESTS: i32 = NAT_CONTACT_PRIVATE | NAT_VIA_RECEIVED | NAT_VIA_PORT | NAT_WEBSOCKET;

/** kamailio.cfg FLT_NATS for the request being routed (set by natdetect(), read by the REGISTRAR block). */
let natDetected = false;
/** `routing.config.nat`, read once per instance: 1 on, 0 off, -1 not read yet. */
let enabledValue: i32 = -1;

function enabled(): bool {
  if (enabledValue < 0) {
    const v = configString(cfg_read(), "nat");
    const s = v === null ? "on" : v.toLowerCase();
    enabledValue = s == "off" || s == "false" || s == "no" ? 0 : 1;
  }
  return enabledValue == 1;
}

/*
 * route[NATDETECT] {
 *   force_rport();
 *   if (nat_uac_test("19")) {
 *     if (is_method("REGISTER")) fix_nated_register();
 *     else if (is_first_hop()) set_contact_alias();
 *     setflag(FLT_NATS);
 *   }
 * }
 * Always passes: it only marks and fixes.
 */
export function natdetect(): void {
  natDetected = false;
  if (!enabled()) return;
  // RFC 3581: answer to the source port whatever the Via says (a NAT rewrote it)
  if (force_rport() < 0) return; // -6: no nathelper on this node
  if (nat_uac_test(NAT_TESTS) != 1) return;
  if (is_method("REGISTER")) fix_nated_register();
  else if (viaCount() == 1) set_contact_alias();
  natDetected = true;
}

/*
 * route[REGISTRAR] { if (isflagset(FLT_NATS)) { setbflag(FLB_NATB); setbflag(FLB_NATSIPPING); } ... }
 * save() stores the branch flags as the contact's cflags: nathelper pings the flagged contacts.
 */
export function natRegister(): void {
  if (!natDetected) return;
  setbflag(FLB_NATB);
  setbflag(FLB_NATSIPPING);
}

/*
 * route[DLGURI] { if (!isdsturiset()) handle_ruri_alias(); }
 * An in-dialog request whose R-URI (a NATed UA's Contact) carries our alias goes to the address the
 * alias names, with the alias removed.
 */
export function dlguri(): void {
  if (!enabled()) return;
  const du = pv("$du");
  if (du === null || du.length == 0) handle_ruri_alias();
}

/*
 * onreply_route[MANAGE_REPLY] -> route[NATMANAGE] {
 *   if (is_reply() && isbflagset(FLB_NATB) && is_first_hop()) set_contact_alias();
 * }
 * siphon tests the reply itself: a 1xx/2xx straight from the UA (our Via and its own) whose Contact is
 * a private address, or that came over a WebSocket, gets the alias, so the caller's in-dialog requests
 * reach it through its NAT or its connection.
 */
export function natReply(code: i32): void {
  if (!enabled() || code < 100 || code >= 300) return;
  if (viaCount() != 2) return;
  // a WebSocket callee (a browser, Contact `*.invalid;transport=ws`) is reachable only over its
  // connection: kamailio.cfg's FLB_NATB is set for it too (nat_uac_test 64 at its REGISTER), so the
  // 200's Contact gets the alias and the caller's ACK/BYE find the connection (handle_ruri_alias)
  if (nat_uac_test(NAT_CONTACT_PRIVATE | NAT_WEBSOCKET) == 1) set_contact_alias();
}

/**
 * Via entries of the message (siputils is_first_hop counts them): header lines, plus commas in
 * combined values. Bounded: at most the first 8 lines are read (more is never a first hop).
 */
function viaCount(): i32 {
  const lines = hdr_count("Via");
  if (lines > 8) return lines;
  let n = 0;
  for (let i = 0; i < lines; i++) {
    const v = hdr_get("Via", i);
    n++;
    if (v === null) continue;
    for (let j = 0; j < v.length; j++) if (v.charCodeAt(j) == 0x2c /* , */) n++;
  }
  return n;
}
