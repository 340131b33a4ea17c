// A real Store whose asynchronous results reach the caller in a fixed order: every promise the
// store returns (durability, meta and epoch writes, truncation, snapshot export and load) is
// held until the simulator releases it, oldest first, after the real operation finished. The
// store's work is the real one; only when the host sees its results is scheduled, so a seed
// replays exactly whatever the disk's timing. Durability may be held longer (a slow fsync, its
// delay drawn from the seed); what was reported durable is what survives a crash. Owns the held
// results and that durable mark; never changes a result.

import type { SnapshotLoader, ReplicatedStore } from '../../../src/storage/api.js';
import type { EpochStart, Position } from '../../../src/storage/types.js';

type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

interface Held {
  readonly op: string;
  /** Simulated time before which it is not released. */
  readonly releaseAtMs: number;
  /** whenDurable's seq. */
  readonly seq: number;
  readonly outcome: Promise<Outcome>;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
}

export class Sequencer {
  private held: Held[] = [];
  /** When the newest durability wait may be released (they are released in order). */
  private lastDurableAtMs = 0;
  /** Highest seq reported durable (and not truncated since): a crash keeps the log up to here. */
  durableMark = 0;

  /** `durableDelayMs`: a slow fsync's extra time, drawn per durability wait. */
  constructor(
    private readonly nowMs: () => number,
    private readonly durableDelayMs: () => number,
  ) {}

  get pending(): number {
    return this.held.length;
  }

  /** Only durability waits are held: nothing of the store's is being written by an async operation. */
  get onlyDurabilityWaits(): boolean {
    return this.held.every((h) => h.op === 'whenDurable');
  }

  hold<T>(op: string, real: Promise<T>, seq = 0): Promise<T> {
    // Handled at once, so a rejection held for a while is never reported as unhandled.
    const outcome = real.then(
      (value): Outcome => ({ ok: true, value }),
      (error: unknown): Outcome => ({ ok: false, error }),
    );
    let releaseAtMs = 0;
    if (op === 'whenDurable') {
      releaseAtMs = Math.max(this.lastDurableAtMs, this.nowMs() + this.durableDelayMs());
      this.lastDurableAtMs = releaseAtMs;
    }
    return new Promise<T>((resolve, reject) => this.held.push({ op, releaseAtMs, seq, outcome, resolve: resolve as (v: unknown) => void, reject }));
  }

  /** The log was cut after `seq` or replaced at it: the durable mark follows. */
  logCut(seq: number): void {
    this.durableMark = Math.min(this.durableMark, seq);
  }
  logReplaced(seq: number): void {
    this.durableMark = seq;
  }

  /** Held operations that may be released now. */
  get due(): number {
    const now = this.nowMs();
    return this.held.filter((h) => h.releaseAtMs <= now).length;
  }

  /**
   * Take every operation due now; resolves, once all finished, to the function that hands
   * their results to their callers, oldest first.
   */
  async takeDue(): Promise<() => void> {
    const now = this.nowMs();
    const taken = this.held.filter((h) => h.releaseAtMs <= now);
    this.held = this.held.filter((h) => h.releaseAtMs > now);
    const outcomes = await Promise.all(taken.map((h) => h.outcome));
    return () => {
      taken.forEach((h, i) => {
        const o = outcomes[i] as Outcome;
        if (h.op === 'whenDurable' && o.ok) this.durableMark = Math.max(this.durableMark, h.seq);
        if (o.ok) h.resolve(o.value);
        else h.reject(o.error);
      });
    };
  }

  /** The process died: nobody is there to see these results. */
  dropAll(): void {
    this.held = [];
  }
}

const HELD_METHODS = new Set(['writeMeta', 'beginEpoch']);

export interface LoadObserver {
  /** A full-resync load is about to replace the log with the dataset at `position`. */
  beforeLoadCommit(position: Position, history: readonly EpochStart[]): void;
}

/** `store` with every asynchronous result held by `seq`. */
export function sequencedStore(store: ReplicatedStore, seq: Sequencer, obs: LoadObserver): ReplicatedStore {
  const methods = new Map<string | symbol, unknown>();
  return new Proxy(store, {
    get(target, prop): unknown {
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      let m = methods.get(prop);
      if (m === undefined) {
        m = wrapMethod(target, String(prop), v as (...a: unknown[]) => unknown, seq, obs);
        methods.set(prop, m);
      }
      return m;
    },
  });
}

function wrapMethod(target: ReplicatedStore, name: string, f: (...a: unknown[]) => unknown, seq: Sequencer, obs: LoadObserver): unknown {
  if (HELD_METHODS.has(name)) return (...a: unknown[]) => seq.hold(name, f.apply(target, a) as Promise<unknown>);
  if (name === 'whenDurable') return (s: number) => seq.hold(name, target.whenDurable(s), s);
  if (name === 'truncateAfter') {
    return (s: number) => {
      seq.logCut(s);
      return seq.hold(name, target.truncateAfter(s));
    };
  }
  if (name === 'beginLoad') return () => sequencedLoader(target.beginLoad(), seq, obs);
  if (name === 'exportSnapshot') return (n?: number) => sequencedExport(target.exportSnapshot(n), seq);
  return f.bind(target);
}

function sequencedLoader(l: SnapshotLoader, seq: Sequencer, obs: LoadObserver): SnapshotLoader {
  return {
    add: (items) => l.add(items),
    setUsers: (users) => l.setUsers(users),
    setConfigs: (configs) => l.setConfigs(configs),
    setFunctions: (libraries) => l.setFunctions(libraries),
    get keys() {
      return l.keys;
    },
    get bytes() {
      return l.bytes;
    },
    commit: (position, history) => {
      obs.beforeLoadCommit(position, history);
      seq.logReplaced(position.seq);
      return seq.hold('commit', l.commit(position, history));
    },
    abort: () => l.abort(),
  };
}

function sequencedExport(x: ReturnType<ReplicatedStore['exportSnapshot']>, seq: Sequencer): ReturnType<ReplicatedStore['exportSnapshot']> {
  return {
    from: x.from,
    epochHistory: x.epochHistory,
    users: x.users,
    functions: x.functions,
    configs: x.configs,
    batches: () => ({
      [Symbol.asyncIterator]() {
        const it = x.batches()[Symbol.asyncIterator]();
        return {
          next: () => seq.hold('exportNext', it.next()),
          return: (v?: unknown) => seq.hold('exportReturn', it.return?.(v) ?? Promise.resolve({ done: true as const, value: undefined })),
        };
      },
    }),
  };
}
