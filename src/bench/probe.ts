// One-off RESP calls for the suite and kv-bench's discovery: a command on a fresh connection
// with a deadline, INFO as a map. Errors are values (undefined); never retries, never throws.

import { connectResp } from '../client/resp-conn.js';
import type { Reply } from '../client/resp-wire.js';
import type { Endpoint } from './run.js';

/** One probe call gives up after this. */
export const PROBE_TIMEOUT_MS = 2_000;

export function replyText(r: Reply): string | undefined {
  if (r.type === 'simple' || r.type === 'bulk' || r.type === 'verbatim') return r.value.toString('latin1');
  if (r.type === 'error') return r.message;
  return undefined;
}

/** One command on a fresh connection with a deadline; undefined when there is no answer (an error reply is an answer). */
export async function respCallAt(to: Endpoint, args: readonly string[], timeoutMs = PROBE_TIMEOUT_MS): Promise<Reply | undefined> {
  const c = await connectResp(to.host, to.port, timeoutMs);
  if (!c.ok) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), timeoutMs)));
  try {
    const r = await Promise.race([c.conn.call(args), timeout]);
    return r !== undefined && r.ok ? r.reply : undefined;
  } finally {
    clearTimeout(timer);
    c.conn.close();
  }
}

export function respCall(port: number, args: readonly string[], timeoutMs = PROBE_TIMEOUT_MS): Promise<Reply | undefined> {
  return respCallAt({ host: '127.0.0.1', port }, args, timeoutMs);
}

/** `INFO <section>` as field -> value; empty when the server does not answer. */
export async function info(port: number, section: string): Promise<Map<string, string>> {
  const r = await respCall(port, ['INFO', section]);
  const m = new Map<string, string>();
  const text = r === undefined ? undefined : replyText(r);
  if (text === undefined) return m;
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) m.set(line.slice(0, i), line.slice(i + 1));
  }
  return m;
}


/** Fields of a `slaveN:ip=..,port=..,state=..,offset=..` line. */
export function replicaLine(v: string): Map<string, string> {
  return new Map(v.split(',').map((kv) => kv.split('=') as [string, string]));
}
