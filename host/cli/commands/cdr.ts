/**
 * `siphon cdr` — the running server's recent CDRs (host/modules/acc, RPC `acc.cdrs` over BINRPC):
 *
 *   siphon cdr [--ctl ADDRESS] [--json] list [N]     the newest N CDRs (default 10, at most 1000), oldest first
 *
 * Exit status: 0 done, 1 the server refused (no modules.acc: method not found), 2 usage or no server.
 */
import { parseCommandArgs } from '../args.js';
import { BinrpcClient } from '../../rpc/binrpc-client.js';
import { defaultCtlPath } from '../../rpc/ctl-address.js';
import { RpcFault, type RpcValue } from '../../rpc/types.js';

const USAGE = `Usage: siphon cdr [options] list [N]

Commands:
  list [N]               the newest N CDRs the server keeps (default 10, at most 1000), oldest first

Options:
  --ctl ADDRESS          control socket of the running server (default: the standard ctl path)
  --json                 one JSON object per line instead of the table
  -h, --help             this help
`;

export interface CdrCommandIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

type Cdr = Record<string, RpcValue>;

function formatTable(rows: Cdr[]): string {
  if (rows.length === 0) return '';
  const cols = ['start_time', 'duration', 'sip_code', 'end_reason', 'from_uri', 'to_uri', 'callid'];
  const head = cols.map((c) => c.toUpperCase());
  const cells = rows.map((r) => cols.map((c) => String(r[c] ?? '')));
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((v, i) => v.padEnd(width[i]!)).join('  ').trimEnd();
  return `${[line(head), ...cells.map(line)].join('\n')}\n`;
}

export async function run(argv: string[], io: CdrCommandIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const parsed = parseCommandArgs('cdr', argv, {
    ctl: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  } as const, USAGE, io);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const [cmd, n, ...rest] = positionals;
  if (cmd !== 'list' || rest.length > 0 || (n !== undefined && !/^[0-9]{1,4}$/.test(n))) {
    io.stderr.write(`siphon cdr: ${cmd === 'list' ? 'N must be an integer 0-1000' : cmd ? `unknown command '${cmd}'` : 'command expected'} [E1010 bad command line]\n\n${USAGE}`);
    return 2;
  }
  let client: BinrpcClient;
  try {
    client = await BinrpcClient.connect(values.ctl ?? defaultCtlPath());
  } catch (e) {
    io.stderr.write(`siphon cdr: no server at the control socket: ${(e as Error).message}\n`);
    return 2;
  }
  try {
    const reply = await client.call('acc.cdrs', n !== undefined ? [Number(n)] : []);
    const rows = (reply.length === 1 && Array.isArray(reply[0]) ? reply[0] : reply) as Cdr[];
    if (values.json) io.stdout.write(rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
    else io.stdout.write(formatTable(rows));
    return 0;
  } catch (e) {
    io.stderr.write(`siphon cdr: ${e instanceof RpcFault ? `${e.faultCode} ${e.message}` : (e as Error).message}\n`);
    return 1;
  } finally {
    await client.close();
  }
}
