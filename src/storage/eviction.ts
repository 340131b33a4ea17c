// The maxmemory policies: which key to evict next. Owns sampling, the eviction pool and the
// OBJECT FREQ / IDLETIME answers; never deletes anything (the store logs each eviction as a
// `del`, as it logs an expiry), never measures memory and never reads the clock itself.
//
// Like Redis's approximated LRU/LFU: each pick samples `samples` keys (all keys, or only keys
// with a TTL for volatile-*), scores them (idle time, 255 - LFU counter, or nearness of the
// expiry), merges them into a small pool of the best candidates seen so far, and evicts the
// pool's best that still exists. The pool carries good candidates across picks, so a few
// samples per pick approach true LRU/LFU order. Random policies pick a sampled key directly.

import type { Key, ExpireAtMs } from './types.js';
import type { AccessTracker } from './access.js';

export const MAXMEMORY_POLICIES = [
  'noeviction',
  'allkeys-lru',
  'allkeys-lfu',
  'allkeys-random',
  'volatile-lru',
  'volatile-lfu',
  'volatile-random',
  'volatile-ttl',
] as const;
export type MaxmemoryPolicy = (typeof MAXMEMORY_POLICIES)[number];

/** Redis's maxmemory-samples default and lowest value. */
export const MAXMEMORY_SAMPLES_DEFAULT = 5;
export const MAXMEMORY_SAMPLES_MIN = 1;
/** Redis accepts any positive int; more than this many samples per pick only costs time. */
export const MAXMEMORY_SAMPLES_MAX = 1024;
/** Candidates kept across picks (Redis's pool size). */
export const EVICTION_POOL_SIZE = 16;
/** Random slot probes per wanted sample before falling back to a walk (slots may be free). */
const PROBES_PER_SAMPLE = 16;
/** Highest LFU counter (8 bits). */
const LFU_COUNTER_MAX = 255;

export function policyIsLfu(p: MaxmemoryPolicy): boolean {
  return p === 'allkeys-lfu' || p === 'volatile-lfu';
}

export function policyIsVolatile(p: MaxmemoryPolicy): boolean {
  return p.startsWith('volatile-');
}

/** What the evictor reads of the keyspace (Keyspace implements it). */
export interface EvictionSpace {
  readonly size: number;
  readonly slotCount: number;
  readonly expiresCount: number;
  readonly access: AccessTracker;
  isLiveSlot(slot: number): boolean;
  keyAtSlot(slot: number): Key;
  expireAtSlot(slot: number): ExpireAtMs;
  /** Up to n slots of keys with a TTL, round-robin; returns how many were written to out. */
  volatileSlots(n: number, out: number[]): number;
}

interface PoolEntry {
  key: Key;
  slot: number;
  /** Higher = better victim. */
  score: number;
}

export class Evictor {
  policy: MaxmemoryPolicy = 'noeviction';
  samples = MAXMEMORY_SAMPLES_DEFAULT;
  /** Ascending by score: the best victim is last. */
  private pool: PoolEntry[] = [];
  private readonly sampled: number[] = [];
  /** Where walkSlots continues when random probes find nothing (a sparse slot range). */
  private walkCursor = 0;

  constructor(private readonly random: () => number = Math.random) {}

  /** Forget the candidates (the policy changed or the keyspace was replaced). */
  reset(): void {
    this.pool = [];
    this.walkCursor = 0;
  }

  /** The key to evict next, or undefined when no key qualifies (noeviction, or volatile-* without TTLs). */
  pick(space: EvictionSpace, nowMs: number): Key | undefined {
    const p = this.policy;
    if (p === 'noeviction' || space.size === 0) return undefined;
    const volatile = policyIsVolatile(p);
    if (volatile && space.expiresCount === 0) return undefined;
    if (p === 'allkeys-random' || p === 'volatile-random') {
      const n = this.sample(space, volatile, 1);
      return n === 0 ? undefined : space.keyAtSlot(this.sampled[0] as number);
    }
    // A few rounds: every pooled candidate may have been deleted since it was pooled.
    for (let round = 0; round < EVICTION_POOL_SIZE; round++) {
      this.populate(space, volatile, nowMs);
      while (this.pool.length > 0) {
        const e = this.pool.pop() as PoolEntry;
        if (space.isLiveSlot(e.slot) && (!volatile || space.expireAtSlot(e.slot) !== 0) && space.keyAtSlot(e.slot) === e.key) return e.key;
      }
    }
    return undefined;
  }

  private populate(space: EvictionSpace, volatile: boolean, nowMs: number): void {
    const n = this.sample(space, volatile, this.samples);
    for (let i = 0; i < n; i++) {
      const slot = this.sampled[i] as number;
      const score = this.score(space, slot, nowMs);
      const pool = this.pool;
      if (pool.length === EVICTION_POOL_SIZE && score <= (pool[0] as PoolEntry).score) continue;
      if (pool.some((e) => e.slot === slot)) continue; // already a candidate (scores only move on access)
      let at = 0;
      while (at < pool.length && (pool[at] as PoolEntry).score < score) at++;
      pool.splice(at, 0, { key: space.keyAtSlot(slot), slot, score });
      if (pool.length > EVICTION_POOL_SIZE) pool.shift();
    }
  }

  private score(space: EvictionSpace, slot: number, nowMs: number): number {
    switch (this.policy) {
      case 'allkeys-lru':
      case 'volatile-lru':
        return space.access.idleMs(slot);
      case 'allkeys-lfu':
      case 'volatile-lfu':
        return LFU_COUNTER_MAX - space.access.decayed(slot);
      case 'volatile-ttl':
        // The nearest expiry is the best victim; one already past ranks first.
        return nowMs - space.expireAtSlot(slot);
      default:
        return 0;
    }
  }

  /** Up to `n` live slots (with a TTL if `volatile`) into this.sampled; returns how many. */
  private sample(space: EvictionSpace, volatile: boolean, n: number): number {
    const out = this.sampled;
    let got = 0;
    // Random probes hit a slot of the wanted kind often enough unless TTL keys are a small minority.
    if (!volatile || space.expiresCount * 4 >= space.size) {
      const slots = space.slotCount;
      for (let probe = 0; probe < n * PROBES_PER_SAMPLE && got < n; probe++) {
        const s = Math.floor(this.random() * slots);
        if (space.isLiveSlot(s) && (!volatile || space.expireAtSlot(s) !== 0)) out[got++] = s;
      }
    }
    if (got > 0) return got;
    return volatile ? space.volatileSlots(n, out) : this.walkSlots(space, n);
  }

  /** A sparse slot range: walk on from where the last walk stopped (at most one lap). */
  private walkSlots(space: EvictionSpace, n: number): number {
    const out = this.sampled;
    const slots = space.slotCount;
    let got = 0;
    for (let step = 0; step < slots && got < n; step++) {
      if (this.walkCursor >= slots) this.walkCursor = 0;
      const s = this.walkCursor++;
      if (space.isLiveSlot(s)) out[got++] = s;
    }
    return got;
  }
}

/** The two OBJECT subcommands the access words answer. */
export type AccessQuery = 'freq' | 'idletime';

/**
 * OBJECT FREQ / OBJECT IDLETIME for the key in `slot` (the caller looked it up without touching
 * it), with Redis 7.0's errors when the words hold the other kind of information.
 */
export function objectAccessInfo(access: AccessTracker, slot: number, what: AccessQuery): { value: number } | { error: string } {
  const note = 'Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.';
  if (what === 'freq') {
    if (!access.isLfu) return { error: `ERR An LFU maxmemory policy is not selected, access frequency not tracked. ${note}` };
    return { value: access.decayed(slot) };
  }
  if (access.isLfu) return { error: `ERR An LFU maxmemory policy is selected, idle time not tracked. ${note}` };
  return { value: Math.floor(access.idleMs(slot) / 1000) };
}
