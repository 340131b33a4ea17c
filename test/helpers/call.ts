// One request to a node on 127.0.0.1 over the client's own RESP connection, with a deadline (on
// an open connection or a fresh one), and the text of a reply. Errors are values; never retries.

import { connectResp, type CallResult, type RespConnection } from '../../src/client/resp-conn.js';
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

/** One request on an open connection; `{ ok: false, error: 'timeout' }` when no reply comes in time. */
export async function callWithin(conn: RespConnection, args: readonly string[], timeoutMs: number): Promise<CallResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CallResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: 'timeout' }), timeoutMs);
  });
  try {
    return await Promise.race([conn.call(args), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** One request on a fresh connection with a deadline; never throws (errors are values). */
export async function callOnce(port: number, args: readonly string[], timeoutMs = CALL_TIMEOUT_MS): Promise<CallResult> {
  const c = await connectResp('127.0.0.1', port, timeoutMs);
  if (!c.ok) return c;
  try {
    return await callWithin(c.conn, args, timeoutMs);
  } finally {
    c.conn.close();
  }
}
