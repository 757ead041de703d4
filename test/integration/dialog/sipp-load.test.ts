/**
 * SIPp calls through plugins/pbx with the dialog module: a SIPp UAS registered as extension 101, a
 * SIPp UAC placing 20 calls/s that each last 3 s (INVITE/180/200/ACK, pause, BYE). While the load
 * runs, dlg.list is sampled: its count equals dlg.stats_active's and the calls SIPp has up (about
 * rate × hold); afterwards every call was processed once, none failed, none is left.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { sharedDir } from '../../helpers/shared.js';
import { startSipp, type SippProcess } from '../../helpers/sipp.js';
import { dialogNode, Phone, records, stats, until, type DialogNode } from './helpers.js';
import type { SipText } from '../../e2e/pbx-phone.js';

const SCENARIOS = path.join(sharedDir(), 'bench/scenarios');
const RATE = 20;
const HOLD_MS = 3000;
const CALLS = 200;

let n: DialogNode;
let uas: SippProcess | null = null;
let uac: SippProcess | null = null;

beforeAll(async () => {
  n = await dialogNode({ dialog: ['profiles_with_value: caller'] });
}, 30_000);
afterAll(async () => {
  await uac?.kill();
  await uas?.kill();
  await n?.stop();
});

describe('dialog under SIPp load', () => {
  it(`${RATE} calls/s held ${HOLD_MS / 1000} s: dlg.list counts the calls up while they run, every call processed once, none left`, async () => {
    uas = await startSipp(null, path.join(SCENARIOS, 'uas.xml'), { extra: ['-bind_local'] });
    // the UAS's socket registered as extension 101 (Contact with its port; the REGISTER from a phone)
    const reg = await Phone.open('101', n.port);
    let ok: SipText | null = null;
    // a node on a machine loaded by other suites may answer a first request 500 (the hook time guard): REGISTER is idempotent
    for (let i = 0; i < 3 && ok?.status !== 200; i++) {
      reg.send(
        `REGISTER sip:127.0.0.1:${n.port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${reg.port};branch=z9hG4bK-reg-sipp-${process.pid}-${i};rport\r\n` +
          `Max-Forwards: 70\r\nFrom: <sip:101@127.0.0.1>;tag=rs${process.pid}\r\nTo: <sip:101@127.0.0.1>\r\nCall-ID: reg-sipp-${process.pid}\r\n` +
          `CSeq: ${i + 1} REGISTER\r\nContact: <sip:101@127.0.0.1:${uas.port}>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n`,
      );
      ok = await reg.next((m) => m.status >= 200);
    }
    reg.close();
    expect(ok?.status).toBe(200);

    uac = await startSipp(`127.0.0.1:${n.port}`, path.join(SCENARIOS, 'invite.xml'), { rate: RATE, calls: CALLS, extra: ['-s', '101', '-d', String(HOLD_MS)] });
    const started = Date.now();
    // steady state: after one hold time, about RATE × HOLD calls are up
    await until(() => Date.now() - started > HOLD_MS + 1000, 'steady state', HOLD_MS + 3000);
    const expected = (RATE * HOLD_MS) / 1000;
    const samples: number[] = [];
    while (Date.now() - started < (CALLS / RATE) * 1000 - 500) {
      const list = records(await n.rpc('dlg.list'));
      const active = (await n.rpc('dlg.stats_active')) as { active: { all: number; ongoing: number } };
      // dlg.list and the per-state counters agree (two reads: calls may start or end in between)
      expect(Math.abs(list.length - active.active.all), `${list.length} vs ${active.active.all}`).toBeLessThanOrEqual(2);
      samples.push(list.length);
      const wait = Date.now() + 500;
      await until(() => Date.now() >= wait, 'next sample', 1000);
    }
    expect(samples.length).toBeGreaterThan(3);
    for (const s of samples) {
      expect(s, `samples ${samples.join(',')}`).toBeGreaterThanOrEqual(Math.floor(expected * 0.75));
      expect(s, `samples ${samples.join(',')}`).toBeLessThanOrEqual(Math.ceil(expected * 1.25));
    }
    // -m: SIPp exits once its last call ended
    const proc = uac.proc;
    await until(() => proc.exitCode !== null, 'SIPp UAC done', 20_000);
    const r = await uac.finish();
    uac = null;
    expect(r.successful, r.errors).toBe(CALLS);
    expect(r.failed).toBe(0);
    await until(async () => records(await n.rpc('dlg.list')).length === 0, 'every dialog ended', 10_000);
    expect(await stats(n)).toMatchObject({ processed_dialogs: CALLS, failed_dialogs: 0, expired_dialogs: 0, active_dialogs: 0, dialogs: 0 });
  }, 60_000);
});
