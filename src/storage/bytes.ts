// Byte-range copy for the storage hot paths (keyspace values, a replica's records into the log
// and the backlog). Owns only that.

/**
 * Up to this many bytes a JS loop is as fast as a builtin copy; beyond it TypedArray#set wins
 * (docs/perf-notes.md, 'Keyspace and slabs').
 */
const COPY_LOOP_BYTES_MAX = 16;

/** Copy src[from, from + n) to dst at `to`: the cheapest way for the small ranges of records and keys. */
export function copyBytes(src: Buffer, from: number, dst: Buffer, to: number, n: number): void {
  if (n <= COPY_LOOP_BYTES_MAX) for (let i = 0; i < n; i++) dst[to + i] = src[from + i] as number;
  // A plain Uint8Array view, because it is cheaper to make than a Buffer subarray.
  else dst.set(new Uint8Array(src.buffer, src.byteOffset + from, n), to);
}

