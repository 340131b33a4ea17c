// The keyspace commands (Redis db.c / expire.c / object.c / debug.c subset) with Redis 7.0
// semantics, for keys of every type: TYPE KEYS SCAN EXISTS DEL UNLINK, the EXPIRE family, TTL
// family, PERSIST, RENAME(NX), COPY, DBSIZE, FLUSHALL/FLUSHDB, RANDOMKEY, TIME, SWAPDB, OBJECT,
// MEMORY USAGE, DEBUG and compaction. Mutates only through ctx.write; a no-op never writes.

import { objectAccessReply } from './object-access.js';
import { collectionOf } from './keytype.js';
import type { CommandContext, CommandModule } from '../command-types.js';
import type { ReplicatedStore } from '../../storage/api.js';
import { globMatch } from '../../storage/glob.js';
import { typeCode, type KvCollection } from '../../storage/collection.js';
import { encodeCollection } from '../../storage/object-codec.js';
import { isInt64Text } from '../../storage/set-object.js';
import { keyFromBytes, NO_EXPIRY, type Key, type Op } from '../../storage/types.js';
import {
  ERR_INVALID_CURSOR,
  ERR_NOT_INTEGER,
  ERR_NO_SUCH_KEY,
  ERR_SYNTAX,
  INT64_MAX,
  errArity,
  INT64_MIN,
  cString,
  errInvalidExpire,
  errUnknownContainerSubcommand,
  errUnknownSubcommand,
  isWord,
  parseInt32,
  parseInt64,
  parseScanCursor,
} from './args.js';
import { datasetDigestHex, valueDigestHex } from './digest.js';
import { specIn, WF, RF } from './spec.js';
import { key, range } from './key-specs.js';

/** SCAN's default COUNT (Redis: 10). */
const SCAN_COUNT_DEFAULT = 10;

function typeCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  ctx.out.simple(ctx.store.typeOf(keyFromBytes(argv[1] as Buffer)));
}

function keysCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const pattern = keyFromBytes(argv[1] as Buffer);
  const all = pattern === '*';
  const found: Key[] = [];
  for (const k of ctx.store.keys()) {
    if ((all || globMatch(pattern, k)) && ctx.store.has(k)) found.push(k);
  }
  ctx.out.array(found.length);
  for (const k of found) ctx.out.bulkLatin1(k);
}

/** SCAN cursor [MATCH pattern] [COUNT count] [TYPE type] — Redis's option loop, errors and order. */
function scanCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out, store } = ctx;
  const cursor = parseScanCursor(argv[1] as Buffer);
  if (cursor === null) return out.error(ERR_INVALID_CURSOR);
  let count = SCAN_COUNT_DEFAULT;
  let match: Buffer | undefined;
  let typeName: string | undefined;
  for (let i = 2; i < argv.length; i += 2) {
    const opt = argv[i] as Buffer;
    const val = argv[i + 1];
    if (val === undefined) return out.error(ERR_SYNTAX);
    if (isWord(opt, 'count')) {
      const n = parseInt64(val);
      if (n === null) return out.error(ERR_NOT_INTEGER);
      if (n < 1n) return out.error(ERR_SYNTAX);
      count = n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
    } else if (isWord(opt, 'match')) {
      match = val.length === 1 && val[0] === 0x2a ? undefined : val;
    } else if (isWord(opt, 'type')) {
      typeName = cString(val).toLowerCase();
    } else {
      return out.error(ERR_SYNTAX);
    }
  }
  const r = store.scan(cursor, count, match);
  // Redis 7.0 does not reject unknown type names: they match no key.
  const keys = typeName === undefined ? r.keys : r.keys.filter((k) => store.typeOf(k) === typeName);
  out.array(2);
  out.bulk(r.cursor);
  out.array(keys.length);
  for (const k of keys) out.bulkLatin1(k);
}

function existsCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  let n = 0;
  for (let i = 1; i < argv.length; i++) if (ctx.store.has(keyFromBytes(argv[i] as Buffer))) n++;
  ctx.out.integer(n);
}

/** DEL / UNLINK: one entry with the dels of the distinct keys that exist; none when nothing does. */
function delCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const seen = new Set<Key>();
  const ops: Op[] = [];
  for (let i = 1; i < argv.length; i++) {
    const key = keyFromBytes(argv[i] as Buffer);
    if (seen.has(key)) continue;
    seen.add(key);
    if (ctx.store.has(key)) ops.push({ t: 'del', key });
  }
  if (ops.length > 0) ctx.write(ops);
  ctx.out.integer(ops.length);
}

// ---------------------------------------------------------------- expiry

const EXPIRE_NX = 1;
const EXPIRE_XX = 2;
const EXPIRE_GT = 4;
const EXPIRE_LT = 8;

/** Redis parseExtendedExpireArgumentsOrReply: flags, or an error message. */
function parseExpireFlags(argv: readonly Buffer[]): number | string {
  let flags = 0;
  for (let j = 3; j < argv.length; j++) {
    const opt = argv[j] as Buffer;
    if (isWord(opt, 'nx')) flags |= EXPIRE_NX;
    else if (isWord(opt, 'xx')) flags |= EXPIRE_XX;
    else if (isWord(opt, 'gt')) flags |= EXPIRE_GT;
    else if (isWord(opt, 'lt')) flags |= EXPIRE_LT;
    else return `ERR Unsupported option ${cString(opt)}`;
  }
  if ((flags & EXPIRE_NX) !== 0 && (flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT)) !== 0) {
    return 'ERR NX and XX, GT or LT options at the same time are not compatible';
  }
  if ((flags & EXPIRE_GT) !== 0 && (flags & EXPIRE_LT) !== 0) {
    return 'ERR GT and LT options at the same time are not compatible';
  }
  return flags;
}

/** Whether NX/XX/GT/LT allow replacing `current` (-1 = no expiry) with `when`, as Redis decides. */
function expireAllowed(flags: number, current: bigint, when: bigint): boolean {
  if ((flags & EXPIRE_NX) !== 0 && current !== -1n) return false;
  if ((flags & EXPIRE_XX) !== 0 && current === -1n) return false;
  // No expiry counts as an infinite TTL: GT never beats it, LT always does.
  if ((flags & EXPIRE_GT) !== 0 && (current === -1n || when <= current)) return false;
  if ((flags & EXPIRE_LT) !== 0 && current !== -1n && when >= current) return false;
  return true;
}

/** Redis expireGenericCommand; `relative` adds now, `seconds` scales by 1000, in int64 with Redis's overflow checks. */
function expireGeneric(ctx: CommandContext, argv: readonly Buffer[], name: string, relative: boolean, seconds: boolean): void {
  const { store, out } = ctx;
  const flags = parseExpireFlags(argv);
  if (typeof flags === 'string') return out.error(flags);
  let when = parseInt64(argv[2] as Buffer);
  if (when === null) return out.error(ERR_NOT_INTEGER);
  if (seconds) {
    if (when > INT64_MAX / 1000n || when < INT64_MIN / 1000n) return out.error(errInvalidExpire(name));
    when *= 1000n;
  }
  const now = store.now();
  const base = relative ? BigInt(now) : 0n;
  if (when > INT64_MAX - base) return out.error(errInvalidExpire(name));
  when += base;
  const key = keyFromBytes(argv[1] as Buffer);
  const currentMs = store.getExpireAt(key);
  if (currentMs === undefined) return out.integer(0);
  const current = currentMs === NO_EXPIRY ? -1n : BigInt(currentMs);
  if (flags !== 0 && !expireAllowed(flags, current, when)) return out.integer(0);
  if (when <= BigInt(now)) {
    // Already in the past: Redis deletes the key (and replicates a DEL).
    ctx.write([{ t: 'del', key }]);
  } else {
    // Logged even when the time is unchanged: Redis propagates it and announces 'expire' either way.
    ctx.write([{ t: 'expire', key, expireAtMs: Number(when) }]);
  }
  out.integer(1);
}

/** Redis ttlGenericCommand: -2 missing, -1 no expiry; seconds round half up ((ms + 500) / 1000). */
function ttlGeneric(ctx: CommandContext, argv: readonly Buffer[], ms: boolean, absolute: boolean): void {
  const { store, out } = ctx;
  const at = store.getExpireAt(keyFromBytes(argv[1] as Buffer));
  if (at === undefined) return out.integer(-2);
  if (at === NO_EXPIRY) return out.integer(-1);
  const t = Math.max(0, absolute ? at : at - store.now());
  out.integer(ms ? t : Math.floor((t + 500) / 1000));
}

function persistCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const key = keyFromBytes(argv[1] as Buffer);
  const at = ctx.store.getExpireAt(key);
  if (at === undefined || at === NO_EXPIRY) return ctx.out.integer(0);
  ctx.write([{ t: 'expire', key, expireAtMs: NO_EXPIRY }]);
  ctx.out.integer(1);
}

/**
 * The op that makes `dst` a copy of `src` (value or contents, and expiry): a 'set' for a string,
 * a 'restore' of the whole collection otherwise. Undefined when `src` is missing.
 */
function copyOp(store: ReplicatedStore, src: Key, dst: Key): Op | undefined {
  const type = store.typeOf(src);
  if (type === 'none') return undefined;
  const expireAtMs = store.getExpireAt(src) ?? NO_EXPIRY;
  if (type === 'string') return { t: 'set', key: dst, value: store.getValue(src) as Buffer, expireAtMs };
  return { t: 'restore', key: dst, payload: encodeCollection(typeCode(type), collectionOf(store, src) as KvCollection), expireAtMs };
}

/** Redis renameGenericCommand: value and expiry move as one entry [del src, set/restore dst]. */
function renameGeneric(ctx: CommandContext, argv: readonly Buffer[], nx: boolean): void {
  const { store, out } = ctx;
  const src = keyFromBytes(argv[1] as Buffer);
  const dst = keyFromBytes(argv[2] as Buffer);
  if (!store.has(src)) return out.error(ERR_NO_SUCH_KEY);
  if (src === dst) return nx ? out.integer(0) : out.ok();
  if (nx && store.has(dst)) return out.integer(0);
  ctx.write([{ t: 'del', key: src }, copyOp(store, src, dst) as Op]);
  if (nx) out.integer(1);
  else out.ok();
}

/** COPY source destination [DB destination-db] [REPLACE]: Redis copyCommand; only db 0 exists here. */
function copyCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { store, out } = ctx;
  let replace = false;
  for (let j = 3; j < argv.length; j++) {
    const opt = argv[j] as Buffer;
    if (isWord(opt, 'replace')) replace = true;
    else if (isWord(opt, 'db') && j + 1 < argv.length) {
      const db = parseInt64(argv[j + 1] as Buffer);
      if (db === null || db > 2147483647n || db < -2147483648n) return out.error(ERR_NOT_INTEGER);
      if (db !== 0n) return out.error('ERR DB index is out of range');
      j++;
    } else return out.error(ERR_SYNTAX);
  }
  const src = keyFromBytes(argv[1] as Buffer);
  const dst = keyFromBytes(argv[2] as Buffer);
  if (src === dst) return out.error('ERR source and destination objects are the same');
  const op = copyOp(store, src, dst);
  if (op === undefined) return out.integer(0);
  if (!replace && store.has(dst)) return out.integer(0);
  // A 'set' or 'restore' replaces whatever dst held (REPLACE), in one op.
  ctx.write([op]);
  out.integer(1);
}

// ---------------------------------------------------------------- OBJECT, MEMORY

/** Redis's refcount of a shared object (small integers are shared in Redis 7.0). */
const SHARED_REFCOUNT = 2147483647;
/** Redis OBJ_SHARED_INTEGERS: integers 0..9999 are shared objects. */
const SHARED_INTEGERS = 10000;
/** Redis OBJ_ENCODING_EMBSTR_SIZE_LIMIT. */
const EMBSTR_BYTES_MAX = 44;

const OBJECT_HELP = [
  'OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'ENCODING <key>',
  '    Return the kind of internal representation used in order to store the value',
  '    associated with a <key>.',
  'FREQ <key>',
  '    Return the access frequency index of the <key>. The returned integer is',
  '    proportional to the logarithm of the recent access frequency of the key.',
  'IDLETIME <key>',
  '    Return the idle time of the <key>, that is the approximated number of',
  '    seconds elapsed since the last access to the key.',
  'REFCOUNT <key>',
  '    Return the number of references of the value associated with the specified',
  '    <key>.',
  'HELP',
  '    Prints this help.',
];

/** What OBJECT ENCODING says of a string value, as Redis 7.0 would for a value SET stored. */
function stringEncoding(v: Buffer): string {
  if (v.length <= 20 && isInt64Text(keyFromBytes(v))) return 'int';
  return v.length <= EMBSTR_BYTES_MAX ? 'embstr' : 'raw';
}

function objectCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out, store } = ctx;
  const sub = argv[1] as Buffer;
  if (isWord(sub, 'help')) {
    if (argv.length !== 2) return out.error(errArity('object|help'));
    out.array(OBJECT_HELP.length);
    for (const line of OBJECT_HELP) out.simple(line);
    return;
  }
  // FREQ and IDLETIME read the eviction policies' access words (object-access.ts).
  const access = isWord(sub, 'freq') ? 'freq' : isWord(sub, 'idletime') ? 'idletime' : null;
  if (access !== null) {
    if (argv.length !== 3) return out.error(errArity(`object|${access}`));
    objectAccessReply(ctx, access, argv[2] as Buffer);
    return;
  }
  const which = isWord(sub, 'encoding') ? 'encoding' : isWord(sub, 'refcount') ? 'refcount' : null;
  if (which === null) return out.error(errUnknownContainerSubcommand(sub, 'OBJECT'));
  if (argv.length !== 3) return out.error(errArity(`object|${which}`));
  const key = keyFromBytes(argv[2] as Buffer);
  const type = store.typeOf(key);
  if (type === 'none') return out.nullBulk();
  if (type === 'string') {
    const v = store.getValue(key) as Buffer;
    if (which === 'encoding') return out.bulk(stringEncoding(v));
    const shared = v.length <= 4 && isInt64Text(keyFromBytes(v)) && Number(keyFromBytes(v)) >= 0 && Number(keyFromBytes(v)) < SHARED_INTEGERS;
    return out.integer(shared ? SHARED_REFCOUNT : 1);
  }
  if (which === 'refcount') return out.integer(1);
  out.bulk((collectionOf(store, key) as KvCollection).encoding);
}

const MEMORY_HELP = [
  'MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'USAGE <key> [SAMPLES <count>]',
  '    Return memory in bytes used by <key> and its value. Nested values are',
  '    sampled up to <count> times (default: 5, 0 means sample all).',
  'HELP',
  '    Prints this help.',
];

/** MEMORY USAGE key [SAMPLES count] | HELP (Redis memoryCommand's argument rules; the size is kv-ts's estimate). */
function memoryCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out, store } = ctx;
  const sub = argv[1] as Buffer;
  if (isWord(sub, 'help')) {
    if (argv.length !== 2) return out.error(errArity('memory|help'));
    out.array(MEMORY_HELP.length);
    for (const line of MEMORY_HELP) out.simple(line);
    return;
  }
  if (!isWord(sub, 'usage')) return out.error(errUnknownContainerSubcommand(sub, 'MEMORY'));
  if (argv.length < 3) return out.error(errArity('memory|usage'));
  for (let j = 3; j < argv.length; j++) {
    if (isWord(argv[j] as Buffer, 'samples') && j + 1 < argv.length) {
      const n = parseInt64(argv[j + 1] as Buffer);
      if (n === null) return out.error(ERR_NOT_INTEGER);
      if (n < 0n) return out.error(ERR_SYNTAX);
      j++; // every element is counted exactly: the sample count changes nothing here
    } else return out.error(ERR_SYNTAX);
  }
  const usage = store.memoryUsage(keyFromBytes(argv[2] as Buffer));
  if (usage === undefined) out.nullBulk();
  else out.integer(usage);
}

/** FLUSHALL / FLUSHDB [ASYNC|SYNC]: database 0 is the whole dataset, so both log one 'flushall'. */
function flushallCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  if (argv.length > 2) return ctx.out.error(ERR_SYNTAX);
  // SYNC and ASYNC both free memory at once here: the keyspace is dropped by reference.
  if (argv.length === 2 && !isWord(argv[1] as Buffer, 'sync') && !isWord(argv[1] as Buffer, 'async')) {
    return ctx.out.error(ERR_SYNTAX);
  }
  if (ctx.store.size > 0) ctx.write([{ t: 'flushall' }]);
  // Nothing to log, yet Redis tells tracking clients every key is invalid all the same.
  else if (ctx.server.tracking?.active === true) ctx.server.tracking.flushed(ctx.client.id);
  ctx.out.ok();
}

function randomkeyCommand(ctx: CommandContext): void {
  const k = ctx.store.randomKey();
  if (k === undefined) ctx.out.nullBulk();
  else ctx.out.bulkLatin1(k);
}

/** TIME: [unix seconds, microseconds] as bulk strings, from the wall clock (as Redis). */
function timeCommand(ctx: CommandContext): void {
  const us = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  ctx.out.array(2);
  ctx.out.bulk(String(Math.floor(us / 1_000_000)));
  ctx.out.bulk(String(us % 1_000_000));
}

/** SWAPDB with one database: 0 0 swaps nothing (OK, nothing logged); any other index is out of range. */
function swapdbCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const a = parseInt32(argv[1] as Buffer);
  if (a === null) return ctx.out.error('ERR invalid first DB index');
  const b = parseInt32(argv[2] as Buffer);
  if (b === null) return ctx.out.error('ERR invalid second DB index');
  if (a !== 0 || b !== 0) return ctx.out.error('ERR DB index is out of range');
  ctx.out.ok();
}

const DEBUG_HELP = [
  'DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'DIGEST',
  '    Output a hex signature representing the current DB content (keys, values, expiries).',
  'DIGEST-VALUE <key> [<key> ...]',
  '    Output a hex signature of the values of all the specified keys.',
  'SLEEP 0',
  '    Return at once (only zero seconds: sleeping would stall every client).',
  'HELP',
  '    Print this help.',
];

function debugCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out, store } = ctx;
  const sub = argv[1] as Buffer;
  if (isWord(sub, 'help') && argv.length === 2) {
    out.array(DEBUG_HELP.length);
    for (const line of DEBUG_HELP) out.simple(line);
  } else if (isWord(sub, 'digest') && argv.length === 2) {
    out.bulk(datasetDigestHex(store));
  } else if (isWord(sub, 'digest-value') && argv.length >= 2) {
    out.array(argv.length - 2);
    for (let i = 2; i < argv.length; i++) out.bulk(valueDigestHex(store, keyFromBytes(argv[i] as Buffer)));
  } else if (isWord(sub, 'sleep') && argv.length === 3 && /^0*(\.0*)?$/.test(cString(argv[2] as Buffer))) {
    out.ok();
  } else {
    out.error(errUnknownSubcommand(sub, 'DEBUG'));
  }
}

function compactCommand(ctx: CommandContext): void {
  const p = ctx.server.persistence;
  if (p?.inProgress() === true) return ctx.out.error('ERR Background append only file rewriting already in progress');
  ctx.server.compact();
  // Redis schedules a rewrite asked for inside EXEC; here it starts once the transaction's turn ends.
  ctx.out.simple(ctx.inTransaction === true ? 'Background append only file rewriting scheduled' : 'Background append only file rewriting started');
}

/**
 * SAVE: a snapshot (compaction) made now, answered once durable. Unlike Redis's SAVE it blocks
 * only this client: the snapshot is written while other clients are served.
 */
function saveCommand(ctx: CommandContext): void {
  const p = ctx.server.persistence;
  if (p === undefined) return ctx.out.error('ERR this server does not take snapshots');
  if (p.inProgress()) return ctx.out.error('ERR Background save already in progress');
  const defer = ctx.defer;
  if (defer === undefined) return ctx.out.error('ERR SAVE cannot wait here (inside a script)');
  const reply = defer();
  p.snapshot().then(
    () => reply((o) => o.ok()),
    (e: unknown) => reply((o) => o.error(`ERR ${(e as Error).message}`)),
  );
}

function bgsaveCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const p = ctx.server.persistence;
  if (p === undefined) return ctx.out.error('ERR this server does not take snapshots');
  const schedule = argv.length === 2 && isWord(argv[1] as Buffer, 'schedule');
  if (argv.length > 2 || (argv.length === 2 && !schedule)) return ctx.out.error('ERR syntax error');
  if (p.inProgress()) {
    if (!schedule) return ctx.out.error('ERR Background save already in progress');
    p.snapshotAfterCurrent();
    return ctx.out.simple('Background saving scheduled');
  }
  ctx.server.compact();
  ctx.out.simple('Background saving started');
}

function lastsaveCommand(ctx: CommandContext): void {
  const p = ctx.server.persistence;
  if (p === undefined) return ctx.out.error('ERR this server does not take snapshots');
  ctx.out.integer(Math.floor(p.lastSaveMs() / 1000));
}

// ---------------------------------------------------------------- the table

const spec = specIn('generic');

const NOKEYS = { firstKey: 0, lastKey: 0, keyStep: 0 } as const;
const EXPIRE_SYNTAX = '[NX|XX|GT|LT]';

export const genericCommands: CommandModule = [
  spec({ name: 'type', keySpecs: [key('RO', 1)], arity: 2, flags: RF, noTouch: true, summary: 'Determine the type of a key', syntax: 'key', handler: typeCommand }),
  spec({ name: 'keys', acl: ['@keyspace', '@dangerous'], arity: 2, flags: ['readonly'], ...NOKEYS, summary: 'Find all keys matching a glob pattern', syntax: 'pattern', handler: keysCommand }),
  spec({
    name: 'scan', arity: -2, flags: ['readonly'], ...NOKEYS, summary: 'Incrementally iterate the keyspace',
    syntax: 'cursor [MATCH pattern] [COUNT count] [TYPE type]', handler: scanCommand,
  }),
  spec({ name: 'touch', keySpecs: [key('RO', 1, range(-1))], arity: -2, flags: RF, summary: 'Count how many of the keys exist, counting an access to each', syntax: 'key [key ...]', handler: existsCommand }),
  spec({ name: 'exists', keySpecs: [key('RO', 1, range(-1))], arity: -2, flags: RF, noTouch: true, summary: 'Count how many of the keys exist', syntax: 'key [key ...]', handler: existsCommand }),
  spec({ name: 'del', keySpecs: [key('RM delete', 1, range(-1))], arity: -2, flags: ['write'], summary: 'Delete keys', syntax: 'key [key ...]', handler: delCommand }),
  spec({ name: 'unlink', keySpecs: [key('RM delete', 1, range(-1))], arity: -2, flags: WF, summary: 'Delete keys (same as DEL here)', syntax: 'key [key ...]', handler: delCommand }),
  spec({
    name: 'expire', keySpecs: [key('RW update', 1)], arity: -3, flags: WF, summary: 'Set a key\'s time to live in seconds', syntax: `key seconds ${EXPIRE_SYNTAX}`,
    handler: (ctx, argv) => expireGeneric(ctx, argv, 'expire', true, true),
  }),
  spec({
    name: 'pexpire', keySpecs: [key('RW update', 1)], arity: -3, flags: WF, summary: 'Set a key\'s time to live in milliseconds', syntax: `key milliseconds ${EXPIRE_SYNTAX}`,
    handler: (ctx, argv) => expireGeneric(ctx, argv, 'pexpire', true, false),
  }),
  spec({
    name: 'expireat', keySpecs: [key('RW update', 1)], arity: -3, flags: WF, summary: 'Set a key\'s expiry as a Unix time in seconds', syntax: `key unix-time-seconds ${EXPIRE_SYNTAX}`,
    handler: (ctx, argv) => expireGeneric(ctx, argv, 'expireat', false, true),
  }),
  spec({
    name: 'pexpireat', keySpecs: [key('RW update', 1)], arity: -3, flags: WF, summary: 'Set a key\'s expiry as a Unix time in milliseconds',
    syntax: `key unix-time-milliseconds ${EXPIRE_SYNTAX}`, handler: (ctx, argv) => expireGeneric(ctx, argv, 'pexpireat', false, false),
  }),
  spec({ name: 'ttl', keySpecs: [key('RO access', 1)], arity: 2, flags: RF, noTouch: true, summary: 'Time to live of a key in seconds', syntax: 'key', handler: (ctx, argv) => ttlGeneric(ctx, argv, false, false) }),
  spec({ name: 'pttl', keySpecs: [key('RO access', 1)], arity: 2, flags: RF, noTouch: true, summary: 'Time to live of a key in milliseconds', syntax: 'key', handler: (ctx, argv) => ttlGeneric(ctx, argv, true, false) }),
  spec({ name: 'expiretime', keySpecs: [key('RO access', 1)], arity: 2, flags: RF, noTouch: true, summary: 'Expiry of a key as a Unix time in seconds', syntax: 'key', handler: (ctx, argv) => ttlGeneric(ctx, argv, false, true) }),
  spec({ name: 'pexpiretime', keySpecs: [key('RO access', 1)], arity: 2, flags: RF, noTouch: true, summary: 'Expiry of a key as a Unix time in milliseconds', syntax: 'key', handler: (ctx, argv) => ttlGeneric(ctx, argv, true, true) }),
  spec({ name: 'persist', keySpecs: [key('RW update', 1)], arity: 2, flags: WF, summary: 'Remove the expiry of a key', syntax: 'key', handler: persistCommand }),
  spec({ name: 'rename', keySpecs: [key('RW access delete', 1), key('OW update', 2)], arity: 3, flags: ['write'], summary: 'Rename a key', syntax: 'key newkey', handler: (ctx, argv) => renameGeneric(ctx, argv, false) }),
  spec({
    name: 'renamenx', keySpecs: [key('RW access delete', 1), key('OW insert', 2)], arity: 3, flags: WF, summary: 'Rename a key only if the new name does not exist', syntax: 'key newkey',
    handler: (ctx, argv) => renameGeneric(ctx, argv, true),
  }),
  spec({
    name: 'copy', keySpecs: [key('RO access', 1), key('OW update', 2)], arity: -3, flags: ['write', 'denyoom'], summary: 'Copy a key (any type) with its expiry', syntax: 'source destination [DB destination-db] [REPLACE]',
    handler: copyCommand,
  }),
  spec({
    name: 'object', arity: -2, flags: ['readonly'], ...NOKEYS, summary: 'Inspect the internals of a key\'s value',
    syntax: 'ENCODING key | FREQ key | IDLETIME key | REFCOUNT key | HELP', subcommands: ['encoding', 'freq', 'idletime', 'refcount', 'help'],
    subcommandKeySpecs: { encoding: [key('RO', 2)], freq: [key('RO', 2)], idletime: [key('RO', 2)], refcount: [key('RO', 2)] }, handler: objectCommand,
  }),
  spec({
    name: 'memory', arity: -2, flags: ['readonly'], ...NOKEYS, summary: 'Estimated memory of a key', syntax: 'USAGE key [SAMPLES count] | HELP',
    subcommands: ['usage', 'help'], subcommandKeySpecs: { usage: [key('RO', 2)] }, handler: memoryCommand,
  }),
  spec({ name: 'dbsize', arity: 1, flags: RF, ...NOKEYS, summary: 'Number of keys', syntax: '', handler: (ctx) => ctx.out.integer(ctx.store.size) }),
  spec({ name: 'flushall', acl: ['@keyspace', '@dangerous'], arity: -1, flags: ['write'], ...NOKEYS, summary: 'Delete every key', syntax: '[ASYNC|SYNC]', handler: flushallCommand }),
  spec({ name: 'flushdb', acl: ['@keyspace', '@dangerous'], arity: -1, flags: ['write'], ...NOKEYS, summary: 'Delete every key of database 0 (the only one)', syntax: '[ASYNC|SYNC]', handler: flushallCommand }),
  spec({ name: 'randomkey', arity: 1, flags: ['readonly'], ...NOKEYS, summary: 'A random key', syntax: '', handler: randomkeyCommand }),
  spec({ name: 'time', acl: [], arity: 1, flags: ['loading', 'stale', 'fast'], ...NOKEYS, summary: 'The server time: Unix seconds and microseconds', syntax: '', handler: timeCommand }),
  spec({ name: 'swapdb', acl: ['@keyspace', '@dangerous'], arity: 3, flags: ['write', 'fast'], ...NOKEYS, summary: 'Swap two databases (only 0 with itself: one database)', syntax: 'index1 index2', handler: swapdbCommand }),
  spec({
    name: 'debug', arity: -2, flags: ['admin', 'noscript', 'loading', 'stale'], ...NOKEYS, summary: 'Debugging: dataset digests',
    syntax: 'DIGEST | DIGEST-VALUE key [key ...] | SLEEP 0 | HELP', subcommands: ['digest', 'digest-value', 'sleep', 'help'], handler: debugCommand,
  }),
  spec({ name: 'compact', arity: 1, flags: ['admin', 'noscript'], ...NOKEYS, summary: 'Rewrite the log into a compact snapshot in the background', syntax: '', handler: compactCommand }),
  spec({ name: 'bgrewriteaof', acl: [], arity: 1, flags: ['admin', 'noscript'], ...NOKEYS, summary: 'Same as COMPACT (Redis name)', syntax: '', handler: compactCommand }),
  spec({ name: 'save', acl: [], arity: 1, flags: ['admin', 'noscript', 'no_multi'], ...NOKEYS, summary: 'Make a snapshot (compaction) now and answer once it is durable', syntax: '', handler: saveCommand }),
  spec({ name: 'bgsave', acl: [], arity: -1, flags: ['admin', 'noscript'], ...NOKEYS, summary: 'Start a snapshot (compaction) in the background', syntax: '[SCHEDULE]', handler: bgsaveCommand }),
  spec({ name: 'lastsave', acl: ['@admin', '@dangerous'], arity: 1, flags: ['loading', 'stale', 'fast'], ...NOKEYS, summary: 'Unix time of the last completed snapshot', syntax: '', handler: lastsaveCommand }),
  spec({ name: 'cleanup', arity: 1, flags: ['admin', 'noscript'], ...NOKEYS, summary: 'Same as COMPACT (kv-go name)', syntax: '', handler: compactCommand }),
];
