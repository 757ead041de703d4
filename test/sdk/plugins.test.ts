/**
 * The shipped plugins' routing decisions, run on the recording host of ./helpers/fake-host.ts:
 * hello answers 501 to everything but ACK; default follows kamailio.cfg's REQINIT / WITHINDLG /
 * REGISTRAR blocks (483 on Max-Forwards 0, 200 to OPTIONS for the server itself, 404 in-dialog ...).
 * test/sdk/runtime.test.ts runs the same plugins through the production loader when it exists.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { FakeHost, instantiate, message, repoRoot, runBuild, type FakeMessage } from './helpers/fake-host.js';

const wasm = (name: string) => path.join(repoRoot, 'plugins', name, 'build', `${name}.wasm`);

beforeAll(async () => {
  const r = await runBuild(['hello', 'default']);
  expect(r.code, r.stderr).toBe(0);
});

function route(plugin: string, msg: FakeMessage) {
  const host = new FakeHost(msg);
  const action = instantiate(wasm(plugin), host).request_route(7);
  return { action, host, replies: host.replies.map((r) => `${r.code} ${r.reason}`) };
}

const withHeader = (m: FakeMessage, name: string, value: string | null): FakeMessage => {
  const headers = m.headers.filter(([n]) => n.toLowerCase() !== name.toLowerCase());
  if (value !== null) headers.push([name, value]);
  return { ...m, headers };
};

describe('plugins/hello', () => {
  it('logs "I got a message" with the Call-ID and answers 501 Not Implemented', () => {
    const { action, host, replies } = route('hello', message('MESSAGE', 'sip:alice@127.0.0.1'));
    expect(replies).toEqual(['501 Not Implemented']);
    expect(action).toBe(2);
    const line = host.logs.find((l) => l.text.includes('I got a message'));
    expect(line?.level).toBe(2); // L_INFO: visible at the default log level
    expect(line?.text).toContain('sdk-test-1');
  });

  it('never replies to an ACK', () => {
    const { action, replies } = route('hello', message('ACK', 'sip:alice@127.0.0.1'));
    expect(replies).toEqual([]);
    expect(action).toBe(1);
  });
});

describe('plugins/default', () => {
  it('answers OPTIONS sip:127.0.0.1 (the server itself, no user) with 200 OK', () => {
    expect(route('default', message('OPTIONS', 'sip:127.0.0.1')).replies).toEqual(['200 OK']);
  });

  it('answers 483 Too Many Hops when Max-Forwards is 0', () => {
    const r = route('default', withHeader(message('OPTIONS', 'sip:127.0.0.1'), 'Max-Forwards', '0'));
    expect(r.replies).toEqual(['483 Too Many Hops']);
    expect(r.action).toBe(2);
  });

  it('drops an ACK with Max-Forwards 0 without answering', () => {
    const r = route('default', withHeader(message('ACK', 'sip:bob@127.0.0.1'), 'Max-Forwards', '0'));
    expect(r.replies).toEqual([]);
    expect(r.action).toBe(1);
  });

  it('adds Max-Forwards: 10 when the request has none and decrements a present one', () => {
    const added = route('default', withHeader(message('OPTIONS', 'sip:127.0.0.1'), 'Max-Forwards', null));
    expect(added.host.headerValues('Max-Forwards')).toEqual(['10']);
    const present = route('default', message('OPTIONS', 'sip:127.0.0.1'));
    expect(present.host.headerValues('Max-Forwards')).toEqual(['69']);
  });

  it('answers 400 to an unparsable Max-Forwards', () => {
    const r = route('default', withHeader(message('OPTIONS', 'sip:127.0.0.1'), 'Max-Forwards', 'ten'));
    expect(r.replies).toEqual(['400 Bad Request - Max-Forwards']);
  });

  it('answers 400 when the CSeq method differs from the request method (sanity_check)', () => {
    const r = route('default', withHeader(message('INVITE', 'sip:bob@127.0.0.1'), 'CSeq', '1 BYE'));
    expect(r.replies).toEqual(['400 Bad Request - CSeq method mismatch']);
  });

  it('answers 404 Not here to in-dialog requests and drops in-dialog ACKs', () => {
    const bye = route('default', withHeader(message('BYE', 'sip:bob@127.0.0.1'), 'To', '<sip:bob@127.0.0.1>;tag=t1'));
    expect(bye.replies).toEqual(['404 Not here']);
    const ack = route('default', withHeader(message('ACK', 'sip:bob@127.0.0.1'), 'To', '<sip:bob@127.0.0.1>;tag=t1'));
    expect(ack.replies).toEqual([]);
    expect(ack.action).toBe(1);
  });

  it('answers a CANCEL that matches no transaction with 481', () => {
    expect(route('default', message('CANCEL', 'sip:bob@127.0.0.1')).replies).toEqual(['481 Call/Transaction Does Not Exist']);
  });

  it('answers REGISTER with 501 until the registrar exists', () => {
    expect(route('default', message('REGISTER', 'sip:127.0.0.1')).replies).toEqual(['501 Not Implemented']);
  });

  it('answers 404 to initial requests for a user and 501 to those without one', () => {
    expect(route('default', message('INVITE', 'sip:bob@127.0.0.1')).replies).toEqual(['404 Not Found']);
    expect(route('default', message('MESSAGE', 'sip:127.0.0.1')).replies).toEqual(['501 Not Implemented']);
    // OPTIONS for another host is not a keepalive for us
    expect(route('default', message('OPTIONS', 'sip:example.com')).replies).toEqual(['501 Not Implemented']);
  });

  it('drops an initial ACK without answering', () => {
    const r = route('default', message('ACK', 'sip:bob@127.0.0.1'));
    expect(r.replies).toEqual([]);
    expect(r.action).toBe(1);
  });
});
