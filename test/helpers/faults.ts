// The fault schedule of the real-process cluster tests (server-level and through the client):
// which fault to inject next, drawn from the test's seeded stream so KV_SEED replays a schedule,
// and the one loop that injects each fault into a Cluster and undoes it before the next.
// Owns the schedule only; the workload and the checks are the tests'.

import { setTimeout as delay } from 'node:timers/promises';
import type { Cluster } from './cluster.js';
import type { Rng } from './rng.js';

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
    }
    await delay(o.calmMs);
  } finally {
    cluster.heal();
    for (const n of cluster.nodes) if (n.state === 'paused') cluster.resume(n.id);
  }
  return log;
}
