// The in-memory dataset: values, expiries, SCAN cursors, the expiry sweep and slab defragmentation.
// Owns memory state only; never logs, never touches files, never reads the wall clock
// itself (the caller passes `now`). Applying an Op here is the single definition of its meaning.
// A key found expired is handed to the owner's ExpiryHandler (which logs its delete, or keeps
// it hidden on a replica); only a keyspace without one removes expired keys by itself.
//
// Layout (why, with numbers in docs/storage.md): keys and values live OFF the V8 heap, packed as
// records `[varint keyLen][varint valLen][key][value]` into 1 MiB slabs (records larger than
// DEDICATED_RECORD_BYTES_MIN get a buffer of their own). Everything else is typed arrays:
//   slot -> (slab id, offset)          interleaved Uint32 words in fixed-size chunks (slot-chunks.ts);
//                                      a key keeps its slot from insert to delete
//   open-addressing hash table         Int32Array of slot+1 + Uint8Array hash tag, linear probing,
//                                      grown incrementally (see the hash table section below)
// So a key costs its bytes + a 2 B header + ~15 B of arrays and ZERO heap objects: restart is a
// copy per record with no GC work, and RSS is close to the raw bytes (the previous Map + latin1
// strings layout cost ~190 B/key of V8 heap for 14 B keys + 100 B values). A same-size SET
// overwrites the value in place; any other replaces the record and marks the old one dead in
// its header (defrag reclaims it). Key and value bytes of a replaced record do not change before
// the next sweep (a released slab is reused only after it, see SPARE_SLABS_MAX).
//
// Types: a per-slot type byte (collection.ts codes). A string keeps its value in its record; a
// collection's record holds the key with an empty value, and its contents live in `objects`
// (indexed by slot, dropped with the slot), so SCAN, expiry, defrag and the table stay key-level
// for every type, and the string paths pay one typed-array read to refuse a collection. A small
// hash's contents are its bare packed string (hash-object.ts, HashCell): readers get a view.
//
// SCAN: the cursor is a slot index walked upwards; a key keeps its slot for its whole life, so
// every key present for the whole scan is returned at least once (freed slots are reused by
// later inserts, which a scan may or may not see). Moving a record between slabs (defrag) only
// changes the slot's address, never its slot.

import assert from 'node:assert';
import { randomInt } from 'node:crypto';
import { keyFromBytes, type ExpireAtMs, type Key, type Op } from './types.js';
import type { ValueSink } from './api.js';
import { globMatch } from './glob.js';
import { readListValues, type RecordOpSink } from './record.js';
import { ListObject } from './list-object.js';
import { StreamObject } from './stream-object.js';
import { applyEffects, decodeEffects } from './stream-effects.js';
import { copyBytes } from './bytes.js';
import { AccessTracker } from './access.js';
import { REDIS_ENCODING_LIMITS, TYPE_HASH, TYPE_LIST, TYPE_SET, TYPE_STREAM, TYPE_STRING, TYPE_ZSET, TYPE_CODES, type EncodingLimits, type KvCollection } from './collection.js';
import { deleteBare, HashObject, hashCellBytes, hashView, HASH_BARE_BYTES_MAX, setBare } from './hash-object.js';
import { SetObject } from './set-object.js';
import { SortedSet } from './zset.js';
import { addMembers, decodeObject, encodeCollection, isPartPayload, payloadType } from './object-codec.js';
import { nextSlotCapacity, SlotAddresses, SlotBytes, SlotObjects } from './slot-chunks.js';
import type { ConfigAt } from '../replication/core/types.js';
import { CONFIGS_KEPT, decodeMemberConfig, withConfig } from '../replication/core/member-config.js';

/** Size of a shared slab. Big enough that per-slab bookkeeping is noise, small enough to defrag in steps. */
export const SLAB_BYTES = 1024 * 1024;
/** Records larger than this get a dedicated buffer (freed as soon as the record dies). */
export const DEDICATED_RECORD_BYTES_MIN = 64 * 1024;
/** Rough per-key bookkeeping overhead used for the live-data estimate (not exact RSS). */
const KEY_OVERHEAD_BYTES = 48;
/** SCAN examines at most this many slots per call, whatever COUNT says (bounds one call's work). */
export const SCAN_SLOTS_PER_CALL_MAX = 100_000;
/** Active expiry: keys with a TTL examined per sweep call. */
export const EXPIRE_SWEEP_KEYS_MAX = 1000;
/** Random slots RANDOMKEY probes before walking the slot range. */
export const RANDOM_KEY_TRIES_MAX = 64;
/** Active expiry: time budget of one sweep call. */
export const EXPIRE_SWEEP_MS_MAX = 2;
/** Keys limit: slot ids are stored as slot+1 in an Int32Array hash table. */
export const KEYS_MAX = 2 ** 30;
/** A sealed slab whose live bytes fall below this fraction is queued for compaction. */
export const DEFRAG_LIVE_FRACTION_MIN = 0.5;
/** Pay-as-you-go defrag: slab bytes walked per byte of record written, while slabs are queued. */
const DEFRAG_WALK_BYTES_PER_WRITTEN_BYTE = 4;
/**
 * Released shared slabs kept for reuse. V8 frees an unreachable Buffer's memory only at a later
 * collection (external memory triggers one only after tens of MiB), so under steady eviction
 * released slabs would pile up in RSS before the GC returned them. A released slab is reused
 * only after the next sweep, never in the turn that released it: a reader holding a view of a
 * replaced record (GETSET replies with the old value after writing the new) keeps its bytes.
 */
export const SPARE_SLABS_MAX = 8;
/** Defrag work done from the periodic sweep (idle stores still give memory back). */
export const DEFRAG_WALK_BYTES_PER_SWEEP = 4 * 1024 * 1024;
const SLOTS_INITIAL = 1024;
const TABLE_INITIAL = 2048;
/** A rebuild sizes the table for this load (so it grows x1.5 between rebuilds at the 3/4 trigger). */
const TABLE_REBUILD_LOAD = 0.5;
/** Slack entries reserve() adds so the reserved count itself does not trigger a rebuild. */
const TABLE_RESERVE_SLACK = 64;
/** trim() only reallocates a structure larger than this factor times what it needs. */
const TRIM_SLACK_FACTOR = 1.25;
/**
 * Table growth is incremental: old-table positions a migration step moves, taken before every
 * probe while a migration runs (so per lookup or write). Growth x1.5 from load 3/4 leaves 1/4 of
 * the new table for inserts, and the old table is drained after cap_old / this many probes:
 * anything above 8/3 finishes before the new table fills (docs/storage.md, 'Keyspace: layout and SCAN').
 */
export const MIGRATE_POSITIONS_PER_OP = 8;
/** Old-table positions the periodic sweep moves at most (an idle store still finishes a migration). */
export const MIGRATE_POSITIONS_PER_SWEEP_MAX = 64 * 1024;
/** The sweep's migration work stops after this long (checked every MIGRATE_SWEEP_CHUNK positions). */
const MIGRATE_SWEEP_MS_MAX = 1;
const MIGRATE_SWEEP_CHUNK = 1024;
/** Hash table load (live + tombstones) is kept at or below 3/4. */
const TABLE_LOAD_NUM = 3;
const TABLE_LOAD_DEN = 4;
/** Slab id of a free slot (its offset word then holds the next free slot, or NONE). */
const FREE = 0xffff_ffff;
const NONE = 0xffff_ffff;
const TOMBSTONE = -1;

/** Slab states. */
const FILLING = 0;
const SEALED = 1;
const QUEUED = 2;
const DEDICATED = 3;
const RELEASED = 4;

/** A zero-allocation view of one stored record, filled by Keyspace.readSlot. */
export interface SlotView {
  buf: Buffer;
  keyOff: number;
  keyLen: number;
  valOff: number;
  valLen: number;
  expireAtMs: ExpireAtMs;
  /** Type code (collection.ts); for a collection valLen is 0 and Keyspace.objectAt(slot) holds it. */
  type: number;
}

/**
 * What getValue hands out, from a getStored view: a copy for slab-shared values (a caller may
 * keep or mutate it), the view itself for a dedicated large value (copying 512 MiB per read
 * would be worse; that buffer is never rewritten by the keyspace).
 */
export function valueToBuffer(view: Buffer): Buffer {
  // A value of DEDICATED_RECORD_BYTES_MIN or more always makes a dedicated record.
  if (view.length < DEDICATED_RECORD_BYTES_MIN) {
    const copy = Buffer.allocUnsafe(view.length);
    copy.set(view);
    return copy;
  }
  return view;
}

/** Applies a log record's ops, given as byte ranges, to `ks` (log replay, a replica's frames). */
export function keyspaceSink(ks: Keyspace): RecordOpSink {
  return {
    set: (b, ko, kl, vo, vl, e) => ks.putBytes(b, ko, kl, vo, vl, e),
    del: (b, ko, kl) => void ks.removeBytes(b, ko, kl),
    expire: (b, ko, kl, e) => ks.expireBytes(b, ko, kl, e),
    flushall: () => ks.clear(),
    acl: (b, o, l) => ks.setAclUsers(Buffer.from(b.subarray(o, o + l))),
    members: (b, o, l) => ks.addMemberConfig(b.subarray(o, o + l)),
    functions: (b, o, l) => ks.setFunctionLibraries(Buffer.from(b.subarray(o, o + l))),
    // Element ops build their field/member strings anyway (collections are keyed by strings).
    hset: (b, ko, kl, fo, fl, vo, vl) => ks.hset(b.latin1Slice(ko, ko + kl), b.latin1Slice(fo, fo + fl), b.subarray(vo, vo + vl)),
    hdel: (b, ko, kl, fo, fl) => ks.hdel(b.latin1Slice(ko, ko + kl), b.latin1Slice(fo, fo + fl)),
    sadd: (b, ko, kl, mo, ml) => ks.sadd(b.latin1Slice(ko, ko + kl), b.latin1Slice(mo, mo + ml)),
    srem: (b, ko, kl, mo, ml) => ks.srem(b.latin1Slice(ko, ko + kl), b.latin1Slice(mo, mo + ml)),
    zadd: (b, ko, kl, mo, ml, score) => ks.zadd(b.latin1Slice(ko, ko + kl), b.latin1Slice(mo, mo + ml), score),
    zrem: (b, ko, kl, mo, ml) => ks.zrem(b.latin1Slice(ko, ko + kl), b.latin1Slice(mo, mo + ml)),
    restore: (b, ko, kl, po, pl, e) => ks.restore(b.latin1Slice(ko, ko + kl), b, po, pl, e),
    listPush: (b, ko, kl, head, vo, count) => {
      const values: Key[] = [];
      readListValues(b, vo, count, (o, l) => values.push(b.latin1Slice(o, o + l)));
      ks.listPush(b.latin1Slice(ko, ko + kl), head, values);
    },
    listPop: (b, ko, kl, head, count) => ks.listPop(b.latin1Slice(ko, ko + kl), head, count),
    listElement: (t, b, ko, kl, n, vo, vl) => ks.listElement(t, b.latin1Slice(ko, ko + kl), n, b.latin1Slice(vo, vo + vl)),
    xstream: (b, ko, kl, bo, bl) => ks.xstream(b.latin1Slice(ko, ko + kl), b, bo, bl),
  };
}

/**
 * Why `configs` cannot be the configuration list of a log ending at `lastSeq` (Keyspace
 * memberConfigs: at most CONFIGS_KEPT, seqs positive and ascending, none past `lastSeq`), or null.
 * Readers of a snapshot file or stream check what they got with it.
 */
export function memberConfigsFault(configs: readonly ConfigAt[], lastSeq: number): string | null {
  if (configs.length > CONFIGS_KEPT) return `${configs.length} configurations (at most ${CONFIGS_KEPT} are kept)`;
  let prev = 0;
  for (const c of configs) {
    if (!Number.isSafeInteger(c.seq) || c.seq <= prev) return `configuration seq ${c.seq} after ${prev}`;
    if (c.seq > lastSeq) return `configuration seq ${c.seq} is past the position ${lastSeq}`;
    prev = c.seq;
  }
  return null;
}

/**
 * What happens to a key a read or the sweep finds expired (store.ts implements it): expiry is a
 * logged event, so the keyspace never drops such a key by itself when it has a handler.
 */
export interface ExpiryHandler {
  /** False: expired keys are only hidden (a replica, or a store that cannot write now). */
  mayDelete(): boolean;
  /** Delete expired `key` through the log (applyOp removes it here); false if that failed (it stays hidden). */
  deleteExpired(key: Key): boolean;
}

export function newSlotView(): SlotView {
  return { buf: Buffer.alloc(0), keyOff: 0, keyLen: 0, valOff: 0, valLen: 0, expireAtMs: 0, type: TYPE_STRING };
}

/** What a slot holds for a collection: its object, or a small hash's bare packed string. */
type Cell = KvCollection | string;

/** The cell of a new, empty collection of `type` (an empty hash is bare). */
function newCell(type: number, limits: Readonly<EncodingLimits>): Cell {
  if (type === TYPE_HASH) return '';
  if (type === TYPE_SET) return new SetObject(limits);
  if (type === TYPE_ZSET) return new SortedSet(limits);
  if (type === TYPE_LIST) return new ListObject();
  if (type === TYPE_STREAM) return new StreamObject();
  throw new Error(`bug: no collection of type ${type}`);
}

/** A cell's memory estimate. */
function cellBytes(cell: Cell): number {
  return typeof cell === 'string' ? hashCellBytes(cell) : cell.bytes;
}

function varintBytes(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x20_0000 ? 3 : n < 0x1000_0000 ? 4 : 5;
}

function writeVarint(b: Buffer, p: number, n: number): number {
  while (n >= 0x80) {
    b[p++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  b[p++] = n;
  return p;
}

/** murmur3's finaliser: spreads FNV's weak bits over the whole word (home uses the high bits, the tag the low byte). */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85eb_ca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2_ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Table entries for `keys` keys at the maximum load, plus slack (reserve/trim sizing). */
function tableCapacityFor(keys: number): number {
  return Math.max(TABLE_INITIAL, Math.ceil((keys * TABLE_LOAD_DEN) / TABLE_LOAD_NUM) + TABLE_RESERVE_SLACK);
}

/** Home index of hash `h` in a table of `cap` entries (any size, not only powers of two: Lemire's multiply-shift). */
function home(h: number, cap: number): number {
  return Math.floor((h / 0x1_0000_0000) * cap);
}

/** FNV-1a over latin1 chars. Must equal hashBytes over the same bytes. */
function hashStr(seed: number, s: string): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x0100_0193);
  return fmix(h);
}

function hashBytes(seed: number, b: Buffer, off: number, len: number): number {
  let h = seed;
  for (let i = off; i < off + len; i++) h = Math.imul(h ^ (b[i] as number), 0x0100_0193);
  return fmix(h);
}

export class Keyspace {
  /** See aclUsers. */
  private acl: Buffer | null = null;
  /** See functionLibraries. */
  private functions: Buffer | null = null;
  /** See memberConfigs. */
  private configs: readonly ConfigAt[] = [];
  private slabs: Array<Buffer | null> = [];
  private slabUsed: number[] = [];
  private slabLive: number[] = [];
  private slabState: number[] = [];
  private freeSlabIds: number[] = [];
  /** Released shared slabs reusable now, and those released since the last sweep (SPARE_SLABS_MAX in all). */
  private spareSlabs: Buffer[] = [];
  private coolingSlabs: Buffer[] = [];
  /** The shared slab new records go to (-1 before the first record). */
  private cur = -1;
  /**
   * slot -> address: slab id (FREE for a free slot) and offset in it (for a free slot, the next
   * free slot or NONE), interleaved so a lookup's read of the address is one cache miss, not two
   * (docs/perf-notes.md, 'Keyspace and slabs').
   */
  private slotAddr = new SlotAddresses(SLOTS_INITIAL);
  /** slot -> type code (TYPE_STRING for free slots). */
  private slotType = new SlotBytes(SLOTS_INITIAL);
  /** slot -> a collection's contents (undefined for strings and free slots). */
  private objects = new SlotObjects<Cell>();
  /** Slots ever handed out (the SCAN range). */
  private slotEnd = 0;
  private freeSlotHead = NONE;
  private table = new Int32Array(TABLE_INITIAL);
  /**
   * Low hash byte per table entry: a probe compares it before touching the slot arrays and the
   * slab (two cache misses), so a mismatched entry costs ~1/256 of a key comparison.
   */
  private tags = new Uint8Array(TABLE_INITIAL);
  /** Live entries + tombstones in the table. */
  private tableUsed = 0;
  /**
   * While the table grows: the previous table (null otherwise), drained into `table` by
   * migrateStep from index `migratePos` upwards, and by any probe that finds its key there. A key
   * is in exactly one of the two; a moved entry leaves a tombstone, so the old chains stay whole.
   */
  private oldTable: Int32Array | null = null;
  private oldTags = new Uint8Array(0);
  private migratePos = 0;
  /** Live entries left in oldTable. */
  private oldLive = 0;
  /** Old-table positions examined by migration steps, ever (tests bound the work per operation with it). */
  migrationWork = 0;
  /** Migrations finished in one go because the new table filled first (never, by the bound above; tests check). */
  migrationsForced = 0;
  private count = 0;
  /** slot -> absolute expiry, only for keys with a TTL (like Redis's expires dict). */
  private expires = new Map<number, ExpireAtMs>();
  private sweepIter: Iterator<[number, ExpireAtMs]> | undefined;
  /** Sealed slabs waiting for compaction, head first; defragPos = walk offset in the head. */
  private defragQueue: number[] = [];
  private defragPos = 0;
  /** Per-process random hash seed: table layout (not behaviour) is unpredictable to clients. */
  private readonly seed = (0x811c_9dc5 ^ randomInt(0x7fff_ffff)) >>> 0;
  // Scratch fields filled by locate(): the decoded record header of one slot (no allocation).
  private rBuf: Buffer = Buffer.alloc(0);
  private rKeyOff = 0;
  private rKeyLen = 0;
  private rValOff = 0;
  private rValLen = 0;
  /** Whether the record last decoded by headerAt is marked dead. */
  private rDead = false;
  /** Hash of the key of the last probe (link() tags the entry it inserts with it). */
  private probeHash = 0;
  /**
   * Bumped by every change of which key is at which table index (insert, removal, a move, a new
   * table): a remembered probe (probeKey) is valid while it is unchanged.
   */
  private tableGen = 0;
  private memoKey: Key | null = null;
  private memoHash = 0;
  private memoIndex = 0;
  private memoGen = -1;
  /** Address of the record allocRecord reserved last. */
  private allocSlab = 0;
  private allocOff = 0;
  /** Sum of key + value bytes + per-key overhead: the auto-compaction baseline. */
  liveBytes = 0;
  /** The collections' part of liveBytes: held on the V8 heap, not in slabs (heldBytes counts it once). */
  objectBytes = 0;
  /** Keys removed because their expiry passed (lazy or swept). */
  expiredKeys = 0;
  /** Null: expired keys are removed here at once (recovery's and loaders' keyspaces, unit tests). */
  expiry: ExpiryHandler | null = null;
  /** Last access per slot (LRU clock or LFU counter) for the eviction policies; touched by every lookup hit. */
  readonly access = new AccessTracker(SLOTS_INITIAL);
  /** A sealed slab below this live fraction is queued for defrag (raised while evicting, see eviction.ts). */
  defragLiveFractionMin = DEFRAG_LIVE_FRACTION_MIN;
  /** Where volatileSlots() continues its walk of the expires Map. */
  private volatileIter: Iterator<number> | undefined;

  /** `limits`: the live encoding limits its collections follow (the store's, which CONFIG SET changes). */
  constructor(private readonly limits: Readonly<EncodingLimits> = REDIS_ENCODING_LIMITS) {}

  get size(): number {
    return this.count;
  }

  get slotCount(): number {
    return this.slotEnd;
  }

  /** True while the table grows: an old table is still being drained (tests and docs/storage.md). */
  get migrating(): boolean {
    return this.oldTable !== null;
  }

  get expiresCount(): number {
    return this.expires.size;
  }

  /**
   * Memory the keyspace holds: slabs (live and dead records, unfilled tails), spare slabs and
   * the slot, table and access arrays, and the collections on the V8 heap (by their estimate).
   * Minus liveBytes, it is the keyspace's fragmentation.
   */
  get heldBytes(): number {
    let n = this.objectBytes + this.slabBytes + (this.spareSlabs.length + this.coolingSlabs.length) * SLAB_BYTES;
    n += this.slotAddr.byteLength + this.table.byteLength + this.tags.byteLength + 4 * this.slotCapacity;
    if (this.oldTable !== null) n += this.oldTable.byteLength + this.oldTags.byteLength;
    return n;
  }

  /** Bytes held by slabs (live records, dead records and unfilled tails). */
  get slabBytes(): number {
    let n = 0;
    for (const b of this.slabs) if (b !== null) n += b.length;
    return n;
  }

  /**
   * Size the slot arrays and the hash table for `keys` keys (a hint: a snapshot's key count, or
   * recovery's estimate from the log's length), so a bulk load never regrows or rehashes on the
   * way. Never shrinks anything; trim() gives back what an over-estimate reserved.
   */
  reserve(keys: number): void {
    const n = Math.min(Math.max(Math.ceil(keys), SLOTS_INITIAL), KEYS_MAX);
    if (n > this.slotCapacity) this.resizeSlots(n);
    const cap = tableCapacityFor(n);
    if (cap > this.table.length) this.rebuildTable(cap);
  }

  /**
   * Give back slot-array and table capacity well beyond what the live keys need (after a load
   * sized by an estimate). Costs one rehash when it does anything.
   */
  trim(): void {
    const slots = Math.max(SLOTS_INITIAL, this.slotEnd);
    if (this.slotCapacity > slots * TRIM_SLACK_FACTOR) this.resizeSlots(slots);
    const cap = tableCapacityFor(this.count);
    if (this.table.length > cap * TRIM_SLACK_FACTOR) this.rebuildTable(cap);
  }

  // ---- mutations (the meaning of each Op)

  applyOp(op: Op): void {
    switch (op.t) {
      case 'set':
        this.put(op.key, op.value, op.expireAtMs);
        return;
      case 'del':
        this.remove(op.key);
        return;
      case 'expire': {
        const i = this.probeKey(op.key);
        if (i >= 0) this.setExpiry((this.table[i] as number) - 1, op.expireAtMs);
        return; // absolute and idempotent: a no-op on a missing key
      }
      case 'flushall':
        this.clear();
        return;
      case 'hset':
        return this.hset(op.key, op.field, op.value);
      case 'hdel':
        return this.hdel(op.key, op.field);
      case 'sadd':
        return this.sadd(op.key, op.member);
      case 'srem':
        return this.srem(op.key, op.member);
      case 'zadd':
        return this.zadd(op.key, op.member, op.score);
      case 'zrem':
        return this.zrem(op.key, op.member);
      case 'restore':
        return this.restore(op.key, op.payload, 0, op.payload.length, op.expireAtMs);
      case 'lpush':
      case 'rpush':
        return this.listPush(op.key, op.t === 'lpush', op.values.map(keyFromBytes));
      case 'lpop':
      case 'rpop':
        return this.listPop(op.key, op.t === 'lpop', op.count);
      case 'lset':
      case 'linsert':
        return this.listElement(op.t, op.key, op.index, keyFromBytes(op.value));
      case 'lrem':
        return this.listElement(op.t, op.key, op.count, keyFromBytes(op.value));
      case 'xstream':
        return this.xstream(op.key, op.body, 0, op.body.length);
      case 'acl':
        return this.setAclUsers(Buffer.from(op.users));
      case 'members':
        return this.addMemberConfig(op.config);
      case 'functions':
        return this.setFunctionLibraries(Buffer.from(op.libraries));
      default: {
        const never: never = op;
        throw new Error(`unknown op ${JSON.stringify(never)}`);
      }
    }
  }

  /** Insert or replace. The value bytes are copied (it may be a slice of a socket or log buffer). */
  put(key: Key, value: Buffer, expireAtMs: ExpireAtMs): void {
    const kLen = key.length;
    const vLen = value.length;
    const i = this.probeKey(key);
    if (i >= 0 && this.slotType.get((this.table[i] as number) - 1) !== TYPE_STRING) this.dropCollection((this.table[i] as number) - 1);
    if (i >= 0 && this.sameSizeInPlace(i, vLen, expireAtMs)) {
      this.rBuf.set(value, this.rValOff);
      return;
    }
    const p = this.allocRecord(kLen, vLen);
    const b = this.rBuf;
    if (kLen <= 32) for (let j = 0; j < kLen; j++) b[p + j] = key.charCodeAt(j);
    else b.latin1Write(key, p, kLen);
    b.set(value, p + kLen);
    this.link(i, kLen, vLen, expireAtMs);
  }

  /** put() from byte ranges (log replay, snapshot load): no key string, no value Buffer. */
  putBytes(src: Buffer, keyOff: number, keyLen: number, valOff: number, valLen: number, expireAtMs: ExpireAtMs): void {
    const i = this.probeBytes(src, keyOff, keyLen, hashBytes(this.seed, src, keyOff, keyLen));
    if (i >= 0 && this.slotType.get((this.table[i] as number) - 1) !== TYPE_STRING) this.dropCollection((this.table[i] as number) - 1);
    if (i >= 0 && this.sameSizeInPlace(i, valLen, expireAtMs)) {
      copyBytes(src, valOff, this.rBuf, this.rValOff, valLen);
      return;
    }
    const p = this.allocRecord(keyLen, valLen);
    copyBytes(src, keyOff, this.rBuf, p, keyLen);
    copyBytes(src, valOff, this.rBuf, p + keyLen, valLen);
    this.link(i, keyLen, valLen, expireAtMs);
  }

  removeBytes(src: Buffer, keyOff: number, keyLen: number): boolean {
    const i = this.probeBytes(src, keyOff, keyLen, hashBytes(this.seed, src, keyOff, keyLen));
    if (i < 0) return false;
    this.unlinkAt(i);
    return true;
  }

  expireBytes(src: Buffer, keyOff: number, keyLen: number, expireAtMs: ExpireAtMs): void {
    const i = this.probeBytes(src, keyOff, keyLen, hashBytes(this.seed, src, keyOff, keyLen));
    if (i >= 0) this.setExpiry((this.table[i] as number) - 1, expireAtMs);
  }

  remove(key: Key): boolean {
    const i = this.probeKey(key);
    if (i < 0) return false;
    this.unlinkAt(i);
    return true;
  }

  // ---- collections
  // An element op creates its key when missing. Removing the last element leaves an EMPTY
  // collection here: the command that empties a key logs a 'del' for it instead (see Op in
  // types.ts), so only logged key-level ops ever remove a key. Replay over a fuzzy snapshot may
  // empty a collection the original run never emptied (the snapshot holds elements added later);
  // dropping the key there would drop its expiry, which no later op restores.

  hset(key: Key, field: Key, value: Buffer): void {
    const slot = this.collectionSlot(key, TYPE_HASH);
    const h = this.objects.get(slot) as HashObject | string;
    if (typeof h === 'string') return this.replaceCell(slot, h, setBare(h, field, value, this.limits));
    const before = h.bytes;
    h.set(field, value);
    this.accountObject(h.bytes - before);
  }

  hdel(key: Key, field: Key): void {
    const i = this.probeKey(key);
    const h = this.collectionAt(i, TYPE_HASH) as HashObject | string | undefined;
    if (typeof h === 'string') this.replaceCell((this.table[i] as number) - 1, h, deleteBare(h, field));
    else if (h !== undefined) {
      const before = h.bytes;
      if (h.delete(field)) this.accountObject(h.bytes - before);
    }
  }

  /** Put `next` in place of the bare hash `prev` in `slot`, accounting the difference. */
  private replaceCell(slot: number, prev: string, next: HashObject | string): void {
    if (next === prev) return;
    this.objects.set(slot, next);
    this.accountObject(hashCellBytes(next) - hashCellBytes(prev));
  }

  sadd(key: Key, member: Key): void {
    this.addElement(key, TYPE_SET, (set) => (set as SetObject).add(member));
  }

  srem(key: Key, member: Key): void {
    this.removeElement(key, TYPE_SET, (set) => (set as SetObject).delete(member));
  }

  zadd(key: Key, member: Key, score: number): void {
    this.addElement(key, TYPE_ZSET, (z) => (z as SortedSet).set(member, score));
  }

  zrem(key: Key, member: Key): void {
    this.removeElement(key, TYPE_ZSET, (z) => (z as SortedSet).delete(member));
  }

  /** Change the collection of `type` at `key` (created, or replacing another type) by `add`, accounting its bytes. */
  private addElement(key: Key, type: number, add: (obj: KvCollection) => void): void {
    const slot = this.collectionSlot(key, type);
    const cell = this.objects.get(slot) as Cell;
    if (typeof cell === 'string') {
      // A bare hash (a snapshot part added to it): changed through a view, kept bare if it still fits.
      const h = hashView(cell, this.limits);
      add(h);
      return this.replaceCell(slot, cell, h.toCell());
    }
    const before = cell.bytes;
    add(cell);
    this.accountObject(cell.bytes - before);
  }

  /** Remove an element from the collection at `key` if it is of `type` (an emptied key stays; see above). */
  private removeElement(key: Key, type: number, remove: (obj: KvCollection) => boolean): void {
    const obj = this.collectionAt(this.probeKey(key), type);
    if (obj === undefined) return;
    assert(typeof obj !== 'string', 'a bare hash changes through hdel');
    const before = obj.bytes;
    if (remove(obj)) this.accountObject(obj.bytes - before);
  }

  // ---- list stamps
  // List ops are positional (a second LPOP of the same entry would drop another element), so a
  // list applies an entry at most once: each list keeps the seq of the last entry applied to it
  // (`appliedSeq`, kept in snapshots and full-resync items), and an op of an entry the list
  // already reflects is skipped. A fuzzy snapshot's item of a list is exact at its stamp (the walk
  // copies a key between entries, and every entry touching the list after the stamp comes later),
  // so replaying the log after the snapshot position over it applies exactly the entries after
  // the stamp. Key-level ops (del, set, restore, flushall) are absolute and always applied: after
  // one, the key's later list ops all follow in the log and replay from there. `appliedMark`
  // tells the entry being applied apart from an earlier apply of the same seq (an entry may hold
  // several ops on one list: LMOVE of a list onto itself, LTRIM's two ends).

  /** Seq of the entry being applied (0: none, e.g. a test applying bare ops: no list op is skipped). */
  private entrySeq = 0;
  private entryMark = 0;

  /** The ops that follow belong to the log entry at `seq` (every apply path calls this per entry). */
  beginEntry(seq: number): void {
    this.entrySeq = seq;
    this.entryMark++;
  }

  /** Whether `list` takes an op of the entry being applied (and stamp it): false when it already holds that entry. */
  private takes(list: { appliedSeq: number; appliedMark: number }): boolean {
    const seq = this.entrySeq;
    if (seq === 0) return true;
    if (list.appliedSeq > seq || (list.appliedSeq === seq && list.appliedMark !== this.entryMark)) return false;
    list.appliedSeq = seq;
    list.appliedMark = this.entryMark;
    return true;
  }

  /** Push `values` in order at the head or tail of the list at `key` (created, or replacing another type). */
  listPush(key: Key, head: boolean, values: readonly Key[]): void {
    const list = this.objects.get(this.collectionSlot(key, TYPE_LIST)) as ListObject;
    if (!this.takes(list)) return;
    const before = list.bytes;
    for (const v of values) {
      if (head) list.pushHead(v);
      else list.pushTail(v);
    }
    this.accountObject(list.bytes - before);
  }

  listPop(key: Key, head: boolean, count: number): void {
    this.changeList(key, (list) => (head ? list.dropHead(count) : list.dropTail(count)));
  }

  /** lset / linsert (n = index) or lrem (n = count) on the list at `key`; a no-op when it is not a list. */
  listElement(t: 'lset' | 'linsert' | 'lrem', key: Key, n: number, value: Key): void {
    this.changeList(key, (list) => {
      if (t === 'lset') list.set(n, value);
      else if (t === 'linsert') list.insert(n, value);
      else list.remove(value, n);
    });
  }

  /** Change the list at `key` if there is one and it takes the entry (an emptied list stays, as removeElement). */
  private changeList(key: Key, change: (list: ListObject) => void): void {
    const list = this.collectionAt(this.probeKey(key), TYPE_LIST) as ListObject | undefined;
    if (list === undefined || !this.takes(list)) return;
    const before = list.bytes;
    change(list);
    this.accountObject(list.bytes - before);
  }

  /** A stream command's effects (checked by the record's check, or our own encoder) on the stream at `key` (created, or replacing another type). */
  xstream(key: Key, src: Buffer, off: number, len: number): void {
    const s = this.objects.get(this.collectionSlot(key, TYPE_STREAM)) as StreamObject;
    if (!this.takes(s)) return;
    const before = s.bytes;
    applyEffects(s, decodeEffects(src, off, len));
    this.accountObject(s.bytes - before);
  }

  /**
   * A snapshot's or full resync's item (restore() as a load): a list keeps the stamp its payload
   * carries, where a logged 'restore' stamps it with its own entry.
   */
  loadObject(key: Key, src: Buffer, off: number, len: number, expireAtMs: ExpireAtMs): void {
    this.restore(key, src, off, len, expireAtMs, true);
  }

  /**
   * Replace `key` with the value serialized in `src[off, off + len)` (checked by the caller: a log
   * record's check, or our own encoder). A part (a snapshot's later chunk of a big collection) adds
   * its members instead, as element ops would, and leaves the expiry alone.
   */
  restore(key: Key, src: Buffer, off: number, len: number, expireAtMs: ExpireAtMs, load = false): void {
    if (isPartPayload(src, off)) return this.addElement(key, payloadType(src, off), (obj) => addMembers(src, off, len, obj));
    const d = decodeObject(src, off, len, this.limits);
    if (typeof d === 'string') assert.fail(`restore of an unchecked payload: ${d}`);
    if (!('obj' in d)) return this.put(key, d.value, expireAtMs);
    if ((d.obj instanceof ListObject || d.obj instanceof StreamObject) && !load) {
      d.obj.appliedSeq = this.entrySeq;
      d.obj.appliedMark = this.entryMark;
    }
    const slot = this.collectionSlot(key, d.type);
    const cell = d.obj instanceof HashObject ? d.obj.toCell() : d.obj;
    this.accountObject(cellBytes(cell) - cellBytes(this.objects.get(slot) as Cell));
    this.objects.set(slot, cell);
    this.setExpiry(slot, expireAtMs);
  }

  /**
   * The slot of `key` holding a collection of `type`: the existing one, or a new key (no
   * expiry) that replaces a key of another type (log replay over a fuzzy snapshot only:
   * commands refuse WRONGTYPE before they log).
   */
  private collectionSlot(key: Key, type: number): number {
    const i = this.probeKey(key);
    let slot: number;
    if (i >= 0) {
      slot = (this.table[i] as number) - 1;
      if (this.slotType.get(slot) === type) return slot;
      this.dropCollection(slot);
      this.locate(slot);
      if (this.rValLen === 0) this.setExpiry(slot, 0); // the record already is the key alone
      else slot = this.writeKeyRecord(key, i);
    } else slot = this.writeKeyRecord(key, i);
    const cell = newCell(type, this.limits);
    this.slotType.set(slot, type);
    this.objects.set(slot, cell);
    this.accountObject(cellBytes(cell));
    return slot;
  }

  /** A record of `key` with an empty value at probe result `i` (no expiry); returns its slot. */
  private writeKeyRecord(key: Key, i: number): number {
    const p = this.allocRecord(key.length, 0);
    this.rBuf.latin1Write(key, p, key.length);
    return this.link(i, key.length, 0, 0);
  }

  /** The cell at probe result `i` if it is of `type` (a bare hash's string: not a view to change). */
  private collectionAt(i: number, type: number): Cell | undefined {
    if (i < 0) return undefined;
    const slot = (this.table[i] as number) - 1;
    return this.slotType.get(slot) === type ? this.objects.get(slot) : undefined;
  }

  /** A collection's estimate changed by `delta` bytes: it is live data, held on the V8 heap. */
  private accountObject(delta: number): void {
    this.liveBytes += delta;
    this.objectBytes += delta;
  }

  /** Make `slot` a string slot again, dropping its collection (the record stays). */
  private dropCollection(slot: number): void {
    const cell = this.objects.get(slot);
    if (cell === undefined) return;
    this.accountObject(-cellBytes(cell));
    this.objects.set(slot, undefined);
    this.slotType.set(slot, TYPE_STRING);
  }

  /** The user table the log last set (an 'acl' op), or null when none ever was. FLUSHALL keeps it. */
  get aclUsers(): Buffer | null {
    return this.acl;
  }

  setAclUsers(users: Buffer): void {
    this.acl = users;
  }

  /** The function library table the log last set (a 'functions' op), or null when none ever was. FLUSHALL keeps it. */
  get functionLibraries(): Buffer | null {
    return this.functions;
  }

  setFunctionLibraries(libraries: Buffer): void {
    this.functions = libraries;
  }

  /**
   * The membership configurations the log set ('members' ops), each with its entry's seq, oldest
   * first, the newest CONFIGS_KEPT. Not a keyspace change: FLUSHALL keeps them.
   */
  get memberConfigs(): readonly ConfigAt[] {
    return this.configs;
  }

  /** Replace the list (a snapshot's, or a full resync's source's; memberConfigsFault accepts it). */
  setMemberConfigs(configs: readonly ConfigAt[]): void {
    const fault = memberConfigsFault(configs, Number.MAX_SAFE_INTEGER);
    assert(fault === null, `bad configuration list: ${fault ?? ''}`);
    this.configs = configs.slice();
  }

  /**
   * A 'members' op of the entry being applied (beginEntry): its configuration joins the list.
   * The bytes were checked (record codec, or the writer's assert); one the list already holds
   * at this seq or later is replaced, so applying an entry again leaves the list as once.
   */
  addMemberConfig(bytes: Buffer): void {
    const seq = this.entrySeq;
    assert(seq > 0, 'a membership configuration belongs to a log entry');
    const config = decodeMemberConfig(bytes);
    assert(config !== null, 'a checked members op decodes');
    this.configs = withConfig(
      this.configs.filter((c) => c.seq < seq),
      { seq, config },
    );
  }

  clear(): void {
    // Collections go with their references (the GC frees them; nothing here walks their elements).
    this.slotType = new SlotBytes(SLOTS_INITIAL);
    this.objects = new SlotObjects();
    this.slabs = [];
    this.slabUsed = [];
    this.slabLive = [];
    this.slabState = [];
    this.freeSlabIds = [];
    this.spareSlabs = [];
    this.coolingSlabs = [];
    this.cur = -1;
    this.slotAddr = new SlotAddresses(SLOTS_INITIAL);
    this.access.resize(SLOTS_INITIAL);
    this.volatileIter = undefined;
    this.slotEnd = 0;
    this.freeSlotHead = NONE;
    this.tableGen++;
    this.table = new Int32Array(TABLE_INITIAL);
    this.tags = new Uint8Array(TABLE_INITIAL);
    this.tableUsed = 0;
    this.oldLive = 0; // the old table's keys go with everything else
    this.endMigration();
    this.count = 0;
    this.expires = new Map();
    this.sweepIter = undefined;
    this.defragQueue = [];
    this.defragPos = 0;
    this.rBuf = Buffer.alloc(0);
    this.liveBytes = 0;
    this.objectBytes = 0;
  }

  // ---- reads (lazy expiry: an expired key behaves as missing and is removed locally)

  /** Slot of a live, unexpired key, or -1 (an expired key is removed on the way). */
  private liveSlot(key: Key, now: number): number {
    return this.liveAt(this.probeKey(key), now);
  }

  /** Slot at probe result `i` if it is a live, unexpired key, or -1 (an expired key is removed). */
  private liveAt(i: number, now: number): number {
    if (i < 0) return -1;
    const s = (this.table[i] as number) - 1;
    if (this.expires.size > 0) {
      const at = this.expires.get(s);
      if (at !== undefined && at <= now) {
        this.expireFound(s, i);
        return -1;
      }
    }
    this.access.touch(s);
    return s;
  }

  /**
   * `slot` (at table index `i`, or -1 if unknown) holds an expired key: remove it, or have the
   * handler log its delete, or leave it hidden when the handler may not delete now.
   */
  private expireFound(slot: number, i: number): void {
    const h = this.expiry;
    if (h === null) {
      if (i >= 0) this.unlinkAt(i);
      else this.removeSlot(slot);
      this.expiredKeys++;
      return;
    }
    if (!h.mayDelete()) return;
    const key = this.keyAt(slot);
    if (h.deleteExpired(key)) {
      assert(this.slotAddr.slab(slot) === FREE, 'an expired key survived its logged delete');
      this.expiredKeys++;
    }
  }

  /**
   * The value as a view of its slab (no copy), valid until the next write of this key (a
   * same-size SET overwrites in place); callers must not mutate or keep it.
   */
  getStored(key: Key, now: number): Buffer | undefined {
    const s = this.liveSlot(key, now);
    if (s < 0 || this.slotType.get(s) !== TYPE_STRING) return undefined;
    this.locate(s);
    return this.rBuf.subarray(this.rValOff, this.rValOff + this.rValLen);
  }

  /**
   * The GET hot path: look the key up by its bytes (no key string is built) and hand the value
   * to `sink` as a byte range of its slab (no view object is made). The range is valid only during
   * the call. False, without calling `sink`, when the key is missing or expired (then removed).
   */
  readValueBytes(key: Buffer, now: number, sink: ValueSink): boolean {
    const n = key.length;
    const s = this.liveAt(this.probeBytes(key, 0, n, hashBytes(this.seed, key, 0, n)), now);
    if (s < 0 || this.slotType.get(s) !== TYPE_STRING) return false;
    this.locate(s);
    sink.bulkRange(this.rBuf, this.rValOff, this.rValLen);
    return true;
  }

  has(key: Key, now: number): boolean {
    return this.liveSlot(key, now) >= 0;
  }

  /**
   * Whether the key with these bytes is in the table at all (expired or not; no side effect): a
   * replica's 'new' keyspace event, which Redis emits when an applied write adds the key.
   */
  holdsKeyBytes(src: Buffer, off: number, len: number): boolean {
    return this.probeBytes(src, off, len, hashBytes(this.seed, src, off, len)) >= 0;
  }

  /** Type code of a live key, or -1 when missing or expired. */
  typeOf(key: Key, now: number): number {
    const s = this.liveSlot(key, now);
    return s < 0 ? -1 : this.slotType.get(s);
  }

  /** The collection of a live key of type `type`, else undefined (missing, expired, or another type). */
  collectionOf(key: Key, type: number, now: number): KvCollection | undefined {
    const s = this.liveSlot(key, now);
    return s >= 0 && this.slotType.get(s) === type ? this.objectAt(s) : undefined;
  }

  /**
   * The collection in `slot` (undefined for a string or a free slot): the snapshot writer's read.
   * A bare hash gets a new view per call (the same object only for a collection held as one).
   */
  objectAt(slot: number): KvCollection | undefined {
    const cell = this.objects.get(slot);
    return typeof cell === 'string' ? hashView(cell, this.limits) : cell;
  }

  /** Estimated bytes of a live key (MEMORY USAGE): key, value or contents, bookkeeping. */
  memoryUsage(key: Key, now: number): number | undefined {
    const s = this.liveSlot(key, now);
    if (s < 0) return undefined;
    this.locate(s);
    const cell = this.objects.get(s);
    return this.rKeyLen + this.rValLen + KEY_OVERHEAD_BYTES + (cell === undefined ? 0 : cellBytes(cell));
  }

  /** 0 = no expiry; undefined = missing or expired. */
  getExpireAt(key: Key, now: number): ExpireAtMs | undefined {
    const s = this.liveSlot(key, now);
    if (s < 0) return undefined;
    return this.expires.get(s) ?? 0;
  }

  /** Fill `view` with the record in `slot` (no expiry check, no side effect); false if the slot is free. */
  readSlot(slot: number, view: SlotView): boolean {
    if (slot >= this.slotEnd || this.slotAddr.slab(slot) === FREE) return false;
    this.locate(slot);
    view.buf = this.rBuf;
    view.keyOff = this.rKeyOff;
    view.keyLen = this.rKeyLen;
    view.valOff = this.rValOff;
    view.valLen = this.rValLen;
    view.expireAtMs = this.expires.get(slot) ?? 0;
    view.type = this.slotType.get(slot);
    return true;
  }

  /**
   * Raw read with owned copies (full-resync export, which keeps items across turns): a string's
   * value, or a collection serialized whole (object-codec.ts).
   */
  slotAt(slot: number): { key: Key; type: number; value: Buffer; expireAtMs: ExpireAtMs } | undefined {
    if (slot >= this.slotEnd || this.slotAddr.slab(slot) === FREE) return undefined;
    this.locate(slot);
    const b = this.rBuf;
    const key = b.latin1Slice(this.rKeyOff, this.rKeyOff + this.rKeyLen);
    const type = this.slotType.get(slot);
    const obj = this.objectAt(slot);
    let value: Buffer;
    if (obj !== undefined) value = encodeCollection(type, obj);
    else {
      value = Buffer.allocUnsafe(this.rValLen);
      b.copy(value, 0, this.rValOff, this.rValOff + this.rValLen);
    }
    return { key, type, value, expireAtMs: this.expires.get(slot) ?? 0 };
  }

  private keyAt(slot: number): Key {
    this.locate(slot);
    return this.rBuf.latin1Slice(this.rKeyOff, this.rKeyOff + this.rKeyLen);
  }

  /** True if `slot` holds a key whose expiry passed (then removed, or hidden: see expireFound). */
  private expiredSlot(slot: number, now: number): boolean {
    if (this.expires.size === 0) return false;
    const at = this.expires.get(slot);
    if (at === undefined || at > now) return false;
    this.expireFound(slot, -1);
    return true;
  }

  /**
   * A random live key (RANDOMKEY), or undefined when there is none: up to RANDOM_KEY_TRIES_MAX
   * random slots, then a walk over the slot range from a random slot (reached only when most
   * slots are free or expired). Expired keys met on the way are handled as reads handle them.
   */
  randomKey(now: number): Key | undefined {
    const end = this.slotEnd;
    if (this.count === 0 || end === 0) return undefined;
    for (let t = 0; t < RANDOM_KEY_TRIES_MAX; t++) {
      const s = Math.floor(Math.random() * end);
      if (this.slotAddr.slab(s) !== FREE && !this.expiredSlot(s, now)) return this.keyAt(s);
    }
    const from = Math.floor(Math.random() * end);
    for (let n = 0; n < end; n++) {
      const s = (from + n) % end;
      if (this.slotAddr.slab(s) !== FREE && !this.expiredSlot(s, now)) return this.keyAt(s);
    }
    return undefined;
  }

  *keys(now: number): IterableIterator<Key> {
    for (let s = 0; s < this.slotEnd; s++) {
      if (this.slotAddr.slab(s) === FREE || this.expiredSlot(s, now)) continue;
      yield this.keyAt(s);
    }
  }

  /**
   * One SCAN step from `cursor` (a slot index): examines `count` slots, returns the live
   * matching keys and the next cursor (0 = done).
   */
  scan(cursor: number, count: number, now: number, match?: string): { next: number; keys: Key[] } {
    const keys: Key[] = [];
    const n = Math.max(1, Math.min(count, SCAN_SLOTS_PER_CALL_MAX));
    let i = cursor;
    const end = Math.min(this.slotEnd, cursor + n);
    for (; i < end; i++) {
      if (this.slotAddr.slab(i) === FREE || this.expiredSlot(i, now)) continue;
      const key = this.keyAt(i);
      if (match === undefined || globMatch(match, key)) keys.push(key);
    }
    return { next: i >= this.slotEnd ? 0 : i, keys };
  }

  /**
   * Active expiry (like Redis activeExpireCycle): walk the expires Map round-robin with a
   * persistent iterator, removing due keys, bounded by EXPIRE_SWEEP_KEYS_MAX and a time budget.
   * `clock` is read every 64 keys to check the budget. Then one bounded defrag step, so an idle
   * store still returns dead slab space. Returns the number of keys removed. With a handler
   * that may not delete now (a replica) nothing is examined: the writer's deletes will come.
   */
  sweep(now: number, clock: () => number): number {
    const startMs = clock();
    for (let b = this.coolingSlabs.pop(); b !== undefined; b = this.coolingSlabs.pop()) this.spareSlabs.push(b);
    let removed = 0;
    const examineMax = this.expiry === null || this.expiry.mayDelete() ? EXPIRE_SWEEP_KEYS_MAX : 0;
    for (let examined = 0; examined < examineMax && this.expires.size > 0; examined++) {
      if (this.sweepIter === undefined) this.sweepIter = this.expires.entries();
      const r = this.sweepIter.next();
      if (r.done === true) {
        this.sweepIter = undefined;
        break; // one full lap per call at most
      }
      const [slot, at] = r.value;
      // Deleting the current entry of a Map iterator is safe in JS (iteration continues).
      let deleted = false;
      if (at <= now && this.slotAddr.slab(slot) !== FREE) {
        const before = this.expiredKeys;
        this.expireFound(slot, -1);
        deleted = this.expiredKeys !== before;
        if (deleted) removed++;
      }
      // A delete costs a log record (and a replication step): check the budget after each one.
      if (((examined & 63) === 63 || deleted) && clock() - startMs >= EXPIRE_SWEEP_MS_MAX) break;
    }
    this.defragStep(DEFRAG_WALK_BYTES_PER_SWEEP);
    this.migrateIdle(clock);
    return removed;
  }

  // ---- eviction support (eviction.ts samples slots through these; deletes go through the log)

  /** Slot of a live, unexpired key without counting a lookup (OBJECT FREQ/IDLETIME), or -1. */
  peekSlot(key: Key, now: number): number {
    const i = this.probeKey(key);
    if (i < 0) return -1;
    const s = (this.table[i] as number) - 1;
    const at = this.expires.get(s);
    return at !== undefined && at <= now ? -1 : s;
  }

  /** True if `slot` holds a key (expired or not). */
  isLiveSlot(slot: number): boolean {
    return slot < this.slotEnd && this.slotAddr.slab(slot) !== FREE;
  }

  /** The key in a live `slot`. */
  keyAtSlot(slot: number): Key {
    return this.keyAt(slot);
  }

  /** Absolute expiry of the key in `slot`, 0 = none. */
  expireAtSlot(slot: number): ExpireAtMs {
    return this.expires.get(slot) ?? 0;
  }

  /**
   * Up to `n` slots of keys with a TTL into `out`, continuing a round-robin walk of the expires
   * Map (one lap at most per call). Returns how many it wrote.
   */
  volatileSlots(n: number, out: number[]): number {
    const want = Math.min(n, this.expires.size);
    let got = 0;
    for (let lap = 0; got < want && lap < 2; ) {
      if (this.volatileIter === undefined) this.volatileIter = this.expires.keys();
      const r = this.volatileIter.next();
      if (r.done === true) {
        this.volatileIter = undefined;
        lap++;
        continue;
      }
      out[got++] = r.value;
    }
    return got;
  }

  /** Defrag work on queued slabs, bounded by `walkBytesMax` slab bytes (the evictor pays for what it killed). */
  reclaim(walkBytesMax: number): void {
    this.defragStep(walkBytesMax);
  }

  /**
   * Walk every structure and assert they agree (O(n); tests call it after each step): slot
   * count, free list, table entries and tags, per-slab live bytes, defrag queue.
   */
  verify(): void {
    let live = 0;
    let liveBytes = 0;
    let objectBytes = 0;
    const slabSum = new Map<number, number>();
    for (let s = 0; s < this.slotEnd; s++) {
      if (this.slotAddr.slab(s) === FREE) continue;
      live++;
      const id = this.slotAddr.slab(s);
      assert(this.slabs[id] !== null && this.slabs[id] !== undefined, `slot ${s} points at released slab ${id}`);
      const size = this.headerAt(this.slabs[id] as Buffer, this.slotAddr.offset(s));
      assert(!this.rDead, `slot ${s} points at a record marked dead`);
      assert(this.slotAddr.offset(s) + size <= (this.slabUsed[id] as number), `slot ${s} runs past its slab's fill`);
      slabSum.set(id, (slabSum.get(id) ?? 0) + size);
      // The lookups below decode other records into the scratch fields: keep this one's.
      const b = this.rBuf;
      const kOff = this.rKeyOff;
      const kLen = this.rKeyLen;
      const vLen = this.rValLen;
      const h = hashBytes(this.seed, b, kOff, kLen);
      // Found in exactly one table (no probe: it would move the key and advance the migration).
      const i = this.findBytes(this.table, this.tags, b, kOff, kLen, h);
      const old = this.oldTable;
      const j = old === null ? -1 : this.findBytes(old, this.oldTags, b, kOff, kLen, h);
      const inNew = i >= 0 && this.table[i] === s + 1 && this.tags[i] === (h & 0xff);
      const inOld = old !== null && j >= 0 && old[j] === s + 1 && this.oldTags[j] === (h & 0xff);
      assert(inNew !== inOld && (i < 0 || j < 0), `slot ${s} not reachable through exactly one table`);
      const objBytes = this.verifyType(s, vLen);
      objectBytes += objBytes;
      liveBytes += kLen + vLen + KEY_OVERHEAD_BYTES + objBytes;
    }
    assert.equal(live, this.count, 'live slots != count');
    assert.equal(liveBytes, this.liveBytes, 'liveBytes != the sum over live keys');
    assert.equal(objectBytes, this.objectBytes, 'objectBytes != the sum over live collections');
    for (let s = this.slotEnd; s < this.objects.coveredSlots; s++) assert.equal(this.objects.get(s), undefined, `object beyond the slots at ${s}`);
    let free = 0;
    for (let f = this.freeSlotHead; f !== NONE; f = this.slotAddr.offset(f)) {
      assert(this.slotAddr.slab(f) === FREE && free <= this.slotEnd, 'free list broken');
      free++;
    }
    assert.equal(free + live, this.slotEnd, 'free + live slots != slots handed out');
    for (let f = this.freeSlotHead; f !== NONE; f = this.slotAddr.offset(f)) {
      assert(this.slotType.get(f) === TYPE_STRING && this.objects.get(f) === undefined, `free slot ${f} keeps a type or an object`);
    }
    let entries = 0;
    let tombs = 0;
    for (const e of this.table) {
      if (e === TOMBSTONE) tombs++;
      else if (e !== 0) entries++;
    }
    let oldEntries = 0;
    if (this.oldTable !== null) {
      for (let p = 0; p < this.oldTable.length; p++) {
        if ((this.oldTable[p] as number) <= 0) continue;
        assert(p >= this.migratePos, `old table entry ${p} below the migration position`);
        oldEntries++;
      }
      assert(this.oldLive > 0, 'a migration with nothing left to move is still open');
    }
    assert.equal(oldEntries, this.oldLive, 'oldLive out of sync');
    assert.equal(entries + oldEntries, this.count, 'table entries != count');
    assert.equal(entries + tombs, this.tableUsed, 'tableUsed out of sync');
    assert(this.tableUsed * TABLE_LOAD_DEN <= this.table.length * TABLE_LOAD_NUM, 'table over its load');
    for (let id = 0; id < this.slabs.length; id++) {
      if (this.slabs[id] === null) {
        assert.equal(this.slabState[id], RELEASED);
        continue;
      }
      assert.equal(this.slabLive[id], slabSum.get(id) ?? 0, `slab ${id} live bytes`);
      // Walking the slab, the records not marked dead are exactly the live ones.
      let unmarked = 0;
      for (let p = 0; p < (this.slabUsed[id] as number); ) {
        const size = this.headerAt(this.slabs[id] as Buffer, p);
        if (!this.rDead) unmarked += size;
        p += size;
      }
      assert.equal(unmarked, this.slabLive[id], `slab ${id} dead flags disagree with its live bytes`);
      assert.equal(this.slabState[id] === QUEUED, this.defragQueue.includes(id), `slab ${id} queue state`);
      if (this.slabState[id] === FILLING) assert.equal(id, this.cur, 'only the current slab is filling');
    }
  }

  /** Check slot `s`'s type byte against its object and record; returns the object's bytes. */
  private verifyType(s: number, valLen: number): number {
    const type = this.slotType.get(s);
    const obj = this.objects.get(s);
    assert(type < TYPE_CODES, `slot ${s} has type code ${type}`);
    if (type === TYPE_STRING) {
      assert.equal(obj, undefined, `string slot ${s} holds an object`);
      return 0;
    }
    if (typeof obj === 'string') assert(type === TYPE_HASH && obj.length <= HASH_BARE_BYTES_MAX, `slot ${s} of type ${type} holds a ${obj.length}-byte bare hash`);
    else if (type === TYPE_HASH) assert(obj instanceof HashObject, `hash slot ${s} holds ${String(obj?.constructor.name)}`);
    else assert(obj !== undefined && newCell(type, this.limits).constructor === obj.constructor, `slot ${s} of type ${type} holds ${String(obj?.constructor.name)}`);
    assert.equal(valLen, 0, `collection slot ${s} has a record value`);
    return cellBytes(obj);
  }

  // ---- record storage

  /** Decode the header of the record in `slot` into the scratch fields. */
  private locate(slot: number): void {
    const b = this.slabs[this.slotAddr.slab(slot)] as Buffer;
    this.headerAt(b, this.slotAddr.offset(slot));
  }

  /** Decode the record header at `p` of slab `b` into the scratch fields; returns the record size. */
  private headerAt(b: Buffer, p: number): number {
    const start = p;
    // First varint = keyLen * 2 + dead flag (the flag is bit 0 of the record's first byte).
    let k2 = b[p++] as number;
    if (k2 >= 0x80) {
      k2 &= 0x7f;
      for (let mul = 0x80; ; mul *= 0x80) {
        const c = b[p++] as number;
        k2 += (c & 0x7f) * mul;
        if (c < 0x80) break;
      }
    }
    this.rDead = (k2 & 1) === 1;
    const kLen = Math.floor(k2 / 2);
    let vLen = b[p++] as number;
    if (vLen >= 0x80) {
      vLen &= 0x7f;
      for (let mul = 0x80; ; mul *= 0x80) {
        const c = b[p++] as number;
        vLen += (c & 0x7f) * mul;
        if (c < 0x80) break;
      }
    }
    this.rBuf = b;
    this.rKeyOff = p;
    this.rKeyLen = kLen;
    this.rValOff = p + kLen;
    this.rValLen = vLen;
    return p + kLen + vLen - start;
  }

  /**
   * Reserve a record and write its header; rBuf is left at its slab, allocSlab/allocOff at its
   * address. Returns the key offset: the caller writes key then value bytes and calls link().
   */
  private allocRecord(kLen: number, vLen: number): number {
    const size = varintBytes(kLen * 2) + varintBytes(vLen) + kLen + vLen;
    let id: number;
    let off: number;
    if (size > DEDICATED_RECORD_BYTES_MIN) {
      id = this.newSlab(Buffer.allocUnsafeSlow(size), DEDICATED);
      off = 0;
    } else {
      if (this.cur < 0 || (this.slabUsed[this.cur] as number) + size > SLAB_BYTES) this.openSlab();
      id = this.cur;
      off = this.slabUsed[id] as number;
    }
    this.slabUsed[id] = off + size;
    this.slabLive[id] = (this.slabLive[id] as number) + size;
    const b = this.slabs[id] as Buffer;
    let p = writeVarint(b, off, kLen * 2); // dead flag clear
    p = writeVarint(b, p, vLen);
    this.rBuf = b;
    this.allocSlab = id;
    this.allocOff = off;
    return p;
  }

  /**
   * Point table entry `i` (from a probe: >= 0 = existing key, < 0 = -1 - insert position) at the
   * record just written by allocRecord. Pays for defrag in proportion to the bytes written.
   */
  private link(i: number, kLen: number, vLen: number, expireAtMs: ExpireAtMs): number {
    let slot: number;
    if (i >= 0) {
      slot = (this.table[i] as number) - 1;
      this.locate(slot);
      this.liveBytes += vLen - this.rValLen;
      this.killRecord(slot);
      this.access.touch(slot);
    } else {
      if (this.count >= KEYS_MAX) assert.fail(`more than ${KEYS_MAX} keys`);
      slot = this.newSlot();
      this.access.born(slot);
      // Address first: rebuildTable below rehashes every slot from its record.
      this.slotAddr.set(slot, this.allocSlab, this.allocOff);
      const pos = -1 - i;
      this.tableGen++;
      if (this.table[pos] === 0) this.tableUsed++;
      this.table[pos] = slot + 1;
      this.tags[pos] = this.probeHash & 0xff;
      this.count++;
      this.liveBytes += kLen + vLen + KEY_OVERHEAD_BYTES;
      if (this.tableUsed * TABLE_LOAD_DEN > this.table.length * TABLE_LOAD_NUM) this.grow();
    }
    this.slotAddr.set(slot, this.allocSlab, this.allocOff);
    // Skip the expires lookup when no key has a TTL (the common bulk-load case).
    if (expireAtMs === 0) {
      if (this.expires.size > 0) this.expires.delete(slot);
    } else this.expires.set(slot, expireAtMs);
    if (this.defragQueue.length > 0) this.defragStep(DEFRAG_WALK_BYTES_PER_WRITTEN_BYTE * (kLen + vLen + 2));
    return slot;
  }

  /**
   * A value replaced by one of the same size is overwritten in place (no garbage, no defrag
   * work: the common fixed-size-value workload). Only in shared slabs: a dedicated buffer may be
   * held by a getValue caller, which the contract lets keep it. True = the caller now writes the
   * new value at rBuf[rValOff..] (the expiry is already set).
   */
  private sameSizeInPlace(i: number, vLen: number, expireAtMs: ExpireAtMs): boolean {
    const slot = (this.table[i] as number) - 1;
    this.locate(slot);
    if (this.rValLen !== vLen || this.slabState[this.slotAddr.slab(slot)] === DEDICATED) return false;
    this.access.touch(slot);
    if (expireAtMs === 0) {
      if (this.expires.size > 0) this.expires.delete(slot);
    } else this.expires.set(slot, expireAtMs);
    return true;
  }

  private setExpiry(slot: number, expireAtMs: ExpireAtMs): void {
    if (expireAtMs === 0) this.expires.delete(slot);
    else this.expires.set(slot, expireAtMs);
  }

  /** Remove the key at table index `i`. */
  private unlinkAt(i: number): void {
    const slot = (this.table[i] as number) - 1;
    this.tableGen++;
    // A tombstone is only needed if a probe chain may run through this entry.
    if (this.table[i + 1 === this.table.length ? 0 : i + 1] === 0) {
      this.table[i] = 0;
      this.tableUsed--;
    } else this.table[i] = TOMBSTONE;
    this.count--;
    this.dropCollection(slot);
    this.locate(slot);
    this.liveBytes -= this.rKeyLen + this.rValLen + KEY_OVERHEAD_BYTES;
    this.killRecord(slot);
    this.expires.delete(slot);
    this.slotAddr.set(slot, FREE, this.freeSlotHead);
    this.freeSlotHead = slot;
  }

  private removeSlot(slot: number): void {
    this.locate(slot);
    const b = this.rBuf;
    const i = this.probeBytes(b, this.rKeyOff, this.rKeyLen, hashBytes(this.seed, b, this.rKeyOff, this.rKeyLen));
    assert(i >= 0 && this.table[i] === slot + 1, 'hash table out of sync with slots');
    this.unlinkAt(i);
  }

  /** Account the record currently in `slot` as dead in its slab. */
  private killRecord(slot: number): void {
    const id = this.slotAddr.slab(slot);
    const b = this.slabs[id] as Buffer;
    const off = this.slotAddr.offset(slot);
    const size = this.headerAt(b, off);
    assert(!this.rDead, 'record killed twice');
    // Mark it dead in place (header only: key and value bytes, which views may show, stay as
    // they are), so the defrag walk skips it without a hash lookup.
    b[off] = (b[off] as number) | 1;
    const live = (this.slabLive[id] as number) - size;
    assert(live >= 0, 'slab live bytes went negative');
    this.slabLive[id] = live;
    const state = this.slabState[id];
    if (live === 0 && state !== FILLING) this.releaseSlab(id);
    else if (state === SEALED && live < SLAB_BYTES * this.defragLiveFractionMin) {
      this.slabState[id] = QUEUED;
      this.defragQueue.push(id);
    }
  }

  private newSlot(): number {
    if (this.freeSlotHead !== NONE) {
      const s = this.freeSlotHead;
      this.freeSlotHead = this.slotAddr.offset(s);
      return s;
    }
    if (this.slotEnd === this.slotCapacity) this.resizeSlots(Math.min(nextSlotCapacity(this.slotCapacity), KEYS_MAX));
    return this.slotEnd++;
  }

  private get slotCapacity(): number {
    return this.slotAddr.capacity;
  }

  private resizeSlots(n: number): void {
    assert(n >= this.slotEnd, 'slot arrays cannot drop handed-out slots');
    this.slotAddr.resize(n);
    this.access.resize(n);
    this.slotType.resize(n);
  }

  private newSlab(b: Buffer, state: number): number {
    const id = this.freeSlabIds.length > 0 ? (this.freeSlabIds.pop() as number) : this.slabs.length;
    this.slabs[id] = b;
    this.slabUsed[id] = 0;
    this.slabLive[id] = 0;
    this.slabState[id] = state;
    return id;
  }

  /** Seal the filling slab (queue it if already mostly dead) and open a fresh one. */
  private openSlab(): void {
    const old = this.cur;
    if (old >= 0) {
      const live = this.slabLive[old] as number;
      if (live === 0) this.releaseSlab(old);
      else if (live < SLAB_BYTES * this.defragLiveFractionMin) {
        this.slabState[old] = QUEUED;
        this.defragQueue.push(old);
      } else this.slabState[old] = SEALED;
    }
    // allocUnsafeSlow: never zero-filled, so an unfilled tail costs no RSS until written.
    this.cur = -1; // newSlab may reuse `old`'s id
    this.cur = this.newSlab(this.spareSlabs.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES), FILLING);
  }

  private releaseSlab(id: number): void {
    if (this.slabState[id] === QUEUED) {
      const q = this.defragQueue.indexOf(id);
      assert(q >= 0, 'queued slab missing from the defrag queue');
      this.defragQueue.splice(q, 1);
      if (q === 0) this.defragPos = 0;
    }
    const b = this.slabs[id] as Buffer;
    // Only shared slabs are reused: a dedicated buffer may still be held by a getValue caller.
    if (this.slabState[id] !== DEDICATED && this.spareSlabs.length + this.coolingSlabs.length < SPARE_SLABS_MAX) this.coolingSlabs.push(b);
    this.slabs[id] = null;
    this.slabState[id] = RELEASED;
    this.freeSlabIds.push(id);
  }

  /**
   * Compact queued slabs: walk records from the head slab, move the live ones to the filling
   * slab, release the slab when nothing live is left. Bounded by `walkBytesMax` slab bytes.
   * A record is live iff the key's slot still points at exactly this slab and offset.
   */
  private defragStep(walkBytesMax: number): void {
    let budget = walkBytesMax;
    while (budget > 0 && this.defragQueue.length > 0) {
      const id = this.defragQueue[0] as number;
      const b = this.slabs[id] as Buffer;
      const used = this.slabUsed[id] as number;
      assert(this.slabState[id] === QUEUED && this.defragPos < used, 'defrag head slab has nothing left to walk');
      const at = this.defragPos;
      const size = this.headerAt(b, at);
      const kOff = this.rKeyOff;
      const kLen = this.rKeyLen;
      const dead = this.rDead;
      this.defragPos = at + size;
      budget -= size;
      if (!dead) {
        // Live: find its slot through the table (records carry no back pointer: 4 B/key saved).
        const i = this.probeBytes(b, kOff, kLen, hashBytes(this.seed, b, kOff, kLen));
        const slot = i >= 0 ? (this.table[i] as number) - 1 : -1;
        assert(slot >= 0 && this.slotAddr.slab(slot) === id && this.slotAddr.offset(slot) === at, 'a live record is not where its slot says');
        if (this.cur < 0 || (this.slabUsed[this.cur] as number) + size > SLAB_BYTES) this.openSlab();
        const to = this.cur;
        const off = this.slabUsed[to] as number;
        b.copy(this.slabs[to] as Buffer, off, at, at + size);
        this.slabUsed[to] = off + size;
        this.slabLive[to] = (this.slabLive[to] as number) + size;
        this.slotAddr.set(slot, to, off);
        this.slabLive[id] = (this.slabLive[id] as number) - size;
        if (this.slabLive[id] === 0) {
          this.releaseSlab(id); // also pops it from the queue and resets defragPos
          continue;
        }
      }
      assert(this.defragPos < used || this.slabLive[id] === 0, 'walked a whole slab but live bytes remain');
    }
  }

  // ---- hash table
  // Growth never rehashes the whole table at once: grow() swaps in an empty bigger table and
  // keeps the old one until every key moved over, MIGRATE_POSITIONS_PER_OP old positions before
  // each probe plus what the sweep does. Without a migration a probe pays two null checks.

  /**
   * Probe for `key` by its string: table index if present, else -1 - (index to insert at). A
   * command looks its key up several times (its type, its value, then the write's apply): the
   * last string probe is remembered while the table is unchanged (tableGen), so the repeats cost
   * a string comparison instead of a hash and a walk of the chain.
   */
  private probeKey(key: Key): number {
    if (key === this.memoKey && this.memoGen === this.tableGen && this.oldTable === null) {
      this.probeHash = this.memoHash;
      return this.memoIndex;
    }
    const h = hashStr(this.seed, key);
    const i = this.probeStr(key, h);
    this.memoKey = key;
    this.memoHash = h;
    this.memoIndex = i;
    this.memoGen = this.tableGen;
    return i;
  }

  /** Probe for `key`: table index if present, else -1 - (index to insert at). */
  private probeStr(key: Key, h: number): number {
    if (this.oldTable !== null) this.migrateStep(MIGRATE_POSITIONS_PER_OP);
    this.probeHash = h;
    const i = this.findStr(this.table, this.tags, key, h);
    if (i >= 0 || this.oldTable === null) return i;
    return this.takeFromOld(this.findStr(this.oldTable, this.oldTags, key, h), i);
  }

  private probeBytes(src: Buffer, off: number, len: number, h: number): number {
    if (this.oldTable !== null) this.migrateStep(MIGRATE_POSITIONS_PER_OP);
    this.probeHash = h;
    const i = this.findBytes(this.table, this.tags, src, off, len, h);
    if (i >= 0 || this.oldTable === null) return i;
    return this.takeFromOld(this.findBytes(this.oldTable, this.oldTags, src, off, len, h), i);
  }

  /** Look `key` up in table `t` (no side effect): its index if present, else -1 - (index to insert at). */
  private findStr(t: Int32Array, tags: Uint8Array, key: Key, h: number): number {
    const cap = t.length;
    const tag = h & 0xff;
    const kLen = key.length;
    let tomb = -1;
    for (let i = home(h, cap); ; i = i + 1 === cap ? 0 : i + 1) {
      const e = t[i] as number;
      if (e === 0) return -1 - (tomb >= 0 ? tomb : i);
      if (e === TOMBSTONE) {
        if (tomb < 0) tomb = i;
        continue;
      }
      if (tags[i] !== tag) continue;
      this.locate(e - 1);
      if (this.rKeyLen !== kLen) continue;
      const b = this.rBuf;
      const p = this.rKeyOff;
      let j = 0;
      while (j < kLen && b[p + j] === key.charCodeAt(j)) j++;
      if (j === kLen) return i;
    }
  }

  private findBytes(t: Int32Array, tags: Uint8Array, src: Buffer, off: number, len: number, h: number): number {
    const cap = t.length;
    const tag = h & 0xff;
    let tomb = -1;
    for (let i = home(h, cap); ; i = i + 1 === cap ? 0 : i + 1) {
      const e = t[i] as number;
      if (e === 0) return -1 - (tomb >= 0 ? tomb : i);
      if (e === TOMBSTONE) {
        if (tomb < 0) tomb = i;
        continue;
      }
      if (tags[i] !== tag) continue;
      this.locate(e - 1);
      if (this.rKeyLen !== len) continue;
      const b = this.rBuf;
      const p = this.rKeyOff;
      let j = 0;
      while (j < len && b[p + j] === src[off + j]) j++;
      if (j === len) return i;
    }
  }

  /**
   * A probe missed the new table (`i`: -1 - its insert position) and found the key at old index
   * `j` (or not, j < 0): the entry moves to that insert position now, so callers only ever see
   * indexes of the new table. Returns the key's new index, or `i` when it is absent.
   */
  private takeFromOld(j: number, i: number): number {
    if (j < 0) return i;
    const old = this.oldTable as Int32Array;
    const pos = -1 - i;
    this.tableGen++;
    if (this.table[pos] === 0) this.tableUsed++;
    this.table[pos] = old[j] as number;
    this.tags[pos] = this.oldTags[j] as number;
    old[j] = TOMBSTONE;
    if (--this.oldLive === 0) this.endMigration();
    return pos;
  }

  /**
   * The table reached load 3/4: start moving to one of x1.5 the live keys' need (from load 3/4
   * to 1/2), or of the same size when tombstones filled it. A migration still running here
   * would break the bound in MIGRATE_POSITIONS_PER_OP's comment; it is finished first.
   */
  private grow(): void {
    if (this.oldTable !== null) {
      this.migrationsForced++;
      this.migrateStep((this.oldTable as Int32Array).length);
    }
    const cap = Math.max(this.table.length, Math.ceil((this.count + 1) / TABLE_REBUILD_LOAD));
    this.tableGen++;
    this.oldTable = this.table;
    this.oldTags = this.tags;
    this.oldLive = this.count;
    this.migratePos = 0;
    // Zeroed typed arrays come from fresh pages the OS maps lazily: no O(cap) pass here.
    this.table = new Int32Array(cap);
    this.tags = new Uint8Array(cap);
    this.tableUsed = 0;
  }

  /** Move the live entries at the next `positionsMax` old-table positions into the table. */
  private migrateStep(positionsMax: number): void {
    const old = this.oldTable as Int32Array;
    const from = this.migratePos;
    const to = Math.min(old.length, from + positionsMax);
    this.migrationWork += to - from;
    for (let p = from; p < to; p++) {
      const e = old[p] as number;
      if (e <= 0) continue; // empty, or a tombstone (possibly left by a moved entry)
      this.locate(e - 1);
      this.insertFresh(e, hashBytes(this.seed, this.rBuf, this.rKeyOff, this.rKeyLen));
      old[p] = TOMBSTONE;
      this.oldLive--;
    }
    this.migratePos = to;
    if (to === old.length || this.oldLive === 0) this.endMigration();
  }

  private endMigration(): void {
    this.tableGen++;
    assert(this.oldTable === null || this.oldLive === 0, 'migration ended with keys left in the old table');
    this.oldTable = null;
    this.oldTags = new Uint8Array(0);
    this.migratePos = 0;
    this.oldLive = 0;
  }

  /** The sweep's share of a running migration: chunks until its time or position budget is spent. */
  private migrateIdle(clock: () => number): void {
    const startMs = clock();
    for (let done = 0; this.oldTable !== null && done < MIGRATE_POSITIONS_PER_SWEEP_MAX; done += MIGRATE_SWEEP_CHUNK) {
      this.migrateStep(MIGRATE_SWEEP_CHUNK);
      if (clock() - startMs >= MIGRATE_SWEEP_MS_MAX) break;
    }
  }

  /** Put entry `e` (slot + 1) of hash `h`, known to be absent, at the first free index of its chain. */
  private insertFresh(e: number, h: number): void {
    this.tableGen++;
    const t = this.table;
    const cap = t.length;
    let i = home(h, cap);
    while ((t[i] as number) > 0) i = i + 1 === cap ? 0 : i + 1;
    if (t[i] === 0) this.tableUsed++;
    t[i] = e;
    this.tags[i] = h & 0xff;
  }

  /**
   * Rehash every live slot into a table of `cap` entries at once (drops tombstones and ends a
   * migration): only for bulk loads and trim, which size the table before or after the work.
   */
  private rebuildTable(cap: number): void {
    assert(this.count * TABLE_LOAD_DEN <= cap * TABLE_LOAD_NUM, 'rebuilt table would be over-full');
    this.oldLive = 0;
    this.endMigration();
    this.tableGen++;
    this.table = new Int32Array(cap);
    this.tags = new Uint8Array(cap);
    this.tableUsed = 0;
    for (let s = 0; s < this.slotEnd; s++) {
      if (this.slotAddr.slab(s) === FREE) continue;
      this.locate(s);
      this.insertFresh(s + 1, hashBytes(this.seed, this.rBuf, this.rKeyOff, this.rKeyLen));
    }
    assert.equal(this.tableUsed, this.count, 'rebuild placed a different number of keys');
  }
}
