// Kill -9 crash test: a child writes through the embedded API with fsync 'always' (small
// segments and aggressive compaction so rotation and compaction are constantly in flight;
// every other cycle with its fsync rounds on the event loop, as kv-server runs them) and
// reports acknowledged writes; the parent SIGKILLs it at seeded moments, reopens the directory
// and checks the recovered state is EXACTLY the workload's state after some prefix that
// includes every acknowledged write. KV_LONG=1 runs 500 cycles.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openReplicatedStore as openStore } from '../src/storage/store.js';
import { toKey } from '../src/storage/types.js';
import { rng, testSeed } from './helpers/rng.js';
import { tempDir, REPO_ROOT } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';
import { crashOps, type CrashOp } from './fixtures/crash-ops.js';

const WRITER_JS = join(REPO_ROOT, 'dist', 'test', 'fixtures', 'crash-writer.js');
const CYCLES = process.env['KV_LONG'] === '1' ? 500 : 20;
const CHILD_DEADLINE_MS = 20_000;

interface ModelValue {
  value: Buffer;
  /** Exact absolute expiry, or a relative TTL whose absolute value depends on the child's clock. */
  exp: { kind: 'none' } | { kind: 'at'; at: number } | { kind: 'rel'; ms: number };
}

/** Apply op to the model; returns true if the store logs an entry for it (one seq). */
function simulate(model: Map<string, ModelValue>, op: CrashOp): boolean {
  switch (op.kind) {
    case 'set':
      model.set(toKey(op.key), { value: op.value, exp: op.pxAt > 0 ? { kind: 'at', at: op.pxAt } : { kind: 'none' } });
      return true;
    case 'del':
      return model.delete(toKey(op.key));
    case 'expire': {
      const cur = model.get(toKey(op.key));
      if (cur === undefined) return false;
      cur.exp = { kind: 'rel', ms: op.ms };
      return true;
    }
    case 'compact':
      return false;
  }
}

/** Whether simulate() would log an entry for `op`, with no side effect. */
function wouldLog(model: ReadonlyMap<string, ModelValue>, op: CrashOp): boolean {
  switch (op.kind) {
    case 'set':
      return true;
    case 'del':
    case 'expire':
      return model.has(toKey(op.key));
    case 'compact':
      return false;
  }
}

interface ChildRun {
  acked: Set<number>;
  sawCompaction: boolean;
}

async function runChild(dir: string, seed: number, cycle: number, killAfterAcks: number, killOnCompaction: boolean): Promise<ChildRun> {
  const child = spawn(process.execPath, [WRITER_JS, dir, String(seed), String(cycle)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acked = new Set<number>();
  let sawCompaction = false;
  let compactionAcks = -1;
  let buf = '';
  let err = '';
  let killed = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = (): void => {
    if (!killed) {
      killed = true;
      child.kill('SIGKILL');
    }
  };
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (killed) continue; // lines after our kill decision may still be real acks, but we stop counting
      if (line.startsWith('A ')) acked.add(Number(line.slice(2)));
      if (line.startsWith('C ')) {
        sawCompaction = true;
        if (compactionAcks < 0) compactionAcks = acked.size;
      }
      const trigger = killOnCompaction ? compactionAcks >= 0 && acked.size >= compactionAcks + (killAfterAcks % 20) : acked.size >= killAfterAcks;
      if (trigger) kill();
    }
  });
  try {
    await waitFor(`crash-writer cycle ${cycle} to reach its kill point`, () => killed || child.exitCode !== null, { timeoutMs: CHILD_DEADLINE_MS, intervalMs: 5 });
  } finally {
    kill();
    await exited;
  }
  assert.ok(killed, `writer exited by itself: ${err}`);
  return { acked, sawCompaction };
}

test(`kill -9 during writes, rotation and compaction loses no acknowledged write (${CYCLES} cycles)`, { timeout: CYCLES * 30_000 }, async () => {
  const seed = testSeed(20240611);
  const R = rng(seed);
  const dir = tempDir('kvts-crash-');
  const model = new Map<string, ModelValue>();
  let seqBase = 0;
  let compactionKills = 0;
  let warnings = 0;
  try {
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const killOnCompaction = R.int(3) === 0;
      const killAfterAcks = R.int(400);
      const startMs = Date.now();
      const run = await runChild(dir, seed, cycle, killAfterAcks, killOnCompaction);
      if (killOnCompaction && run.sawCompaction) compactionKills++;

      const store = await openStore({ dir, fsync: 'no', onWarning: () => warnings++ });
      try {
        const recovered = store.lastPosition.seq;
        assert.ok(recovered >= seqBase, `cycle ${cycle}: log went backwards (${recovered} < ${seqBase})`);
        // Replay the workload in issue order until the recovered prefix is reached.
        const next = crashOps(seed, cycle);
        const maxAcked = Math.max(-1, ...run.acked);
        let seq = seqBase;
        for (let i = 0; seq < recovered || i <= maxAcked; i++) {
          const op = next();
          // Ask whether the op logs WITHOUT touching the model: simulating on a shallow copy of
          // the Map still mutated the shared ModelValue of an 'expire', so an expire that was
          // lost in the crash (allowed: unacknowledged) wrongly stayed in the model. KV_LONG=1
          // hit it at cycle 146 with the default seed, on the old and the new keyspace alike.
          const logs = wouldLog(model, op);
          if (logs && seq + 1 > recovered) {
            assert.ok(!run.acked.has(i), `cycle ${cycle} seed ${seed}: acknowledged op ${i} (${op.kind}) is missing after recovery at seq ${recovered}`);
            continue; // op i (and all later logged ops) were lost: allowed only if unacknowledged
          }
          if (seq >= recovered && logs) continue;
          simulate(model, op);
          if (logs) seq++;
        }
        assert.equal(seq, recovered, `cycle ${cycle}: workload prefix does not line up with the recovered log`);
        // The recovered keyspace must equal the model exactly: nothing missing, nothing invented.
        assert.equal(store.size, model.size, `cycle ${cycle}: key count`);
        const now = Date.now();
        for (const [k, mv] of model) {
          const v = store.getValue(k);
          assert.ok(v !== undefined && v.equals(mv.value), `cycle ${cycle}: wrong value for ${k}`);
          const at = store.getExpireAt(k);
          if (mv.exp.kind === 'none') assert.equal(at, 0, `cycle ${cycle}: ${k} should have no expiry`);
          else if (mv.exp.kind === 'at') assert.equal(at, mv.exp.at);
          else assert.ok(at !== undefined && at >= startMs + mv.exp.ms - 5_000 && at <= now + mv.exp.ms, `cycle ${cycle}: ${k} expiry ${at}`);
        }
        // Pin relative expiries to what was recovered, so later cycles compare exactly.
        for (const [k, mv] of model) if (mv.exp.kind === 'rel') mv.exp = { kind: 'at', at: store.getExpireAt(k) as number };
        seqBase = recovered;
      } finally {
        await store.close();
      }
    }
    console.log(`crash test: ${CYCLES} cycles, final seq ${seqBase}, ${compactionKills} kills during compaction, ${warnings} recovery warnings, seed ${seed}`);
    assert.ok(seqBase > CYCLES, 'the workload made progress');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
