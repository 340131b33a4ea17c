// Manual-mode scenario for the simulator: a primary and replicas configured by address, then
// PROMOTE of a replica during a partition, writes on both sides, and REPLICAOF of the old
// primary to the new one. Owns the scenario's checks; reuses the node host and network.

import assert from 'node:assert/strict';
import type { CoreConfig, NodeId } from '../../../src/replication/core/types.js';
import type { LogEntry } from '../../../src/storage/types.js';
import { rng, type Rng } from '../rng.js';
import { SimNetwork } from './network.js';
import { SimNode, type Observer, type Wire } from './node.js';
import { SIM_TIMING, STEP_MS } from './world.js';

export interface ManualResult {
  readonly discardedOnOldPrimary: number;
  readonly expectedDiscard: number;
  readonly fullResyncs: number;
}

class ManualWorld implements Observer {
  readonly r: Rng;
  readonly net: SimNetwork<Wire>;
  readonly nodes = new Map<NodeId, SimNode>();
  nowMs = 0;
  discarded = 0;
  readonly trace: string[] = [];
  /** Nodes whose disk never syncs (their unsynced tail is what a log failure takes back). */
  readonly slowDisk = new Set<NodeId>();
  /** Every position written by a primary, with its entry: a position names one entry for the whole run. */
  private readonly written = new Map<string, string>();

  constructor(seed: number, ids: readonly NodeId[], primary: NodeId) {
    this.r = rng(seed);
    this.net = new SimNetwork<Wire>(rng(seed ^ 0x1234567), { delayMinMs: 1, delayMaxMs: 10, dropRate: 0.05, duplicateRate: 0.05 });
    for (const id of ids) {
      const cfg = (): CoreConfig => ({
        nodeId: id,
        selfAddress: `addr-${id}`,
        topology: { mode: 'manual', initialRole: id === primary ? { role: 'primary' } : { role: 'replica', primaryAddress: `addr-${primary}` } },
        timing: SIM_TIMING,
        random: rng(seed + id.length).next,
      });
      this.nodes.set(id, new SimNode(id, cfg, this));
    }
    for (const n of this.nodes.values()) n.start(0);
    for (const id of ids) if (id !== primary) this.link(id, primary);
  }

  node(id: NodeId): SimNode {
    return this.nodes.get(id) as SimNode;
  }

  /** The host of `replica` dialled `primary`: both sides learn the link (the host handshake exchanges node ids). */
  link(replica: NodeId, primary: NodeId): void {
    this.node(replica).run({ type: 'linkUp', peer: primary, address: `addr-${primary}`, outbound: true }, this.nowMs);
    this.node(primary).run({ type: 'linkUp', peer: replica, address: `addr-${replica}`, outbound: false }, this.nowMs);
  }

  send(from: NodeId, to: NodeId, w: Wire): void {
    // A snapshot stream follows the welcome on the same connection in the real host: never overtake it.
    this.net.send(from, to, w, this.nowMs, w.kind === 'snapshot' ? this.net.config.delayMaxMs + 1 : 0);
  }
  becamePrimary(): void {}
  committed(): void {
    assert.fail('manual mode never commits');
  }
  truncating(_n: SimNode, e: { discarded: number }): void {
    this.discarded += e.discarded;
  }
  loadingDiscards(_n: SimNode, d: readonly unknown[]): void {
    this.discarded += d.length;
  }
  readDone(): void {}
  wrote(n: SimNode, e: LogEntry): void {
    const key = `${e.epoch}:${e.seq}`;
    const body = `${n.id} ${JSON.stringify(e.ops)}`;
    const prior = this.written.get(key);
    if (prior !== undefined) assert.fail(`${n.id} writes ${key} = ${body}, a position that already named ${prior}`);
    this.written.set(key, body);
  }
  writeDone(): void {}
  failoverDone(): void {}
  memberChangeDone(): void {}
  log(n: SimNode, text: string): void {
    this.trace.push(`${this.nowMs} ${n.id} ${text}`);
  }

  steps(count: number, writers: readonly NodeId[]): void {
    for (let i = 0; i < count; i++) {
      this.nowMs += STEP_MS;
      for (const m of this.net.takeDue(this.nowMs)) this.node(m.to).deliver(m.from, m.payload, this.nowMs);
      for (const n of this.nodes.values()) {
        n.maybeResume(this.nowMs);
        n.run({ type: 'tick' }, this.nowMs);
        if (!this.slowDisk.has(n.id) && this.r.next() < 0.3) n.fsync(this.nowMs);
      }
      for (const w of writers) if (this.r.next() < 0.4 && this.node(w).core?.acceptsWrites(this.nowMs) === true) this.node(w).write(`k${this.r.int(5)}`, `${w}-${this.nowMs}`, this.nowMs);
    }
  }
}

/** Promote b while a is cut off, write on both sides, then make a a replica of b. */
export function runManualScenario(seed: number): ManualResult {
  const w = new ManualWorld(seed, ['a', 'b', 'c'], 'a');
  try {
    w.steps(100 + w.r.int(100), ['a']);
    w.net.partition(['a'], ['b', 'c']);
    w.steps(40, []); // in-flight traffic drains or is black-holed
    const b = w.node('b');
    b.run({ type: 'promote' }, w.nowMs);
    assert.equal(b.core?.currentRole, 'primary');
    w.node('c').run({ type: 'replicaOf', address: 'addr-b' }, w.nowMs);
    w.link('c', 'b');
    w.steps(50 + w.r.int(100), ['a', 'b']);
    // The fork: the last entry a and b share. a must discard exactly what follows it.
    const aEntries = w.node('a').store.entries;
    const bEntries = b.store.entries;
    let fork = 0;
    while (fork < aEntries.length && fork < bEntries.length && aEntries[fork]?.epoch === bEntries[fork]?.epoch) fork++;
    const expectedDiscard = aEntries.length - fork;
    const beforeA = w.discarded;
    w.net.heal();
    w.net.config = { ...w.net.config, dropRate: 0, duplicateRate: 0 };
    w.node('a').run({ type: 'replicaOf', address: 'addr-b' }, w.nowMs);
    w.link('a', 'b');
    w.steps(300, []);
    const a = w.node('a');
    assert.equal(a.core?.currentRole, 'replica');
    for (const id of ['a', 'c']) {
      const n = w.node(id);
      assert.deepEqual(n.store.last, b.store.last, `${id} converged to b`);
      for (let s = 1; s <= bEntries.length; s++) assert.equal(n.store.entries[s - 1]?.epoch, b.store.entries[s - 1]?.epoch, `${id} agrees with b at ${s}`);
    }
    const status = a.core?.status(w.nowMs);
    return { discardedOnOldPrimary: w.discarded - beforeA, expectedDiscard, fullResyncs: status?.fullResyncs ?? 0 };
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`manual scenario failed for seed ${seed}: ${msg}\n  replay: KV_SEED=${seed} node --test dist/test/replication-sim.test.js\n  ${w.trace.slice(-30).join('\n  ')}`);
  }
}

export interface ManualDiskResult {
  /** Entries the primary's log lost that a replica had received (and then had to discard). */
  readonly lostOnReplicas: number;
  readonly epochAfter: number;
}

/**
 * A primary's log fails while replicas already hold entries it never made durable; it keeps
 * serving, resumes a while later and takes writes again. Every node must end with the primary's
 * log, and no position may ever name two entries (checked at every write).
 */
export function runManualDiskScenario(seed: number): ManualDiskResult {
  const w = new ManualWorld(seed, ['a', 'b', 'c'], 'a');
  try {
    w.steps(50 + w.r.int(50), ['a']);
    w.slowDisk.add('a');
    w.steps(10 + w.r.int(20), ['a']); // streamed to b and c, never durable on a
    const a = w.node('a');
    const replicaLastBefore = Math.max(w.node('b').lastSeq, w.node('c').lastSeq);
    a.diskFail(w.nowMs, w.nowMs + 30 + w.r.int(200));
    const lostOnReplicas = Math.max(0, replicaLastBefore - a.lastSeq);
    assert.equal(a.core?.acceptsWrites(w.nowMs), false, 'no writes while the log is down');
    w.slowDisk.clear();
    w.steps(250, ['a']); // writes resume once the log does
    w.net.config = { ...w.net.config, dropRate: 0, duplicateRate: 0 };
    w.steps(200, []);
    for (const id of ['b', 'c']) {
      const n = w.node(id);
      assert.deepEqual(n.store.last, a.store.last, `${id} converged to a`);
      for (let s = 1; s <= a.lastSeq; s++) assert.deepEqual(n.store.entries[s - 1], a.store.entries[s - 1], `${id} holds a's entry at ${s}`);
    }
    return { lostOnReplicas, epochAfter: a.core?.currentEpoch ?? 0 };
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`manual disk scenario failed for seed ${seed}: ${msg}\n  replay: KV_SEED=${seed} node --test dist/test/replication-sim.test.js\n  ${w.trace.slice(-30).join('\n  ')}`);
  }
}
