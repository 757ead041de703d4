/**
 * hello: the smallest useful siphon plugin. Logs every request and answers 501 Not Implemented.
 *
 * The same logic in kamailio.cfg:
 *
 *   request_route {
 *     xinfo("I got a message: $rm $ru from $si:$sp (Call-ID $ci)\n");
 *     if (is_method("ACK")) exit;          # an ACK never gets a reply (RFC 3261 §17.2.1)
 *     sl_send_reply("501", "Not Implemented");
 *     exit;
 *   }
 */
import { onRequest, Context, is_method, sl_reply, xinfo, exit, drop } from "../../../sdk/assembly";

onRequest((ctx: Context): i32 => {
  xinfo("I got a message: $rm $ru from $si:$sp (Call-ID $ci)");
  if (is_method("ACK")) return drop();
  sl_reply(501, "Not Implemented");
  return exit();
});
