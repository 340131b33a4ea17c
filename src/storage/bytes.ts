// Byte-range copy for the storage hot paths (keyspace values, a replica's records into the log
// and the backlog). Owns only that.

/**
 * Up to this many bytes a JS loop is as fast as a builtin copy; beyond it TypedArray#set wins
 * (measured for 1M x 114 B into fresh slabs: byte loop 530 ms, Buffer#copy 198 ms, set 110-180 ms).
 */
const COPY_LOOP_BYTES_MAX = 16;

/** Copy src[from, from + n) to dst at `to`: the cheapest way for the small ranges of records and keys. */
export function copyBytes(src: Buffer, from: number, dst: Buffer, to: number, n: number): void {
  if (n <= COPY_LOOP_BYTES_MAX) for (let i = 0; i < n; i++) dst[to + i] = src[from + i] as number;
  // A plain Uint8Array view is cheaper to make than a Buffer subarray (measured 110 vs 180 ns per 114 B copy).
  else dst.set(new Uint8Array(src.buffer, src.byteOffset + from, n), to);
}

