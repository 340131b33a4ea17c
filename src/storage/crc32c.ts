// CRC32C (Castagnoli) of a byte range, choosing per size between a pure-JS slicing-by-8 loop
// and @node-rs/crc32's native code. Owns only that choice; it never allocates for small
// ranges and never changes the checksum's definition (tests pin it to the native result).
//
// Why: a WAL record for a 100-byte SET is ~150 bytes, where the native call plus the subarray it
// needs cost more than the JS loop; past a few hundred bytes the native code wins
// (docs/perf-notes.md, 'WAL: record encode and CRC32C').

import { crc32c } from '@node-rs/crc32';

/** Ranges up to this many bytes use the JS loop; longer ones the native implementation. */
export const CRC_JS_BYTES_MAX = 256;

const POLY_REFLECTED = 0x82f6_3b78;

/** 8 tables of 256 entries: TABLE[t * 256 + b] = CRC of byte b followed by t zero bytes. */
const TABLE = (() => {
  const t = new Int32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ POLY_REFLECTED : c >>> 1;
    t[i] = c;
  }
  for (let i = 0; i < 256; i++) {
    for (let k = 1; k < 8; k++) {
      const prev = t[(k - 1) * 256 + i] as number;
      t[k * 256 + i] = (prev >>> 8) ^ (t[prev & 0xff] as number);
    }
  }
  return t;
})();

/** CRC32C of buf[start, end), as an unsigned 32-bit number (equal to crc32c(buf.subarray(start, end))). */
export function crc32cRange(buf: Buffer, start: number, end: number): number {
  if (end - start > CRC_JS_BYTES_MAX) return crc32c(buf.subarray(start, end));
  const t = TABLE;
  let c = -1;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a = ((buf[i] as number) | ((buf[i + 1] as number) << 8) | ((buf[i + 2] as number) << 16) | ((buf[i + 3] as number) << 24)) ^ c;
    c =
      (t[1792 + (a & 0xff)] as number) ^
      (t[1536 + ((a >>> 8) & 0xff)] as number) ^
      (t[1280 + ((a >>> 16) & 0xff)] as number) ^
      (t[1024 + (a >>> 24)] as number) ^
      (t[768 + (buf[i + 4] as number)] as number) ^
      (t[512 + (buf[i + 5] as number)] as number) ^
      (t[256 + (buf[i + 6] as number)] as number) ^
      (t[buf[i + 7] as number] as number);
  }
  for (; i < end; i++) c = (t[(c ^ (buf[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
