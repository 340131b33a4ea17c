// The bit commands (Redis bitops.c) with Redis 7.0 semantics, argument order and error strings:
// SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO. Owns bit addressing (bit 0 is the
// most significant bit of byte 0) and BITFIELD's overflow arithmetic in exact int64/uint64.
// Writes log the key's resulting value as one 'set' op (keeping its expiry, as Redis modifies
// the string in place); never mutates a value it read from the store.

import type { CommandContext, CommandModule, CommandSpec } from '../command-types.js';
import type { ReplicatedStore } from '../../storage/api.js';
import { keyFromBytes, NO_EXPIRY, type Key } from '../../storage/types.js';
import { ERR_NOT_INTEGER, ERR_SYNTAX, ERR_WRONGTYPE, STRING_BYTES_MAX, cString, isWord, parseInt64 } from './args.js';
import { keptExpiry } from './strings.js';
import { wrongType } from './keytype.js';
import { specIn } from './spec.js';
import { hasWord, key, range } from './key-specs.js';

const ERR_BIT_OFFSET = 'ERR bit offset is not an integer or out of range';
const ERR_BIT_VALUE = 'ERR bit is not an integer or out of range';
const ERR_BITPOS_BIT = 'ERR The bit argument must be 1 or 0.';
const ERR_BITOP_NOT = 'ERR BITOP NOT must be called with a single source key.';
const ERR_BITFIELD_TYPE = 'ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.';
const ERR_BITFIELD_OVERFLOW = 'ERR Invalid OVERFLOW type specified';
const ERR_BITFIELD_RO = 'ERR BITFIELD_RO only supports the GET subcommand';

/** Bit offsets address at most proto-max-bulk-len bytes (Redis checks `offset >> 3` against it). */
const BIT_OFFSET_BYTES_MAX = BigInt(STRING_BYTES_MAX);

/** Marks a key that exists but holds a collection, not a string (see stringValue). */
export const NOT_A_STRING = Symbol('not a string');

/**
 * The string at `key` (undefined when missing), or NOT_A_STRING when the key holds another type.
 * The one place the bit and LCS commands learn a key's type: every handler calls it once, at the
 * point where Redis does its lookup, so the WRONGTYPE order of errors matches Redis.
 */
export function stringValue(store: ReplicatedStore, key: Key): Buffer | undefined | typeof NOT_A_STRING {
  if (wrongType(store, key, 'string')) return NOT_A_STRING;
  return store.getValue(key);
}

// ---------------------------------------------------------------- argument parsing

/**
 * Redis getBitOffsetFromArgument: a non-negative int64 whose byte index is below
 * proto-max-bulk-len; with `hash`, "#N" means N * bits (BITFIELD). Null when invalid.
 */
function bitOffsetArg(arg: Buffer, hash: boolean, bits: number): number | null {
  const useHash = hash && arg.length > 0 && arg[0] === 0x23; /* '#' */
  let v = parseInt64(useHash ? arg.subarray(1) : arg);
  if (v === null) return null;
  // C multiplies in int64; a product that wraps is refused by the range check either way.
  if (useHash) v = BigInt.asIntN(64, v * BigInt(bits));
  if (v < 0n || v >> 3n >= BIT_OFFSET_BYTES_MAX) return null;
  return Number(v);
}

interface FieldType {
  readonly signed: boolean;
  readonly bits: number;
}

/** Redis getBitfieldTypeFromArgument: i1..i64 or u1..u63 (C string: stops at a NUL byte). */
function fieldTypeArg(arg: Buffer): FieldType | null {
  const s = cString(arg);
  const signed = s[0] === 'i';
  if (!signed && s[0] !== 'u') return null;
  const n = parseInt64(Buffer.from(s.slice(1), 'latin1'));
  if (n === null || n < 1n || n > (signed ? 64n : 63n)) return null;
  return { signed, bits: Number(n) };
}

/**
 * Redis's start/end normalisation (BITCOUNT, BITPOS): negative indexes count from `total`,
 * both are clamped into [0, total - 1]. In bigint: C compares the int64 values exactly.
 */
function clampRange(start: bigint, end: bigint, total: bigint): [bigint, bigint] {
  if (start < 0n) start += total;
  if (end < 0n) end += total;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= total) end = total - 1n;
  return [start, end];
}

/** BYTE|BIT unit word: true for BIT, false for BYTE, null when it is neither. */
function unitArg(arg: Buffer): boolean | null {
  if (isWord(arg, 'bit')) return true;
  if (isWord(arg, 'byte')) return false;
  return null;
}

// ---------------------------------------------------------------- bit access

function bitAt(v: Buffer, bit: number): number {
  const byte = Math.floor(bit / 8);
  if (byte >= v.length) return 0;
  return ((v[byte] as number) >> (7 - (bit % 8))) & 1;
}

/** The value as a new buffer at least `len` bytes long, zero-padded (Redis sdsgrowzero). */
function grownCopy(v: Buffer | undefined, len: number): Buffer {
  const out = Buffer.alloc(Math.max(len, v?.length ?? 0));
  if (v !== undefined) v.copy(out, 0);
  return out;
}

/** Log `value` as the key's new string, keeping its expiry; skipped when nothing changed. */
function writeValue(ctx: CommandContext, key: Key, old: Buffer | undefined, value: Buffer): void {
  if (old !== undefined && old.equals(value)) return;
  ctx.write([{ t: 'set', key, value, expireAtMs: old === undefined ? NO_EXPIRY : keptExpiry(ctx.store, key) }]);
}

// ---------------------------------------------------------------- SETBIT / GETBIT

function setbitCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { store, out } = ctx;
  const offset = bitOffsetArg(argv[2] as Buffer, false, 0);
  if (offset === null) return out.error(ERR_BIT_OFFSET);
  const on = parseInt64(argv[3] as Buffer);
  if (on !== 0n && on !== 1n) return out.error(ERR_BIT_VALUE);
  const key = keyFromBytes(argv[1] as Buffer);
  const old = stringValue(store, key);
  if (old === NOT_A_STRING) return out.error(ERR_WRONGTYPE);
  const prev = old === undefined ? 0 : bitAt(old, offset);
  const value = grownCopy(old, Math.floor(offset / 8) + 1);
  const byte = Math.floor(offset / 8);
  const mask = 1 << (7 - (offset % 8));
  value[byte] = on === 1n ? (value[byte] as number) | mask : (value[byte] as number) & ~mask;
  writeValue(ctx, key, old, value);
  out.integer(prev);
}

function getbitCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const offset = bitOffsetArg(argv[2] as Buffer, false, 0);
  if (offset === null) return ctx.out.error(ERR_BIT_OFFSET);
  const v = stringValue(ctx.store, keyFromBytes(argv[1] as Buffer));
  if (v === NOT_A_STRING) return ctx.out.error(ERR_WRONGTYPE);
  ctx.out.integer(v === undefined ? 0 : bitAt(v, offset));
}

// ---------------------------------------------------------------- BITCOUNT

const POPCOUNT = new Uint8Array(256);
for (let i = 1; i < 256; i++) POPCOUNT[i] = (i & 1) + (POPCOUNT[i >> 1] as number);

function popcount(v: Buffer, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) n += POPCOUNT[v[i] as number] as number;
  return n;
}

/** Set bits in bit range [from, to] (inclusive), both inside the value. */
function countBits(v: Buffer, from: number, to: number): number {
  const first = Math.floor(from / 8);
  const last = Math.floor(to / 8);
  let n = popcount(v, first, last + 1);
  // Subtract the bits of the edge bytes that lie outside the range.
  n -= POPCOUNT[(v[first] as number) & ~(0xff >> (from % 8)) & 0xff] as number;
  n -= POPCOUNT[(v[last] as number) & ((1 << (7 - (to % 8))) - 1)] as number;
  return n;
}

/** BITCOUNT key [start end [BYTE|BIT]]: Redis 7.0 looks the key up before parsing the range. */
function bitcountCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  const v = stringValue(ctx.store, keyFromBytes(argv[1] as Buffer));
  if (v === NOT_A_STRING) return out.error(ERR_WRONGTYPE);
  if (v === undefined) return out.integer(0);
  if (argv.length === 2) return out.integer(popcount(v, 0, v.length));
  if (argv.length !== 4 && argv.length !== 5) return out.error(ERR_SYNTAX);
  const start = parseInt64(argv[2] as Buffer);
  if (start === null) return out.error(ERR_NOT_INTEGER);
  const end = parseInt64(argv[3] as Buffer);
  if (end === null) return out.error(ERR_NOT_INTEGER);
  // Redis 7.0 answers an inverted negative range before it reads the unit word.
  if (start < 0n && end < 0n && start > end) return out.integer(0);
  const isBit = argv.length === 5 ? unitArg(argv[4] as Buffer) : false;
  if (isBit === null) return out.error(ERR_SYNTAX);
  const total = BigInt(v.length) * (isBit ? 8n : 1n);
  const [s, e] = clampRange(start, end, total);
  if (s > e) return out.integer(0);
  out.integer(isBit ? countBits(v, Number(s), Number(e)) : popcount(v, Number(s), Number(e) + 1));
}

// ---------------------------------------------------------------- BITPOS

/** First bit equal to `bit` in bit range [from, to] (inclusive), or -1. */
function findBit(v: Buffer, bit: number, from: number, to: number): number {
  const skip = bit === 1 ? 0x00 : 0xff;
  let i = from;
  while (i <= to) {
    // Whole bytes that cannot hold the bit are skipped a byte at a time.
    if (i % 8 === 0 && i + 7 <= to && v[i / 8] === skip) {
      i += 8;
      continue;
    }
    if (bitAt(v, i) === bit) return i;
    i++;
  }
  return -1;
}

/** BITPOS key bit [start [end [BYTE|BIT]]], with Redis 7.0's treatment of a missing end. */
function bitposCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  const bit = parseInt64(argv[2] as Buffer);
  if (bit === null) return out.error(ERR_NOT_INTEGER);
  if (bit !== 0n && bit !== 1n) return out.error(ERR_BITPOS_BIT);
  const v = stringValue(ctx.store, keyFromBytes(argv[1] as Buffer));
  if (v === NOT_A_STRING) return out.error(ERR_WRONGTYPE);
  // A missing key is an infinite run of zero bits.
  if (v === undefined) return out.integer(bit === 1n ? -1 : 0);
  if (argv.length > 6) return out.error(ERR_SYNTAX);
  let start = 0n;
  let end = BigInt(v.length) - 1n;
  let isBit = false;
  const endGiven = argv.length >= 5;
  if (argv.length >= 4) {
    const s = parseInt64(argv[3] as Buffer);
    if (s === null) return out.error(ERR_NOT_INTEGER);
    if (argv.length === 6) {
      const u = unitArg(argv[5] as Buffer);
      if (u === null) return out.error(ERR_SYNTAX);
      isBit = u;
    }
    let e: bigint | null = isBit ? BigInt(v.length) * 8n - 1n : BigInt(v.length) - 1n;
    if (endGiven) {
      e = parseInt64(argv[4] as Buffer);
      if (e === null) return out.error(ERR_NOT_INTEGER);
    }
    [start, end] = clampRange(s, e, BigInt(v.length) * (isBit ? 8n : 1n));
  }
  if (start > end) return out.integer(-1);
  const from = Number(start) * (isBit ? 1 : 8);
  const to = isBit ? Number(end) : Number(end) * 8 + 7;
  const pos = findBit(v, Number(bit), from, to);
  if (pos >= 0) return out.integer(pos);
  // No set bit: -1. No clear bit: the bit after the range, which, without an explicit end,
  // is the zero padding right after the string (Redis's "infinite zeros" view).
  out.integer(bit === 1n || endGiven ? -1 : to + 1);
}

// ---------------------------------------------------------------- BITOP

type BitOp = 'and' | 'or' | 'xor' | 'not';

function bitopName(arg: Buffer): BitOp | null {
  for (const op of ['and', 'or', 'xor', 'not'] as const) if (isWord(arg, op)) return op;
  return null;
}

/** BITOP op destkey srckey [srckey ...]: missing sources are empty (zero-padded) strings. */
function bitopCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { store, out } = ctx;
  const op = bitopName(argv[1] as Buffer);
  if (op === null) return out.error(ERR_SYNTAX);
  if (op === 'not' && argv.length !== 4) return out.error(ERR_BITOP_NOT);
  const sources: Buffer[] = [];
  let maxLen = 0;
  for (let i = 3; i < argv.length; i++) {
    const v = stringValue(store, keyFromBytes(argv[i] as Buffer));
    if (v === NOT_A_STRING) return out.error(ERR_WRONGTYPE);
    const b = v ?? EMPTY;
    sources.push(b);
    maxLen = Math.max(maxLen, b.length);
  }
  const dest = keyFromBytes(argv[2] as Buffer);
  const res = Buffer.alloc(maxLen);
  const first = sources[0] as Buffer;
  for (let j = 0; j < maxLen; j++) {
    let x = first[j] ?? 0;
    if (op === 'not') x = ~x & 0xff;
    for (let s = 1; s < sources.length; s++) {
      const y = (sources[s] as Buffer)[j] ?? 0;
      if (op === 'and') x &= y;
      else if (op === 'or') x |= y;
      else x ^= y;
    }
    res[j] = x;
  }
  if (maxLen > 0) {
    // Like SET: the destination loses any expiry it had.
    const old = store.getValue(dest);
    if (old === undefined || !old.equals(res) || store.getExpireAt(dest) !== NO_EXPIRY) {
      ctx.write([{ t: 'set', key: dest, value: res, expireAtMs: NO_EXPIRY }]);
    }
  } else if (store.has(dest)) {
    ctx.write([{ t: 'del', key: dest }]);
  }
  out.integer(maxLen);
}

const EMPTY = Buffer.alloc(0);

// ---------------------------------------------------------------- BITFIELD

type Overflow = 'wrap' | 'sat' | 'fail';

interface FieldOp {
  readonly kind: 'get' | 'set' | 'incrby';
  readonly type: FieldType;
  readonly offset: number;
  /** SET value / INCRBY increment (int64). */
  readonly arg: bigint;
  readonly overflow: Overflow;
}

function readField(v: Buffer, offset: number, bits: number): bigint {
  let x = 0n;
  for (let j = 0; j < bits; j++) x = (x << 1n) | BigInt(bitAt(v, offset + j));
  return x;
}

/** Write the low `bits` bits of `x` (as two's complement) at `offset`, most significant first. */
function writeField(v: Buffer, offset: number, bits: number, x: bigint): void {
  const u = BigInt.asUintN(bits, x);
  for (let j = 0; j < bits; j++) {
    const bit = offset + j;
    const byte = Math.floor(bit / 8);
    const mask = 1 << (7 - (bit % 8));
    const on = ((u >> BigInt(bits - 1 - j)) & 1n) === 1n;
    v[byte] = on ? (v[byte] as number) | mask : (v[byte] as number) & ~mask;
  }
}

/** Redis checkUnsignedBitfieldOverflow: `value` is uint64 (a SET's int64 is reinterpreted). */
function unsignedResult(value: bigint, incr: bigint, bits: number, ow: Overflow): { overflow: boolean; result: bigint } {
  const max = (1n << BigInt(bits)) - 1n;
  const sum = value + incr;
  if (value > max || sum > max || sum < 0n) {
    const result = ow === 'wrap' ? BigInt.asUintN(bits, sum) : value > max || sum > max ? max : 0n;
    return { overflow: true, result };
  }
  return { overflow: false, result: sum };
}

/**
 * Redis checkSignedBitfieldOverflow, including its int64 wrap-around: `maxincr` and `minincr`
 * are computed in 64-bit arithmetic and may wrap, which decides the SAT direction of some
 * out-of-range SET values exactly as Redis does.
 */
function signedResult(value: bigint, incr: bigint, bits: number, ow: Overflow): { overflow: boolean; result: bigint } {
  const max = bits === 64 ? (1n << 63n) - 1n : (1n << BigInt(bits - 1)) - 1n;
  const min = -max - 1n;
  const maxIncr = BigInt.asIntN(64, max - value);
  const minIncr = BigInt.asIntN(64, min - value);
  const wrapped = (): bigint => BigInt.asIntN(bits, BigInt.asUintN(64, value + incr));
  if (value > max || (bits !== 64 && incr > maxIncr) || (value >= 0n && incr > 0n && incr > maxIncr)) {
    return { overflow: true, result: ow === 'wrap' ? wrapped() : max };
  }
  if (value < min || (bits !== 64 && incr < minIncr) || (value < 0n && incr < 0n && incr < minIncr)) {
    return { overflow: true, result: ow === 'wrap' ? wrapped() : min };
  }
  return { overflow: false, result: value + incr };
}

/** Parse the subcommands; null after replying an error. */
function parseFieldOps(ctx: CommandContext, argv: readonly Buffer[]): FieldOp[] | null {
  const ops: FieldOp[] = [];
  let overflow: Overflow = 'wrap';
  for (let j = 2; j < argv.length; j++) {
    const rest = argv.length - j - 1;
    const sub = argv[j] as Buffer;
    let kind: FieldOp['kind'];
    if (isWord(sub, 'get') && rest >= 2) kind = 'get';
    else if (isWord(sub, 'set') && rest >= 3) kind = 'set';
    else if (isWord(sub, 'incrby') && rest >= 3) kind = 'incrby';
    else if (isWord(sub, 'overflow') && rest >= 1) {
      const w = argv[++j] as Buffer;
      if (isWord(w, 'wrap')) overflow = 'wrap';
      else if (isWord(w, 'sat')) overflow = 'sat';
      else if (isWord(w, 'fail')) overflow = 'fail';
      else return fail(ctx, ERR_BITFIELD_OVERFLOW);
      continue;
    } else {
      return fail(ctx, ERR_SYNTAX);
    }
    const type = fieldTypeArg(argv[j + 1] as Buffer);
    if (type === null) return fail(ctx, ERR_BITFIELD_TYPE);
    const offset = bitOffsetArg(argv[j + 2] as Buffer, true, type.bits);
    if (offset === null) return fail(ctx, ERR_BIT_OFFSET);
    let arg = 0n;
    if (kind !== 'get') {
      const n = parseInt64(argv[j + 3] as Buffer);
      if (n === null) return fail(ctx, ERR_NOT_INTEGER);
      arg = n;
    }
    ops.push({ kind, type, offset, arg, overflow });
    j += kind === 'get' ? 2 : 3;
  }
  return ops;
}

function fail(ctx: CommandContext, msg: string): null {
  ctx.out.error(msg);
  return null;
}

/** BITFIELD / BITFIELD_RO key [GET type offset] [SET type offset value] [INCRBY type offset incr] [OVERFLOW WRAP|SAT|FAIL]. */
function bitfieldGeneric(ctx: CommandContext, argv: readonly Buffer[], readOnly: boolean): void {
  const { store, out } = ctx;
  const ops = parseFieldOps(ctx, argv);
  if (ops === null) return;
  const key = keyFromBytes(argv[1] as Buffer);
  const writes = ops.some((o) => o.kind !== 'get');
  if (writes && readOnly) return out.error(ERR_BITFIELD_RO);
  const old = stringValue(store, key);
  if (old === NOT_A_STRING) return out.error(ERR_WRONGTYPE);
  let v = old ?? EMPTY;
  if (writes) {
    // Like Redis, the string grows to the farthest bit any write names, even a write that fails.
    let highest = 0;
    for (const o of ops) if (o.kind !== 'get') highest = Math.max(highest, o.offset + o.type.bits - 1);
    v = grownCopy(old, Math.floor(highest / 8) + 1);
  }
  out.array(ops.length);
  for (const o of ops) {
    const { bits, signed } = o.type;
    const raw = readField(v, o.offset, bits);
    const cur = signed ? BigInt.asIntN(bits, raw) : raw;
    if (o.kind === 'get') {
      out.integer(cur);
      continue;
    }
    const r =
      o.kind === 'incrby'
        ? signed ? signedResult(cur, o.arg, bits, o.overflow) : unsignedResult(cur, o.arg, bits, o.overflow)
        : signed ? signedResult(o.arg, 0n, bits, o.overflow) : unsignedResult(BigInt.asUintN(64, o.arg), 0n, bits, o.overflow);
    if (r.overflow && o.overflow === 'fail') {
      out.nullBulk();
      continue;
    }
    writeField(v, o.offset, bits, r.result);
    out.integer(o.kind === 'incrby' ? r.result : cur);
  }
  if (writes) writeValue(ctx, key, old, v);
}

// ---------------------------------------------------------------- the table

/** The bit commands are strings to kv-ts and `@bitmap` to Redis's ACL. */
const stringSpec = specIn('string');
const spec = (s: Parameters<typeof stringSpec>[0]): CommandSpec => stringSpec({ acl: ['@bitmap'], ...s });

export const bitCommands: CommandModule = [
  spec({ name: 'setbit', keySpecs: [key('RW access update', 1)], arity: 4, flags: ['write', 'denyoom'], summary: 'Set or clear the bit at an offset of a string', syntax: 'key offset value', handler: setbitCommand }),
  spec({ name: 'getbit', keySpecs: [key('RO access', 1)], arity: 3, flags: ['readonly', 'fast'], summary: 'The bit at an offset of a string', syntax: 'key offset', handler: getbitCommand }),
  spec({ name: 'bitcount', keySpecs: [key('RO access', 1)], arity: -2, flags: ['readonly'], summary: 'Count the set bits of a string', syntax: 'key [start end [BYTE|BIT]]', handler: bitcountCommand }),
  spec({ name: 'bitpos', keySpecs: [key('RO access', 1)], arity: -3, flags: ['readonly'], summary: 'Position of the first set or clear bit of a string', syntax: 'key bit [start [end [BYTE|BIT]]]', handler: bitposCommand }),
  spec({
    name: 'bitop', keySpecs: [key('OW update', 2), key('RO access', 3, range(-1))], arity: -4, flags: ['write', 'denyoom'], summary: 'Bitwise AND, OR, XOR or NOT of strings into a key',
    syntax: 'AND|OR|XOR|NOT destkey key [key ...]', handler: bitopCommand,
  }),
  spec({
    name: 'bitfield', keySpecs: [key('RW access update variable_flags', 1, range(), {
      notes: 'This command allows both access and modification of the key',
      // Only SET and INCRBY write; a line of GETs only reads.
      resolve: (argv) => (hasWord(argv, 2, ['set', 'incrby']) ? 'RW access update' : 'RO access'),
    })], arity: -2, flags: ['write', 'denyoom'], summary: 'Read and write integers of any width at any bit offset of a string',
    syntax: 'key [GET encoding offset] [SET encoding offset value] [INCRBY encoding offset increment] [OVERFLOW WRAP|SAT|FAIL]',
    handler: (ctx, argv) => bitfieldGeneric(ctx, argv, false),
  }),
  spec({
    name: 'bitfield_ro', keySpecs: [key('RO access', 1)], arity: -2, flags: ['readonly', 'fast'], summary: 'Read integers of any width at any bit offset of a string',
    syntax: 'key [GET encoding offset ...]', handler: (ctx, argv) => bitfieldGeneric(ctx, argv, true),
  }),
];
