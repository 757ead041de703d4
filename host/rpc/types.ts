/**
 * The one RPC method registry. Modules register their methods here (Kamailio's `module.verb` names);
 * the transports (BINRPC for kamcmd, JSON-RPC over HTTP, the `siphon rpc` CLI) all serve the same
 * registry, so a method is written once.
 */

/** Values an RPC method takes and returns; they map onto BINRPC ints/strings/structs/arrays and JSON. */
export type RpcValue = string | number | boolean | null | RpcValue[] | { [key: string]: RpcValue };

export interface RpcMethod {
  /** `module.verb`, e.g. `secfilter.reload`. */
  name: string;
  /** one line, shown by system.methodHelp. */
  help: string;
  /** positional parameters (Kamailio RPCs are positional). */
  handler(params: RpcValue[]): RpcValue | Promise<RpcValue>;
}

/** A fault returned to the caller (BINRPC fault / JSON-RPC error). Codes follow Kamailio: 400 bad params, 404 not found, 500 failure. */
export class RpcFault extends Error {
  constructor(
    readonly faultCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'RpcFault';
  }
}

export interface RpcRegistry {
  register(method: RpcMethod): void;
  get(name: string): RpcMethod | undefined;
  list(): string[];
  /** runs a method; throws RpcFault (404 for an unknown method). */
  call(name: string, params: RpcValue[]): Promise<RpcValue>;
}
