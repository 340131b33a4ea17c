// sin, cos and asin rounded to the nearest double, as glibc's (whose results the GEO replies
// print to the last digit: a stored STOREDIST distance shows every bit); V8's fdlibm ports may
// be an ulp or two off. Computed in double-double arithmetic (about 106 bits), then rounded once.
// Pure functions of numbers; owns nothing else.

/** A double-double: the unevaluated sum hi + lo, |lo| <= ulp(hi) / 2. */
interface DD {
  readonly hi: number;
  readonly lo: number;
}

/** Dekker's splitting constant 2^27 + 1. */
const SPLIT = 134217729;
/** Taylor terms smaller than this no longer change a double-double sum. */
const TERM_NEGLIGIBLE = 1e-36;
/** Series terms at most (|r| <= pi/4 converges long before). */
const SERIES_TERMS_MAX = 40;
const PIO2: DD = { hi: 1.5707963267948966, lo: 6.123233995736766e-17 };

function quickTwoSum(a: number, b: number): DD {
  const s = a + b;
  return { hi: s, lo: b - (s - a) };
}

function twoSum(a: number, b: number): DD {
  const s = a + b;
  const bb = s - a;
  return { hi: s, lo: a - (s - bb) + (b - bb) };
}

function twoProd(a: number, b: number): DD {
  const p = a * b;
  const ta = SPLIT * a;
  const ah = ta - (ta - a);
  const al = a - ah;
  const tb = SPLIT * b;
  const bh = tb - (tb - b);
  const bl = b - bh;
  return { hi: p, lo: ah * bh - p + ah * bl + al * bh + al * bl };
}

function add(a: DD, b: DD): DD {
  const s = twoSum(a.hi, b.hi);
  const t = twoSum(a.lo, b.lo);
  const u = quickTwoSum(s.hi, s.lo + t.hi);
  return quickTwoSum(u.hi, u.lo + t.lo);
}

function mul(a: DD, b: DD): DD {
  const p = twoProd(a.hi, b.hi);
  return quickTwoSum(p.hi, p.lo + (a.hi * b.lo + a.lo * b.hi));
}

function divByDouble(a: DD, d: number): DD {
  const q1 = a.hi / d;
  const p = twoProd(q1, d);
  const r = twoSum(a.hi, -p.hi);
  const q2 = (r.hi + (r.lo - p.lo + a.lo)) / d;
  return quickTwoSum(q1, q2);
}

function div(a: DD, b: DD): DD {
  const q1 = a.hi / b.hi;
  const r = add(a, neg(mul({ hi: q1, lo: 0 }, b)));
  return quickTwoSum(q1, r.hi / b.hi);
}

function neg(a: DD): DD {
  return { hi: -a.hi, lo: -a.lo };
}

/** sin and cos of |r| <= pi/4 by their Taylor series. */
function sinCosSmall(r: DD): { sin: DD; cos: DD } {
  const r2 = mul(r, r);
  let sTerm = r;
  let sSum = r;
  let cTerm: DD = { hi: 1, lo: 0 };
  let cSum = cTerm;
  for (let i = 1; i <= SERIES_TERMS_MAX; i++) {
    cTerm = neg(divByDouble(mul(cTerm, r2), (2 * i - 1) * (2 * i)));
    sTerm = neg(divByDouble(mul(sTerm, r2), 2 * i * (2 * i + 1)));
    cSum = add(cSum, cTerm);
    sSum = add(sSum, sTerm);
    if (Math.abs(cTerm.hi) < TERM_NEGLIGIBLE && Math.abs(sTerm.hi) < TERM_NEGLIGIBLE) break;
  }
  return { sin: sSum, cos: cSum };
}

/** sin and cos of x as double-doubles (x is reduced by multiples of pi/2). */
function sinCos(x: DD): { sin: DD; cos: DD } {
  const k = Math.round(x.hi / PIO2.hi);
  const r = add(add(x, neg(twoProd(k, PIO2.hi))), neg(twoProd(k, PIO2.lo)));
  const { sin, cos } = sinCosSmall(r);
  switch (((k % 4) + 4) % 4) {
    case 0: return { sin, cos };
    case 1: return { sin: cos, cos: neg(sin) };
    case 2: return { sin: neg(sin), cos: neg(cos) };
    default: return { sin: neg(cos), cos: sin };
  }
}

/** Arguments beyond this leave the simple reduction's accuracy (GEO never passes them). */
const REDUCTION_LIMIT = 1e6;

export function sinRounded(x: number): number {
  if (!Number.isFinite(x) || Math.abs(x) > REDUCTION_LIMIT || x === 0) return Math.sin(x);
  const s = sinCos({ hi: x, lo: 0 }).sin;
  return s.hi + s.lo;
}

export function cosRounded(x: number): number {
  if (!Number.isFinite(x) || Math.abs(x) > REDUCTION_LIMIT) return Math.cos(x);
  const c = sinCos({ hi: x, lo: 0 }).cos;
  return c.hi + c.lo;
}

/** asin by Newton steps on sin from V8's estimate. */
export function asinRounded(x: number): number {
  if (!(Math.abs(x) < 1) || x === 0) return Math.asin(x);
  let y: DD = { hi: Math.asin(x), lo: 0 };
  for (let i = 0; i < 2; i++) {
    const { sin, cos } = sinCos(y);
    y = add(y, div(add({ hi: x, lo: 0 }, neg(sin)), cos));
  }
  return y.hi + y.lo;
}
