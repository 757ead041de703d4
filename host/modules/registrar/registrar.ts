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
import { Errors, SiphonError } from '../../errors/registry.js';
import type { SipMessage } from '../../sip/types.js';
import { DbMode, type RegistrarConfig } from './config.js';
import { compareContacts, isValid, qText, Q_UNSPECIFIED, remaining, RuidGenerator, type Contact } from './contact.js';
import { AorGate } from './aor-gate.js';
import { Location, type ContactChange } from './location.js';
import { parseDeltaSeconds, RegisterPlanner, SaveFlag, type Plan, type RegisterRequest } from './planner.js';
import { METHOD_BITS, methodsMask, parseContactValue, parseUriParts, type ContactValue } from './uri.js';

export { SaveFlag } from './planner.js';
import type { AorKey, LookupBranch, LookupResult, RegistrarCounters, RegistrarReply, SaveResult, SaveRoute } from './results.js';

export type { AorKey, LookupBranch, LookupResult, RegistrarCounters, RegistrarReply, SaveResult, SaveRoute } from './results.js';

/** db_mode 3: REGISTERs that may hold or wait for one AOR at once; more are refused (E9111). */
const AOR_MAX_WAITING = 8;
/** db_mode 3: the longest a REGISTER holds its AOR (prefetch to commit). */
const AOR_HOLD_MS = 10_000;

const REASONS: Record<number, string> = { 400: 'Bad Request', 423: 'Interval Too Brief', 500: 'Server Internal Error', 503: 'Service Unavailable' };

export class Registrar {
  readonly counters: RegistrarCounters = { accepted: 0, rejected: 0, tooManyContacts: 0, aorBusy: 0, branchesCapped: 0, tableFull: 0 };
  private readonly tables = new Map<string, Location>();
  private readonly ruids: RuidGenerator;
  private readonly order: (a: Contact, b: Contact) => number;
  /**
   * db_mode 3 tables, for the synchronous (plugin) path: the AORs a message needs, loaded by
   * prefetch() before routing; keyed by message so they vanish with it.
   */
  private readonly snapshots = new WeakMap<SipMessage, Map<string, Contact[]>>();
  private readonly planner: RegisterPlanner;
  /** db_mode 3: one REGISTER per AOR between its prefetch and its commit (aor-gate.ts). */
  private readonly gate = new AorGate(AOR_MAX_WAITING, AOR_HOLD_MS);
  /** the gate's release of a prefetched REGISTER, and the writes its save() queued. */
  private readonly holds = new WeakMap<SipMessage, { release: () => void; commits: Promise<unknown>[] }>();
  private busyWarnAt = -Infinity;
  private tableFullWarnAt = -Infinity;
  /**
   * core.max_branches (set by the module from the core config): lookup() appends at most
   * maxBranches - 1 branches besides the new R-URI, as Kamailio's append_branch() refuses more.
   */
  maxBranches = 12;

  /** `shard`: the shard this registrar serves (core.workers), part of its ruids; absent with one shard. */
  constructor(
    readonly cfg: RegistrarConfig,
    private readonly log: Logger,
    shard?: number,
  ) {
    this.ruids = new RuidGenerator(shard);
    this.order = compareContacts(cfg.desc_time_order);
    this.planner = new RegisterPlanner(cfg, this.ruids);
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
  saveSync(tableName: string, msg: SipMessage, source: Endpoint, local: Endpoint, flags = 0, route: SaveRoute = {}): SaveResult {
    const loc = this.tables.get(tableName);
    if (!loc) return this.reject(-1, 500, undefined, `unknown location table "${tableName}"`);
    const req = this.readRegister(msg, source, local, flags, route);
    if ('code' in req) return req;
    const existing = this.contactsFor(loc, msg, req.key);
    if (!existing) return this.reject(-1, 500, req.key.aor, `table ${tableName} is db-only and the AOR was not prefetched`);
    const plan = this.planner.plan(req, existing, loc.now());
    if (!plan.ok) return this.refused(plan, req.key.aor);
    const memoryOnly = (flags & SaveFlag.MEMORY_ONLY) !== 0;
    if (loc.memoryBacked) {
      // max_location_contacts: the table as a whole is bounded too (AORs are chosen by the sender)
      if (plan.code === 1 && this.tableIsFull(loc, netGrowth(plan.changes))) return this.tableFull(loc, req.key.aor);
      loc.applySync(req.key.aor, plan.changes, memoryOnly);
    }
    else {
      this.snapshots.get(msg)!.set(snapshotKey(loc, req.key), plan.after.slice());
      const result = this.accept(plan, req.key.aor, loc.now());
      if (plan.changes.length > 0) {
        // sent now, not after an await: in a worker shard they must precede the reply (shard.ts)
        result.committed = loc.applyDeferred(plan.changes, memoryOnly, (e) => {
          if ((e as { code?: unknown } | null)?.code !== Errors.REG_TABLE_FULL.code) return;
          // refused as a local save would have been (shard 0 counted location_table_full)
          result.failReply = this.tableFullReply();
          this.counters.accepted--;
          this.counters.rejected++;
        });
        this.holds.get(msg)?.commits.push(result.committed);
      }
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
    // busy AOR: its rows are not loaded, so save() answers 500 as for a failed read (never a blind insert)
    if (toKey && !(await this.hold(msg, toKey.aor))) keys.shift();
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

  /**
   * A prefetched REGISTER holds its AOR until prefetchDone() and its writes committed (aor-gate.ts):
   * a retransmission arriving meanwhile reads after the first copy's row is in. False (E9111) when
   * too many REGISTERs for the AOR are in flight: the AOR is then not loaded and save() answers 500.
   */
  private async hold(msg: SipMessage, aor: string): Promise<boolean> {
    const p = this.gate.acquire(aor);
    if (p === null) {
      this.counters.aorBusy++;
      const now = Date.now();
      if (now - this.busyWarnAt >= 10_000) {
        this.busyWarnAt = now;
        this.log.warn({ aor, code: Errors.REG_AOR_BUSY.code, refused: this.counters.aorBusy }, 'registrar: too many concurrent REGISTERs for one AOR [E9111]');
      }
      return false;
    }
    this.holds.set(msg, { release: await p, commits: [] });
    return true;
  }

  /** routing of a prefetched message ended: its AOR is released once its queued writes settled. */
  prefetchDone(msg: SipMessage): void {
    const h = this.holds.get(msg);
    if (h === undefined) return;
    this.holds.delete(msg);
    if (h.commits.length === 0) h.release();
    else void Promise.allSettled(h.commits).then(h.release);
  }

  /** AORs held by in-flight REGISTERs (db_mode 3). */
  get heldAors(): number {
    return this.gate.size;
  }

  /** true when the synchronous API can serve `msg` on this table. */
  canServeSync(tableName: string, msg: SipMessage): boolean {
    const loc = this.tables.get(tableName);
    return !loc || loc.memoryBacked || this.snapshots.has(msg) || loc.canBlock;
  }

  /**
   * The AOR's contacts for the synchronous path: memory, or the message's prefetched snapshot. With
   * `blockingRead` (lookup, registered: reads only), on a worker shard an AOR the prefetch did not
   * load (a failure_route's forward target) is read from shard 0 while the worker waits, and kept in
   * the snapshot for the rest of the message's routing. save() never reads so: an AOR its prefetch
   * left unloaded is one another REGISTER holds (aor-gate.ts), answered 500, never a blind write.
   */
  private contactsFor(loc: Location, msg: SipMessage, key: AorKey, blockingRead = false): readonly Contact[] | null {
    if (loc.memoryBacked) return loc.contactsSync(key.aor);
    const k = snapshotKey(loc, key);
    const have = this.snapshots.get(msg)?.get(k);
    if (have !== undefined || !blockingRead || !loc.canBlock) return have ?? null;
    const read = loc.contactsBlocking(key.username, key.domain);
    if (read === null) return null;
    const list = read.slice();
    let snap = this.snapshots.get(msg);
    if (snap === undefined) this.snapshots.set(msg, (snap = new Map()));
    snap.set(k, list);
    return list;
  }

  /** save() for any table; in db_mode 3 the AOR is read from and written to the DB. */
  async save(tableName: string, msg: SipMessage, source: Endpoint, local: Endpoint, flags = 0, route: SaveRoute = {}): Promise<SaveResult> {
    const loc = this.tables.get(tableName);
    if (!loc) return this.reject(-1, 500, undefined, `unknown location table "${tableName}"`);
    if (loc.memoryBacked) {
      const r = this.saveSync(tableName, msg, source, local, flags, route);
      await loc.flush();
      return r;
    }
    const req = this.readRegister(msg, source, local, flags, route);
    if ('code' in req) return req;
    // read, plan and write under the AOR's gate: a concurrent copy of this REGISTER reads after the write
    const acquired = this.gate.acquire(req.key.aor);
    if (acquired === null) {
      this.counters.aorBusy++;
      return this.reject(-1, 500, req.key.aor, `more than ${AOR_MAX_WAITING} REGISTERs in flight [E9111]`);
    }
    const release = await acquired;
    try {
      const existing = await loc.contacts(req.key.aor, req.key.username, req.key.domain);
      const plan = this.planner.plan(req, existing, loc.now());
      if (!plan.ok) return this.refused(plan, req.key.aor);
      await loc.apply(req.key.aor, plan.changes);
      return this.accept(plan, req.key.aor, loc.now());
    } catch (e) {
      this.log.error({ table: tableName, aor: req.key.aor, err: (e as Error).message }, 'registrar: location storage failed');
      return this.reject(-1, 500, req.key.aor, 'storage failure');
    } finally {
      release();
    }
  }

  /** reads the parts of a REGISTER save() needs; an error result when it cannot (400). */
  private readRegister(msg: SipMessage, source: Endpoint, local: Endpoint, flags: number, route: SaveRoute): RegisterRequest | SaveResult {
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
      // RFC 3261 §20.19: delta-seconds; values past 2^32-1 are clamped to it (never NaN/Infinity).
      // An unreadable value counts as absent (default_expires), as a malformed expires parameter
      // does (§20.10) and as Kamailio's registrar does (test/oracle/registrar.test.ts)
      hdrExpires = parseDeltaSeconds(ex);
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
      routeReceived: route.received ?? null,
      cflags: route.bflags,
    };
  }

  /** true when `growth` more contacts would take the memory table past max_location_contacts. */
  private tableIsFull(loc: Location, growth: number): boolean {
    const max = this.cfg.max_location_contacts;
    return max > 0 && loc.contactCount + growth > max;
  }

  /** counts and logs (at most every 10 s) a refusal by max_location_contacts. */
  private noteTableFull(loc: Location): void {
    this.counters.tableFull++;
    const now = Date.now();
    if (now - this.tableFullWarnAt >= 10_000) {
      this.tableFullWarnAt = now;
      this.log.warn({ table: loc.name, max: this.cfg.max_location_contacts, refused: this.counters.tableFull, code: Errors.REG_TABLE_FULL.code }, 'registrar: location table full, new contacts refused [E9112]');
    }
  }

  /**
   * Shard 0: applies the changes a worker shard's save()/unregister() planned on its snapshot
   * (shard.ts). Memory tables apply them at once, in the order the calls arrived, under the same
   * max_location_contacts bound as a local save (refused: E9112, nothing applied), and queue the
   * write-through as usual. A DB-only table queues the writes in arrival order; the promise
   * rejects (E9102) when they failed, so the worker answers 500 as a local db_mode 3 save does.
   */
  applyFromShard(tableName: string, changes: readonly ContactChange[], memoryOnly: boolean): void | Promise<void> {
    const loc = this.requireTable(tableName);
    if (!loc.memoryBacked) {
      return loc.applyDeferred(changes).then((ok) => {
        if (!ok) throw new SiphonError('REG_STORAGE', `location ${tableName}: the write failed`);
      });
    }
    // as saveSync: only a save that inserts is refused (plan code 1); refreshes and removals go on
    if (changes.some((ch) => ch.op === 'insert') && this.tableIsFull(loc, netGrowth(changes))) {
      this.noteTableFull(loc);
      throw new SiphonError('REG_TABLE_FULL', `location table ${tableName} holds max_location_contacts (${this.cfg.max_location_contacts})`);
    }
    // a save's changes are about one AOR; grouped anyway (applySync takes one AOR at a time)
    const byAor = new Map<string, ContactChange[]>();
    for (const ch of changes) {
      const list = byAor.get(ch.contact.aor);
      if (list) list.push(ch);
      else byAor.set(ch.contact.aor, [ch]);
    }
    for (const [aor, list] of byAor) loc.applySync(aor, list, memoryOnly);
  }

  /** the memory table holds max_location_contacts: 503 + Retry-After (transient; Kamailio fails the save when shm is exhausted). */
  private tableFull(loc: Location, aor: string): SaveResult {
    this.noteTableFull(loc);
    const r = this.reject(-1, 503, aor, `location table ${loc.name} holds max_location_contacts`, 'Service Unavailable');
    r.reply = this.tableFullReply();
    return r;
  }

  private tableFullReply(): RegistrarReply {
    return { code: 503, reason: 'Service Unavailable', headers: [`Retry-After: ${this.cfg.retry_after > 0 ? this.cfg.retry_after : 60}`] };
  }

  private refused(plan: Plan & { ok: false }, aor: string): SaveResult {
    const r = plan.refusal;
    if (r.code === -2) {
      this.counters.tooManyContacts++;
      this.log.info({ aor, code: Errors.REG_TOO_MANY_CONTACTS.code, why: r.why }, 'registrar: REGISTER refused, max_contacts [E9110]');
    }
    const result = this.reject(r.code, r.status, aor, r.why, r.reason);
    result.reply.headers.push(...r.headers);
    return result;
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
    const contacts = this.contactsFor(loc, msg, key, true);
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
      // Kamailio: append_branch() fails past max_branches - 1 branches; lookup logs it and keeps
      // the contacts it could append (the best ones: the list is in lookup order)
      const n = Math.min(usable.length, this.maxBranches);
      if (usable.length > n) this.counters.branchesCapped++;
      for (let i = 1; i < n; i++) {
        const c = usable[i]!;
        branches.push({ uri: c.contact, dstUri: nextHop(c), q: c.q, ruid: c.ruid });
      }
    }
    return { code: 1, ruri: best.contact, dstUri: nextHop(best), cflags: best.cflags, branches };
  }

  // ---- registered / unregister -------------------------------------------------------------------

  /** registered() for the synchronous path; `msg` names the snapshot of a db_mode 3 table. */
  registeredSync(tableName: string, uri: string, msg?: SipMessage): number {
    const loc = this.tables.get(tableName);
    const key = this.aorOf(uri);
    if (!loc || !key) return -1;
    const contacts = loc.memoryBacked ? loc.contactsSync(key.aor) : msg ? this.contactsFor(loc, msg, key, true) : null;
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

/** contacts a plan adds to a table (inserts minus deletes). */
function netGrowth(changes: readonly ContactChange[]): number {
  let n = 0;
  for (const ch of changes) n += ch.op === 'insert' ? 1 : ch.op === 'delete' ? -1 : 0;
  return n;
}

function snapshotKey(loc: Location, key: AorKey): string {
  return `${loc.name}\0${key.aor}`;
}

/** Next hop of a contact: the first Path entry (RFC 3327 §5.3), else its received address. */
function nextHop(c: Contact): string | null {
  if (c.path) {
    // indexOf scans instead of split(',') and /<([^>]*)>/: the regex retried at every '<' and ran to
    // the end each time (quadratic on a Path of 64 KB of '<'); the same result in one pass.
    const path = c.path;
    const comma = path.indexOf(',');
    const first = (comma < 0 ? path : path.slice(0, comma)).trim();
    const lt = first.indexOf('<');
    const gt = lt < 0 ? -1 : first.indexOf('>', lt + 1);
    return gt < 0 ? first : first.slice(lt + 1, gt);
  }
  return c.received;
}
