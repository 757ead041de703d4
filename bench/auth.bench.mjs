// Digest cost (host/modules/auth): µs per challenge (nonce + headers + the reply call) and per
// findCredentials + verify for each algorithm, with nonce_count on (the default), and the cost of
// refusing a forged nonce (what a guesser makes the server spend). The reply is a no-op here: the
// SIP build/send cost is the pipeline's (bench/pipeline.bench.mjs).
// Usage: npm run build && node bench/auth.bench.mjs   (results: bench/RESULTS.md "Digest authentication")
import { performance } from 'node:perf_hooks';
import { createHash } from 'node:crypto';

const { DigestAuth, resolveAuthConfig } = await import('../dist/host/modules/auth/index.js');
const { parseMessage } = await import('../dist/host/sip/parser.js');

const N = 50_000;
const H = (alg, s) => createHash(alg.startsWith('SHA-256') ? 'sha256' : 'md5').update(s).digest('hex');

function request(extra) {
  const text = [
    'REGISTER sip:example.com SIP/2.0', 'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1', 'From: <sip:alice@example.com>;tag=1',
    'To: <sip:alice@example.com>', 'Call-ID: c1@192.0.2.10', 'CSeq: 1 REGISTER', 'Max-Forwards: 70', ...extra, 'Content-Length: 0', '', '',
  ].join('\r\n');
  const r = parseMessage(Buffer.from(text));
  if (!r.ok) throw new Error('bad message');
  return r.message;
}
const ctxOf = (msg) => ({ msg, source: { address: '192.0.2.10', port: 5060, proto: 'udp', family: 4 }, replied: false, slReply: () => true });

function answer(alg, nonce, nc) {
  const ha1 = H(alg, 'alice:example.com:pw');
  const ha2 = H(alg, 'REGISTER:sip:example.com');
  const ncs = nc.toString(16).padStart(8, '0');
  const resp = H(alg, `${ha1}:${nonce}:${ncs}:c0ffee:auth:${ha2}`);
  return `Authorization: Digest username="alice", realm="example.com", nonce="${nonce}", uri="sip:example.com", response="${resp}", algorithm=${alg}, qop=auth, nc=${ncs}, cnonce="c0ffee"`;
}

// wall time and this process's CPU time per call (CPU is the steadier figure on a shared, loaded machine)
function time(name, n, fn) {
  for (let i = 0; i < 2000; i++) fn(i);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  const us = ((performance.now() - t0) * 1000) / n;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / n;
  console.log(`${name.padEnd(52)} ${us.toFixed(2).padStart(7)} µs wall ${cpu.toFixed(2).padStart(7)} µs CPU`);
}

for (const alg of ['MD5', 'SHA-256']) {
  const auth = new DigestAuth(resolveAuthConfig({ algorithms: ['SHA-256', 'MD5'] }), 'b'.repeat(40));
  time(`challenge (2 headers, one nonce)`, N, () => auth.challenge(ctxOf(request([])), 'example.com', 1, 'www'));
  // one nonce, increasing nc: the steady state of a UA re-registering with a cached nonce
  const hdr = (() => { const c = ctxOf(request([])); let h; c.slReply = (_c, _r, hs) => ((h = hs), true); auth.challenge(c, 'example.com', 1, 'www'); return h[0]; })();
  const nonce = /nonce="([^"]+)"/.exec(hdr)[1];
  const msgs = Array.from({ length: N + 2000 }, (_, i) => request([answer(alg, nonce, i + 1)]));
  let bad = 0;
  let k = 0; // each call takes the next nc (warm-up included): no replay
  time(`${alg}: findCredentials + verify (password given)`, N, () => {
    const ctx = ctxOf(msgs[k++]);
    const f = auth.findCredentials(ctx, 'example.com', 'www');
    if (f.code !== 1 || auth.verify(ctx, f.cred, { password: 'pw' }) !== 1) bad++;
  });
  if (bad) console.log(`  (${bad} refused)`);
}
{
  const auth = new DigestAuth(resolveAuthConfig({}), 'b'.repeat(40));
  const forged = request([answer('SHA-256', 'AWsUVaarpCaU4OCAypugp-pRKPM_Ouzcutuw52M', 1)]);
  time('forged nonce refused (parse + HMAC)', N, () => auth.findCredentials(ctxOf(forged), 'example.com', 'www'));
}
