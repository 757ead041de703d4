#!/usr/bin/env node
/**
 * registrar save() micro benchmark (host/modules/registrar): what one REGISTER costs as its AOR
 * grows, in memory mode (db_mode 0), with the real parser.
 *
 *   node bench/registrar-save.bench.mjs [--dist DIR]
 *
 * --dist: the compiled host to load (default dist/ of this checkout), so a build of another commit
 * is measured the same way. For N = 100, 300, 1000, 3000 stored contacts of one AOR (max_contacts 0),
 * a REGISTER refreshing all N (one Contact header per 50 URIs) is saved 20 times; the mean time per
 * REGISTER and per contact is printed. O(N) work stays flat per contact, O(N^2) grows with N.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const i = process.argv.indexOf('--dist');
const dist = path.resolve(i > 0 ? process.argv[i + 1] : path.join(here, '../dist'));
const load = (p) => import(pathToFileURL(path.join(dist, p)).href);
const { parseMessage } = await load('host/sip/parser.js');
const { Registrar } = await load('host/modules/registrar/registrar.js');
const { Location } = await load('host/modules/registrar/location.js');
const { resolveRegistrarConfig } = await load('host/modules/registrar/config.js');
const pino = (await import('pino')).default;

const log = pino({ level: 'silent' });
const SRC = { address: '127.0.0.1', port: 5070, proto: 'udp', family: 4 };
const LOCAL = { address: '127.0.0.1', port: 5060, proto: 'udp', family: 4 };

function register(n, cseq) {
  const uris = Array.from({ length: n }, (_, k) => `<sip:u${k}@10.0.${k >> 8}.${k & 255}:5060>`);
  const lines = [];
  for (let k = 0; k < uris.length; k += 50) lines.push(`Contact: ${uris.slice(k, k + 50).join(',')}`);
  const text = ['REGISTER sip:example.com SIP/2.0', 'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-b' + cseq, 'Max-Forwards: 70',
    'From: <sip:a@example.com>;tag=1', 'To: <sip:a@example.com>', 'Call-ID: bench-reg', `CSeq: ${cseq} REGISTER`, ...lines, 'Content-Length: 0', '', ''].join('\r\n');
  const r = parseMessage(Buffer.from(text), { maxMessageSize: 1 << 20, maxHeaders: 4096 });
  if (!r.ok) throw new Error(r.failure.reason);
  return r.message;
}

console.log(`dist: ${dist}`);
console.log('contacts  ms/REGISTER  us/contact');
for (const n of [100, 300, 1000, 3000]) {
  const cfg = resolveRegistrarConfig({ max_contacts: 0, max_location_contacts: 0, nat_received: 0 });
  const reg = new Registrar(cfg, log);
  reg.addTable(new Location({ name: 'location', dbMode: 0, backend: null, timerInterval: 3600, log }));
  const msgs = Array.from({ length: 22 }, (_, k) => register(n, k + 1));
  reg.saveSync('location', msgs[0], SRC, LOCAL); // insert all N
  reg.saveSync('location', msgs[1], SRC, LOCAL); // warm
  const t0 = performance.now();
  for (let k = 2; k < msgs.length; k++) reg.saveSync('location', msgs[k], SRC, LOCAL);
  const ms = (performance.now() - t0) / (msgs.length - 2);
  console.log(`${String(n).padStart(8)}  ${ms.toFixed(2).padStart(11)}  ${((ms * 1000) / n).toFixed(2).padStart(10)}`);
}
