// Redis's exact int64 text rules (string2ll): what the command layer and the storage layer's
// op builders (collection-ops.ts) both accept as an integer. Pure functions; never allocates
// more than the BigInt it returns.

/** Redis's LLONG_MAX / LLONG_MIN: integers travel as bigint so ±2^63 round-trips exactly. */
export const INT64_MAX = 9223372036854775807n;
export const INT64_MIN = -9223372036854775808n;
/** string2ll rejects anything this long or longer (Redis LONG_STR_SIZE). */
const INT64_STR_BYTES_MAX = 21;

/**
 * Redis string2ll: optional '-', then "0" alone or a digit 1-9 followed by digits, no '+',
 * no spaces, no leading zeros, no "-0", at most 20 bytes, within int64. Null when invalid.
 */
export function parseInt64(b: Buffer): bigint | null {
  const n = b.length;
  if (n === 0 || n >= INT64_STR_BYTES_MAX) return null;
  if (n === 1 && b[0] === 0x30) return 0n;
  let i = 0;
  const negative = b[0] === 0x2d;
  if (negative) {
    i = 1;
    if (n === 1) return null;
  }
  const first = b[i] as number;
  if (first < 0x31 || first > 0x39) return null;
  // Validate first, then let BigInt do the exact arithmetic (a double loses digits past 2^53).
  for (let j = i + 1; j < n; j++) {
    const c = b[j] as number;
    if (c < 0x30 || c > 0x39) return null;
  }
  const v = BigInt(b.toString('latin1', i, n));
  if (negative) return -v < INT64_MIN ? null : -v;
  return v > INT64_MAX ? null : v;
}
