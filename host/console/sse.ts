/**
 * One Server-Sent Events stream (WHATWG HTML "Server-sent events": `event:` / `data:` lines, a blank
 * line ends an event, `:` lines are comments used as heartbeats). Bounded: while more than `maxBuffer`
 * bytes sit unsent in the socket (a slow or stalled browser), new events are dropped and counted; after
 * MAX_DROPPED_IN_ROW drops in a row the stream is closed (the page reconnects and reloads its state).
 * Nothing here ever waits on the browser, so the message path and the sampler never block on it.
 */
import type { ServerResponse } from 'node:http';

/** consecutive dropped events before a stalled stream is closed. */
export const MAX_DROPPED_IN_ROW = 1000;
/** comment line sent this often (ms) so proxies and the browser see the stream alive. */
export const HEARTBEAT_MS = 15_000;

export class SseStream {
  dropped = 0;
  private droppedInRow = 0;
  private closed = false;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly res: ServerResponse,
    private readonly maxBuffer: number,
    extraHeaders: Record<string, string>,
  ) {
    res.writeHead(200, {
      ...extraHeaders,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    res.write(': siphon console\n\n');
    this.heartbeat = setInterval(() => this.write(': ping\n\n'), HEARTBEAT_MS);
    this.heartbeat.unref();
    res.once('close', () => this.close());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** queues one event; false when it was dropped (buffer full) or the stream is closed. */
  send(event: string, data: unknown): boolean {
    if (this.closed) return false;
    if (this.res.writableLength > this.maxBuffer) {
      this.dropped++;
      if (++this.droppedInRow >= MAX_DROPPED_IN_ROW) this.close();
      return false;
    }
    this.droppedInRow = 0;
    // JSON.stringify never emits a raw newline, so one data: line carries the whole event
    return this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private write(s: string): boolean {
    if (this.closed) return false;
    this.res.write(s);
    return true;
  }

  onClose(f: () => void): void {
    if (this.closed) f();
    else this.res.once('close', f);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.res.end();
  }
}
