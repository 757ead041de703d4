/**
 * Test plugin: the acc imports. A MESSAGE calls acc_db_request($hdr(X-Comment), $hdr(X-Table)),
 * or acc_log_request($hdr(X-Comment)) when X-Table is "log", and answers 200 with the return code
 * as its reason ("acc=1"). REGISTER / anything else: 200 OK.
 */
import { onRequest, Context, is_method, sl_reply, pv, exit, acc_db_request, acc_log_request } from "../../../../../../sdk/assembly";

onRequest((ctx: Context): i32 => {
  if (is_method("MESSAGE")) {
    const table = pv("$hdr(X-Table)");
    const comment = pv("$hdr(X-Comment)");
    const c = comment === null ? "" : comment;
    const r = table === null || table == "log" ? acc_log_request(c) : acc_db_request(c, table);
    sl_reply(200, "acc=" + r.toString());
    return exit();
  }
  sl_reply(200, "OK");
  return exit();
});
