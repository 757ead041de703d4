/**
 * rtpengine counters for stats.get_statistics (`rtpengine:<name>`) and /metrics. Kamailio's
 * rtpengine module exports none of its own; these are siphon's.
 */
export class RtpengineStats {
  /** offers / answers rtpengine answered `ok` (the SDP was replaced). */
  offers = 0;
  answers = 0;
  /** deletes sent (fire-and-forget). */
  deletes = 0;
  /** offers/answers that failed on every instance tried (E7601): the message went on unchanged or was answered failure_reply. */
  failures = 0;
  /** requests answered modules.rtpengine.failure_reply after a failed offer/answer. */
  rejected = 0;
  /** ng datagrams sent (every try, pings included). */
  requestsSent = 0;
  /** ng requests without an answer after rtpengine_retr tries. */
  timeouts = 0;
  /** answers with result "error" (rtpengine refused the command; its error-reason is logged). */
  errorAnswers = 0;
  /** datagrams that could not be sent. */
  sendErrors = 0;
  /** answers that were not `<cookie> <bencoded dictionary>`. */
  badAnswers = 0;
  /** answers for no waiting cookie or from another address than the one asked. */
  strayAnswers = 0;
  /** an offer moved on to the next instance after one timed out. */
  failovers = 0;
  /** times an instance was disabled after a timeout (E7603). */
  instancesDisabled = 0;
  /** ng requests refused because max_pending were waiting (E7602). */
  pendingRefused = 0;
  /** calls forgotten because max_sessions were remembered. */
  sessionsEvicted = 0;

  toStatistics(): Record<string, number> {
    return {
      offers: this.offers,
      answers: this.answers,
      deletes: this.deletes,
      failures: this.failures,
      rejected: this.rejected,
      ng_sent: this.requestsSent,
      ng_timeouts: this.timeouts,
      ng_error_answers: this.errorAnswers,
      ng_send_errors: this.sendErrors,
      ng_bad_answers: this.badAnswers,
      ng_stray_answers: this.strayAnswers,
      failovers: this.failovers,
      instances_disabled: this.instancesDisabled,
      pending_refused: this.pendingRefused,
      sessions_evicted: this.sessionsEvicted,
    };
  }
}
