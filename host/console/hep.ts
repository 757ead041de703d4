/**
 * HEP export (Homer): every traced message is sent as one HEPv3 packet over UDP to a collector
 * (heplify-server, Homer). HEPv3 ("HEP3" id, 16-bit total length, then chunks of vendor 0 / type /
 * length / value) as described in the HEP/EEP specification; the chunk types used are 1 (IP family),
 * 2 (IP protocol), 3-6 (IPv4/IPv6 source and destination), 7-8 (ports), 9-10 (timestamp s / µs),
 * 11 (protocol type: 1 = SIP), 12 (capture agent id), 14 (auth key), 15 (payload), 17 (correlation id:
 * the Call-ID). Kamailio's siptrace module with hep_mode_on=1 and hep_version=3 sends the same.
 *
 * Bounds: one packet per message, never queued (a send the socket cannot take is dropped and counted);
 * a message whose packet would exceed 65 507 bytes (the largest UDP payload) is not exported.
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Endpoint } from '../core/context.js';
import { SiphonError } from '../errors/registry.js';
import type { HepConfig } from './config.js';
import type { TraceExporter, TracedMessage } from './trace.js';

const MAX_UDP_PAYLOAD = 65_507;
export const HEP_DEFAULT_CAPTURE_ID = 2001;

function chunk(type: number, value: Buffer): Buffer {
  const h = Buffer.allocUnsafe(6);
  h.writeUInt16BE(0, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt16BE(6 + value.length, 4);
  return Buffer.concat([h, value]);
}

function u8(v: number): Buffer {
  return Buffer.from([v & 0xff]);
}
function u16(v: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(v & 0xffff, 0);
  return b;
}
function u32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

function ipBytes(address: string): Buffer | null {
  const a = address.replace(/^::ffff:(?=\d+\.)/, '');
  if (isIP(a) === 4) return Buffer.from(a.split('.').map(Number));
  if (isIP(a) !== 6) return null;
  // expand :: and write the eight groups
  const [head, tail] = a.includes('::') ? a.split('::') : [a, ''];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(Number.parseInt(g, 16) || 0, i * 2));
  return b;
}

export interface HepPacketInput {
  payload: Buffer;
  src: { address: string; port: number };
  dst: { address: string; port: number };
  proto: string;
  ts: number;
  captureId: number;
  password?: string;
  callId?: string;
}

/** one HEPv3 packet, or null when the addresses are not IP literals of one family. */
export function encodeHep3(m: HepPacketInput): Buffer | null {
  if (m.payload.length > MAX_UDP_PAYLOAD) return null;
  const s = ipBytes(m.src.address);
  const d = ipBytes(m.dst.address);
  if (s === null || d === null || s.length !== d.length) return null;
  const v6 = s.length === 16;
  const chunks = [
    chunk(0x0001, u8(v6 ? 10 : 2)),
    chunk(0x0002, u8(m.proto === 'udp' ? 17 : 6)),
    chunk(v6 ? 0x0005 : 0x0003, s),
    chunk(v6 ? 0x0006 : 0x0004, d),
    chunk(0x0007, u16(m.src.port)),
    chunk(0x0008, u16(m.dst.port)),
    chunk(0x0009, u32(Math.floor(m.ts / 1000))),
    chunk(0x000a, u32((m.ts % 1000) * 1000)),
    chunk(0x000b, u8(1)),
    chunk(0x000c, u32(m.captureId)),
  ];
  if (m.password) chunks.push(chunk(0x000e, Buffer.from(m.password, 'utf8')));
  if (m.callId) chunks.push(chunk(0x0011, Buffer.from(m.callId, 'utf8')));
  chunks.push(chunk(0x000f, m.payload));
  const body = Buffer.concat(chunks);
  if (body.length + 6 > MAX_UDP_PAYLOAD) return null;
  const head = Buffer.from('HEP3\0\0', 'latin1');
  head.writeUInt16BE(body.length + 6, 4);
  return Buffer.concat([head, body]);
}

export class HepExporter implements TraceExporter {
  sent = 0;
  skipped = 0;
  errors = 0;

  constructor(
    private readonly socket: dgram.Socket,
    private readonly host: string,
    private readonly port: number,
    private readonly captureId: number,
    private readonly password: string | undefined,
  ) {}

  export(m: TracedMessage, buf: Buffer, local: Endpoint, peer: Endpoint): void {
    const src = m.dir === 'in' ? peer : local;
    const dst = m.dir === 'in' ? local : peer;
    const packet = encodeHep3({ payload: buf, src, dst, proto: m.proto, ts: m.ts, captureId: this.captureId, password: this.password, callId: m.callId || undefined });
    if (packet === null) {
      this.skipped++;
      return;
    }
    this.socket.send(packet, this.port, this.host, (e) => {
      if (e) this.errors++;
      else this.sent++;
    });
  }

  close(): void {
    this.socket.close();
  }
}

/** `udp:host:port` → the exporter with its socket. */
export async function startHep(cfg: HepConfig, log?: Logger): Promise<HepExporter> {
  const m = /^udp:(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(cfg.address);
  const host = m ? m[1]!.replace(/^\[|\]$/g, '') : '';
  const port = m ? Number(m[2]) : 0;
  if (!m || isIP(host) === 0 || port < 1 || port > 65535) {
    throw new SiphonError('CONSOLE_HEP', `core.http.console.hep.address must be udp:IP:PORT, not "${cfg.address.slice(0, 100)}"`);
  }
  const socket = dgram.createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
  socket.on('error', (e) => log?.warn({ err: e.message, code: 6037 }, 'HEP export socket error [E6037]'));
  await new Promise<void>((resolve) => socket.bind(0, resolve));
  socket.unref();
  return new HepExporter(socket, host, port, cfg.capture_id ?? HEP_DEFAULT_CAPTURE_ID, cfg.password);
}
