/**
 * Test plugin: what kamailio.cfg WITH_NAT does around save() and lookup(), with the nathelper SDK.
 *
 * REGISTER: nat_uac_test(19) (Contact private | Via received | Via port); when NATed: force_rport(),
 * setbflag(6) (FLB_NATB) and setbflag(7) (FLB_NATSIPPING), then, by the `X-Nat-Mode` header,
 * fix_nated_register() (default), add_rcv_param() ("rcv") or set_contact_alias() ("alias");
 * save("location"). The 200 carries X-Nat: <nat_uac_test result>.
 * Other requests (in-dialog ones too: no Record-Route): lookup("location"), handle_ruri_alias() (an alias in the registered Contact
 * becomes $du), then relay; 404 when the AOR has no contact. OPTIONS to the server itself answers
 * 200 with X-Rfc1918: is_rfc1918($hdr(X-Ip)) and X-Bf: $bf after setbflag(3)/resetbflag(3).
 */
import {
  onRequest, Context, is_method, sl_reply, append_to_reply, pv, exit, drop, relay, save, lookup,
  nat_uac_test, fix_nated_register, add_rcv_param, set_contact_alias, handle_ruri_alias, force_rport,
  is_rfc1918, setbflag, resetbflag, isbflagset, has_ruri_user,
  NAT_CONTACT_PRIVATE, NAT_VIA_RECEIVED, NAT_VIA_PORT,
} from "../../../../../../sdk/assembly";

const FLB_NATB: i32 = 6;
const FLB_NATSIPPING: i32 = 7;

onRequest((ctx: Context): i32 => {
  if (is_method("REGISTER")) {
    const nat = nat_uac_test(NAT_CONTACT_PRIVATE | NAT_VIA_RECEIVED | NAT_VIA_PORT);
    append_to_reply("X-Nat: " + nat.toString());
    if (nat == 1) {
      force_rport();
      setbflag(FLB_NATB);
      setbflag(FLB_NATSIPPING);
      const mode = pv("$hdr(X-Nat-Mode)");
      if (mode == "rcv") add_rcv_param(0);
      else if (mode == "alias") set_contact_alias(0);
      else fix_nated_register();
    }
    save("location", 0);
    return exit();
  }
  if (is_method("OPTIONS") && !has_ruri_user()) {
    const ip = pv("$hdr(X-Ip)");
    append_to_reply("X-Rfc1918: " + is_rfc1918(ip !== null ? ip : "").toString());
    setbflag(3);
    setbflag(9);
    resetbflag(3);
    append_to_reply("X-Bf: " + (pv("$bf") as string) + " " + (isbflagset(9) ? "9" : "-") + (isbflagset(3) ? "3" : "-"));
    sl_reply(200, "OK");
    return exit();
  }
  // every other request (ACK and BYE of a call too: there is no Record-Route) goes by its AOR
  const r = lookup("location");
  if (r != 1) {
    if (is_method("ACK")) return drop();
    sl_reply(404, "Not Found");
    return exit();
  }
  const a = handle_ruri_alias();
  if (a == -1) {
    sl_reply(400, "Bad Request - Alias");
    return exit();
  }
  append_to_reply("X-Natb: " + (isbflagset(FLB_NATB) ? "1" : "0"));
  return relay();
});
