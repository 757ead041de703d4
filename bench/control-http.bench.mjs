// Cost of the control HTTP listener's checks (host/rpc/http-guard.ts): HttpGuard.check alone, without
// and with a bearer token (one SHA-256 of the presented token per request), and JSON-RPC core.echo round
// trips over the real loopback listener (keep-alive, sequential), without and with a token.
// Usage: npm run build && node bench/control-http.bench.mjs
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const { HttpGuard } = await import('../dist/host/rpc/http-guard.js');
const { startControlPlane } = await import('../dist/host/rpc/control-plane.js');
const { registerCoreMethods } = await import('../dist/host/rpc/core-methods.js');
const { MethodRegistry } = await import('../dist/host/rpc/registry.js');

const TOKEN = 'bench-token-0123456789abcdef0123';

function calibrate() {
  let x = 0;
  const t0 = performance.now();
  for (let i = 0; i < 1e8; i++) x = (x + i) | 0;
  return { ns: ((performance.now() - t0) * 1e6) / 1e8, x };
}

function checkCost(token) {
  const guard = new HttpGuard({ listenHost: '127.0.0.1', token });
  const req = {
    method: 'POST',
    headers: {
      host: '127.0.0.1:8080',
      origin: 'http://127.0.0.1:8080',
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
  };
  const n = 500_000;
  let refused = 0;
  for (let i = 0; i < 50_000; i++) if (guard.check(req)) refused++;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) if (guard.check(req)) refused++;
  if (refused) throw new Error('the bench request was refused');
  return ((performance.now() - t0) * 1e6) / n;
}

async function roundTrips(token, n) {
  const registry = new MethodRegistry();
  registerCoreMethods(registry, { name: 'siphon', version: 'bench', startedAt: new Date(), statisticsProviders: () => [], getLogLevel: () => 'info', setLogLevel: () => undefined });
  const plane = await startControlPlane({ registry, ctl: [], http: { host: '127.0.0.1', port: 0, token } });
  const port = Number(new URL(plane.httpUrl).port);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const body = JSON.stringify({ jsonrpc: '2.0', method: 'core.echo', params: ['x'], id: 1 });
  const headers = { host: `127.0.0.1:${port}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const one = () =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/RPC', headers, agent }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(body);
    });
  for (let i = 0; i < 500; i++) await one();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await one();
  const us = ((performance.now() - t0) * 1000) / n;
  agent.destroy();
  await plane.close();
  return us;
}

const cal = calibrate();
console.log(`calibration: ${cal.ns.toFixed(2)} ns per trivial loop iteration`);
console.log(`HttpGuard.check, no token:   ${checkCost(null).toFixed(0)} ns`);
console.log(`HttpGuard.check, with token: ${checkCost(TOKEN).toFixed(0)} ns`);
const N = 5000;
console.log(`JSON-RPC core.echo round trip (keep-alive, sequential, ${N}), no token:   ${(await roundTrips(null, N)).toFixed(1)} µs`);
console.log(`JSON-RPC core.echo round trip (keep-alive, sequential, ${N}), with token: ${(await roundTrips(TOKEN, N)).toFixed(1)} µs`);
