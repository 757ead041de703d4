/**
 * Module answers for plugin tests: a stubbed function of a module namespace (`secfilter`,
 * `dispatcher`, `registrar`, `pike`, `auth`, `auth_db`, `nathelper`, also `tm`/`rr`) answers what
 * the test says instead of the module. The rest of the namespace keeps its provider: the real module
 * when the test configured it (`modules`), else the -6 UNIMPLEMENTED stubs of an unconfigured module.
 * Stubs sit at the ABI boundary (an ImportProvider, host/wasm/types.ts), so the plugin runs exactly
 * the code it runs in production and only the module's answer is chosen by the test.
 */
import type { MessageContext } from '../core/context.js';
import { UnconfiguredModuleImports } from '../wasm/loader.js';
import type { HostCallApi, ImportProvider } from '../wasm/types.js';

/** One call of a stubbed import, as the stub function sees it. */
export interface StubCall {
  /** `namespace.function`, e.g. `dispatcher.ds_select_dst`. */
  readonly name: string;
  /** the raw i32 arguments (string arguments are (ptr, len) pairs: read them with str()). */
  readonly args: readonly number[];
  /** the message of the running hook (the request; the reply in onreply_route), null outside one. */
  readonly ctx: MessageContext | null;
  /** the running hook: request_route, failure_route, branch_route, onreply_route, plugin_init. */
  readonly hook: string;
  /** the UTF-8 string whose (ptr, len) are args[i], args[i + 1]; null when outside memory. */
  str(i: number): string | null;
  /** sets $du, as ds_select_dst does. */
  setDst(uri: string | null): void;
  /** rewrites the R-URI, as lookup() and ds_select_domain do. */
  setRuri(uri: string): void;
  /** writes `value` into the plugin's buffer (args[i], args[i + 1]) snprintf-style (for getters such as ds_current_uri). */
  write(i: number, value: string): number;
}

/** A constant return code, or a function deciding it per call. */
export type StubAnswer = number | ((call: StubCall) => number);

/** namespace → function name → answer, e.g. `{ secfilter: { check_ua: -2 } }`. */
export type ModuleStubs = Readonly<Record<string, Readonly<Record<string, StubAnswer>>>>;

/** What a stubbed import was called with and answered (RouteResult.moduleCalls). */
export interface ModuleCall {
  name: string;
  args: number[];
  result: number;
  /** what the stub threw (the plugin got -2); send()/respond()/until() rethrow it. */
  error?: unknown;
}

type Functions = Record<string, (...args: never[]) => number | bigint | void>;

/** The stubbed functions of one namespace, for one instance's HostCallApi. */
function stubFunctions(namespace: string, answers: Readonly<Record<string, StubAnswer>>, api: HostCallApi, record: (call: ModuleCall) => void): Functions {
  const out: Functions = {};
  for (const [fn, answer] of Object.entries(answers)) {
    const name = `${namespace}.${fn}`;
    out[fn] = ((...args: number[]): number => {
      const ctx = api.current();
      const call: StubCall = {
        name,
        args,
        ctx,
        hook: api.hook(),
        str: (i) => (args[i] === undefined || args[i + 1] === undefined ? null : api.readString(args[i]!, args[i + 1]!)),
        setDst: (uri) => {
          if (ctx !== null) ctx.dstUri = uri;
        },
        setRuri: (uri) => ctx?.msg.setRequestUri(uri),
        write: (i, value) => api.writeString(args[i]!, args[i + 1]!, value),
      };
      // an import must never throw into the plugin (docs/abi/v1.md "Global rules" 1): a stub that
      // throws answers -2 and its error is rethrown to the test once the step is over
      let result: number;
      try {
        result = typeof answer === 'number' ? answer : answer(call);
      } catch (error) {
        record({ name, args: [...args], result: -2, error });
        return -2;
      }
      // an import answers an i32; a stub returning something else is the test's bug, not the plugin's
      if (!Number.isInteger(result)) {
        record({ name, args: [...args], result: -2, error: new TypeError(`stub ${name} returned ${String(result)}, not an integer return code`) });
        return -2;
      }
      record({ name, args: [...args], result });
      return result | 0;
    }) as never;
  }
  return out;
}

/** A configured module's namespace with some functions stubbed: the loader still checks every imported name against it. */
class StubbedModuleImports implements ImportProvider {
  constructor(
    readonly namespace: string,
    private readonly base: ImportProvider,
    private readonly answers: Readonly<Record<string, StubAnswer>>,
    private readonly record: (call: ModuleCall) => void,
  ) {}

  functions(api: HostCallApi): Functions {
    return { ...this.base.functions(api), ...stubFunctions(this.namespace, this.answers, api, this.record) };
  }
}

/** An unconfigured module's namespace with some functions stubbed: the others answer -6 as before (any name links). */
class StubbedUnconfiguredImports extends UnconfiguredModuleImports {
  constructor(
    namespace: string,
    private readonly answers: Readonly<Record<string, StubAnswer>>,
    private readonly record: (call: ModuleCall) => void,
  ) {
    super(namespace);
  }

  override functions(api?: HostCallApi): Record<string, () => number> {
    const rest = super.functions();
    if (api === undefined) return rest;
    const stubbed = stubFunctions(this.namespace, this.answers, api, this.record);
    return new Proxy(stubbed, { get: (t, key) => (typeof key === 'string' && key in t ? t[key] : rest[key as string]) }) as Record<string, () => number>;
  }
}

/** `providers` with the stubbed functions of `stubs` answering instead of their module. */
export function applyStubs(providers: readonly ImportProvider[], stubs: ModuleStubs | undefined, record: (call: ModuleCall) => void): ImportProvider[] {
  if (stubs === undefined) return [...providers];
  const out = providers.filter((p) => !(p.namespace in stubs));
  for (const [ns, answers] of Object.entries(stubs)) {
    const base = providers.find((p) => p.namespace === ns);
    out.push(base === undefined || base instanceof UnconfiguredModuleImports ? new StubbedUnconfiguredImports(ns, answers, record) : new StubbedModuleImports(ns, base, answers, record));
  }
  return out;
}
