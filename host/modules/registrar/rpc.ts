/**
 * ul.* RPC methods with Kamailio's parameters, reply structures and fault texts (usrloc ul_rpc.c):
 * ul.dump [brief], ul.lookup table AOR, ul.rm table AOR, ul.rm_contact table AOR contact, ul.flush,
 * ul.add table AOR contact expires q path flags cflags methods, ul.db_users/db_contacts/
 * db_expired_contacts table.
 */
import { MAX_DELTA_SECONDS } from './planner.js';
import { RpcFault, type RpcMethod, type RpcValue } from '../../rpc/types.js';
import { DbMode } from './config.js';
import { isValid, Q_UNSPECIFIED, type Contact } from './contact.js';
import type { Location } from './location.js';
import type { AorKey, Registrar } from './registrar.js';

const NOT_SET = '[not set]';

function str(v: RpcValue | undefined): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return null;
}

function num(v: RpcValue | undefined): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\s*[+-]?[0-9]+(\.[0-9]+)?\s*$/.test(v)) {
    const n = Number(v);
    return Number.isFinite(n) ? n : null; // 400 digits parse as Infinity
  }
  return null;
}

/** 32-bit hash of the AOR for the HashID field (Kamailio shows its core_hash; the value is informative). */
function aorHash(aor: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < aor.length; i++) h = Math.imul(h ^ aor.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** one contact as ul.dump / ul.lookup print it (rpc_dump_contact). */
export function contactStruct(c: Contact, now: number, state: string): { Contact: Record<string, RpcValue> } {
  const expires: RpcValue = c.expires === 0 ? 'permanent' : c.expires <= now ? 'expired' : c.expires - now;
  return {
    Contact: {
      Address: c.contact,
      Expires: expires,
      Q: c.q === Q_UNSPECIFIED ? -1 : c.q / 1000,
      'Call-ID': c.callid,
      CSeq: c.cseq,
      'User-Agent': c.userAgent || NOT_SET,
      Received: c.received || NOT_SET,
      Path: c.path || NOT_SET,
      State: state,
      Flags: c.flags,
      CFlags: c.cflags,
      Socket: c.socket || NOT_SET,
      Methods: c.methods === null ? 4294967295 : c.methods,
      Ruid: c.ruid || NOT_SET,
      Instance: c.instance || NOT_SET,
      'Reg-Id': c.regId,
      'Server-Id': c.serverId,
      'Tcpconn-Id': c.connectionId,
      Keepalive: c.keepalive,
      'Last-Keepalive': 0,
      'Last-Modified': c.lastModified,
    },
  };
}

function stateOf(loc: Location): string {
  return loc.dbMode === DbMode.MEMORY ? 'CS_NEW' : 'CS_SYNC';
}

export function registrarRpcMethods(reg: Registrar): RpcMethod[] {
  const table = (v: RpcValue | undefined): Location => {
    const name = str(v);
    const loc = name === null ? undefined : reg.table(name);
    if (!loc) throw new RpcFault(500, 'Domain not found');
    return loc;
  };
  const aor = (v: RpcValue | undefined): AorKey => {
    const t = str(v);
    const key = t === null ? null : reg.aorFromText(t);
    if (!key) throw new RpcFault(500, 'Domain missing in AOR');
    return key;
  };
  const storage = <T>(p: Promise<T>): Promise<T> =>
    p.catch((e: unknown) => {
      throw new RpcFault(500, `Internal error (${(e as Error).message})`);
    });

  return [
    {
      name: 'ul.dump',
      help: 'Dump user location tables',
      async handler(params) {
        const brief = str(params[0]) === 'brief';
        const out: RpcValue[] = [];
        for (const name of reg.tableNames()) {
          const loc = reg.table(name)!;
          const now = loc.now();
          const state = stateOf(loc);
          const aors: RpcValue[] = [];
          const entries = await storage(loc.entries());
          for (const [a, contacts] of entries) {
            if (brief) aors.push({ AoR: a });
            else aors.push({ Info: { AoR: a, HashID: aorHash(a), Contacts: contacts.map((c) => contactStruct(c, now, state)) } });
          }
          out.push({ Domain: name, Size: 1024, AoRs: aors, Stats: { Records: entries.size, 'Max-Slots': entries.size > 0 ? 1 : 0 } });
        }
        return out.length === 1 ? out[0]! : out;
      },
    },
    {
      name: 'ul.lookup',
      help: 'Lookup one AOR in the usrloc location table',
      async handler(params) {
        if (params.length < 2) throw new RpcFault(500, 'Not enough parameters (table and AOR to lookup)');
        const loc = table(params[0]);
        const key = aor(params[1]);
        const contacts = await storage(loc.contacts(key.aor, key.username, key.domain));
        if (contacts.length === 0) throw new RpcFault(500, 'AOR not found in location table');
        const now = loc.now();
        const valid = contacts.filter((c) => isValid(c, now));
        if (valid.length === 0) throw new RpcFault(500, 'AOR has no contacts');
        return { AoR: key.aor, Contacts: valid.map((c) => contactStruct(c, now, stateOf(loc))) };
      },
    },
    {
      name: 'ul.rm',
      help: 'Delete a address of record including its contacts',
      async handler(params) {
        if (params.length < 2) throw new RpcFault(500, 'Not enough parameters (table and AOR to lookup)');
        const loc = table(params[0]);
        const key = aor(params[1]);
        await storage(loc.removeAor(key.aor, key.username, key.domain));
        return null;
      },
    },
    {
      name: 'ul.rm_contact',
      help: 'Delete a contact from an AOR record',
      async handler(params) {
        if (params.length < 3) throw new RpcFault(500, 'Not enough parameters (table, AOR and contact)');
        const loc = table(params[0]);
        const key = aor(params[1]);
        const uri = str(params[2]) ?? '';
        const contacts = await storage(loc.contacts(key.aor, key.username, key.domain));
        if (contacts.length === 0) throw new RpcFault(404, 'AOR not found');
        const c = contacts.find((x) => x.contact === uri);
        if (!c) throw new RpcFault(404, 'Contact not found');
        await storage(loc.apply(key.aor, [{ op: 'delete', contact: c }]));
        return null;
      },
    },
    {
      name: 'ul.flush',
      help: 'Flush the usrloc memory cache to DB',
      async handler() {
        for (const name of reg.tableNames()) await reg.table(name)!.flush();
        return null;
      },
    },
    {
      name: 'ul.add',
      help: 'Add a new contact for an address of record',
      async handler(params) {
        // table, AOR, contact, expires, q, path ("0" = none), flags, cflags, methods
        const expires = num(params[3]);
        const q = num(params[4]);
        const flags = num(params[6]);
        const cflags = num(params[7]);
        const methods = num(params[8]);
        const contactUri = str(params[2]);
        const path = str(params[5]);
        if (params.length !== 9 || expires === null || q === null || flags === null || cflags === null || methods === null || !contactUri || path === null) {
          throw new RpcFault(500, 'Not enough parameters or wrong format');
        }
        const loc = table(params[0]);
        const key = aor(params[1]);
        const now = loc.now();
        const existing = (await storage(loc.contacts(key.aor, key.username, key.domain))).find((c) => c.contact === contactUri);
        const fields: Partial<Contact> = {
          // 0 expires means a permanent contact
          // clamped to the delta-seconds range like save() (planner.ts): never past 2^32-1 s, never NaN
          expires: expires === 0 ? 0 : now + Math.min(Math.max(Math.trunc(expires), 0), MAX_DELTA_SECONDS),
          q: Math.round(q * 1000),
          path: path === '0' ? null : path,
          flags: Math.trunc(flags),
          cflags: Math.trunc(cflags),
          methods: Math.trunc(methods) >>> 0 === 4294967295 ? null : Math.trunc(methods),
          lastModified: now,
        };
        const c = existing ? { ...existing, ...fields } : reg.newContact(key, contactUri, now, fields);
        await storage(loc.apply(key.aor, [{ op: existing ? 'update' : 'insert', contact: c }]));
        return null;
      },
    },
    ...(['db_users', 'db_contacts', 'db_expired_contacts'] as const).map(
      (verb): RpcMethod => ({
        name: `ul.${verb}`,
        help:
          verb === 'db_users'
            ? 'Tell number of different unexpired users (AoRs) in database'
            : verb === 'db_contacts'
              ? 'Tell number of unexpired contacts in database'
              : 'Tell number of expired contacts in database',
        async handler(params) {
          if (reg.cfg.db_mode === DbMode.MEMORY) throw new RpcFault(500, 'Command is not supported in db_mode=0');
          if (params.length < 1) throw new RpcFault(500, 'Not enough parameters (table to lookup)');
          const loc = table(params[0]);
          const now = loc.now();
          // write-through: the DB copy equals memory once the queue is flushed
          await loc.flush();
          const entries = await storage(loc.entries());
          let users = 0;
          let contacts = 0;
          let expired = 0;
          for (const list of entries.values()) {
            let v = 0;
            for (const c of list) if (isValid(c, now)) v++;
            else expired++;
            contacts += v;
            if (v > 0) users++;
          }
          return verb === 'db_users' ? users : verb === 'db_contacts' ? contacts : expired;
        },
      }),
    ),
  ];
}
