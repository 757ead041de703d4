/**
 * `siphon plugin` (the real dist/ binary): offline `test` of a plugin on a message file, and the
 * new → build → test round trip of a scaffolded plugin. No sockets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { sharedDir } from '../helpers/shared.js';
import { ROOT, SIPHON_BIN } from '../helpers/siphon-process.js';
import { readCustomSection } from '../../host/wasm/loader.js';

const exec = promisify(execFile);

async function siphon(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [SIPHON_BIN, 'plugin', ...args], { cwd: ROOT, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

let tmp: string;
const OPTIONS_SIP = () => path.join(sharedDir(), 'conformance/rfc3261-3665/rfc3261-s11.1-options.sip');

beforeAll(async () => {
  mkdirSync(path.join(ROOT, 'tmp'), { recursive: true });
  tmp = mkdtempSync(path.join(ROOT, 'tmp', 'plugin-cli-'));
  // hello's build output (plugins/*/build is not in git)
  await exec(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), 'hello'], { cwd: ROOT, timeout: 120_000 });
}, 150_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('siphon plugin test', () => {
  it('hello on an OPTIONS prints the 501 decision, the reply headers and the log line', async () => {
    const r = await siphon(['test', 'hello', OPTIONS_SIP(), '--plugins-dir', 'plugins']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^plugin {3}hello@1\.0\.0 \(sha256 [0-9a-f]{12}\)/m);
    expect(r.stdout).toMatch(/^message  OPTIONS sip:carol@chicago\.com \(Call-ID a84b4c76e66710\)$/m);
    expect(r.stdout).toMatch(/^action   REPLIED \(2\)$/m);
    expect(r.stdout).toMatch(/^reply    501 Not Implemented$/m);
    // the reply as the server would build it: Via with received=, To-tag added
    expect(r.stdout).toMatch(/^ +Via: SIP\/2\.0\/UDP pc33\.atlanta\.com;branch=z9hG4bKhjhs8ass877;received=127\.0\.0\.1$/m);
    expect(r.stdout).toMatch(/^ +To: <sip:carol@chicago\.com>;tag=[0-9a-f]{32}\.[0-9a-f]{8}$/m);
    expect(r.stdout).toMatch(/^relay    no$/m);
    expect(r.stdout).toMatch(/^changes  none$/m);
    expect(r.stdout).toMatch(/^log      info  I got a message: OPTIONS sip:carol@chicago\.com from 127\.0\.0\.1:5080 \(Call-ID a84b4c76e66710\)$/m);
  });

  it('--json gives the same decision machine-readably; an ACK is dropped without reply', async () => {
    const ack = path.join(tmp, 'ack.sip');
    const options = readFileSync(OPTIONS_SIP(), 'latin1');
    writeFileSync(ack, options.replace(/^OPTIONS /, 'ACK ').replace('CSeq: 63104 OPTIONS', 'CSeq: 63104 ACK'), 'latin1');
    const r = await siphon(['test', 'hello', ack, '--json', '--plugins-dir', 'plugins']);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout) as { action: string; replies: unknown[]; plugin: { name: string } };
    expect(d.plugin.name).toBe('hello');
    expect(d.action).toBe('DROP');
    expect(d.replies).toEqual([]);
  });

  it('a relay is performed as on a node: tm answers 100 Trying and sends the branch to $du', async () => {
    const inv = path.join(tmp, 'invite.sip');
    writeFileSync(
      inv,
      'INVITE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-relay\nMax-Forwards: 70\n' +
        'From: <sip:a@127.0.0.1>;tag=1\nTo: <sip:bob@example.com>\nCall-ID: relay-1\nCSeq: 1 INVITE\nContact: <sip:a@127.0.0.1:5080>\nContent-Length: 0\n\n',
    );
    // the ABI 1.0 fixture: sets $du to sip:192.0.2.30:5060 and returns RELAY
    const r = await siphon(['test', path.join(ROOT, 'test/fixtures/wasm/abi-1.0/abi10.wasm'), inv]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^action   RELAY \(3\)$/m);
    expect(r.stdout).toMatch(/^reply    100 Trying$/m);
    expect(r.stdout).toMatch(/^relay    to sip:192\.0\.2\.30:5060 \(\$du; R-URI sip:bob@example\.com, \$du sip:192\.0\.2\.30:5060; sent to 192\.0\.2\.30:5060\)$/m);
    expect(r.stdout).toMatch(/^ +\+ X-ABI: 1\.0$/m);
    expect(r.stdout).toMatch(/^vars     abi=1\.0$/m);
  });

  it('a missing plugin is a clear error naming the file', async () => {
    const r = await siphon(['test', 'nosuchplugin', OPTIONS_SIP(), '--plugins-dir', 'plugins']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nosuchplugin\.wasm/);
    expect(r.stderr).toMatch(/E4001/);
  });
});

describe('siphon plugin new → build → test', () => {
  it('scaffolds a plugin that builds and answers OPTIONS to the server with 200 and its header', async () => {
    const created = await siphon(['new', 'demo', '--plugins-dir', tmp]);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/created .*demo\/\{assembly\/index\.ts,package\.json,README\.md\}/);
    // the sample route declares what it calls (docs/plugins.md "Capabilities"); the build writes it into the manifest
    expect(JSON.parse(readFileSync(path.join(tmp, 'demo/package.json'), 'utf8'))).toMatchObject({ name: 'demo', version: '0.1.0', siphon: { capabilities: ['msg.read', 'msg.reply', 'msg.write'] } });
    expect(readFileSync(path.join(tmp, 'demo/assembly/index.ts'), 'utf8')).toMatch(/onRequest\(/);
    expect((await siphon(['new', 'demo', '--plugins-dir', tmp])).code).toBe(1); // never overwrites

    const built = await siphon(['build', 'demo', '--plugins-dir', tmp]);
    expect(built.stderr).toBe('');
    expect(built.code).toBe(0);
    expect(built.stdout).toMatch(/demo built/);
    const manifest = readCustomSection(readFileSync(path.join(tmp, 'demo/build/demo.wasm')), 'sip.plugin');
    expect(JSON.parse(Buffer.from(manifest!).toString('utf8'))).toEqual({ name: 'demo', version: '0.1.0', capabilities: ['msg.read', 'msg.reply', 'msg.write'] });

    const msg = path.join(tmp, 'options-self.sip');
    writeFileSync(
      msg,
      // bare LF line ends, as hand-written: the harness accepts them
      'OPTIONS sip:127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-1\nMax-Forwards: 70\n' +
        'From: <sip:a@127.0.0.1>;tag=1\nTo: <sip:127.0.0.1:5060>\nCall-ID: demo-1\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n',
    );
    const r = await siphon(['test', 'demo', msg, '--plugins-dir', tmp]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^reply    200 OK$/m);
    expect(r.stdout).toMatch(/^ +X-Plugin: demo$/m);
    // mf_process_maxfwd_header decremented Max-Forwards: shown as a change to the request
    expect(r.stdout).toMatch(/^ +- Max-Forwards: 70$/m);
    expect(r.stdout).toMatch(/^ +\+ Max-Forwards: 69$/m);

    const broken = path.join(tmp, 'demo/assembly/index.ts');
    writeFileSync(broken, `${readFileSync(broken, 'utf8')}\nthis does not compile;\n`);
    const failed = await siphon(['build', 'demo', '--plugins-dir', tmp]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/index\.ts:\d+:\d+: error/);
  }, 120_000);

  it('usage errors exit 2', async () => {
    expect((await siphon(['frobnicate'])).code).toBe(2);
    expect((await siphon(['test', 'hello'])).code).toBe(2);
    expect((await siphon(['new', '../evil'])).code).toBe(2);
  });
});
