// The tls-* settings (Redis's names): their defaults, validation and CONFIG GET text. Owns
// only the values; it never opens a file or a socket (tls.ts loads the certificates and makes
// the listener and the link options from these values).

import type { Setting } from './config.js';

/** tls-auth-clients: `yes` requires a client certificate signed by the CA (Redis's default), `optional` checks one if given. */
export const TLS_AUTH_CLIENTS = ['yes', 'no', 'optional'] as const;
export type TlsAuthClients = (typeof TLS_AUTH_CLIENTS)[number];

export interface TlsSettings {
  /** tls-port: the TLS listener's port; 0 = no TLS listener. */
  port: number;
  /** PEM files: this node's certificate (also presented when it dials peers), its key, and the CA that signs clients and peers. */
  certFile: string;
  keyFile: string;
  caCertFile: string;
  authClients: TlsAuthClients;
  /** tls-replication: links this node dials to its primary use TLS (the primary's address names its TLS port). */
  replication: boolean;
  /** tls-cluster: cluster links use TLS; the ports listed in --cluster are the members' TLS ports. */
  cluster: boolean;
}

export function defaultTlsSettings(): TlsSettings {
  return { port: 0, certFile: '', keyFile: '', caCertFile: '', authClients: 'yes', replication: false, cluster: false };
}

/** Port range a TCP listener can use. */
const PORT_MAX = 65535;

function yesNo(v: string): boolean | null {
  const s = v.toLowerCase();
  return s === 'yes' ? true : s === 'no' ? false : null;
}

/** The files can change at run time: the server loads them together and refuses the change if they do not serve (tls.ts). */
function fileSetting(name: string, key: 'certFile' | 'keyFile' | 'caCertFile'): Setting {
  return { name, aliases: [], change: 'live', get: (c) => c.tls[key], set: (c, v) => ((c.tls[key] = v), null) };
}

/** The settings whose change makes a running server load its certificate files again. */
export const TLS_FILE_SETTINGS: readonly string[] = ['tls-cert-file', 'tls-key-file', 'tls-ca-cert-file'];

function yesNoSetting(name: string, key: 'replication' | 'cluster'): Setting {
  return {
    name, aliases: [], change: 'startup', get: (c) => (c.tls[key] ? 'yes' : 'no'),
    set: (c, v) => {
      const b = yesNo(v);
      if (b === null) return "argument must be 'yes' or 'no'";
      c.tls[key] = b;
      return null;
    },
  };
}

/**
 * The port, tls-auth-clients and the links' TLS are read when the server starts (CONFIG SET
 * accepts only their current value). The files are loaded and checked at startup (a bad file
 * stops the start instead of failing a later handshake) and again when CONFIG SET names them.
 */
export const TLS_SETTINGS: readonly Setting[] = [
  {
    name: 'tls-port', aliases: [], change: 'startup', get: (c) => String(c.tls.port),
    set: (c, v) => {
      if (!/^\d{1,5}$/.test(v) || Number(v) > PORT_MAX) return `argument must be between 0 and ${PORT_MAX} inclusive`;
      c.tls.port = Number(v);
      return null;
    },
  },
  fileSetting('tls-cert-file', 'certFile'),
  fileSetting('tls-key-file', 'keyFile'),
  fileSetting('tls-ca-cert-file', 'caCertFile'),
  {
    name: 'tls-auth-clients', aliases: [], change: 'startup', get: (c) => c.tls.authClients,
    set: (c, v) => {
      const a = TLS_AUTH_CLIENTS.find((x) => x === v.toLowerCase());
      if (a === undefined) return `argument must be one of ${TLS_AUTH_CLIENTS.join('|')}`;
      c.tls.authClients = a;
      return null;
    },
  },
  yesNoSetting('tls-replication', 'replication'),
  yesNoSetting('tls-cluster', 'cluster'),
];
