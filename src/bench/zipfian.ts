// Key choice for kv-bench: uniform, or Zipfian as YCSB draws it. Owns the popularity model
// (rank -> probability) and the rank -> key scatter; never touches sockets or the clock.
//
// The Zipfian draw is the closed-form method of Gray et al., "Quickly generating billion-record
// synthetic databases" (SIGMOD 1994), which YCSB's ZipfianGenerator uses, with YCSB's constant
// θ = 0.99: rank r (0-based) has probability 1 / ((r+1)^θ · ζ(n, θ)). YCSB's ScrambledZipfian
// then hashes the rank (FNV) modulo n, which is not a bijection (some keys collide, others are
// never drawn). Here the ranks are scattered by a seeded bijection instead (an affine map modulo
// n with a multiplier coprime to n), so the hot keys are spread over the keyspace and every
// rank's share is exactly the Zipfian one.

export type Distribution = 'uniform' | 'zipfian';
export const DISTRIBUTIONS: readonly Distribution[] = ['uniform', 'zipfian'];

/** YCSB's ZIPFIAN_CONSTANT. */
export const ZIPFIAN_THETA = 0.99;
/**
 * ζ(n, θ) is summed term by term once per run (O(n)); past this many keys that set-up alone
 * would take seconds, so a larger Zipfian keyspace is refused.
 */
export const ZIPFIAN_KEYSPACE_MAX = 100_000_000;

/** ζ(n, θ) = Σ_{i=1..n} 1 / i^θ. */
export function zeta(n: number, theta: number): number {
  let s = 0;
  for (let i = 1; i <= n; i++) s += 1 / Math.pow(i, theta);
  return s;
}

/** Probability of the most popular rank: 1 / ζ(n, θ). */
export function zipfianTopShare(n: number, theta = ZIPFIAN_THETA): number {
  return 1 / zeta(n, theta);
}

/** A Zipfian rank in [0, n) per call, rank 0 the most popular; `rand` gives uniform [0, 1). */
export function zipfianRanks(n: number, theta: number, rand: () => number): () => number {
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError('zipfian: n must be a positive integer');
  if (!(theta > 0 && theta < 1)) throw new RangeError('zipfian: theta must be in (0, 1)');
  if (n === 1) return () => 0;
  const zetan = zeta(n, theta);
  const zeta2 = 1 + Math.pow(0.5, theta);
  const alpha = 1 / (1 - theta);
  const eta = (1 - Math.pow(2 / n, 1 - theta)) / (1 - zeta2 / zetan);
  return () => {
    const u = rand();
    const uz = u * zetan;
    if (uz < 1) return 0;
    if (uz < zeta2) return 1;
    const r = Math.floor(n * Math.pow(eta * u - eta + 1, alpha));
    return r >= n ? n - 1 : r;
  };
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * A seeded bijection of [0, n): r -> (a·r + b) mod n with gcd(a, n) = 1. The product is
 * reduced by double-and-add when it would pass 2^53, so it stays exact for any n.
 */
export function scatter(n: number, rand: () => number): (r: number) => number {
  if (n <= 2) return (r) => r;
  let a = 1 + Math.floor(rand() * (n - 1));
  while (gcd(a, n) !== 1) a = a + 1 >= n ? 1 : a + 1;
  const b = Math.floor(rand() * n);
  return (r) => (mulMod(a, r, n) + b) % n;
}

/** (x · y) mod n without losing precision past 2^53 (double-and-add). */
function mulMod(x: number, y: number, n: number): number {
  if (x * y <= Number.MAX_SAFE_INTEGER) return (x * y) % n;
  let acc = 0;
  let base = x % n;
  let k = y;
  while (k > 0) {
    if (k % 2 === 1) acc = (acc + base) % n;
    base = (base * 2) % n;
    k = Math.floor(k / 2);
  }
  return acc;
}

/**
 * The key picker of a run: uniform over [0, n), or Zipfian ranks scattered over [0, n). The
 * scatter draws its two numbers from `rand` first, so a seed fixes the whole key sequence.
 */
export function keyPicker(distribution: Distribution, n: number, rand: () => number): () => number {
  if (distribution === 'uniform') return () => Math.floor(rand() * n);
  const place = scatter(n, rand);
  const rank = zipfianRanks(n, ZIPFIAN_THETA, rand);
  return () => place(rank());
}
