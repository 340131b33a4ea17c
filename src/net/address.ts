// The one host:port parser and formatter: "host:port", "[v6]:port" (an IPv6 literal is always
// bracketed, so the port is never ambiguous). Owns the address syntax only; never resolves a
// name, never opens a socket.

/** Highest TCP port; port 0 ("any port") never names a peer. */
export const PORT_MAX = 65535;

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

// A bracketed IPv6 literal (a zone id allowed), or a name / IPv4 address without colons.
const ADDRESS = /^(?:\[([0-9A-Fa-f:.]+(?:%[A-Za-z0-9._-]+)?)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/;

/** "host:port" or "[v6]:port" → parts (the brackets dropped); null when malformed or the port is out of range. Surrounding whitespace is ignored. */
export function parseAddress(address: string): HostPort | null {
  const m = ADDRESS.exec(address.trim());
  if (m === null) return null;
  const port = Number(m[3]);
  if (port < 1 || port > PORT_MAX) return null;
  return { host: (m[1] ?? m[2]) as string, port };
}

/** The address string for host and port: IPv6 literals bracketed, so parseAddress reads it back. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
