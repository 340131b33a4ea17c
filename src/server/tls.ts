// TLS for kv-server: loads and checks the certificate files the tls-* settings name (a bad file
// stops the start with a message naming it), makes the TLS listener's and the links' options,
// and accounts for failed handshakes (counted, logged at a bounded rate). Owns TLS setup only;
// it never reads or writes a connection's bytes (server.ts hands a TLS socket, once its
// handshake is done, to the same Connection as a plain one; links dial through transport.ts).

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type ConnectionOptions, type TLSSocket, type TlsOptions } from 'node:tls';
import type { TlsSettings } from './tls-config.js';
import { RateBoundedLog } from './bounded-log.js';

/** A client that has not finished its TLS handshake after this long is dropped (and counted). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** At most one log line per this interval about failed handshakes; the others are counted in it. */
export const TLS_FAILURE_LOG_INTERVAL_MS = 10_000;

/** The PEM bytes of one node's TLS identity and trust, checked at startup. */
export interface TlsMaterial {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly ca: Buffer;
}

/** A setting problem (missing file name) or a file problem (unreadable, not PEM, key mismatch, expired). */
export type TlsLoadError = { readonly kind: 'usage' | 'file'; readonly message: string };

/** Does this configuration use TLS at all (a listener, or links that dial with it)? */
export function tlsInUse(t: TlsSettings): boolean {
  return t.port > 0 || t.replication || t.cluster;
}

function readPem(setting: string, path: string): Buffer | TlsLoadError {
  try {
    return readFileSync(path);
  } catch (e) {
    return { kind: 'file', message: `${setting} ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
}

function certificate(setting: string, path: string, pem: Buffer, nowMs: number): X509Certificate | TlsLoadError {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (e) {
    return { kind: 'file', message: `${setting} ${path}: not a PEM certificate (${(e as Error).message})` };
  }
  if (Date.parse(cert.validTo) < nowMs) return { kind: 'file', message: `${setting} ${path}: certificate expired on ${cert.validTo}` };
  return cert;
}

/**
 * Load the files named by `t`: every one is required once TLS is in use (this node presents its
 * certificate to clients and to the peers it dials, and checks both against the CA).
 */
export function loadTlsMaterial(t: TlsSettings, nowMs = Date.now()): TlsMaterial | TlsLoadError {
  for (const [name, v] of [['tls-cert-file', t.certFile], ['tls-key-file', t.keyFile], ['tls-ca-cert-file', t.caCertFile]] as const) {
    if (v === '') return { kind: 'usage', message: `${name} is required with tls-port, tls-replication or tls-cluster` };
  }
  const cert = readPem('tls-cert-file', t.certFile);
  if (!Buffer.isBuffer(cert)) return cert;
  const key = readPem('tls-key-file', t.keyFile);
  if (!Buffer.isBuffer(key)) return key;
  const ca = readPem('tls-ca-cert-file', t.caCertFile);
  if (!Buffer.isBuffer(ca)) return ca;
  const x509 = certificate('tls-cert-file', t.certFile, cert, nowMs);
  if (!(x509 instanceof X509Certificate)) return x509;
  const caCert = certificate('tls-ca-cert-file', t.caCertFile, ca, nowMs);
  if (!(caCert instanceof X509Certificate)) return caCert;
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key))) return { kind: 'file', message: `tls-key-file ${t.keyFile}: not the key of the certificate in ${t.certFile}` };
  } catch (e) {
    return { kind: 'file', message: `tls-key-file ${t.keyFile}: not a PEM private key (${(e as Error).message})` };
  }
  try {
    createSecureContext({ key, cert, ca });
  } catch (e) {
    return { kind: 'file', message: `TLS files ${t.certFile}, ${t.keyFile}, ${t.caCertFile}: ${(e as Error).message}` };
  }
  return { key, cert, ca };
}

/** The TLS listener's options: tls-auth-clients yes requires a client certificate the CA signed. */
export function tlsServerOptions(m: TlsMaterial, t: TlsSettings): TlsOptions {
  return {
    key: m.key,
    cert: m.cert,
    ca: m.ca,
    requestCert: t.authClients !== 'no',
    rejectUnauthorized: t.authClients === 'yes',
    handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
  };
}

/** What a node dials peers with (replication and cluster links): its own certificate, the CA to check theirs. */
export function tlsClientOptions(m: TlsMaterial): ConnectionOptions {
  return { key: m.key, cert: m.cert, ca: m.ca };
}

/**
 * tls-auth-clients optional: a client may come without a certificate, but one it presents must
 * be signed by the CA (Node accepts the handshake and leaves the verdict on the socket).
 */
export function refusedOptionalCert(socket: TLSSocket): string | null {
  if (socket.authorized) return null;
  const peer = socket.getPeerCertificate();
  if (peer === null || Object.keys(peer).length === 0) return null;
  return `client certificate not accepted (${String(socket.authorizationError)})`;
}

/** Failed handshakes: every one counted; logged at most once per TLS_FAILURE_LOG_INTERVAL_MS with how many were not. */
export class TlsFailureLog extends RateBoundedLog {
  constructor(count: () => void, log: (msg: string) => void, nowMs: () => number = Date.now) {
    super('TLS handshake failed', TLS_FAILURE_LOG_INTERVAL_MS, count, log, nowMs);
  }
}

/** One line for a handshake error (OpenSSL's messages run over several lines). */
export function handshakeReason(e: Error & { code?: string }): string {
  const first = e.message.split('\n')[0] ?? '';
  // OpenSSL's "<n>:error:<code>:<library>:<function>:<reason>:<file>:<line>:": the reason is what an operator needs.
  const reason = /^[0-9A-F]*:?error:[0-9A-F]+:[^:]*:[^:]*:([^:]*)/.exec(first)?.[1] ?? first;
  return e.code !== undefined && e.code !== reason ? `${e.code} (${reason})` : reason;
}

/**
 * The options links dial with, or null for plain TCP: tls-cluster decides for a cluster member,
 * tls-replication for a replica (and a primary that REPLICAOF turns into one).
 */
export function linkTlsOptions(t: TlsSettings, clusterMode: boolean, m: TlsMaterial | null): ConnectionOptions | null {
  return m !== null && (clusterMode ? t.cluster : t.replication) ? tlsClientOptions(m) : null;
}

/**
 * The port this node tells its primary it serves clients on (ROLE, TOPOLOGY, redirects): the TLS
 * port when there is no plain one, or when replication runs over TLS (its clients use TLS too).
 */
export function announcedPort(plainPort: number, t: TlsSettings): number {
  return t.port > 0 && (plainPort === 0 || t.replication) ? t.port : plainPort;
}
