// Typed-keyspace workloads for tests: a plain model of keys of every type (the meaning of each
// Op, as Keyspace.applyOp defines it), a canonical per-key description to compare stores by,
// and seeded generators of raw ops (replay's view) and of command-like entries (what commands
// log: no WRONGTYPE writes, a del instead of a removal that empties a key).

import assert from 'node:assert/strict';
import { decodeObject, encodeCollection, encodeStringObject, isPartPayload } from '../../src/storage/object-codec.js';
import { HashObject, HASH_LISTPACK_VALUE_BYTES_MAX } from '../../src/storage/hash-object.js';
import { SetObject } from '../../src/storage/set-object.js';
import { SortedSet } from '../../src/storage/zset.js';
import { ListObject } from '../../src/storage/list-object.js';
import { TYPE_HASH, TYPE_LIST, TYPE_SET, TYPE_STRING, TYPE_ZSET, type KvCollection } from '../../src/storage/collection.js';
import { keyFromBytes } from '../../src/storage/types.js';
import type { ReplicatedStore } from '../../src/storage/api.js';
import type { Keyspace } from '../../src/storage/keyspace.js';
import type { Key, Op } from '../../src/storage/types.js';
import type { Rng } from './rng.js';

// ---------------------------------------------------------------- the model

export type MV =
  | { type: 'string'; v: Buffer; exp: number }
  | { type: 'hash'; m: Map<Key, Buffer>; exp: number }
  | { type: 'set'; m: Set<Key>; exp: number }
  | { type: 'zset'; m: Map<Key, number>; exp: number }
  | { type: 'list'; l: Key[]; exp: number };
export type Model = Map<Key, MV>;

/** The model's meaning of an op: the same rules as Keyspace.applyOp. */
export function modelApply(model: Model, op: Op): void {
  switch (op.t) {
    case 'set':
      model.set(op.key, { type: 'string', v: Buffer.from(op.value), exp: op.expireAtMs });
      return;
    case 'del':
      model.delete(op.key);
      return;
    case 'expire': {
      const cur = model.get(op.key);
      if (cur !== undefined) cur.exp = op.expireAtMs;
      return;
    }
    case 'flushall':
      model.clear();
      return;
    case 'hset': {
      const cur = model.get(op.key);
      const h = cur?.type === 'hash' ? cur : { type: 'hash' as const, m: new Map<Key, Buffer>(), exp: 0 };
      h.m.set(op.field, Buffer.from(op.value));
      model.set(op.key, h);
      return;
    }
    case 'sadd': {
      const cur = model.get(op.key);
      const s = cur?.type === 'set' ? cur : { type: 'set' as const, m: new Set<Key>(), exp: 0 };
      s.m.add(op.member);
      model.set(op.key, s);
      return;
    }
    case 'zadd': {
      const cur = model.get(op.key);
      const z = cur?.type === 'zset' ? cur : { type: 'zset' as const, m: new Map<Key, number>(), exp: 0 };
      z.m.set(op.member, op.score);
      model.set(op.key, z);
      return;
    }
    case 'hdel':
    case 'srem':
    case 'zrem': {
      const cur = model.get(op.key);
      const want = op.t === 'hdel' ? 'hash' : op.t === 'srem' ? 'set' : 'zset';
      if (cur?.type === want) cur.m.delete(op.t === 'hdel' ? op.field : op.member);
      return;
    }
    case 'restore': {
      const d = decodeObject(op.payload, 0, op.payload.length);
      assert.ok(typeof d !== 'string', 'restore payload');
      if (isPartPayload(op.payload, 0) && 'obj' in d) {
        // A part adds its members, as the element ops would (the expiry stays).
        const o = d.obj;
        if (o instanceof HashObject) for (const [field, value] of o.entries()) modelApply(model, { t: 'hset', key: op.key, field, value });
        else if (o instanceof SetObject) for (const member of o.members()) modelApply(model, { t: 'sadd', key: op.key, member });
        else if (o instanceof SortedSet) for (const [member, score] of o.entries()) modelApply(model, { t: 'zadd', key: op.key, member, score });
        else if (o instanceof ListObject) for (const v of o.values()) modelApply(model, { t: 'rpush', key: op.key, values: [Buffer.from(v, 'latin1')] });
        else throw new Error('the typed-ops model has no streams');
        return;
      }
      model.set(op.key, { ...mvOf(d.type, 'obj' in d ? d.obj : Buffer.from(d.value)), exp: op.expireAtMs });
      return;
    }
    case 'lpush':
    case 'rpush': {
      const cur = model.get(op.key);
      const l = cur?.type === 'list' ? cur : { type: 'list' as const, l: [] as Key[], exp: 0 };
      for (const v of op.values) {
        if (op.t === 'lpush') l.l.unshift(keyFromBytes(v));
        else l.l.push(keyFromBytes(v));
      }
      model.set(op.key, l);
      return;
    }
    case 'acl':
    case 'members':
    case 'functions':
      return; // no key changes
    default: {
      const cur = model.get(op.key);
      if (cur?.type === 'list') modelListChange(cur.l, op);
    }
  }
}

/** The model's meaning of the list ops that change an existing list (ListObject's rules). */
function modelListChange(l: Key[], op: Op): void {
  switch (op.t) {
    case 'lpop':
      l.splice(0, op.count);
      return;
    case 'rpop':
      l.splice(Math.max(0, l.length - op.count), op.count);
      return;
    case 'lset':
      if (op.index < l.length) l[op.index] = keyFromBytes(op.value);
      return;
    case 'linsert':
      l.splice(Math.min(op.index, l.length), 0, keyFromBytes(op.value));
      return;
    case 'lrem': {
      const v = keyFromBytes(op.value);
      let left = op.count === 0 ? Infinity : Math.abs(op.count);
      const order = op.count < 0 ? [...l.keys()].reverse() : [...l.keys()];
      const drop = new Set<number>();
      for (const i of order) if (left > 0 && l[i] === v) (drop.add(i), left--);
      const kept = l.filter((_, i) => !drop.has(i));
      l.splice(0, l.length, ...kept);
      return;
    }
    default:
      throw new Error(`not a list change: ${op.t}`);
  }
}

export function mvOf(type: number, v: KvCollection | Buffer): MV {
  if (v instanceof Buffer) return { type: 'string', v, exp: 0 };
  if (type === TYPE_HASH && v instanceof HashObject) return { type: 'hash', m: new Map(v.entries()), exp: 0 };
  if (type === TYPE_SET && v instanceof SetObject) return { type: 'set', m: new Set(v.members()), exp: 0 };
  if (type === TYPE_ZSET && v instanceof SortedSet) return { type: 'zset', m: new Map(v.entries()), exp: 0 };
  if (type === TYPE_LIST && v instanceof ListObject) return { type: 'list', l: [...v.values()], exp: 0 };
  throw new Error(`type ${type}`);
}

/** A canonical text of one key's state (order-independent within a collection). */
export function describe(mv: MV): string {
  const enc = (s: string): string => Buffer.from(s, 'latin1').toString('hex');
  switch (mv.type) {
    case 'string':
      return `string ${mv.v.toString('hex')} ${mv.exp}`;
    case 'hash':
      return `hash ${[...mv.m].map(([f, v]) => `${enc(f)}=${v.toString('hex')}`).sort().join(',')} ${mv.exp}`;
    case 'set':
      return `set ${[...mv.m].map(enc).sort().join(',')} ${mv.exp}`;
    case 'zset':
      return `zset ${[...mv.m].map(([m, s]) => `${enc(m)}=${s}`).sort().join(',')} ${mv.exp}`;
    case 'list':
      return `list ${mv.l.map(enc).join(',')} ${mv.exp}`;
  }
}

/** The keyspace's state as the model would describe it (read with now = 0: no key is expired). */
export function modelState(model: Model): Map<Key, string> {
  return new Map([...model].map(([k, mv]) => [k, describe(mv)]));
}

// ---------------------------------------------------------------- random ops

export const KEY_POOL = 12;
/** Expiries the ops set: far in the future, so the stores' real clocks never expire a key mid-test. */
export const EXPIRY_FAR_MS = 4_000_000_000_000;
export const ELEMENT_POOL = 6;

export function elem(R: Rng): Key {
  const i = R.int(ELEMENT_POOL + 2);
  if (i === ELEMENT_POOL) return '';
  if (i === ELEMENT_POOL + 1) return `long-${'x'.repeat(HASH_LISTPACK_VALUE_BYTES_MAX)}`; // converts a listpack
  return R.int(2) === 0 ? String(i) : `e${i}\x00\xff`;
}

export function randomCollection(R: Rng, type: number): KvCollection {
  const n = 1 + R.int(5);
  if (type === TYPE_HASH) {
    const h = new HashObject();
    for (let i = 0; i < n; i++) h.set(elem(R), R.bytes(R.int(8)));
    return h;
  }
  if (type === TYPE_SET) {
    const s = new SetObject();
    for (let i = 0; i < n; i++) s.add(elem(R));
    return s;
  }
  if (type === TYPE_LIST) {
    const l = new ListObject();
    for (let i = 0; i < n; i++) l.pushTail(elem(R));
    return l;
  }
  const z = new SortedSet();
  for (let i = 0; i < n; i++) z.set(elem(R), R.pick([0, 1, -1.5, Infinity, -Infinity, 1e-300]));
  return z;
}

/** A list op of any kind on `key`, with indexes and counts around a short list's length. */
export function randomListOp(R: Rng, key: Key): Op {
  const value = Buffer.from(elem(R), 'latin1');
  switch (R.int(7)) {
    case 0:
    case 1:
      return { t: R.int(2) === 0 ? 'lpush' : 'rpush', key, values: Array.from({ length: 1 + R.int(3) }, () => Buffer.from(elem(R), 'latin1')) };
    case 2:
      return { t: R.int(2) === 0 ? 'lpop' : 'rpop', key, count: R.int(4) };
    case 3:
      return { t: 'lset', key, index: R.int(6), value };
    case 4:
      return { t: 'linsert', key, index: R.int(7), value };
    default:
      return { t: 'lrem', key, count: R.int(5) - 2, value };
  }
}

/** Any op, in any order (replay's view: ops may meet keys of another type). */
export function randomOp(R: Rng, keyPool = KEY_POOL): Op {
  const key = `k${R.int(keyPool)}`;
  const exp = R.int(3) === 0 ? EXPIRY_FAR_MS + R.int(1_000_000) : 0;
  const r = R.int(100);
  if (r < 10) return { t: 'set', key, value: R.bytes(R.int(20)), expireAtMs: exp };
  if (r < 15) return { t: 'del', key };
  if (r < 22) return { t: 'expire', key, expireAtMs: exp };
  if (r < 36) return { t: 'hset', key, field: elem(R), value: R.bytes(R.int(10)) };
  if (r < 46) return { t: 'hdel', key, field: elem(R) };
  if (r < 58) return { t: 'sadd', key, member: elem(R) };
  if (r < 66) return { t: 'srem', key, member: elem(R) };
  if (r < 78) return { t: 'zadd', key, member: elem(R), score: R.int(5) - 2 };
  if (r < 86) return { t: 'zrem', key, member: elem(R) };
  if (r < 93) return randomListOp(R, key);
  if (r < 99) {
    const type = R.int(5);
    const payload = type === TYPE_STRING ? encodeStringObject(R.bytes(R.int(10))) : encodeCollection(type, randomCollection(R, type));
    return { t: 'restore', key, payload, expireAtMs: exp };
  }
  return { t: 'flushall' };
}

/**
 * What a command would log (one entry): element ops only on a key of their type or a missing
 * one, and a 'del' instead of a removal that empties the key.
 */
export function commandOps(R: Rng, model: Model, keyPool = KEY_POOL): Op[] {
  for (;;) {
    const op = randomOp(R, keyPool);
    if (!('key' in op)) continue; // flushall: the churn test covers it; here it would empty every scenario

    const cur = model.get(op.key);
    const want = op.t === 'hset' || op.t === 'hdel' ? 'hash' : op.t === 'sadd' || op.t === 'srem' ? 'set' : op.t === 'zadd' || op.t === 'zrem' ? 'zset' : isListOp(op) ? 'list' : null;
    if (want === null) return [op];
    if (cur !== undefined && cur.type !== want) continue; // WRONGTYPE: nothing logged
    if (cur?.type === 'list' || (cur === undefined && want === 'list')) {
      const ops = listCommandOps(op, cur?.type === 'list' ? cur.l : undefined);
      if (ops === null) continue;
      return ops;
    }
    if (op.t === 'hdel' || op.t === 'srem' || op.t === 'zrem') {
      if (cur === undefined) continue;
      const member = op.t === 'hdel' ? op.field : op.member;
      if (!cur.m.has(member)) continue; // nothing removed: nothing logged
      if (cur.m.size === 1) return [{ t: 'del', key: op.key }];
    }
    return [op];
  }
}

/** A keyspace's state as the model describes it (read with now = 0: no key is expired). */
export function keyspaceState(ks: Keyspace): Map<Key, string> {
  const out = new Map<Key, string>();
  for (const k of ks.keys(0)) {
    const t = ks.typeOf(k, 0);
    const exp = ks.getExpireAt(k, 0) ?? -1;
    let mv: MV;
    if (t === TYPE_STRING) mv = { type: 'string', v: Buffer.from(ks.getStored(k, 0) ?? Buffer.alloc(0)), exp };
    else {
      assert.equal(ks.getStored(k, 0), undefined, 'a collection never reads as a string');
      mv = { ...mvOf(t, ks.collectionOf(k, t, 0) as KvCollection), exp };
    }
    out.set(k, describe(mv));
  }
  return out;
}

function isListOp(op: Op): boolean {
  return op.t === 'lpush' || op.t === 'rpush' || op.t === 'lpop' || op.t === 'rpop' || op.t === 'lset' || op.t === 'linsert' || op.t === 'lrem';
}

/** What a list command would log for `op` on list `l` (undefined: missing): null when it would log nothing. */
function listCommandOps(op: Op, l: Key[] | undefined): Op[] | null {
  if (op.t === 'lpush' || op.t === 'rpush') return [op];
  if (l === undefined || !('key' in op)) return null;
  const del: Op[] = [{ t: 'del', key: op.key }];
  switch (op.t) {
    case 'lpop':
    case 'rpop':
      if (op.count === 0) return null;
      return op.count >= l.length ? del : [op];
    case 'lset':
      return op.index < l.length ? [op] : null;
    case 'linsert':
      return op.index <= l.length ? [op] : null;
    case 'lrem': {
      const v = keyFromBytes(op.value);
      const n = l.filter((x) => x === v).length;
      const removed = op.count === 0 ? n : Math.min(n, Math.abs(op.count));
      if (removed === 0) return null;
      return removed === l.length ? del : [op];
    }
    default:
      return null;
  }
}

/** A store's state as the model describes it (through the store's read API). */
export function storeState(s: ReplicatedStore): Map<Key, string> {
  const out = new Map<Key, string>();
  for (const k of s.keys()) {
    const exp = s.getExpireAt(k) ?? -1;
    const t = s.typeOf(k);
    const mv: MV =
      t === 'string' ? { type: 'string', v: s.getValue(k) as Buffer, exp }
        : t === 'hash' ? { ...mvOf(TYPE_HASH, s.getHash(k) as HashObject), exp }
          : t === 'set' ? { ...mvOf(TYPE_SET, s.getSet(k) as SetObject), exp }
          : t === 'list' ? { ...mvOf(TYPE_LIST, s.getList(k) as ListObject), exp }
            : { ...mvOf(TYPE_ZSET, s.getZSet(k) as SortedSet), exp };
    out.set(k, describe(mv));
  }
  return out;
}

