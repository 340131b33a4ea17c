// Cluster mode under faults with real processes: concurrent clients run quorum reads and writes
// on a few keys while the primary (most often) or another node is SIGKILLed and restarted,
// SIGSTOPped longer than the election timeout, or black-holed by the proxies. The history must
// be linearizable (unknown outcomes included as such); a resumed deposed primary must not
// acknowledge a write; after healing, every node reaches the same DEBUG DIGEST.
// Default: one 3-node run. KV_LONG=1: longer 3-node and 5-node runs. KV_SEED replays a schedule.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from './helpers/cluster.js';
import { checkLinearizable } from './helpers/linearizability.js';
import { startWorkload } from './helpers/quorum-workload.js';
import { rng as makeRng, testSeed } from './helpers/rng.js';
import { pauseAndProbe, runFaultSchedule } from './helpers/faults.js';

const LONG = process.env['KV_LONG'] === '1';
/** How long a partition or a dead node lasts before it heals. */
const FAULT_MS = 2_000;
/** Normal operation between faults. */
const CALM_MS = 1_000;

async function runFaults(nodes: number, seed: number, faults: number): Promise<void> {
  const r = makeRng(seed);
  const cluster = await Cluster.start({ nodes });
  try {
    await cluster.waitForPrimary();
    const work = startWorkload(cluster, r, 4, 3);
    let log: string[] = [];
    try {
      log = await runFaultSchedule(cluster, r, {
        faults,
        calmMs: CALM_MS,
        faultMs: FAULT_MS,
        beforeFault: () => work.nextGeneration(),
        pausePrimary: async (id) => {
          const reply = await pauseAndProbe(cluster, id);
          return `resumed ${id} refused the queued write: ${reply.split(' ')[0] ?? ''}`;
        },
      });
    } finally {
      await work.stop();
    }
    for (const n of cluster.nodes) if (n.state === 'killed') await cluster.restart(n.id);
    const s = work.stats;
    const summary =
      `seed ${seed}, ${nodes} nodes, faults: ${log.join('; ')}\n` +
      `puts ok ${s.putsOk}, unknown ${s.putsUnknown}, refused ${s.putsRefused}; gets ok ${s.getsOk}, failed ${s.getsFailed}; ` +
      `errors ${[...s.errors].map(([k, v]) => `${k}=${v}`).join(' ')}`;
    process.stdout.write(`# ${summary.replace(/\n/g, '\n# ')}\n`);
    assert.ok(s.putsOk > 0 && s.getsOk > 0, `the workload made progress\n${summary}`);
    const verdict = checkLinearizable(work.history);
    assert.equal(verdict.ok, true, `${JSON.stringify(verdict).slice(0, 4000)}\n${summary}\nreplay: KV_SEED=${seed} node --test dist/test/cluster-faults.test.js`);
    // Writes stopped and faults healed: every node converges on the same data.
    await cluster.waitConverged(60_000);
  } catch (e) {
    cluster.printLogs(60);
    throw e;
  } finally {
    await cluster.stop();
  }
}

test('3 nodes: kills, pauses and partitions under quorum reads/writes stay linearizable and converge', { timeout: 180_000 }, async () => {
  await runFaults(3, testSeed(5005), LONG ? 30 : 8);
});

test('5 nodes under faults (KV_LONG=1)', { skip: !LONG, timeout: 600_000 }, async () => {
  await runFaults(5, testSeed(5006), 30);
});
