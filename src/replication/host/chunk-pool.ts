// Recycles the replication backlog's chunks (core/backlog.ts): a busy primary would otherwise drop
// a chunk to the GC every few thousand writes, and that external-memory churn is what starts V8's
// mark-compacts (docs/perf-notes.md, 'Replication: backlog'). Owns at most CHUNKS_KEPT_MAX idle
// chunks and nothing else; it never looks at sockets itself: the host calls `settle` when it may.
//
// A chunk given back can still be read: the records of an append frame are a view of the
// backlog, and a frame written to a replica whose socket is backed up waits in Node's queue,
// pointing into the chunk, until the kernel takes it. So given chunks wait in quarantine, and
// only `settle` (the host saw every replication link's queue empty, i.e. every frame written so
// far is in the kernel or its link was destroyed) makes them reusable.

import type { ChunkMemory } from '../core/backlog.js';

/** Idle chunks kept (quarantined + free); beyond this, given chunks are left to the GC. */
export const CHUNKS_KEPT_MAX = 2;

export class ChunkPool implements ChunkMemory {
  private readonly quarantined: Buffer[] = [];
  private readonly free: Buffer[] = [];

  take(bytes: number): Buffer {
    const c = this.free.pop();
    // Every chunk of one backlog has one size; a budget change leaves old ones to the GC.
    return c !== undefined && c.length === bytes ? c : Buffer.allocUnsafe(bytes);
  }

  give(chunk: Buffer): void {
    if (this.quarantined.length + this.free.length < CHUNKS_KEPT_MAX) this.quarantined.push(chunk);
  }

  /** Nothing written before now can still read a given chunk: they may be reused. */
  settle(): void {
    for (const c of this.quarantined) this.free.push(c);
    this.quarantined.length = 0;
  }

  /** Chunks waiting for settle, and chunks ready to be taken (for tests). */
  get counts(): { quarantined: number; free: number } {
    return { quarantined: this.quarantined.length, free: this.free.length };
  }
}
