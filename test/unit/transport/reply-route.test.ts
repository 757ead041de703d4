/** Response addressing, RFC 3261 §18.2.2 and RFC 3581 §4. */
import { describe, expect, it } from 'vitest';
import { replyAddress } from '../../../host/transport/reply-route.js';
import type { Via } from '../../../host/sip/types.js';
import type { Endpoint } from '../../../host/core/context.js';

function via(p: Partial<Via>): Via {
  return { protocol: 'SIP/2.0/UDP', transport: 'UDP', host: '192.0.2.1', params: [], raw: '', ...p };
}
const udpSrc: Endpoint = { address: '198.51.100.7', port: 40000, proto: 'udp', family: 4 };

describe('reply address', () => {
  it('rport present: source address and source port (RFC 3581 §4)', () => {
    expect(replyAddress(via({ port: 5062, rport: null }), udpSrc)).toEqual({ address: '198.51.100.7', port: 40000 });
  });
  it('no rport: source address (received) and the sent-by port', () => {
    expect(replyAddress(via({ port: 5062 }), udpSrc)).toEqual({ address: '198.51.100.7', port: 5062 });
  });
  it('no rport, no port: 5060', () => {
    expect(replyAddress(via({}), udpSrc)).toEqual({ address: '198.51.100.7', port: 5060 });
  });
  it('maddr: the maddr address and the sent-by port', () => {
    expect(replyAddress(via({ port: 5070, maddr: '239.255.255.1', rport: null }), udpSrc)).toEqual({ address: '239.255.255.1', port: 5070 });
  });
  it('maddr IPv6 reference loses its brackets', () => {
    expect(replyAddress(via({ maddr: '[2001:db8::5]' }), udpSrc)).toEqual({ address: '2001:db8::5', port: 5060 });
  });
  it('TCP: a new connection goes to the source address and the sent-by port', () => {
    const tcpSrc: Endpoint = { ...udpSrc, proto: 'tcp' };
    expect(replyAddress(via({ port: 5080, maddr: '192.0.2.99' }), tcpSrc)).toEqual({ address: '198.51.100.7', port: 5080 });
  });
});
