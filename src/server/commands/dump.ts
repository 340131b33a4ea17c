// DUMP and RESTORE with Redis 7.0 semantics: a key's value as a Redis-compatible payload
// (storage/dump-payload.ts owns its format), and a payload made a key again, with RESTORE's
// options, errors and order of checks. A RESTORE is one logged entry ('set' for a string,
// 'restore' for a collection, or the 'del' of a REPLACE whose TTL already passed); never writes
// the keyspace otherwise (IDLETIME / FREQ only set this node's access word).

import type { CommandContext, CommandModule } from '../command-types.js';
import { decodeDump, dumpKey, ERR_DUMP_STREAM, isRefusal, restoreOp } from '../../storage/dump-payload.js';
import { keyFromBytes, NO_EXPIRY } from '../../storage/types.js';
import { ERR_NOT_INTEGER, ERR_SYNTAX, INT64_MAX, isWord, parseInt64 } from './args.js';
import { key } from './key-specs.js';

const ERR_BUSYKEY = 'BUSYKEY Target key name already exists.';
const ERR_CHECKSUM = 'ERR DUMP payload version or checksum are wrong';
const ERR_BAD_FORMAT = 'ERR Bad data format';
/** Redis's FREQ range: the LFU counter is 8 bits. */
const FREQ_MAX = 255n;

function dumpCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const payload = dumpKey(ctx.store, keyFromBytes(argv[1] as Buffer));
  if (payload === null) ctx.out.error(ERR_DUMP_STREAM);
  else if (payload === undefined) ctx.out.nullBulk();
  else ctx.out.bulk(payload);
}

interface RestoreOptions {
  replace: boolean;
  absTtl: boolean;
  idleSeconds: number | null;
  freq: number | null;
}

/** Redis restoreCommand's option loop: options, or the error to reply. IDLETIME and FREQ exclude each other. */
function parseRestoreOptions(argv: readonly Buffer[]): RestoreOptions | string {
  const o: RestoreOptions = { replace: false, absTtl: false, idleSeconds: null, freq: null };
  for (let j = 4; j < argv.length; j++) {
    const opt = argv[j] as Buffer;
    const hasArg = j + 1 < argv.length;
    if (isWord(opt, 'replace')) o.replace = true;
    else if (isWord(opt, 'absttl')) o.absTtl = true;
    else if (isWord(opt, 'idletime') && hasArg && o.freq === null) {
      const v = parseInt64(argv[++j] as Buffer);
      if (v === null) return ERR_NOT_INTEGER;
      if (v < 0n) return 'ERR Invalid IDLETIME value, must be >= 0';
      o.idleSeconds = Number(v);
    } else if (isWord(opt, 'freq') && hasArg && o.idleSeconds === null) {
      const v = parseInt64(argv[++j] as Buffer);
      if (v === null) return ERR_NOT_INTEGER;
      if (v < 0n || v > FREQ_MAX) return 'ERR Invalid FREQ value, must be >= 0 and <= 255';
      o.freq = Number(v);
    } else return ERR_SYNTAX;
  }
  return o;
}

/** RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]. */
function restoreCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { store, out } = ctx;
  const o = parseRestoreOptions(argv);
  if (typeof o === 'string') return out.error(o);
  const key = keyFromBytes(argv[1] as Buffer);
  const exists = store.has(key);
  if (!o.replace && exists) return out.error(ERR_BUSYKEY);
  const ttl = parseInt64(argv[2] as Buffer);
  if (ttl === null) return out.error(ERR_NOT_INTEGER);
  if (ttl < 0n) return out.error('ERR Invalid TTL value, must be >= 0');
  const d = decodeDump(argv[3] as Buffer, store.encodingLimits);
  if (isRefusal(d)) {
    if (d.reason === 'checksum') return out.error(ERR_CHECKSUM);
    if (d.reason === 'type') return out.error(`${ERR_BAD_FORMAT}: ${d.typeName === 'stream' ? 'kv-ts does not read the RDB stream encoding' : `kv-ts has no ${d.typeName} type`}`);
    return out.error(ERR_BAD_FORMAT);
  }
  const now = BigInt(store.now());
  const when = ttl === 0n || o.absTtl ? ttl : ttl + now;
  // A time past int64 wraps negative in Redis, which then counts it as already expired.
  if (ttl !== 0n && (when <= now || when > INT64_MAX)) {
    if (exists) ctx.write([{ t: 'del', key }]);
    return out.ok();
  }
  ctx.write([restoreOp(key, d, ttl === 0n ? NO_EXPIRY : Number(when))]);
  if (o.idleSeconds !== null || o.freq !== null) store.setObjectAccess(key, o.idleSeconds, o.freq);
  out.ok();
}

export const dumpCommands: CommandModule = [
  {
    name: 'dump', keySpecs: [key('RO access', 1)], arity: 2, flags: ['readonly'], firstKey: 1, lastKey: 1, keyStep: 1, group: 'generic',
    summary: 'A key\'s value serialized in Redis\'s DUMP format', syntax: 'key', handler: dumpCommand,
  },
  {
    name: 'restore', acl: ['@keyspace', '@dangerous'], keySpecs: [key('OW update', 1)], arity: -4, flags: ['write', 'denyoom'], firstKey: 1, lastKey: 1, keyStep: 1, group: 'generic',
    summary: 'Create a key from a DUMP payload', syntax: 'key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]', handler: restoreCommand,
  },
];
