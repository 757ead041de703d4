/**
 * plugins/default, route[AUTH]: kamailio.cfg with WITH_AUTH. REGISTER and requests from one of our
 * users (From host is myself) must carry valid digest credentials of a subscriber (auth, auth_db),
 * and the authenticated user must be the From user (To user for REGISTER: auth_check flag 1). Calls
 * *to* our users from anywhere are not challenged; anything else is refused: not an open relay.
 *
 * `routing.config.auth`: on | off | auto (default). auto authenticates when the node has the auth
 * modules (`modules.auth` + `modules.auth_db`, as config/siphon.yaml ships) and passes otherwise (a lab
 * node without subscribers); on refuses with 500 when they are missing (fail closed); off never
 * authenticates (lab).
 */
import {
  is_method, is_myself, is_myself_ruri, pv, sl_reply, xlog, L_NOTICE, L_WARN, L_ERR, exit, drop, cfg_read,
  auth_check, auth_challenge, consume_credentials, auth_loaded, AUTH_CHECK_ID,
  AUTH_OK, AUTH_ERROR, AUTH_STALE_NONCE, AUTH_USER_MISMATCH, CHALLENGE_QOP_AUTH, CHALLENGE_STALE,
} from "../../../sdk/assembly";
import { PASS, configString } from "./common";

/** the subscriber table (auth_db's `tables`, Kamailio's `subscriber`). */
const SUBSCRIBER_TABLE = "subscriber";

const MODE_AUTO: i32 = 0;
const MODE_ON: i32 = 1;
const MODE_OFF: i32 = 2;
/** `routing.config.auth`, read once per instance (-1 = not read yet). */
let modeValue: i32 = -1;
/** whether the node has modules.auth: 1 yes, 0 no (logged once per instance), -1 not asked yet. */
let loadedValue: i32 = -1;

function mode(): i32 {
  if (modeValue < 0) {
    const v = configString(cfg_read(), "auth");
    const s = v === null ? "auto" : v.toLowerCase();
    modeValue = s == "on" || s == "true" || s == "yes" ? MODE_ON : s == "off" || s == "false" || s == "no" ? MODE_OFF : MODE_AUTO;
  }
  return modeValue;
}

/*
 * route[AUTH] {
 *   if (is_method("REGISTER") || from_uri==myself) {
 *     if (!auth_check("$fd", "subscriber", "1")) { auth_challenge("$fd", "0"); exit; }
 *     if (!is_method("REGISTER|PUBLISH")) consume_credentials();
 *   }
 *   if (from_uri!=myself && uri!=myself) { sl_send_reply("403", "Not relaying"); exit; }
 * }
 * siphon differences: a failed subscriber lookup (database down) answers 500 instead of a new
 * challenge (fail closed, visibly); a user claiming another user's From gets 403 instead of a
 * challenge it can never pass; the challenge offers qop=auth (nonce counts: no replay).
 */
export function auth(): i32 {
  const m = mode();
  if (m == MODE_OFF) return PASS;
  if (!modulesLoaded()) {
    if (m == MODE_AUTO) return PASS;
    xlog(L_ERR, "AUTH: routing.config.auth is on but modules.auth / modules.auth_db are not configured: $rm answered 500\n");
    if (is_method("ACK")) return drop();
    sl_reply(500, "Server Internal Error - Authentication Not Configured");
    return exit();
  }
  // ACK and CANCEL are never challenged (RFC 3261 §22.1: they cannot be resubmitted)
  if (is_method("ACK") || is_method("CANCEL")) return PASS;

  const fu = pv("$fu");
  const fromLocal = fu !== null && is_myself(fu);
  if (is_method("REGISTER") || fromLocal) {
    // realm "": the To host for REGISTER, the From host otherwise (Kamailio's "$fd" in practice)
    const rc = auth_check("", SUBSCRIBER_TABLE, AUTH_CHECK_ID);
    if (rc == AUTH_OK) {
      // the credentials were for us: not passed downstream (REGISTER and PUBLISH stay as they are)
      if (!is_method("REGISTER") && !is_method("PUBLISH")) consume_credentials();
    } else if (rc == AUTH_ERROR) {
      xlog(L_ERR, "AUTH: cannot check the credentials of $rm from $fu ($si:$sp): answered 500\n");
      sl_reply(500, "Server Internal Error");
      return exit();
    } else if (rc == AUTH_USER_MISMATCH) {
      xlog(L_NOTICE, "AUTH: $au authenticated but $rm claims $fu ($si:$sp): 403\n");
      sl_reply(403, "Forbidden - Identity Mismatch");
      return exit();
    } else {
      const flags = CHALLENGE_QOP_AUTH | (rc == AUTH_STALE_NONCE ? CHALLENGE_STALE : 0);
      const c = auth_challenge("", flags);
      if (c != 1) {
        xlog(L_ERR, "AUTH: cannot challenge $rm from $si:$sp (" + c.toString() + ")\n");
        if (is_method("ACK")) return drop();
        sl_reply(500, "Server Internal Error");
      }
      return exit();
    }
  }
  // not one of our users, and not to one of ours: we are not an open relay
  if (!fromLocal && !is_myself_ruri()) {
    sl_reply(403, "Not relaying");
    return exit();
  }
  return PASS;
}

/** modules.auth on this node (asked once per instance; auto mode logs its absence once). */
function modulesLoaded(): bool {
  if (loadedValue < 0) {
    loadedValue = auth_loaded() ? 1 : 0;
    if (loadedValue == 0 && mode() == MODE_AUTO) {
      xlog(L_WARN, "AUTH: no modules.auth / modules.auth_db on this node: requests are not authenticated (routing.config.auth: auto)\n");
    }
  }
  return loadedValue == 1;
}
