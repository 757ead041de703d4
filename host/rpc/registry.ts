/**
 * The RPC method registry shared by every control transport (BINRPC/kamcmd, JSON-RPC over HTTP, the
 * `siphon rpc` CLI). Methods keep Kamailio's `module.verb` names and positional parameters; the order of
 * registration is the order system.listMethods reports, as Kamailio lists its RPC array in order.
 */
import { SiphonError } from '../errors/registry.js';
import { RpcFault, type RpcMethod, type RpcRegistry, type RpcValue } from './types.js';

/** Fault codes used across siphon, as Kamailio's RPC layer uses them. */
export const FaultCode = {
  BAD_PARAMS: 400,
  NOT_FOUND: 404,
  FAILURE: 500,
} as const;

export class MethodRegistry implements RpcRegistry {
  private readonly methods = new Map<string, RpcMethod>();

  register(method: RpcMethod): void {
    if (!/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)+$/.test(method.name)) {
      throw new SiphonError('RPC_BAD_PARAMS', `RPC method name "${method.name}" is not module.verb`);
    }
    if (this.methods.has(method.name)) {
      throw new SiphonError('RPC_BAD_PARAMS', `RPC method "${method.name}" is already registered`);
    }
    this.methods.set(method.name, method);
  }

  /** registers several methods (a module's rpcMethods()). */
  registerAll(methods: Iterable<RpcMethod>): void {
    for (const m of methods) this.register(m);
  }

  /** removes a method (a module being unloaded); returns whether it existed. */
  unregister(name: string): boolean {
    return this.methods.delete(name);
  }

  get(name: string): RpcMethod | undefined {
    return this.methods.get(name);
  }

  list(): string[] {
    return [...this.methods.keys()];
  }

  /**
   * Runs a method. Faults: 404 for an unknown method (message worded as ctl's "command X not found");
   * an RpcFault thrown by the handler passes through unchanged; any other error is a bug or an
   * unexpected failure and is rethrown as RPC_INTERNAL (transports answer it with a 500 / -32603).
   */
  async call(name: string, params: RpcValue[]): Promise<RpcValue> {
    const method = this.methods.get(name);
    if (!method) throw new RpcFault(FaultCode.NOT_FOUND, `command ${name} not found`);
    try {
      const result = await method.handler(params);
      return result === undefined ? null : result;
    } catch (e) {
      if (e instanceof RpcFault) throw e;
      throw new SiphonError('RPC_INTERNAL', `${name}: ${e instanceof Error ? e.message : String(e)}`, {
        where: name,
        cause: e,
      });
    }
  }
}

/** Reads positional parameter `i` as a string (numbers are accepted and stringified, as kamcmd sends them). */
export function stringParam(params: readonly RpcValue[], i: number, what: string): string {
  const v = params[i];
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  throw new RpcFault(FaultCode.BAD_PARAMS, `${what} expected (parameter ${i + 1})`);
}

/** Reads positional parameter `i` as an integer; digit strings are converted (ctl's autoconversion). */
export function intParam(params: readonly RpcValue[], i: number, what: string): number {
  const v = params[i];
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^[+-]?\d+$/.test(v.trim())) return Number.parseInt(v, 10);
  throw new RpcFault(FaultCode.BAD_PARAMS, `${what} expected as an integer (parameter ${i + 1})`);
}
