// A minimal JsSIP phone (docs/webrtc.md). window.siphonPhone is the API the form below uses and the
// end-to-end test drives (test/e2e/webrtc-browser.test.ts): register, call, answer, hang up, and the
// RTP packet counters of the call's RTCPeerConnection (getStats: outbound-rtp / inbound-rtp).
/* global JsSIP */
(function () {
  'use strict';
  const logEl = document.getElementById('log');
  const remoteAudio = document.getElementById('remote');
  /** every event of the phone, oldest first: "registered", "incoming sip:bob@...", "confirmed", "ended BYE" ... */
  const events = [];
  let ua = null;
  let session = null;

  function log(line) {
    events.push(line);
    if (events.length > 500) events.shift();
    logEl.textContent += line + '\n';
  }

  /** waits (bounded) for the first event from index `from` on that starts with one of `prefixes`. */
  function waitEvent(prefixes, ms, from) {
    const deadline = Date.now() + ms;
    return new Promise((resolve, reject) => {
      (function poll() {
        for (let i = from || 0; i < events.length; i++) {
          if (prefixes.some((p) => events[i].startsWith(p))) return resolve(events[i]);
        }
        if (Date.now() > deadline) return reject(new Error('no ' + prefixes.join('|') + ' within ' + ms + ' ms; events: ' + events.join(', ')));
        setTimeout(poll, 50);
      })();
    });
  }

  function attach(s) {
    session = s;
    // the SDP of each side, for a failure message (what the far end or the media relay offered)
    s.on('sdp', (e) => {
      phone.sdp[e.originator] = e.sdp;
    });
    s.on('progress', () => log('progress'));
    s.on('accepted', () => log('accepted'));
    s.on('confirmed', () => log('confirmed'));
    s.on('ended', (e) => { log('ended ' + e.originator + ' ' + e.cause); session = null; });
    s.on('failed', (e) => { log('failed ' + e.originator + ' ' + e.cause); session = null; });
    s.on('peerconnection', (e) => {
      e.peerconnection.addEventListener('track', (t) => { remoteAudio.srcObject = t.streams[0]; });
    });
    // the caller's side: the RTCPeerConnection exists once call() returns
    if (s.connection) {
      s.connection.addEventListener('track', (t) => { remoteAudio.srcObject = t.streams[0]; });
    }
  }

  /** resolves "confirmed" once the call is up (200 OK and ACK), rejects with its failure or end. */
  async function confirmed(from, timeoutMs) {
    const r = await waitEvent(['confirmed', 'failed', 'ended'], timeoutMs || 20000, from);
    if (r !== 'confirmed') throw new Error(r);
    return r;
  }

  const callOptions = {
    mediaConstraints: { audio: true, video: false },
    // loopback only: no STUN/TURN servers (host candidates); a deployment lists its own here
    pcConfig: { iceServers: [] },
  };

  const phone = {
    events,
    /** the last SDP sent (local) and received (remote) */
    sdp: { local: '', remote: '' },
    /** opens the WebSocket and registers; resolves "registered", rejects with the failure's cause. */
    async register(o) {
      const socket = new JsSIP.WebSocketInterface(o.server);
      ua = new JsSIP.UA({
        sockets: [socket],
        uri: o.uri,
        password: o.password,
        display_name: o.displayName,
        register: true,
        register_expires: o.expires || 600,
        session_timers: false,
      });
      const from = events.length;
      ua.on('connected', () => log('connected'));
      ua.on('disconnected', () => log('disconnected'));
      ua.on('registered', () => log('registered'));
      ua.on('unregistered', () => log('unregistered'));
      ua.on('registrationFailed', (e) => log('registrationFailed ' + e.cause + (e.response ? ' ' + e.response.status_code : '')));
      ua.on('newRTCSession', (e) => {
        if (e.originator === 'remote') {
          log('incoming ' + e.request.from.uri.toString());
          attach(e.session);
        }
      });
      ua.start();
      const r = await waitEvent(['registered', 'registrationFailed'], o.timeoutMs || 15000, from);
      if (r !== 'registered') throw new Error(r);
      return r;
    },
    /** calls `target`; resolves once the call is confirmed (200 OK and ACK). */
    async call(target, timeoutMs) {
      const from = events.length;
      attach(ua.call(target, callOptions));
      return confirmed(from, timeoutMs);
    },
    /** answers the ringing call; resolves once it is confirmed (the caller's ACK). */
    async answer(timeoutMs) {
      if (!session) throw new Error('no call to answer');
      const from = events.length;
      session.answer(callOptions);
      return confirmed(from, timeoutMs);
    },
    /** hangs up (BYE; CANCEL before an answer); resolves with the "ended ..." event. */
    async hangup(timeoutMs) {
      if (!session) throw new Error('no call');
      const from = events.length;
      session.terminate();
      return waitEvent(['ended', 'failed'], timeoutMs || 10000, from);
    },
    /** waits for an event (prefix match) from index `from` on. */
    waitEvent,
    /** RTP counters of the current call: audio packets sent and received (RTCPeerConnection.getStats). */
    async stats() {
      const pc = session && session.connection;
      if (!pc) return null;
      const out = { packetsSent: 0, packetsReceived: 0, bytesSent: 0, bytesReceived: 0 };
      (await pc.getStats()).forEach((r) => {
        if (r.kind !== 'audio') return;
        if (r.type === 'outbound-rtp') { out.packetsSent += r.packetsSent || 0; out.bytesSent += r.bytesSent || 0; }
        if (r.type === 'inbound-rtp') { out.packetsReceived += r.packetsReceived || 0; out.bytesReceived += r.bytesReceived || 0; }
      });
      return out;
    },
    /**
     * the current call's transport as getStats sees it (why media does not flow): DTLS and ICE states,
     * the DTLS role, and the selected candidate pair's addresses and state; null without a call.
     */
    async transport() {
      const pc = session && session.connection;
      if (!pc) return null;
      const all = new Map();
      (await pc.getStats()).forEach((r) => all.set(r.id, r));
      const out = [];
      all.forEach((r) => {
        if (r.type !== 'transport') return;
        const pair = all.get(r.selectedCandidatePairId);
        const addr = (id) => { const c = all.get(id); return c ? c.address + ':' + c.port : null; };
        out.push({
          dtlsState: r.dtlsState, iceState: r.iceState, dtlsRole: r.dtlsRole, iceRole: r.iceRole,
          pair: pair ? { local: addr(pair.localCandidateId), remote: addr(pair.remoteCandidateId), state: pair.state, nominated: pair.nominated } : null,
        });
      });
      return out;
    },
    /** unregisters and closes the WebSocket. */
    stop() {
      if (ua) ua.stop();
    },
  };
  window.siphonPhone = phone;

  // the form, for a person trying it by hand
  document.getElementById('account').addEventListener('submit', (ev) => {
    ev.preventDefault();
    phone.register({
      server: document.getElementById('server').value,
      uri: document.getElementById('uri').value,
      password: document.getElementById('password').value,
    }).catch((e) => log(String(e)));
  });
  document.getElementById('dial').addEventListener('submit', (ev) => {
    ev.preventDefault();
    phone.call(document.getElementById('target').value).catch((e) => log(String(e)));
  });
  document.getElementById('answer').addEventListener('click', () => phone.answer().catch((e) => log(String(e))));
  document.getElementById('hangup').addEventListener('click', () => phone.hangup().catch((e) => log(String(e))));
})();
