// The simulated world for the real replication host over a real Store: N cluster nodes, each a
// ReplicationHost on a Store in its own temp directory, linked by the simulated transport over
// the seeded SimNetwork, timed by the world's clock and timers. A crash is a machine crash: the
// process is dropped without closing anything and its store reopened from its files, cut after
// the last entry reported durable. Between steps every host's pending work settles in a fixed
// order, so a seed replays exactly. Owns the nodes, the schedule and the host-specific checks
// (the shared ones are oracle.ts's), run after every step; never lets a check be skipped silently.

import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigAt, Effect, MemberChange, NodeId } from '../../../src/replication/core/types.js';
import { bootstrapConfig, votersOf } from '../../../src/replication/core/member-config.js';
import type { ClusterResultEffect } from '../../../src/replication/cluster/commands.js';
import { ReplicationHost, type HostObserver } from '../../../src/replication/host/host.js';
import type { HostRuntime, LinkEvents, ReplLink } from '../../../src/replication/host/runtime.js';
import type { ReplicatedStore } from '../../../src/storage/api.js';
import { openReplicatedStore as openStore } from '../../../src/storage/store.js';
import type { EpochStart, Position } from '../../../src/storage/types.js';
import type { CheckResult } from '../linearizability.js';
import { rng, type Rng } from '../rng.js';
import { SimNetwork } from './network.js';
import { sequencedStore, Sequencer } from './sequenced-store.js';
import { simTransport, type LinkPacket, type SimLinkEnd, type SimProcess, type SimWorldPort } from './sim-transport.js';
import { Oracle, type SimStats } from './oracle.js';
import { DEFAULT_SIM, SIM_TIMING, STEP_MS, pickMemberChange, type SimOptions } from './world.js';

/** A RAM-backed directory when the OS has one (each node's store fsyncs its meta and epochs), else the temp dir. */
const DIR_ROOT = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
/** Rounds of releasing held store results before the hosts must have settled. */
const SETTLE_ROUNDS_MAX = 100_000;
/** Longest simulated fsync, in steps. */
const DURABLE_DELAY_STEPS_MAX = 10;
/** Timers and turn-end callbacks run per step before the world calls it a livelock. */
const CALLBACKS_PER_STEP_MAX = 100_000;

/** The core simulator's options, plus connection resets (the host has real links to break). */
export interface HostSimOptions extends SimOptions {
  /** Per step: a random connection breaks (TCP reset). */
  readonly resetRate: number;
}

/** The core simulator's network and keys; a shorter schedule (each step costs real store I/O) with denser faults. */
export const DEFAULT_HOST_SIM: Omit<HostSimOptions, 'seed'> = {
  ...DEFAULT_SIM,
  steps: 150,
  quietSteps: 150,
  crashRate: 0.008,
  partitionRate: 0.006,
  resetRate: 0.01,
  opRate: 0.6,
  failoverRate: 0.003,
};

interface Timer {
  readonly atMs: number;
  readonly order: number;
  readonly owner: HostNode | null;
  readonly incarnation: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/** One node: its directory, and the current incarnation of its process (store + host). */
class HostNode implements SimProcess {
  readonly links = new Set<SimLinkEnd>();
  incarnation = 0;
  dir: string;
  real: ReplicatedStore | null = null;
  store: ReplicatedStore | null = null;
  host: ReplicationHost | null = null;
  seq: Sequencer;
  restartAtMs = -1;
  /** Crash at the end of this step (it had store writes in flight when chosen). */
  crashAfterSettle = false;
  /** The last crash lost every log record after this seq (the last fsynced one); null: no loss pending. */
  fsyncedAtCrash: number | null = null;
  /** Every directory this node used (crashes leave the old ones behind until the end). */
  readonly dirs: string[] = [];

  constructor(
    readonly id: NodeId,
    readonly address: string,
    private readonly newSequencer: () => Sequencer,
  ) {
    this.dir = this.newDir();
    this.seq = newSequencer();
  }

  /** A new process: nothing held, the log durable up to where it ends. */
  freshSequencer(): void {
    this.seq = this.newSequencer();
  }

  get alive(): boolean {
    return this.host !== null;
  }

  newDir(): string {
    const d = mkdtempSync(join(DIR_ROOT, `kvsim-${this.id}-`));
    this.dirs.push(d);
    return d;
  }

  accept(peerId: string, announce: string, open: (events: LinkEvents) => ReplLink): boolean {
    if (this.host === null) return false;
    this.host.acceptPeerLink(peerId, announce, open);
    return true;
  }

  get last(): Position {
    return (this.store as ReplicatedStore).lastPosition;
  }

  get lastSeq(): number {
    return this.last.seq;
  }

  /** Epoch of the entry at `seq` (≤ the last), from the store's epoch history. */
  epochAt(seq: number): number | undefined {
    return epochIn((this.store as ReplicatedStore).epochHistory, seq, this.last.seq);
  }
}

function epochIn(history: readonly EpochStart[], seq: number, lastSeq: number): number | undefined {
  if (seq < 1 || seq > lastSeq) return undefined;
  let e: number | undefined;
  for (const h of history) if (h.startSeq <= seq) e = h.epoch;
  return e;
}

export class HostSimWorld implements SimWorldPort {
  readonly rng: Rng;
  readonly net: SimNetwork<LinkPacket>;
  readonly nodes: HostNode[] = [];
  private readonly members = new Map<NodeId, string>();
  nowMs = 0;
  private timers: Timer[] = [];
  private timerOrder = 0;
  private turnEnds: Array<{ node: HostNode; incarnation: number; fn: () => void }> = [];
  private fatalError: unknown = null;
  readonly oracle = new Oracle(() => this.nowMs);
  readonly stats: SimStats = this.oracle.stats;
  private healAtMs = -1;
  readonly trace: string[] = [];
  /** Nodes ever started: a spare (beyond opts.nodes) starts when a membership change adds it. */
  private readonly started = new Set<NodeId>();
  /** A spare's bootstrap when it joins: the voters of the primary that added it (a --join node's view). */
  private readonly joinVoters = new Map<NodeId, Map<NodeId, string>>();
  private nextChangeId = 1;

  constructor(readonly opts: HostSimOptions) {
    this.rng = rng(opts.seed);
    this.net = new SimNetwork<LinkPacket>(rng(opts.seed ^ 0x5bd1e995), opts.net);
    for (let i = 1; i <= opts.nodes; i++) this.members.set(`n${i}`, `n${i}:7000`);
    const disk = rng(opts.seed ^ 0x0d15c0);
    // Half the fsyncs are as fast as the step, the others take up to DURABLE_DELAY_STEPS_MAX steps.
    const delay = (): number => (disk.next() < 0.5 ? 0 : (1 + disk.int(DURABLE_DELAY_STEPS_MAX)) * STEP_MS);
    // Addresses are where the simulated transport finds a process: a spare keeps one address (MEMBER ADDRESS only relabels).
    for (let i = 1; i <= opts.nodes + opts.spares; i++) this.nodes.push(new HostNode(`n${i}`, `n${i}:7000`, () => new Sequencer(() => this.nowMs, delay)));
  }

  // ------------------------------------------------------------------ SimWorldPort

  after(owner: SimProcess | null, ms: number, fn: () => void): () => void {
    const node = owner as HostNode | null;
    const t: Timer = { atMs: this.nowMs + ms, order: this.timerOrder++, owner: node, incarnation: node?.incarnation ?? 0, fn, cancelled: false };
    this.timers.push(t);
    return () => {
      t.cancelled = true;
    };
  }

  processAt(address: string): SimProcess | undefined {
    // A member moved by MEMBER ADDRESS is reachable at its new name too (the same process).
    const n = this.nodes.find((x) => x.address === address || `${x.id}-moved:7000` === address);
    return n?.alive === true ? n : undefined;
  }

  delayMs(): number {
    const c = this.net.config;
    return c.delayMinMs + this.rng.int(c.delayMaxMs - c.delayMinMs + 1);
  }

  // ------------------------------------------------------------------ nodes

  private runtime(n: HostNode): HostRuntime {
    const incarnation = n.incarnation;
    const nodeRng = rng((this.opts.seed * 31 + n.id.charCodeAt(1) * 7 + incarnation) >>> 0);
    return {
      nowMs: () => this.nowMs,
      every: (ms, fn) => {
        let cancel = (): void => {};
        const arm = (): void => {
          cancel = this.after(n, ms, () => {
            arm();
            fn();
          });
        };
        arm();
        return () => cancel();
      },
      afterTurn: (fn) => void this.turnEnds.push({ node: n, incarnation, fn }),
      random: nodeRng.next,
      transport: simTransport(this, n),
      fatal: (e) => {
        this.fatalError ??= e;
      },
    };
  }

  private observer(n: HostNode): HostObserver {
    return {
      onApplied: () => {},
      onReplicaProgress: () => {},
      onTick: () => {},
      onEffect: (e) => this.onEffect(n, e),
      onClusterResult: (e) => this.onClusterResult(n, e),
    };
  }

  /** Open the node's store from its directory and start a host on it (the first start, or a restart). */
  private async startNode(n: HostNode): Promise<void> {
    n.incarnation++;
    n.freshSequencer();
    n.real = await openStore({ dir: n.dir, fsync: 'always', compactMinBytes: 0, onWarning: (m) => this.trace.push(`${this.nowMs} ${n.id} store: ${m}`) });
    await this.loseUnsynced(n, n.real);
    n.seq.logReplaced(n.real.lastPosition.seq);
    n.store = sequencedStore(n.real, n.seq, { beforeLoadCommit: (p, h) => this.loadCommitting(n, p, h) });
    const log = (level: string) => (text: string): void => {
      if (level === 'error') this.fatalError ??= new Error(`${n.id} logged an error: ${text}`);
      this.log(n, `${level}: ${text}`);
    };
    n.host = new ReplicationHost({
      store: n.store,
      nodeId: n.id,
      selfAddress: n.address,
      replicaOf: null,
      primaryAuth: '',
      timing: SIM_TIMING,
      log: { info: log('info'), warn: log('warn'), error: log('error') },
      clusterMembers: this.joinVoters.get(n.id) ?? this.members,
      ...(this.joinVoters.has(n.id) ? { clusterLearners: new Map([[n.id, n.address]]) } : {}),
      runtime: this.runtime(n),
    });
    this.started.add(n.id);
    n.host.setObserver(this.observer(n));
    const started = n.host.start();
    await this.settle();
    await started;
  }

  /**
   * A machine crash: the node's process dies (its held store results are never seen, its links
   * reset) and its store is reopened later from a copy of its files as they are now, without
   * the log records it had not fsynced (truncated after reopening).
   */
  private crash(n: HostNode): void {
    n.fsyncedAtCrash = n.seq.durableMark;
    n.seq.dropAll();
    for (const l of [...n.links]) l.drop();
    n.links.clear();
    const old = n.real as ReplicatedStore;
    const from = n.dir;
    n.dir = n.newDir();
    cpSync(from, n.dir, { recursive: true, filter: (src) => !src.endsWith('/LOCK') });
    n.host = null;
    n.store = null;
    n.real = null;
    // Only to release the dead process's file handles; its directory is no longer used.
    old.close().catch(() => {});
    this.stats.crashes++;
  }

  /** Cut the reopened log after what was fsynced at the crash (meta, epochs and snapshots are durable when written). */
  private async loseUnsynced(n: HostNode, store: ReplicatedStore): Promise<void> {
    const keep = n.fsyncedAtCrash;
    n.fsyncedAtCrash = null;
    if (keep === null || store.lastPosition.seq <= keep) return;
    const r = await store.truncateAfter(keep);
    this.trace.push(`${this.nowMs} ${n.id} lost ${r.discarded} unsynced records after ${keep}`);
  }

  // ------------------------------------------------------------------ observing the hosts

  private onEffect(n: HostNode, e: Effect): void {
    switch (e.type) {
      case 'becomePrimary':
        return this.becamePrimary(n, e.epoch);
      case 'commitAdvanced':
        return this.committed(n, e.commitSeq);
      case 'truncateAfter':
        return this.truncating(n, e);
      default:
        return;
    }
  }

  private onClusterResult(n: HostNode, e: ClusterResultEffect): void {
    switch (e.type) {
      case 'readReady':
        assert.equal(n.host?.coreView.memberRole, 'voter', `${n.id} answers a quorum read while it is ${n.host?.coreView.memberRole}`);
        return this.oracle.readDone(e.readId, true);
      case 'readFailed':
        return this.oracle.readDone(e.readId, false);
      case 'quorumWriteResult':
        if (e.outcome === 'ok') assert.equal(n.host?.coreView.memberRole, 'voter', `${n.id} acknowledges a quorum write while it is ${n.host?.coreView.memberRole}`);
        return this.oracle.writeDone(n, e.writeId, e.seq, e.outcome === 'ok');
      case 'failoverResult':
        if (e.ok) this.stats.failoversOk++;
        this.trace.push(`${this.nowMs} ${n.id} failover ${e.ok ? 'ok' : 'failed'}: ${e.reason}`);
        return;
      case 'memberChangeResult':
        if (e.outcome === 'ok') {
          this.stats.memberChangesOk++;
          assert.equal(this.oracle.committedEpoch(e.seq), n.epochAt(e.seq), `${n.id} acknowledged configuration ${e.seq} before it was committed`);
        }
        this.trace.push(`${this.nowMs} ${n.id} membership change ${e.requestId}: ${e.outcome} ${e.reason}`);
        return;
      default: {
        const never: never = e;
        throw new Error(`unexpected cluster result ${JSON.stringify(never)}`);
      }
    }
  }

  private becamePrimary(n: HostNode, epoch: number): void {
    this.trace.push(`${this.nowMs} ${n.id} primary of epoch ${epoch} at ${n.last.epoch}:${n.last.seq}`);
    this.oracle.becamePrimary(n, epoch);
  }

  private committed(n: HostNode, commitSeq: number): void {
    this.oracle.committed(n, n.host?.coreView.currentEpoch ?? 0, commitSeq);
  }

  private truncating(n: HostNode, e: Extract<Effect, { type: 'truncateAfter' }>): void {
    for (let s = e.seq + 1; s <= n.last.seq; s++) this.oracle.checkDiscardable(n, n.epochAt(s), s, 'discards');
    this.stats.discarded += e.discarded;
    this.trace.push(`${this.nowMs} ${n.id} discards ${e.discarded} after ${e.seq}`);
  }

  /** A full resync replaces the log: every entry it does not keep must be uncommitted. */
  private loadCommitting(n: HostNode, position: Position, history: readonly EpochStart[]): void {
    this.stats.fullResyncs++;
    if (position.seq === 0) return; // a wipe after a refused truncation: the core checked the fork (truncating)
    for (let s = 1; s <= n.last.seq; s++) {
      const mine = n.epochAt(s);
      if (epochIn(history, s, position.seq) === mine) continue;
      this.oracle.checkDiscardable(n, mine, s, 'full resync drops');
      this.stats.discarded++;
    }
  }

  private log(n: HostNode, text: string): void {
    this.trace.push(`${this.nowMs} ${n.id} ${text}`);
    if (this.trace.length > 400) this.trace.splice(0, 200);
  }

  // ------------------------------------------------------------------ checks

  checkStep(): void {
    let newest: HostNode | null = null;
    for (const n of this.nodes) {
      const core = n.host?.coreView;
      if (core === undefined) continue;
      this.oracle.checkNode(n, core);
      if (core.memberRole !== 'voter' && n.host?.acceptsWrites() === true) assert.fail(`${n.id} takes writes while it is ${core.memberRole}`);
      if (core.currentRole === 'primary' && (newest === null || core.currentEpoch > (newest.host?.coreView.currentEpoch ?? 0))) newest = n;
    }
    const core = newest?.host?.coreView;
    if (newest === null || core === undefined || newest.store === null) return;
    // The committed configuration: the newest primary holds every committed entry (leader completeness).
    let committed: ConfigAt = { seq: 0, config: bootstrapConfig({ mode: 'cluster', members: this.members }) };
    for (const c of newest.store.memberConfigs) if (c.seq <= this.oracle.committedUpTo) committed = c;
    this.oracle.checkCountingConfig(newest.id, core.configInForce, committed);
  }

  // ------------------------------------------------------------------ scheduler

  /** Run the due timers and network packets in time order, then the turn ends they queued. */
  private runDue(): void {
    let ran = 0;
    for (;;) {
      const due = this.nextDue();
      if (due === null) break;
      assert(++ran < CALLBACKS_PER_STEP_MAX, 'timers keep firing within one step');
      due();
    }
    this.runTurnEnds();
  }

  private nextDue(): (() => void) | null {
    let best: Timer | null = null;
    for (const t of this.timers) if (t.atMs <= this.nowMs && (best === null || t.atMs < best.atMs || (t.atMs === best.atMs && t.order < best.order))) best = t;
    if (best === null) return null;
    const t = best;
    this.timers.splice(this.timers.indexOf(t), 1);
    if (t.cancelled || (t.owner !== null && (t.owner.incarnation !== t.incarnation || !t.owner.alive))) return () => {};
    return t.fn;
  }

  private deliverPackets(): void {
    for (const m of this.net.takeDue(this.nowMs)) m.payload.end.deliver(m.payload);
    this.runTurnEnds();
  }

  private runTurnEnds(): void {
    for (let i = 0; this.turnEnds.length > 0; i++) {
      assert(i < CALLBACKS_PER_STEP_MAX, 'turn ends keep queueing turn ends');
      const t = this.turnEnds.shift() as { node: HostNode; incarnation: number; fn: () => void };
      if (t.node.incarnation === t.incarnation && t.node.alive) t.fn();
    }
  }

  /** Release held store results, oldest first per node in node order, until no host has work pending. */
  private async settle(): Promise<void> {
    for (let round = 0; ; round++) {
      assert(round < SETTLE_ROUNDS_MAX, 'the hosts never settle');
      // A macrotask: every continuation queued so far has run up to its next held operation.
      await new Promise<void>((r) => setImmediate(r));
      this.throwIfFatal();
      if (this.turnEnds.length > 0) {
        this.runTurnEnds();
        continue;
      }
      // Everything held now, released together in node order once finished: the continuations
      // then run in that order (microtasks), whatever order the disk finished them in.
      const held = this.nodes.filter((x) => x.seq.due > 0).map((x) => x.seq.takeDue());
      if (held.length === 0) return;
      const releases = await Promise.all(held);
      for (const release of releases) release();
    }
  }

  private throwIfFatal(): void {
    if (this.fatalError !== null) throw this.fatalError;
  }

  private live(): HostNode[] {
    return this.nodes.filter((n) => n.alive);
  }

  private primaries(): HostNode[] {
    return this.live().filter((n) => n.host?.coreView.currentRole === 'primary' && n.host.acceptsWrites());
  }

  async start(): Promise<void> {
    for (const n of this.nodes) if (this.members.has(n.id)) await this.startNode(n);
  }

  async step(faults: boolean, ops: boolean): Promise<void> {
    this.nowMs += STEP_MS;
    for (const n of this.nodes) {
      if (n.alive || n.restartAtMs < 0 || this.nowMs < n.restartAtMs) continue;
      n.restartAtMs = -1;
      await this.startNode(n);
      this.trace.push(`${this.nowMs} ${n.id} restarted at ${n.last.epoch}:${n.last.seq}`);
    }
    this.deliverPackets();
    this.runDue();
    if (ops && this.rng.next() < this.opts.opRate) this.clientOp();
    if (faults) this.injectFaults();
    await this.settle();
    for (const n of this.nodes) {
      if (!n.crashAfterSettle) continue;
      n.crashAfterSettle = false;
      if (n.alive) this.crash(n);
    }
    this.checkStep();
  }

  private injectFaults(): void {
    const r = this.rng;
    if (r.next() < this.opts.crashRate) this.crashOne();
    if (this.healAtMs >= 0 && this.nowMs >= this.healAtMs) {
      this.net.heal();
      this.healAtMs = -1;
      this.trace.push(`${this.nowMs} network healed`);
    } else if (this.healAtMs < 0 && r.next() < this.opts.partitionRate) {
      this.partition();
    }
    if (r.next() < this.opts.resetRate) {
      const links = this.live().flatMap((n) => [...n.links]);
      if (links.length > 0) r.pick(links).reset('connection reset (fault)');
    }
    // No draw when membership changes are off: those schedules stay what they were.
    if (this.opts.memberChangeRate > 0 && r.next() < this.opts.memberChangeRate) this.changeMembers();
    const prim = this.primaries()[0];
    if (prim !== undefined && r.next() < this.opts.failoverRate) {
      this.stats.failovers++;
      const others = this.nodes.filter((n) => n.id !== prim.id);
      prim.host?.failover(r.next() < 0.5 ? null : r.pick(others).id);
    }
  }

  /** The primary is asked for one membership change; an added spare that never ran starts (next step) as a --join node. */
  private changeMembers(): void {
    const prim = this.primaries()[0];
    const host = prim?.host;
    if (prim === undefined || host === null || host === undefined) return;
    const config = host.coreView.configInForce.config;
    const change: MemberChange = pickMemberChange(this.rng, config, this.nodes.map((n) => n.id), (id, moved) => (moved ? `${id}-moved:7000` : `${id}:7000`));
    const n = this.nodes.find((x) => x.id === change.id);
    if (change.op === 'add' && n !== undefined && !n.alive && n.restartAtMs < 0) {
      if (!this.started.has(n.id)) {
        const voters = new Map<NodeId, string>();
        for (const id of votersOf(config)) voters.set(id, config.members.get(id)?.address ?? '');
        this.joinVoters.set(n.id, voters);
      }
      n.restartAtMs = this.nowMs;
    }
    const requestId = this.nextChangeId++;
    this.stats.memberChanges++;
    this.trace.push(`${this.nowMs} ${prim.id} asked: ${change.op} ${change.id} (#${requestId})`);
    host.changeMembers(requestId, change);
  }

  private crashOne(): void {
    const r = this.rng;
    const live = this.live();
    const prim = this.primaries();
    const victim = prim.length > 0 && r.next() < 0.5 ? prim[0] : live.length > 0 ? r.pick(live) : undefined;
    if (victim === undefined) return;
    victim.restartAtMs = this.nowMs + 50 + r.int(400);
    this.trace.push(`${this.nowMs} ${victim.id} crashes at ${victim.last.epoch}:${victim.last.seq}`);
    // Mid-step (unflushed writes lost) unless a store write of a file is in flight: its effect on disk would depend on timing.
    if (victim.seq.onlyDurabilityWaits) this.crash(victim);
    else victim.crashAfterSettle = true;
  }

  private partition(): void {
    const r = this.rng;
    const ids = this.nodes.map((n) => n.id);
    const a = ids.filter(() => r.next() < 0.5);
    const b = ids.filter((id) => !a.includes(id));
    if (a.length === 0 || b.length === 0) return;
    this.net.partition(a, b);
    // A connection across the cut times out: reset it now.
    for (const n of this.live()) for (const l of [...n.links]) if (!this.net.connected(n.id, l.other.owner.id)) l.reset('partitioned');
    this.healAtMs = this.nowMs + 100 + r.int(700);
    this.stats.partitions++;
    this.trace.push(`${this.nowMs} partition ${a.join(',')} | ${b.join(',')}`);
  }

  private clientOp(): void {
    const prims = this.primaries();
    if (prims.length === 0) return;
    const node = this.rng.pick(prims);
    const host = node.host as ReplicationHost;
    const store = node.store as ReplicatedStore;
    const key = `k${this.rng.int(this.opts.keys)}`;
    const roll = this.rng.next();
    if (roll < 0.4) {
      // The server reads the keyspace at request time and answers on readReady.
      host.quorumRead(this.oracle.readStarted(key, store.get(key)?.toString('latin1') ?? null));
      return;
    }
    const { value, idx } = this.oracle.putStarted(key);
    const ops = [{ t: 'set' as const, key, value: Buffer.from(value, 'latin1'), expireAtMs: 0 }];
    const pos = store.apply(ops);
    host.onLocalWrite(pos, ops);
    if (roll < 0.8) {
      host.quorumWrite(this.oracle.quorumWrite(idx), pos.seq);
    } else {
      this.stats.asyncWrites++;
    }
  }

  /** Run the schedule, then a quiet period; returns the linearizability verdict. */
  async run(): Promise<CheckResult> {
    await this.start();
    for (let i = 0; i < this.opts.steps; i++) await this.step(true, true);
    this.net.heal();
    this.net.config = { ...this.net.config, dropRate: 0, duplicateRate: 0 };
    for (const n of this.nodes) if (!n.alive && this.started.has(n.id)) n.restartAtMs = this.nowMs;
    for (let i = 0; i < this.opts.quietSteps; i++) await this.step(false, false);
    this.checkConverged();
    return this.oracle.linearizable();
  }

  /** After faults heal and writes stop: one primary, and every node holds its log and its values. */
  checkConverged(): void {
    const prims = this.live().filter((n) => n.host?.coreView.currentRole === 'primary');
    assert.equal(prims.length, 1, `expected one primary after the quiet period, got ${prims.map((p) => p.id).join(',') || 'none'}`);
    const ref = prims[0] as HostNode;
    // Every member of the configuration in force holds the log; a removed node knows it was removed.
    const members = ref.host?.coreView.configInForce.config.members ?? new Map<NodeId, unknown>();
    const inConfig = this.nodes.filter((n) => members.has(n.id));
    for (const n of this.live()) if (!members.has(n.id) && n.host?.coreView.memberRole !== 'removed') assert.fail(`${n.id} was removed but still believes it is a ${n.host?.coreView.memberRole}`);
    this.oracle.checkConverged(ref, inConfig);
    for (const n of inConfig) {
      assert.deepEqual(n.last, ref.last, `${n.id} did not converge to the primary's position`);
      for (let k = 0; k < this.opts.keys; k++) assert.deepEqual(n.store?.get(`k${k}`), ref.store?.get(`k${k}`), `${n.id} holds another value of k${k}`);
    }
  }

  /** Stop every host, close every store, remove every directory (also after a failure). */
  async dispose(): Promise<void> {
    this.fatalError = null;
    for (const n of this.nodes) void n.host?.stop();
    await this.settle().catch(() => {});
    for (const n of this.nodes) {
      n.seq.dropAll();
      await n.real?.close().catch(() => {});
      for (const d of n.dirs) rmSync(d, { recursive: true, force: true });
    }
  }
}

/** Runs one seed; on failure the error names the seed and the exact replay command. */
export async function runHostSeed(seed: number, overrides: Partial<Omit<HostSimOptions, 'seed'>> = {}): Promise<{ stats: SimStats; result: CheckResult; trace: readonly string[] }> {
  const world = new HostSimWorld({ ...DEFAULT_HOST_SIM, ...overrides, seed });
  try {
    const result = await world.run();
    if (result.ok === false) throw new Error(`not linearizable on ${result.key}: ${result.reason}`);
    return { stats: world.stats, result, trace: world.trace };
  } catch (err) {
    const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
    const trace = world.trace.slice(-40).join('\n  ');
    throw new Error(
      `host simulation failed for seed ${seed} at t=${world.nowMs}ms: ${msg}\n` +
        `  replay: npx tsc -p tsconfig.json && KV_SEED=${seed} node --test dist/test/replication-sim-host.test.js\n  last events:\n  ${trace}`,
    );
  } finally {
    await world.dispose();
  }
}
