// The simulated world for the replication core: N nodes, a seeded scheduler with a simulated
// clock, the faulty network, crashes/restarts, partitions, a client driver (async writes,
// quorum writes, quorum reads, failovers) and the safety checks (oracle.ts) run after every
// step. Owns the schedule and the core-specific checks; never lets a check be skipped silently.

import assert from 'node:assert/strict';
import { DEFAULT_TIMING, type ConfigAt, type CoreConfig, type Effect, type MemberChange, type MemberConfig, type NodeId, type Timing } from '../../../src/replication/core/types.js';
import { decodeMemberConfig, formatConfig, votersOf } from '../../../src/replication/core/member-config.js';
import type { LogEntry } from '../../../src/storage/types.js';
import type { CheckResult } from '../linearizability.js';
import { rng, type Rng } from '../rng.js';
import { SimNetwork, type NetConfig } from './network.js';
import { SimNode, type Observer, type Wire } from './node.js';
import { Oracle, type SimStats } from './oracle.js';

export type { SimStats } from './oracle.js';

/** Simulated time per scheduler step, ms. */
export const STEP_MS = 5;

export const SIM_TIMING: Timing = {
  ...DEFAULT_TIMING,
  heartbeatIntervalMs: 20,
  electionTimeoutMinMs: 100,
  electionTimeoutMaxMs: 200,
  replicaMaxLagMs: 200,
  replicaMaxLagOps: 50,
  backlogBytesMax: 4000, // small on purpose: lagging replicas must fall back to full resyncs
  inflightBytesMax: 1500,
  appendBytesMax: 400,
  quorumTimeoutMs: 600,
  failoverTimeoutMs: 400,
  fullResyncTimeoutMs: 500,
  resendAfterMs: 60,
};

export interface SimOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly steps: number;
  /** Steps of quiet (no faults, no writes, healed network) at the end to check convergence. */
  readonly quietSteps: number;
  readonly net: NetConfig;
  readonly crashRate: number;
  /** Per step: a node's local log fails (keeps its durable prefix) and resumes a while later. */
  readonly diskFailRate: number;
  readonly partitionRate: number;
  readonly opRate: number;
  readonly failoverRate: number;
  readonly keys: number;
  /** Nodes beyond `nodes` that are not members at first: membership changes add them (0: no membership changes). */
  readonly spares: number;
  /** Per step: the primary is asked for a membership change (add, promote, remove, new address). */
  readonly memberChangeRate: number;
  /** Test seam: let the core start a change before the previous one committed (the checks must catch it). */
  readonly unsafeConcurrentConfigChanges: boolean;
}

export const DEFAULT_SIM: Omit<SimOptions, 'seed'> = {
  nodes: 3,
  steps: 600,
  quietSteps: 300,
  net: { delayMinMs: 1, delayMaxMs: 12, dropRate: 0.03, duplicateRate: 0.03 },
  crashRate: 0.004,
  diskFailRate: 0.003,
  partitionRate: 0.003,
  opRate: 0.5,
  failoverRate: 0.001,
  keys: 3,
  spares: 0,
  memberChangeRate: 0,
  unsafeConcurrentConfigChanges: false,
};

export class SimWorld implements Observer {
  readonly rng: Rng;
  readonly net: SimNetwork<Wire>;
  readonly nodes: SimNode[] = [];
  private readonly byId = new Map<NodeId, SimNode>();
  nowMs = 0;
  readonly oracle = new Oracle(() => this.nowMs);
  readonly stats: SimStats = this.oracle.stats;
  readonly trace: string[] = [];
  private healAtMs = -1;
  /** The configuration of the highest committed membership entry (seq 0: the bootstrap one). */
  private committedConfig: ConfigAt;
  private configScanSeq = 0;
  /** Nodes ever started (a spare is not, until a membership change adds it). */
  private readonly started = new Set<NodeId>();
  /** A spare's bootstrap when it joins: the voters the primary had when it was added (a --join node's view). */
  private readonly joinVoters = new Map<NodeId, Map<NodeId, string>>();
  private nextChangeId = 1;
  /** Outcome of each membership change by request id (scenario tests read it). */
  readonly changeResults = new Map<number, { outcome: 'ok' | 'refused' | 'unknown'; reason: string }>();
  private addressGeneration = 0;

  constructor(readonly opts: SimOptions) {
    this.rng = rng(opts.seed);
    this.net = new SimNetwork<Wire>(rng(opts.seed ^ 0x5bd1e995), opts.net);
    const members = new Map<NodeId, string>();
    for (let i = 1; i <= opts.nodes; i++) members.set(`n${i}`, `10.0.0.${i}:7000`); // never dialled: addresses are labels here
    this.committedConfig = { seq: 0, config: { members: new Map([...members].map(([id, address]) => [id, { address, voter: true, autoPromote: false }])) } };
    for (let i = 1; i <= opts.nodes + opts.spares; i++) {
      const id = `n${i}`;
      const nodeRng = rng((opts.seed * 31 + id.charCodeAt(1)) >>> 0);
      const joining = this.joinVoters;
      const cfg = (): CoreConfig => {
        const voters = joining.get(id);
        return {
          nodeId: id,
          selfAddress: members.get(id) ?? `10.0.0.${i}:7000`,
          topology: voters === undefined ? { mode: 'cluster', members } : { mode: 'cluster', members: voters, learners: new Map([[id, `10.0.0.${i}:7000`]]) },
          timing: SIM_TIMING,
          random: nodeRng.next,
          unsafeConcurrentConfigChanges: opts.unsafeConcurrentConfigChanges,
        };
      };
      this.nodes.push(new SimNode(id, cfg, this));
    }
    for (const n of this.nodes) this.byId.set(n.id, n);
    for (const n of this.nodes) if (members.has(n.id)) this.startNode(n, 0);
  }

  private startNode(n: SimNode, nowMs: number): void {
    this.started.add(n.id);
    n.start(nowMs);
  }

  // ------------------------------------------------------------------ Observer

  send(from: NodeId, to: NodeId, w: Wire): void {
    // A snapshot stream follows the welcome on the same connection in the real host: never overtake it.
    this.net.send(from, to, w, this.nowMs, w.kind === 'snapshot' ? this.net.config.delayMaxMs + 1 : 0);
  }

  becamePrimary(node: SimNode, epoch: number): void {
    this.trace.push(`${this.nowMs} ${node.id} primary of epoch ${epoch} at ${node.store.last.epoch}:${node.store.last.seq}`);
    this.oracle.becamePrimary(node, epoch);
  }

  committed(node: SimNode, commitSeq: number): void {
    this.oracle.committed(node, node.core?.currentEpoch ?? 0, commitSeq);
    // The oracle checked that this prefix is the committed one: its membership entries are committed configurations.
    for (let s = this.configScanSeq + 1; s <= commitSeq; s++) {
      const op = node.store.entries[s - 1]?.ops[0];
      if (op === undefined || op.t !== 'members') continue;
      const config = decodeMemberConfig(op.config);
      assert(config !== null, `committed configuration at ${s} does not decode`);
      this.committedConfig = { seq: s, config };
      this.stats.configsCommitted++;
    }
    this.configScanSeq = Math.max(this.configScanSeq, commitSeq);
  }

  truncating(node: SimNode, e: Extract<Effect, { type: 'truncateAfter' }>): void {
    const entries = node.store.entries;
    const primaryId = node.core?.knownPrimaryId ?? null;
    const primary = this.nodes.find((n) => n.id === primaryId);
    for (let s = e.seq + 1; s <= entries.length; s++) {
      const mine = entries[s - 1] as LogEntry;
      this.oracle.checkDiscardable(node, mine.epoch, s, 'discards');
      // What is discarded is exactly what the primary's history does not hold.
      const theirs = primary?.store.entries[s - 1];
      if (primary !== undefined && theirs !== undefined) assert.notEqual(theirs.epoch, mine.epoch, `${node.id} discards ${mine.epoch}:${s} which ${primaryId} holds`);
    }
    if (primary !== undefined && e.seq > 0) {
      assert.equal(primary.store.entries[e.seq - 1]?.epoch, entries[e.seq - 1]?.epoch, `${node.id} keeps a prefix that differs from ${primaryId} at ${e.seq}`);
    }
    this.stats.discarded += e.discarded;
    this.trace.push(`${this.nowMs} ${node.id} discards ${e.discarded} after ${e.seq}`);
  }

  loadingDiscards(node: SimNode, discarded: readonly LogEntry[]): void {
    for (const e of discarded) this.oracle.checkDiscardable(node, e.epoch, e.seq, 'full resync drops');
    this.stats.discarded += discarded.length;
  }

  wrote(node: SimNode, entry: LogEntry): void {
    this.oracle.written(node, entry.epoch, entry.seq, entry.ops.length === 0 ? `no-op of ${node.id}` : JSON.stringify(entry.ops));
  }

  readDone(node: SimNode, readId: number, ok: boolean): void {
    if (ok) assert.equal(node.core?.memberRole, 'voter', `${node.id} answers a quorum read while it is ${node.core?.memberRole}`);
    this.oracle.readDone(readId, ok);
  }

  writeDone(node: SimNode, writeId: number, seq: number, ok: boolean): void {
    if (ok) assert.equal(node.core?.memberRole, 'voter', `${node.id} acknowledges a quorum write while it is ${node.core?.memberRole}`);
    this.oracle.writeDone(node, writeId, seq, ok);
  }

  memberChangeDone(node: SimNode, requestId: number, outcome: 'ok' | 'refused' | 'unknown', seq: number, reason: string): void {
    if (outcome === 'ok') {
      this.stats.memberChangesOk++;
      // Acknowledged only once committed: the oracle must know that entry as committed.
      assert.equal(this.oracle.committedEpoch(seq), node.epochAt(seq), `${node.id} acknowledged configuration ${seq} before it was committed`);
    }
    this.changeResults.set(requestId, { outcome, reason });
    this.trace.push(`${this.nowMs} ${node.id} membership change ${requestId} ${outcome}${seq > 0 ? ` at ${seq}` : ''}${reason === '' ? '' : `: ${reason}`}`);
  }

  failoverDone(node: SimNode, ok: boolean, reason: string): void {
    if (ok) this.stats.failoversOk++;
    this.trace.push(`${this.nowMs} ${node.id} failover ${ok ? 'ok' : 'failed'}: ${reason}`);
  }

  log(node: SimNode, text: string): void {
    if (text.includes('full resync from') && text.includes('loaded')) this.stats.fullResyncs++;
    this.trace.push(`${this.nowMs} ${node.id} ${text}`);
    if (this.trace.length > 400) this.trace.splice(0, 200);
  }

  // ------------------------------------------------------------------ checks

  checkStep(): void {
    let newest: SimNode | null = null;
    for (const n of this.nodes) {
      const core = n.core;
      if (core === null) continue;
      this.oracle.checkNode(n, core);
      if (core.discardedTotal !== n.discardedSinceStart) assert.fail(`${n.id}: discard counter ${core.discardedTotal} != ${n.discardedSinceStart}`);
      if (core.memberRole !== 'voter' && core.acceptsWrites(this.nowMs)) assert.fail(`${n.id} takes writes while it is ${core.memberRole}`);
      if (core.currentRole === 'primary' && (newest === null || core.currentEpoch > (newest.core?.currentEpoch ?? 0))) newest = n;
    }
    this.checkMajorities(newest);
  }

  /**
   * The configuration the newest primary counts majorities over is the committed one or one
   * change after it, never one whose majority could miss every voter of the committed one.
   * (Older primaries are deposed and cannot commit: their configuration may be older.)
   */
  private checkMajorities(primary: SimNode | null): void {
    const core = primary?.core;
    if (core === null || core === undefined || primary === null) return;
    this.oracle.checkCountingConfig(primary.id, core.configInForce, this.committedConfig);
  }

  // ------------------------------------------------------------------ scheduler

  private live(): SimNode[] {
    return this.nodes.filter((n) => n.alive);
  }

  private primaries(): SimNode[] {
    return this.live().filter((n) => n.core?.currentRole === 'primary' && n.core.acceptsWrites(this.nowMs));
  }

  /** The primary is asked for one membership change (MEMBER ADD / PROMOTE / REMOVE / ADDRESS). */
  private changeMembers(): void {
    const r = this.rng;
    const prim = this.primaries()[0];
    const core = prim?.core;
    if (prim === undefined || core === null || core === undefined) return;
    const address = (id: NodeId, moved: boolean): string => (moved ? `10.0.${1 + (++this.addressGeneration % 200)}.${id.slice(1)}:7000` : `10.0.0.${id.slice(1)}:7000`);
    this.requestChange(prim, pickMemberChange(r, core.configInForce.config, this.nodes.map((n) => n.id), address));
  }

  /** Ask `prim` for `change` (MEMBER ...); an added node that never ran starts as a --join node would. Returns the request id. */
  requestChange(prim: SimNode, change: MemberChange): number {
    const core = prim.core;
    assert(core !== null, `${prim.id} is down`);
    const config = core.configInForce.config;
    const n = this.byId.get(change.id);
    if (change.op === 'add' && n !== undefined) {
      if (!this.started.has(n.id)) {
        const voters = new Map<NodeId, string>();
        for (const id of votersOf(config)) voters.set(id, config.members.get(id)?.address ?? '');
        this.joinVoters.set(n.id, voters);
        this.startNode(n, this.nowMs);
        this.trace.push(`${this.nowMs} ${n.id} starts to join (voters ${[...voters.keys()].join(',')})`);
      } else if (!n.alive && n.restartAtMs < 0) {
        n.restartAtMs = this.nowMs + 50;
      }
    }
    const requestId = this.nextChangeId++;
    this.stats.memberChanges++;
    this.trace.push(`${this.nowMs} ${prim.id} asked: ${change.op} ${change.id} (#${requestId}; in force ${formatConfig(config)})`);
    prim.run({ type: 'changeMembers', requestId, change }, this.nowMs);
    return requestId;
  }

  /** The primary that takes writes now, if exactly one does. */
  primary(): SimNode | undefined {
    const p = this.primaries();
    return p.length === 1 ? p[0] : undefined;
  }

  byName(id: NodeId): SimNode {
    const n = this.byId.get(id);
    assert(n !== undefined, `no node ${id}`);
    return n;
  }

  step(faults: boolean, ops: boolean): void {
    this.nowMs += STEP_MS;
    // Most flushes come before the next input (the host flushes at the end of the turn that
    // wrote); some come after this step's messages and ticks, as when a read event of the same
    // turn carried frames.
    const late = this.nodes.filter((n) => n.flushPending && this.rng.next() < 0.25);
    for (const n of this.nodes) if (!late.includes(n)) n.flush(this.nowMs);
    for (const m of this.net.takeDue(this.nowMs)) this.byId.get(m.to)?.deliver(m.from, m.payload, this.nowMs);
    for (const n of this.nodes) {
      if (!n.alive && n.restartAtMs >= 0 && this.nowMs >= n.restartAtMs) {
        n.restartAtMs = -1;
        this.startNode(n, this.nowMs);
        this.trace.push(`${this.nowMs} ${n.id} restarted at ${n.store.last.epoch}:${n.store.last.seq}`);
      }
      n.maybeResume(this.nowMs);
      n.run({ type: 'tick' }, this.nowMs);
      if (n.alive && this.rng.next() < 0.3) n.fsync(this.nowMs);
    }
    for (const n of late) n.flush(this.nowMs);
    if (faults) this.injectFaults();
    if (ops && this.rng.next() < this.opts.opRate) this.clientOp();
    this.checkStep();
  }

  private injectFaults(): void {
    const r = this.rng;
    if (r.next() < this.opts.crashRate) {
      const live = this.live();
      const prim = this.primaries();
      const victim = prim.length > 0 && r.next() < 0.5 ? prim[0] : live.length > 0 ? r.pick(live) : undefined;
      if (victim !== undefined) {
        victim.crash();
        victim.restartAtMs = this.nowMs + 50 + r.int(400);
        this.stats.crashes++;
        this.trace.push(`${this.nowMs} ${victim.id} crashed (durable ${victim.store.durableSeq})`);
      }
    }
    if (r.next() < this.opts.diskFailRate) {
      const up = this.live().filter((n) => !n.logDown);
      const prim = this.primaries();
      const victim = prim.length > 0 && r.next() < 0.5 ? prim[0] : up.length > 0 ? r.pick(up) : undefined;
      if (victim !== undefined) {
        const lost = victim.diskFail(this.nowMs, this.nowMs + 50 + r.int(400));
        this.stats.diskFailures++;
        this.stats.discarded += lost;
        this.trace.push(`${this.nowMs} ${victim.id} log failed, kept ${victim.store.durableSeq} (lost ${lost})`);
      }
    }
    if (this.healAtMs >= 0 && this.nowMs >= this.healAtMs) {
      this.net.heal();
      this.healAtMs = -1;
      this.trace.push(`${this.nowMs} network healed`);
    } else if (this.healAtMs < 0 && r.next() < this.opts.partitionRate) {
      const ids = this.nodes.map((n) => n.id);
      const a = ids.filter(() => r.next() < 0.5);
      const b = ids.filter((id) => !a.includes(id));
      if (a.length > 0 && b.length > 0) {
        this.net.partition(a, b);
        this.healAtMs = this.nowMs + 100 + r.int(700);
        this.stats.partitions++;
        this.trace.push(`${this.nowMs} partition ${a.join(',')} | ${b.join(',')}`);
      }
    }
    if (r.next() < this.opts.memberChangeRate) {
      this.changeMembers();
      // With the injected bug, a second change right behind the first is what it lets through.
      if (this.opts.unsafeConcurrentConfigChanges && r.next() < 0.5) this.changeMembers();
    }
    const prim = this.primaries()[0];
    if (prim !== undefined && r.next() < this.opts.failoverRate) {
      this.stats.failovers++;
      const others = this.nodes.filter((n) => n.id !== prim.id);
      const target = r.next() < 0.5 ? null : r.pick(others).id;
      prim.run({ type: 'failover', target }, this.nowMs);
    }
  }

  private clientOp(): void {
    const prims = this.primaries();
    if (prims.length === 0) return;
    const node = this.rng.pick(prims);
    const key = `k${this.rng.int(this.opts.keys)}`;
    const roll = this.rng.next();
    if (roll < 0.4) {
      // The host reads the state at request time (readSeq = lastSeq) and answers on readReady.
      const readId = this.oracle.readStarted(key, node.store.valueOf(key));
      node.run({ type: 'quorumRead', readId }, this.nowMs);
      return;
    }
    const { value, idx } = this.oracle.putStarted(key);
    const seq = node.write(key, value, this.nowMs);
    if (roll < 0.8) {
      node.run({ type: 'quorumWrite', writeId: this.oracle.quorumWrite(idx), seq }, this.nowMs);
    } else {
      this.stats.asyncWrites++; // acknowledged after the local log: may be lost, so unknown outcome for the checker
    }
  }

  /** Run the schedule, then a quiet period; returns the linearizability verdict. */
  run(): CheckResult {
    for (let i = 0; i < this.opts.steps; i++) this.step(true, true);
    this.net.heal();
    this.net.config = { ...this.net.config, dropRate: 0, duplicateRate: 0 };
    for (const n of this.nodes) if (!n.alive && this.started.has(n.id)) n.restartAtMs = this.nowMs;
    for (const n of this.nodes) if (n.logDown) n.logDownUntilMs = this.nowMs;
    for (let i = 0; i < this.opts.quietSteps; i++) this.step(false, false);
    this.checkConverged();
    return this.oracle.linearizable();
  }

  /** After faults heal and writes stop: one primary, and every node holds the same log. */
  checkConverged(): void {
    const prims = this.live().filter((n) => n.core?.currentRole === 'primary');
    assert.equal(prims.length, 1, `expected one primary after the quiet period, got ${prims.map((p) => p.id).join(',') || 'none'}`);
    const primary = prims[0] as SimNode;
    // Every member of the configuration in force holds the log; removed nodes and unused spares need not.
    const members = primary.core?.configInForce.config.members ?? new Map();
    this.oracle.checkConverged(primary, this.nodes.filter((n) => members.has(n.id)));
    // A node removed while it could not hear of it learns it (it asks the members, they name the primary, the primary streams it the log).
    for (const n of this.live()) {
      if (!members.has(n.id) && n.core?.memberRole !== 'removed') assert.fail(`${n.id} was removed but still believes it is a ${n.core?.memberRole}`);
    }
  }
}

/**
 * One random MEMBER change for a primary whose configuration is `config`: add a node from `ids`
 * that is not a member (sometimes at a new address; a learner, promoted on its own or not),
 * promote a learner, remove a member (the primary too), or move one. `address(id, moved)` names
 * where a node is.
 */
export function pickMemberChange(r: Rng, config: MemberConfig, ids: readonly NodeId[], address: (id: NodeId, moved: boolean) => string): MemberChange {
  const outside = ids.filter((id) => !config.members.has(id));
  const learners = [...config.members].filter(([, m]) => !m.voter).map(([id]) => id);
  const members = [...config.members.keys()];
  const roll = r.next();
  if (roll < 0.35 && outside.length > 0) {
    const id = r.pick(outside);
    return { op: 'add', id, address: address(id, r.next() < 0.3), autoPromote: r.next() < 0.7 };
  }
  if (roll < 0.55 && learners.length > 0) return { op: 'promote', id: r.pick(learners) };
  if (roll < 0.9 && members.length > 1) return { op: 'remove', id: r.pick(members) };
  const id = r.pick(members);
  return { op: 'address', id, address: address(id, true) };
}

/** Runs one seed; on failure the error names the seed and the exact replay command. */
export function runSeed(seed: number, overrides: Partial<Omit<SimOptions, 'seed'>> = {}): { stats: SimStats; result: CheckResult } {
  const world = new SimWorld({ ...DEFAULT_SIM, ...overrides, seed });
  try {
    const result = world.run();
    if (result.ok === false) throw new Error(`not linearizable on ${result.key}: ${result.reason}`);
    return { stats: world.stats, result };
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const trace = world.trace.slice(-40).join('\n  ');
    throw new Error(
      `simulation failed for seed ${seed} at t=${world.nowMs}ms: ${msg}\n` +
        `  replay: npx tsc -p tsconfig.json && KV_SEED=${seed} node --test dist/test/replication-sim.test.js\n  last events:\n  ${trace}`,
    );
  }
}
