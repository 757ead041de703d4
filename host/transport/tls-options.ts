/**
 * TLS settings and contexts of the `tls:` listeners and of outgoing TLS connections (RFC 3261 §26.2,
 * RFC 5630 for `sips:`, RFC 5922 for the certificate names). `core.tls` in the config plays the part
 * of Kamailio's tls.cfg: a default server profile (certificate, key, CA list, minimum version, client
 * verification), per-domain server profiles picked by SNI (Kamailio `[server:any]` sections with
 * `server_name`), and the client profile for connections siphon opens (Kamailio `[client:default]`).
 *
 * The files are read when the listeners start and again on `tls.reload` (RPC, Kamailio's name). A
 * reload builds every context first and swaps them in only when all of them built: a bad file is
 * refused with its path and the reason (E3030), and the running contexts stay. Connections already
 * open keep the context they were made with (as Kamailio does).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { SiphonError } from '../errors/registry.js';

/** Client certificates on accepted connections (Kamailio verify_certificate / require_certificate). */
export type VerifyClient = 'off' | 'optional' | 'required';

export interface TlsDomainSettings {
  /** the SNI name this profile answers (exact, or `*.example.com` for one label). */
  server_name: string;
  certificate: string;
  private_key: string;
  ca_list?: string;
  verify_client?: VerifyClient;
}

/** `core.tls` as written in the config (paths relative to the config file's folder). */
export interface TlsSettings {
  certificate?: string;
  private_key?: string;
  /** PEM bundle of trusted CAs: verifies client certificates and the servers we connect to. */
  ca_list?: string;
  /** lowest protocol version accepted and offered (Kamailio `method = TLSv1.2+`). */
  min_version: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list for TLS 1.2 (Kamailio `cipher_list`); absent = Node's default. */
  cipher_list?: string;
  verify_client: VerifyClient;
  /** outgoing connections: the server's certificate must chain to ca_list (or the system CAs) and name the target. */
  verify_server: boolean;
  /** outgoing connections: the system's CA store is trusted besides ca_list. */
  system_ca: boolean;
  /** outgoing connections: a client certificate to present (mutual TLS to trunks). */
  client_certificate?: string;
  client_private_key?: string;
  domains: TlsDomainSettings[];
}

export const TLS_DEFAULTS = Object.freeze({
  min_version: 'TLSv1.2' as const,
  verify_client: 'off' as const,
  verify_server: true,
  system_ca: true,
});

/** A built server profile: its context and what to ask of clients. */
export interface ServerProfile {
  readonly name: string;
  readonly context: tls.SecureContext;
  readonly verifyClient: VerifyClient;
  /** certificate facts for tls.options / tls.info. */
  readonly subject: string;
  readonly validTo: string;
}

interface Built {
  defaultServer: ServerProfile | null;
  /** exact names, lower-cased. */
  byName: Map<string, ServerProfile>;
  /** `*.example.com` profiles by their suffix `.example.com`. */
  byWildcard: Map<string, ServerProfile>;
  client: tls.SecureContext;
  /** CA PEM for outgoing verification (ca_list plus, when system_ca, the system store). */
  clientCa: string[] | undefined;
  loadedAt: number;
}

/** where a settings key was written (config file:line:col), for errors. */
export type WhereOf = (key: ReadonlyArray<string | number>) => string | undefined;

export class TlsContexts {
  private built: Built;
  reloads = 0;

  constructor(
    readonly settings: TlsSettings,
    /** the folder relative paths are resolved against (the config file's). */
    private readonly dir: string,
    private readonly whereOf: WhereOf = () => undefined,
  ) {
    this.built = this.build();
  }

  /** the profile for a TLS listener without SNI (or an unknown name): the default one. */
  get defaultServer(): ServerProfile | null {
    return this.built.defaultServer;
  }

  /** the profile for an SNI name: exact name, then `*.` wildcard of its parent, then the default. */
  serverFor(name: string | undefined): ServerProfile | null {
    const b = this.built;
    if (name !== undefined && name.length > 0 && name.length <= 253) {
      const n = name.toLowerCase();
      const exact = b.byName.get(n);
      if (exact !== undefined) return exact;
      const dot = n.indexOf('.');
      if (dot > 0) {
        const wild = b.byWildcard.get(n.slice(dot));
        if (wild !== undefined) return wild;
      }
    }
    return b.defaultServer;
  }

  get client(): tls.SecureContext {
    return this.built.client;
  }

  get clientCa(): string[] | undefined {
    return this.built.clientCa;
  }

  get loadedAt(): number {
    return this.built.loadedAt;
  }

  /** every server profile (tls.options). */
  profiles(): ServerProfile[] {
    const b = this.built;
    const out: ServerProfile[] = [];
    if (b.defaultServer !== null) out.push(b.defaultServer);
    for (const p of b.byName.values()) out.push(p);
    for (const p of b.byWildcard.values()) out.push(p);
    return out;
  }

  /** Re-reads every file; on any error throws E3030 and keeps the running contexts. */
  reload(): void {
    this.built = this.build();
    this.reloads++;
  }

  private build(): Built {
    const s = this.settings;
    const ca = s.ca_list === undefined ? undefined : this.read(s.ca_list, ['ca_list']);
    const common = { minVersion: s.min_version, ...(s.cipher_list !== undefined ? { ciphers: s.cipher_list } : {}) };
    let defaultServer: ServerProfile | null = null;
    if (s.certificate !== undefined || s.private_key !== undefined) {
      if (s.certificate === undefined || s.private_key === undefined) {
        throw this.fail(['certificate'], 'certificate and private_key go together');
      }
      defaultServer = this.profile('default', s.certificate, s.private_key, ca, s.verify_client, common, []);
    }
    const byName = new Map<string, ServerProfile>();
    const byWildcard = new Map<string, ServerProfile>();
    s.domains.forEach((d, i) => {
      const dca = d.ca_list === undefined ? ca : this.read(d.ca_list, ['domains', i, 'ca_list']);
      const p = this.profile(d.server_name, d.certificate, d.private_key, dca, d.verify_client ?? s.verify_client, common, ['domains', i]);
      const name = d.server_name.toLowerCase();
      if (name.startsWith('*.')) byWildcard.set(name.slice(1), p);
      else byName.set(name, p);
    });
    const clientCa = ca === undefined ? undefined : s.system_ca ? [...tls.rootCertificates, ca] : [ca];
    let client: tls.SecureContext;
    try {
      const cert = s.client_certificate === undefined ? undefined : this.read(s.client_certificate, ['client_certificate']);
      const key = s.client_private_key === undefined ? undefined : this.read(s.client_private_key, ['client_private_key']);
      if ((cert === undefined) !== (key === undefined)) throw this.fail(['client_certificate'], 'client_certificate and client_private_key go together');
      client = tls.createSecureContext({ ...common, ...(clientCa !== undefined ? { ca: clientCa } : {}), ...(cert !== undefined ? { cert, key } : {}) });
    } catch (e) {
      if (e instanceof SiphonError) throw e;
      throw this.fail(['client_certificate'], `client profile: ${(e as Error).message}`);
    }
    return { defaultServer, byName, byWildcard, client, clientCa, loadedAt: Date.now() };
  }

  private profile(
    name: string,
    certFile: string,
    keyFile: string,
    ca: string | undefined,
    verifyClient: VerifyClient,
    common: tls.SecureContextOptions,
    at: Array<string | number>,
  ): ServerProfile {
    const cert = this.read(certFile, [...at, 'certificate']);
    const key = this.read(keyFile, [...at, 'private_key']);
    if (verifyClient !== 'off' && ca === undefined) throw this.fail([...at, 'verify_client'], `verify_client: ${verifyClient} needs a ca_list to verify client certificates against`);
    let context: tls.SecureContext;
    try {
      context = tls.createSecureContext({ ...common, cert, key, ...(ca !== undefined ? { ca } : {}) });
    } catch (e) {
      // OpenSSL's reason: "key values mismatch", "no start line", ...
      throw this.fail([...at, 'certificate'], `${this.abs(certFile)} / ${this.abs(keyFile)}: ${(e as Error).message}`);
    }
    let subject = '';
    let validTo = '';
    try {
      const x = new X509Certificate(cert);
      subject = x.subject.replace(/\n/g, ', ');
      validTo = x.validTo;
    } catch {
      // createSecureContext accepted it; the facts are only for display
    }
    return { name, context, verifyClient, subject, validTo };
  }

  private abs(file: string): string {
    return path.resolve(this.dir, file);
  }

  private read(file: string, key: Array<string | number>): string {
    const p = this.abs(file);
    try {
      return readFileSync(p, 'utf8');
    } catch (e) {
      throw this.fail(key, `cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  private fail(key: Array<string | number>, why: string): SiphonError {
    return new SiphonError('TLS_CONFIG', `core.tls.${key.join('.')}: ${why}`, { where: this.whereOf(['core', 'tls', ...key]) });
  }
}
