// GET /health: whether this node can do its job now, for load balancers and orchestrators.
// Owns the definition of "healthy" per role (a pure function of a status snapshot, so the rule
// is tested without processes); it never changes the node's state.

import type { ReplicationHost } from '../replication/host/host.js';
import type { ReplicatedStore } from '../storage/api.js';
import { roleLabel } from './registry.js';

export interface HealthInput {
  readonly mode: 'manual' | 'cluster';
  readonly role: 'primary' | 'replica' | 'candidate';
  readonly epoch: number;
  readonly lastSeq: number;
  /** The node takes writes now (host.acceptsWrites()). */
  readonly writable: boolean;
  /** A replica serves reads now (within --replica-max-lag-ms/-ops of its primary); a primary always does. */
  readonly readable: boolean;
  readonly readDetail: string | null;
  /** The log refuses writes after a write or fsync error. */
  readonly logError: string | null;
}

export interface Health {
  /** 200 healthy, 503 not. */
  readonly code: 200 | 503;
  readonly body: {
    readonly status: 'ok' | 'unavailable';
    readonly mode: 'manual' | 'cluster';
    readonly role: 'primary' | 'replica' | 'candidate';
    readonly epoch: number;
    readonly lastSeq: number;
    readonly writable: boolean;
    /** Cluster mode: QUORUM reads and writes are served here now. Manual mode: null (QUORUM needs cluster mode). */
    readonly quorum: boolean | null;
    readonly readable: boolean;
    readonly log: { readonly failed: boolean; readonly error: string | null };
    /** Why the status is unavailable (empty when ok). */
    readonly reasons: readonly string[];
  };
}

/** `?role=` filter: healthy only if the node also has that role (a load balancer's pool check). */
export type RoleWanted = 'primary' | 'replica' | null;

/**
 * The rule: a primary is healthy when it accepts writes (log writable and, in cluster mode, in
 * contact with a majority within an election timeout and not handing over with FAILOVER), which
 * in cluster mode is also when it serves QUORUM reads and writes. A replica or candidate is
 * healthy when its log is writable and it serves reads within its staleness bounds. A
 * candidate never is: it has no primary to follow. With `?role=`, a node of another role is
 * unavailable too.
 */
export function evaluateHealth(h: HealthInput, wanted: RoleWanted): Health {
  const reasons: string[] = [];
  if (h.logError !== null) reasons.push(`log failed: ${h.logError}`);
  if (h.role === 'primary') {
    if (!h.writable) reasons.push(h.mode === 'cluster' ? 'primary does not accept writes (no live majority, FAILOVER in progress or log failed)' : 'primary does not accept writes');
  } else if (!h.readable) {
    reasons.push(`${h.role} does not serve reads: ${h.readDetail ?? 'stale'}`);
  }
  if (wanted !== null && h.role !== wanted) reasons.push(`role is ${h.role}, not ${wanted}`);
  const quorum = h.mode === 'cluster' ? h.role === 'primary' && h.writable : null;
  return {
    code: reasons.length === 0 ? 200 : 503,
    body: {
      status: reasons.length === 0 ? 'ok' : 'unavailable',
      mode: h.mode,
      role: h.role,
      epoch: h.epoch,
      lastSeq: h.lastSeq,
      writable: h.writable,
      quorum,
      readable: h.readable,
      log: { failed: h.logError !== null, error: h.logError },
      reasons,
    },
  };
}

/** The snapshot of a running node. */
export function healthInputOf(host: ReplicationHost, store: ReplicatedStore): HealthInput {
  const st = host.status();
  const rc = host.readCheck();
  const logError = store.stats().logError ?? null;
  return {
    mode: st.mode,
    role: roleLabel(st.role),
    epoch: st.epoch,
    lastSeq: st.lastPos.seq,
    writable: host.acceptsWrites(),
    readable: rc.ok,
    readDetail: rc.ok ? null : rc.detail,
    logError: logError ?? (st.logFailed ? 'the log refuses writes' : null),
  };
}
