/**
 * The host side of the module namespaces (secfilter, dispatcher, registrar, tm, rr): the HostCallApi
 * each ImportProvider builds its functions on, with the same bounds and gas as the `sip` namespace
 * (docs/abi/v1.md "Gas"): strings are length-checked and charged before they are copied.
 */
import type { AbiHost } from './abi-v1.js';
import { bytesGas, charge, firstRefusal, spendEdit, type GasHandle } from './budget.js';
import { Errors } from '../errors/registry.js';
import { GuestMemory, Status } from './guest-memory.js';
import type { HostCallApi, ImportProvider } from './types.js';

/** The HostCallApi handed to module ImportProviders for one instance. */
export function createHostCallApi(host: AbiHost, mem: GuestMemory, g: GasHandle): HostCallApi {
  return {
    current: () => host.current(),
    hook: () => host.hook(),
    // module imports pay like sip ones: strings are bounded (value_max_bytes; longer reads as outside
    // memory), and reads and writes are charged before the copy
    readString: (ptr, len) => {
      if (len > host.limits.valueMaxBytes || !mem.inBounds(ptr, len)) return null;
      charge(g, bytesGas(len));
      return mem.readUtf8(ptr, len);
    },
    writeString: (out, cap, value) => {
      if (!mem.inBounds(out, cap)) return Status.INVALID_MEMORY;
      charge(g, bytesGas(value.length));
      return mem.writeUtf8(out, cap, value);
    },
    charge: (units) => charge(g, units),
    spendEdit: (bytes) => {
      const ctx = host.current();
      if (ctx === null) return false;
      if (spendEdit(ctx, bytes, host.limits.msgEditMaxBytes)) return true;
      if (firstRefusal(host, 'msg_edit_max_bytes')) {
        const E = Errors.PLUGIN_BUDGET;
        ctx.log.warn({ code: E.code, plugin: host.label, limit: 'routing.limits.msg_edit_max_bytes', hook: host.hook() },
          `plugin call refused: over routing.limits.msg_edit_max_bytes (-5; logged once per plugin version) [E${E.code} ${E.title}]`);
      }
      return false;
    },
  };
}

/** Links every provider namespace; a provider that throws while building is a host bug. */
export function createProviderImports(providers: readonly ImportProvider[], api: HostCallApi): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const p of providers) out[p.namespace] = p.functions(api);
  return out;
}
