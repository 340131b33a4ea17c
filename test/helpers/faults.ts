// The fault schedule of the real-process cluster tests (server-level and through the client):
// which fault to inject next, drawn from the test's seeded stream so KV_SEED replays a schedule,
// the one loop that injects each fault into a Cluster and undoes it before the next, and the
// paused-primary probe (a resumed deposed primary must not acknowledge a write).
// Owns the schedule only; the workload and the checks are the tests'.

import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { connectResp } from '../../src/client/resp-conn.js';
import { replyText } from './call.js';
import type { Cluster } from './cluster.js';
import type { Rng } from './rng.js';

/** Longer than the cluster's maximum election timeout, so the others elect a new primary meanwhile. */
export const PAUSE_MS = 2_500;

export type Fault = 'kill-primary' | 'kill-any' | 'pause-primary' | 'isolate-primary' | 'isolate-any';

/** Weighted towards faults of the primary, the ones that exercise elections and fencing. */
export function pickFault(r: Rng): Fault {
  const x = r.next();
  if (x < 0.3) return 'kill-primary';
  if (x < 0.45) return 'kill-any';
  if (x < 0.65) return 'pause-primary';
  if (x < 0.85) return 'isolate-primary';
  return 'isolate-any';
}

export interface FaultScheduleOptions {
  readonly faults: number;
  /** Normal operation before each fault, and after the last. */
  readonly calmMs: number;
  /** How long a partition or a dead node lasts before it heals. */
  readonly faultMs: number;
  /** Called after each calm interval, right before the fault (e.g. the workload's next generation). */
  readonly beforeFault: () => void;
  /** SIGSTOP the primary and SIGCONT it again; may return a line for the log. */
  readonly pausePrimary: (id: string) => Promise<string | null>;
  /** Called once each fault is undone (the node restarted or resumed, the partition healed): a check of the healed cluster. */
  readonly afterFault?: () => Promise<void>;
}

/**
 * SIGSTOP the primary, queue a write on it while it is stopped, wait past the election timeout,
 * SIGCONT: the write must not be acknowledged (check-quorum is evaluated when the write arrives).
 * Returns the refusal's text.
 */
export async function pauseAndProbe(cluster: Cluster, id: string): Promise<string> {
  const node = cluster.node(id);
  const c = await connectResp('127.0.0.1', node.port, 1000);
  assert.ok(c.ok);
  cluster.pause(id);
  try {
    const pending = c.conn.call(['SET', 'deposed-probe', id]);
    await delay(PAUSE_MS);
    cluster.resume(id);
    const r = await pending;
    assert.ok(r.ok, 'the resumed node answers');
    const text = replyText(r.reply) ?? '';
    assert.equal(r.reply.type, 'error', `a resumed deposed primary acknowledged a write: ${text}\n${cluster.logs()}`);
    return text;
  } finally {
    if (cluster.node(id).state === 'paused') cluster.resume(id);
    c.conn.close();
  }
}

/**
 * Inject `faults` seeded faults, each after a calm interval, each undone before the next (a
 * killed node restarted, a partition healed). Returns what was injected, for the test's summary.
 * Whatever happens, partitions are healed and paused nodes resumed before it returns or throws.
 */
export async function runFaultSchedule(cluster: Cluster, r: Rng, o: FaultScheduleOptions): Promise<string[]> {
  const log: string[] = [];
  try {
    for (let i = 0; i < o.faults; i++) {
      await delay(o.calmMs);
      o.beforeFault();
      const primary = (await cluster.primary()) ?? cluster.nodes[0]?.id ?? 'n1';
      const any = r.pick(cluster.nodes).id;
      const fault = pickFault(r);
      const id = fault.endsWith('primary') ? primary : any;
      log.push(`${fault} ${id}`);
      switch (fault) {
        case 'kill-primary':
        case 'kill-any':
          await cluster.kill(id);
          await delay(o.faultMs);
          await cluster.restart(id);
          break;
        case 'pause-primary': {
          const note = await o.pausePrimary(id);
          if (note !== null) log.push(`  ${note}`);
          break;
        }
        case 'isolate-primary':
        case 'isolate-any':
          cluster.isolate(id);
          await delay(o.faultMs);
          cluster.heal();
          break;
      }
      await o.afterFault?.();
    }
    await delay(o.calmMs);
  } finally {
    cluster.heal();
    for (const n of cluster.nodes) if (n.state === 'paused') cluster.resume(n.id);
  }
  return log;
}
