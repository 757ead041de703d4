#!/usr/bin/env node
/**
 * Holds an operator console open against a running node while a load test runs (the "OPTIONS figure
 * unchanged with the console open and a trace filter set" check of issue #17): logs in, keeps one SSE
 * stream with the overview and a live-trace filter (the tap is then on and every message is summarized
 * and matched), and prints what it received every 10 s. Stop it with Ctrl-C.
 *
 *   # the node under test needs core.http with a console, e.g. appended to bench/siphon-options-bare.yaml:
 *   #   core.http: { port: 8090, console: { passwd_file: ../var/bench-console.passwd } }
 *   echo bench-password | node dist/host/cli/siphon.js console passwd bench --passwd-file var/bench-console.passwd
 *   CONSOLE_PASSWORD=bench-password node bench/console-watch.mjs http://127.0.0.1:8090 bench [--user NAME | --callid ID | --ip ADDR]
 *
 * Without a filter option the filter is `user=nobody-matches` (every message is captured and tested,
 * none is sent); `--all` sends every message to this client (the worst case).
 */
import http from 'node:http';

const [base = 'http://127.0.0.1:8090', user = 'bench', ...rest] = process.argv.slice(2);
const password = process.env.CONSOLE_PASSWORD ?? '';
const q = new URLSearchParams({ topics: 'overview,trace' });
for (let i = 0; i < rest.length; i += 2) if (['--user', '--callid', '--ip'].includes(rest[i])) q.set(rest[i].slice(2), rest[i + 1] ?? '');
if (!rest.includes('--all') && ![...q.keys()].some((k) => k !== 'topics')) q.set('user', 'nobody-matches');

const login = await fetch(`${base}/console/api/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: base }, body: JSON.stringify({ user, password }) });
if (!login.ok) {
  console.error(`login failed: ${login.status} ${await login.text()}`);
  process.exit(1);
}
const cookie = login.headers.get('set-cookie').split(';', 1)[0];
const u = new URL(`/console/api/events?${q}`, base);
let trace = 0;
let overview = 0;
let bytes = 0;
http.get({ host: u.hostname, port: u.port, path: u.pathname + u.search, headers: { cookie } }, (res) => {
  if (res.statusCode !== 200) {
    console.error(`events: HTTP ${res.statusCode}`);
    process.exit(1);
  }
  res.setEncoding('utf8');
  res.on('data', (c) => {
    bytes += c.length;
    trace += c.split('event: trace\n').length - 1;
    overview += c.split('event: overview\n').length - 1;
  });
  res.on('end', () => process.exit(0));
});
console.log(`watching ${u.href}`);
setInterval(() => console.log(`${new Date().toISOString()} trace events ${trace}, overview samples ${overview}, ${bytes} bytes`), 10_000);
