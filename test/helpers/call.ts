// One request to a node on 127.0.0.1 over the client's own RESP connection, on a fresh
// connection with a deadline, and the text of a reply. Errors are values; never retries.

import { connectResp, type CallResult } from '../../src/client/resp-conn.js';
import type { Reply } from '../../src/client/resp-wire.js';

/** A helper call that got no reply within this is reported as a timeout (a paused or partitioned node). */
export const CALL_TIMEOUT_MS = 2_000;

/** Text of a simple/bulk/error reply, or null for other shapes. */
export function replyText(r: Reply): string | null {
  switch (r.type) {
    case 'simple':
    case 'bulk':
    case 'verbatim':
      return r.value.toString('latin1');
    case 'error':
      return r.message;
    default:
      return null;
  }
}

/** One request on a fresh connection with a deadline; never throws (errors are values). */
export async function callOnce(port: number, args: readonly string[], timeoutMs = CALL_TIMEOUT_MS): Promise<CallResult> {
  const c = await connectResp('127.0.0.1', port, timeoutMs);
  if (!c.ok) return c;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CallResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: 'timeout' }), timeoutMs);
  });
  try {
    return await Promise.race([c.conn.call(args), timeout]);
  } finally {
    clearTimeout(timer);
    c.conn.close();
  }
}
