// The longest event-loop stall of a snapshot and of a full-resync export/load over one big
// collection: loads a hash, set or sorted set of N members into an embedded store (in a temp
// dir), then times, each on its own, a compaction (the snapshot writer), an export drained to
// the end (the primary's side of a full resync) and the replica's loader fed those batches.
// A 1 ms probe timer records the longest gap between its runs while each phase works (GC pauses
// included, and reported beside it); the walk alone is timed per step, and the loader per add()
// call, since a replica feeds it from its socket handler.
// Owns those runs and their report; never touches data outside its temp dir.
//
//   node dist/tools/bench/snapshot-stall.js [--members N] [--type hash|set|zset]...

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { openReplicatedStore } from '../../src/storage/store.js';
import type { SnapshotItem } from '../../src/storage/api.js';
import type { Op } from '../../src/storage/types.js';
import { Keyspace } from '../../src/storage/keyspace.js';
import { KeyspaceWalk, SNAPSHOT_STEP_MEMBERS_MAX, type WalkItem } from '../../src/storage/snapshot-walk.js';

/** Element ops per logged entry while loading. */
const OPS_PER_ENTRY = 1_000;
const PROBE_INTERVAL_MS = 1;

type Kind = 'hash' | 'set' | 'zset';

interface Options {
  members: number;
  types: Kind[];
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { members: 1_000_000, types: [] };
  for (let i = 0; i < argv.length; i += 2) {
    const a = argv[i];
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${a} needs a value`);
    if (a === '--members') o.members = Number(v);
    else if (a === '--type' && (v === 'hash' || v === 'set' || v === 'zset')) o.types.push(v);
    else throw new Error(`unknown option ${a} ${v}`);
  }
  if (!Number.isSafeInteger(o.members) || o.members <= 0) throw new Error('--members must be a positive integer');
  if (o.types.length === 0) o.types = ['hash', 'zset'];
  return o;
}

function op(kind: Kind, i: number): Op {
  if (kind === 'hash') return { t: 'hset', key: 'big', field: `field:${i}`, value: Buffer.from(`value:${i}`) };
  if (kind === 'set') return { t: 'sadd', key: 'big', member: `member:${i}` };
  return { t: 'zadd', key: 'big', member: `member:${i}`, score: i % 1000 };
}

/** Garbage-collection pauses seen while a phase runs (a stall may be one: they are reported beside it). */
const gcPausesMs: number[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcPausesMs.push(e.duration);
}).observe({ entryTypes: ['gc'] });

/**
 * The longest gap between runs of a 1 ms timer while `work` runs (its lateness beyond the
 * interval), and the longest GC pause within it.
 */
async function longestGapMs<T>(work: () => Promise<T>): Promise<{ gapMs: number; gcMs: number; result: T; totalMs: number }> {
  gcPausesMs.length = 0;
  let last = performance.now();
  let gapMs = 0;
  const probe = setInterval(() => {
    const now = performance.now();
    gapMs = Math.max(gapMs, now - last - PROBE_INTERVAL_MS);
    last = now;
  }, PROBE_INTERVAL_MS);
  const t0 = performance.now();
  try {
    const result = await work();
    const end = performance.now();
    gapMs = Math.max(gapMs, end - last - PROBE_INTERVAL_MS);
    // Let the observer hear of the phase's last collections.
    await new Promise<void>((r) => setImmediate(r));
    return { gapMs, gcMs: Math.max(0, ...gcPausesMs), result, totalMs: end - t0 };
  } finally {
    clearInterval(probe);
  }
}

/** CPU time (user + system, all threads) since `from`: unlike wall time, not stretched when the machine is busy. */
function cpuMsSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
}

function last(sorted: readonly number[]): number {
  return sorted[sorted.length - 1] as number;
}

async function run(kind: Kind, members: number): Promise<void> {
  const dirs = [mkdtempSync(join(tmpdir(), 'kvts-stall-')), mkdtempSync(join(tmpdir(), 'kvts-stall-'))];
  const src = await openReplicatedStore({ dir: dirs[0] as string, fsync: 'no', compactMinBytes: 0 });
  const dst = await openReplicatedStore({ dir: dirs[1] as string, fsync: 'no', compactMinBytes: 0 });
  try {
    for (let i = 0; i < members; i += OPS_PER_ENTRY) {
      const ops: Op[] = [];
      for (let j = i; j < Math.min(members, i + OPS_PER_ENTRY); j++) ops.push(op(kind, j));
      src.apply(ops);
      if ((i / OPS_PER_ENTRY) % 100 === 99) await new Promise<void>((r) => setImmediate(r));
    }
    await new Promise<void>((r) => setTimeout(r, 100));
    const compact = await longestGapMs(() => src.compact());
    const batches: SnapshotItem[][] = [];
    const exp = src.exportSnapshot();
    const exported = await longestGapMs(async () => {
      let items = 0;
      let itemBytesMax = 0;
      for await (const b of exp.batches()) {
        batches.push(b);
        items += b.length;
        for (const it of b) itemBytesMax = Math.max(itemBytesMax, it.value.length);
      }
      return { items, itemBytesMax };
    });
    // The walk alone (what one snapshot or export turn encodes), timed per step on a copy of
    // the collection in a bare keyspace: no file, no GC pressure from the other phases' buffers.
    const ks = new Keyspace();
    for (const b of batches) for (const it of b) ks.restore(it.key, it.value, 0, it.value.length, it.expireAtMs);
    const walk = new KeyspaceWalk(ks);
    const picked: WalkItem[] = [];
    const stepMs: number[] = [];
    const stepCpuMs: number[] = [];
    while (!walk.done) {
      picked.length = 0;
      const t = performance.now();
      const c = process.cpuUsage();
      walk.step(picked, { slots: 2000, items: 2000, bytes: 256 * 1024, members: SNAPSHOT_STEP_MEMBERS_MAX });
      stepCpuMs.push(cpuMsSince(c));
      stepMs.push(performance.now() - t);
    }
    walk.close();
    stepMs.sort((a, b) => a - b);
    stepCpuMs.sort((a, b) => a - b);
    const loader = dst.beginLoad();
    const addMs: number[] = [];
    const addCpuMs: number[] = [];
    for (const b of batches) {
      const t = performance.now();
      const c = process.cpuUsage();
      loader.add(b);
      addCpuMs.push(cpuMsSince(c));
      addMs.push(performance.now() - t);
    }
    loader.abort();
    addMs.sort((a, b) => a - b);
    addCpuMs.sort((a, b) => a - b);
    const addP99Ms = addMs[Math.min(addMs.length - 1, Math.floor(addMs.length * 0.99))] as number;
    console.log(
      `${kind} of ${members} members: compaction longest stall ${compact.gapMs.toFixed(1)} ms (longest GC pause ${compact.gcMs.toFixed(1)} ms, total ${compact.totalMs.toFixed(0)} ms); ` +
        `export longest stall ${exported.gapMs.toFixed(1)} ms (longest GC pause ${exported.gcMs.toFixed(1)} ms, total ${exported.totalMs.toFixed(0)} ms, ${exported.result.items} items, largest ${exported.result.itemBytesMax} B); ` +
        `walk: ${stepMs.length} steps, longest ${last(stepMs).toFixed(1)} ms (cpu ${last(stepCpuMs).toFixed(1)} ms), median ${(stepMs[stepMs.length >> 1] as number).toFixed(2)} ms; ` +
        `load: ${addMs.length} add() calls, longest ${last(addMs).toFixed(1)} ms (cpu ${last(addCpuMs).toFixed(1)} ms), p99 ${addP99Ms.toFixed(1)} ms`,
    );
  } finally {
    await src.close();
    await dst.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

const opts = parseArgs(process.argv.slice(2));
for (const kind of opts.types) await run(kind, opts.members);
