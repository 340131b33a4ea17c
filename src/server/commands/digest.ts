// DEBUG DIGEST: a 40-hex-char fingerprint of the whole dataset (keys, types, contents, expiries)
// that two nodes share exactly when their data is equal, whatever order they hold keys in or a
// collection holds its elements in. Used by the replication tests to compare nodes. Reads only;
// never mutates or depends on iteration order.

import { createHash } from 'node:crypto';
import type { ReplicatedStore } from '../../storage/api.js';
import { TYPE_HASH, TYPE_LIST, TYPE_SET, TYPE_STREAM, TYPE_ZSET } from '../../storage/collection.js';
import { encodeEffects, streamStateEffects } from '../../storage/stream-effects.js';
import type { ExpireAtMs, Key } from '../../storage/types.js';

export const DIGEST_BYTES = 20;
/** What Redis answers for an empty dataset (and for a missing key in DIGEST-VALUE). */
export const EMPTY_DIGEST_HEX = '0'.repeat(DIGEST_BYTES * 2);

type DigestReads = Pick<ReplicatedStore, 'keys' | 'typeOf' | 'getValue' | 'getHash' | 'getSet' | 'getZSet' | 'getList' | 'getStream' | 'getExpireAt'>;

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}

function xorInto(acc: Buffer, d: Buffer): void {
  for (let i = 0; i < DIGEST_BYTES; i++) acc[i] = (acc[i] as number) ^ (d[i] as number);
}

/**
 * SHA-1 of one entry, framed so no two different entries encode alike: key length (u32),
 * key bytes, value length (u32), value bytes, expiry (i64 ms, 0 = none). A collection's "value"
 * is its type code and its contents digest (valueDigest).
 */
export function entryDigest(key: Key, value: Buffer, expireAtMs: ExpireAtMs): Buffer {
  const tail = Buffer.allocUnsafe(8);
  tail.writeBigInt64BE(BigInt(Math.trunc(expireAtMs)), 0);
  return createHash('sha1').update(u32(key.length)).update(key, 'latin1').update(u32(value.length)).update(value).update(tail).digest();
}

/** SHA-1 of framed parts (each length-prefixed). */
function partsDigest(parts: ReadonlyArray<Buffer | string>): Buffer {
  const h = createHash('sha1');
  for (const p of parts) {
    h.update(u32(p.length));
    if (typeof p === 'string') h.update(p, 'latin1');
    else h.update(p);
  }
  return h.digest();
}

/**
 * What a key's entry hashes as its value: a string's bytes, or for a collection its type code
 * then the XOR of its elements' digests (field and value, member, member and score), so the
 * order a collection holds its elements in does not matter; a list's order is its value, so its
 * elements go through one running hash, head to tail. Undefined when the key is missing.
 */
function valueDigestBytes(store: DigestReads, key: Key): Buffer | undefined {
  const type = store.typeOf(key);
  if (type === 'none') return undefined;
  if (type === 'string') return store.getValue(key);
  const acc = Buffer.alloc(DIGEST_BYTES + 1);
  const elements = acc.subarray(1);
  if (type === 'hash') {
    acc[0] = TYPE_HASH;
    for (const [f, v] of store.getHash(key)?.entries() ?? []) xorInto(elements, partsDigest([f, v]));
  } else if (type === 'set') {
    acc[0] = TYPE_SET;
    for (const m of store.getSet(key)?.members() ?? []) xorInto(elements, partsDigest([m]));
  } else if (type === 'list') {
    acc[0] = TYPE_LIST;
    const h = createHash('sha1');
    for (const v of store.getList(key)?.values() ?? []) {
      h.update(u32(v.length));
      h.update(v, 'latin1');
    }
    h.digest().copy(elements);
  } else if (type === 'stream') {
    // Entries in their node layout (deleted ones and node starts shape later trims), then the
    // counters, groups, consumers and pending entries with their logged times.
    acc[0] = TYPE_STREAM;
    const s = store.getStream(key);
    const h = createHash('sha1');
    if (s !== undefined) {
      for (const e of s.layout()) {
        h.update(u32(e.length));
        h.update(e, 'latin1');
      }
      h.update(encodeEffects(streamStateEffects(s)));
    }
    h.digest().copy(elements);
  } else {
    acc[0] = TYPE_ZSET;
    const score = Buffer.allocUnsafe(8);
    for (const [m, s] of store.getZSet(key)?.entries() ?? []) {
      score.writeDoubleBE(s, 0);
      xorInto(elements, partsDigest([m, score]));
    }
  }
  return acc;
}

/** DEBUG DIGEST-VALUE of one key: SHA-1 of its value digest bytes; all zeros when missing. */
export function valueDigestHex(store: DigestReads, key: Key): string {
  const v = valueDigestBytes(store, key);
  return v === undefined ? EMPTY_DIGEST_HEX : createHash('sha1').update(v).digest('hex');
}

/**
 * XOR of every live entry's digest: order-independent, and keys are unique so no two entries
 * cancel. Logically expired keys the store still holds are skipped (the reads hide them).
 */
export function datasetDigestHex(store: DigestReads): string {
  const acc = Buffer.alloc(DIGEST_BYTES);
  let entries = 0;
  for (const key of store.keys()) {
    const value = valueDigestBytes(store, key);
    if (value === undefined) continue;
    xorInto(acc, entryDigest(key, value, store.getExpireAt(key) ?? 0));
    entries++;
  }
  return entries === 0 ? EMPTY_DIGEST_HEX : acc.toString('hex');
}
