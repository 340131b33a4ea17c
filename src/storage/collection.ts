// The key types of the multi-type keyspace: their one-byte codes (the keyspace's per-slot type
// byte, the object codec, snapshot items) and names (TYPE, SCAN TYPE, OBJECT ENCODING).
// Owns that vocabulary only; never holds data.

import { HLL_SPARSE_BYTES_DEFAULT } from './hyperloglog.js';
import type { HashObject } from './hash-object.js';
import type { SetObject } from './set-object.js';
import type { SortedSet } from './zset.js';
import type { ListObject } from './list-object.js';
import type { StreamObject } from './stream-object.js';

export const TYPE_STRING = 0;
export const TYPE_HASH = 1;
export const TYPE_SET = 2;
export const TYPE_ZSET = 3;
export const TYPE_LIST = 4;
export const TYPE_STREAM = 5;
/** Codes in use are < TYPE_CODES. */
export const TYPE_CODES = 6;

export type TypeName = 'string' | 'hash' | 'set' | 'zset' | 'list' | 'stream';
/** What TYPE answers: a type name, or 'none' for a missing key. */
export type KeyTypeName = TypeName | 'none';

const NAMES: readonly TypeName[] = ['string', 'hash', 'set', 'zset', 'list', 'stream'];

export function typeName(code: number): TypeName {
  const n = NAMES[code];
  if (n === undefined) throw new Error(`bug: unknown type code ${code}`);
  return n;
}

/** The code of a type name, or -1. */
export function typeCode(name: string): number {
  return NAMES.indexOf(name as TypeName);
}

/**
 * Receives a collection's members and values for a reply without a Buffer per element: latin1
 * ranges of the strings they are held in (one char per byte), or a Buffer for a value too long to
 * be a string. The reply writer implements it; the strings are immutable, the call copies them.
 */
export interface MemberSink {
  bulkLatin1(s: string, off: number, len: number): void;
  bulk(b: Buffer): void;
}

/**
 * The size limits of the compact encodings (Redis's hash-max-listpack-entries and kin). A store
 * holds one live object: CONFIG SET changes it, and collections read it when they grow (an
 * encoding converts only upward, so lowering a limit affects collections as they next change).
 */
export interface EncodingLimits {
  hashListpackEntries: number;
  hashListpackValueBytes: number;
  setIntsetEntries: number;
  zsetListpackEntries: number;
  zsetListpackValueBytes: number;
  /**
   * list-max-listpack-size (negative: a chunk's bytes, -2 = 8 KiB; positive: its entries) and
   * list-compress-depth: accepted and reported; lists keep the -2 default's 8 KiB chunks and never compress.
   */
  listListpackSize: number;
  listCompressDepth: number;
  /**
   * stream-node-max-entries / stream-node-max-bytes: when XADD starts a new node (0: no limit). The
   * command decides and logs it with the entry, so a replica's own settings never change a layout.
   */
  streamNodeEntries: number;
  streamNodeBytes: number;
  /** hll-sparse-max-bytes: a HyperLogLog string whose sparse form would grow past this becomes dense (storage/hyperloglog.ts). */
  hllSparseBytes: number;
}

/** Redis 7.0's defaults. */
export const REDIS_ENCODING_LIMITS: Readonly<EncodingLimits> = Object.freeze({
  hashListpackEntries: 128,
  hashListpackValueBytes: 64,
  setIntsetEntries: 512,
  zsetListpackEntries: 128,
  zsetListpackValueBytes: 64,
  listListpackSize: -2,
  listCompressDepth: 0,
  streamNodeEntries: 100,
  streamNodeBytes: 4096,
  hllSparseBytes: HLL_SPARSE_BYTES_DEFAULT,
});

export function defaultEncodingLimits(): EncodingLimits {
  return { ...REDIS_ENCODING_LIMITS };
}

/** A collection value: what the keyspace keeps per slot for a non-string key. */
export type KvCollection = HashObject | SetObject | SortedSet | ListObject | StreamObject;
