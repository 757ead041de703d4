/**
 * The save() planner: a REGISTER against an AOR's current contacts gives the changes to store and
 * the bindings that remain (RFC 3261 §10.3 steps 6-8, Kamailio registrar save.c semantics). Pure:
 * no storage, no clock of its own, nothing sent; Registrar (registrar.ts) reads the request and
 * applies the plan.
 *
 * Bounds (hostile input, docs in README.md "Limits"):
 *   - every expires is clamped to 2^32-1 s (RFC 3261 §20.19: delta-seconds 0..2^32-1), then to
 *     `max_expires`: no contact can expire past year 2162, so no DATETIME or RPC field is ever NaN;
 *   - with `max_contacts` > 0, a REGISTER carrying more non-zero-expires contacts than that is
 *     refused before it is matched (Kamailio insert_contacts: R_TOO_MANY, 503);
 *   - matching is one hashed index over the AOR's contacts built once per REGISTER: the work is
 *     O(contacts of the AOR + contacts of the request), never their product.
 */
import { isIP } from 'node:net';
import type { Endpoint } from '../../core/context.js';
import type { RegistrarConfig } from './config.js';
import { isValid, Q_UNSPECIFIED, type Contact, type RuidGenerator } from './contact.js';
import type { ContactChange } from './location.js';
import { methodsMask, parseUriParts, type ContactValue } from './uri.js';

/** save() flags (Kamailio registrar save flags). */
export const SaveFlag = {
  /** 0x01: memory only, no DB write (write-through). */
  MEMORY_ONLY: 0x01,
  /** 0x02: do not send the reply. */
  NO_REPLY: 0x02,
  /** 0x04: keep one contact per AOR, the last one of this REGISTER. */
  SINGLE_CONTACT: 0x04,
  /** 0x08: no default_expires randomisation. */
  NO_EXPIRES_RANDOM: 0x08,
  /** 0x10: with 0x02, still prepare the reply's Contact headers for a later reply. */
  PREPARE_REPLY_HEADERS: 0x10,
} as const;

/** RFC 3261 §20.19 / §25.1: delta-seconds are 0 .. 2^32-1; larger values are clamped to it. */
export const MAX_DELTA_SECONDS = 4_294_967_295;

/**
 * delta-seconds (RFC 3261 §25.1: 1*DIGIT) → seconds, clamped to MAX_DELTA_SECONDS; undefined when
 * `text` is not digits (surrounding whitespace allowed). Linear; never NaN or Infinity.
 */
export function parseDeltaSeconds(text: string): number | undefined {
  let i = 0;
  let end = text.length;
  while (i < end && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++;
  while (end > i && (text.charCodeAt(end - 1) === 32 || text.charCodeAt(end - 1) === 9)) end--;
  if (i === end) return undefined;
  let v = 0;
  for (let j = i; j < end; j++) {
    const d = text.charCodeAt(j) - 48;
    if (d < 0 || d > 9) return undefined;
    if (v < MAX_DELTA_SECONDS) v = v * 10 + d; // stops growing once past the cap (no overflow)
  }
  return v > MAX_DELTA_SECONDS ? MAX_DELTA_SECONDS : v;
}

/** the `received` column is varchar(128) (Kamailio usrloc). */
export const MAX_RECEIVED_LENGTH = 128;

/**
 * A `received` Contact parameter as the registrar stores it: `sip:<IP>[:port][;transport=x]` with a
 * numeric host (a name would need DNS, and the sender chose it) and at most 128 characters; null
 * for anything else (ignored, as if absent).
 */
export function receivedParam(value: string): string | null {
  if (value.length > MAX_RECEIVED_LENGTH || value.slice(0, 4).toLowerCase() !== 'sip:' || /[\s<>"]/.test(value)) return null;
  const u = parseUriParts(value);
  if (u === null || u.scheme !== 'sip' || u.user !== undefined) return null;
  return isIP(u.host.replace(/^\[|\]$/g, '')) !== 0 ? value : null;
}

/** A REGISTER reduced to what the planner needs. */
export interface RegisterRequest {
  key: { aor: string; username: string; domain: string | null };
  callId: string;
  cseq: number;
  star: boolean;
  contacts: ContactValue[];
  /** Expires header, undefined when absent. */
  hdrExpires: number | undefined;
  userAgent: string;
  methods: number | null;
  path: string | null;
  socket: string;
  source: Endpoint;
  flags: number;
  /**
   * the `received` the route asked for (nathelper fix_nated_register, Kamailio's received_avp):
   * stored for every contact of this REGISTER; null when the route asked for nothing.
   */
  routeReceived: string | null;
  /** the request's branch flags (Kamailio stores getbflags() as the contact's cflags); undefined keeps the stored ones. */
  cflags: number | undefined;
}

/** A refusal the planner decided: Kamailio code, SIP status, reason phrase, extra header lines. */
export interface Refusal {
  code: number;
  status: number;
  why: string;
  reason: string;
  headers: string[];
}

export type Plan = { ok: true; code: number; changes: ContactChange[]; after: Contact[] } | { ok: false; refusal: Refusal };

/** qvalue (RFC 3261 §25.1): 0 to 1 with at most three decimals. */
const QVALUE = /^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$/;

const refuse = (code: number, status: number, why: string, reason: string, headers: string[] = []): Plan => ({ ok: false, refusal: { code, status, why, reason, headers } });

export class RegisterPlanner {
  constructor(
    private readonly cfg: RegistrarConfig,
    private readonly ruids: RuidGenerator,
  ) {}

  /** the REGISTER against the AOR's current contacts: what changes, and what remains (RFC 3261 §10.3). */
  plan(req: RegisterRequest, existing: readonly Contact[], now: number): Plan {
    const cfg = this.cfg;
    // RFC 3261 §10.3 step 6: `*` is only allowed alone and with Expires: 0
    if (req.star) {
      if (req.contacts.length > 1) return refuse(-1, 400, '* with other contacts', 'Bad Request - Invalid Contact');
      if (req.hdrExpires !== 0) return refuse(-1, 400, '* without Expires: 0', 'Bad Request - Invalid Expires');
      return { ok: true, code: 3, changes: existing.map((c) => ({ op: 'delete' as const, contact: c })), after: [] };
    }
    if (req.contacts.length === 0) {
      return { ok: true, code: 4, changes: [], after: existing.filter((c) => isValid(c, now)) };
    }
    const expires: number[] = [];
    let adding = 0;
    for (const cv of req.contacts) {
      // RFC 3261 §20.10/§25.1 qvalue: a q outside 0..1 or not a number makes the REGISTER a bad request (Kamailio: 400)
      const qp = cv.params.get('q');
      if (qp !== undefined && (qp === null || !QVALUE.test(qp.trim()))) return refuse(-1, 400, `bad q "${(qp ?? '').slice(0, 20)}"`, 'Bad Request - Invalid q');
      const { e, tooBrief } = this.expiresOf(cv, req);
      if (tooBrief) return refuse(-1, 423, `expires ${e} below min_expires ${cfg.min_expires}`, 'Interval Too Brief', [`Min-Expires: ${cfg.min_expires}`]);
      if (e > 0) adding++;
      expires.push(e);
    }
    // Kamailio insert_contacts: more contacts in the request than max_contacts is R_TOO_MANY at once
    if (cfg.max_contacts > 0 && adding > cfg.max_contacts) return this.tooMany(adding);

    // the AOR's contacts by ruid (insertion order kept: updates stay in place, inserts go last),
    // and a match index: match key -> ruids in stored order (the first is what a scan would find)
    const current = new Map<string, Contact>();
    const index = new Map<string, string[]>();
    for (const c of existing) {
      current.set(c.ruid, c);
      const k = this.storedKey(c);
      const list = index.get(k);
      if (list === undefined) index.set(k, [c.ruid]);
      else list.push(c.ruid);
    }
    const changes = new Map<string, ContactChange>();
    let inserted = 0;
    let updated = 0;
    let deleted = 0;
    const touched = new Set<string>();
    for (let i = 0; i < req.contacts.length; i++) {
      const cv = req.contacts[i]!;
      const e = expires[i]!;
      const k = this.requestKey(cv.uri, req);
      const ruids = index.get(k);
      const found = ruids === undefined || ruids.length === 0 ? undefined : current.get(ruids[0]!);
      // RFC 3261 §10.3 step 7 / usrloc get_ucontact: same Call-ID needs a higher CSeq
      if (found && found.callid === req.callId && req.cseq <= found.cseq) {
        const retransmission = req.cseq === found.cseq && now - found.lastModified <= cfg.cseq_delay;
        if (!retransmission && cfg.strict_cseq) return refuse(-1, 400, `out-of-order CSeq ${req.cseq} <= ${found.cseq}`, 'Bad Request - Invalid CSeq number');
        touched.add(found.ruid);
        continue; // retransmission or out of order: leave the binding as it is
      }
      if (e === 0) {
        if (found) {
          current.delete(found.ruid);
          ruids!.shift();
          changes.set(found.ruid, { op: 'delete', contact: found });
          deleted++;
        }
        continue;
      }
      const c = this.buildContact(cv, req, e, now, found);
      current.set(c.ruid, c);
      if (found) {
        const prev = changes.get(c.ruid);
        changes.set(c.ruid, { op: prev?.op === 'insert' ? 'insert' : 'update', contact: c });
        if (prev?.op !== 'insert') updated++;
      } else {
        if (ruids === undefined) index.set(k, [c.ruid]);
        else ruids.push(c.ruid);
        changes.set(c.ruid, { op: 'insert', contact: c });
        inserted++;
      }
      touched.add(c.ruid);
    }
    let list = [...current.values()];
    // flag 0x04: one contact per AOR, the last one saved from this REGISTER
    if (req.flags & SaveFlag.SINGLE_CONTACT && touched.size > 0) {
      let keep: string | undefined;
      for (let i = list.length - 1; i >= 0; i--) if (touched.has(list[i]!.ruid)) {
        keep = list[i]!.ruid;
        break;
      }
      for (const c of list) {
        if (c.ruid === keep) continue;
        const prev = changes.get(c.ruid);
        if (prev?.op === 'insert') changes.delete(c.ruid);
        else changes.set(c.ruid, { op: 'delete', contact: c });
        deleted++;
      }
      list = list.filter((c) => c.ruid === keep);
    }
    const after = list.filter((c) => isValid(c, now));
    if (cfg.max_contacts > 0 && inserted > 0 && after.length > cfg.max_contacts) return this.tooMany(after.length);
    const code = inserted > 0 ? 1 : updated > 0 ? 2 : deleted > 0 ? 3 : 4;
    return { ok: true, code, changes: [...changes.values()], after };
  }

  /** Kamailio R_TOO_MANY: 503 "Too Many Registered Contacts" (+ Retry-After with retry_after), code -2. */
  private tooMany(n: number): Plan {
    const cfg = this.cfg;
    return refuse(-2, 503, `too many contacts (${n} > ${cfg.max_contacts})`, 'Too Many Registered Contacts', cfg.retry_after > 0 ? [`Retry-After: ${cfg.retry_after}`] : []);
  }

  /** expires of one contact: param > Expires header > default_expires (randomised); clamped, min/max applied. */
  private expiresOf(cv: ContactValue, req: RegisterRequest): { e: number; tooBrief: boolean } {
    const cfg = this.cfg;
    const p = cv.params.get('expires');
    let e = p !== undefined && p !== null ? parseDeltaSeconds(p) : undefined;
    if (e === undefined) e = req.hdrExpires;
    if (e === undefined) {
      e = cfg.default_expires;
      if (cfg.default_expires_range > 0 && (req.flags & SaveFlag.NO_EXPIRES_RANDOM) === 0) {
        const span = Math.floor((e * cfg.default_expires_range) / 100);
        e = e - span + Math.floor(Math.random() * (2 * span + 1));
      }
    }
    if (e > MAX_DELTA_SECONDS) e = MAX_DELTA_SECONDS;
    if (e === 0) return { e, tooBrief: false };
    if (e < cfg.min_expires) {
      if (cfg.min_expires_mode === 1) return { e, tooBrief: true };
      e = cfg.min_expires;
    }
    if (cfg.max_expires > 0 && e > cfg.max_expires) e = cfg.max_expires;
    return { e, tooBrief: false };
  }

  /** the usrloc matching_mode key of a stored contact (0 Contact URI, 1 +Call-ID, 2 +Path, 3 Call-ID). */
  private storedKey(c: Contact): string {
    return this.key(c.contact, c.callid, c.path ?? '');
  }

  private requestKey(uri: string, req: RegisterRequest): string {
    return this.key(uri, req.callId, req.path ?? '');
  }

  private key(uri: string, callId: string, path: string): string {
    switch (this.cfg.matching_mode) {
      case 1:
        return `${uri}\0${callId}`;
      case 2:
        return `${uri}\0${path}`;
      case 3:
        return callId;
      default:
        return uri;
    }
  }

  /**
   * The contact's `received` (Kamailio registrar): what the route asked for (fix_nated_register:
   * the source the node saw), else a `received` Contact parameter (nathelper add_rcv_param, which
   * replaces any the UA wrote); otherwise nothing, unless `nat_received` (siphon) says to record the
   * source on its own. Kamailio prefers the Contact parameter; siphon does not let a parameter the
   * UA may have written itself override the route's explicit fix_nated_register().
   */
  private received(cv: ContactValue, req: RegisterRequest): string | null {
    if (req.routeReceived !== null) return req.routeReceived;
    const param = cv.params.get('received');
    if (param) {
      const r = receivedParam(param);
      if (r !== null) return r;
    }
    const mode = this.cfg.nat_received;
    if (mode === 0) return null;
    const src = req.source;
    if (mode === 1) {
      const u = parseUriParts(cv.uri);
      const host = u?.host.replace(/^\[|\]$/g, '');
      const port = u?.port ?? 5060;
      if (u && host === src.address && port === src.port) return null;
    }
    const host = src.family === 6 ? `[${src.address}]` : src.address;
    return `sip:${host}:${src.port}${src.proto === 'udp' ? '' : `;transport=${src.proto}`}`;
  }

  private buildContact(cv: ContactValue, req: RegisterRequest, e: number, now: number, found: Contact | undefined): Contact {
    const qp = cv.params.get('q');
    let q = this.cfg.default_q;
    if (qp !== undefined && qp !== null && QVALUE.test(qp.trim())) q = Math.round(Number.parseFloat(qp) * 1000);
    const mp = cv.params.get('methods');
    const regId = cv.params.get('reg-id');
    return {
      ruid: found?.ruid ?? this.ruids.next(),
      aor: req.key.aor,
      username: req.key.username,
      domain: req.key.domain,
      contact: cv.uri,
      received: this.received(cv, req),
      path: req.path,
      expires: now + e,
      q: q < 0 ? Q_UNSPECIFIED : q,
      callid: req.callId,
      cseq: req.cseq,
      lastModified: now,
      flags: 0,
      cflags: req.cflags ?? found?.cflags ?? 0,
      userAgent: req.userAgent,
      socket: req.socket,
      methods: mp ? methodsMask([mp]) : req.methods,
      instance: cv.params.get('+sip.instance') ?? null,
      regId: regId && /^[0-9]{1,9}$/.test(regId) ? Number(regId) : 0,
      serverId: this.cfg.server_id,
      connectionId: 0,
      keepalive: 0,
      partition: 0,
    };
  }
}
