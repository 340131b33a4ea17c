// Concurrent clients doing quorum reads and writes on a few keys against a Cluster, recording
// an invoke/return history (unknown outcomes kept as such) for the linearizability checker.
// Owns its client connections; never interprets results beyond classifying each reply.

import { performance } from 'node:perf_hooks';
import { connectResp, type RespConnection } from '../../src/client/resp-conn.js';
import { callWithin } from './call.js';
import type { Cluster } from './cluster.js';
import type { KvOp } from './linearizability.js';
import type { Rng } from './rng.js';

/** A request without a reply in this time counts as unknown (a paused or partitioned node). */
export const OP_TIMEOUT_MS = 1_500;

export interface WorkloadStats {
  putsOk: number;
  putsUnknown: number;
  putsRefused: number;
  getsOk: number;
  getsFailed: number;
  /** Error texts seen, with counts (for the test log). */
  readonly errors: Map<string, number>;
}

export interface Workload {
  readonly history: KvOp[];
  readonly stats: WorkloadStats;
  /**
   * Move to a fresh set of keys (Jepsen's independent keys): the checker's search is exponential
   * in a key's concurrent history, so each key's history stays a few thousand operations long.
   */
  nextGeneration(): void;
  /** Stop issuing operations; resolves when every client finished its current one. */
  stop(): Promise<void>;
}

type Outcome = { kind: 'reply'; text: string | null; error: string | null } | { kind: 'lost' };

async function request(conn: RespConnection, argv: readonly string[]): Promise<Outcome> {
  const c = await callWithin(conn, argv, OP_TIMEOUT_MS);
  if (!c.ok) return { kind: 'lost' };
  const rep = c.reply;
  if (rep.type === 'error') return { kind: 'reply', text: null, error: rep.message };
  if (rep.type === 'bulk' || rep.type === 'simple') return { kind: 'reply', text: rep.value.toString('latin1'), error: null };
  return { kind: 'reply', text: null, error: null };
}

/** Start `clients` clients on `keys` keys; each op goes to the node the client believes is primary. */
export function startWorkload(cluster: Cluster, rng: Rng, clients: number, keys: number): Workload {
  const history: KvOp[] = [];
  const stats: WorkloadStats = { putsOk: 0, putsUnknown: 0, putsRefused: 0, getsOk: 0, getsFailed: 0, errors: new Map() };
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  let stopping = false;
  let generation = 0;
  const noteError = (e: string): void => {
    const word = e.split(' ')[0] ?? e;
    stats.errors.set(word, (stats.errors.get(word) ?? 0) + 1);
  };

  const client = async (c: number): Promise<void> => {
    const nodes = cluster.nodes;
    let target = rng.int(nodes.length);
    let conn: RespConnection | null = null;
    let connTarget = -1;
    let n = 0;
    while (!stopping) {
      if (conn === null || connTarget !== target) {
        conn?.close();
        const r = await connectResp('127.0.0.1', (nodes[target] as (typeof nodes)[number]).port, OP_TIMEOUT_MS);
        if (!r.ok) {
          conn = null;
          target = (target + 1) % nodes.length;
          continue;
        }
        conn = r.conn;
        connTarget = target;
      }
      const key = `g${generation}:k${rng.int(keys)}`;
      const isPut = rng.next() < 0.5;
      const invokeMs = now();
      if (isPut) {
        const value = `c${c}-${n++}`;
        const o = await request(conn, ['SET', key, value, 'QUORUM']);
        if (o.kind === 'reply' && o.text === 'OK') {
          stats.putsOk++;
          history.push({ kind: 'put', key, value, invokeMs, returnMs: now() });
        } else if (o.kind === 'reply' && o.error !== null && !o.error.startsWith('NOQUORUM')) {
          // READONLY, TRYAGAIN, TOOSTALE, NOTPRIMARY: refused before it was logged, so it never takes effect.
          stats.putsRefused++;
          noteError(o.error);
          target = (target + 1) % nodes.length;
        } else {
          // NOQUORUM or no reply: it may or may not take effect, at any time from now on.
          stats.putsUnknown++;
          if (o.kind === 'reply' && o.error !== null) noteError(o.error);
          else noteError('TIMEOUT');
          history.push({ kind: 'put', key, value, invokeMs, returnMs: undefined });
          if (o.kind === 'lost') {
            conn.close();
            conn = null;
          }
          target = (target + 1) % nodes.length;
        }
      } else {
        const o = await request(conn, ['GET', key, 'QUORUM']);
        if (o.kind === 'reply' && o.error === null) {
          stats.getsOk++;
          history.push({ kind: 'get', key, value: o.text, invokeMs, returnMs: now() });
        } else {
          // A failed read imposes nothing on the history.
          stats.getsFailed++;
          noteError(o.kind === 'reply' && o.error !== null ? o.error : 'TIMEOUT');
          if (o.kind === 'lost') {
            conn.close();
            conn = null;
          }
          target = (target + 1) % nodes.length;
        }
      }
    }
    conn?.close();
  };

  const running = Array.from({ length: clients }, (_, c) => client(c));
  return {
    history,
    stats,
    nextGeneration: () => {
      generation++;
    },
    stop: async () => {
      stopping = true;
      await Promise.all(running);
    },
  };
}
