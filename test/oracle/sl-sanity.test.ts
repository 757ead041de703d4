/**
 * Oracle for sl/sanity: Kamailio (test/oracle/kamailio/sl-sanity.cfg: the default kamailio.cfg's
 * REQINIT with sanity_check("17895", "7"), then t_relay to a next hop) and siphon (plugins/sl-sanity:
 * the same route; sanity is the host's, host/core/sanity.ts and the parser) get the same bytes over
 * UDP: the conformance corpus (/work/shared/conformance) as it is, and generated requests (every
 * method × one defect or oddity at a time, sl-sanity-cases.ts). What each one answered and relayed
 * (status, headers, the request at the next hop, the hop-by-hop ACK) is compared after normalising
 * (harness/compare.ts). Every difference is either gone or listed below with its reason, which
 * host/core/README.md ("Differences from Kamailio") explains.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { conformanceMessages } from '../helpers/shared.js';
import { ROOT } from '../helpers/siphon-process.js';
import { generatedRequest, METHODS, MUTATIONS } from './sl-sanity-cases.js';
import { assertKamailioWhenRequired, kamailioInstalled, kamailioRequired, OraclePair, OracleReport, runCase, type KnownDifference } from './harness/index.js';

const HERE = import.meta.dirname;

/** the deliberate differences (host/core/README.md "Differences from Kamailio"). */
const KNOWN: KnownDifference[] = [
  {
    case: /^rfc4475\/(badinv01|badvers|insuf|lwsstart|lwsruri|mcl01|multi01|ncl)\.dat$|^[A-Z]+ (no (From|To|Call-ID|CSeq)|Request-URI version SIP\/2\.1)$/,
    path: /^replies\.length$/,
    reason: 'unparsable request: siphon answers 400/505 when it can address a reply (RFC 4475 §3.1.2, §3.3.1); Kamailio drops it without a reply',
  },
  {
    case: /^rfc4475\/(badaspec|regbadct|escruri|trws)\.dat$/,
    path: /./,
    reason: 'invalid per RFC 4475 §3.1.2.10/.11/.13/.14 (trailing SP in the Request-Line, headers in the Request-URI, unbracketed Contact with parameters, spaces in an addr-spec): siphon 400; Kamailio relays it',
  },
  {
    case: /^rfc4475\/(wsinv|intmeth|esc02|unksm2)\.dat$/,
    path: /./,
    reason: 'valid per RFC 4475 §3.1.1.1/.2/.5, §3.3.4 (tortuous INVITE, unusual method and URI characters, % that is no escape, non-SIP URIs in From/To): siphon relays; Kamailio drops or refuses it',
  },
  {
    case: /^rfc4475\/dblreq\.dat$|Content-Length smaller than body$/,
    path: /./,
    reason: 'UDP datagram longer than Content-Length: siphon discards the extra octets and routes (RFC 3261 §18.3, RFC 4475 §3.1.1.8); Kamailio sanity_check (128) answers 400 Content-Length mis-match',
  },
  {
    case: /^rfc4475\/(novelsc|unkscm)\.dat$|http Request-URI$/,
    path: /^replies\[0\]\.line$/,
    reason: 'Request-URI scheme not sip/sips/tel: siphon 416 before routing (RFC 3261 §8.2.2.1, RFC 4475 §3.3.2-3); Kamailio answers such an OPTIONS 200 Keepalive (uri == myself comes first) and others 400 (sanity URI parse)',
  },
  {
    case: /^rfc4475\/bext01\.dat$|Proxy-Require$/,
    path: /./,
    reason: 'Proxy-Require: siphon answers 420 with Unsupported (RFC 3261 §16.3 step 4, a MUST); the default cfg\'s sanity_check("17895") leaves the Proxy-Require check (512) out and relays',
  },
  {
    case: /CSeq 2\^31$/,
    path: /./,
    reason: 'CSeq number 2^31: siphon 400 (RFC 3261 §8.1.1.5: less than 2**31); Kamailio sanity only wants 32 bits and relays',
  },
  {
    case: /Max-Forwards not a number$/,
    path: /^replies\[0\]\.line$/,
    reason: 'unparsable Max-Forwards: siphon 400 before routing; the cfg idiom if (!mf_process_maxfwd_header()) answers 483 for maxfwd\'s -2 too',
  },
  {
    case: /Expires not a number$/,
    path: /./,
    reason: 'Expires not a number: siphon checks the fields it uses (RFC 3261 §16.3 step 1) and relays; Kamailio sanity_check (256) answers 400',
  },
  {
    case: /^rfc4475\/(cparam02|regescrt)\.dat$|rfc3665-s3\.8-f9-cancel\.sip$/,
    path: /./,
    reason: 'the corpus reuses an earlier message\'s branch and sent-by: siphon matches the earlier transaction (RFC 3261 §17.2.3) and resends its reply or answers the CANCEL itself (§16.10); Kamailio\'s tm hashes by Call-ID and CSeq and sees a new request',
  },
  {
    case: /^rfc4475\/inv2543\.dat$|no Content-Length over UDP$/,
    path: /^forwarded\[1\]\.header\.content-length$/,
    reason: 'hop-by-hop ACK of an INVITE without Content-Length: Kamailio leaves it out, siphon writes Content-Length: 0 (RFC 3261 §20.14)',
  },
];

let pair: OraclePair;
const report = new OracleReport('sl/sanity', KNOWN);

beforeAll(async () => {
  assertKamailioWhenRequired();
  if (!kamailioInstalled) return;
  await promisify(execFile)(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', path.join(HERE, 'plugins'), 'sl-sanity'], { cwd: ROOT, timeout: 120_000 });
  pair = await OraclePair.start({
    kamailio: { cfg: path.join(HERE, 'kamailio/sl-sanity.cfg'), modules: ['sl.so', 'tm.so', 'sanity.so', 'maxfwd.so'], defines: (hop) => ({ NEXT_HOP: `"${hop}"` }) },
    siphon: { plugin: path.join(HERE, 'plugins/sl-sanity/build/sl-sanity.wasm'), config: (hop) => ({ next_hop: hop }) },
  });
}, 60_000);
afterAll(async () => pair?.stop());

describe.skipIf(!kamailioInstalled && !kamailioRequired)('oracle sl/sanity (Kamailio sanity_check + sl_send_reply vs siphon)', () => {
  it('the conformance corpus, byte for byte', async () => {
    const corpus = conformanceMessages();
    for (const [name, bytes] of corpus) await runCase(pair, report, name, bytes);
    expect(report.compared).toBe(corpus.length);
    expect(report.compared).toBeGreaterThanOrEqual(70);
  }, 60_000);

  it('generated requests: every method × one defect at a time', async () => {
    let n = 0;
    for (const m of METHODS) for (const mut of Object.keys(MUTATIONS)) await runCase(pair, report, `${m} ${mut}`, generatedRequest(m, mut, ++n));
    expect(n).toBeGreaterThanOrEqual(400);
  }, 60_000);

  it('every difference is a known, documented one', () => {
    console.log(report.summary());
    expect(report.compared).toBeGreaterThanOrEqual(470);
    // most cases agree outright: the allow-list is for exceptions
    expect(report.identical).toBeGreaterThanOrEqual(300);
    expect(report.unexpected()).toEqual([]);
    expect(report.unusedKnown()).toEqual([]);
  });
});
