// The key-type rule every command module shares: the WRONGTYPE check, before anything is read
// or logged (the ops a write logs are built in storage/collection-ops.ts). A pure function of
// the store's reads; never writes.

import type { ReplicatedStore } from '../../storage/api.js';
import type { KvCollection, TypeName } from '../../storage/collection.js';
import type { Key } from '../../storage/types.js';

/**
 * True when `key` exists with a type other than `expected` (the command then answers
 * ERR_WRONGTYPE from args.ts). A missing key is never the wrong type. String commands may call
 * it only after their string read missed (getValue / getStored return undefined for a
 * collection), so a hit costs nothing extra.
 */
export function wrongType(store: Pick<ReplicatedStore, 'typeOf'>, key: Key, expected: TypeName): boolean {
  const t = store.typeOf(key);
  return t !== 'none' && t !== expected;
}

/** A collection key's contents whatever its type; undefined for a string or a missing key. */
export function collectionOf(store: Pick<ReplicatedStore, 'getHash' | 'getSet' | 'getZSet' | 'getList' | 'getStream'>, key: Key): KvCollection | undefined {
  return store.getHash(key) ?? store.getSet(key) ?? store.getZSet(key) ?? store.getList(key) ?? store.getStream(key);
}
