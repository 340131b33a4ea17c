// The fault menu of the real-process cluster tests (server-level and through the client): which
// fault to inject next, drawn from the test's seeded stream so KV_SEED replays a schedule. Owns
// the choice only; the tests apply the fault to their Cluster.

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
