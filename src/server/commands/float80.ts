// x87 80-bit extended precision ("long double" on x86-64 Linux), exactly as Redis's INCRBYFLOAT
// sees it: glibc strtold parsing, one correctly rounded addition, printf("%.17Lf") output.
// Exact BigInt arithmetic only; never routes a value through a JS double (53 bits would
// print 0.1 as 0.10000000000000001 where Redis prints 0.1).

import assert from 'node:assert';
import { isCSpace } from './args.js';

/** Significand bits of the x87 extended format (explicit integer bit). */
const MANT_BITS = 64;
const MANT_LIMIT = 1n << BigInt(MANT_BITS);
/** value = mant * 2^exp; the smallest exp (subnormals and the smallest normals share it). */
const EXP_MIN = -16445;
/** Finite values are < 2^16384. */
const MAGNITUDE_BITS_MAX = 16384;
/** Redis MAX_LONG_DOUBLE_CHARS: string2ld rejects inputs this long or longer, in bytes. */
export const FLOAT_STR_BYTES_MAX = 5 * 1024;
/** Decimal exponents beyond these are certainly overflow / underflow (max ≈ 1.19e4932, min ≈ 3.6e-4951). */
const DEC_MAGNITUDE_MAX = 4933;
const DEC_MAGNITUDE_MIN = -4952;
/** Bits kept beyond the significand while dividing, so rounding sees a guard bit and a sticky bit. */
const DIV_EXTRA_BITS = 2;
/** Clamp for absurd exponent digit strings; far beyond any representable magnitude. */
const EXP_CLAMP = 1_000_000;

export type F80 =
  | { readonly kind: 'finite'; readonly neg: boolean; readonly mant: bigint; readonly exp: number }
  | { readonly kind: 'inf'; readonly neg: boolean }
  | { readonly kind: 'nan' };

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

type Rounded = { value: F80; overflow: boolean; underflowToZero: boolean };

/**
 * Round |value| = (n + s) * 2^e, where 0 <= s < 1 is nonzero exactly when `sticky`, to the
 * format with round-half-even, honouring the subnormal range and overflow to infinity.
 */
function round(neg: boolean, n: bigint, e: number, sticky: boolean): Rounded {
  assert(n >= 0n);
  if (n === 0n) {
    return { value: { kind: 'finite', neg, mant: 0n, exp: 0 }, overflow: false, underflowToZero: sticky };
  }
  let shift = Math.max(bitLength(n) - MANT_BITS, EXP_MIN - e);
  let q = n;
  if (shift > 0) {
    q = n >> BigInt(shift);
    const rem = n - (q << BigInt(shift));
    const half = 1n << BigInt(shift - 1);
    if (rem > half || (rem === half && (sticky || (q & 1n) === 1n))) q += 1n;
    if (q === MANT_LIMIT) {
      q >>= 1n;
      shift += 1;
    }
  } else {
    // Exact already: the callers guarantee enough bits whenever `sticky` is set.
    assert(!sticky, 'inexact value without guard bits');
    shift = 0;
  }
  const exp = e + shift;
  if (q !== 0n && exp + bitLength(q) > MAGNITUDE_BITS_MAX) {
    return { value: { kind: 'inf', neg }, overflow: true, underflowToZero: false };
  }
  return { value: { kind: 'finite', neg, mant: q, exp }, overflow: false, underflowToZero: q === 0n };
}

/** Exact rational digits * 10^dexp, correctly rounded. */
function fromDecimal(neg: boolean, digits: bigint, dexp: number): Rounded {
  if (dexp >= 0) return round(neg, digits * 10n ** BigInt(dexp), 0, false);
  const den = 10n ** BigInt(-dexp);
  const k = Math.max(0, MANT_BITS + DIV_EXTRA_BITS + bitLength(den) - bitLength(digits));
  const num = digits << BigInt(k);
  const q = num / den;
  return round(neg, q, -k, q * den !== num);
}

const INF_RE = /^([+-]?)(inf|infinity)$/i;
const NAN_RE = /^[+-]?nan(\([0-9a-z_]*\))?$/i;
const DEC_RE = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/;
const HEX_RE = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?[0-9]+))?$/;

function clampExp(s: string | undefined): number {
  if (s === undefined) return 0;
  const v = BigInt(s);
  const c = BigInt(EXP_CLAMP);
  return Number(v > c ? c : v < -c ? -c : v);
}

/**
 * Redis string2ld: strtold must consume every byte (so no NUL inside), no leading space,
 * no NaN, and no ERANGE result of
 * ±HUGE_VAL or zero (overflow, or underflow all the way to 0). "inf" is accepted, as in Redis.
 * Null when invalid.
 */
export function parseLongDouble(b: Buffer): F80 | null {
  if (b.length === 0 || b.length >= FLOAT_STR_BYTES_MAX) return null;
  if (isCSpace(b[0])) return null;
  // strtold stops at a NUL, and Redis requires it to have consumed all `slen` bytes.
  if (b.indexOf(0) !== -1) return null;
  const s = b.toString('latin1');
  const inf = INF_RE.exec(s);
  if (inf !== null) return { kind: 'inf', neg: inf[1] === '-' };
  if (NAN_RE.test(s)) return null;
  let r: Rounded;
  const hex = HEX_RE.exec(s);
  if (hex !== null) {
    const int = hex[2] ?? '';
    const frac = hex[3] ?? '';
    if (int.length + frac.length === 0) return null;
    const mant = BigInt('0x' + int + frac);
    r = round(hex[1] === '-', mant, clampExp(hex[4]) - 4 * frac.length, false);
  } else {
    const dec = DEC_RE.exec(s);
    if (dec === null) return null;
    const int = dec[2] ?? '';
    const frac = dec[3] ?? '';
    if (int.length + frac.length === 0) return null;
    const neg = dec[1] === '-';
    const digitStr = (int + frac).replace(/^0+/, '');
    if (digitStr.length === 0) return { kind: 'finite', neg, mant: 0n, exp: 0 };
    const dexp = clampExp(dec[4]) - frac.length;
    if (digitStr.length + dexp > DEC_MAGNITUDE_MAX) return null;
    if (digitStr.length + dexp < DEC_MAGNITUDE_MIN) return null;
    r = fromDecimal(neg, BigInt(digitStr), dexp);
  }
  return r.overflow || r.underflowToZero ? null : r.value;
}

/** a + b rounded once to the format, as the x87 FPU does it. */
export function addLongDouble(a: F80, b: F80): F80 {
  if (a.kind === 'nan' || b.kind === 'nan') return { kind: 'nan' };
  if (a.kind === 'inf' && b.kind === 'inf') return a.neg === b.neg ? a : { kind: 'nan' };
  if (a.kind === 'inf') return a;
  if (b.kind === 'inf') return b;
  const e = Math.min(a.exp, b.exp);
  const sa = (a.neg ? -a.mant : a.mant) << BigInt(a.exp - e);
  const sb = (b.neg ? -b.mant : b.mant) << BigInt(b.exp - e);
  const sum = sa + sb;
  // Exact zero sums are +0 in round-to-nearest, except (-0) + (-0).
  if (sum === 0n) return { kind: 'finite', neg: a.neg && b.neg, mant: 0n, exp: 0 };
  return round(sum < 0n, sum < 0n ? -sum : sum, e, false).value;
}

export function isFinite80(x: F80): boolean {
  return x.kind === 'finite';
}

/** Digits after the point in Redis's human-friendly long double output ("%.17Lf"). */
const FRACTION_DIGITS = 17;

/**
 * printf("%.<digits>Lf") of a finite value: its exact decimal expansion rounded half-even to
 * `digits` places (no trimming; "-" kept for a negative value that rounds to zero).
 */
export function formatFixed(x: F80, digits: number): string {
  assert(x.kind === 'finite', 'only finite values are formatted');
  let q: bigint;
  const scaled = x.mant * 10n ** BigInt(digits);
  if (x.exp >= 0) {
    q = scaled << BigInt(x.exp);
  } else {
    const sh = BigInt(-x.exp);
    q = scaled >> sh;
    const rem = scaled - (q << sh);
    const half = 1n << (sh - 1n);
    if (rem > half || (rem === half && (q & 1n) === 1n)) q += 1n;
  }
  const text = q.toString().padStart(digits + 1, '0');
  const cut = text.length - digits;
  const out = digits === 0 ? text : text.slice(0, cut) + '.' + text.slice(cut);
  return x.neg ? '-' + out : out;
}

/**
 * Redis ld2string(LD_STR_HUMAN): "%.17Lf" (exact decimal expansion, round-half-even), then
 * trailing zeros and a trailing '.' dropped, and "-0" printed as "0". Finite values only.
 */
export function formatLongDoubleHuman(x: F80): string {
  let out = formatFixed(x, FRACTION_DIGITS);
  out = out.replace(/0+$/, '');
  if (out.endsWith('.')) out = out.slice(0, -1);
  return out === '-0' ? '0' : out;
}

/** A JS double as the long double C widens it to (exactly). */
export function f80FromDouble(x: number): F80 {
  if (Number.isNaN(x)) return { kind: 'nan' };
  const neg = x < 0 || Object.is(x, -0);
  if (!Number.isFinite(x)) return { kind: 'inf', neg };
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(x));
  const hi = view.getUint32(0);
  const biased = hi >>> 20;
  const frac = (BigInt(hi & 0xfffff) << 32n) | BigInt(view.getUint32(4));
  // Subnormals (biased exponent 0) have no implicit leading bit.
  const mant = biased === 0 ? frac : frac | (1n << 52n);
  const exp = (biased === 0 ? 1 : biased) - 1075;
  return { kind: 'finite', neg, mant, exp };
}
