/**
 * Test certificates made with the openssl CLI (Debian's openssl, on every machine the tests run on):
 * a CA, and leaf certificates it signs with the names and addresses a test needs. P-256 keys, valid
 * for two days, written as PEM files into a folder of the test's own.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export interface CertFiles {
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed CA `name` in `dir`: name.pem, name.key. */
export function makeCa(dir: string, name: string): CertFiles {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return { cert, key };
}

/**
 * A leaf `name` signed by `ca`, with subjectAltName entries for `dns` names and `ip` addresses;
 * `usage` server, client or both (extendedKeyUsage).
 */
export function makeLeaf(dir: string, name: string, ca: CertFiles, o: { dns?: string[]; ip?: string[]; usage?: 'server' | 'client' | 'both' } = {}): CertFiles {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  const san = [...(o.dns ?? []).map((d) => `DNS:${d}`), ...(o.ip ?? []).map((i) => `IP:${i}`)];
  const eku = o.usage === 'client' ? 'clientAuth' : o.usage === 'both' ? 'serverAuth,clientAuth' : 'serverAuth';
  writeFileSync(ext, [`extendedKeyUsage=${eku}`, 'basicConstraints=CA:FALSE', ...(san.length > 0 ? [`subjectAltName=${san.join(',')}`] : [])].join('\n') + '\n');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext], dir);
  return { cert, key };
}
