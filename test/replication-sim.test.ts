// Deterministic simulation of the replication core (cluster mode): many seeded schedules with
// message loss, duplication, reordering, partitions, crashes and restarts; safety checked at
// every step and the client history checked for linearizability. KV_SEED=n replays one seed;
// KV_LONG=1 runs 100k seeds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSeed, type SimStats } from './helpers/sim/world.js';
import { emptyStats } from './helpers/sim/oracle.js';

/** The membership part of a schedule: two spare nodes and frequent changes. */
const MEMBERSHIP = { spares: 2, memberChangeRate: 0.01 } as const;

const SEEDS_DEFAULT = 1000;
const SEEDS_LONG = 100_000;

function seeds(): number[] {
  const one = process.env['KV_SEED'];
  if (one !== undefined && one !== '') return [Number(one)];
  const n = process.env['KV_LONG'] === '1' ? SEEDS_LONG : SEEDS_DEFAULT;
  return Array.from({ length: n }, (_, i) => i + 1);
}

function add(total: SimStats, s: SimStats): void {
  for (const k of Object.keys(total) as (keyof SimStats)[]) total[k] += s[k];
}

test('cluster simulation: safety at every step, linearizable quorum ops, convergence', () => {
  const list = seeds();
  const total: SimStats = emptyStats();
  const started = Date.now();
  // Odd seeds also change membership: spares are added as learners, promoted, removed (the primary too) and re-added.
  for (const seed of list) add(total, runSeed(seed, { nodes: seed % 4 === 0 ? 5 : 3, ...(seed % 2 === 1 ? MEMBERSHIP : {}) }).stats);
  const ms = Date.now() - started;
  console.log(`# ${list.length} seeds in ${ms} ms: ${JSON.stringify(total)}`);
  if (list.length >= SEEDS_DEFAULT) {
    // The schedules must actually exercise the dangerous paths, or the checks prove nothing.
    assert(total.elections > list.length, 'elections happen');
    assert(total.quorumWritesOk > 0 && total.readsOk > 0 && total.quorumWritesUnknown > 0, 'quorum ops both succeed and fail');
    assert(total.discarded > 0, 'some diverged async writes are discarded');
    assert(total.fullResyncs > 0, 'some replicas need full resyncs');
    assert(total.failoversOk > 0, 'some leadership transfers succeed');
    assert(total.diskFailures > 0, 'some local logs fail and resume');
    assert(total.memberChangesOk > list.length / 4, 'membership changes commit');
  }
});

test('cluster simulation: the checks catch a core that starts a membership change before the previous one committed', () => {
  // The injected bug (CoreConfig.unsafeConcurrentConfigChanges) lets a primary count over a
  // configuration two changes past the committed one; some seed must trip a safety check.
  const one = process.env['KV_SEED'];
  const first = one !== undefined && one !== '' ? Number(one) : 1;
  const tries = one !== undefined && one !== '' ? 1 : 300;
  let caught: { seed: number; message: string } | null = null;
  for (let seed = first; seed < first + tries && caught === null; seed++) {
    try {
      runSeed(seed, { nodes: 3, spares: 2, memberChangeRate: 0.05, unsafeConcurrentConfigChanges: true });
    } catch (err) {
      caught = { seed, message: err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err) };
    }
  }
  assert(caught !== null, 'no seed caught concurrent configuration changes');
  console.log(`# injected bug caught at seed ${caught.seed}: ${caught.message}`);
  assert.match(caught.message, /disjoint majorities|two primaries|committed entry|not linearizable/);
});

test('manual mode: promote during a partition, write both sides, REPLICAOF the old primary → exactly the diverged suffix discarded', async () => {
  const { runManualScenario } = await import('./helpers/sim/manual.js');
  const one = process.env['KV_SEED'];
  const list = one !== undefined && one !== '' ? [Number(one)] : Array.from({ length: process.env['KV_LONG'] === '1' ? 5000 : 200 }, (_, i) => i + 1);
  let discarded = 0;
  let full = 0;
  for (const seed of list) {
    const r = runManualScenario(seed);
    assert.equal(r.discardedOnOldPrimary, r.expectedDiscard, `seed ${seed}: old primary discards exactly its diverged suffix`);
    discarded += r.discardedOnOldPrimary;
    full += r.fullResyncs;
  }
  console.log(`# manual: ${list.length} seeds, ${discarded} diverged entries discarded, ${full} full resyncs on the old primary`);
  if (list.length > 1) assert(discarded > 0, 'the scenario produces divergence');
});

test('manual mode: a primary whose log fails while replicas hold entries it lost resumes in a new epoch; every node ends with its log', async () => {
  const { runManualDiskScenario } = await import('./helpers/sim/manual.js');
  const one = process.env['KV_SEED'];
  const list = one !== undefined && one !== '' ? [Number(one)] : Array.from({ length: process.env['KV_LONG'] === '1' ? 5000 : 200 }, (_, i) => i + 1);
  let lost = 0;
  for (const seed of list) {
    const r = runManualDiskScenario(seed);
    assert(r.epochAfter >= 2, `seed ${seed}: the primary resumed in a new epoch`);
    lost += r.lostOnReplicas;
  }
  console.log(`# manual disk: ${list.length} seeds, ${lost} entries replicas held and the primary's log lost`);
  if (list.length > 1) assert(lost > 0, 'the scenario makes replicas hold entries the primary lost');
});

