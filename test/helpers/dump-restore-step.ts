// One DUMP / RESTORE round trip for the differential tests: DUMP a key on redis-server and on
// kv-server (payload bytes may differ: kv-ts never LZF-compresses, writes no listpacks and writes a
// list as RDB_TYPE_LIST), then
// RESTORE redis-server's payload into one key and kv-server's into another, on both servers,
// sometimes with a byte flipped (both must refuse it as a bad checksum). Replies must agree and
// each restored key must hold the dumped value on both servers. Generation never looks at replies.

import type { Rng } from './rng.js';
import { showReply, type Resp } from './resp.js';
import type { RawConn } from './server-conn.js';

export interface DumpRestoreStep {
  readonly src: string;
  /** Where redis-server's payload and kv-server's payload are restored. */
  readonly dsts: readonly [string, string];
  readonly ttl: string;
  readonly options: readonly string[];
  /** Where to flip a byte (a fraction of the payload's length), or null. */
  readonly corruptAt: number | null;
}

/** Relative TTLs are at least this long, so nothing expires during a run, however long (KV_LONG). */
const TTL_MIN_MS = 3_600_000;

export function randomDumpRestore(r: Rng, keys: readonly string[], nowMs: number): DumpRestoreStep {
  const k = r.int(10);
  // Mostly no TTL; sometimes a relative or absolute one, or an absolute one already past (a REPLACE then deletes).
  const ttl = k < 6 ? '0' : k < 8 ? String(TTL_MIN_MS + r.int(1_000_000)) : k < 9 ? String(nowMs + TTL_MIN_MS + r.int(1_000_000)) : String(nowMs - 1 - r.int(100_000));
  const options: string[] = [];
  if (k >= 8) options.push('ABSTTL');
  if (r.int(3) !== 0) options.push(r.pick(['REPLACE', 'replace']));
  if (r.int(8) === 0) options.push(...r.pick([['IDLETIME', '10'], ['FREQ', '5'], ['IDLETIME', '-1'], ['FREQ', '300'], ['BOGUS']]));
  return { src: r.pick(keys), dsts: [r.pick(keys), r.pick(keys)], ttl, options, corruptAt: r.int(12) === 0 ? r.next() : null };
}

export function showStep(s: DumpRestoreStep): string {
  return `DUMP ${JSON.stringify(s.src)} -> RESTORE ${s.dsts.map((d) => JSON.stringify(d)).join('/')} ${s.ttl} <payload>${s.corruptAt === null ? '' : ' (corrupted)'} ${s.options.join(' ')}`;
}

/** A key's type and contents, element order aside except a sorted set's and a list's (their order is part of them). */
export async function valueOf(cl: RawConn, key: string): Promise<string> {
  const t = showReply(await cl.request('TYPE', key));
  const ordered = t === '+zset' || t === '+list';
  const read = t === '+hash' ? ['HGETALL', key] : t === '+set' ? ['SMEMBERS', key] : t === '+zset' ? ['ZRANGE', key, '0', '-1', 'WITHSCORES'] : t === '+list' ? ['LRANGE', key, '0', '-1'] : ['GET', key];
  const r = await cl.request(...read);
  return `${t} ${(r.t === 'array' || r.t === 'map' || r.t === 'set') && r.a !== null && !ordered ? r.a.map(showReply).sort().join(',') : showReply(r)}`;
}

/**
 * Run the step on both servers (a: redis-server); null when every reply agreed and every key a
 * RESTORE created holds the dumped value on both, else what differed.
 */
export async function runDumpRestore(a: RawConn, b: RawConn, s: DumpRestoreStep): Promise<string | null> {
  const [da, db] = await Promise.all([a.request('DUMP', s.src), b.request('DUMP', s.src)]);
  const kind = (v: Resp): string => (v.t === 'bulk' && v.b !== null ? 'payload' : showReply(v));
  if (kind(da) !== kind(db)) return `DUMP: redis ${showReply(da)}, kv ${showReply(db)}`;
  if (da.t !== 'bulk' || da.b === null || db.t !== 'bulk' || db.b === null) return null;
  const original = await valueOf(a, s.src);
  const payloads: Array<[Buffer, string, string]> = [[da.b, s.dsts[0], 'redis'], [db.b, s.dsts[1], 'kv']];
  for (const [payload, dst, from] of payloads) {
    const p = Buffer.from(payload);
    if (s.corruptAt !== null) {
      const at = Math.floor(s.corruptAt * p.length);
      p[at] = (p[at] as number) ^ 0x5a;
    }
    const argv = ['RESTORE', dst, s.ttl, p, ...s.options];
    const [ra, rb] = await Promise.all([a.request(...argv), b.request(...argv)]);
    if (showReply(ra) !== showReply(rb)) return `RESTORE of ${from}'s payload: redis ${showReply(ra)}, kv ${showReply(rb)}`;
    if (showReply(ra) !== '+OK') continue;
    const [va, vb] = await Promise.all([valueOf(a, dst), valueOf(b, dst)]);
    // An absolute TTL already past leaves no key (and deletes one a REPLACE met).
    if (va === vb && va.startsWith('+none')) continue;
    // A sorted set restored small enough for a listpack reads a -0 score as 0 (Redis keeps listpack scores as text).
    const zeroed = original.startsWith('+zset') ? original.replaceAll('"-0"', '"0"').replaceAll(',-0]', ',0]') : original;
    if (va !== vb || (va !== original && va !== zeroed)) return `RESTORE of ${from}'s payload into ${JSON.stringify(dst)}: ${original} became redis ${va}, kv ${vb}`;
  }
  return null;
}
