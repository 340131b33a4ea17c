// Simulated network for the replication simulator: seeded delay, loss, duplication, reordering
// (by jitter) and partitions (black holes, checked at send and at delivery).
// Owns only in-flight messages; never delivers to a node on its own (the world pulls due messages).

import type { Rng } from '../rng.js';

export interface NetConfig {
  readonly delayMinMs: number;
  readonly delayMaxMs: number;
  readonly dropRate: number;
  readonly duplicateRate: number;
}

export interface InFlight<M> {
  readonly from: string;
  readonly to: string;
  readonly payload: M;
  readonly deliverAtMs: number;
  readonly order: number;
}

/** Bound on in-flight messages; a runaway sender is a bug the simulation must surface. */
export const IN_FLIGHT_MAX = 200_000;

export class SimNetwork<M> {
  private queue: InFlight<M>[] = [];
  private order = 0;
  /** Unordered pairs "a|b" that cannot talk. */
  private readonly cut = new Set<string>();
  sent = 0;
  dropped = 0;

  constructor(
    private readonly rng: Rng,
    public config: NetConfig,
  ) {}

  private pair(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  partition(groupA: readonly string[], groupB: readonly string[]): void {
    for (const a of groupA) for (const b of groupB) this.cut.add(this.pair(a, b));
  }

  heal(): void {
    this.cut.clear();
  }

  connected(a: string, b: string): boolean {
    return !this.cut.has(this.pair(a, b));
  }

  get partitioned(): boolean {
    return this.cut.size > 0;
  }

  /** False when the message was lost (dropped, or the pair is cut). */
  send(from: string, to: string, payload: M, nowMs: number, extraDelayMs = 0): boolean {
    this.sent++;
    if (!this.connected(from, to) || this.rng.next() < this.config.dropRate) {
      this.dropped++;
      return false;
    }
    const copies = this.rng.next() < this.config.duplicateRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const span = this.config.delayMaxMs - this.config.delayMinMs;
      const deliverAtMs = nowMs + extraDelayMs + this.config.delayMinMs + Math.floor(this.rng.next() * (span + 1));
      this.queue.push({ from, to, payload, deliverAtMs, order: this.order++ });
    }
    if (this.queue.length > IN_FLIGHT_MAX) throw new Error(`simulated network holds more than ${IN_FLIGHT_MAX} messages`);
    return true;
  }

  /** Messages due by `nowMs`, in delivery order; partitioned ones vanish (black hole). */
  takeDue(nowMs: number): InFlight<M>[] {
    const due: InFlight<M>[] = [];
    const rest: InFlight<M>[] = [];
    for (const m of this.queue) (m.deliverAtMs <= nowMs ? due : rest).push(m);
    this.queue = rest;
    due.sort((a, b) => a.deliverAtMs - b.deliverAtMs || a.order - b.order);
    return due.filter((m) => this.connected(m.from, m.to));
  }

  get inFlight(): number {
    return this.queue.length;
  }
}
