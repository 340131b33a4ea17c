// Deterministic simulation of the real replication host on real stores (cluster mode): many
// seeded schedules with packet loss, duplication and reordering under TCP-like links,
// connection resets, partitions, process crashes and restarts; safety checked at every step
// and the client history checked for linearizability. KV_SEED=n replays one seed; KV_LONG=1
// runs 100k seeds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runHostSeed } from './helpers/sim/host-world.js';
import type { SimStats } from './helpers/sim/world.js';

const SEEDS_DEFAULT = 1000;
const SEEDS_LONG = 100_000;

function seeds(): number[] {
  const one = process.env['KV_SEED'];
  if (one !== undefined && one !== '') return [Number(one)];
  const n = process.env['KV_SEEDS'] !== undefined ? Number(process.env['KV_SEEDS']) : process.env['KV_LONG'] === '1' ? SEEDS_LONG : SEEDS_DEFAULT;
  return Array.from({ length: n }, (_, i) => i + 1);
}

test('host simulation: the real host and store under seeded faults stay safe, linearizable and converge', async () => {
  const list = seeds();
  const total: SimStats = {
    elections: 0, commits: 0, quorumWritesOk: 0, quorumWritesUnknown: 0, readsOk: 0, readsFailed: 0,
    asyncWrites: 0, crashes: 0, partitions: 0, discarded: 0, fullResyncs: 0, failovers: 0, failoversOk: 0,
  };
  const started = Date.now();
  for (const seed of list) {
    const { stats } = await runHostSeed(seed, { nodes: seed % 4 === 0 ? 5 : 3 });
    for (const k of Object.keys(total) as (keyof SimStats)[]) total[k] += stats[k];
  }
  console.log(`# ${list.length} seeds in ${Date.now() - started} ms: ${JSON.stringify(total)}`);
  if (list.length >= SEEDS_DEFAULT) {
    // The schedules must exercise the dangerous paths, or the checks prove nothing.
    assert(total.elections > list.length, 'elections happen');
    assert(total.crashes > 0 && total.partitions > 0, 'crashes and partitions happen');
    assert(total.quorumWritesOk > 0 && total.readsOk > 0 && total.quorumWritesUnknown > 0, 'quorum ops both succeed and fail');
    assert(total.discarded > 0, 'some diverged writes are discarded');
    assert(total.fullResyncs > 0, 'some replicas need full resyncs');
    assert(total.failoversOk > 0, 'some leadership transfers succeed');
  }
});
