// Key-type rules every command module shares: the WRONGTYPE check (before anything is read or
// logged) and the ops a command logs when it removes elements from a collection. Pure functions
// of the store's reads; never writes.

import type { ReplicatedStore } from '../../storage/api.js';
import type { TypeName } from '../../storage/collection.js';
import type { Key, Op } from '../../storage/types.js';

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

/**
 * The ops for removing elements (hdel/srem/zrem ops of `key`) from a collection that keeps
 * `remaining` elements afterwards: those removals, or one 'del' of the key when it empties. A
 * command must never log a removal that empties a collection: the keyspace keeps an emptied
 * collection (see keyspace.ts, 'collections'), and the logged del is what removes the key.
 */
export function removalOps(key: Key, removals: Op[], remaining: number): Op[] {
  return remaining === 0 ? [{ t: 'del', key }] : removals;
}
