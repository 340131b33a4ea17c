// Redis's pqsort (a Bentley-McIlroy quicksort that only sorts the partitions overlapping a
// wanted index range), step for step, so that equal elements end up in the order Redis leaves
// them when GEORADIUS/GEOSEARCH take the first COUNT of a larger result. Sorts an array in
// place; owns nothing else.

type Cmp<T> = (a: T, b: T) => number;

/** Below this many elements a partition is insertion-sorted. */
const INSERTION_MAX = 7;
/** Above this many, the pivot is the median of three medians of three (Tukey's ninther). */
const NINTHER_MIN = 40;

/** Sorts `xs` so that positions lo..hi (inclusive) hold what a full sort would put there. */
export function partialSort<T>(xs: T[], cmp: Cmp<T>, lo: number, hi: number): void {
  sortRange(xs, 0, xs.length, cmp, lo, hi);
}

function swap<T>(xs: T[], i: number, j: number): void {
  const t = xs[i] as T;
  xs[i] = xs[j] as T;
  xs[j] = t;
}

function med3<T>(xs: T[], a: number, b: number, c: number, cmp: Cmp<T>): number {
  const [x, y, z] = [xs[a] as T, xs[b] as T, xs[c] as T];
  return cmp(x, y) < 0 ? (cmp(y, z) < 0 ? b : cmp(x, z) < 0 ? c : a) : cmp(y, z) > 0 ? b : cmp(x, z) < 0 ? a : c;
}

/** Whether the partition [from, from + n) holds any of the wanted positions lo..hi. */
function overlaps(from: number, n: number, lo: number, hi: number): boolean {
  return !((lo < from && hi < from) || (lo >= from + n && hi >= from + n));
}

function sortRange<T>(xs: T[], start: number, count: number, cmp: Cmp<T>, lo: number, hi: number): void {
  let a = start;
  let n = count;
  for (;;) {
    if (n < INSERTION_MAX) {
      for (let pm = a + 1; pm < a + n; pm++) {
        for (let pl = pm; pl > a && cmp(xs[pl - 1] as T, xs[pl] as T) > 0; pl--) swap(xs, pl, pl - 1);
      }
      return;
    }
    let pm = a + Math.floor(n / 2);
    if (n > INSERTION_MAX) {
      let pl = a;
      let pn = a + n - 1;
      if (n > NINTHER_MIN) {
        const d = Math.floor(n / 8);
        pl = med3(xs, pl, pl + d, pl + 2 * d, cmp);
        pm = med3(xs, pm - d, pm, pm + d, cmp);
        pn = med3(xs, pn - 2 * d, pn - d, pn, cmp);
      }
      pm = med3(xs, pl, pm, pn, cmp);
    }
    swap(xs, a, pm);
    let pa = a + 1;
    let pb = a + 1;
    let pc = a + n - 1;
    let pd = a + n - 1;
    for (;;) {
      let c: number;
      while (pb <= pc && (c = cmp(xs[pb] as T, xs[a] as T)) <= 0) {
        if (c === 0) swap(xs, pa++, pb);
        pb++;
      }
      while (pb <= pc && (c = cmp(xs[pc] as T, xs[a] as T)) >= 0) {
        if (c === 0) swap(xs, pc, pd--);
        pc--;
      }
      if (pb > pc) break;
      swap(xs, pb++, pc--);
    }
    const pn = a + n;
    let r = Math.min(pa - a, pb - pa);
    for (let k = 0; k < r; k++) swap(xs, a + k, pb - r + k);
    r = Math.min(pd - pc, pn - pd - 1);
    for (let k = 0; k < r; k++) swap(xs, pb + k, pn - r + k);
    r = pb - pa;
    if (r > 1 && overlaps(a, r, lo, hi)) sortRange(xs, a, r, cmp, lo, hi);
    r = pd - pc;
    if (r <= 1) return;
    a = pn - r;
    n = r;
    if (!overlaps(a, n, lo, hi)) return;
  }
}
