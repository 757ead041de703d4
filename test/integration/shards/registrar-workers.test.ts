/**
 * core.workers: 2 with plugins/pbx: a busy extension's call is forwarded through failure_route
 * whichever shard holds the call. The forward target's AOR is not the one the prefetch loaded
 * before request_route (the dialled extension), so on a worker shard lookup() reads it from shard 0
 * while the worker waits (host/shards/link.ts callSync; host/modules/registrar/README.md, Shards), as
 * Kamailio's lookup() in failure_route reads usrloc in shared memory. Real UDP on 127.0.0.1.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../host/config/load.js';
import { createLogger } from '../../../host/log/logger.js';
import { startNode, type SiphonNode } from '../../../host/server/app.js';
import { moduleSchemas } from '../../../host/server/modules.js';
import { shardOfCallId } from '../../../host/shards/steer.js';
import { Phone, type SipText } from '../../e2e/pbx-phone.js';
import { freePort } from '../../helpers/ports.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const isInvite = (m: SipText): boolean => m.method === 'INVITE';

describe('core.workers: 2, plugins/pbx: failure_route forwards a busy call on either shard', () => {
  let node: SiphonNode;
  let port = 0;
  let dir: string;
  const phones: Phone[] = [];

  beforeAll(async () => {
    await promisify(execFile)(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), 'pbx'], { cwd: ROOT, timeout: 120_000 });
    port = await freePort('udp');
    dir = mkdtempSync(path.join(os.tmpdir(), 'siphon-reg-workers-'));
    const yaml = [
      'core:',
      `  listen: [udp:127.0.0.1:${port}]`,
      '  ctl: []',
      '  warmup: 0',
      '  workers: 2',
      `  data_dir: ${JSON.stringify(dir)}`,
      'modules:',
      '  registrar: { db_mode: 0 }',
      'routing:',
      '  plugin: pbx',
      '  config: { forward: { "701": "702", "711": "712" } }',
    ].join('\n');
    node = await startNode(parseConfig(yaml, path.join(ROOT, 'config/test.yaml'), { moduleSchemas: moduleSchemas() }), createLogger({ level: 'error', destination: { write: () => {} } }), {
      controlPlane: false,
    });
  }, 180_000);

  afterAll(async () => {
    for (const p of phones) p.close();
    await node?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const phone = async (user: string): Promise<Phone> => {
    const p = await Phone.open(user, port);
    phones.push(p);
    return p;
  };

  /** a Call-ID the node steers to `shard`. */
  const callIdOn = (shard: number, tag: string): string => {
    for (let k = 0; ; k++) if (shardOfCallId(`fwd-${tag}-${process.pid}-${k}`, 2) === shard) return `fwd-${tag}-${process.pid}-${k}`;
  };

  it.each([0, 1])('a call steered to shard %i: 486 from the callee is forwarded to its forward target, which answers', async (shard) => {
    const busy = await phone(`7${shard}1`);
    const other = await phone(`7${shard}2`);
    expect((await busy.register(300))?.status).toBe(200);
    expect((await other.register(300))?.status).toBe(200);
    const caller = await phone(`caller${shard}`);
    const callId = callIdOn(shard, String(shard));
    caller.invite(`7${shard}1`, port, callId);
    const first = await busy.next(isInvite);
    expect(first?.header('Call-ID')).toBe(callId);
    busy.reply(first!, 486, 'Busy Here');
    const second = await other.next(isInvite);
    expect(second?.firstLine).toBe(`INVITE ${other.contact} SIP/2.0`);
    other.reply(second!, 200, 'OK');
    const answer = await caller.next((m) => m.status >= 200);
    expect(answer?.status).toBe(200);
    expect(answer?.header('Contact')).toContain(other.contact);
    expect(node.shards!.steered[shard]).toBeGreaterThan(0);
  });
});
