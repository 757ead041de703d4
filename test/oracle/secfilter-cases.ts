/**
 * Rules and generated requests for the secfilter oracle (secfilter.test.ts). The same rows go into
 * Kamailio's `secfilter` table, which both servers read; the requests carry what every secf_check_*
 * function looks at: User-Agent, From/To (display name, URI user, host), the first Contact, the source
 * address (one client pair per IP outcome), and the string arguments of secf_check_country/_dst/
 * _sqli_hdr in X-Country, X-Dst and X-Sqli headers (the routes pass `$hdr(...)`).
 *
 * Each value list holds rule hits exactly, by prefix, in another case, one character short, whitelist
 * over blacklist, and values no rule names; cases walk the lists with coprime strides, so every value
 * meets many others. Each case has its own Call-ID and branch.
 */
import type { Side } from './harness/index.js';

/** secfilter table: action 0 blacklist, 1 whitelist, 2 destination; type 0 UA (number for 2), 1 country, 2 domain, 3 IP, 4 user. */
export type Row = [action: 0 | 1 | 2, type: 0 | 1 | 2 | 3 | 4, data: string];

export const BASE_ROWS: Row[] = [
  // user agents: scanners blacklisted; a whitelisted prefix inside a blacklisted one wins
  [0, 0, 'friendly-scanner'], [0, 0, 'sipvicious'], [0, 0, 'sipcli'], [0, 0, 'VaxSIPUserAgent'], [0, 0, 'sundayddr'],
  [0, 0, 'PortSIP VoIP SDK'], [0, 0, 'Zoiper 2.'], [1, 0, 'Zoiper 2.10'], [1, 0, 'Linphone'], [1, 0, 'friendly-scanner-allowed'],
  // countries
  [0, 1, 'ru'], [0, 1, 'CN'], [0, 1, 'k'], [1, 1, 'es'], [1, 1, 'kr'],
  // domains
  [0, 2, 'evil.example'], [0, 2, '10.0.0.'], [0, 2, 'scam'], [1, 2, 'trusted.example'], [1, 2, 'evil.example.good'],
  // users and display names (one list)
  [0, 4, 'admin'], [0, 4, '100'], [0, 4, 'Bad Guy'], [0, 4, 'mallory'], [1, 4, 'alice'], [1, 4, '1001'], [1, 4, 'Good Name'],
  // destinations
  [2, 0, '900123'], [2, 0, '0034900'], [2, 0, '+4420'], [2, 0, 'sos'], [2, 0, '1'],
];

/**
 * The rows sorted as the index secfilter_idx (action, type, data) holds them, the order MariaDB returns
 * Kamailio's `SELECT action, type, data` (a covering index scan); siphon reads by id. Inserted in this
 * order, both servers scan each list in the same order, which decides between a rule matching the
 * display name and another matching the user (host/modules/secfilter/README.md).
 */
export function inIndexOrder(rows: Row[]): Row[] {
  const key = (s: string): string => s.toUpperCase();
  return [...rows].sort((x, y) => x[0] - y[0] || x[1] - y[1] || (key(x[2]) < key(y[2]) ? -1 : key(x[2]) > key(y[2]) ? 1 : 0));
}

/** IP rules for the client pairs of ipCases(): the octets are random per run (the clients bind them). */
export interface IpPlan {
  rows: Row[];
  /** outcome name → [Kamailio's client address, siphon's client address]. */
  clients: Record<string, [string, string]>;
}

export function ipPlan(): IpPlan {
  const o = (): number => 1 + Math.floor(Math.random() * 250);
  // the two clients of a pair bind port 5060 of their addresses at once: their last octets differ
  const k = o();
  const s = (k % 250) + 1;
  const [a, b, c, d] = [220 + Math.floor(Math.random() * 5), 225 + Math.floor(Math.random() * 5), 230 + Math.floor(Math.random() * 5), 235 + Math.floor(Math.random() * 5)];
  const wl = o();
  const shortA = o();
  let shortB = o();
  if (shortB === shortA) shortB = (shortA % 250) + 1;
  return {
    rows: [
      [0, 3, `127.${a}.`],
      [1, 3, `127.${b}.${wl}.`],
      [0, 3, `127.${b}.`],
      // a rule longer than the address never matches it (prefix of the value, not of the rule)
      [0, 3, `127.${c}.${shortA}.10`],
      [0, 3, `127.${c}.${shortB}.10`],
      // an exact address
      [0, 3, `127.${d}.7.7`],
      [0, 3, `127.${d}.7.8`],
    ],
    clients: {
      'blacklisted subnet': [`127.${a}.${o()}.${k}`, `127.${a}.${o()}.${s}`],
      'whitelisted inside a blacklisted subnet': [`127.${b}.${wl}.${k}`, `127.${b}.${wl}.${s}`],
      'blacklisted, outside the whitelisted part': [`127.${b}.${(wl % 250) + 1}.${k}`, `127.${b}.${(wl % 250) + 1}.${s}`],
      'address shorter than the rule': [`127.${c}.${shortA}.1`, `127.${c}.${shortB}.1`],
      'exact address': [`127.${d}.7.7`, `127.${d}.7.8`],
    },
  };
}

export const UAS: Array<string | null> = [
  null, '', 'friendly-scanner', 'friendly-scanner/1.2', 'FRIENDLY-SCANNER', 'friendly-scanne', 'friendly-scanner-allowed 1.0',
  'sipvicious', 'SIPVicious 0.3.4', 'sipcli/v1.8', 'SipCli', 'VaxSIPUserAgent/3.1', 'vaxsipuseragent', 'sundayddr', 'PortSIP VoIP SDK 11.2',
  'PortSIP', 'Zoiper 2.10', 'Zoiper 2.9', 'zoiper 2.10.4', 'Zoiper 3.0', 'Zoiper 2', 'Linphone/5.0 (belle-sip)', 'linphone', 'Linphon',
  'Asterisk PBX 18.1', 'Grandstream GXP2170', 'Yealink SIP-T46S', 'baresip v2.0', 'MicroSIP/3.21', 'Ozeki', ' sipvicious', 'x sipvicious',
];

/** display names as written in the header ('' = none). */
export const NAMES: string[] = [
  '', '"Good Name"', 'Good Name', '"good name jr"', '"Good Nam"', '"Bad Guy"', 'Bad Guy', '"BAD GUY the 2nd"', '"Bad"', '"alice"', '"Alice"',
  '"admin"', '"Administrator"', '"1001"', '"mallory"', '""', '"Bob"', 'Bob', '"Carol Smith"', '"x"', '"  Bad Guy"', '"Bad Guy  "',
  '"Good \\"Name\\""', '"Bad\\ Guy"', 'Good  Name',
];

export const USERS: string[] = [
  'alice', 'ALICE', 'alice2', 'alic', '1001', '10012', '100', '1002', '10', 'admin', 'Administrator', 'adm', 'mallory', 'Mallory_x', 'bob',
  'carol', '+34600111222', 'bad', 'good',
];

export const HOSTS: string[] = [
  'example.com', 'evil.example', 'EVIL.EXAMPLE', 'evil.example.org', 'evil.exampl', 'trusted.example', 'Trusted.Example.net',
  'evil.example.good', 'evil.example.goo', '10.0.0.5', '10.0.0.55', '10.0.1.5', 'scam.net', 'scammer.org', 'sca.net', '192.0.2.10',
  'example.com:5080', 'evil.example:5061',
];

/** a From/To value: name-addr or addr-spec (no display name), the URI with or without a user. */
export function nameAddr(name: string, user: string | null, host: string, scheme = 'sip', addrSpec = false): string {
  const uri = `${scheme}:${user === null ? '' : `${user}@`}${host}`;
  if (addrSpec && name === '') return uri;
  return name === '' ? `<${uri}>` : `${name} <${uri}>`;
}

export const CONTACTS: Array<(side: Side) => string | null> = [
  (s) => `<sip:alice@${s.client.address}:5060>`,
  () => null,
  () => '<sip:admin@192.0.2.10:5060;transport=udp>',
  () => '<sip:mallory@example.com>;expires=60',
  () => '"Bad Guy" <sip:bob@example.com>',
  () => '"alice" <sip:1002@evil.example>',
  () => '<sip:bob@evil.example.org:5060>',
  () => '<sip:bob@trusted.example>',
  () => '<sip:192.0.2.10:5060>',
  () => 'sip:1001@example.com',
  () => '<sip:carol@scam.net>, <sip:admin@example.com>',
  () => '<sips:100@example.com>',
  () => '<sip:Alice@10.0.0.9>',
  () => '<sip:good@evil.example.good>',
];

export const COUNTRIES: Array<string | null> = ['ru', 'RU', 'Ru', 'rus', 'r', 'cn', 'CN', 'cn-11', 'c', 'es', 'ES', 'esp', 'e', 'kr', 'KR', 'kp', 'kz', 'k', 'us', 'de', '', null];

export const DSTS: Array<string | null> = ['900123', '9001234', '90012', '0034900', '0034900123', '+4420', '+44207946', '4420', 'sos', 'SOS', 'so', '1', '12', '0', '555', '', null];

/** SQL-injection payloads for X-Sqli, User-Agent and display names (any text allowed there). */
export const SQLI_TEXT: string[] = [
  "1' OR '1'='1", "admin'--", 'x" OR "1"="1', '--', '-', 'a-b-c', '%27%20OR%201=1', '%22abc', '%24abc', '%60ls%60', '%2527', '%2', 'O\'Brien',
  'a#b', 'normal value', 'SELECT * FROM subscriber', '1; DROP TABLE subscriber', 'x%27', '%27', 'a--', '%6', "'", 'ab%22',
];

/** payloads that fit in a SIP URI user part (RFC 3261 §25.1: ' and - are unreserved marks, %XX escapes). */
export const SQLI_USERS: string[] = ["x'or'1'='1", "admin'--", '1--', 'a-b', '%27or1=1', '%22x', '%24x', '%60x', 'x%2527', 'a#b', 'plain'];

/** payloads that fit in a host name (labels may hold '-'). */
export const SQLI_HOSTS: string[] = ['x--y.example', 'x-y.example', 'sql--.example.com'];

export interface CaseSpec {
  method: string;
  ua: string | null;
  from: string;
  to: string;
  contact: (side: Side) => string | null;
  country: string | null;
  dst: string | null;
  sqli: string | null;
  /** leave secf_check_sqli_all out (X-No-Sqli-All). */
  noSqliAll?: boolean;
}

const METHODS = ['INVITE', 'MESSAGE', 'OPTIONS', 'REGISTER', 'SUBSCRIBE'];

/** `n` cases walking every list with coprime strides. */
export function mixedCases(n: number): CaseSpec[] {
  const out: CaseSpec[] = [];
  const pick = <T>(xs: T[], i: number, stride: number, offset = 0): T => xs[(i * stride + offset) % xs.length]!;
  for (let i = 0; i < n; i++) {
    const fromName = pick(NAMES, i, 1);
    const fromUser = pick(USERS, i, 3);
    const fromHost = pick(HOSTS, i, 5);
    const toName = pick(NAMES, i, 7, 3);
    const toUser = pick(USERS, i, 11, 5);
    const toHost = pick(HOSTS, i, 13, 7);
    // every 9th URI without a user part, every 10th as an addr-spec, every 17th a tel: URI
    const fromU = i % 9 === 4 ? null : fromUser;
    const fromScheme = i % 17 === 6 ? 'tel' : i % 23 === 2 ? 'sips' : 'sip';
    const from = fromScheme === 'tel' ? nameAddr(fromName, null, '+34600111222', 'tel') : nameAddr(fromName, fromU, fromHost, fromScheme, i % 10 === 3);
    out.push({
      method: METHODS[i % METHODS.length]!,
      ua: pick(UAS, i, 1),
      from,
      to: nameAddr(toName, i % 9 === 7 ? null : toUser, toHost, 'sip', i % 10 === 8),
      contact: pick(CONTACTS, i, 3, 1),
      country: pick(COUNTRIES, i, 1),
      dst: pick(DSTS, i, 3, 2),
      sqli: i % 4 === 0 ? pick(SQLI_TEXT, i, 1) : 'plain',
    });
  }
  return out;
}

const CLEAN: Omit<CaseSpec, 'method'> = {
  ua: 'Asterisk PBX 18.1',
  from: '"Bob" <sip:bob@example.com>',
  to: '<sip:carol@example.com>',
  contact: (s) => `<sip:bob@${s.client.address}:5060>`,
  country: 'de',
  dst: '555',
  sqli: 'plain',
};

/** each SQL-injection payload in each field secf_check_sqli_all looks at, once with it and once without. */
export function sqliCases(): Array<[string, CaseSpec]> {
  const out: Array<[string, CaseSpec]> = [];
  const add = (what: string, spec: Partial<CaseSpec>): void => {
    for (const noSqliAll of [false, true]) out.push([`${what}${noSqliAll ? ' (no sqli_all)' : ''}`, { method: 'MESSAGE', ...CLEAN, ...spec, noSqliAll }]);
  };
  for (const p of SQLI_TEXT) {
    add(`sqli User-Agent ${JSON.stringify(p)}`, { ua: p });
    add(`sqli X-Sqli ${JSON.stringify(p)}`, { sqli: p });
    const quoted = `"${p.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    add(`sqli From name ${JSON.stringify(p)}`, { from: `${quoted} <sip:bob@example.com>` });
    add(`sqli To name ${JSON.stringify(p)}`, { to: `${quoted} <sip:carol@example.com>` });
  }
  for (const u of SQLI_USERS) {
    add(`sqli From user ${u}`, { from: `<sip:${u}@example.com>` });
    add(`sqli To user ${u}`, { to: `<sip:${u}@example.com>` });
    add(`sqli Contact user ${u}`, { contact: () => `<sip:${u}@192.0.2.10>` });
  }
  for (const h of SQLI_HOSTS) {
    add(`sqli From host ${h}`, { from: `<sip:bob@${h}>` });
    add(`sqli To host ${h}`, { to: `<sip:carol@${h}>` });
    add(`sqli Contact host ${h}`, { contact: () => `<sip:bob@${h}>` });
  }
  return out;
}

/** the request for `side`: the R-URI names its server, the Via its client. */
export function secfRequest(spec: CaseSpec, n: number, run: string): (side: Side) => string {
  return (side) => {
    const id = `oracle-secf-${run}-${n}`;
    const lines = [
      `${spec.method} sip:bob@127.0.0.1:${side.port} SIP/2.0`,
      `Via: SIP/2.0/UDP ${side.client.address}:${side.client.port};branch=z9hG4bK-${id}`,
      'Max-Forwards: 70',
      `From: ${spec.from};tag=f-${n}`,
      `To: ${spec.to}`,
      `Call-ID: ${id}@oracle`,
      `CSeq: ${n + 1} ${spec.method}`,
    ];
    const contact = spec.contact(side);
    if (contact !== null) lines.push(`Contact: ${contact}`);
    if (spec.method === 'SUBSCRIBE') lines.push('Event: presence');
    if (spec.ua !== null) lines.push(`User-Agent: ${spec.ua}`);
    if (spec.country !== null) lines.push(`X-Country: ${spec.country}`);
    if (spec.dst !== null) lines.push(`X-Dst: ${spec.dst}`);
    if (spec.sqli !== null) lines.push(`X-Sqli: ${spec.sqli}`);
    if (spec.noSqliAll) lines.push('X-No-Sqli-All: 1');
    lines.push('Content-Length: 0');
    return `${lines.join('\r\n')}\r\n\r\n`;
  };
}

/** a short label of a mixed case (the case name in differences). */
export function label(spec: CaseSpec): string {
  const contact = spec.contact({ client: { address: '<client>' } } as Side);
  return `${spec.method} ua=${JSON.stringify(spec.ua)} from=${spec.from} to=${spec.to} contact=${contact ?? '(none)'} country=${JSON.stringify(spec.country)} dst=${JSON.stringify(spec.dst)} sqli=${JSON.stringify(spec.sqli)}`;
}
