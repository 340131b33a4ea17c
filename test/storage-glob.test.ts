// Glob matching (KEYS, SCAN MATCH): '*' and '?' against a regular-expression reference on
// seeded random patterns, and patterns with many stars that once took exponential time.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globMatch } from '../src/storage/glob.js';
import { rng, testSeed } from './helpers/rng.js';

function reference(pattern: string, s: string): boolean {
  const re = pattern.replace(/[*?]|[^*?]+/g, (t) => (t === '*' ? '[\\s\\S]*' : t === '?' ? '[\\s\\S]' : t.replace(/[.+^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${re}$`).test(s);
}

test('glob: * and ? agree with a regular-expression reference on seeded random inputs', () => {
  const seed = testSeed(4242);
  const r = rng(seed);
  for (let i = 0; i < 20_000; i++) {
    const pattern = Array.from({ length: r.int(8) }, () => r.pick(['a', 'b', '*', '?', '*'])).join('');
    const s = Array.from({ length: r.int(8) }, () => r.pick(['a', 'b'])).join('');
    assert.equal(globMatch(pattern, s), reference(pattern, s), `seed ${seed}: ${JSON.stringify(pattern)} ${JSON.stringify(s)}`);
  }
});

test('glob: a pattern of many stars that cannot match fails at once, not after exponential backtracking', () => {
  const t0 = performance.now();
  assert.equal(globMatch('a*'.repeat(20) + 'b', 'a'.repeat(40)), false);
  assert.equal(globMatch('*a'.repeat(30) + '*c', 'a'.repeat(60) + 'b'), false);
  assert.equal(globMatch('a*'.repeat(20) + 'b', 'a'.repeat(40) + 'b'), true);
  assert.ok(performance.now() - t0 < 500, `took ${performance.now() - t0} ms`);
});
