// One-off RESP calls for kv-bench's discovery (and the bench suite's probes): a command on a
// fresh connection with a deadline. Errors are values (undefined); never retries, never throws.

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
