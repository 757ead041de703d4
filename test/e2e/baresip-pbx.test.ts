/**
 * The issue's "Must show" with real user agents, through `npm start`'s configuration (config/siphon.yaml:
 * plugins/default with route[AUTH], modules auth + auth_db on the embedded store), run by the real
 * `siphon start` binary: two subscribers added by the CLI while the node runs (live, no restart), two
 * baresip UAs with their passwords register (the 401 challenge answered), alice calls bob, bob answers,
 * alice hangs up; a UA with a wrong password gets REGISTER_FAIL 401 and nothing is saved; an INVITE from a
 * UA that is not a subscriber is challenged (407), never relayed.
 *
 * Only what a test must change is changed in the config: the listen address (an ephemeral UDP port),
 * data_dir and the control socket (a temp dir), no warm-up, and the domain as an alias (the node is
 * not on port 5060, so sip:bob@127.0.0.1 would not be this node).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Baresip, closed, established, incoming, registerFailed, registered, statusOfParam } from '../helpers/baresip.js';
import { freePort } from '../helpers/ports.js';
import { shippedConfigText } from '../helpers/shipped-config.js';
import { ROOT, SIPHON_BIN, startSiphon, type SiphonProcess } from '../helpers/siphon-process.js';

const run = promisify(execFile);
const DOMAIN = 'siphon.test';

let tmp: string;
let cfg: string;
let ctl: string;
let port: number;
let srv: SiphonProcess;
const uas: Baresip[] = [];

/** `siphon subscriber ...` against the running node's control socket. */
function subscriber(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [SIPHON_BIN, 'subscriber', '-c', cfg, '--ctl', `unix:${ctl}`, ...args], { cwd: ROOT, timeout: 20_000 });
}

async function ua(user: string, password?: string): Promise<Baresip> {
  const u = await Baresip.start({ user, domain: DOMAIN, proxyPort: port, password });
  uas.push(u);
  return u;
}

const outcome = (u: Baresip) => u.waitFor((e) => registered()(e) || registerFailed()(e));

describe("npm start's config with two subscribers added by the CLI", () => {
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'siphon-baresip-pbx-'));
    ctl = path.join(tmp, 'ctl.sock');
    port = await freePort('udp');
    const text = shippedConfigText({ port, dataDir: path.join(tmp, 'data'), ctl, domain: DOMAIN });
    cfg = path.join(tmp, 'siphon.yaml');
    writeFileSync(cfg, text);
    srv = await startSiphon(['-c', cfg], { readyPorts: [{ proto: 'udp', port }] });
    // added while the node runs: the CLI goes through its control socket
    await subscriber('add', `alice@${DOMAIN}`, 'alice-Secret-1');
    await subscriber('add', `bob@${DOMAIN}`, 'bob-Secret-2');
  }, 120_000);

  afterAll(async () => {
    await Promise.all(uas.map((u) => u.stop()));
    await srv?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('lists the two subscribers (no passwords)', async () => {
    const { stdout } = await subscriber('list');
    expect(stdout).toMatch(new RegExp(`\\balice\\s+${DOMAIN}\\b`));
    expect(stdout).toMatch(new RegExp(`\\bbob\\s+${DOMAIN}\\b`));
    expect(stdout).not.toContain('Secret');
  });

  it('two baresip UAs register with their passwords, alice calls bob, bob answers, alice hangs up', async () => {
    const [alice, bob] = await Promise.all([ua('alice', 'alice-Secret-1'), ua('bob', 'bob-Secret-2')]);
    const [ra, rb] = await Promise.all([outcome(alice), outcome(bob)]);
    expect(ra.type, `${alice.describe()}\n${srv.stdout().slice(-4000)}`).toBe('REGISTER_OK');
    expect(rb.type, bob.describe()).toBe('REGISTER_OK');

    await alice.dial(`sip:bob@${DOMAIN}`);
    const inc = await bob.waitFor(incoming());
    expect(inc.peeruri).toBe(`sip:alice@${DOMAIN}`);
    await bob.accept();
    await Promise.all([alice.waitFor(established()), bob.waitFor(established())]);
    await alice.hangup();
    const [ca, cb] = await Promise.all([alice.waitFor(closed()), bob.waitFor(closed())]);
    expect(ca.param).toBe('Connection reset by user');
    expect(cb.param).toBe('Connection reset by peer'); // the BYE came through siphon
  }, 60_000);

  it('a wrong password: REGISTER_FAIL 401, nothing saved', async () => {
    const mallory = await ua('bob', 'guessing');
    const e = await outcome(mallory);
    expect(e.type).toBe('REGISTER_FAIL');
    expect(statusOfParam(e)).toBe(401);
  });

  it('a UA that is not a subscriber cannot call out through the node: its INVITE is challenged, never relayed', async () => {
    const eve = await ua('eve', 'whatever');
    // eve's REGISTER fails (no such subscriber); her INVITE (From our domain) is challenged with 407,
    // her answer fails, the second 407 ends the call
    expect((await outcome(eve)).type).toBe('REGISTER_FAIL');
    await eve.dial(`sip:bob@${DOMAIN}`);
    const end = await eve.waitFor(closed());
    expect(statusOfParam(end), eve.describe()).toBe(407);
    expect(uas.find((u) => u.opts.user === 'bob' && u.events.filter(incoming()).length > 1)).toBeUndefined();
  }, 30_000);
});
