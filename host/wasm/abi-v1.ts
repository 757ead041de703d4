/**
 * Host side of plugin ABI v1, namespace `sip` (docs/abi/v1.md, "Imports, namespace sip"), plus the
 * `env` imports AssemblyScript needs.
 *
 * Rules every function here follows (docs/abi/v1.md "Status codes", wasm-host.md §7.4):
 *  - never throws into Wasm: each body runs in try/catch and answers -7 INTERNAL on a host bug
 *    (the deliberate throws are env.abort's PluginAbort and budget.ts GasExhausted, which end the hook);
 *  - every (ptr, len) / (out, cap) is bound-checked → -3 INVALID_MEMORY; a negative length or
 *    capacity is -2 BAD_ARGUMENT (docs/abi/v1.md "Global rules" 5);
 *  - message imports outside a message hook (e.g. in plugin_init) → -4 NOT_ALLOWED;
 *  - names and values are length-checked (routing.limits) before they are read → -5 LIMIT;
 *  - host work is charged to the plugin's gas before it is done, 1 unit per 8 bytes read, written,
 *    scanned or stored (budget.ts), on top of the HOST_CALL_GAS the guest paid for the call;
 *  - host memory the plugin can make the host hold (variables, edits, log lines) is budgeted.
 * One set of closures is built per instance (it captures that instance's memory); the state that
 * must outlive an instance (GLOBAL variables, config) lives in the AbiHost the plugin owns.
 */
import type { Logger } from 'pino';
import { Errors } from '../errors/registry.js';
import type { MessageContext } from '../core/context.js';
import { compilePv, evalSpec, expandFormat, isTxPv, PV_SHV, PV_VAR, setPv, uriHost, uriPort, type ModulePvs, type PvSpec } from '../core/pv.js';
import { GuestMemory, Status } from './guest-memory.js';
import {
  bytesGas, charge, deleteVar, firstRefusal, GasExhausted, spendEdit, spendLogLine, storeVar, type GasHandle, type HostBudgets,
} from './budget.js';

export { GasExhausted, type GasCounter, type GasHandle } from './budget.js';
export { createHostCallApi, createProviderImports } from './abi-modules.js';
export { defaultReason } from './reasons.js';
import { defaultReason } from './reasons.js';

/** Thrown by env.abort: the plugin called abort()/assert() (AssemblyScript). Ends the hook. */
export class PluginAbort extends Error {
  constructor(
    readonly abortMessage: string,
    readonly file: string | null,
    readonly line: number,
    readonly column: number,
  ) {
    super(`abort: ${abortMessage}${file ? ` at ${file}:${line}:${column}` : ''}`);
    this.name = 'PluginAbort';
  }
}

/** Wasm signatures of every import the host offers (checked at load, E4004 on mismatch). */
export const ENV_IMPORTS: Readonly<Record<string, string>> = {
  abort: '(i32,i32,i32,i32)->()',
  seed: '()->(f64)',
};

export const SIP_IMPORTS: Readonly<Record<string, string>> = {
  msg_get: '(i32,i32,i32)->(i32)',
  msg_set: '(i32,i32,i32)->(i32)',
  hdr_count: '(i32,i32)->(i32)',
  hdr_get: '(i32,i32,i32,i32,i32)->(i32)',
  hdr_add: '(i32,i32,i32,i32,i32)->(i32)',
  hdr_remove: '(i32,i32,i32)->(i32)',
  pv_get: '(i32,i32,i32,i32)->(i32)',
  pv_set: '(i32,i32,i32,i32)->(i32)',
  sl_reply: '(i32,i32,i32)->(i32)',
  reply_hdr_add: '(i32,i32)->(i32)',
  xlog: '(i32,i32,i32)->(i32)',
  log: '(i32,i32,i32)->(i32)',
  log_enabled: '(i32)->(i32)',
  var_get: '(i32,i32,i32,i32,i32)->(i32)',
  var_set: '(i32,i32,i32,i32,i32)->(i32)',
  cfg_read: '(i32,i32,i32)->(i32)',
  now_ms: '()->(i64)',
  random_u32: '()->(i32)',
  is_myself: '(i32,i32)->(i32)',
  maxfwd_process: '(i32)->(i32)',
};

/** Field ids of msg_get/msg_set (docs/abi/v1.md "Fields"). */
export const enum Field {
  METHOD, RURI, RURI_USER, RURI_HOST, RURI_PORT, RURI_SCHEME, DST_URI, FROM_URI, FROM_USER, FROM_HOST,
  FROM_TAG, FROM_DISPLAY, TO_URI, TO_USER, TO_HOST, TO_TAG, TO_DISPLAY, CALL_ID, CSEQ_NUM, CSEQ_METHOD,
  SRC_IP, SRC_PORT, PROTO, USER_AGENT, CONTACT, LOCAL_IP, LOCAL_PORT, MAX_FORWARDS, BODY, MSG_LEN, STATUS,
  REASON,
}

/** the pseudo-variable behind each field id; null where the field is served directly. */
const FIELD_PV: ReadonlyArray<string | null> = [
  '$rm', '$ru', '$rU', '$rd', '$rp', '$rz', '$du', '$fu', '$fU', '$fd', '$ft', '$fn', '$tu', '$tU', '$td', '$tt',
  '$tn', '$ci', '$cs', null, '$si', '$sp', '$pr', '$ua', '$ct', '$Ri', '$Rp', null, null, '$ml', '$rs', '$rr',
];
const FIELD_SPEC: ReadonlyArray<PvSpec | null> = FIELD_PV.map((n) => (n ? compilePv(n) : null));
/** writable fields and the variable msg_set assigns. */
const WRITABLE_FIELD: ReadonlyMap<number, string> = new Map([
  [Field.RURI, '$ru'], [Field.RURI_USER, '$rU'], [Field.RURI_HOST, '$rd'], [Field.RURI_PORT, '$rp'], [Field.DST_URI, '$du'],
]);

/** Kamailio log levels (dprint.h) → pino methods. */
const LOG_METHOD: Readonly<Record<number, 'fatal' | 'error' | 'warn' | 'info' | 'debug'>> = {
  [-5]: 'fatal', // L_ALERT
  [-4]: 'fatal', // L_BUG
  [-3]: 'fatal', // L_CRIT2
  [-2]: 'fatal', // L_CRIT
  [-1]: 'error', // L_ERR
  0: 'warn', // L_WARN
  1: 'info', // L_NOTICE
  2: 'info', // L_INFO
  3: 'debug', // L_DBG
};

/** var_* scopes; v1.0 implements MSG and GLOBAL (1 = TX is reserved). */
const enum Scope { MSG = 0, GLOBAL = 2 }

/** most header fields a message may reach through hdr_add (the parser's default maxHeaders). */
export const MAX_HEADER_FIELDS = 256;
/** most reply_hdr_add lines per message. */
export const MAX_REPLY_HEADERS = 64;

/** longest reason phrase sl_reply takes (bytes). */
const REASON_MAX_BYTES = 1024;
/** longest env.abort message kept (characters): the text is logged. */
const ABORT_TEXT_MAX = 1024;

/** RFC 3261 §7.3.1 field-name token, and values without CR/LF (no header injection). */
const TOKEN = /^[A-Za-z0-9!%'*+\-.^_`|~]+$/;
const HAS_CRLF = /[\r\n]/;

/** What the imports need from the plugin that owns them; outlives any single instance. */
export interface AbiHost {
  /** `name@version`, logged with every plugin log line. */
  readonly label: string;
  /** logger for messages outside a message hook. */
  readonly log: Logger;
  /** the context of the running hook, or null (plugin_init, start). */
  current(): MessageContext | null;
  /** the running hook's name. */
  hook(): string;
  /** GLOBAL scope variables: per plugin version, kept across instance replacement. */
  readonly globals: Map<string, string>;
  /** routing.config as JSON bytes. */
  readonly config: Buffer;
  readonly isMyself?: (host: string, port: number | undefined) => boolean;
  /** Kamailio maxfwd max_limit. */
  readonly maxForwardsLimit: number;
  /** routing.limits: the host memory budgets (budget.ts). */
  readonly limits: HostBudgets;
  /** the modules' pseudo-variables (`$sht`), from the import providers; absent: they have no value. */
  readonly modulePvs?: ModulePvs;
}

function reportInternal(host: AbiHost, fn: string, err: unknown): number {
  // out of gas is not a host failure: it ends the hook (the failure policy logs E4011)
  if (err instanceof GasExhausted) throw err;
  try {
    (host.current()?.log ?? host.log).error({ plugin: host.label, hostFunction: fn, err }, 'host function failed');
  } catch {
    // logging itself failed: nothing more we can do without throwing into Wasm
  }
  return Status.INTERNAL;
}

/** the `env` namespace: the host memory, AssemblyScript's abort and seed. */
export function createEnvImports(host: AbiHost, mem: GuestMemory): Record<string, unknown> {
  return {
    memory: mem.memory,
    abort(msg: number, file: number, line: number, col: number): never {
      let text = '(no message)';
      let where: string | null = null;
      try {
        text = mem.readAsString(msg >>> 0, ABORT_TEXT_MAX) ?? text;
        where = mem.readAsString(file >>> 0, ABORT_TEXT_MAX);
      } catch {
        // keep the defaults: an abort must still end the hook
      }
      throw new PluginAbort(text, where, line, col);
    },
    seed(): number {
      return Math.random() * Number.MAX_SAFE_INTEGER;
    },
  };
}

/** The `sip` namespace for one instance. */
export function createSipImports(host: AbiHost, mem: GuestMemory, g: GasHandle): Record<string, (...a: never[]) => number | bigint> {
  const logBindings = { plugin: host.label };
  const limits = host.limits;
  const loggerFor = (): Logger => host.current()?.log ?? host.log;
  /** log lines and edits outside a message are counted against the host itself. */
  const spendKey = (): object => host.current() ?? host;

  /** the message context, or null when message imports are not allowed now. */
  const msgCtx = (): MessageContext | null => host.current();

  /**
   * -5 LIMIT for a call refused by the routing.limits key `key`; the first refusal per plugin version
   * and key is logged with E4041, so an operator sees which budget a plugin runs into.
   */
  const refused = (key: string): number => {
    if (firstRefusal(host, key)) {
      loggerFor().warn({ code: Errors.PLUGIN_BUDGET.code, plugin: host.label, limit: `routing.limits.${key}`, hook: host.hook() },
        `plugin call refused: over routing.limits.${key} (-5; logged once per plugin version) [E${Errors.PLUGIN_BUDGET.code} ${Errors.PLUGIN_BUDGET.title}]`);
    }
    return Status.LIMIT;
  };
  /** a name argument: LIMIT past name_max_bytes, else charged and read (null: outside memory). */
  const readName = (np: number, nl: number, token: boolean): string | number => {
    if (nl > limits.nameMaxBytes) return refused('name_max_bytes');
    if (!mem.inBounds(np, nl)) return Status.INVALID_MEMORY;
    charge(g, bytesGas(nl));
    return (token ? mem.readToken(np, nl) : mem.readUtf8(np, nl)) ?? Status.INVALID_MEMORY;
  };
  /** a value argument: LIMIT past `max` bytes, else charged and read. */
  const readValue = (vp: number, vl: number, max: number): string | number => {
    if (vl > max) return refused(max === limits.valueMaxBytes ? 'value_max_bytes' : max === limits.msgEditMaxBytes ? 'msg_edit_max_bytes' : 'sl_reply reason');
    if (!mem.inBounds(vp, vl)) return Status.INVALID_MEMORY;
    charge(g, bytesGas(vl));
    return mem.readUtf8(vp, vl) ?? Status.INVALID_MEMORY;
  };
  /** snprintf output: charged by the value's size before it is measured and copied. */
  const writeOut = (out: number, cap: number, value: string): number => {
    charge(g, bytesGas(value.length));
    return mem.writeUtf8(out, cap, value);
  };
  /** a variable write into a budgeted store (MSG or GLOBAL limits). */
  const setVar = (store: Map<string, string>, global: boolean, name: string, value: string): number => {
    charge(g, bytesGas(name.length + value.length));
    const rc = global
      ? storeVar(store, name, value, limits.globalVarsMax, limits.globalVarsMaxBytes)
      : storeVar(store, name, value, limits.msgVarsMax, limits.msgVarsMaxBytes);
    return rc === 0 ? 0 : refused(global ? 'global_vars_max(_bytes)' : 'msg_vars_max(_bytes)');
  };
  /** a log line: counted against log_lines_max, then cut at log_line_max_bytes. */
  const emit = (logger: Logger, method: 'fatal' | 'error' | 'warn' | 'info' | 'debug', text: string): number => {
    if (!spendLogLine(spendKey(), limits.logLinesMax)) return refused('log_lines_max');
    logger[method](logBindings, text.length > limits.logLineMaxBytes ? text.slice(0, limits.logLineMaxBytes) : text);
    return 1;
  };

  const writeField = (ctx: MessageContext, field: number, out: number, cap: number): number => {
    if (field === Field.BODY) {
      const body = ctx.msg.body;
      if (body.length === 0) return Status.NOT_FOUND;
      charge(g, bytesGas(cap < body.length ? cap : body.length));
      return mem.writeBytes(out, cap, body, 0);
    }
    let value: string | null | undefined;
    if (field === Field.CSEQ_METHOD) value = ctx.msg.cseq?.method;
    else if (field === Field.MAX_FORWARDS) value = ctx.msg.header('max-forwards');
    else {
      const spec = FIELD_SPEC[field];
      if (spec === undefined || spec === null) return Status.BAD_ARGUMENT;
      value = evalSpec(spec, ctx);
    }
    return value === null || value === undefined ? Status.NOT_FOUND : writeOut(out, cap, value);
  };

  return {
    msg_get(field: number, out: number, cap: number): number {
      try {
        const ctx = msgCtx();
        if (!ctx) return Status.NOT_ALLOWED;
        if (cap < 0) return Status.BAD_ARGUMENT;
        if (!mem.inBounds(out, cap)) return Status.INVALID_MEMORY;
        return writeField(ctx, field, out, cap);
      } catch (e) {
        return reportInternal(host, 'msg_get', e);
      }
    },

    msg_set(field: number, ptr: number, len: number): number {
      try {
        const ctx = msgCtx();
        if (!ctx) return Status.NOT_ALLOWED;
        if (len < 0) return Status.BAD_ARGUMENT;
        if (field < 0 || field > Field.REASON) return Status.BAD_ARGUMENT;
        const pv = WRITABLE_FIELD.get(field);
        if (pv === undefined) return Status.NOT_ALLOWED;
        const value = readValue(ptr, len, limits.msgEditMaxBytes);
        if (typeof value === 'number') return value;
        if (!spendEdit(ctx, len, limits.msgEditMaxBytes)) return refused('msg_edit_max_bytes');
        return setPv(pv, value, ctx);
      } catch (e) {
        return reportInternal(host, 'msg_set', e);
      }
    },

    hdr_count(np: number, nl: number): number {
      try {
        const ctx = msgCtx();
        if (!ctx) return Status.NOT_ALLOWED;
        if (nl <= 0) return Status.BAD_ARGUMENT;
        const name = readName(np, nl, true);
        if (typeof name === 'number') return name;
        return ctx.msg.headerCount(name);
      } catch (e) {
        return reportInternal(host, 'hdr_count', e);
      }
    },

    hdr_get(np: number, nl: number, idx: number, out: number, cap: number): number {
      try {
        const ctx = msgCtx();
        if (!ctx) return Status.NOT_ALLOWED;
        if (nl <= 0 || cap < 0) return Status.BAD_ARGUMENT;
        if (!mem.inBounds(out, cap)) return Status.INVALID_MEMORY;
        const name = readName(np, nl, true);
        if (typeof name === 'number') return name;
        let value: string | undefined;
        if (idx === 0) value = ctx.msg.header(name);
        else {
          const values = ctx.msg.headerValues(name);
          value = values[idx < 0 ? values.length + idx : idx];
        }
        return value === undefined ? Status.NOT_FOUND : writeOut(out, cap, value);
      } catch (e) {
        return reportInternal(host, 'hdr_get', e);
      }
    },

    hdr_add(np: number, nl: number, vp: number, vl: number, where: number): number {
      try {
        const ctx = msgCtx();
        if (!ctx) return Status.NOT_ALLOWED;
        if (nl < 0 || vl < 0) return Status.BAD_ARGUMENT;
        const name = readName(np, nl, true);
        if (typeof name === 'number') return name;
        const value = readValue(vp, vl, limits.msgEditMaxBytes);
        if (typeof value === 'number') return value;
        if (!TOKEN.test(name) || HAS_CRLF.test(value) || (where !== 0 && where !== 1)) return Status.BAD_ARGUMENT;
        if (ctx.msg.fields().length >= MAX_HEADER_FIELDS) return Status.LIMIT;
        // the bytes the message gains (name, ": ", value, CRLF) count against msg_edit_max_bytes
        if (!spendEdit(ctx, nl + vl + 4, limits.msgEditMaxBytes)) return refused('msg_edit_max_bytes');
        ctx.msg.addHeader(name, value, where === 1 ? 'first' : 'last');
        return 1;
      } catch (e) {
        return reportInternal(host, 'hdr_add', e);
      }
    },

    hdr_remove(np: number, nl: number, idx: number): number {
      try {
        const ctx = msgCtx();
        if (!ctx) return Status.NOT_ALLOWED;
        if (nl <= 0 || idx < -1) return Status.BAD_ARGUMENT;
        const name = readName(np, nl, true);
        if (typeof name === 'number') return name;
        return ctx.msg.removeHeader(name, idx === -1 ? undefined : idx);
      } catch (e) {
        return reportInternal(host, 'hdr_remove', e);
      }
    },

    pv_get(np: number, nl: number, out: number, cap: number): number {
      try {
        const ctx = msgCtx();
        if (!ctx) return Status.NOT_ALLOWED;
        if (nl < 0 || cap < 0) return Status.BAD_ARGUMENT;
        if (!mem.inBounds(out, cap)) return Status.INVALID_MEMORY;
        const name = readName(np, nl, false);
        if (typeof name === 'number') return name;
        const spec = compilePv(name);
        if (spec === null) return Status.UNIMPLEMENTED;
        const value = evalSpec(spec, ctx, host.globals, host.modulePvs);
        return value === null ? Status.NOT_FOUND : writeOut(out, cap, value);
      } catch (e) {
        return reportInternal(host, 'pv_get', e);
      }
    },

    pv_set(np: number, nl: number, vp: number, vl: number): number {
      try {
        const ctx = msgCtx();
        if (!ctx) return Status.NOT_ALLOWED;
        if (nl < 0 || vl < 0) return Status.BAD_ARGUMENT;
        const name = readName(np, nl, false);
        if (typeof name === 'number') return name;
        const value = readValue(vp, vl, limits.valueMaxBytes);
        if (typeof value === 'number') return value;
        const spec = compilePv(name);
        if (spec === null) return Status.UNIMPLEMENTED;
        // $shv and $var are the GLOBAL and MSG stores of var_set, with the same budgets
        if (spec.id === PV_SHV) return setVar(host.globals, true, spec.arg!, value);
        if (spec.id === PV_VAR) return setVar(ctx.vars, false, spec.arg!, value);
        if (isTxPv(spec)) return setPv(name, value, ctx); // the transaction's store, bounded there
        if (!spendEdit(ctx, vl, limits.msgEditMaxBytes)) return refused('msg_edit_max_bytes');
        return setPv(name, value, ctx);
      } catch (e) {
        return reportInternal(host, 'pv_set', e);
      }
    },

    sl_reply(code: number, rp: number, rl: number): number {
      try {
        const ctx = msgCtx();
        // Kamailio sl_send_reply is a request_route function (capability matrix, v1).
        if (!ctx || host.hook() !== 'request_route') return Status.NOT_ALLOWED;
        if (rl < 0) return Status.BAD_ARGUMENT;
        const reason = readValue(rp, rl, REASON_MAX_BYTES);
        if (typeof reason === 'number') return reason;
        if (code < 100 || code > 699 || HAS_CRLF.test(reason)) return Status.BAD_ARGUMENT;
        // RFC 3261 §17.1.1.3 / §17.1.2: an ACK is never answered
        if (ctx.msg.method === 'ACK') return -1;
        // building and sending the reply copies the request's headers
        charge(g, 10 + bytesGas(ctx.msg.raw.length));
        // the context's slReply appends ctx.replyHeaders (reply_hdr_add) itself
        const sent = ctx.slReply(code, reason === '' ? defaultReason(code) : reason);
        if (sent && code >= 200) ctx.replied = true;
        return sent ? 1 : -1;
      } catch (e) {
        return reportInternal(host, 'sl_reply', e);
      }
    },

    reply_hdr_add(ptr: number, len: number): number {
      try {
        const ctx = msgCtx();
        if (!ctx) return Status.NOT_ALLOWED;
        if (len < 0) return Status.BAD_ARGUMENT;
        const line = readValue(ptr, len, limits.msgEditMaxBytes);
        if (typeof line === 'number') return line;
        const colon = line.indexOf(':');
        if (colon <= 0 || !TOKEN.test(line.slice(0, colon).trimEnd()) || HAS_CRLF.test(line)) return Status.BAD_ARGUMENT;
        const lines = (ctx.replyHeaders ??= []);
        if (lines.length >= MAX_REPLY_HEADERS) return Status.LIMIT;
        if (!spendEdit(ctx, len + 2, limits.msgEditMaxBytes)) return refused('msg_edit_max_bytes');
        lines.push(line);
        return 1;
      } catch (e) {
        return reportInternal(host, 'reply_hdr_add', e);
      }
    },

    xlog(level: number, fp: number, fl: number): number {
      try {
        // allowed in every hook; without a message its variables print <null> (capability matrix)
        const ctx = msgCtx();
        const method = LOG_METHOD[level];
        if (method === undefined || fl < 0) return Status.BAD_ARGUMENT;
        if (!mem.inBounds(fp, fl)) return Status.INVALID_MEMORY;
        // the node's level is checked first: ctx.log creates the message's child logger on first use,
        // which must not happen per message for a level that is off
        if (!host.log.isLevelEnabled(method)) return 1;
        const logger = ctx?.log ?? host.log;
        if (!logger.isLevelEnabled(method)) return 1;
        // Kamailio xlog: the line is cut at buf_size; a longer format cannot print more than that
        const max = limits.logLineMaxBytes;
        const len = fl < max ? fl : max;
        // reading and compiling the format, then at most one line of output
        charge(g, bytesGas(len) + bytesGas(max));
        let text = expandFormat(mem.readUtf8(fp, len)!, ctx, host.globals, max, host.modulePvs);
        if (text.endsWith('\n')) text = text.slice(0, -1); // Kamailio formats end in \n; pino adds its own
        return emit(logger, method, text);
      } catch (e) {
        return reportInternal(host, 'xlog', e);
      }
    },

    log(level: number, ptr: number, len: number): number {
      try {
        const method = LOG_METHOD[level];
        if (method === undefined || len < 0) return Status.BAD_ARGUMENT;
        if (!mem.inBounds(ptr, len)) return Status.INVALID_MEMORY;
        if (!host.log.isLevelEnabled(method)) return 1;
        const logger = loggerFor();
        if (!logger.isLevelEnabled(method)) return 1;
        const n = len < limits.logLineMaxBytes ? len : limits.logLineMaxBytes;
        charge(g, bytesGas(n));
        return emit(logger, method, mem.readUtf8(ptr, n)!);
      } catch (e) {
        return reportInternal(host, 'log', e);
      }
    },

    log_enabled(level: number): number {
      try {
        const method = LOG_METHOD[level];
        if (method === undefined) return Status.BAD_ARGUMENT;
        return host.log.isLevelEnabled(method) && loggerFor().isLevelEnabled(method) ? 1 : 0;
      } catch (e) {
        return reportInternal(host, 'log_enabled', e);
      }
    },

    var_get(scope: number, np: number, nl: number, out: number, cap: number): number {
      try {
        const store = varStore(host, scope);
        if (typeof store === 'number') return store;
        if (nl < 0 || cap < 0) return Status.BAD_ARGUMENT;
        if (!mem.inBounds(out, cap)) return Status.INVALID_MEMORY;
        const name = readName(np, nl, false);
        if (typeof name === 'number') return name;
        const value = store.get(name);
        return value === undefined ? Status.NOT_FOUND : writeOut(out, cap, value);
      } catch (e) {
        return reportInternal(host, 'var_get', e);
      }
    },

    var_set(scope: number, np: number, nl: number, vp: number, vl: number): number {
      try {
        const store = varStore(host, scope);
        if (typeof store === 'number') return store;
        if (nl <= 0 || vl < -1) return Status.BAD_ARGUMENT;
        const name = readName(np, nl, false);
        if (typeof name === 'number') return name;
        if (vl === -1) {
          deleteVar(store, name);
          return 0;
        }
        const value = readValue(vp, vl, limits.valueMaxBytes);
        if (typeof value === 'number') return value;
        return setVar(store, scope === Scope.GLOBAL, name, value);
      } catch (e) {
        return reportInternal(host, 'var_set', e);
      }
    },

    cfg_read(off: number, out: number, cap: number): number {
      try {
        if (off < 0 || cap < 0) return Status.BAD_ARGUMENT;
        if (!mem.inBounds(out, cap)) return Status.INVALID_MEMORY;
        // charged for the bytes actually copied (the old charge of cap >> 6 could wrap the i32 counter)
        const avail = off < host.config.length ? host.config.length - off : 0;
        charge(g, bytesGas(avail < cap ? avail : cap));
        return mem.writeBytes(out, cap, host.config, off);
      } catch (e) {
        return reportInternal(host, 'cfg_read', e);
      }
    },

    now_ms(): bigint {
      return BigInt(Date.now());
    },

    random_u32(): number {
      return (Math.random() * 0x100000000) | 0;
    },

    /**
     * Kamailio is_myself / check_self: 1 when the URI's host[:port] is one of our listen addresses or
     * aliases, -1 otherwise; -2 for text that is not a URI.
     */
    is_myself(ptr: number, len: number): number {
      try {
        if (!msgCtx()) return Status.NOT_ALLOWED;
        if (len < 0) return Status.BAD_ARGUMENT;
        const text = readValue(ptr, len, limits.valueMaxBytes);
        if (typeof text === 'number') return text;
        // a SIP/SIPS URI, or a bare host[:port]
        const uri = /^sips?:/i.test(text) ? text : `sip:${text}`;
        const h = uriHost(uri);
        if (h === null || /[\s<>@]/.test(h)) return Status.BAD_ARGUMENT;
        return host.isMyself?.(h, uriPort(uri)) ? 1 : -1;
      } catch (e) {
        return reportInternal(host, 'is_myself', e);
      }
    },

    /**
     * Kamailio maxfwd mf_process_maxfwd_header(limit) (RFC 3261 §16.6 step 3, §8.1.1.6):
     *  2  no Max-Forwards: one was added with `limit`;
     *  1  present: decremented (values above max_limit are first lowered to it);
     * -1  the value is 0: the script answers 483 Too Many Hops;
     * -2  the header value is not a number, or `limit` is outside 0..255.
     */
    maxfwd_process(limit: number): number {
      try {
        const ctx = msgCtx();
        if (!ctx) return Status.NOT_ALLOWED;
        if (limit < 0 || limit > 255) return -2;
        const msg = ctx.msg;
        const raw = msg.header('max-forwards');
        if (raw === undefined) {
          msg.addHeader('Max-Forwards', String(limit), 'last');
          return 2;
        }
        const text = raw.trim();
        if (!/^\d{1,10}$/.test(text)) return -2;
        let value = Number(text);
        if (value === 0) return -1;
        if (value > host.maxForwardsLimit) value = host.maxForwardsLimit + 1;
        msg.setHeader('Max-Forwards', String(value - 1));
        return 1;
      } catch (e) {
        return reportInternal(host, 'maxfwd_process', e);
      }
    },
  };
}

/** the store for a var_* scope, or a status: MSG needs a message, TX/DIALOG are not in v1. */
function varStore(host: AbiHost, scope: number): Map<string, string> | number {
  if (scope === Scope.MSG) return host.current()?.vars ?? Status.NOT_ALLOWED;
  if (scope === Scope.GLOBAL) return host.globals;
  // TX (1) is reserved in v1.0: -2 like any unknown scope (docs/abi/v1.md var_get)
  return Status.BAD_ARGUMENT;
}
