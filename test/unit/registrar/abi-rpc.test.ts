/**
 * The `registrar` plugin imports (over a message context and a stand-in for guest memory) and the
 * ul.* RPC methods and statistics, in memory mode.
 */
import { describe, expect, it } from 'vitest';
import type { MessageContext } from '../../../host/core/context.js';
import { RegistrarImports } from '../../../host/modules/registrar/abi.js';
import { registrarRpcMethods } from '../../../host/modules/registrar/rpc.js';
import { registrarStatistics } from '../../../host/modules/registrar/stats.js';
import { RegistrarModule } from '../../../host/modules/registrar/index.js';
import { context, hostApi, LOCAL, log, memoryRegistrar, register, request, SRC, type Fn, type Sent } from './helpers.js';


describe('registrar imports', () => {
  it('save replies through slReply with every contact; lookup sets R-URI, $du and branches', () => {
    const { reg } = memoryRegistrar({ nat_received: 1 });
    let ctx: MessageContext | null = null;
    const { api, str, gas } = hostApi(() => ctx);
    const f = new RegistrarImports(reg).functions(api) as unknown as Record<string, Fn>;
    const sent: Sent[] = [];
    const [tp, tl] = str('location');

    ctx = context(register({ contacts: ['<sip:a@127.0.0.1:18501>;q=0.2', '<sip:a@10.0.0.5:5060>;q=0.9'], expires: 300 }), sent);
    expect(f.save!(tp, tl, 0)).toBe(1);
    expect(sent).toEqual([
      {
        code: 200,
        reason: 'OK',
        headers: ['Contact: <sip:a@10.0.0.5:5060>;expires=300;q=0.9;received="sip:127.0.0.1:18501"', 'Contact: <sip:a@127.0.0.1:18501>;expires=300;q=0.2'],
      },
    ]);
    expect(gas()).toBeGreaterThan(0);

    // flag 0x02: no reply; 0x10: the Contact lines are queued for the plugin's own reply
    const quiet: Sent[] = [];
    ctx = context(register({ cseq: 2 }), quiet);
    expect(f.save!(tp, tl, 0x02 | 0x10)).toBe(4);
    expect(quiet).toEqual([]);
    expect(ctx.replyHeaders).toHaveLength(2);

    const inv = request('INVITE', 'sip:a@example.com');
    ctx = context(inv, []);
    expect(f.lookup!(tp, tl)).toBe(1);
    expect(inv.requestUri).toBe('sip:a@10.0.0.5:5060');
    expect(ctx.dstUri).toBe('sip:127.0.0.1:18501');
    expect(ctx.branches).toEqual(['sip:a@127.0.0.1:18501']);

    ctx = context(request('INVITE', 'sip:zed@example.com'), []);
    expect(f.lookup!(tp, tl)).toBe(-1);
    expect(f.registered!(tp, tl)).toBe(-1);
    const [up, ul] = str('sip:a@example.com');
    expect(f.registered_uri!(tp, tl, up, ul)).toBe(1);
    expect(f.unregister!(tp, tl, up, ul)).toBe(1);
    expect(f.registered_uri!(tp, tl, up, ul)).toBe(-1);
  });

  it('lookup called again on one request adds no branch past max_branches - 1 (Kamailio dset)', () => {
    const { reg } = memoryRegistrar({ max_contacts: 0 });
    reg.maxBranches = 4;
    let ctx: MessageContext | null = null;
    const { api, str } = hostApi(() => ctx);
    const f = new RegistrarImports(reg).functions(api) as unknown as Record<string, Fn>;
    const [tp, tl] = str('location');
    ctx = context(register({ contacts: Array.from({ length: 10 }, (_, i) => `<sip:a${i}@h${i}>`) }), []);
    expect(f.save!(tp, tl, 0)).toBe(1);
    ctx = context(request('INVITE', 'sip:a@example.com'), []);
    expect(f.lookup!(tp, tl)).toBe(1);
    expect(ctx.branches).toHaveLength(3);
    const [up, ul] = str('sip:a@example.com');
    expect(f.lookup_uri!(tp, tl, up, ul)).toBe(1);
    expect(ctx.branches).toHaveLength(3);
  });

  it('returns ABI statuses outside a message, on bad memory and for db-only tables', () => {
    const { reg } = memoryRegistrar();
    let ctx: MessageContext | null = null;
    const { api, str } = hostApi(() => ctx);
    const f = new RegistrarImports(reg).functions(api) as unknown as Record<string, Fn>;
    const [tp, tl] = str('location');
    expect(f.save!(tp, tl, 0)).toBe(-4);
    ctx = context(register({ contacts: ['<sip:a@h1>'] }), []);
    expect(f.save!(tp, tl + 1, 0)).toBe(-3);
    const [xp, xl] = str('nosuchtable');
    expect(f.lookup!(xp, xl)).toBe(-3);
  });
});

describe('ul RPCs and statistics', () => {
  it('ul.add, ul.lookup, ul.dump, ul.rm_contact, ul.rm with Kamailio reply shapes', async () => {
    const { reg, clock } = memoryRegistrar();
    const rpc = new Map(registrarRpcMethods(reg).map((m) => [m.name, m]));
    await rpc.get('ul.add')!.handler(['location', 'bob', 'sip:bob@127.0.0.1:18540', 120, 0.7, '0', 0, 0, 4294967295]);
    await rpc.get('ul.add')!.handler(['location', 'bob', 'sip:bob@127.0.0.1:18541', 0, 1, '<sip:edge.example.com;lr>', 0, 2, 1]);
    await expect(rpc.get('ul.add')!.handler(['location', 'bob'])).rejects.toMatchObject({ faultCode: 500 });
    clock.advance(20);

    const found = (await rpc.get('ul.lookup')!.handler(['location', 'Bob'])) as { AoR: string; Contacts: Array<{ Contact: Record<string, unknown> }> };
    expect(found.AoR).toBe('bob');
    expect(found.Contacts.map((c) => [c.Contact.Address, c.Contact.Expires, c.Contact.Q, c.Contact.Path, c.Contact.CFlags])).toEqual([
      ['sip:bob@127.0.0.1:18540', 100, 0.7, '[not set]', 0],
      ['sip:bob@127.0.0.1:18541', 'permanent', 1, '<sip:edge.example.com;lr>', 2],
    ]);
    // a path routes lookup through it
    const l = reg.lookupSync('location', request('INVITE', 'sip:bob@example.com'));
    expect(l.ruri).toBe('sip:bob@127.0.0.1:18541');
    expect(l.dstUri).toBe('sip:edge.example.com;lr');

    const dump = (await rpc.get('ul.dump')!.handler([])) as Record<string, unknown>;
    expect(dump).toMatchObject({ Domain: 'location', Stats: { Records: 1 } });
    expect((dump.AoRs as Array<{ Info: { AoR: string } }>)[0]!.Info.AoR).toBe('bob');
    expect(await rpc.get('ul.dump')!.handler(['brief'])).toMatchObject({ AoRs: [{ AoR: 'bob' }] });

    await expect(rpc.get('ul.rm_contact')!.handler(['location', 'bob', 'sip:nope@h'])).rejects.toMatchObject({ faultCode: 404, message: 'Contact not found' });
    await rpc.get('ul.rm_contact')!.handler(['location', 'bob', 'sip:bob@127.0.0.1:18540']);
    await expect(rpc.get('ul.lookup')!.handler(['nosuch', 'bob'])).rejects.toMatchObject({ message: 'Domain not found' });
    await rpc.get('ul.rm')!.handler(['location', 'bob']);
    await expect(rpc.get('ul.lookup')!.handler(['location', 'bob'])).rejects.toMatchObject({ message: 'AOR not found in location table' });
    await expect(rpc.get('ul.db_users')!.handler(['location'])).rejects.toMatchObject({ message: 'Command is not supported in db_mode=0' });
  });

  it('counts registered users/contacts, expired contacts, accepted and rejected REGISTERs', async () => {
    const { reg, loc, clock } = memoryRegistrar({ min_expires_mode: 1 });
    reg.saveSync('location', register({ contacts: ['<sip:a@h1>;expires=60', '<sip:a@h2>;expires=600'] }), SRC, LOCAL);
    reg.saveSync('location', register({ to: 'sip:b@example.com', contacts: ['<sip:b@h1>'] }), SRC, LOCAL);
    reg.saveSync('location', register({ to: 'sip:c@example.com', contacts: ['<sip:c@h1>;expires=5'] }), SRC, LOCAL);
    expect(registrarStatistics(reg)).toMatchObject({ registered_users: 2, registered_contacts: 3, accepted_regs: 2, rejected_regs: 1, expired_contacts: 0 });
    clock.advance(61);
    await loc.sweep();
    expect(registrarStatistics(reg)).toMatchObject({ registered_users: 2, registered_contacts: 2, expired_contacts: 1 });
  });

  it('the module starts from a config section and offers imports, RPCs and statistics', async () => {
    const m = new RegistrarModule();
    await m.init({ config: { max_contacts: 3 }, dataDir: '/nonexistent', log });
    try {
      expect(m.imports().map((p) => p.namespace)).toEqual(['registrar']);
      expect(m.rpcMethods().map((r) => r.name)).toContain('ul.dump');
      expect(m.registrar.cfg.max_contacts).toBe(3);
      expect(m.registrar.cfg.default_expires).toBe(3600);
      expect(m.statistics()).toMatchObject({ registered_users: 0, accepted_regs: 0 });
    } finally {
      await m.close();
    }
  });
});
