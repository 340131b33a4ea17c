// Workloads through KvClient for the client's real-process tests: error classification and
// counting, and concurrent quorum-mode clients recording an invoke/return history for the
// linearizability checker. Owns nothing but its counters; never retries on the client's behalf.

import { performance } from 'node:perf_hooks';
import { KvError, NoQuorumError, OutcomeUnknownError, type KvClient } from '../../src/client/index.js';
import type { KvOp } from './linearizability.js';
import type { Rng } from './rng.js';

/** The class name of a typed client error, or "untyped:<name>" for anything else (a client bug). */
export function errorClass(e: unknown): string {
  if (e instanceof KvError) return e.constructor.name;
  return `untyped:${e instanceof Error ? e.name : typeof e}`;
}

/**
 * May this failed write still take effect? OutcomeUnknownError, and NOQUORUM "outcome unknown".
 * Every other typed error means the client says the write never ran (refused, or never sent).
 */
export function outcomeUnknown(e: unknown): boolean {
  return e instanceof OutcomeUnknownError || (e instanceof NoQuorumError && e.outcomeUnknown);
}

/** Counts of errors by class, for assertions (no untyped errors) and the test log. */
export class ErrorCounts {
  readonly byClass = new Map<string, number>();
  /** The first error of each class, for assertion messages. */
  readonly samples = new Map<string, string>();
  add(e: unknown): void {
    const c = errorClass(e);
    this.byClass.set(c, (this.byClass.get(c) ?? 0) + 1);
    if (!this.samples.has(c)) this.samples.set(c, e instanceof Error ? e.message : String(e));
  }
  get total(): number {
    let n = 0;
    for (const v of this.byClass.values()) n += v;
    return n;
  }
  untyped(): string[] {
    return [...this.samples].filter(([c]) => c.startsWith('untyped:')).map(([c, m]) => `${c}: ${m}`);
  }
  toString(): string {
    return this.byClass.size === 0 ? 'none' : [...this.byClass].map(([k, v]) => `${k}=${v}`).join(' ');
  }
}

export interface ClientWorkloadStats {
  putsOk: number;
  /** Puts that failed with an outcome-unknown error: recorded with returnMs undefined. */
  putsUnknown: number;
  /** Puts the client reported as never run: left out of the history. */
  putsRefused: number;
  getsOk: number;
  getsFailed: number;
  readonly errors: ErrorCounts;
}

export interface ClientWorkload {
  readonly history: KvOp[];
  readonly stats: ClientWorkloadStats;
  /** Move to fresh keys, so each key's history stays short enough for the checker's search. */
  nextGeneration(): void;
  /** Stop issuing operations; resolves when every client finished its current one. */
  stop(): Promise<void>;
}

/** Each client alternates puts (unique values) and gets on `keys` keys, one operation at a time. */
export function startClientWorkload(clients: readonly KvClient[], rng: Rng, keys: number): ClientWorkload {
  const history: KvOp[] = [];
  const stats: ClientWorkloadStats = { putsOk: 0, putsUnknown: 0, putsRefused: 0, getsOk: 0, getsFailed: 0, errors: new ErrorCounts() };
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  let stopping = false;
  let generation = 0;

  const run = async (kv: KvClient, c: number): Promise<void> => {
    let n = 0;
    while (!stopping) {
      const key = `g${generation}:k${rng.int(keys)}`;
      const invokeMs = now();
      if (rng.next() < 0.5) {
        const value = `c${c}-${n++}`;
        try {
          const r = await kv.set(key, value);
          if (r !== 'OK') throw new Error(`SET replied ${String(r)}`);
          stats.putsOk++;
          history.push({ kind: 'put', key, value, invokeMs, returnMs: now() });
        } catch (e) {
          stats.errors.add(e);
          if (outcomeUnknown(e)) {
            stats.putsUnknown++;
            history.push({ kind: 'put', key, value, invokeMs, returnMs: undefined });
          } else {
            // The client claims it never ran. If that is a lie, a get may observe the value and
            // the checker fails: the claim itself is under test.
            stats.putsRefused++;
          }
        }
      } else {
        try {
          const value = await kv.get(key);
          stats.getsOk++;
          history.push({ kind: 'get', key, value, invokeMs, returnMs: now() });
        } catch (e) {
          // A failed read imposes nothing on the history.
          stats.errors.add(e);
          stats.getsFailed++;
        }
      }
    }
  };

  const running = clients.map((kv, c) => run(kv, c));
  return {
    history,
    stats,
    nextGeneration: () => {
      generation++;
    },
    stop: async () => {
      stopping = true;
      await Promise.all(running);
    },
  };
}
