// Per-key access tracking for the eviction policies: one 32-bit word per keyspace slot, holding
// (LRU mode) the seconds clock of the key's last access, or (LFU mode) the minutes clock of its
// last decay and an 8-bit logarithmic access counter, as Redis keeps them in an object's 24 lru
// bits. Owns those words and their arithmetic; never reads the wall clock (tick() is given the
// time) and never decides what to evict (eviction.ts does).
//
// The GET path pays one typed-array store per hit in LRU mode (touch() writes the cached clock);
// LFU mode pays a decay, a random draw and a store, as Redis does.

import { SlotWords } from './slot-chunks.js';

/** The LRU clock has 24 bits of seconds (it wraps after ~194 days; idle times account for one wrap). */
export const LRU_CLOCK_MAX = 0xff_ffff;
/** The LFU decay clock has 16 bits of minutes. */
const LFU_MINUTES_MAX = 0xffff;
/** Counter a new key starts with, so that it is not the first to go before it had a chance to be read. */
export const LFU_INIT_VAL = 5;
/** Redis's lfu-log-factor default: with 10, about a million hits saturate the 8-bit counter. */
export const LFU_LOG_FACTOR_DEFAULT = 10;
/** Redis's lfu-decay-time default: the counter loses one per minute without access. */
export const LFU_DECAY_MINUTES_DEFAULT = 1;
const LFU_COUNTER_MAX = 255;
const MS_PER_SECOND = 1000;
const MS_PER_MINUTE = 60_000;

export class AccessTracker {
  /** slot -> access word (see the module header); sized with the keyspace's slot arrays, in chunks like them. */
  private words: SlotWords;
  /** LRU clock (seconds, 24 bits) as of the last tick. */
  private lruClock = 0;
  /** LFU decay clock (minutes, 16 bits) as of the last tick. */
  private minutes = 0;
  private lfu = false;
  logFactor = LFU_LOG_FACTOR_DEFAULT;
  decayMinutes = LFU_DECAY_MINUTES_DEFAULT;

  /**
   * Set while a CLIENT NO-TOUCH client's command runs: lookups and overwrites leave the words as
   * they were (new keys still get theirs, through born()).
   */
  frozen = false;

  /** Uniform in [0, 1): the LFU counter's probabilistic increment (tests seed it). */
  random: () => number = Math.random;

  constructor(slots: number) {
    this.words = new SlotWords(slots);
  }

  get isLfu(): boolean {
    return this.lfu;
  }

  /** Advance the clocks (the store calls it on its cron and before eviction). */
  tick(nowMs: number): void {
    this.lruClock = Math.floor(nowMs / MS_PER_SECOND) & LRU_CLOCK_MAX;
    this.minutes = Math.floor(nowMs / MS_PER_MINUTE) & LFU_MINUTES_MAX;
  }

  /**
   * Switch between LRU and LFU words. Redis leaves the old words to be reinterpreted; here every
   * slot restarts as just accessed (LRU) or with the initial counter (LFU), so OBJECT FREQ never
   * shows a clock read as a counter.
   */
  setLfu(lfu: boolean, slotEnd: number): void {
    if (lfu === this.lfu) return;
    this.lfu = lfu;
    this.words.fill(this.freshWord(), slotEnd);
  }

  /** The slot arrays grew or shrank to `slots` (keeps the words of slots below it). */
  resize(slots: number): void {
    this.words.resize(slots);
  }

  /** A key was stored in a fresh slot: accessed now, LFU counter at its initial value. */
  born(slot: number): void {
    this.words.set(slot, this.freshWord());
  }

  /** A lookup or an overwrite hit the key in `slot`. */
  touch(slot: number): void {
    if (this.frozen) return;
    if (!this.lfu) this.words.set(slot, this.lruClock);
    else this.words.set(slot, (this.minutes << 8) | this.logIncr(this.decayed(slot)));
  }

  /**
   * RESTORE's IDLETIME / FREQ: in LRU mode the key was last accessed `idleSeconds` ago, in LFU mode
   * its counter is `freq` as of now; the value for the other mode is ignored (as Redis does). An
   * idle time beyond the clock's range lands half a wrap back, so the key still looks long idle.
   */
  setAccess(slot: number, idleSeconds: number | null, freq: number | null): void {
    if (this.lfu) {
      if (freq !== null) this.words.set(slot, (this.minutes << 8) | Math.min(LFU_COUNTER_MAX, Math.max(0, freq)));
    } else if (idleSeconds !== null) {
      const at = this.lruClock - idleSeconds;
      this.words.set(slot, at >= 0 ? at : (this.lruClock + Math.floor(LRU_CLOCK_MAX / 2)) % LRU_CLOCK_MAX);
    }
  }

  /** Milliseconds since the last access (LRU mode; seconds resolution, as Redis). */
  idleMs(slot: number): number {
    const at = this.words.get(slot) & LRU_CLOCK_MAX;
    const c = this.lruClock;
    return (c >= at ? c - at : c + (LRU_CLOCK_MAX - at)) * MS_PER_SECOND;
  }

  /** The LFU counter after the decay owed since its last access (LFU mode; no store). */
  decayed(slot: number): number {
    const w = this.words.get(slot);
    const counter = w & LFU_COUNTER_MAX;
    if (this.decayMinutes === 0) return counter;
    const last = w >>> 8;
    const elapsed = this.minutes >= last ? this.minutes - last : LFU_MINUTES_MAX - last + this.minutes;
    const periods = Math.floor(elapsed / this.decayMinutes);
    return periods > counter ? 0 : counter - periods;
  }

  private freshWord(): number {
    return this.lfu ? (this.minutes << 8) | LFU_INIT_VAL : this.lruClock;
  }

  /** Logarithmic increment: the higher the counter, the less likely a hit raises it. */
  private logIncr(counter: number): number {
    if (counter === LFU_COUNTER_MAX) return counter;
    const base = Math.max(0, counter - LFU_INIT_VAL);
    return this.random() < 1 / (base * this.logFactor + 1) ? counter + 1 : counter;
  }
}
