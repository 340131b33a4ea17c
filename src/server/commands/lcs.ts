// LCS (Redis 7.0 t_string.c lcsCommand): the longest common subsequence of two strings, its
// length, or its matching ranges (IDX, MINMATCHLEN, WITHMATCHLEN), walked back through the
// dynamic-programming table exactly as Redis does so ties resolve to the same ranges.
// Read-only: never writes; the table is bounded like Redis's (proto-max-bulk-len bytes).

import type { CommandContext, CommandModule } from '../command-types.js';
import { keyFromBytes } from '../../storage/types.js';
import { ERR_NOT_INTEGER, ERR_SYNTAX, STRING_BYTES_MAX, isWord, parseInt64 } from './args.js';
import { NOT_A_STRING, stringValue } from './bits.js';
import { key, range } from './key-specs.js';

/** Redis refuses an LCS whose uint32 table would exceed proto-max-bulk-len bytes. */
const LCS_TABLE_BYTES_MAX = STRING_BYTES_MAX;
const EMPTY = Buffer.alloc(0);

interface LcsOptions {
  idx: boolean;
  len: boolean;
  withMatchLen: boolean;
  minMatchLen: number;
}

/** The option loop (after both keys were read, as in Redis); null after replying an error. */
function parseLcsOptions(ctx: CommandContext, argv: readonly Buffer[]): LcsOptions | null {
  const o: LcsOptions = { idx: false, len: false, withMatchLen: false, minMatchLen: 0 };
  for (let j = 3; j < argv.length; j++) {
    const opt = argv[j] as Buffer;
    const more = argv.length - 1 - j;
    if (isWord(opt, 'idx')) o.idx = true;
    else if (isWord(opt, 'len')) o.len = true;
    else if (isWord(opt, 'withmatchlen')) o.withMatchLen = true;
    else if (isWord(opt, 'minmatchlen') && more > 0) {
      const n = parseInt64(argv[++j] as Buffer);
      if (n === null) {
        ctx.out.error(ERR_NOT_INTEGER);
        return null;
      }
      // Any value beyond a string's length filters everything alike.
      o.minMatchLen = n < 0n ? 0 : n > BigInt(STRING_BYTES_MAX) ? STRING_BYTES_MAX + 1 : Number(n);
    } else {
      ctx.out.error(ERR_SYNTAX);
      return null;
    }
  }
  if (o.idx && o.len) {
    ctx.out.error('ERR If you want both the length and indexes, please just use IDX.');
    return null;
  }
  return o;
}

type Range = readonly [aStart: number, aEnd: number, bStart: number, bEnd: number];

function lcsCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out, store } = ctx;
  const va = stringValue(store, keyFromBytes(argv[1] as Buffer));
  const vb = stringValue(store, keyFromBytes(argv[2] as Buffer));
  if (va === NOT_A_STRING || vb === NOT_A_STRING) return out.error('ERR The specified keys must contain string values');
  const a = va ?? EMPTY;
  const b = vb ?? EMPTY;
  const opts = parseLcsOptions(ctx, argv);
  if (opts === null) return;
  const alen = a.length;
  const blen = b.length;
  const w = blen + 1;
  if ((alen + 1) * w * 4 > LCS_TABLE_BYTES_MAX) {
    return out.error('ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len');
  }
  // table[i * w + j] = LCS length of a[0, i) and b[0, j).
  const table = new Uint32Array((alen + 1) * w);
  for (let i = 1; i <= alen; i++) {
    const ai = a[i - 1];
    for (let j = 1; j <= blen; j++) {
      if (ai === b[j - 1]) table[i * w + j] = (table[(i - 1) * w + j - 1] as number) + 1;
      else table[i * w + j] = Math.max(table[(i - 1) * w + j] as number, table[i * w + j - 1] as number);
    }
  }
  const total = table[alen * w + blen] as number;
  if (opts.len) return out.integer(total);

  const result = Buffer.alloc(total);
  const ranges: Range[] = [];
  let idx = total;
  // aStart === alen means "no range open" (Redis's sentinel).
  let aStart = alen;
  let aEnd = 0;
  let bStart = 0;
  let bEnd = 0;
  let i = alen;
  let j = blen;
  while (i > 0 && j > 0) {
    let emit = false;
    if (a[i - 1] === b[j - 1]) {
      result[idx - 1] = a[i - 1] as number;
      if (aStart === alen) {
        aStart = aEnd = i - 1;
        bStart = bEnd = j - 1;
      } else if (aStart === i && bStart === j) {
        aStart--;
        bStart--;
      } else {
        emit = true;
      }
      if (aStart === 0 || bStart === 0) emit = true;
      idx--;
      i--;
      j--;
    } else {
      if ((table[(i - 1) * w + j] as number) > (table[i * w + j - 1] as number)) i--;
      else j--;
      if (aStart !== alen) emit = true;
    }
    if (emit) {
      const matchLen = aEnd - aStart + 1;
      if (opts.minMatchLen === 0 || matchLen >= opts.minMatchLen) ranges.push([aStart, aEnd, bStart, bEnd]);
      aStart = alen;
    }
  }
  if (!opts.idx) return out.bulk(result);
  out.map(2);
  out.bulk('matches');
  out.array(ranges.length);
  for (const [as, ae, bs, be] of ranges) {
    out.array(opts.withMatchLen ? 3 : 2);
    out.array(2);
    out.integer(as);
    out.integer(ae);
    out.array(2);
    out.integer(bs);
    out.integer(be);
    if (opts.withMatchLen) out.integer(ae - as + 1);
  }
  out.bulk('len');
  out.integer(total);
}

export const lcsCommands: CommandModule = [
  {
    name: 'lcs', keySpecs: [key('RO access', 1, range(1))], arity: -3, flags: ['readonly'], group: 'string', firstKey: 1, lastKey: 2, keyStep: 1,
    summary: 'Longest common subsequence of two strings', syntax: 'key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]',
    handler: lcsCommand,
  },
];
