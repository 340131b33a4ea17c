// Loading a server fast for a benchmark: commands sent on one connection with a window of
// replies outstanding. Owns nothing but that loop; an error reply or a lost connection stops it
// with the command that failed.

import type { RespConnection } from '../../src/client/resp-conn.js';

/** Commands in flight per connection while loading (a pipeline window). */
export const PIPELINE_WINDOW = 1_000;

/** Send every command of `commands` (generated lazily) with at most `window` unanswered; throws on the first error. */
export async function pipelineCalls(conn: RespConnection, commands: Iterable<readonly string[]>, window = PIPELINE_WINDOW): Promise<void> {
  let batch: Promise<void>[] = [];
  for (const args of commands) {
    batch.push(
      conn.call(args).then((r) => {
        if (!r.ok) throw new Error(r.error);
        if (r.reply.type === 'error') throw new Error(`${args[0] ?? ''}: ${r.reply.message}`);
      }),
    );
    if (batch.length >= window) {
      await Promise.all(batch);
      batch = [];
    }
  }
  await Promise.all(batch);
}
