// How the typed collection methods of KvClient (kv-client.ts) turn RESP2 and RESP3 replies into
// JS values, and scores into arguments. Pure functions; never sends anything.

/** A sorted-set element as the client gives and takes it (node-redis's shape). */
export interface ScoredValue {
  readonly value: string;
  readonly score: number;
}

/** A score as Redis accepts it: ±Infinity as "+inf" / "-inf", finite numbers as shortest round-trip text. */
export function scoreArg(score: number): string {
  if (Number.isNaN(score)) throw new RangeError('a score must not be NaN');
  if (score === Infinity) return '+inf';
  if (score === -Infinity) return '-inf';
  return String(score);
}

/** A score reply: a RESP3 double (already a number), a RESP2 bulk ("inf", "-inf", "1.5"), or null. */
export function toScore(reply: unknown): number | null {
  if (reply === null || typeof reply === 'number') return reply;
  const text = String(reply).toLowerCase();
  if (text === 'inf' || text === '+inf') return Infinity;
  if (text === '-inf') return -Infinity;
  const n = Number(text);
  if (Number.isNaN(n)) throw new TypeError(`not a score reply: ${text}`);
  return n;
}

/** HGETALL: a RESP3 map, or RESP2's flat field, value list, as a plain object (fromEntries: "__proto__" stays a field). */
export function toRecord(reply: unknown): Record<string, string> {
  if (reply instanceof Map) return Object.fromEntries(reply as Map<string, string>);
  const flat = reply as readonly string[];
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i] as string, flat[i + 1] as string]);
  return Object.fromEntries(pairs);
}

/** A RESP3 set or an array of strings as an array. */
export function toStrings(reply: unknown): string[] {
  return Array.from(reply as Iterable<string>);
}

/** ZRANGE ... WITHSCORES: RESP2's flat member, score list or RESP3's [member, score] pairs. */
export function toScoredValues(reply: unknown): ScoredValue[] {
  const items = reply as readonly unknown[];
  const out: ScoredValue[] = [];
  if (items.length > 0 && Array.isArray(items[0])) {
    for (const pair of items as ReadonlyArray<readonly [string, unknown]>) out.push({ value: pair[0], score: toScore(pair[1]) as number });
    return out;
  }
  for (let i = 0; i + 1 < items.length; i += 2) out.push({ value: items[i] as string, score: toScore(items[i + 1]) as number });
  return out;
}
