// INFO probes of the bench suite: INFO sections as maps and the fields of a replica line, over
// one-off calls on 127.0.0.1. Errors are values (an empty map); never retries, never throws.

import { replyText, respCallAt } from '../../src/bench/probe.js';

/** `INFO <section>` as field -> value; empty when the server does not answer. */
export async function info(port: number, section: string): Promise<Map<string, string>> {
  const r = await respCallAt({ host: '127.0.0.1', port }, ['INFO', section]);
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
