// Seeded pseudo-random numbers (mulberry32) so every randomized test replays exactly.

export interface Rng {
  next(): number; // [0, 1)
  int(n: number): number; // [0, n)
  pick<T>(xs: readonly T[]): T;
  bytes(n: number): Buffer;
  readonly seed: number;
}

export function rng(seed: number): Rng {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return {
    seed,
    next,
    int,
    pick: <T>(xs: readonly T[]): T => xs[int(xs.length)] as T,
    bytes: (n: number): Buffer => {
      const b = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) b[i] = int(256);
      return b;
    },
  };
}

/** Seed from the environment (KV_SEED) or a fixed default; printed by tests on failure. */
export function testSeed(fallback: number): number {
  const env = process.env['KV_SEED'];
  return env !== undefined && env !== '' ? Number(env) : fallback;
}
