// Redis 7 key specs: the one description of where a command's keys are and what it does with
// them. COMMAND INFO's key specs, its legacy first/last/step triple and `movablekeys` flag, and
// COMMAND GETKEYS / GETKEYSANDFLAGS are all derived from it. Owns the spec shape and those
// derivations; never holds a command's specs (each command's table entry declares its own).

import type { CommandSpec } from '../command-types.js';

/** Redis's key-spec flags, in the order COMMAND prints them (its flag bits' order). */
export const KEY_SPEC_FLAGS = ['RO', 'RW', 'OW', 'RM', 'access', 'update', 'insert', 'delete', 'not_key', 'incomplete', 'variable_flags'] as const;
export type KeySpecFlag = (typeof KEY_SPEC_FLAGS)[number];

/** Where the search for keys starts: an argument index, or the argument after a keyword. */
export type KeyBegin =
  | { readonly type: 'index'; readonly index: number }
  /** The keyword is searched from `startfrom` (negative: from the end, backwards). */
  | { readonly type: 'keyword'; readonly keyword: string; readonly startfrom: number }
  /** Found by the command's own rule (Redis's "unknown", e.g. SORT's STORE anywhere): see KeySpec.locate. */
  | { readonly type: 'unknown' };

/** How keys are found from the start: a range, or a count argument followed by the keys. */
export type KeyFind =
  /** lastkey relative to the start (-1: the last argument); limit 0 = no limit. */
  | { readonly type: 'range'; readonly lastkey: number; readonly keystep: number; readonly limit: number }
  /** The count is at start+keynumidx, the first key at start+firstkey. */
  | { readonly type: 'keynum'; readonly keynumidx: number; readonly firstkey: number; readonly keystep: number }
  | { readonly type: 'unknown' };

export interface KeySpec {
  /** Redis's note on a spec whose flags need a reason (COMMAND INFO shows it). */
  readonly notes?: string;
  /**
   * A `variable_flags` spec's flags for one command line (SET with or without GET): what
   * GETKEYSANDFLAGS reports. argv[0] is the command.
   */
  readonly resolve?: (argv: readonly Buffer[]) => readonly KeySpecFlag[];
  /** An "unknown" spec's key positions in one command line (argv[0] the command); none when absent. */
  readonly locate?: (argv: readonly Buffer[]) => readonly number[];
  readonly flags: readonly KeySpecFlag[];
  readonly begin: KeyBegin;
  readonly find: KeyFind;
}

const FLAG_SET: ReadonlySet<string> = new Set(KEY_SPEC_FLAGS);

/**
 * One key spec, Redis's JSON in one line: `key('RW access delete', 1)` is the key at argument 1,
 * `key('RO access', 2, keynum())` a numkeys argument at 2 and its keys after it. An unknown flag
 * is a bug in a table entry and throws when the module loads.
 */
export function key(
  flags: string,
  begin: number | { keyword: string; startfrom: number } | 'unknown',
  find: KeyFind = begin === 'unknown' ? { type: 'unknown' } : range(),
  extra: { notes?: string; resolve?: (argv: readonly Buffer[]) => string; locate?: (argv: readonly Buffer[]) => readonly number[] } = {},
): KeySpec {
  const ordered = parseFlags(flags);
  const { notes, resolve, locate } = extra;
  return {
    ...(notes === undefined ? {} : { notes }),
    ...(resolve === undefined ? {} : { resolve: (argv: readonly Buffer[]) => parseFlags(resolve(argv)) }),
    ...(locate === undefined ? {} : { locate }),
    flags: ordered,
    begin: begin === 'unknown' ? { type: 'unknown' } : typeof begin === 'number' ? { type: 'index', index: begin } : { type: 'keyword', keyword: begin.keyword, startfrom: begin.startfrom },
    find,
  };
}

function parseFlags(flags: string): KeySpecFlag[] {
  const parsed = flags.split(' ').filter((f) => f !== '');
  for (const f of parsed) if (!FLAG_SET.has(f)) throw new Error(`unknown key-spec flag '${f}'`);
  return KEY_SPEC_FLAGS.filter((f) => parsed.includes(f));
}

/** Whether any argument from index `from` on is one of `words` (lower-case), in any case. */
export function hasWord(argv: readonly Buffer[], from: number, words: readonly string[]): boolean {
  return argv.some((a, i) => i >= from && words.includes(a.toString('latin1').toLowerCase()));
}

export function range(lastkey = 0, keystep = 1, limit = 0): KeyFind {
  return { type: 'range', lastkey, keystep, limit };
}

export function keynum(keynumidx = 0, firstkey = 1, keystep = 1): KeyFind {
  return { type: 'keynum', keynumidx, firstkey, keystep };
}

/** Keys found by a rule that depends on the arguments (Redis's `movablekeys`): any spec not an index and a range. */
export function isMovable(specs: readonly KeySpec[]): boolean {
  return specs.some((k) => k.begin.type !== 'index' || k.find.type !== 'range');
}

/**
 * The legacy (first, last, step) triple, as Redis derives it: the index-and-range specs in
 * argument order, merged while each starts right after the previous one ends with the same
 * step; a spec that leaves a gap, or a key search that is not a range, ends the triple there.
 */
export function legacyRange(specs: readonly KeySpec[]): { firstKey: number; lastKey: number; keyStep: number } {
  const ranges = specs
    .filter((k) => k.begin.type === 'index' && k.find.type === 'range')
    .map((k) => ({ first: (k.begin as { index: number }).index, find: k.find as Extract<KeyFind, { type: 'range' }> }))
    .sort((a, b) => a.first - b.first);
  let first = 0;
  let last = 0;
  let step = 0;
  for (const r of ranges) {
    const rLast = r.find.lastkey < 0 ? r.find.lastkey : r.first + r.find.lastkey;
    if (first === 0) {
      [first, last, step] = [r.first, rLast, r.find.keystep];
      continue;
    }
    if (last < 0 || r.first !== last + step || r.find.keystep !== step) break;
    last = rLast;
  }
  return { firstKey: first, lastKey: last, keyStep: step };
}

/** Where one spec's search starts in `argv` (argv[0] the command), or -1 when it finds nothing. */
function beginIndex(k: KeySpec, argv: readonly Buffer[]): number {
  if (k.begin.type === 'index') return k.begin.index;
  if (k.begin.type === 'unknown') return -1;
  const word = k.begin.keyword.toLowerCase();
  const from = k.begin.startfrom;
  const start = from >= 0 ? from : argv.length + from;
  const dir = from >= 0 ? 1 : -1;
  for (let i = start; i > 0 && i < argv.length; i += dir) {
    if ((argv[i] as Buffer).toString('latin1').toLowerCase() === word) return i + 1;
  }
  return -1;
}

/**
 * The key positions of a full command line (argv[0] the command) with the spec that found each,
 * in spec order, or null when a key count is not a positive integer that fits the arguments
 * (Redis refuses such a line in GETKEYS).
 */
export function keyPositions(specs: readonly KeySpec[], argv: readonly Buffer[]): Array<[number, KeySpec]> | null {
  const out: Array<[number, KeySpec]> = [];
  for (const k of specs) {
    if (k.begin.type === 'unknown' || k.find.type === 'unknown') {
      for (const i of k.locate?.(argv) ?? []) out.push([i, k]);
      continue;
    }
    const begin = beginIndex(k, argv);
    if (begin < 1 || begin >= argv.length) continue;
    if (k.find.type === 'range') {
      const { lastkey, limit } = k.find;
      // A limit takes 1/limit of the arguments left (Redis's rule for a range to the end).
      const last = lastkey >= 0 ? begin + lastkey : limit > 1 ? begin + Math.floor((argv.length - begin) / limit) + lastkey : argv.length + lastkey;
      const step = Math.max(1, k.find.keystep);
      for (let i = begin; i <= last && i < argv.length; i += step) out.push([i, k]);
      continue;
    }
    const at = begin + k.find.keynumidx;
    const text = at < argv.length ? (argv[at] as Buffer).toString('latin1') : '';
    const n = /^\d+$/.test(text) ? Number(text) : -1;
    const first = begin + k.find.firstkey;
    if (n < 1 || first + (n - 1) * k.find.keystep >= argv.length) return null;
    for (let j = 0; j < n; j++) out.push([first + j * k.find.keystep, k]);
  }
  return out;
}

/**
 * A command's (or one subcommand's) key specs: declared, or, for an entry that declares none
 * (kv-ts's own commands), from its legacy triple with flags from its write/readonly flag.
 */
export function keySpecsOf(s: CommandSpec, sub: string | null): readonly KeySpec[] {
  if (sub !== null) return s.subcommandKeySpecs?.[sub] ?? [];
  return s.keySpecs ?? specsFromRange(s.firstKey, s.lastKey, s.keyStep, s.flags.includes('write'));
}

function specsFromRange(firstKey: number, lastKey: number, keyStep: number, writes: boolean): KeySpec[] {
  if (firstKey <= 0) return [];
  return [key(writes ? 'RW update' : 'RO access', firstKey, range(lastKey < 0 ? lastKey : lastKey - firstKey, keyStep))];
}
