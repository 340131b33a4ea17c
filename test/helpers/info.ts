// INFO for tests: the one parser of an INFO reply's "field:value" lines, and INFO fetched from a
// node on 127.0.0.1. Owns no connection (./call.ts makes the request).

import assert from 'node:assert/strict';
import { callOnce, replyText } from './call.js';

/** "field:value" lines of an INFO reply as a map; "# Section" headers and blank lines are skipped. */
export function parseInfo(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) m.set(line.slice(0, i), line.slice(i + 1));
  }
  return m;
}

/** `INFO <section>` of the node at 127.0.0.1:port as fields, or null when it does not answer (down, paused, partitioned). */
export async function tryInfo(port: number, section = 'replication'): Promise<Map<string, string> | null> {
  const r = await callOnce(port, ['INFO', section]);
  if (!r.ok) return null;
  const t = replyText(r.reply);
  return t === null ? null : parseInfo(t);
}

/** `INFO <section>` of a node that must answer; fails the test when it does not. */
export async function info(port: number, section = 'replication'): Promise<Map<string, string>> {
  const m = await tryInfo(port, section);
  assert.ok(m !== null, `INFO ${section} from 127.0.0.1:${port}`);
  return m;
}
