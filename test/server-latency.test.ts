// The latency histogram (src/server/latency.ts) behind INFO latencystats: bucket bounds and
// percentiles against exact values of seeded samples.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LatencyHistogram, bucketOf, bucketHighestNs, HISTOGRAM_BUCKETS } from '../src/server/latency.js';
import { rng, testSeed } from './helpers/rng.js';

test('histogram buckets: contiguous, monotonic, and within 1/128 of every value', () => {
  const r = rng(testSeed(0x7e57));
  let prevHigh = -1;
  for (let b = 0; b < HISTOGRAM_BUCKETS; b++) {
    const high = bucketHighestNs(b);
    assert.equal(bucketOf(prevHigh + 1), b, `bucket ${b} starts right after bucket ${b - 1}`);
    assert.equal(bucketOf(high), b);
    assert.ok(high > prevHigh);
    prevHigh = high;
  }
  assert.ok(prevHigh >= 1_000_000_000, 'the last bucket reaches 1 s');
  for (let i = 0; i < 100_000; i++) {
    const v = 1 + Math.floor(r.next() ** 4 * 999_999_999);
    const high = bucketHighestNs(bucketOf(v));
    assert.ok(high >= v && (high - v) / v <= 1 / 128, `value ${v} reported as ${high}`);
  }
});

test('histogram percentiles agree with exact percentiles of seeded samples', () => {
  const r = rng(testSeed(0x7e57));
  const h = new LatencyHistogram();
  const xs: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const v = 100 + Math.floor(r.next() ** 3 * 5_000_000);
    xs.push(v);
    h.record(v);
  }
  xs.sort((a, b) => a - b);
  for (const p of [0, 50, 90, 99, 99.9, 100]) {
    const exact = xs[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)] as number;
    const got = h.valueAtPercentile(p);
    assert.ok(got >= exact && got <= exact * (1 + 1 / 128), `p${p}: exact ${exact}, histogram ${got}`);
  }
  assert.equal(new LatencyHistogram().valueAtPercentile(50), 0);
  // Out-of-range values are clamped like Redis's 1 ns .. 1 s histogram.
  const c = new LatencyHistogram();
  c.record(0);
  c.record(5e12);
  assert.equal(c.valueAtPercentile(0), 1);
  assert.ok(c.valueAtPercentile(100) >= 1_000_000_000);
});
