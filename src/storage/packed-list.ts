// The packed form of a small collection (Redis's listpack, for hashes and sets): every element of
// one collection in ONE flat latin1 string (a char per byte), as [varint length][bytes] entries.
// Owns that layout: reading entries, finding one by a linear scan, and building a changed copy;
// never decides when a collection is small enough (hash-object.ts and set-object.ts do).
//
// A string rather than a Buffer: a flat one-byte V8 string costs a short header on the heap,
// while a Buffer adds a typed-array object, an ArrayBuffer and an external backing store per
// key. Strings are immutable, so a change builds a new flat string (bounded by the encoding
// thresholds, as Redis's listpack memmove); slices or concatenations are never stored, since
// they would keep the old string alive.

import assert from 'node:assert';

/** A packed list never grows past this: its owner switches to its large form first. */
export const PACKED_BYTES_MAX = 1024 * 1024;

/** Bytes of the varint (LEB128) length header of an entry of `len` bytes. */
export function headerBytes(len: number): number {
  let n = 1;
  while (len >= 0x80) {
    len = Math.floor(len / 0x80);
    n++;
  }
  return n;
}

/** Length of the entry whose header starts at `pos`. */
export function lengthAt(p: string, pos: number): number {
  let len = 0;
  let scale = 1;
  for (;;) {
    const c = p.charCodeAt(pos++);
    len += (c & 0x7f) * scale;
    // `!(c >= 0x80)` also ends on NaN (past the end of a malformed list) instead of looping
    if (!(c >= 0x80)) return len;
    scale *= 0x80;
  }
}

/** Where the bytes of the entry at `pos` start. */
export function dataAt(p: string, pos: number): number {
  while (p.charCodeAt(pos) >= 0x80) pos++;
  return pos + 1;
}

/** Position just past the entry at `pos`. */
export function nextAt(p: string, pos: number): number {
  return dataAt(p, pos) + lengthAt(p, pos);
}

/** The entry at `pos` as a flat string of its own (safe to keep: it does not pin `p`). */
export function entryAt(p: string, pos: number): string {
  const start = dataAt(p, pos);
  return flat(p.slice(start, start + lengthAt(p, pos)));
}

/** True when the entry at `pos` equals `item`. */
export function entryEquals(p: string, pos: number, item: string): boolean {
  if (lengthAt(p, pos) !== item.length) return false;
  const start = dataAt(p, pos);
  for (let i = 0; i < item.length; i++) if (p.charCodeAt(start + i) !== item.charCodeAt(i)) return false;
  return true;
}

/**
 * Position of the first entry equal to `item` among entries 0, stride, 2*stride… (a hash's fields
 * with stride 2, a set's members with stride 1), or -1.
 */
export function find(p: string, item: string, stride: number): number {
  let pos = 0;
  while (pos < p.length) {
    if (entryEquals(p, pos, item)) return pos;
    pos = nextAt(p, pos);
    for (let s = 1; s < stride && pos < p.length; s++) pos = nextAt(p, pos);
  }
  return -1;
}

/** Bytes `item` takes as an entry. */
export function entryBytes(item: string): number {
  return headerBytes(item.length) + item.length;
}

/** A flat copy of `p` with chars [from, to) replaced by the entries `items`. */
export function splice(p: string, from: number, to: number, items: readonly string[]): string {
  assert(from >= 0 && from <= to && to <= p.length, 'packed splice out of range');
  let total = p.length - (to - from);
  for (const it of items) total += entryBytes(it);
  const b = Buffer.allocUnsafe(total);
  let off = b.write(p.slice(0, from), 0, 'latin1');
  for (const it of items) {
    let len = it.length;
    while (len >= 0x80) {
      b[off++] = (len % 0x80) | 0x80;
      len = Math.floor(len / 0x80);
    }
    b[off++] = len;
    off += b.write(it, off, 'latin1');
  }
  off += b.write(p.slice(to), off, 'latin1');
  assert.equal(off, total, 'packed splice wrote a different length');
  return b.latin1Slice(0, total);
}

/** A flat string equal to `s` (V8 may return a slice or a rope that keeps a larger string alive). */
function flat(s: string): string {
  // Short slices are copied by V8 anyway; longer ones go through a buffer.
  return s.length < 16 ? s : Buffer.from(s, 'latin1').latin1Slice(0, s.length);
}
