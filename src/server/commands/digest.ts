// DEBUG DIGEST: a 40-hex-char fingerprint of the whole dataset (keys, values, expiries) that two
// nodes share exactly when their data is equal, whatever order they hold keys in. Used by the
// replication tests to compare nodes. Reads only; never mutates or depends on iteration order.

import { createHash } from 'node:crypto';
import type { ReplicatedStore } from '../../storage/api.js';
import type { ExpireAtMs, Key } from '../../storage/types.js';

export const DIGEST_BYTES = 20;
/** What Redis answers for an empty dataset (and for a missing key in DIGEST-VALUE). */
export const EMPTY_DIGEST_HEX = '0'.repeat(DIGEST_BYTES * 2);

/**
 * SHA-1 of one entry, framed so no two different entries encode alike: key length (u32),
 * key bytes, value length (u32), value bytes, expiry (i64 ms, 0 = none).
 */
export function entryDigest(key: Key, value: Buffer, expireAtMs: ExpireAtMs): Buffer {
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(key.length, 0);
  const mid = Buffer.allocUnsafe(4);
  mid.writeUInt32BE(value.length, 0);
  const tail = Buffer.allocUnsafe(8);
  tail.writeBigInt64BE(BigInt(Math.trunc(expireAtMs)), 0);
  return createHash('sha1').update(head).update(key, 'latin1').update(mid).update(value).update(tail).digest();
}

/** SHA-1 of a value alone (DEBUG DIGEST-VALUE). */
export function valueDigestHex(value: Buffer): string {
  return createHash('sha1').update(value).digest('hex');
}

/**
 * XOR of every live entry's digest: order-independent, and keys are unique so no two entries
 * cancel. Logically expired keys the store still holds are skipped (getValue hides them).
 */
export function datasetDigestHex(store: Pick<ReplicatedStore, 'keys' | 'getValue' | 'getExpireAt'>): string {
  const acc = Buffer.alloc(DIGEST_BYTES);
  let entries = 0;
  for (const key of store.keys()) {
    const value = store.getValue(key);
    if (value === undefined) continue;
    const d = entryDigest(key, value, store.getExpireAt(key) ?? 0);
    for (let i = 0; i < DIGEST_BYTES; i++) acc[i] = (acc[i] as number) ^ (d[i] as number);
    entries++;
  }
  return entries === 0 ? EMPTY_DIGEST_HEX : acc.toString('hex');
}
