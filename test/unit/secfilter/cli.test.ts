import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as secfilterCli } from '../../../host/cli/commands/secfilter.js';
import { run as dbCli } from '../../../host/cli/commands/db.js';
import { SecFilterModule } from '../../../host/modules/secfilter/index.js';
import pino from 'pino';

let dir: string;
let cfg: string;

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } },
  };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'siphon-secf-cli-'));
  cfg = path.join(dir, 'siphon.yaml');
  await writeFile(cfg, `core:\n  data_dir: ${JSON.stringify(path.join(dir, 'data'))}\nmodules:\n  secfilter:\n    dst_exact_match: 0\n`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('siphon secfilter (embedded store)', () => {
  it('add, show, rm write the store the module loads', async () => {
    const c = io();
    expect(await dbCli(['migrate', '-c', cfg], c.io)).toBe(0);
    expect(c.out.join('')).toContain('secfilter\tversion 1\tcreated');
    expect(await secfilterCli(['-c', cfg, 'add', 'bl', 'ua', 'friendly-scanner'], c.io)).toBe(0);
    expect(await secfilterCli(['-c', cfg, 'add', 'wl', 'user', 'boss'], c.io)).toBe(0);
    expect(await secfilterCli(['-c', cfg, 'add', 'dst', '+3490'], c.io)).toBe(0);
    const s = io();
    expect(await secfilterCli(['-c', cfg, 'show'], s.io)).toBe(0);
    expect(s.out.join('')).toBe('dst\t-\t+3490\nbl\tua\tfriendly-scanner\nwl\tuser\tboss\n');

    const m = new SecFilterModule();
    await m.init({ config: { dst_exact_match: 0 }, dataDir: path.join(dir, 'data'), log: pino({ level: 'silent' }) });
    expect(m.secfilter.checkUa('friendly-scanner')).toBe(-2);
    expect(m.secfilter.checkDst('+34901234')).toBe(-2);
    await m.close();

    expect(await secfilterCli(['-c', cfg, 'rm', 'bl', 'ua', 'friendly-scanner'], c.io)).toBe(0);
    expect(await secfilterCli(['-c', cfg, 'rm', 'bl', 'ua', 'friendly-scanner'], c.io)).toBe(1);
    const s2 = io();
    await secfilterCli(['-c', cfg, 'show', 'ua'], s2.io);
    expect(s2.out.join('')).toBe('');
  });

  it('usage errors exit 2; reload goes through the hook', async () => {
    const c = io();
    expect(await secfilterCli(['-c', cfg, 'add', 'bl', 'color', 'x'], c.io)).toBe(2);
    expect(c.err.join('')).toContain("unknown type 'color'");
    expect(await secfilterCli(['frobnicate'], c.io)).toBe(2);
    const r = io();
    let asked: string | undefined = 'no';
    const code = await secfilterCli(['--ctl', 'tcp:127.0.0.1:16020', 'reload'], {
      ...r.io,
      reloadServer: async (ctl) => {
        asked = ctl;
        return 'Data reloaded';
      },
    });
    expect(code).toBe(0);
    expect(asked).toBe('tcp:127.0.0.1:16020');
    expect(r.out.join('')).toBe('Data reloaded\n');
  });
});
