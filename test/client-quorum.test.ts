// KvClient in quorum mode under the cluster fault harness: several clients put and get a few
// keys while the primary (or any node) is SIGKILLed and restarted, SIGSTOPped past the election
// timeout, or cut off by the proxies. The recorded history (outcome-unknown puts as such, puts
// the client says never ran left out, failed gets left out) must be linearizable, every error
// must be typed, and the nodes converge afterwards.
// Default: 6 faults. KV_LONG=1: 25. KV_SEED replays a schedule.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { KvClient } from '../src/client/index.js';
import { Cluster } from './helpers/cluster.js';
import { startClientWorkload } from './helpers/client-workload.js';
import { checkLinearizable } from './helpers/linearizability.js';
import { rng as makeRng, testSeed } from './helpers/rng.js';
import { runFaultSchedule } from './helpers/faults.js';

const LONG = process.env['KV_LONG'] === '1';
const FAULTS = LONG ? 25 : 6;
const CLIENTS = 4;
const KEYS = 3;
/** Longer than the maximum election timeout (1 s), so the others elect a new primary meanwhile. */
const PAUSE_MS = 2_000;
/** How long a partition or a dead node lasts before it heals. */
const FAULT_MS = 1_500;
/** Normal operation between faults. */
const CALM_MS = 800;

test(`quorum-mode clients under kills, pauses and partitions: linearizable history, typed errors (${FAULTS} faults)`, { timeout: 240_000 }, async () => {
  const seed = testSeed(6201);
  // Two streams: the fault schedule replays exactly from the seed; the workload's draws
  // interleave with timing, so they must not shift the schedule.
  const r = makeRng(seed);
  const workRng = makeRng(seed + 1);
  const cluster = await Cluster.start({ nodes: 3, proxies: true });
  const clients: KvClient[] = [];
  try {
    await cluster.waitForPrimary();
    const seeds = cluster.nodes.map((n) => n.address);
    for (let i = 0; i < CLIENTS; i++) {
      // Short per-attempt and total timeouts keep many operations in flight across each fault.
      clients.push(await KvClient.connect({ seeds, consistency: 'quorum', timeoutMs: 4_000, commandTimeoutMs: 1_500, refreshIntervalMs: 1_000 }));
    }
    const work = startClientWorkload(clients, workRng, KEYS);
    let log: string[] = [];
    try {
      log = await runFaultSchedule(cluster, r, {
        faults: FAULTS,
        calmMs: CALM_MS,
        faultMs: FAULT_MS,
        beforeFault: () => work.nextGeneration(),
        pausePrimary: async (id) => {
          cluster.pause(id);
          await delay(PAUSE_MS);
          cluster.resume(id);
          return null;
        },
      });
    } finally {
      await work.stop();
    }
    for (const n of cluster.nodes) if (n.state === 'killed') await cluster.restart(n.id);
    const s = work.stats;
    const summary =
      `seed ${seed}, faults: ${log.join('; ')}\n` +
      `puts ok ${s.putsOk}, outcome unknown ${s.putsUnknown}, refused ${s.putsRefused}; gets ok ${s.getsOk}, failed ${s.getsFailed}; errors: ${s.errors}`;
    process.stdout.write(`# ${summary.replace(/\n/g, '\n# ')}\n`);
    assert.deepEqual(s.errors.untyped(), [], `every error is a typed KvError\n${summary}`);
    assert.ok(s.putsOk > 100 && s.getsOk > 100, `the workload made progress\n${summary}`);
    const verdict = checkLinearizable(work.history);
    assert.equal(verdict.ok, true, `${JSON.stringify(verdict).slice(0, 4000)}\n${summary}\nreplay: KV_SEED=${seed} node --test dist/test/client-quorum.test.js`);
    await cluster.waitConverged(60_000);
  } catch (e) {
    cluster.printLogs();
    throw e;
  } finally {
    for (const c of clients) await c.close();
    await cluster.stop();
  }
});
