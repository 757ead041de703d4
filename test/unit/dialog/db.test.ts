/**
 * Dialog persistence in the embedded store, db_mode 2 (delayed): changes reach the `dialog` table
 * at the next period (here: flush()), ended dialogs leave it then, and a table opened on the same
 * data directory loads what was stored (state, tags, profiles, variables).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { MessageContext } from '../../../host/core/context.js';
import { parseMessage } from '../../../host/sip/parser.js';
import { resolveDialogConfig } from '../../../host/modules/dialog/config.js';
import { openDialogStore } from '../../../host/modules/dialog/db.js';
import { Dialog, DlgState } from '../../../host/modules/dialog/dialog.js';
import { ProfileCounts, profileDefs } from '../../../host/modules/dialog/profiles.js';
import { DialogTable } from '../../../host/modules/dialog/table.js';
import type { CellObserver, ProxyTransaction } from '../../../host/proxy/cell.js';

const log = pino({ level: 'silent' });
const dir = mkdtempSync(path.join(tmpdir(), 'siphon-dlgdb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function ctx(text: string): MessageContext {
  const r = parseMessage(Buffer.from(text.replace(/\n/g, '\r\n'), 'latin1'));
  if (!r.ok) throw new Error('unparsable');
  return { id: 1, msg: r.message, source: { address: '192.0.2.1', port: 5061, proto: 'udp', family: 4 }, local: { address: '127.0.0.1', port: 5060, proto: 'udp', family: 4 }, dstUri: null, vars: new Map(), replied: false, log, slReply: () => false };
}

const cfg = resolveDialogConfig({ profiles_with_value: 'caller', db_mode: 2, db_update_period: 3600 });

async function open(): Promise<{ table: DialogTable; store: Awaited<ReturnType<typeof openDialogStore>> }> {
  const defs = profileDefs(cfg.profiles_with_value, cfg.profiles_no_value);
  const table = new DialogTable({ cfg, log, profiles: defs, counts: new ProfileCounts(defs) });
  const store = await openDialogStore(cfg, table, { dataDir: dir, log });
  return { table, store };
}

function call(table: DialogTable, callId: string): Dialog {
  let obs: CellObserver | null = null;
  const d = table.create(ctx(`INVITE sip:bob@192.0.2.2 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5061;branch=z9hG4bK-${callId}
From: <sip:alice@a.example>;tag=ft-${callId}
To: <sip:bob@b.example>
Call-ID: ${callId}
CSeq: 1 INVITE
Contact: <sip:alice@192.0.2.1:5061>
Content-Length: 0

`), (_c, o) => void (obs = o)) as Dialog;
  table.setProfile(d, 'caller', 'alice');
  table.setVar(d, 'k', callId);
  obs!.onUpstreamResponse({} as ProxyTransaction, 200, null, `tt-${callId}`, 'OK');
  return d;
}

describe('dialog db_mode 2 (embedded store)', () => {
  it('writes at the period, removes ended dialogs at the period, and a restart loads what is stored', async () => {
    let { table, store } = await open();
    const a = call(table, 'a1');
    const b = call(table, 'b1');
    expect([a.state, b.state]).toEqual([DlgState.CONFIRMED_NA, DlgState.CONFIRMED_NA]);
    await store.flush();
    table.end(b, 'bye', 'terminated');
    await store.flush();
    await store.close();
    table.close();

    ({ table, store } = await open());
    const back = [...table.dialogs()];
    expect(back.map((d) => d.callId)).toEqual(['a1']);
    expect(back[0]).toMatchObject({ hId: a.hId, hEntry: a.hEntry, state: DlgState.CONFIRMED_NA });
    expect(back[0]!.toTag).toBe('tt-a1');
    expect(back[0]!.vars.get('k')).toBe('a1');
    expect(table.counts.size('caller', 'alice')).toBe(1);
    expect(store.failures).toBe(0);
    await store.close();
    table.close();
  });
});
