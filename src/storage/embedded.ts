// The embedded API (`import { openStore } from 'kv-ts'`): a facade over the engine that offers
// exactly the `Store` interface README documents. Owns nothing but that boundary; never hands
// out the engine, so replication internals (positioned writes, truncation, snapshot loading)
// cannot be reached from an embedding application. Collection writes are built by
// collection-ops.ts (as the server's commands are) and logged as one entry each.

import type { HashFields, RestoreOptions, StreamEntry, Store, StoreOptions, StoreStats, SetOptions, ReplicatedStore, ZMember, ZMembers, ZRangeByScoreOptions, ZRangeOptions } from './api.js';
import type { KeyTypeName, TypeName } from './collection.js';
import type { HashObject } from './hash-object.js';
import type { SetObject } from './set-object.js';
import type { SortedSet, ZEntry } from './zset.js';
import { keyToBytes, NO_EXPIRY, toKey, toValue, type Key, type Op, type Position } from './types.js';
import { decodeDump, dumpKey, ERR_DUMP_STREAM, isRefusal, restoreOp } from './dump-payload.js';
import { openReplicatedStore } from './store.js';
import { InvalidValueError, WrongTypeError } from './errors.js';
import { hdelOps, hincrbyOps, hsetOps, lmoveOps, lremOps, lsetOps, listIndex, ltrimOps, popOps, pushOps, saddOps, sremOps, ZADD_PLAIN, zaddOps, zremOps } from './collection-ops.js';
import type { ListObject } from './list-object.js';
import { entryFields, entryFor, entryId, type StreamObject } from './stream-object.js';
import { encodeEffects } from './stream-effects.js';
import { formatId, ID_MIN, nextStreamId, parseStreamId, UINT64_MAX_BIG } from './stream-id.js';

/** Open (or create) a data directory and recover it; one process owns it (lock file). */
export async function openStore(opts: StoreOptions): Promise<Store> {
  return new EmbeddedStore(await openReplicatedStore(opts));
}

type KeyArg = string | Buffer;

/** The result of a write and the ops that make it (none: nothing changes, nothing is logged). */
interface Built<T> {
  readonly ops: readonly Op[];
  readonly result: T;
}

class EmbeddedStore implements Store {
  readonly #engine: ReplicatedStore;

  constructor(engine: ReplicatedStore) {
    this.#engine = engine;
  }

  set(key: KeyArg, value: KeyArg, opts?: SetOptions): Promise<Position> {
    return this.#engine.set(key, value, opts);
  }
  get(key: KeyArg): Buffer | undefined {
    return this.#engine.get(key);
  }
  delete(key: KeyArg): Promise<boolean> {
    return this.#engine.delete(key);
  }
  expire(key: KeyArg, ms: number): Promise<boolean> {
    return this.#engine.expire(key, ms);
  }
  pttl(key: KeyArg): number {
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

  // ---------------------------------------------------------------- collections

  type(key: KeyArg): Promise<KeyTypeName> {
    return this.#read(() => this.#engine.typeOf(toKey(key)));
  }

  hset(key: KeyArg, fields: HashFields): Promise<number> {
    const pairs: Array<readonly [Key, Buffer]> = [];
    const entries = fields instanceof Map ? fields.entries() : Object.entries(fields);
    for (const [f, v] of entries as Iterable<readonly [KeyArg, KeyArg]>) pairs.push([toKey(f), toValue(v)]);
    if (pairs.length === 0) return Promise.reject(new RangeError('hset needs at least one field'));
    const k = toKey(key);
    return this.#write(() => {
      const { ops, added } = hsetOps(k, this.#hash(k), pairs);
      return { ops, result: added };
    });
  }
  hget(key: KeyArg, field: KeyArg): Promise<Buffer | undefined> {
    // A copy: the hash's own bytes must never be reachable (a caller could mutate them).
    return this.#read(() => {
      const v = this.#hash(toKey(key))?.get(toKey(field));
      return v === undefined ? undefined : Buffer.from(v);
    });
  }
  hgetall(key: KeyArg): Promise<Map<string, Buffer>> {
    return this.#read(() => {
      const all = new Map<string, Buffer>();
      for (const [f, v] of this.#hash(toKey(key))?.entries() ?? []) all.set(keyToBytes(f).toString('utf8'), Buffer.from(v));
      return all;
    });
  }
  hdel(key: KeyArg, ...fields: KeyArg[]): Promise<number> {
    const k = toKey(key);
    return this.#write(() => {
      const { ops, removed } = hdelOps(k, this.#hash(k), fields.map(toKey));
      return { ops, result: removed };
    });
  }
  hlen(key: KeyArg): Promise<number> {
    return this.#read(() => this.#hash(toKey(key))?.size ?? 0);
  }
  hincrby(key: KeyArg, field: KeyArg, by: number): Promise<number> {
    if (!Number.isSafeInteger(by)) return Promise.reject(new RangeError(`hincrby: ${by} is not a safe integer`));
    const k = toKey(key);
    return this.#write(() => {
      const r = hincrbyOps(k, this.#hash(k), toKey(field), BigInt(by));
      if ('error' in r) throw new InvalidValueError(r.error === 'overflow' ? 'increment would overflow' : 'hash value is not an integer');
      return { ops: r.ops, result: Number(r.value) };
    });
  }

  sadd(key: KeyArg, ...members: KeyArg[]): Promise<number> {
    const k = toKey(key);
    return this.#write(() => {
      const { ops, added } = saddOps(k, this.#set(k), members.map(toKey));
      return { ops, result: added };
    });
  }
  srem(key: KeyArg, ...members: KeyArg[]): Promise<number> {
    const k = toKey(key);
    return this.#write(() => {
      const { ops, removed } = sremOps(k, this.#set(k), members.map(toKey));
      return { ops, result: removed };
    });
  }
  sismember(key: KeyArg, member: KeyArg): Promise<boolean> {
    return this.#read(() => this.#set(toKey(key))?.has(toKey(member)) === true);
  }
  smembers(key: KeyArg): Promise<Buffer[]> {
    return this.#read(() => [...(this.#set(toKey(key))?.members() ?? [])].map(keyToBytes));
  }
  scard(key: KeyArg): Promise<number> {
    return this.#read(() => this.#set(toKey(key))?.size ?? 0);
  }

  zadd(key: KeyArg, members: ZMembers): Promise<number> {
    const pairs = zpairs(members);
    if (pairs === null) return Promise.reject(new RangeError('zadd: a score is NaN'));
    if (pairs.length === 0) return Promise.reject(new RangeError('zadd needs at least one member'));
    const k = toKey(key);
    return this.#write(() => {
      const r = zaddOps(k, this.#zset(k), ZADD_PLAIN, pairs, this.#engine.encodingLimits);
      if ('error' in r) throw new Error('bug: ZADD without INCR cannot give NaN');
      return { ops: r.ops, result: r.added };
    });
  }
  zincrby(key: KeyArg, by: number, member: KeyArg): Promise<number> {
    if (Number.isNaN(by)) return Promise.reject(new RangeError('zincrby: the increment is NaN'));
    const k = toKey(key);
    return this.#write(() => {
      const r = zaddOps(k, this.#zset(k), { ...ZADD_PLAIN, incr: true }, [[toKey(member), by]], this.#engine.encodingLimits);
      if ('error' in r) throw new InvalidValueError('resulting score is not a number (NaN)');
      return { ops: r.ops, result: r.last };
    });
  }
  zrem(key: KeyArg, ...members: KeyArg[]): Promise<number> {
    const k = toKey(key);
    return this.#write(() => {
      const { ops, removed } = zremOps(k, this.#zset(k), members.map(toKey));
      return { ops, result: removed };
    });
  }
  zscore(key: KeyArg, member: KeyArg): Promise<number | undefined> {
    return this.#read(() => this.#zset(toKey(key))?.score(toKey(member)));
  }
  zcard(key: KeyArg): Promise<number> {
    return this.#read(() => this.#zset(toKey(key))?.size ?? 0);
  }
  zrange(key: KeyArg, start: number, stop: number, opts?: ZRangeOptions & { readonly withScores?: false }): Promise<Buffer[]>;
  zrange(key: KeyArg, start: number, stop: number, opts: ZRangeOptions & { readonly withScores: true }): Promise<ZMember<Buffer>[]>;
  zrange(key: KeyArg, start: number, stop: number, opts: ZRangeOptions = {}): Promise<Buffer[] | ZMember<Buffer>[]> {
    if (!Number.isInteger(start) || !Number.isInteger(stop)) return Promise.reject(new RangeError('zrange: start and stop must be integers'));
    return this.#read(() => entriesOut(this.#zset(toKey(key))?.rangeByRank(start, stop, opts.rev === true) ?? [], opts.withScores === true));
  }
  zrangeByScore(key: KeyArg, min: number, max: number, opts?: ZRangeByScoreOptions & { readonly withScores?: false }): Promise<Buffer[]>;
  zrangeByScore(key: KeyArg, min: number, max: number, opts: ZRangeByScoreOptions & { readonly withScores: true }): Promise<ZMember<Buffer>[]>;
  zrangeByScore(key: KeyArg, min: number, max: number, opts: ZRangeByScoreOptions = {}): Promise<Buffer[] | ZMember<Buffer>[]> {
    if (Number.isNaN(min) || Number.isNaN(max)) return Promise.reject(new RangeError('zrangeByScore: min and max must be numbers'));
    const window = { rev: opts.rev === true, offset: opts.limit?.offset ?? 0, limit: opts.limit?.count ?? -1 };
    if (!Number.isInteger(window.offset) || !Number.isInteger(window.limit)) return Promise.reject(new RangeError('zrangeByScore: limit offset and count must be integers'));
    const range = { min, minEx: false, max, maxEx: false };
    return this.#read(() => {
      // A negative offset gives nothing, as Redis's LIMIT.
      const z = window.offset < 0 ? undefined : this.#zset(toKey(key));
      return entriesOut(z?.rangeByScore(range, window) ?? [], opts.withScores === true);
    });
  }

  lpush(key: KeyArg, ...elements: KeyArg[]): Promise<number> {
    return this.#push(key, true, elements);
  }
  rpush(key: KeyArg, ...elements: KeyArg[]): Promise<number> {
    return this.#push(key, false, elements);
  }
  #push(key: KeyArg, head: boolean, elements: KeyArg[]): Promise<number> {
    if (elements.length === 0) return Promise.reject(new RangeError('a push needs at least one element'));
    const k = toKey(key);
    return this.#write(() => {
      const { ops, length } = pushOps(k, this.#list(k), head, elements.map(toValue));
      return { ops, result: length };
    });
  }
  lpop(key: KeyArg, count = 1): Promise<Buffer[]> {
    return this.#pop(key, true, count);
  }
  rpop(key: KeyArg, count = 1): Promise<Buffer[]> {
    return this.#pop(key, false, count);
  }
  #pop(key: KeyArg, head: boolean, count: number): Promise<Buffer[]> {
    if (!Number.isSafeInteger(count) || count < 0) return Promise.reject(new RangeError(`pop: ${count} is not a non-negative integer`));
    const k = toKey(key);
    return this.#write(() => {
      const { ops, values } = popOps(k, this.#list(k), head, count);
      return { ops, result: values.map(keyToBytes) };
    });
  }
  xadd(key: KeyArg, pairs: ReadonlyArray<readonly [KeyArg, KeyArg]>, id = '*'): Promise<string> {
    if (pairs.length === 0) return Promise.reject(new RangeError('xadd needs at least one field'));
    const given = id === '*' ? null : parseStreamId(Buffer.from(id, 'latin1'), 0n, true, true);
    if (given === undefined || (id !== '*' && given === null)) return Promise.reject(new InvalidValueError(`bad stream id '${id}'`));
    const k = toKey(key);
    return this.#write(() => {
      const s = this.#stream(k);
      const next = nextStreamId(s?.lastId ?? ID_MIN, given, Date.now());
      if (next === null) throw new InvalidValueError('the id is equal or smaller than the stream\'s last id');
      const entry = entryFor(s, next, pairs.flatMap(([f, v]) => [toKey(f), toKey(v)]), this.#engine.encodingLimits);
      return { ops: [{ t: 'xstream', key: k, body: encodeEffects([{ k: 'add', entry }]) }], result: formatId(next) };
    });
  }
  xlen(key: KeyArg): Promise<number> {
    return this.#read(() => this.#stream(toKey(key))?.size ?? 0);
  }
  xrange(key: KeyArg, start = '-', end = '+', count = 0): Promise<StreamEntry[]> {
    const from = parseStreamId(Buffer.from(start, 'latin1'), 0n, false);
    const to = parseStreamId(Buffer.from(end, 'latin1'), UINT64_MAX_BIG, false);
    if (from === null || to === null || !Number.isSafeInteger(count) || count < 0) return Promise.reject(new InvalidValueError('bad xrange bounds or count'));
    return this.#read(() => {
      const out: StreamEntry[] = [];
      for (const e of this.#stream(toKey(key))?.range(from.id, to.id, false) ?? []) {
        if (count > 0 && out.length >= count) break;
        const parts: Buffer[] = [];
        entryFields(e, (off, len) => parts.push(Buffer.from(e.slice(off, off + len), 'latin1')));
        const fields: Array<[Buffer, Buffer]> = [];
        for (let i = 0; i < parts.length; i += 2) fields.push([parts[i] as Buffer, parts[i + 1] as Buffer]);
        out.push({ id: formatId(entryId(e)), fields });
      }
      return out;
    });
  }
  llen(key: KeyArg): Promise<number> {
    return this.#read(() => this.#list(toKey(key))?.size ?? 0);
  }
  lrange(key: KeyArg, start: number, stop: number): Promise<Buffer[]> {
    if (!Number.isInteger(start) || !Number.isInteger(stop)) return Promise.reject(new RangeError('lrange: start and stop must be integers'));
    return this.#read(() => {
      const l = this.#list(toKey(key));
      if (l === undefined) return [];
      const from = start < 0 ? Math.max(0, l.size + start) : start;
      const to = stop < 0 ? l.size + stop : stop;
      return [...l.range(from, to)].map(keyToBytes);
    });
  }
  lindex(key: KeyArg, index: number): Promise<Buffer | undefined> {
    if (!Number.isInteger(index)) return Promise.reject(new RangeError('lindex: index must be an integer'));
    return this.#read(() => {
      const l = this.#list(toKey(key));
      const i = l === undefined ? -1 : listIndex(l, index);
      return i < 0 ? undefined : keyToBytes((l as ListObject).at(i) as Key);
    });
  }
  lset(key: KeyArg, index: number, element: KeyArg): Promise<void> {
    if (!Number.isInteger(index)) return Promise.reject(new RangeError('lset: index must be an integer'));
    const k = toKey(key);
    return this.#write(() => {
      const l = this.#list(k);
      if (l === undefined) throw new InvalidValueError('no such key');
      const r = lsetOps(k, l, index, toValue(element));
      if ('error' in r) throw new InvalidValueError('index out of range');
      return { ops: r.ops, result: undefined };
    });
  }
  lrem(key: KeyArg, count: number, element: KeyArg): Promise<number> {
    if (!Number.isSafeInteger(count)) return Promise.reject(new RangeError('lrem: count must be a safe integer'));
    const k = toKey(key);
    return this.#write(() => {
      const { ops, removed } = lremOps(k, this.#list(k), count, toValue(element));
      return { ops, result: removed };
    });
  }
  ltrim(key: KeyArg, start: number, stop: number): Promise<void> {
    if (!Number.isInteger(start) || !Number.isInteger(stop)) return Promise.reject(new RangeError('ltrim: start and stop must be integers'));
    const k = toKey(key);
    return this.#write(() => ({ ops: ltrimOps(k, this.#list(k), start, stop), result: undefined }));
  }
  lmove(source: KeyArg, destination: KeyArg, from: 'left' | 'right', to: 'left' | 'right'): Promise<Buffer | undefined> {
    const src = toKey(source);
    const dst = toKey(destination);
    return this.#write((): Built<Buffer | undefined> => {
      const sl = this.#list(src);
      if (sl === undefined) return { ops: [], result: undefined };
      const { ops, value } = lmoveOps(src, sl, dst, this.#list(dst), from === 'left', to === 'left');
      return { ops, result: keyToBytes(value) };
    });
  }
  dump(key: KeyArg): Promise<Buffer | undefined> {
    return this.#read(() => {
      const payload = dumpKey(this.#engine, toKey(key));
      if (payload === null) throw new InvalidValueError(ERR_DUMP_STREAM.slice(4));
      return payload;
    });
  }
  restore(key: KeyArg, payload: Buffer, opts: RestoreOptions = {}): Promise<void> {
    const d = decodeDump(payload, this.#engine.encodingLimits);
    if (isRefusal(d)) {
      const why = d.reason === 'checksum' ? 'DUMP payload version or checksum are wrong' : d.reason === 'type' ? (d.typeName === 'stream' ? 'kv-ts does not read the RDB stream encoding' : `kv-ts has no ${d.typeName} type`) : `bad DUMP payload: ${d.detail}`;
      return Promise.reject(new InvalidValueError(why));
    }
    const k = toKey(key);
    return this.#write(() => {
      const exists = this.#engine.has(k);
      if (exists && opts.replace !== true) throw new InvalidValueError('BUSYKEY Target key name already exists.');
      const now = this.#engine.now();
      const expireAtMs = opts.pxAt ?? (opts.px === undefined ? NO_EXPIRY : now + opts.px);
      if (!Number.isSafeInteger(expireAtMs) || expireAtMs < 0) throw new RangeError(`invalid expiry ${expireAtMs}`);
      // Already expired: the key ends up absent, as RESTORE leaves it.
      if (expireAtMs !== NO_EXPIRY && expireAtMs <= now) return { ops: exists ? [{ t: 'del', key: k }] : [], result: undefined };
      return { ops: [restoreOp(k, d, expireAtMs)], result: undefined };
    });
  }

  // ---------------------------------------------------------------- plumbing

  /** The collection at `k` of `type`, undefined when missing; WrongTypeError when it holds another type. */
  #typed<T>(k: Key, type: TypeName, read: (k: Key) => T | undefined): T | undefined {
    const t = this.#engine.typeOf(k);
    if (t !== 'none' && t !== type) throw new WrongTypeError();
    return read(k);
  }
  #hash(k: Key): HashObject | undefined {
    return this.#typed(k, 'hash', (x) => this.#engine.getHash(x));
  }
  #set(k: Key): SetObject | undefined {
    return this.#typed(k, 'set', (x) => this.#engine.getSet(x));
  }
  #zset(k: Key): SortedSet | undefined {
    return this.#typed(k, 'zset', (x) => this.#engine.getZSet(x));
  }
  #list(k: Key): ListObject | undefined {
    return this.#typed(k, 'list', (x) => this.#engine.getList(x));
  }
  #stream(k: Key): StreamObject | undefined {
    return this.#typed(k, 'stream', (x) => this.#engine.getStream(x));
  }

  /**
   * Run a read, then wait for any expiry delete it logged (a read of an expired key logs one),
   * as the string calls do.
   */
  async #read<T>(read: () => T): Promise<T> {
    const before = this.#engine.lastPosition.seq;
    const result = read();
    await this.#settle(before);
    return result;
  }

  /** Build a write against the current state and log its ops as one entry, synchronously (nothing runs in between); resolve once durable. */
  async #write<T>(build: () => Built<T>): Promise<T> {
    const before = this.#engine.lastPosition.seq;
    const { ops, result } = build();
    if (ops.length > 0) await this.#engine.whenDurable(this.#engine.apply(ops).seq);
    else await this.#settle(before);
    return result;
  }

  async #settle(seqBefore: number): Promise<void> {
    const seq = this.#engine.lastPosition.seq;
    if (seq !== seqBefore) await this.#engine.whenDurable(seq);
  }
}

/** zadd's argument as (member, score) pairs; null when a score is NaN. */
function zpairs(members: ZMembers): Array<readonly [Key, number]> | null {
  let list: Iterable<readonly [KeyArg, number]>;
  if (Array.isArray(members)) list = (members as ReadonlyArray<ZMember>).map((m) => [m.member, m.score] as const);
  else if (members instanceof Map) list = members.entries();
  else list = Object.entries(members as Readonly<Record<string, number>>);
  const pairs: Array<readonly [Key, number]> = [];
  for (const [m, s] of list) {
    if (typeof s !== 'number' || Number.isNaN(s)) return null;
    pairs.push([toKey(m), s]);
  }
  return pairs;
}

function entriesOut(entries: readonly ZEntry[], withScores: boolean): Buffer[] | ZMember<Buffer>[] {
  if (!withScores) return entries.map(([m]) => keyToBytes(m));
  return entries.map(([m, score]) => ({ member: keyToBytes(m), score }));
}
