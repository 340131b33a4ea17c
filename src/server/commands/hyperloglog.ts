// The HyperLogLog commands with Redis 7.0 semantics, replies and error texts: PFADD PFCOUNT
// PFMERGE PFDEBUG PFSELFTEST. An HLL is a plain string in Redis's exact format
// (storage/hyperloglog.ts), so GET, DUMP and SETRANGE see Redis's bytes. Writes log the key's
// resulting string as one 'set' op keeping its expiry; never mutates a value read from the store.
// PFCOUNT of one key refreshes the cached cardinality in the header, as Redis does; it is logged
// only where a write is admitted (a primary whose log takes writes): a replica answers from the
// registers and leaves its copy as the primary wrote it.

import type { CommandContext, CommandModule } from '../command-types.js';
import { keyFromBytes, NO_EXPIRY, type Key } from '../../storage/types.js';
import {
  HllBuilder, cachedCardinality, countOf, countOfRegisters, decodeSparse, isDense, isHll, mergeRegisters, registers, selfTest, HLL_REGISTERS,
} from '../../storage/hyperloglog.js';
import { ERR_WRONGTYPE, cString } from './args.js';
import { NOT_A_STRING, stringValue } from './bits.js';
import { keptExpiry } from './strings.js';
import { specIn } from './spec.js';
import { key, range } from './key-specs.js';

/** Redis's reply to a string that is not an HLL (bad magic, encoding or dense length). */
const ERR_NOT_HLL = 'WRONGTYPE Key is not a valid HyperLogLog string value.';
/** Redis's reply to an HLL whose sparse body does not describe 16384 registers. */
const ERR_CORRUPT = 'INVALIDOBJ Corrupted HLL object detected';

/** An HLL value, or the error to reply (a missing key is undefined). */
function hllValue(ctx: CommandContext, k: Key): Buffer | undefined | string {
  const v = stringValue(ctx.store, k);
  if (v === NOT_A_STRING) return ERR_WRONGTYPE;
  if (v === undefined) return undefined;
  return isHll(v) ? v : ERR_NOT_HLL;
}

/** Log `h` as the key's new string, keeping the expiry it had (none for a new key). */
function logValue(ctx: CommandContext, k: Key, existed: boolean, h: HllBuilder): void {
  ctx.write([{ t: 'set', key: k, value: h.bytes(), expireAtMs: existed ? keptExpiry(ctx.store, k) : NO_EXPIRY }]);
}

function sparseBytesMax(ctx: CommandContext): number {
  return ctx.store.encodingLimits.hllSparseBytes;
}

/** PFADD key [element ...]: 1 when the key was created or a register grew. */
function pfaddCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const k = keyFromBytes(argv[1] as Buffer);
  const v = hllValue(ctx, k);
  if (typeof v === 'string') return ctx.out.error(v);
  const h = v === undefined ? HllBuilder.empty() : HllBuilder.copyOf(v);
  let updated = v === undefined;
  const max = sparseBytesMax(ctx);
  for (let i = 2; i < argv.length; i++) {
    const r = h.add(argv[i] as Buffer, max);
    if (r === 1) updated = true;
    else if (r === -1) {
      // Redis edits the value in place: what the elements before the failing one changed stays.
      if (v !== undefined && !h.bytes().equals(v)) logValue(ctx, k, true, h);
      return ctx.out.error(ERR_CORRUPT);
    }
  }
  if (updated) {
    h.invalidateCache();
    logValue(ctx, k, v !== undefined, h);
  }
  ctx.out.integer(updated ? 1 : 0);
}

/** PFCOUNT key [key ...]: one key's (cached) estimate, or the estimate of the keys' union (left unchanged). */
function pfcountCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  if (argv.length > 2) {
    const max = new Uint8Array(HLL_REGISTERS);
    for (let i = 1; i < argv.length; i++) {
      const v = hllValue(ctx, keyFromBytes(argv[i] as Buffer));
      if (typeof v === 'string') return ctx.out.error(v);
      if (v !== undefined && !mergeRegisters(max, v)) return ctx.out.error(ERR_CORRUPT);
    }
    return ctx.out.integer(countOfRegisters(max));
  }
  const k = keyFromBytes(argv[1] as Buffer);
  const v = hllValue(ctx, k);
  if (typeof v === 'string') return ctx.out.error(v);
  if (v === undefined) return ctx.out.integer(0);
  const cached = cachedCardinality(v);
  if (cached !== null) return ctx.out.integer(cached);
  const card = countOf(v);
  if (card === null) return ctx.out.error(ERR_CORRUPT);
  // The refreshed cache is a write of the key (Redis propagates it): logged where writes are admitted.
  const spec = ctx.server.commands.get('pfcount');
  if (spec !== undefined && (ctx.server.mayWrite?.(ctx.client, spec, argv) ?? true)) {
    const h = HllBuilder.copyOf(v);
    h.setCache(card);
    logValue(ctx, k, true, h);
  }
  ctx.out.integer(card);
}

/** PFMERGE destkey [sourcekey ...]: the destination (one of the inputs) gets every register's maximum. */
function pfmergeCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const max = new Uint8Array(HLL_REGISTERS);
  let anyDense = false;
  for (let i = 1; i < argv.length; i++) {
    const v = hllValue(ctx, keyFromBytes(argv[i] as Buffer));
    if (typeof v === 'string') return ctx.out.error(v);
    if (v === undefined) continue;
    // One dense input makes the destination dense at once (Redis's shortcut, visible in the bytes).
    if (isDense(v)) anyDense = true;
    if (!mergeRegisters(max, v)) return ctx.out.error(ERR_CORRUPT);
  }
  const k = keyFromBytes(argv[1] as Buffer);
  const dst = ctx.store.getValue(k);
  const h = dst === undefined ? HllBuilder.empty() : HllBuilder.copyOf(dst);
  if (anyDense && !h.toDense()) return ctx.out.error(ERR_CORRUPT);
  const bytesMax = sparseBytesMax(ctx);
  for (let i = 0; i < HLL_REGISTERS; i++) {
    const r = max[i] as number;
    if (r !== 0) h.set(i, r, bytesMax);
  }
  h.invalidateCache();
  // Logged even when nothing changed: Redis propagates PFMERGE and announces it either way.
  logValue(ctx, k, dst !== undefined, h);
  ctx.out.simple('OK');
}

/** PFDEBUG GETREG|DECODE|ENCODING|TODENSE key. GETREG and TODENSE leave a sparse value dense, as Redis. */
function pfdebugCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  const sub = cString(argv[1] as Buffer);
  const k = keyFromBytes(argv[2] as Buffer);
  const v = hllValue(ctx, k);
  if (v === undefined) return out.error('ERR The specified key does not exist');
  if (typeof v === 'string') return out.error(v);
  switch (sub.toLowerCase()) {
    case 'getreg':
    case 'todense': {
      let converted = false;
      let value = v;
      if (!isDense(v)) {
        const h = HllBuilder.copyOf(v);
        if (!h.toDense()) return out.error(ERR_CORRUPT);
        logValue(ctx, k, true, h);
        value = h.bytes();
        converted = true;
      }
      if (sub.toLowerCase() === 'todense') return out.integer(converted ? 1 : 0);
      const regs = registers(value) as Uint8Array;
      out.array(HLL_REGISTERS);
      for (const r of regs) out.integer(r);
      return;
    }
    case 'decode':
      if (isDense(v)) return out.error('ERR HLL encoding is not sparse');
      return out.bulk(Buffer.from(decodeSparse(v), 'latin1'));
    case 'encoding':
      return out.simple(isDense(v) ? 'dense' : 'sparse');
    default:
      return out.error(`ERR Unknown PFDEBUG subcommand '${sub}'`);
  }
}

/** A 32-bit random word for the self test's register values and element seed. */
const random32 = (): number => Math.floor(Math.random() * 0x100000000);

function pfselftestCommand(ctx: CommandContext): void {
  const failure = selfTest(random32, sparseBytesMax(ctx));
  if (failure !== null) return ctx.out.error(failure);
  ctx.out.simple('OK');
}

// ---------------------------------------------------------------- the table

const spec = specIn('hyperloglog');

export const hyperloglogCommands: CommandModule = [
  spec({
    name: 'pfadd', keySpecs: [key('RW insert', 1)], arity: -2, flags: ['write', 'denyoom', 'fast'], summary: 'Add elements to a HyperLogLog',
    syntax: 'key [element [element ...]]', handler: pfaddCommand,
  }),
  spec({
    name: 'pfcount', keySpecs: [key('RW access', 1, range(-1), { notes: 'RW because it may change the internal representation of the key, and propagate to replicas' })],
    arity: -2, flags: ['readonly'], summary: 'The approximate cardinality of one HyperLogLog or of the union of several', syntax: 'key [key ...]', handler: pfcountCommand,
  }),
  spec({
    name: 'pfmerge', keySpecs: [key('RW access insert', 1), key('RO access', 2, range(-1))], arity: -2, flags: ['write', 'denyoom'],
    summary: 'Merge HyperLogLogs into a destination key', syntax: 'destkey [sourcekey [sourcekey ...]]', handler: pfmergeCommand,
  }),
  spec({
    name: 'pfdebug', keySpecs: [key('RW access', 2)], arity: 3, flags: ['write', 'denyoom', 'admin'], summary: 'Inspect a HyperLogLog value (registers, opcodes, encoding) or make it dense',
    syntax: 'GETREG|DECODE|ENCODING|TODENSE key', handler: pfdebugCommand,
  }),
  spec({
    name: 'pfselftest', arity: 1, flags: ['admin'], firstKey: 0, lastKey: 0, keyStep: 0, summary: 'Test the HyperLogLog implementation',
    syntax: '', handler: pfselftestCommand,
  }),
];
