// Sorted-set argument parsing (commands/zset-args.ts) and set algebra (commands/set-algebra.ts):
// Redis 7.0's accept/reject rules for scores, range bounds and the ZRANGE / ZUNION option tails,
// and the aggregation rules (inf + -inf, inf * 0) of ZUNION/ZINTER.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ERR_LEX_RANGE,
  ERR_LIMIT_NEEDS_BY,
  ERR_SCORE_RANGE,
  ERR_WEIGHT,
  ERR_WITHSCORES_BYLEX,
  addScores,
  parseLexRange,
  parseScore,
  parseScoreRange,
  parseZRangeArgs,
  parseZSetOpOptions,
  scanScoreText,
} from '../src/server/commands/zset-args.js';
import { combineZSets, diffMembers, interCardZSets, interMembers, unionMembers, type MemberSource } from '../src/server/commands/set-algebra.js';
import { ERR_NOT_INTEGER, ERR_SYNTAX } from '../src/server/commands/args.js';
import { SortedSet } from '../src/storage/zset.js';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const argv = (...xs: string[]): Buffer[] => xs.map(B);

test('parseScore: strtod with Redis getDoubleFromObject checks', () => {
  const ok: Array<[string, number]> = [
    ['1', 1], ['-2.5', -2.5], ['+3', 3], ['.5', 0.5], ['5.', 5], ['1e3', 1000], ['1E-2', 0.01],
    ['inf', Infinity], ['+inf', Infinity], ['-inf', -Infinity], ['-Infinity', -Infinity], ['INF', Infinity],
    ['0x10', 16], ['0x1p-2', 0.25], ['4e-320', 4e-320], ['-0', -0],
  ];
  for (const [s, v] of ok) assert.ok(Object.is(parseScore(B(s)), v), s);
  for (const s of ['', ' 1', '1 ', 'nan', '-nan', 'NaN(1)', 'abc', '1e', '1e400', '-1e400', '1e-400', '0x', '1\x002', '++1', 'infinit', '.', 'e5']) {
    assert.equal(parseScore(B(s)), null, JSON.stringify(s));
  }
});

test('parseScoreRange: zslParseRange accepts "", leading space, overflow; refuses NaN and junk', () => {
  assert.deepEqual(parseScoreRange(B('(1'), B('+inf')), { min: 1, minEx: true, max: Infinity, maxEx: false });
  assert.deepEqual(parseScoreRange(B(''), B('( 1e400')), { min: 0, minEx: false, max: Infinity, maxEx: true });
  assert.deepEqual(parseScoreRange(B('('), B('5\x00junk')), { min: 0, minEx: true, max: 5, maxEx: false });
  for (const bad of [' ', 'nan', '(nan', 'x', '1x', '((1']) assert.equal(parseScoreRange(B(bad), B('1')), null, bad);
  assert.equal(ERR_SCORE_RANGE, 'ERR min or max is not a float');
});

test('parseLexRange: - + [ ( only', () => {
  assert.deepEqual(parseLexRange(B('-'), B('+')), { min: { kind: 'min' }, max: { kind: 'max' } });
  assert.deepEqual(parseLexRange(B('[a\x00b'), B('(')), {
    min: { kind: 'value', value: 'a\x00b', exclusive: false },
    max: { kind: 'value', value: '', exclusive: true },
  });
  assert.deepEqual(parseLexRange(B('+\x00x'), B('-')), { min: { kind: 'max' }, max: { kind: 'min' } });
  for (const bad of ['', 'a', '+a', '-1', ' [a']) assert.equal(parseLexRange(B(bad), B('+')), null, bad);
  assert.equal(ERR_LEX_RANGE, 'ERR min or max not valid string range item');
});

test('scanScoreText: ZSCAN prints integral scores as integers, others as %.17g', () => {
  assert.equal(scanScoreText(1e17), '100000000000000000');
  assert.equal(scanScoreText(-3), '-3');
  assert.equal(scanScoreText(-0), '-0');
  assert.equal(scanScoreText(0.1), '0.10000000000000001');
  assert.equal(scanScoreText(Infinity), 'inf');
  assert.equal(scanScoreText(1e300), '1.0000000000000001e+300');
});

test('addScores: inf + -inf is NaN, refused', () => {
  assert.equal(addScores(1, 2), 3);
  assert.equal(addScores(Infinity, 1), Infinity);
  assert.equal(addScores(Infinity, -Infinity), null);
});

test('parseZRangeArgs: options, conflicts and the reversed bounds of BYSCORE/BYLEX REV', () => {
  const auto = { by: 'auto', dir: 'auto', store: false } as const;
  // argv: ZRANGE key min max ...; the range starts at index 2.
  assert.deepEqual(parseZRangeArgs(argv('zrange', 'k', '0', '-1', 'WITHSCORES'), 2, auto), {
    query: { by: 'rank', start: 0, stop: -1 }, rev: false, withScores: true, offset: 0, limit: -1,
  });
  assert.deepEqual(parseZRangeArgs(argv('zrange', 'k', '(5', '1', 'byscore', 'rev', 'limit', '1', '2'), 2, auto), {
    query: { by: 'score', range: { min: 1, minEx: false, max: 5, maxEx: true } }, rev: true, withScores: false, offset: 1, limit: 2,
  });
  assert.equal(parseZRangeArgs(argv('zrange', 'k', '0', '1', 'limit', '0', '1'), 2, auto), ERR_LIMIT_NEEDS_BY);
  assert.notEqual(typeof parseZRangeArgs(argv('zrange', 'k', '0', '1', 'limit', '0', '-1'), 2, auto), 'string', 'LIMIT x -1 is "no limit", so allowed');
  assert.equal(parseZRangeArgs(argv('zrange', 'k', '-', '+', 'bylex', 'withscores'), 2, auto), ERR_WITHSCORES_BYLEX);
  assert.equal(parseZRangeArgs(argv('zrange', 'k', '0', '1', 'bylex', 'byscore'), 2, auto), ERR_SYNTAX);
  assert.equal(parseZRangeArgs(argv('zrange', 'k', '0', '1', 'rev', 'rev'), 2, auto), ERR_SYNTAX);
  assert.equal(parseZRangeArgs(argv('zrange', 'k', '0', '1', 'limit', '0'), 2, auto), ERR_SYNTAX);
  assert.equal(parseZRangeArgs(argv('zrange', 'k', '0', 'x'), 2, auto), ERR_NOT_INTEGER);
  assert.equal(parseZRangeArgs(argv('zrange', 'k', '0', '1', 'limit', 'a', '1', 'junk'), 2, auto), ERR_NOT_INTEGER, 'LIMIT values are read as the loop meets them');
  assert.equal(parseZRangeArgs(argv('zrangestore', 'd', 'k', '0', '1', 'withscores'), 3, { ...auto, store: true }), ERR_SYNTAX);
  assert.equal(parseZRangeArgs(argv('zrangebyscore', 'k', '0', '1', 'rev'), 2, { by: 'score', dir: 'forward', store: false }), ERR_SYNTAX);
  assert.equal(parseZRangeArgs(argv('zrangebylex', 'k', 'x', '+'), 2, { by: 'lex', dir: 'forward', store: false }), ERR_LEX_RANGE);
});

test('parseZSetOpOptions: WEIGHTS, AGGREGATE, WITHSCORES as Redis takes them', () => {
  assert.deepEqual(parseZSetOpOptions(argv('weights', '2', 'inf', 'aggregate', 'MAX', 'withscores'), 0, 2, 'union', false), {
    weights: [2, Infinity], aggregate: 'max', withScores: true,
  });
  assert.equal(parseZSetOpOptions(argv('weights', '2'), 0, 2, 'union', false), ERR_SYNTAX, 'too few weights');
  assert.equal(parseZSetOpOptions(argv('weights', '2', 'x'), 0, 2, 'inter', false), ERR_WEIGHT);
  assert.equal(parseZSetOpOptions(argv('weights', '2'), 0, 1, 'diff', false), ERR_SYNTAX, 'ZDIFF takes no weights');
  assert.equal(parseZSetOpOptions(argv('withscores'), 0, 1, 'union', true), ERR_SYNTAX, 'no WITHSCORES with a destination');
  assert.equal(parseZSetOpOptions(argv('aggregate', 'avg'), 0, 1, 'union', false), ERR_SYNTAX);
});

function zset(...pairs: Array<[string, number]>): SortedSet {
  const z = new SortedSet();
  for (const [m, s] of pairs) z.set(m, s);
  return z;
}

function members(...ms: string[]): MemberSource {
  const s = new Set(ms);
  return { size: s.size, has: (m) => s.has(m), members: () => s };
}

test('combineZSets: weights, aggregates, inf arithmetic, and sets scoring 1', () => {
  const a = zset(['x', 1], ['y', 2], ['z', Infinity]);
  const b = zset(['y', 10], ['z', -Infinity], ['w', 0]);
  assert.deepEqual(combineZSets('union', [a, b], [1, 1], 'sum'), [['w', 0], ['z', 0], ['x', 1], ['y', 12]]);
  assert.deepEqual(combineZSets('inter', [a, b], [2, 1], 'min'), [['z', -Infinity], ['y', 4]]);
  assert.deepEqual(combineZSets('union', [a, undefined], [0, 1], 'sum'), [['x', 0], ['y', 0], ['z', 0]], 'inf * 0 counts as 0');
  assert.deepEqual(combineZSets('diff', [a, b], [1, 1], 'sum'), [['x', 1]]);
  // ZINTER: a later input's inf * 0 stays NaN, so SUM gives 0 (not inf), MIN/MAX ignore it.
  assert.deepEqual(combineZSets('inter', [a, a], [2, 0], 'sum'), [['z', 0], ['x', 2], ['y', 4]]);
  assert.deepEqual(combineZSets('inter', [a, a], [2, 0], 'max'), [['x', 2], ['y', 4], ['z', Infinity]]);
  assert.deepEqual(combineZSets('inter', [a, undefined], [1, 1], 'sum'), []);
  const asSet = { size: 2, score: (m: string) => (m === 'x' || m === 'q' ? 1 : undefined), entries: () => [['x', 1], ['q', 1]] as const };
  assert.deepEqual(combineZSets('inter', [a, asSet], [1, 3], 'sum'), [['x', 4]]);
  assert.equal(interCardZSets([a, b], 0), 2);
  assert.equal(interCardZSets([a, b], 1), 1);
  assert.equal(interCardZSets([a, undefined], 0), 0);
});

test('set algebra: inter walks the smallest input, union dedups, diff keeps the first', () => {
  const s1 = members('a', 'b', 'c', 'd');
  const s2 = members('c', 'b');
  assert.deepEqual(interMembers([s1, s2]), ['c', 'b']);
  assert.deepEqual(interMembers([s1, s2], 1), ['c']);
  assert.deepEqual(interMembers([s1, undefined]), []);
  assert.deepEqual(unionMembers([s2, s1, undefined]), ['c', 'b', 'a', 'd']);
  assert.deepEqual(diffMembers([s1, undefined, s2]), ['a', 'd']);
  assert.deepEqual(diffMembers([undefined, s2]), []);
});
