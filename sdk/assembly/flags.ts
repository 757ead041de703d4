/**
 * Branch flags of branch 0 (Kamailio setbflag/resetbflag/isbflagset), over the `$bf`
 * pseudo-variable (pv_get/pv_set: no import of their own). registrar save() stores them as the
 * contacts' cflags and lookup() restores them, which is how nathelper's keepalives find NATed
 * contacts (kamailio.cfg: `setbflag(FLB_NATB)` before save, usrloc `nat_bflag`).
 */
import { pv, pv_set } from "./index";

function bflags(): u32 {
  const v = pv("$bf");
  return v === null ? 0 : <u32>U64.parseInt(v);
}

/** Kamailio setbflag(flag): sets flag 0-31 on branch 0. 1 ok, -1 bad flag or refused. */
export function setbflag(flag: i32): i32 {
  if (flag < 0 || flag > 31) return -1;
  return pv_set("$bf", (bflags() | (<u32>1 << <u32>flag)).toString()) > 0 ? 1 : -1;
}

/** Kamailio resetbflag(flag): clears flag 0-31 of branch 0. 1 ok, -1 bad flag or refused. */
export function resetbflag(flag: i32): i32 {
  if (flag < 0 || flag > 31) return -1;
  return pv_set("$bf", (bflags() & ~(<u32>1 << <u32>flag)).toString()) > 0 ? 1 : -1;
}

/** Kamailio isbflagset(flag): true when flag 0-31 is set on branch 0. */
export function isbflagset(flag: i32): bool {
  if (flag < 0 || flag > 31) return false;
  return (bflags() & (<u32>1 << <u32>flag)) != 0;
}
