/**
 * Digest credentials parsing (host/sip/digest.ts): RFC 3261 §25.1 / RFC 7616 §3.4 forms, and the
 * bounds: duplicate parameters, over-long values, unterminated quotes, non-Digest schemes.
 */
import { describe, expect, it } from 'vitest';
import { DIGEST_LIMITS, parseDigestCredentials } from '../../../host/sip/digest.js';

const RFC7616 =
  'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, ' +
  'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", ' +
  'qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';

describe('parseDigestCredentials', () => {
  it('reads the RFC 7616 §3.9.1 SHA-256 response', () => {
    const c = parseDigestCredentials(RFC7616, 'proxy', 2)!;
    expect(c).not.toBeNull();
    expect(c.hdr).toBe('proxy');
    expect(c.index).toBe(2);
    expect(c.username).toBe('Mufasa');
    expect(c.user).toBe('Mufasa');
    expect(c.domain).toBeNull();
    expect(c.realm).toBe('http-auth@example.org');
    expect(c.uri).toBe('/dir/index.html');
    expect(c.algorithm).toBe('SHA-256');
    expect(c.qop).toBe('auth');
    expect(c.nc).toBe('00000001');
    expect(c.opaque).toBe('FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS');
  });

  it('splits user@domain, defaults the algorithm to MD5, unescapes quoted-pairs', () => {
    const c = parseDigestCredentials('digest  username = "al\\"ice@example.com" ,realm="r",nonce="n", uri="sip:x", response="00"')!;
    expect(c.username).toBe('al"ice@example.com');
    expect(c.user).toBe('al"ice');
    expect(c.domain).toBe('example.com');
    expect(c.algorithm).toBe('MD5');
    expect(c.algorithmText).toBeNull();
    expect(c.qop).toBeNull();
  });

  it('knows unsupported algorithms as null, userhash as a flag', () => {
    const c = parseDigestCredentials('Digest username="a", realm="r", algorithm=SHA-512-256, userhash=true')!;
    expect(c.algorithm).toBeNull();
    expect(c.algorithmText).toBe('SHA-512-256');
    expect(c.userhash).toBe(true);
  });

  it.each([
    ['Basic dXNlcjpwYXNz'],
    ['Digest'],
    ['Digestusername="a", realm="r"'],
    ['Digest username="a", realm="r", realm="s"'],
    ['Digest username="a", REALM="r", realm="r"'],
    ['Digest username="a", realm="r'],
    ['Digest username="a" realm="r"'],
    ['Digest username="a", realm='],
    ['Digest username="a", ="r"'],
    ['Digest realm="r"'],
    ['Digest username="a"'],
    ['Digest username="a", realm="r", nonce="x\u0001y"'],
    ['Digest username="a", realm="r", x="\\'],
  ])('refuses %j', (v) => {
    expect(parseDigestCredentials(v)).toBeNull();
  });

  it('bounds every value and the parameter count', () => {
    expect(parseDigestCredentials(`Digest username="${'u'.repeat(DIGEST_LIMITS.maxName + 1)}", realm="r"`)).toBeNull();
    expect(parseDigestCredentials(`Digest username="u", realm="r", nonce="${'n'.repeat(DIGEST_LIMITS.maxNonce + 1)}"`)).toBeNull();
    expect(parseDigestCredentials(`Digest username="u", realm="r", uri="${'x'.repeat(DIGEST_LIMITS.maxUri)}"`)).not.toBeNull();
    const many = Array.from({ length: DIGEST_LIMITS.maxParams }, (_, k) => `p${k}=1`).join(', ');
    expect(parseDigestCredentials(`Digest username="u", realm="r", ${many}`)).toBeNull();
    expect(parseDigestCredentials('Digest username="u", realm="r", ' + 'x'.repeat(DIGEST_LIMITS.maxHeaderLength))).toBeNull();
  });
});
