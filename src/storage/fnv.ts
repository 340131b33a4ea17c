// FNV-1a hashes of a latin1 key, as a string (one char per byte) or as the same bytes in a
// Buffer, finished with murmur3's mixer, and the per-process seed of the collections' member
// indexes. Owns those functions only; never holds a table.

import { randomInt } from 'node:crypto';

/**
 * The per-process seed of member hashes (sorted sets, large hashes and sets), so a client
 * cannot precompute members that collide (the probe runs of an open-addressing table would
 * turn lookups linear).
 */
export const MEMBER_HASH_SEED = (0x811c_9dc5 ^ randomInt(0x7fff_ffff)) >>> 0;

/** murmur3's finaliser: spreads FNV's weak bits over the whole word. */
export function fmix(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85eb_ca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2_ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** FNV-1a over latin1 chars. Equals hashBytes over the same bytes. */
export function hashStr(seed: number, s: string): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x0100_0193);
  return fmix(h);
}

export function hashBytes(seed: number, b: Buffer, off: number, len: number): number {
  let h = seed;
  for (let i = off; i < off + len; i++) h = Math.imul(h ^ (b[i] as number), 0x0100_0193);
  return fmix(h);
}
