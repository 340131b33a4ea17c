// The embedded API (`import { openStore } from 'kv-ts'`): a facade over the engine that offers
// exactly the `Store` interface README documents. Owns nothing but that boundary; never hands
// out the engine, so replication internals (positioned writes, truncation, snapshot loading)
// cannot be reached from an embedding application.

import type { Store, StoreOptions, StoreStats, SetOptions, ReplicatedStore } from './api.js';
import type { Position } from './types.js';
import { openReplicatedStore } from './store.js';

/** Open (or create) a data directory and recover it; one process owns it (lock file). */
export async function openStore(opts: StoreOptions): Promise<Store> {
  return new EmbeddedStore(await openReplicatedStore(opts));
}

class EmbeddedStore implements Store {
  readonly #engine: ReplicatedStore;

  constructor(engine: ReplicatedStore) {
    this.#engine = engine;
  }

  set(key: string | Buffer, value: string | Buffer, opts?: SetOptions): Promise<Position> {
    return this.#engine.set(key, value, opts);
  }
  get(key: string | Buffer): Buffer | undefined {
    return this.#engine.get(key);
  }
  delete(key: string | Buffer): Promise<boolean> {
    return this.#engine.delete(key);
  }
  expire(key: string | Buffer, ms: number): Promise<boolean> {
    return this.#engine.expire(key, ms);
  }
  pttl(key: string | Buffer): number {
    return this.#engine.pttl(key);
  }
  scanIterator(opts?: { match?: string; count?: number }): AsyncIterable<Buffer> {
    return this.#engine.scanIterator(opts);
  }
  compact(): Promise<void> {
    return this.#engine.compact();
  }
  stats(): StoreStats {
    return this.#engine.stats();
  }
  close(): Promise<void> {
    return this.#engine.close();
  }
}
