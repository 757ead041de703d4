/**
 * The registrar (Kamailio `registrar` over `usrloc`): save() applies a REGISTER to the location
 * table and builds the reply (RFC 3261 §10.3); lookup() turns a request's R-URI into the registered
 * contacts (RFC 3261 §16.5); registered() and unregister().
 *
 * Every operation has a synchronous form for tables served from memory (db_mode 0/1, what the Wasm
 * imports use) and an async form that works in every mode (db_mode 3 reads and writes the DB).
 * Both share one planner, so their semantics cannot drift apart. Nothing here sends a message.
 */
import type { Logger } from 'pino';
import type { Endpoint } from '../../core/context.js';
import { SiphonError } from '../../errors/registry.js';
import type { SipMessage } from '../../sip/types.js';
import { DbMode, type RegistrarConfig } from './config.js';
import { compareContacts, isValid, qText, Q_UNSPECIFIED, remaining, RuidGenerator, type Contact } from './contact.js';
import { Location, type ContactChange } from './location.js';
import { METHOD_BITS, methodsMask, parseContactValue, parseUriParts, type ContactValue } from './uri.js';

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

/** What the pipeline sends back (via sl/t reply); registrar never sends itself. */
export interface RegistrarReply {
  code: number;
  reason: string;
  /** full header lines, `Name: value`, no CRLF. */
  headers: string[];
}

export interface SaveResult {
  /** 1 inserted, 2 updated, 3 deleted, 4 query only, -1 error, -2 too many contacts. */
  code: number;
  reply: RegistrarReply;
  /** the AOR the REGISTER was about, when it could be read. */
  aor?: string;
  /**
   * db_mode 3 through the synchronous path: settles when the queued writes committed (true) or
   * failed (false). The reply waits for it (Kamailio writes before it answers).
   */
  committed?: Promise<boolean>;
}

export interface LookupBranch {
  uri: string;
  /** next hop: first Path URI, else `received`; null = the URI itself. */
  dstUri: string | null;
  q: number;
  ruid: string;
}

export interface LookupResult {
  /** 1 found, -1 not found, -2 found but method not allowed, -3 error. */
  code: number;
  /** the best contact: the new R-URI (code 1). */
  ruri?: string;
  /** $du for the best contact; null when it needs none. */
  dstUri?: string | null;
  /** the other contacts, best first (empty unless append_branches). */
  branches: LookupBranch[];
}

export interface AorKey {
  aor: string;
  username: string;
  domain: string | null;
}

export interface RegistrarCounters {
  /** REGISTERs answered 2xx (Kamailio registrar `accepted_regs`). */
  accepted: number;
  /** REGISTERs answered with an error (Kamailio `rejected_regs`). */
  rejected: number;
}

/** A REGISTER reduced to what the planner needs. */
interface RegisterRequest {
  key: AorKey;
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
}

type Plan =
  | { ok: true; code: number; changes: ContactChange[]; after: Contact[] }
  | { ok: false; result: SaveResult };

const REASONS: Record<number, string> = { 400: 'Bad Request', 423: 'Interval Too Brief', 500: 'Server Internal Error', 503: 'Service Unavailable' };

export class Registrar {
  readonly counters: RegistrarCounters = { accepted: 0, rejected: 0 };
  private readonly tables = new Map<string, Location>();
  private readonly ruids = new RuidGenerator();
  private readonly order: (a: Contact, b: Contact) => number;
  /**
   * db_mode 3 tables, for the synchronous (plugin) path: the AORs a message needs, loaded by
   * prefetch() before routing; keyed by message so they vanish with it.
   */
  private readonly snapshots = new WeakMap<SipMessage, Map<string, Contact[]>>();

  constructor(
    readonly cfg: RegistrarConfig,
    private readonly log: Logger,
  ) {
    this.order = compareContacts(cfg.desc_time_order);
  }

  addTable(loc: Location): void {
    this.tables.set(loc.name, loc);
  }

  table(name: string): Location | undefined {
    return this.tables.get(name);
  }

  tableNames(): string[] {
    return [...this.tables.keys()];
  }

  // ---- AOR -------------------------------------------------------------------------------------

  /**
   * The AOR of a URI: its user, plus `@domain` with use_domain; realm_prefix stripped from the
   * domain; lower-cased unless case_sensitive (Kamailio extract_aor). Null when the URI has no user.
   */
  aorOf(uri: string): AorKey | null {
    const p = parseUriParts(uri);
    if (!p || p.user === undefined || p.user === '') return null;
    let user = p.user;
    let domain = p.host.toLowerCase();
    if (this.cfg.realm_prefix && domain.startsWith(this.cfg.realm_prefix.toLowerCase())) domain = domain.slice(this.cfg.realm_prefix.length);
    if (!this.cfg.case_sensitive) user = user.toLowerCase();
    if (this.cfg.use_domain) return { aor: `${user}@${domain}`, username: user, domain };
    return { aor: user, username: user, domain: null };
  }

  /** an AOR given as text (`user` or `user@domain`), as RPCs take it (Kamailio rpc_fix_aor). */
  aorFromText(text: string): AorKey | null {
    let t = text.trim();
    if (/^sips?:/i.test(t)) return this.aorOf(t);
    if (!this.cfg.case_sensitive) t = t.toLowerCase();
    const at = t.indexOf('@');
    if (this.cfg.use_domain) {
      if (at <= 0) return null;
      return { aor: t, username: t.slice(0, at), domain: t.slice(at + 1).toLowerCase() };
    }
    const user = at >= 0 ? t.slice(0, at) : t;
    return user ? { aor: user, username: user, domain: null } : null;
  }

  // ---- save --------------------------------------------------------------------------------------

  /** save() for a memory-served table (db_mode 0/1); write-through writes are queued. */
  saveSync(tableName: string, msg: SipMessage, source: Endpoint, local: Endpoint, flags = 0): SaveResult {
    const loc = this.tables.get(tableName);
    if (!loc) return this.reject(-1, 500, undefined, `unknown location table "${tableName}"`);
    const req = this.readRegister(msg, source, local, flags);
    if ('code' in req) return req;
    const existing = this.contactsFor(loc, msg, req.key);
    if (!existing) return this.reject(-1, 500, req.key.aor, `table ${tableName} is db-only and the AOR was not prefetched`);
    const plan = this.plan(req, existing, loc.now());
    if (!plan.ok) return plan.result;
    if (loc.memoryBacked) loc.applySync(req.key.aor, plan.changes, (flags & SaveFlag.MEMORY_ONLY) !== 0);
    else {
      this.snapshots.get(msg)!.set(snapshotKey(loc, req.key), plan.after.slice());
      const result = this.accept(plan, req.key.aor, loc.now());
      if (plan.changes.length > 0) result.committed = loc.applyDeferred(plan.changes);
      return result;
    }
    return this.accept(plan, req.key.aor, loc.now());
  }

  /**
   * Loads, for every db_mode 3 table, the AORs this message may need (the To AOR of a REGISTER,
   * the R-URI's AOR otherwise), so the synchronous plugin imports can serve it. The pipeline calls
   * it before routing; memory tables need nothing. Storage errors are logged (the imports then
   * answer as for a missing snapshot).
   */
  async prefetch(msg: SipMessage): Promise<void> {
    const dbTables = [...this.tables.values()].filter((l) => !l.memoryBacked);
    if (dbTables.length === 0 || msg.kind !== 'request') return;
    const keys: AorKey[] = [];
    const toKey = msg.method === 'REGISTER' && msg.to ? this.aorOf(msg.to.uri) : null;
    if (toKey) keys.push(toKey);
    const rKey = this.aorOf(msg.requestUri);
    if (rKey && rKey.aor !== toKey?.aor) keys.push(rKey);
    if (keys.length === 0) return;
    const snap = new Map<string, Contact[]>();
    for (const loc of dbTables) {
      for (const key of keys) {
        try {
          snap.set(snapshotKey(loc, key), (await loc.contacts(key.aor, key.username, key.domain)).slice());
        } catch (e) {
          this.log.warn({ table: loc.name, aor: key.aor, err: (e as Error).message }, 'registrar: prefetch failed');
        }
      }
    }
    this.snapshots.set(msg, snap);
  }

  /** true when the synchronous API can serve `msg` on this table. */
  canServeSync(tableName: string, msg: SipMessage): boolean {
    const loc = this.tables.get(tableName);
    return !loc || loc.memoryBacked || this.snapshots.has(msg);
  }

  /** the AOR's contacts for the synchronous path: memory, or the message's prefetched snapshot. */
  private contactsFor(loc: Location, msg: SipMessage, key: AorKey): readonly Contact[] | null {
    if (loc.memoryBacked) return loc.contactsSync(key.aor);
    return this.snapshots.get(msg)?.get(snapshotKey(loc, key)) ?? null;
  }

  /** save() for any table; in db_mode 3 the AOR is read from and written to the DB. */
  async save(tableName: string, msg: SipMessage, source: Endpoint, local: Endpoint, flags = 0): Promise<SaveResult> {
    const loc = this.tables.get(tableName);
    if (!loc) return this.reject(-1, 500, undefined, `unknown location table "${tableName}"`);
    if (loc.memoryBacked) {
      const r = this.saveSync(tableName, msg, source, local, flags);
      await loc.flush();
      return r;
    }
    const req = this.readRegister(msg, source, local, flags);
    if ('code' in req) return req;
    try {
      const existing = await loc.contacts(req.key.aor, req.key.username, req.key.domain);
      const plan = this.plan(req, existing, loc.now());
      if (!plan.ok) return plan.result;
      await loc.apply(req.key.aor, plan.changes);
      return this.accept(plan, req.key.aor, loc.now());
    } catch (e) {
      this.log.error({ table: tableName, aor: req.key.aor, err: (e as Error).message }, 'registrar: location storage failed');
      return this.reject(-1, 500, req.key.aor, 'storage failure');
    }
  }

  /** reads the parts of a REGISTER save() needs; an error result when it cannot (400). */
  private readRegister(msg: SipMessage, source: Endpoint, local: Endpoint, flags: number): RegisterRequest | SaveResult {
    if (!msg.cseq || !Number.isInteger(msg.cseq.seq)) return this.reject(-1, 400, undefined, 'bad CSeq', 'Bad Request - Invalid CSeq');
    if (!msg.to) return this.reject(-1, 400, undefined, 'no To', 'Bad Request - No To header');
    const key = this.aorOf(msg.to.uri);
    if (!key) return this.reject(-1, 400, undefined, `bad AOR in To "${msg.to.uri}"`, 'Bad Request - Bad Address of Record');
    const contacts: ContactValue[] = [];
    let star = false;
    for (const v of msg.headerValues('contact')) {
      const cv = parseContactValue(v);
      if (!cv) return this.reject(-1, 400, key.aor, `bad Contact "${v}"`, 'Bad Request - Bad Contact');
      if (cv.star) star = true;
      contacts.push(cv);
    }
    let hdrExpires: number | undefined;
    const ex = msg.header('expires');
    if (ex !== undefined) {
      if (!/^\s*[0-9]+\s*$/.test(ex)) return this.reject(-1, 400, key.aor, `bad Expires "${ex}"`, 'Bad Request - Bad Expires');
      hdrExpires = Number.parseInt(ex, 10);
    }
    const allow = msg.headerValues('allow');
    const path = this.cfg.use_path && msg.headerCount('path') > 0 ? msg.headerValues('path').join(',') : null;
    return {
      key,
      callId: msg.callId,
      cseq: msg.cseq.seq,
      star,
      contacts,
      hdrExpires,
      userAgent: (msg.header('user-agent') ?? '').slice(0, 255),
      methods: allow.length > 0 ? methodsMask(allow) : null,
      path,
      socket: `${local.proto}:${local.family === 6 ? `[${local.address}]` : local.address}:${local.port}`,
      source,
      flags,
    };
  }

  /** expires of one contact: param > Expires header > default_expires (randomised); min/max applied. */
  private expiresOf(cv: ContactValue, req: RegisterRequest): { e: number; tooBrief: boolean } {
    const cfg = this.cfg;
    let e: number | undefined;
    const p = cv.params.get('expires');
    if (p !== undefined && p !== null && /^[0-9]+$/.test(p.trim())) e = Number.parseInt(p, 10);
    if (e === undefined) e = req.hdrExpires;
    if (e === undefined) {
      e = cfg.default_expires;
      if (cfg.default_expires_range > 0 && (req.flags & SaveFlag.NO_EXPIRES_RANDOM) === 0) {
        const span = Math.floor((e * cfg.default_expires_range) / 100);
        e = e - span + Math.floor(Math.random() * (2 * span + 1));
      }
    }
    if (e === 0) return { e, tooBrief: false };
    if (e < cfg.min_expires) {
      if (cfg.min_expires_mode === 1) return { e, tooBrief: true };
      e = cfg.min_expires;
    }
    if (cfg.max_expires > 0 && e > cfg.max_expires) e = cfg.max_expires;
    return { e, tooBrief: false };
  }

  private matches(c: Contact, uri: string, req: RegisterRequest): boolean {
    switch (this.cfg.matching_mode) {
      case 1:
        return c.contact === uri && c.callid === req.callId;
      case 2:
        return c.contact === uri && (c.path ?? '') === (req.path ?? '');
      case 3:
        return c.callid === req.callId;
      default:
        return c.contact === uri;
    }
  }

  private received(cv: ContactValue, req: RegisterRequest): string | null {
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

  /** the REGISTER against the AOR's current contacts: what changes, and what remains (RFC 3261 §10.3). */
  private plan(req: RegisterRequest, existing: readonly Contact[], now: number): Plan {
    const cfg = this.cfg;
    const aor = req.key.aor;
    // RFC 3261 §10.3 step 6: `*` is only allowed alone and with Expires: 0
    if (req.star) {
      if (req.contacts.length > 1) return { ok: false, result: this.reject(-1, 400, aor, '* with other contacts', 'Bad Request - Invalid Contact') };
      if (req.hdrExpires !== 0) return { ok: false, result: this.reject(-1, 400, aor, '* without Expires: 0', 'Bad Request - Invalid Expires') };
      return { ok: true, code: 3, changes: existing.map((c) => ({ op: 'delete' as const, contact: c })), after: [] };
    }
    if (req.contacts.length === 0) {
      return { ok: true, code: 4, changes: [], after: existing.filter((c) => isValid(c, now)) };
    }
    const expires: number[] = [];
    for (const cv of req.contacts) {
      const { e, tooBrief } = this.expiresOf(cv, req);
      if (tooBrief) {
        const r = this.reject(-1, 423, aor, `expires ${e} below min_expires ${cfg.min_expires}`, 'Interval Too Brief');
        r.reply.headers.push(`Min-Expires: ${cfg.min_expires}`);
        return { ok: false, result: r };
      }
      expires.push(e);
    }
    const current = existing.slice();
    const changes = new Map<string, ContactChange>();
    let inserted = 0;
    let updated = 0;
    let deleted = 0;
    const touched = new Set<string>();
    for (let i = 0; i < req.contacts.length; i++) {
      const cv = req.contacts[i]!;
      const e = expires[i]!;
      const idx = current.findIndex((c) => this.matches(c, cv.uri, req));
      const found = idx >= 0 ? current[idx]! : undefined;
      // RFC 3261 §10.3 step 7 / usrloc get_ucontact: same Call-ID needs a higher CSeq
      if (found && found.callid === req.callId && req.cseq <= found.cseq) {
        const retransmission = req.cseq === found.cseq && now - found.lastModified <= cfg.cseq_delay;
        if (!retransmission && cfg.strict_cseq) {
          return { ok: false, result: this.reject(-1, 400, aor, `out-of-order CSeq ${req.cseq} <= ${found.cseq}`, 'Bad Request - Invalid CSeq number') };
        }
        touched.add(found.ruid);
        continue; // retransmission or out of order: leave the binding as it is
      }
      if (e === 0) {
        if (found) {
          current.splice(idx, 1);
          changes.set(found.ruid, { op: 'delete', contact: found });
          deleted++;
        }
        continue;
      }
      const c = this.buildContact(cv, req, e, now, found);
      if (found) {
        current[idx] = c;
        const prev = changes.get(c.ruid);
        changes.set(c.ruid, { op: prev?.op === 'insert' ? 'insert' : 'update', contact: c });
        if (prev?.op !== 'insert') updated++;
      } else {
        current.push(c);
        changes.set(c.ruid, { op: 'insert', contact: c });
        inserted++;
      }
      touched.add(c.ruid);
    }
    // flag 0x04: one contact per AOR, the last one saved from this REGISTER
    if (req.flags & SaveFlag.SINGLE_CONTACT && touched.size > 0) {
      let keep: string | undefined;
      for (let i = current.length - 1; i >= 0; i--) if (touched.has(current[i]!.ruid)) {
        keep = current[i]!.ruid;
        break;
      }
      for (let i = current.length - 1; i >= 0; i--) {
        const c = current[i]!;
        if (c.ruid === keep) continue;
        current.splice(i, 1);
        const prev = changes.get(c.ruid);
        if (prev?.op === 'insert') changes.delete(c.ruid);
        else changes.set(c.ruid, { op: 'delete', contact: c });
        deleted++;
      }
    }
    const after = current.filter((c) => isValid(c, now));
    if (cfg.max_contacts > 0 && inserted > 0 && after.length > cfg.max_contacts) {
      const r = this.reject(-2, 503, aor, `too many contacts (${after.length} > ${cfg.max_contacts})`, 'Too Many Registered Contacts');
      if (cfg.retry_after > 0) r.reply.headers.push(`Retry-After: ${cfg.retry_after}`);
      return { ok: false, result: r };
    }
    const code = inserted > 0 ? 1 : updated > 0 ? 2 : deleted > 0 ? 3 : 4;
    return { ok: true, code, changes: [...changes.values()], after };
  }

  private buildContact(cv: ContactValue, req: RegisterRequest, e: number, now: number, found: Contact | undefined): Contact {
    const qp = cv.params.get('q');
    let q = this.cfg.default_q;
    if (qp !== undefined && qp !== null && /^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$/.test(qp.trim())) q = Math.round(Number.parseFloat(qp) * 1000);
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
      cflags: found?.cflags ?? 0,
      userAgent: req.userAgent,
      socket: req.socket,
      methods: mp ? methodsMask([mp]) : req.methods,
      instance: cv.params.get('+sip.instance') ?? null,
      regId: regId && /^[0-9]+$/.test(regId) ? Number(regId) : 0,
      serverId: this.cfg.server_id,
      connectionId: 0,
      keepalive: 0,
      partition: 0,
    };
  }

  private accept(plan: Plan & { ok: true }, aor: string, now: number): SaveResult {
    this.counters.accepted++;
    return { code: plan.code, aor, reply: { code: 200, reason: 'OK', headers: this.contactHeaders(plan.after, now) } };
  }

  private reject(code: number, status: number, aor: string | undefined, why: string, reason = REASONS[status] ?? 'Error'): SaveResult {
    this.counters.rejected++;
    this.log.debug({ aor, status, why }, 'registrar: REGISTER rejected');
    return { code, aor, reply: { code: status, reason, headers: [] } };
  }

  /** `Contact: <uri>;expires=N[;q=..][;received=".."][;+sip.instance=".."][;reg-id=N]` per binding (RFC 3261 §10.3 step 8). */
  contactHeaders(contacts: readonly Contact[], now: number): string[] {
    const sorted = contacts.slice().sort(this.order);
    const out: string[] = [];
    for (const c of sorted) {
      let h = `Contact: <${c.contact}>;expires=${remaining(c, now)}`;
      if (c.q !== Q_UNSPECIFIED) h += `;q=${qText(c.q)}`;
      if (c.received) h += `;received="${c.received}"`;
      if (c.instance) h += `;+sip.instance="${c.instance.replace(/^"|"$/g, '')}"`;
      if (c.regId) h += `;reg-id=${c.regId}`;
      out.push(h);
    }
    return out;
  }

  // ---- lookup ------------------------------------------------------------------------------------

  /** lookup() for a memory-served table. `uri` defaults to the R-URI. */
  lookupSync(tableName: string, msg: SipMessage, uri?: string): LookupResult {
    const loc = this.tables.get(tableName);
    if (!loc) return { code: -3, branches: [] };
    const key = this.aorOf(uri ?? msg.requestUri);
    if (!key) return { code: -3, branches: [] };
    const contacts = this.contactsFor(loc, msg, key);
    if (!contacts) return { code: -3, branches: [] };
    return this.pick(contacts, msg.method, loc.now());
  }

  async lookup(tableName: string, msg: SipMessage, uri?: string): Promise<LookupResult> {
    const loc = this.tables.get(tableName);
    if (!loc) return { code: -3, branches: [] };
    const key = this.aorOf(uri ?? msg.requestUri);
    if (!key) return { code: -3, branches: [] };
    try {
      return this.pick(await loc.contacts(key.aor, key.username, key.domain), msg.method, loc.now());
    } catch (e) {
      this.log.error({ table: tableName, aor: key.aor, err: (e as Error).message }, 'registrar: lookup failed');
      return { code: -3, branches: [] };
    }
  }

  /** the valid contacts in lookup order; method_filtering drops contacts that do not allow the method. */
  private pick(contacts: readonly Contact[], method: string, now: number): LookupResult {
    const valid = contacts.filter((c) => isValid(c, now)).sort(this.order);
    if (valid.length === 0) return { code: -1, branches: [] };
    let usable = valid;
    if (this.cfg.method_filtering) {
      const bit = METHOD_BITS[method.toUpperCase()];
      if (bit !== undefined) usable = valid.filter((c) => c.methods === null || (c.methods & bit) !== 0);
      if (usable.length === 0) return { code: -2, branches: [] };
    }
    const best = usable[0]!;
    const branches: LookupBranch[] = [];
    if (this.cfg.append_branches) {
      for (let i = 1; i < usable.length; i++) {
        const c = usable[i]!;
        branches.push({ uri: c.contact, dstUri: nextHop(c), q: c.q, ruid: c.ruid });
      }
    }
    return { code: 1, ruri: best.contact, dstUri: nextHop(best), branches };
  }

  // ---- registered / unregister -------------------------------------------------------------------

  /** registered() for the synchronous path; `msg` names the snapshot of a db_mode 3 table. */
  registeredSync(tableName: string, uri: string, msg?: SipMessage): number {
    const loc = this.tables.get(tableName);
    const key = this.aorOf(uri);
    if (!loc || !key) return -1;
    const contacts = loc.memoryBacked ? loc.contactsSync(key.aor) : msg ? this.contactsFor(loc, msg, key) : null;
    if (!contacts) return -1;
    const now = loc.now();
    return contacts.some((c) => isValid(c, now)) ? 1 : -1;
  }

  async registered(tableName: string, uri: string): Promise<number> {
    const loc = this.tables.get(tableName);
    const key = this.aorOf(uri);
    if (!loc || !key) return -1;
    try {
      const now = loc.now();
      return (await loc.contacts(key.aor, key.username, key.domain)).some((c) => isValid(c, now)) ? 1 : -1;
    } catch {
      return -1;
    }
  }

  /** removes the AOR's contacts (or the one with `ruid`): 1 removed, -1 nothing to remove or error. */
  unregisterSync(tableName: string, uri: string, ruid?: string, msg?: SipMessage): number {
    const loc = this.tables.get(tableName);
    const key = this.aorOf(uri) ?? this.aorFromText(uri);
    if (!loc || !key) return -1;
    const all = loc.memoryBacked ? loc.contactsSync(key.aor) : msg ? this.contactsFor(loc, msg, key) : null;
    if (!all) return -1;
    const list = all.filter((c) => !ruid || c.ruid === ruid);
    if (list.length === 0) return -1;
    const changes = list.map((c) => ({ op: 'delete' as const, contact: c }));
    if (loc.memoryBacked) loc.applySync(key.aor, changes);
    else {
      this.snapshots.get(msg!)!.set(snapshotKey(loc, key), all.filter((c) => !list.includes(c)));
      loc.applyDeferred(changes);
    }
    return 1;
  }

  async unregister(tableName: string, uri: string, ruid?: string): Promise<number> {
    const loc = this.tables.get(tableName);
    const key = this.aorOf(uri) ?? this.aorFromText(uri);
    if (!loc || !key) return -1;
    try {
      const list = (await loc.contacts(key.aor, key.username, key.domain)).filter((c) => !ruid || c.ruid === ruid);
      if (list.length === 0) return -1;
      await loc.apply(key.aor, list.map((c) => ({ op: 'delete' as const, contact: c })));
      return 1;
    } catch {
      return -1;
    }
  }

  /** a contact for ul.add (Kamailio's RPC defaults: fixed Call-ID, CSeq 1, UA "SIP Router MI Server"). */
  newContact(key: AorKey, uri: string, now: number, fields: Partial<Contact>): Contact {
    return {
      ruid: this.ruids.next(),
      aor: key.aor,
      username: key.username,
      domain: key.domain,
      contact: uri,
      received: null,
      path: null,
      expires: 0,
      q: Q_UNSPECIFIED,
      callid: 'dfjrewr12386fd6-343@kamailio.mi',
      cseq: 1,
      lastModified: now,
      flags: 0,
      cflags: 0,
      userAgent: 'SIP Router MI Server',
      socket: null,
      methods: null,
      instance: null,
      regId: 0,
      serverId: this.cfg.server_id,
      connectionId: 0,
      keepalive: 0,
      partition: 0,
      ...fields,
    };
  }

  /** the Location of a table, or an E9103 error. */
  requireTable(name: string): Location {
    const loc = this.tables.get(name);
    if (!loc) throw new SiphonError('REG_UNKNOWN_TABLE', `no location table "${name}" (configured: ${this.tableNames().join(', ')})`);
    return loc;
  }

  /** true when this registrar's tables live in the DB only. */
  get dbOnly(): boolean {
    return this.cfg.db_mode === DbMode.DB_ONLY;
  }
}

function snapshotKey(loc: Location, key: AorKey): string {
  return `${loc.name}\0${key.aor}`;
}

/** Next hop of a contact: the first Path entry (RFC 3327 §5.3), else its received address. */
function nextHop(c: Contact): string | null {
  if (c.path) {
    const first = c.path.split(',')[0]!.trim();
    const m = /<([^>]*)>/.exec(first);
    return m ? m[1]! : first;
  }
  return c.received;
}
