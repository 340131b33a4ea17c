// The process memory figures INFO memory reports (used_memory, used_memory_rss), the default
// memory limit, and maxmemory admission: evict under the policy, refuse denyoom commands with
// -OOM when that is not enough. Owns how memory is measured from Node's counters and when a
// command is over the limit; never picks keys (storage/eviction.ts) and never deletes outside
// the store's logged evictions.
//
// Redis's used_memory is what its allocator handed out. Node's closest figures: `heapUsed` (live
// JS objects) plus `external` (memory V8 objects hold outside the heap, which already includes
// `arrayBuffers`: every Buffer, so the keyspace's slabs, the log's and the sockets' buffers).
// RSS adds what is not data: code, the heap's free space, allocator slack, thread stacks.

import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import type { ReplicatedStore } from '../storage/api.js';
import type { CommandSpec } from './command-types.js';
import type { ServerConfig } from './config.js';

export interface MemoryFigures {
  /** heapUsed + external, capped by rss (see measureMemory). */
  readonly used: number;
  readonly rss: number;
  readonly heapTotal: number;
  readonly heapUsed: number;
}

/** The last resident size read (measureMemory's stand-in when /proc cannot be read). */
let lastRss = 0;

export function measureMemory(): MemoryFigures {
  let m: NodeJS.MemoryUsage;
  try {
    m = process.memoryUsage();
  } catch {
    // Reading the resident size opens /proc/self/stat: with every file descriptor in use (EMFILE)
    // it throws. V8's own figures need no descriptor; the resident size stays the last one read.
    const h = getHeapStatistics();
    return { used: h.used_heap_size + h.external_memory, rss: lastRss, heapTotal: h.total_heap_size, heapUsed: h.used_heap_size };
  }
  lastRss = m.rss;
  // Buffers allocated but never written (a slab's unfilled tail, allocUnsafeSlow) count in
  // `external` but hold no pages yet: resident memory bounds what is really in use.
  return { used: Math.min(m.heapUsed + m.external, m.rss), rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed };
}

/**
 * Without --maxmemory the limit is this share of the smaller of physical memory and the cgroup
 * limit. RSS runs above used_memory by the process's fixed overhead, slab space not yet
 * defragmented, reply and log buffers, the replication backlog and a replica's second dataset
 * during a full resync; the last quarter is left for those, so writes are refused (-OOM) before
 * the kernel's OOM killer would end the process.
 */
export const DEFAULT_MAXMEMORY_FRACTION = 0.75;
/**
 * V8 aborts the process when its heap reaches heap_size_limit, whatever maxmemory says. Keys and
 * string values live off the heap, but collections and transient objects do not: denyoom
 * commands are refused once the sampled heap use passes this share of the V8 limit.
 */
export const HEAP_USED_FRACTION_MAX = 0.75;
/**
 * Readings (one per server cron tick and one after each garbage collection) whose minimum is
 * taken as the memory outside the keyspace. V8 frees unreachable objects and Buffers (written
 * log chunks, replication frames, replies) only at a later collection, so one reading can hold
 * tens of MiB of garbage; evicting keys for it would empty a small dataset. The floor of recent
 * readings, taken after collections, is what the process returns to.
 */
export const OTHER_MEMORY_SAMPLES = 16;
/** Redis's maxmemory-eviction-tenacity default and maximum (100 = no time limit). */
export const EVICTION_TENACITY_DEFAULT = 10;
export const EVICTION_TENACITY_MAX = 100;
/** One eviction run's time budget per tenacity step up to 10 (Redis's curve: 0.5 ms at the default). */
const EVICTION_MS_PER_TENACITY = 0.05;
/** Above tenacity 10 the budget grows by this factor per step. */
const EVICTION_TENACITY_GROWTH = 1.15;
/** The exact Redis reply. */
export const OOM_REPLY = "OOM command not allowed when used memory > 'maxmemory'.";

/** The memory limit a cgroup (v2, else v1) puts on this process, or undefined if none. */
function cgroupLimitBytes(): number | undefined {
  const read = (path: string): number | undefined => {
    try {
      const t = readFileSync(path, 'latin1').trim();
      const n = Number(t);
      return t !== 'max' && Number.isSafeInteger(n) && n > 0 ? n : undefined;
    } catch {
      return undefined;
    }
  };
  let own = '';
  try {
    const line = readFileSync('/proc/self/cgroup', 'latin1').split('\n').find((l) => l.startsWith('0::'));
    own = line === undefined ? '' : line.slice(3);
  } catch {
    // not Linux: no cgroup
  }
  // v1 reports "no limit" as a huge page-rounded number; anything at or above physical memory is no limit.
  return read(`/sys/fs/cgroup${own}/memory.max`) ?? read('/sys/fs/cgroup/memory.max') ?? read('/sys/fs/cgroup/memory/memory.limit_in_bytes');
}

/** The default maxmemory: DEFAULT_MAXMEMORY_FRACTION of min(physical memory, cgroup limit). */
export function defaultMaxmemoryBytes(): number {
  const physical = totalmem();
  const cgroup = cgroupLimitBytes();
  const base = cgroup !== undefined && cgroup < physical ? cgroup : physical;
  return Math.floor(base * DEFAULT_MAXMEMORY_FRACTION);
}

/** One eviction run's time budget for a tenacity (Infinity at the maximum). */
export function evictionBudgetMs(tenacity: number): number {
  if (tenacity >= EVICTION_TENACITY_MAX) return Infinity;
  if (tenacity <= 10) return EVICTION_MS_PER_TENACITY * tenacity;
  return EVICTION_MS_PER_TENACITY * 10 * EVICTION_TENACITY_GROWTH ** (tenacity - 10);
}

/**
 * used_memory = what the process holds besides the keyspace (measured) + the keyspace's live
 * dataset (counted by the keyspace, exact and cheap to read). process.memoryUsage() costs a
 * system call, too slow per command, so the other memory is measured on the server's cron and
 * the dataset is read per command: an eviction lowers the figure at once. Space dead records
 * leave in the slabs until defrag reclaims it is fragmentation, as in Redis (the allocator's
 * free space is not used_memory): counting it would make evictions chase memory that no
 * eviction frees, until the dataset is gone.
 */
export class MemoryGauge {
  /** Measured memory outside the keyspace: the last reading, and the floor of the last OTHER_MEMORY_SAMPLES cron readings. */
  private otherNow = 0;
  private otherFloor = 0;
  private readonly otherSamples: number[] = [];
  /** The sampled V8 heap use passed HEAP_USED_FRACTION_MAX of its limit. */
  heapOver = false;
  /** Memory the limit does not count (the replication layer's buffers), read at each sample. */
  notCounted: (() => number) | null = null;
  /** Its value at the last sample. */
  notCountedBytes = 0;
  private readonly heapLimit = getHeapStatistics().heap_size_limit;

  /** Reads memory right after each collection, when it holds the least garbage. */
  private readonly gcObserver = new PerformanceObserver(() => this.sample());

  constructor(private readonly keyspace: { readonly datasetBytes: number; readonly heldBytes: number }) {
    this.sample();
    this.gcObserver.observe({ entryTypes: ['gc'] });
  }

  close(): void {
    this.gcObserver.disconnect();
  }

  /** The server's cron and every collection: measure and remember the reading for the floor. */
  sample(): void {
    this.figures();
    this.otherSamples.push(this.otherNow);
    if (this.otherSamples.length > OTHER_MEMORY_SAMPLES) this.otherSamples.shift();
    this.otherFloor = Math.min(...this.otherSamples);
    this.notCountedBytes = Math.min(this.otherFloor, this.notCounted?.() ?? 0);
  }

  /** Measure now (INFO: RSS, heap); `used` in the result is used(), never above RSS. */
  figures(): MemoryFigures {
    const m = measureMemory();
    this.otherNow = Math.max(0, m.used - this.keyspace.heldBytes);
    this.heapOver = m.heapUsed > HEAP_USED_FRACTION_MAX * this.heapLimit;
    return { ...m, used: Math.min(this.used(), m.rss) };
  }

  /**
   * used_memory: the floor outside the keyspace + the dataset now. It moves with the dataset
   * byte for byte (a key written or evicted shows at once) and with other memory within a
   * second, without the GC's sawtooth.
   */
  used(): number {
    return (this.otherSamples.length === 0 ? this.otherNow : this.otherFloor) + this.keyspace.datasetBytes;
  }

  /** What maxmemory compares with the limit: the floor outside the keyspace + the dataset, without what it does not count. */
  usedForLimit(): number {
    return this.used() - this.notCountedBytes;
  }
}

/** Commands run through admit() before their handler (the dispatcher's MemoryAdmission). */
export class MaxmemoryGuard {
  private continuing = false;
  /** Told how long each eviction run took (the latency monitor's eviction-cycle). */
  onEvictionRun: ((ms: number) => void) | null = null;

  constructor(
    private readonly cfg: ServerConfig,
    private readonly store: ReplicatedStore,
    readonly gauge: MemoryGauge,
  ) {}

  /** Null to run the command; else the reply refusing it. Cheap while under the limit. */
  admit(spec: CommandSpec): string | null {
    return this.admitGrowth(spec.flags.includes('denyoom'));
  }

  /**
   * admit() by what the check reads of a command: whether it may grow memory (denyoom). A script
   * with a shebang that may write is checked as one that may.
   */
  admitGrowth(mayGrow: boolean): string | null {
    const limit = this.cfg.maxmemory;
    if ((limit === 0 || this.gauge.usedForLimit() <= limit) && !this.gauge.heapOver) return null;
    return this.overLimit(mayGrow);
  }

  /** Over the limit (or the heap guard): evict what the policy allows, as Redis does before any command. */
  private overLimit(mayGrow: boolean): string | null {
    const running = this.evictNow();
    if (running || !this.over()) return null; // Redis: an eviction still running is not a failure
    return mayGrow ? OOM_REPLY : null;
  }

  private over(): boolean {
    const limit = this.cfg.maxmemory;
    return (limit !== 0 && this.gauge.usedForLimit() > limit) || this.gauge.heapOver;
  }

  /**
   * One eviction run within the tenacity budget; true when time ran out with keys still to
   * evict (the rest continues on later turns, as Redis's eviction time event).
   */
  evictNow(): boolean {
    const limit = this.cfg.maxmemory;
    if (limit === 0 || this.cfg.maxmemoryPolicy === 'noeviction') return false;
    const toFree = this.gauge.usedForLimit() - limit;
    if (toFree <= 0) return false;
    const t0 = performance.now();
    const r = this.store.evict(toFree, evictionBudgetMs(this.cfg.maxmemoryEvictionTenacity));
    this.onEvictionRun?.(performance.now() - t0);
    if (r.outcome !== 'time') return false;
    if (!this.continuing) {
      this.continuing = true;
      setImmediate(() => {
        this.continuing = false;
        this.evictNow();
      });
    }
    return true;
  }

  /** The server's cron: measure, and evict if the limit was lowered or non-dataset memory grew. */
  cron(): void {
    this.gauge.sample();
    this.evictNow();
  }
}
