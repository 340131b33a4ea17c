// kv-bench's Run (src/bench/run.ts, zipfian.ts): key choice — the Zipfian generator's shape
// against the exact Zipfian probabilities, seeding, the rank scatter being a bijection, the
// uniform picker unchanged — and the latency summary's percentile fields.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prng, Run, summarize, templates, validateOptions, type BenchOptions } from '../src/bench/run.js';
import { formatTable } from '../src/bench/report.js';
import { keyPicker, scatter, zeta, ZIPFIAN_KEYSPACE_MAX, ZIPFIAN_THETA, zipfianRanks, zipfianTopShare } from '../src/bench/zipfian.js';

const SAMPLES = 200_000;

function counts(draw: () => number, n: number, samples = SAMPLES): Uint32Array {
  const c = new Uint32Array(n);
  for (let i = 0; i < samples; i++) {
    const k = draw();
    assert.ok(Number.isInteger(k) && k >= 0 && k < n, `draw ${k} outside [0, ${n})`);
    c[k] = (c[k] as number) + 1;
  }
  return c;
}

/** Exact Zipfian probability of rank r (0-based). */
const exact = (r: number, n: number, theta: number): number => 1 / (Math.pow(r + 1, theta) * zeta(n, theta));

test('zipfian ranks: the top ranks get their exact Zipfian share (θ 0.99 and 0.5), popularity falls with rank', () => {
  for (const [n, theta] of [[1000, ZIPFIAN_THETA], [100_000, ZIPFIAN_THETA], [1000, 0.5]] as const) {
    const c = counts(zipfianRanks(n, theta, prng(11)), n);
    // Ranks 0 and 1 are exact in Gray's method; at 200k draws their binomial error is < 1% relative.
    for (const r of [0, 1]) {
      const share = (c[r] as number) / SAMPLES;
      const want = exact(r, n, theta);
      assert.ok(Math.abs(share - want) / want < 0.05, `n ${n} θ ${theta} rank ${r}: share ${share.toFixed(4)}, exact ${want.toFixed(4)}`);
    }
    // Further ranks come from the closed-form approximation: the top decile of ranks as a whole.
    let top = 0;
    let want = 0;
    for (let r = 0; r < n / 10; r++) {
      top += c[r] as number;
      want += exact(r, n, theta);
    }
    assert.ok(Math.abs(top / SAMPLES - want) < 0.03, `n ${n} θ ${theta}: top decile ${(top / SAMPLES).toFixed(3)}, exact ${want.toFixed(3)}`);
    assert.ok((c[0] as number) > (c[1] as number) && (c[1] as number) > (c[9] as number) && (c[9] as number) > (c[99] as number), 'popularity falls with rank');
  }
  // θ 0.99 over 100 000 keys: the most popular key is about 8% of all requests (uniform: 0.001%).
  const s = zipfianTopShare(100_000);
  assert.ok(s > 0.07 && s < 0.09, `top share ${s}`);
  assert.deepEqual([...counts(zipfianRanks(1, ZIPFIAN_THETA, prng(1)), 1, 10)], [10]);
  assert.throws(() => zipfianRanks(10, 1, prng(1)), RangeError);
  assert.throws(() => zipfianRanks(0, 0.5, prng(1)), RangeError);
});

test('zipfian scatter: a seeded bijection of the keyspace, exact for keyspaces past 2^53 / n', () => {
  for (const n of [1, 2, 3, 97, 1000, 1024, 65_536, 100_000]) {
    const place = scatter(n, prng(5));
    const seen = new Set<number>();
    for (let r = 0; r < n; r++) seen.add(place(r));
    assert.equal(seen.size, n, `n ${n}: every key is some rank's`);
    assert.ok([...seen].every((k) => k >= 0 && k < n));
  }
  // The hot ranks do not all land on the lowest keys (that is what the scatter is for).
  const place = scatter(100_000, prng(5));
  assert.ok([0, 1, 2, 3].map(place).some((k) => k > 1000));
  // A 10^12 keyspace: products past 2^53 are reduced exactly; distinct ranks stay distinct.
  const big = 10 ** 12;
  const bigPlace = scatter(big, prng(9));
  const ks = [0, 1, 2, big - 1, big - 2, 123_456_789_012].map(bigPlace);
  assert.equal(new Set(ks).size, ks.length);
  assert.ok(ks.every((k) => Number.isInteger(k) && k >= 0 && k < big));
});

test('keyPicker: a seed fixes the sequence; uniform draws exactly as before (floor(rand × n))', () => {
  const seq = (d: 'uniform' | 'zipfian', seed: number): number[] => {
    const pick = keyPicker(d, 100_000, prng(seed));
    return Array.from({ length: 50 }, pick);
  };
  assert.deepEqual(seq('zipfian', 3), seq('zipfian', 3));
  assert.notDeepEqual(seq('zipfian', 3), seq('zipfian', 4));
  const rand = prng(3);
  assert.deepEqual(seq('uniform', 3), Array.from({ length: 50 }, () => Math.floor(rand() * 100_000)));
});

function opts(over: Partial<BenchOptions>): BenchOptions {
  return { host: '127.0.0.1', port: 1, connections: 1, requests: 1, valueBytes: 10, pipeline: 1, ratio: { get: 1, set: 0 }, keyspace: 10_000, seed: 1, ...over };
}

test('Run.nextKey follows --distribution: zipfian concentrates on one key, uniform does not', () => {
  const top = (o: BenchOptions): number => {
    const rand = prng(o.seed);
    const run = new Run(o, templates(o, rand), rand);
    const c = counts(() => run.nextKey(), o.keyspace, 100_000);
    return Math.max(...c) / 100_000;
  };
  const z = top(opts({ distribution: 'zipfian' }));
  const want = zipfianTopShare(10_000);
  assert.ok(Math.abs(z - want) / want < 0.05, `zipfian top key ${z}, exact ${want}`);
  assert.ok(top(opts({})) < 0.001, 'uniform: no key near the Zipfian top share');
  assert.ok(top(opts({ distribution: 'uniform' })) < 0.001);
  assert.match(validateOptions(opts({ distribution: 'zipfian', keyspace: ZIPFIAN_KEYSPACE_MAX + 1 })) ?? '', /zipfian keyspace/);
  assert.equal(validateOptions(opts({ distribution: 'uniform', keyspace: ZIPFIAN_KEYSPACE_MAX + 1 })), undefined);
});

test('summarize: p50, p90, p99, p99.9 and max of the samples, no percentile above the max', () => {
  const o = opts({ requests: 1000 });
  const rand = prng(1);
  const run = new Run(o, templates(o, rand), rand);
  // 1000 samples of 1..1000 ms, then the largest replaced by one that sits low in its
  // histogram bucket (3 significant digits): the bucket's top lies above the exact max.
  for (let i = 1; i <= 1000; i++) {
    run.issued++;
    run.recordOk(i === 1000 ? 1_764.81 : i);
    run.finishedOne();
  }
  const r = summarize(run, 1);
  const l = r.latencyMs;
  const near = (got: number, want: number): boolean => Math.abs(got - want) / want < 0.002;
  assert.ok(near(l.p50, 500) && near(l.p90, 900) && near(l.p99, 990) && near(l.p999, 999), JSON.stringify(l));
  assert.equal(l.max, 1764.81);
  const one = new Run(o, templates(o, prng(1)), prng(1));
  one.issued++;
  one.recordOk(176.481);
  one.finishedOne();
  const single = summarize(one, 1).latencyMs;
  assert.deepEqual([single.p50, single.p99, single.p999, single.max], [176.481, 176.481, 176.481, 176.481], 'a lone sample is every percentile, exactly');
  const table = formatTable(o, r);
  assert.match(table, /latency p99\.9 +999\.\d{3} ms\nlatency max +1764\.810 ms\n/);
});
