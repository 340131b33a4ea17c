// Slot-indexed storage in fixed-size chunks: the keyspace's slot addresses and type bytes, the
// access words (access.ts) and the collections. Owns the chunk arithmetic; never decides what a
// slot holds. Growing past one chunk allocates whole new chunks and never copies the old ones, so
// adding the 10 millionth slot costs what adding the 100 thousandth does (a flat typed array
// doubling copies every slot in one synchronous step). Chunk 0 alone grows by copying, up to
// SLOT_CHUNK_SLOTS, so a small keyspace stays small.

export const SLOT_CHUNK_SHIFT = 16;
/** Slots per chunk: 512 KiB of addresses, 64 KiB of types, 256 KiB of access words. */
export const SLOT_CHUNK_SLOTS = 1 << SLOT_CHUNK_SHIFT;
export const SLOT_CHUNK_MASK = SLOT_CHUNK_SLOTS - 1;

/** Capacity after `capacity` is full: doubling inside chunk 0, then one chunk more. */
export function nextSlotCapacity(capacity: number): number {
  return capacity < SLOT_CHUNK_SLOTS ? Math.min(capacity * 2, SLOT_CHUNK_SLOTS) : capacity + SLOT_CHUNK_SLOTS;
}

/** Capacity `slots` rounds to: itself inside chunk 0, else whole chunks. */
export function roundSlotCapacity(slots: number): number {
  return slots <= SLOT_CHUNK_SLOTS ? slots : Math.ceil(slots / SLOT_CHUNK_SLOTS) * SLOT_CHUNK_SLOTS;
}

/**
 * `chunks` (holding `perSlot` elements per slot) resized to `slots` slots: chunk 0 is
 * reallocated (copying at most one chunk) while it is not full size, later chunks are added or
 * dropped whole. Elements of the slots kept keep their values.
 */
export function resizeChunks<T extends Uint8Array | Uint32Array>(chunks: readonly T[], slots: number, perSlot: number, make: (n: number) => T): T[] {
  const cap = roundSlotCapacity(slots);
  const first = Math.min(cap, SLOT_CHUNK_SLOTS) * perSlot;
  const out = chunks.slice(0, Math.max(1, cap / SLOT_CHUNK_SLOTS));
  const c0 = out[0];
  if (c0 === undefined || c0.length !== first) {
    const n = make(first);
    if (c0 !== undefined) n.set(c0.length <= first ? c0 : c0.subarray(0, first));
    out[0] = n;
  }
  while (out.length * SLOT_CHUNK_SLOTS < cap) out.push(make(SLOT_CHUNK_SLOTS * perSlot));
  return out;
}

/** Slots a chunk list covers. */
export function chunkedSlots(chunks: readonly (Uint8Array | Uint32Array)[], perSlot: number): number {
  return chunks.length === 1 ? (chunks[0] as Uint8Array | Uint32Array).length / perSlot : chunks.length * SLOT_CHUNK_SLOTS;
}

/** slot -> (slab id, offset), two interleaved words per slot so an address read is one cache miss. */
export class SlotAddresses {
  private chunks: Uint32Array[];

  constructor(slots: number) {
    this.chunks = resizeChunks([], slots, 2, (n) => new Uint32Array(n));
  }

  get capacity(): number {
    return chunkedSlots(this.chunks, 2);
  }

  get byteLength(): number {
    return this.chunks.reduce((n, c) => n + c.byteLength, 0);
  }

  resize(slots: number): void {
    this.chunks = resizeChunks(this.chunks, slots, 2, (n) => new Uint32Array(n));
  }

  slab(slot: number): number {
    return (this.chunks[slot >>> SLOT_CHUNK_SHIFT] as Uint32Array)[2 * (slot & SLOT_CHUNK_MASK)] as number;
  }

  offset(slot: number): number {
    return (this.chunks[slot >>> SLOT_CHUNK_SHIFT] as Uint32Array)[2 * (slot & SLOT_CHUNK_MASK) + 1] as number;
  }

  set(slot: number, slab: number, offset: number): void {
    const c = this.chunks[slot >>> SLOT_CHUNK_SHIFT] as Uint32Array;
    const w = 2 * (slot & SLOT_CHUNK_MASK);
    c[w] = slab;
    c[w + 1] = offset;
  }
}

/** slot -> one byte (the type code). */
export class SlotBytes {
  private chunks: Uint8Array[];

  constructor(slots: number) {
    this.chunks = resizeChunks([], slots, 1, (n) => new Uint8Array(n));
  }

  resize(slots: number): void {
    this.chunks = resizeChunks(this.chunks, slots, 1, (n) => new Uint8Array(n));
  }

  get(slot: number): number {
    return (this.chunks[slot >>> SLOT_CHUNK_SHIFT] as Uint8Array)[slot & SLOT_CHUNK_MASK] as number;
  }

  set(slot: number, v: number): void {
    (this.chunks[slot >>> SLOT_CHUNK_SHIFT] as Uint8Array)[slot & SLOT_CHUNK_MASK] = v;
  }
}

/** slot -> one 32-bit word (access.ts's words). */
export class SlotWords {
  private chunks: Uint32Array[];

  constructor(slots: number) {
    this.chunks = resizeChunks([], slots, 1, (n) => new Uint32Array(n));
  }

  resize(slots: number): void {
    this.chunks = resizeChunks(this.chunks, slots, 1, (n) => new Uint32Array(n));
  }

  get(slot: number): number {
    return (this.chunks[slot >>> SLOT_CHUNK_SHIFT] as Uint32Array)[slot & SLOT_CHUNK_MASK] as number;
  }

  set(slot: number, v: number): void {
    (this.chunks[slot >>> SLOT_CHUNK_SHIFT] as Uint32Array)[slot & SLOT_CHUNK_MASK] = v;
  }

  /** Set slots [0, end) to `v`. */
  fill(v: number, end: number): void {
    for (let c = 0; c * SLOT_CHUNK_SLOTS < end; c++) (this.chunks[c] as Uint32Array).fill(v, 0, Math.min(SLOT_CHUNK_SLOTS, end - c * SLOT_CHUNK_SLOTS));
  }
}

/**
 * slot -> a heap object or undefined. Chunks are made on the first object stored in their range,
 * so a keyspace of strings holds none, and a collection stored at a high slot never turns one
 * big JS array into a dictionary.
 */
export class SlotObjects<T> {
  private chunks: Array<Array<T | undefined> | undefined> = [];

  get(slot: number): T | undefined {
    const c = this.chunks[slot >>> SLOT_CHUNK_SHIFT];
    return c === undefined ? undefined : c[slot & SLOT_CHUNK_MASK];
  }

  set(slot: number, v: T | undefined): void {
    const i = slot >>> SLOT_CHUNK_SHIFT;
    let c = this.chunks[i];
    if (c === undefined) {
      if (v === undefined) return;
      while (this.chunks.length < i) this.chunks.push(undefined);
      c = new Array<T | undefined>(SLOT_CHUNK_SLOTS).fill(undefined);
      this.chunks[i] = c;
    }
    c[slot & SLOT_CHUNK_MASK] = v;
  }

  /** Slots the made chunks cover (verify() checks nothing is stored beyond the slots in use). */
  get coveredSlots(): number {
    return this.chunks.length * SLOT_CHUNK_SLOTS;
  }
}
