// The process memory figures INFO memory reports (used_memory, used_memory_rss). Owns how they
// are measured from Node's counters; never keeps state (the server owns the peak).
//
// Redis's used_memory is what its allocator handed out. Node's closest figures: `heapUsed` (live
// JS objects) plus `external` (memory V8 objects hold outside the heap, which already includes
// `arrayBuffers`: every Buffer, so the keyspace's slabs, the log's and the sockets' buffers).
// RSS adds what is not data: code, the heap's free space, allocator slack, thread stacks.

export interface MemoryFigures {
  /** heapUsed + external, capped by rss (see measureMemory). */
  readonly used: number;
  readonly rss: number;
  readonly heapTotal: number;
}

export function measureMemory(): MemoryFigures {
  const m = process.memoryUsage();
  // Buffers allocated but never written (a slab's unfilled tail, allocUnsafeSlow) count in
  // `external` but hold no pages yet: resident memory bounds what is really in use.
  return { used: Math.min(m.heapUsed + m.external, m.rss), rss: m.rss, heapTotal: m.heapTotal };
}
