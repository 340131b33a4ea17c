// Unit tests of the replication core driven directly: pure history helpers, backlog bounds,
// quorum arithmetic, handshake decisions, divergence repair, epoch rules, elections, commit,
// ReadIndex, staleness bounds and leadership transfer. No I/O, no timers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backlog, type ChunkMemory } from '../src/replication/core/backlog.js';
import { ReplicationCore } from '../src/replication/core/core.js';
import { checkSessionToken, epochAt, forkPoint, historyWithEntry, isLogUpToDate } from '../src/replication/core/history.js';
import { majorityMatch, majorityOf } from '../src/replication/core/quorum.js';
import { DEFAULT_TIMING, type CoreConfig, type Effect, type Message, type NodeId, type Timing } from '../src/replication/core/types.js';
import { decodeRecords, encodeRecord, recordBytes } from '../src/storage/record.js';
import type { EpochStart, LogEntry, Op } from '../src/storage/types.js';
import { rng } from './helpers/rng.js';

const H = (...pairs: [number, number][]): EpochStart[] => pairs.map(([epoch, startSeq]) => ({ epoch, startSeq }));

// ------------------------------------------------------------------ pure helpers

test('epochAt finds the epoch that wrote a seq, skipping empty epochs', () => {
  const h = H([1, 1], [2, 5], [3, 9], [4, 9]); // epoch 3 began at 9 and wrote nothing
  assert.equal(epochAt(h, 0), 0);
  assert.equal(epochAt(h, 1), 1);
  assert.equal(epochAt(h, 4), 1);
  assert.equal(epochAt(h, 5), 2);
  assert.equal(epochAt(h, 9), 4);
  assert.equal(epochAt(h, 100), 4);
  assert.equal(epochAt([], 3), 0);
});

test('forkPoint: prefix, divergence, disjoint and empty logs', () => {
  // Same history, different lengths: the shorter log's end.
  assert.equal(forkPoint(H([1, 1], [2, 5]), 7, H([1, 1], [2, 5]), 12), 7);
  // Old primary wrote 5..8 in epoch 1, the new primary started epoch 2 at 5.
  assert.equal(forkPoint(H([1, 1]), 8, H([1, 1], [2, 5]), 10), 4);
  // Several epochs on each side diverging at the second.
  assert.equal(forkPoint(H([1, 1], [2, 4], [3, 6]), 9, H([1, 1], [2, 4], [5, 7]), 9), 5); // epoch 2 holds 4..5 on A, 4..6 on B
  assert.equal(forkPoint(H([1, 1], [3, 4]), 9, H([1, 1], [2, 4]), 9), 3);
  assert.equal(forkPoint(H([2, 1]), 5, H([1, 1]), 5), 0);
  assert.equal(forkPoint([], 0, H([1, 1]), 5), 0);
  // Symmetric.
  assert.equal(forkPoint(H([1, 1], [2, 5]), 10, H([1, 1]), 8), 4);
});

test('forkPoint agrees with a brute-force scan on random histories', () => {
  const r = rng(7);
  for (let trial = 0; trial < 500; trial++) {
    // A common prefix, then each side continues with its own epochs (distinct epoch numbers per side).
    const common: number[] = [];
    let e = 1;
    for (let i = 0, n = r.int(20); i < n; i++) {
      if (r.next() < 0.2) e++;
      common.push(e);
    }
    const side = (first: number, step: number): number[] => {
      const log = [...common];
      let ep = first;
      for (let i = 0, n = r.int(15); i < n; i++) {
        if (r.next() < 0.3) ep += step;
        log.push(ep);
      }
      return log;
    };
    const a = side(e + 1, 2);
    const b = side(e + 2, 2);
    const hist = (log: number[]): EpochStart[] => {
      const h: EpochStart[] = [];
      log.forEach((ep, i) => {
        if (h.length === 0 || (h[h.length - 1] as EpochStart).epoch !== ep) h.push({ epoch: ep, startSeq: i + 1 });
      });
      return h;
    };
    let brute = 0;
    for (let s = 1; s <= Math.min(a.length, b.length) && a[s - 1] === b[s - 1]; s++) brute = s;
    assert.equal(forkPoint(hist(a), a.length, hist(b), b.length), brute, `trial ${trial}`);
  }
});

test('checkSessionToken: ok, wait and lost', () => {
  const h = H([1, 1], [3, 6]);
  assert.equal(checkSessionToken(h, 8, { epoch: 0, seq: 0 }), 'ok');
  assert.equal(checkSessionToken(h, 8, { epoch: 1, seq: 5 }), 'ok');
  assert.equal(checkSessionToken(h, 8, { epoch: 3, seq: 8 }), 'ok');
  assert.equal(checkSessionToken(h, 8, { epoch: 3, seq: 9 }), 'wait'); // not replicated here yet
  assert.equal(checkSessionToken(h, 8, { epoch: 2, seq: 6 }), 'lost'); // epoch 3 owns seq 6 here
  assert.equal(checkSessionToken(h, 8, { epoch: 2, seq: 12 }), 'lost'); // epoch 3 began at 6 without epoch 2's writes
  assert.equal(checkSessionToken(H([1, 1]), 4, { epoch: 1, seq: 9 }), 'wait');
});

test('isLogUpToDate compares the last epoch, then the seq', () => {
  assert.equal(isLogUpToDate({ epoch: 3, seq: 5 }, { epoch: 2, seq: 50 }), true);
  assert.equal(isLogUpToDate({ epoch: 2, seq: 50 }, { epoch: 3, seq: 5 }), false);
  assert.equal(isLogUpToDate({ epoch: 3, seq: 5 }, { epoch: 3, seq: 5 }), true);
  assert.equal(isLogUpToDate({ epoch: 3, seq: 4 }, { epoch: 3, seq: 5 }), false);
});

test('majority counts configured members, not connected ones', () => {
  assert.equal(majorityOf(1), 1);
  assert.equal(majorityOf(3), 2);
  assert.equal(majorityOf(4), 3);
  assert.equal(majorityOf(5), 3);
  assert.equal(majorityMatch([10, 0, 0], 3), 0); // two replicas silent: nothing is committed
  assert.equal(majorityMatch([10, 7, 0], 3), 7);
  assert.equal(majorityMatch([10, 7, 9, 0, 0], 5), 7);
});

// ------------------------------------------------------------------ backlog

/** The entries of the range rangeEnd picks from `seq`, decoded from recordsOf's bytes (what a replica receives). */
function entriesFrom(b: Backlog, seq: number, bytesMax: number): LogEntry[] | undefined {
  const end = b.rangeEnd(seq, bytesMax);
  if (end === undefined) return undefined;
  const d = decodeRecords(b.recordsOf(seq, end));
  assert.ok(d.ok);
  return d.entries;
}
const entry = (epoch: number, seq: number, size = 10): LogEntry => ({ epoch, seq, ops: [{ t: 'set', key: 'k', value: Buffer.alloc(size, seq % 256), expireAtMs: 0 }] });
/** Value size that makes entry()'s record exactly 100 bytes (the backlog counts encoded bytes). */
const VALUE_FOR_100 = 100 - recordBytes(entry(1, 1, 0).ops);

test('backlog stays within its byte budget and reports what fell out', () => {
  const b = new Backlog(1000, 0);
  for (let s = 1; s <= 200; s++) {
    b.append(entry(1, s, VALUE_FOR_100), s);
    assert(b.bytes <= 1000, `bytes ${b.bytes} at ${s}`);
  }
  assert.equal(b.length, 10);
  assert.equal(b.firstSeq, 191);
  assert.equal(entriesFrom(b, 190, 10_000), undefined);
  assert.deepEqual(entriesFrom(b, 191, 250), [entry(1, 191, VALUE_FOR_100), entry(1, 192, VALUE_FOR_100)]);
  assert.deepEqual(entriesFrom(b, 201, 250), []);
  assert.equal(entriesFrom(b, 202, 250), undefined);
  assert.equal(b.appendedMs(195), 195);
  b.truncateAfter(195);
  assert.equal(b.lastSeq, 195);
  assert.equal(b.bytes, 500);
  assert.throws(() => b.append(entry(1, 197), 0), /out of order/);
  // After a truncation the seqs are reused: reads return the new entries, not the dropped ones.
  b.append({ epoch: 2, seq: 196, ops: [{ t: 'del', key: 'x' }] }, 196);
  assert.deepEqual(entriesFrom(b, 196, 10_000), [{ epoch: 2, seq: 196, ops: [{ t: 'del', key: 'x' }] }]);
});

/**
 * A ChunkMemory with no quarantine at all: a given chunk is scribbled over and handed out again
 * at once. Safe only if the backlog gives back exactly the chunks no entry of its window is in.
 */
class ScribblingMemory implements ChunkMemory {
  readonly idle: Buffer[] = [];
  given = 0;
  reused = 0;
  take(bytes: number): Buffer {
    const c = this.idle.pop();
    if (c === undefined) return Buffer.allocUnsafe(bytes);
    assert.equal(c.length, bytes, 'a backlog takes chunks of one size');
    this.reused++;
    return c;
  }
  give(chunk: Buffer): void {
    this.given++;
    chunk.fill(0xee);
    this.idle.push(chunk);
  }
}

test('backlog: an entry given with its encoded record keeps those bytes; a record of another entry is refused', () => {
  const b = new Backlog(64 * 1024, 0);
  const e1 = entry(1, 1, 30);
  b.append(e1, 0, encodeRecord(1, 1, e1.ops));
  assert.deepEqual(b.recordsOf(1, 1), encodeRecord(1, 1, e1.ops));
  const e2 = entry(1, 2, 30);
  assert.throws(() => b.append(e2, 0, encodeRecord(1, 3, e2.ops)), /is not entry 2/);
  assert.throws(() => b.append(e2, 0, encodeRecord(1, 2, e2.ops).subarray(0, 20)), /is not entry 2/);
  assert.equal(b.lastSeq, 1, 'a refused record leaves the window as it was');
});

test('backlog: entries of every op kind and size come back as appended (one by one or as runs of record bytes), across chunks, evictions, truncations and resets', () => {
  const r = rng(5);
  // Chunks given back are overwritten and reused at once, so a chunk given back too early shows up as corrupt reads.
  const memory = new ScribblingMemory();
  const b = new Backlog(64 * 1024, 0, memory); // 4 KiB chunks: many entries cross into new chunks, some exceed one
  const model: LogEntry[] = [];
  let last = 0;
  const makeOps = (): Op[] => {
    const ops: Op[] = [];
    for (let k = r.int(3); k >= 0; k--) {
      const kind = r.int(4);
      const key = `key:${r.int(1000)}`;
      if (kind === 0) ops.push({ t: 'set', key, value: Buffer.alloc(r.int(10) === 0 ? 6000 + r.int(3000) : r.int(300), r.int(256)), expireAtMs: r.int(2) * 1_700_000_000_000 });
      else if (kind === 1) ops.push({ t: 'del', key });
      else if (kind === 2) ops.push({ t: 'expire', key, expireAtMs: r.int(2) * 1_700_000_000_123 });
      else ops.push({ t: 'flushall' });
    }
    return ops;
  };
  for (let step = 0; step < 4000; step++) {
    const c = r.int(100);
    if (c === 0 && last > 0) {
      const to = Math.max(0, last - r.int(30));
      b.truncateAfter(to);
      model.length = Math.max(0, model.length - (last - to));
      last = to;
    } else if (c === 1) {
      b.reset(last);
      model.length = 0;
    } else if (c < 10) {
      // A run of records as a replica receives them: one buffer, copied in pieces that fit chunks.
      const run: LogEntry[] = [];
      for (let k = 1 + r.int(40); k > 0; k--) {
        last++;
        run.push({ epoch: 1 + Math.floor(step / 1000), seq: last, ops: makeOps() });
      }
      const bytes = Buffer.concat(run.map((e) => encodeRecord(e.epoch, e.seq, e.ops)));
      const pad = r.int(3) * 7; // the run need not start at the buffer's start
      const framed = Buffer.concat([Buffer.alloc(pad, 0xaa), bytes]);
      b.appendRecords((run[0] as LogEntry).seq, framed, pad, framed.length, step);
      model.push(...run);
    } else {
      last++;
      const e = { epoch: 1 + Math.floor(step / 1000), seq: last, ops: makeOps() };
      b.append(e, step);
      model.push(e);
    }
    const held = model.slice(model.length - b.length);
    assert.equal(b.firstSeq, last - b.length + 1);
    assert(b.bytes <= 64 * 1024 || b.length === 1, `over budget at step ${step}`);
    if (held.length > 0 && r.int(10) === 0) {
      const from = held[r.int(held.length)] as LogEntry;
      const got = entriesFrom(b, from.seq, Number.MAX_SAFE_INTEGER);
      assert.deepEqual(got, held.slice(held.indexOf(from)), `step ${step}`);
    }
  }
  assert.ok(memory.given > 100 && memory.reused > 100, `chunks given ${memory.given}, reused ${memory.reused}`);
  assert.ok(memory.idle.every((c) => c.length === 4096), 'only regular chunks come back (an oversized entry\'s own chunk does not)');
});

// ------------------------------------------------------------------ a tiny deterministic harness

const TIMING: Timing = { ...DEFAULT_TIMING, heartbeatIntervalMs: 10, electionTimeoutMinMs: 100, electionTimeoutMaxMs: 200, replicaMaxLagMs: 50, replicaMaxLagOps: 5 };

interface Node {
  core: ReplicationCore;
  log: LogEntry[];
  effects: Effect[];
}

/** Delivers messages instantly (or not, for cut nodes) and appends no-ops; effects are kept for assertions. */
class Harness {
  now = 0;
  readonly nodes = new Map<NodeId, Node>();
  readonly cut = new Set<NodeId>();
  /** Nodes whose log flush() does not make durable (their disk is slow or failing). */
  readonly unsynced = new Set<NodeId>();
  private queue: { from: NodeId; to: NodeId; msg: Message }[] = [];

  constructor(ids: readonly NodeId[], mode: 'cluster' | 'manual', seed = 1) {
    const members = new Map(ids.map((id) => [id, `${id}:1`] as const));
    const r = rng(seed);
    ids.forEach((id, i) => {
      const cfg: CoreConfig = {
        nodeId: id,
        selfAddress: `${id}:1`,
        topology: mode === 'cluster' ? { mode, members } : { mode, initialRole: i === 0 ? { role: 'primary' } : { role: 'replica', primaryAddress: `${ids[0]}:1` } },
        timing: TIMING,
        random: r.next,
      };
      const core = new ReplicationCore(cfg, { currentEpoch: 0, votedFor: null, epochHistory: [], lastPosition: { epoch: 0, seq: 0 }, durableSeq: 0 }, 0);
      this.nodes.set(id, { core, log: [], effects: [] });
    });
    for (const id of ids) this.step(id, { type: 'start' });
  }

  node(id: NodeId): Node {
    return this.nodes.get(id) as Node;
  }

  step(id: NodeId, ev: Parameters<ReplicationCore['step']>[0]): readonly Effect[] {
    const n = this.node(id);
    const effects = n.core.step(ev, this.now);
    n.effects.push(...effects);
    for (const e of effects) {
      if (e.type === 'send') this.queue.push({ from: id, to: e.to, msg: e.msg });
      if (e.type === 'appendEntries') n.log.push(...e.entries);
      if (e.type === 'truncateAfter') n.log.length = e.seq;
      if (e.type === 'becomePrimary') this.write(id, []);
      if (e.type === 'flushSoon') this.step(id, { type: 'flush' }); // the host's end of turn, at once
    }
    return effects;
  }

  /** A local write; `durable: false` leaves it unsynced (a log failure may still take it back). */
  write(id: NodeId, ops: LogEntry['ops'], durable = true): LogEntry {
    const n = this.node(id);
    const e: LogEntry = { epoch: n.core.currentEpoch, seq: n.log.length + 1, ops };
    n.log.push(e);
    this.step(id, { type: 'localWrite', entry: e });
    if (durable) this.step(id, { type: 'durable', seq: e.seq });
    return e;
  }

  /** `id`'s log fails and keeps only `keep` entries (the store's rollback), then the core hears of it. */
  logFails(id: NodeId, keep: number): readonly Effect[] {
    this.node(id).log.length = keep;
    return this.step(id, { type: 'logFailed', keptSeq: keep });
  }

  /** Deliver until quiet (bounded); replicas report durability at once. */
  flush(): void {
    for (let i = 0; i < 10_000 && this.queue.length > 0; i++) {
      const m = this.queue.shift() as { from: NodeId; to: NodeId; msg: Message };
      if (this.cut.has(m.from) || this.cut.has(m.to)) continue;
      this.step(m.to, { type: 'message', from: m.from, msg: m.msg });
      const n = this.node(m.to);
      if (n.core.lastPosition.seq > 0 && !this.unsynced.has(m.to)) this.step(m.to, { type: 'durable', seq: n.core.lastPosition.seq });
    }
  }

  /** Stream a snapshot of `p` to `r` (what the host does after startFullResync / expectFullResync). */
  fullResync(p: NodeId, r: NodeId): void {
    const pos = this.node(p).core.lastPosition;
    this.node(r).log = [...this.node(p).log];
    this.step(r, { type: 'snapshotLoaded', peer: p, position: pos, epochHistory: this.node(p).core.epochHistory, configs: [] });
    this.step(p, { type: 'fullResyncSent', peer: r, from: pos });
    this.flush();
  }

  /** Link replica `r` to primary `p` (manual mode) and complete the handshake, full resync included. */
  attach(p: NodeId, r: NodeId): void {
    const fullBefore = effectsOf(this.node(p).effects, 'startFullResync').length;
    this.step(r, { type: 'linkUp', peer: p, address: `${p}:1`, outbound: true });
    this.step(p, { type: 'linkUp', peer: r, address: `${r}:1`, outbound: false });
    this.flush();
    if (effectsOf(this.node(p).effects, 'startFullResync').length > fullBefore) this.fullResync(p, r);
  }

  advance(ms: number, stepMs = 5): void {
    for (let t = 0; t < ms; t += stepMs) {
      this.now += stepMs;
      for (const id of this.nodes.keys()) if (!this.cut.has(id)) this.step(id, { type: 'tick' });
      this.flush();
    }
  }

  primary(): NodeId | undefined {
    return [...this.nodes].find(([id, n]) => !this.cut.has(id) && n.core.currentRole === 'primary')?.[0];
  }
}

const set = (key: string, v: string): LogEntry['ops'] => [{ t: 'set', key, value: Buffer.from(v), expireAtMs: 0 }];
const effectsOf = <T extends Effect['type']>(effects: readonly Effect[], type: T): Extract<Effect, { type: T }>[] =>
  effects.filter((e): e is Extract<Effect, { type: T }> => e.type === type);

// ------------------------------------------------------------------ manual mode

test('manual: local writes reach replicas per flush: one flushSoon per batch, then one append per replica with all of them', () => {
  const h = new Harness(['p', 'r1', 'r2'], 'manual');
  h.attach('p', 'r1');
  h.attach('p', 'r2');
  const p = h.node('p');
  const first = p.core.lastPosition.seq + 1;
  // Stepped by hand: the harness would answer flushSoon with a flush at once.
  const fx: Effect[] = [];
  for (let i = 0; i < 5; i++) {
    const e: LogEntry = { epoch: p.core.currentEpoch, seq: first + i, ops: set(`k${i}`, `v${i}`) };
    p.log.push(e);
    fx.push(...p.core.step({ type: 'localWrite', entry: e }, h.now));
  }
  assert.deepEqual(fx.map((e) => e.type), ['flushSoon'], 'nothing is sent before the flush');
  const sent = effectsOf(p.core.step({ type: 'flush' }, h.now), 'send');
  assert.deepEqual(sent.map((e) => `${e.to}:${e.msg.type}`).sort(), ['r1:append', 'r2:append']);
  for (const e of sent) {
    assert.ok(e.msg.type === 'append');
    assert.deepEqual(e.msg.entries.map((x) => x.seq), [0, 1, 2, 3, 4].map((i) => first + i));
  }
  assert.deepEqual(effectsOf(p.core.step({ type: 'flush' }, h.now), 'send'), [], 'a second flush has nothing to send');
  // The next write asks for a flush again.
  const e: LogEntry = { epoch: p.core.currentEpoch, seq: first + 5, ops: set('k5', 'v5') };
  p.log.push(e);
  assert.deepEqual(p.core.step({ type: 'localWrite', entry: e }, h.now).map((x) => x.type), ['flushSoon']);
  // A primary with no replica streaming asks for nothing.
  const solo = new Harness(['s'], 'manual').node('s');
  const w: LogEntry = { epoch: solo.core.currentEpoch, seq: solo.core.lastPosition.seq + 1, ops: set('k', 'v') };
  assert.deepEqual(solo.core.step({ type: 'localWrite', entry: w }, 0), []);
});

test('manual: a replica handshakes, catches up by partial resync, and acks', () => {
  const h = new Harness(['p', 'r'], 'manual');
  assert.equal(h.node('p').core.currentRole, 'primary');
  assert.equal(h.node('p').core.currentEpoch, 1);
  h.attach('p', 'r');
  // Disconnected, the replica misses 5 writes; back, it gets exactly those from the backlog.
  h.cut.add('r');
  for (let i = 0; i < 5; i++) h.write('p', set('k', `v${i}`));
  h.cut.clear();
  h.attach('p', 'r');
  assert.deepEqual(h.node('r').log, h.node('p').log);
  const logs = effectsOf(h.node('p').effects, 'log').map((l) => l.text);
  assert(logs.some((t) => /^replica r last saw 1:1, we are at 1:6 \(5 behind\) → partial/.test(t)), logs.join('\n'));
  const st = h.node('p').core.status(h.now);
  assert.equal(st.peers[0]?.matchSeq, 6);
  assert.equal(st.partialResyncs, 1);
  // Quorum consistency is refused clearly in manual mode.
  assert.equal(h.node('p').core.quorumUnavailable(), 'quorum needs cluster mode (--cluster)');
  const fx = h.step('p', { type: 'quorumRead', readId: 1 });
  assert.deepEqual(effectsOf(fx, 'readFailed')[0]?.failure.reason, 'manualMode');
});

test('manual: a primary started on an empty log keeps no backlog until a replica contacts it; a restarted one keeps it from the start', () => {
  const h = new Harness(['p', 'r'], 'manual');
  for (let i = 0; i < 3; i++) h.write('p', set('k', `v${i}`));
  let st = h.node('p').core.status(h.now);
  assert.equal(st.backlogBytes, 0);
  assert.equal(st.backlogFirstSeq, h.node('p').core.lastPosition.seq + 1, 'an empty window at the end of the log');
  // Nothing to resume from: the first sync is full (as Redis's first sync), then writes are kept.
  h.attach('p', 'r');
  assert.equal(effectsOf(h.node('p').effects, 'startFullResync').length, 1);
  h.write('p', set('k', 'kept'));
  h.flush();
  st = h.node('p').core.status(h.now);
  assert.ok(st.backlogBytes > 0);
  assert.deepEqual(h.node('r').log, h.node('p').log);

  // A primary restarted on a non-empty log keeps its writes from the start: a replica attached
  // before the restart may come back and resume.
  const cfg: CoreConfig = { nodeId: 'q', selfAddress: 'q:1', topology: { mode: 'manual', initialRole: { role: 'primary' } }, timing: TIMING, random: rng(2).next };
  const q = new ReplicationCore(cfg, { currentEpoch: 1, votedFor: null, epochHistory: H([1, 1]), lastPosition: { epoch: 1, seq: 4 }, durableSeq: 4 }, 0);
  q.step({ type: 'start' }, 0);
  q.step({ type: 'localWrite', entry: { epoch: q.currentEpoch, seq: 5, ops: set('k', 'x') } }, 1);
  assert.ok(q.status(1).backlogBytes > 0);
});

test('manual: promote, diverge, REPLICAOF → only the diverged suffix is discarded, counted and logged', () => {
  const h = new Harness(['a', 'b'], 'manual');
  h.attach('a', 'b');
  for (let i = 0; i < 4; i++) h.write('a', set('k', `a${i}`)); // a: no-op + 4 = 1:5
  h.flush();
  h.cut.add('b');
  h.write('a', set('k', 'lost1'));
  h.write('a', set('k', 'lost2')); // a: 1:7
  h.step('b', { type: 'promote' }); // b: epoch 2, no-op at 6
  assert.equal(h.node('b').core.currentEpoch, 2);
  h.write('b', set('k', 'b1')); // b: 2:7
  h.cut.clear();
  h.step('a', { type: 'replicaOf', address: 'b:1' });
  h.step('a', { type: 'linkUp', peer: 'b', address: 'b:1', outbound: true });
  h.step('b', { type: 'linkUp', peer: 'a', address: 'a:1', outbound: false });
  h.flush();
  const trunc = effectsOf(h.node('a').effects, 'truncateAfter');
  assert.equal(trunc.length, 1);
  assert.deepEqual(trunc[0], { type: 'truncateAfter', seq: 5, discarded: 2, from: { epoch: 1, seq: 6 }, to: { epoch: 1, seq: 7 } });
  assert.deepEqual(h.node('a').log, h.node('b').log);
  const st = h.node('a').core.status(h.now);
  assert.equal(st.discardedEntries, 2);
  assert.deepEqual(st.discardedRanges, [{ from: { epoch: 1, seq: 6 }, to: { epoch: 1, seq: 7 } }]);
  assert.equal(st.epoch, 2);
});

test('manual: a primary refuses a replica from a higher epoch instead of following or wiping', () => {
  const h = new Harness(['a', 'b'], 'manual');
  h.step('b', { type: 'promote' }); // b at epoch 1 too, then once more: epoch 2
  h.step('b', { type: 'replicaOf', address: 'x' });
  h.step('b', { type: 'promote' });
  h.step('b', { type: 'replicaOf', address: 'a:1' });
  h.step('b', { type: 'linkUp', peer: 'a', address: 'a:1', outbound: true });
  h.step('a', { type: 'linkUp', peer: 'b', address: 'b:1', outbound: false });
  h.flush();
  assert(effectsOf(h.node('a').effects, 'log').some((l) => l.level === 'error' && l.text.includes('above ours')));
  assert.equal(effectsOf(h.node('b').effects, 'truncateAfter').length, 0);
  assert.equal(h.node('a').core.currentRole, 'primary');
});

test('manual: a replica behind the backlog gets a full resync, then streams', () => {
  const h = new Harness(['p', 'r'], 'manual');
  for (let i = 0; i < 50_000; i++) h.write('p', set(`k${i}`, 'x'.repeat(400))); // > 16 MiB of backlog estimate
  h.step('r', { type: 'linkUp', peer: 'p', address: 'p:1', outbound: true });
  h.step('p', { type: 'linkUp', peer: 'r', address: 'r:1', outbound: false });
  h.flush();
  assert.equal(effectsOf(h.node('p').effects, 'startFullResync').length, 1);
  assert.equal(effectsOf(h.node('r').effects, 'expectFullResync').length, 1);
  assert.equal(h.node('r').core.snapshotAcceptable('p'), true);
  // The host streams a snapshot at the primary's position, then both sides report it.
  const pos = h.node('p').core.lastPosition;
  h.node('r').log = [...h.node('p').log];
  h.step('r', { type: 'snapshotLoaded', peer: 'p', position: pos, epochHistory: h.node('p').core.epochHistory, configs: [] });
  h.step('p', { type: 'fullResyncSent', peer: 'r', from: pos });
  h.write('p', set('after', '1'));
  h.flush();
  assert.deepEqual(h.node('r').core.lastPosition, h.node('p').core.lastPosition);
  assert.equal(h.node('r').log.length, h.node('p').log.length);
});

test('replica staleness: TOOSTALE after silence or lag, never from underflow, fine under steady load', () => {
  const h = new Harness(['p', 'r'], 'manual');
  h.attach('p', 'r');
  // Steady load for 10× the staleness bound: heartbeats keep flowing whatever the traffic (LINEAGE).
  for (let i = 0; i < 100; i++) {
    h.write('p', set('k', `${i}`));
    h.advance(5);
    assert.deepEqual(h.node('r').core.replicaReadCheck(h.now), { ok: true }, `at ${h.now}`);
  }
  h.cut.add('p');
  h.advance(60);
  const stale = h.node('r').core.replicaReadCheck(h.now);
  assert.equal(stale.ok, false);
  assert.equal(stale.ok === false ? stale.primaryAddress : null, 'p:1');
  h.cut.clear();
  h.advance(20);
  assert.equal(h.node('r').core.replicaReadCheck(h.now).ok, true);
  // Lag in ops: the replica hears heartbeats but misses appends.
  h.step('r', { type: 'message', from: 'p', msg: { type: 'heartbeat', epoch: 1, lastSeq: h.node('r').core.lastPosition.seq + 6, commitSeq: 0, primaryTimeMs: h.now, round: 999, replicaInSync: true } });
  assert.match(JSON.stringify(h.node('r').core.replicaReadCheck(h.now)), /6 writes behind/);
  // After a promotion our log is ahead of the last heartbeat: lag clamps at 0 instead of underflowing.
  h.step('r', { type: 'promote' });
  for (let i = 0; i < 20; i++) h.write('r', set('k', `${i}`));
  h.step('r', { type: 'replicaOf', address: 'p:1' });
  assert.equal(h.node('r').core.replicaReadCheck(h.now).ok, false); // never heard from the new primary yet
});

// ------------------------------------------------------------------ cluster mode

test('cluster: one primary is elected, commits its no-op, acknowledges a quorum write and serves a quorum read', () => {
  const h = new Harness(['n1', 'n2', 'n3'], 'cluster', 3);
  h.advance(400);
  const p = h.primary();
  assert(p !== undefined);
  assert.equal([...h.nodes.values()].filter((n) => n.core.currentRole === 'primary').length, 1);
  const pc = h.node(p).core;
  assert(pc.acceptsWrites(h.now));
  assert.equal(pc.committedSeq, 1); // the epoch's no-op
  const e = h.write(p, set('k', 'v'));
  const fx = h.step(p, { type: 'quorumWrite', writeId: 7, seq: e.seq });
  assert.equal(effectsOf(fx, 'quorumWriteResult').length, 0, 'not acknowledged before a majority holds it');
  h.flush();
  assert.deepEqual(effectsOf(h.node(p).effects, 'quorumWriteResult').at(-1), { type: 'quorumWriteResult', writeId: 7, seq: 2, outcome: 'ok', reason: '' });
  h.step(p, { type: 'quorumRead', readId: 9 });
  assert.equal(effectsOf(h.node(p).effects, 'readReady').length, 0, 'needs a fresh heartbeat round');
  h.flush();
  assert.deepEqual(effectsOf(h.node(p).effects, 'readReady').at(-1), { type: 'readReady', readId: 9, readSeq: 2 });
  // A quorum read on a replica is redirected to the primary.
  const other = ['n1', 'n2', 'n3'].find((id) => id !== p) as NodeId;
  const rf = effectsOf(h.step(other, { type: 'quorumRead', readId: 10 }), 'readFailed')[0];
  assert.deepEqual(rf?.failure, { reason: 'notPrimary', redirect: `${p}:1` });
});

test('cluster: votes are persisted before the reply, and at most once per epoch', () => {
  const h = new Harness(['n1', 'n2', 'n3'], 'cluster');
  const fx = h.step('n2', { type: 'message', from: 'n1', msg: { type: 'vote', epoch: 1, lastPos: { epoch: 0, seq: 0 }, transfer: false } });
  const kinds = fx.map((e) => e.type);
  assert(kinds.indexOf('persistMeta') < kinds.indexOf('send'), kinds.join(','));
  assert.deepEqual(effectsOf(fx, 'persistMeta').at(-1)?.meta, { currentEpoch: 1, votedFor: 'n1' });
  assert.deepEqual(effectsOf(fx, 'send')[0]?.msg, { type: 'voteReply', epoch: 1, granted: true });
  const again = h.step('n2', { type: 'message', from: 'n3', msg: { type: 'vote', epoch: 1, lastPos: { epoch: 0, seq: 0 }, transfer: false } });
  assert.deepEqual(effectsOf(again, 'send')[0]?.msg, { type: 'voteReply', epoch: 1, granted: false });
});

test('cluster: a candidate with a stale log gets no vote', () => {
  const h = new Harness(['n1', 'n2', 'n3'], 'cluster');
  h.advance(400);
  const p = h.primary() as NodeId;
  h.write(p, set('k', 'v'));
  h.flush();
  const voter = ['n1', 'n2', 'n3'].find((id) => id !== p) as NodeId;
  h.now += 1000; // the voter's lease on the primary has long expired
  const fx = h.step(voter, { type: 'message', from: p, msg: { type: 'vote', epoch: 50, lastPos: { epoch: 1, seq: 1 }, transfer: false } });
  assert.deepEqual(effectsOf(fx, 'send')[0]?.msg, { type: 'voteReply', epoch: 50, granted: false });
});

test('cluster: check-quorum fences a cut-off primary, and pre-vote keeps a rejoining node from deposing a healthy one', () => {
  const h = new Harness(['n1', 'n2', 'n3'], 'cluster', 5);
  h.advance(400);
  const old = h.primary() as NodeId;
  const oldEpoch = h.node(old).core.currentEpoch;
  h.cut.add(old);
  // The cut-off primary keeps ticking on its own clock: it must stop accepting writes.
  for (let t = 0; t < 300; t += 5) {
    h.now += 5;
    h.step(old, { type: 'tick' });
    for (const id of h.nodes.keys()) if (id !== old) h.step(id, { type: 'tick' });
    h.flush();
  }
  assert.equal(h.node(old).core.acceptsWrites(h.now), false);
  assert.notEqual(h.node(old).core.currentRole, 'primary');
  const fresh = h.primary() as NodeId;
  assert.notEqual(fresh, old);
  const epoch = h.node(fresh).core.currentEpoch;
  assert(epoch > oldEpoch);
  // The old node ran pre-votes while cut off, but never bumped its epoch; rejoining does not disturb the primary.
  assert.equal(h.node(old).core.currentEpoch, oldEpoch);
  h.cut.clear();
  h.advance(500);
  assert.equal(h.primary(), fresh);
  assert.equal(h.node(fresh).core.currentEpoch, epoch);
  assert.deepEqual(h.node(old).core.lastPosition, h.node(fresh).core.lastPosition);
});

test('cluster: FAILOVER TO hands over with zero loss; writes pause meanwhile', () => {
  const h = new Harness(['n1', 'n2', 'n3'], 'cluster', 9);
  h.advance(400);
  const p = h.primary() as NodeId;
  for (let i = 0; i < 5; i++) h.write(p, set('k', `${i}`));
  const target = ['n1', 'n2', 'n3'].find((id) => id !== p) as NodeId;
  h.step(p, { type: 'failover', target });
  assert.equal(h.node(p).core.acceptsWrites(h.now), false);
  h.flush();
  h.advance(50);
  assert.equal(h.primary(), target);
  assert.deepEqual(effectsOf(h.node(p).effects, 'failoverResult').at(-1)?.ok, true);
  for (let s = 1; s <= 6; s++) assert.equal(h.node(target).log[s - 1]?.seq, s);
  // Manual mode has no FAILOVER.
  const m = new Harness(['a', 'b'], 'manual');
  assert.equal(effectsOf(m.step('a', { type: 'failover', target: 'b' }), 'failoverResult')[0]?.ok, false);
});

test('cluster: a quorum write on a primary that loses its majority ends with outcome unknown', () => {
  const h = new Harness(['n1', 'n2', 'n3'], 'cluster', 11);
  h.advance(400);
  const p = h.primary() as NodeId;
  for (const id of h.nodes.keys()) if (id !== p) h.cut.add(id);
  const e = h.write(p, set('k', 'maybe'));
  h.step(p, { type: 'quorumWrite', writeId: 1, seq: e.seq });
  for (let t = 0; t < 300; t += 5) {
    h.now += 5;
    h.step(p, { type: 'tick' });
  }
  const r = effectsOf(h.node(p).effects, 'quorumWriteResult').at(-1);
  assert.equal(r?.outcome, 'unknown');
});

test('cluster: acks buffered during a pause do not keep a paused primary writable (contact timed from the round sent)', () => {
  const h = new Harness(['n1', 'n2', 'n3'], 'cluster', 11);
  h.advance(400);
  const p = h.primary() as NodeId;
  const core = h.node(p).core;
  assert.equal(core.acceptsWrites(h.now), true);
  const heartbeats = h.node(p).effects.flatMap((e) => (e.type === 'send' && e.msg.type === 'heartbeat' ? [e.msg.round] : []));
  const round = heartbeats.at(-1) as number;
  assert.ok(round > 0);
  // The replicas' acks of the latest round, as they would sit in socket buffers during a SIGSTOP.
  const buffered = [...h.nodes.keys()]
    .filter((id) => id !== p)
    .map((id) => ({ id, msg: { type: 'ack', epoch: core.currentEpoch, synced: true, matchSeq: core.lastPosition.seq, lastSeq: core.lastPosition.seq, round } as Message }));
  // Paused for far longer than an election timeout: no ticks, no messages.
  h.now += TIMING.electionTimeoutMaxMs * 3;
  // On resume the buffered acks are processed first: they were sent for an old round, so they do not count as contact now.
  for (const b of buffered) h.node(p).core.step({ type: 'message', from: b.id, msg: b.msg }, h.now);
  assert.equal(core.acceptsWrites(h.now), false, 'a resumed primary must not accept writes on the strength of stale acks');
});

test('history: an entry of an older epoch replaces newer epochs that hold no entry, never one that does', () => {
  // Log ends at 2:11; epoch 3 was begun (or kept by a truncation) at 12 and holds nothing.
  const h = [{ epoch: 1, startSeq: 1 }, { epoch: 2, startSeq: 5 }, { epoch: 3, startSeq: 12 }];
  assert.deepEqual(historyWithEntry(h, 2, 12), [{ epoch: 1, startSeq: 1 }, { epoch: 2, startSeq: 5 }]);
  assert.deepEqual(historyWithEntry(h, 4, 12), [...h, { epoch: 4, startSeq: 12 }]);
  assert.equal(historyWithEntry(h, 3, 12), h);
  // Epoch 3 holds 12..13: an epoch-2 entry at 14 is a bug.
  assert.throws(() => historyWithEntry(h, 2, 14), /holds entries/);
});

// ------------------------------------------------------------------ local log failures

/** Every entry any log holds at the end, by position: a position must never name two entries. */
function assertOnePositionOneEntry(h: Harness, seen: Map<string, string>): void {
  for (const [id, n] of h.nodes) {
    for (const e of n.log) {
      const key = `${e.epoch}:${e.seq}`;
      const body = JSON.stringify(e.ops);
      const prior = seen.get(key);
      assert(prior === undefined || prior === body, `${id} holds ${key} = ${body}, which named ${prior} before`);
      seen.set(key, body);
    }
  }
}

test('manual: a primary whose log failed forgets the lost entries, refuses writes, resumes in a new epoch; a replica holding them truncates them', () => {
  const h = new Harness(['p', 'r'], 'manual');
  h.attach('p', 'r');
  const seen = new Map<string, string>();
  for (let i = 0; i < 3; i++) h.write('p', set('k', `durable${i}`));
  const kept = h.node('p').core.lastPosition.seq;
  // Two writes the primary's log never made durable, already streamed to the replica.
  h.unsynced.add('p');
  h.write('p', set('k', 'lost1'), false);
  h.write('p', set('k', 'lost2'), false);
  h.flush();
  assert.equal(h.node('r').log.length, kept + 2, 'the replica holds the entries the primary is about to lose');
  assertOnePositionOneEntry(h, seen);

  const fx = h.logFails('p', kept);
  assert.deepEqual(effectsOf(fx, 'truncateAfter'), [], 'the store already cut its log: no effect runs');
  const p = h.node('p').core;
  assert.deepEqual(p.lastPosition, { epoch: 1, seq: kept });
  assert.equal(p.acceptsWrites(h.now), false);
  const st = p.status(h.now);
  assert.equal(st.logFailed, true);
  assert.equal(st.discardedEntries, 2);
  assert.throws(() => p.step({ type: 'logFailed', keptSeq: kept - 1 }, h.now), /below the durable/, 'a rollback never takes back what was reported durable');

  // While the primary's log is down the replica re-handshakes and drops what the primary lacks.
  h.advance(50);
  assert.deepEqual(h.node('r').log, h.node('p').log);
  assert.equal(h.node('r').core.status(h.now).discardedEntries, 2);

  h.unsynced.clear();
  // Resumed: a new epoch continues at the lost positions, so (1, kept+1) and (2, kept+1) differ by name.
  h.step('p', { type: 'logResumed' });
  assert.equal(p.currentEpoch, 2);
  assert(p.acceptsWrites(h.now));
  h.write('p', set('k', 'after'));
  h.advance(50);
  assert.deepEqual(h.node('r').log, h.node('p').log);
  assert.equal(h.node('r').log[kept]?.epoch, 2, 'the position after the rollback is written in the new epoch');
  assertOnePositionOneEntry(h, seen);
});

test('manual: a replica whose log failed stops applying and acknowledging; resumed, it handshakes from what it kept and catches up', () => {
  const h = new Harness(['p', 'r'], 'manual');
  h.attach('p', 'r');
  for (let i = 0; i < 3; i++) h.write('p', set('k', `v${i}`));
  h.flush();
  const kept = h.node('r').core.lastPosition.seq;
  h.unsynced.add('r');
  const mark = h.node('r').effects.length;
  h.logFails('r', kept);
  for (let i = 0; i < 4; i++) h.write('p', set('k', `w${i}`));
  h.advance(50);
  const r = h.node('r');
  assert.equal(r.core.lastPosition.seq, kept, 'no append applied while the log is down');
  assert.equal(r.core.status(h.now).logFailed, true);
  const acks = effectsOf(r.effects.slice(mark), 'send').filter((e) => e.msg.type === 'ack');
  assert(acks.length > 0 && acks.every((e) => e.msg.type === 'ack' && !e.msg.synced), 'acks say it is not in sync');
  assert.equal(effectsOf(r.effects.slice(mark), 'send').filter((e) => e.msg.type === 'hello').length, 0, 'no handshake while the log is down');
  assert(h.node('p').core.acceptsWrites(h.now), 'the primary keeps going');
  h.unsynced.clear();
  h.step('r', { type: 'logResumed' });
  h.advance(50);
  assert.deepEqual(r.log, h.node('p').log);
});

test('cluster: a primary whose log failed steps down (pending quorum writes unknown), does not campaign or vote while down, and rejoins when it recovers', () => {
  const h = new Harness(['n1', 'n2', 'n3'], 'cluster', 5);
  h.advance(400);
  const p = h.primary() as NodeId;
  const seen = new Map<string, string>();
  h.write(p, set('k', 'committed'));
  h.flush();
  const kept = h.node(p).core.lastPosition.seq;
  h.unsynced.add(p);
  // Queued to the followers, not yet durable on the primary when its disk fails.
  const e = h.write(p, set('k', 'maybe'), false);
  h.step(p, { type: 'quorumWrite', writeId: 1, seq: e.seq });
  const fx = h.logFails(p, kept);
  assert.equal(h.node(p).core.currentRole, 'replica', 'it steps down at once');
  assert.equal(effectsOf(fx, 'quorumWriteResult')[0]?.outcome, 'unknown', 'the pending quorum write is reported unknown, never ok');
  h.advance(600);
  const q = h.primary();
  assert(q !== undefined && q !== p, `another member took over (primary: ${q})`);
  assert.equal(h.node(p).core.currentRole, 'replica', 'no campaign while its log is down');
  assert.equal(h.node(p).core.status(h.now).logFailed, true);
  // A vote it would otherwise grant (same epoch, no vote cast, an up-to-date candidate) is refused.
  const pc = h.node(p).core;
  const reply = effectsOf(h.step(p, { type: 'message', from: q, msg: { type: 'vote', epoch: pc.currentEpoch, lastPos: h.node(q).core.lastPosition, transfer: false } }), 'send');
  assert(reply.some((x) => x.msg.type === 'voteReply' && !x.msg.granted), 'no vote while its log is down');
  h.advance(300);
  const leader = h.primary() as NodeId;
  h.write(leader, set('k', 'new'));
  h.unsynced.clear();
  h.step(p, { type: 'logResumed' });
  h.advance(300);
  assert.deepEqual(h.node(p).log, h.node(leader).log, 'it rejoins and catches up');
  assert.equal(h.node(p).log.find((x) => x.seq === e.seq)?.epoch, e.epoch, 'the entry a majority held survived the failed primary');
  assertOnePositionOneEntry(h, seen);
});

