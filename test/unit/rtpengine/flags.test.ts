/**
 * Kamailio flags strings → ng keys (host/modules/rtpengine/flags.ts), rtpengine_sock parsing
 * (config.ts): the WebRTC flag sets Kamailio's examples use, and the bounds.
 */
import { describe, expect, it } from 'vitest';
import { MAX_FLAG_TOKENS, MAX_FLAGS_LENGTH, parseFlags } from '../../../host/modules/rtpengine/flags.js';
import { parseSocks } from '../../../host/modules/rtpengine/config.js';

const ok = (s: string): Record<string, unknown> => {
  const r = parseFlags(s);
  if (!r.ok) throw new Error(r.reason);
  return { ...r.dict };
};

describe('rtpengine flags', () => {
  it('toward a browser: ICE=force DTLS=passive RTP/SAVPF + replace-*', () => {
    expect(ok('ICE=force DTLS=passive RTP/SAVPF replace-origin replace-session-connection')).toEqual({
      ICE: 'force', DTLS: 'passive', 'transport-protocol': 'RTP/SAVPF', replace: ['origin', 'session-connection'],
    });
  });

  it('toward a UDP phone: RTP/AVP ICE=remove DTLS=off SDES-off rtcp-mux-demux', () => {
    expect(ok('RTP/AVP ICE=remove DTLS=off SDES-off rtcp-mux-demux trust-address')).toEqual({
      'transport-protocol': 'RTP/AVP', ICE: 'remove', DTLS: 'off', SDES: ['off'], 'rtcp-mux': ['demux'], flags: ['trust-address'],
    });
  });

  it('codecs, directions, via-branch ignored, empty string', () => {
    expect(ok('codec-strip-PCMA codec-mask-all codec-offer-opus direction=pub direction=priv via-branch=1 codec-weird')).toEqual({
      codec: { strip: ['PCMA'], mask: ['all'], offer: ['opus'] }, direction: ['pub', 'priv'], flags: ['codec-weird'],
    });
    expect(ok('in-iface=a out-iface=b')).toEqual({ direction: ['a', 'b'] });
    expect(ok('')).toEqual({});
    expect(ok('  ')).toEqual({});
  });

  it('refuses what the host sets, bad tokens and oversize strings', () => {
    expect(parseFlags('command=delete').ok).toBe(false);
    expect(parseFlags('sdp=x').ok).toBe(false);
    expect(parseFlags('__proto__=1').ok).toBe(false);
    expect(parseFlags('transport-protocol=FOO').ok).toBe(false);
    expect(parseFlags('a"b').ok).toBe(false);
    expect(parseFlags('x'.repeat(MAX_FLAGS_LENGTH + 1)).ok).toBe(false);
    expect(parseFlags(Array(MAX_FLAG_TOKENS + 1).fill('a').join(' ')).ok).toBe(false);
    expect(parseFlags(Array(MAX_FLAG_TOKENS).fill('a').join(' ')).ok).toBe(true);
  });
});

describe('rtpengine_sock', () => {
  it('parses instances with weights, IPv6 in brackets', () => {
    expect(parseSocks('udp:127.0.0.1:2223=2  udp:[::1]:2224 udp6:10.0.0.1:1')).toEqual([
      { url: 'udp:127.0.0.1:2223', host: '127.0.0.1', port: 2223, family: 4, weight: 2 },
      { url: 'udp:[::1]:2224', host: '::1', port: 2224, family: 6, weight: 1 },
      { url: 'udp6:10.0.0.1:1', host: '10.0.0.1', port: 1, family: 4, weight: 1 },
    ]);
  });

  it.each(['', 'tcp:1.2.3.4:1', 'udp:rtp.example.com:2223', 'udp:1.2.3.4:0', 'udp:1.2.3.4:70000', 'udp:1.2.3.4:1=0', 'udp:1.2.3.999:1', 'udp:1.2.3.4:1 udp:1.2.3.4:1=3'])(
    'refuses %j',
    (s) => expect(() => parseSocks(s)).toThrow(/rtpengine_sock/),
  );
});
