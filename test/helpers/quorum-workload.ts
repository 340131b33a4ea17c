// Concurrent clients against a Cluster (one loop routing each client's connection to the node it
// believes is primary), and on it quorum reads and writes on a few keys, recording an
// invoke/return history (unknown outcomes kept as such) for the linearizability checker.
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

export type Outcome = { kind: 'reply'; text: string | null; error: string | null } | { kind: 'lost' };

/** One request within OP_TIMEOUT_MS, its reply classified (arrays and integers: no text, no error). */
export async function request(conn: RespConnection, argv: readonly string[]): Promise<Outcome> {
  const c = await callWithin(conn, argv, OP_TIMEOUT_MS);
  if (!c.ok) return { kind: 'lost' };
  const rep = c.reply;
  if (rep.type === 'error') return { kind: 'reply', text: null, error: rep.message };
  if (rep.type === 'bulk' || rep.type === 'simple') return { kind: 'reply', text: rep.value.toString('latin1'), error: null };
  return { kind: 'reply', text: null, error: null };
}

/**
 * How one client step left its connection: keep using it; move to the next node (a refusal
 * naming another primary, NOQUORUM); or drop it and move on (no reply: what it will still
 * deliver is unknown).
 */
export type StepEnd = 'keep' | 'next-node' | 'lost';

export interface ClientLoops {
  /** Stop issuing steps; resolves when every client finished its current one. */
  stop(): Promise<void>;
}

/**
 * Run `clients` concurrent clients against a Cluster until stop(): each opens a connection to
 * the node it believes is primary (first a seeded pick, then the next node after each
 * 'next-node' or 'lost'), sends `setup` on it (e.g. CONSISTENCY QUORUM), and runs `step` on it
 * again and again. The one connection-routing loop of the real-process cluster workloads.
 */
export function runClients(
  cluster: Cluster,
  rng: Rng,
  clients: number,
  step: (conn: RespConnection, client: number) => Promise<StepEnd>,
  setup: readonly (readonly string[])[] = [],
): ClientLoops {
  let stopping = false;
  const loop = async (c: number): Promise<void> => {
    const nodes = cluster.nodes;
    let target = rng.int(nodes.length);
    let conn: RespConnection | null = null;
    while (!stopping) {
      if (conn === null) {
        const r = await connectResp('127.0.0.1', (nodes[target] as (typeof nodes)[number]).port, OP_TIMEOUT_MS);
        let ready = r.ok;
        for (const argv of setup) {
          if (!r.ok || !ready) break;
          const o = await request(r.conn, argv);
          ready = o.kind === 'reply' && o.error === null;
        }
        if (!r.ok || !ready) {
          if (r.ok) r.conn.close();
          target = (target + 1) % nodes.length;
          continue;
        }
        conn = r.conn;
      }
      const end = await step(conn, c);
      if (end === 'keep') continue;
      if (end === 'lost') {
        conn.close();
        conn = null;
      } else if (nodes.length > 1) {
        conn.close();
        conn = null;
      }
      target = (target + 1) % nodes.length;
    }
    conn?.close();
  };
  const running = Array.from({ length: clients }, (_, c) => loop(c));
  return {
    stop: async () => {
      stopping = true;
      await Promise.all(running);
    },
  };
}

/** Start `clients` clients on `keys` keys; each op goes to the node the client believes is primary. */
export function startWorkload(cluster: Cluster, rng: Rng, clients: number, keys: number): Workload {
  const history: KvOp[] = [];
  const stats: WorkloadStats = { putsOk: 0, putsUnknown: 0, putsRefused: 0, getsOk: 0, getsFailed: 0, errors: new Map() };
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  let generation = 0;
  const noteError = (e: string): void => noteErrorWord(stats.errors, e);
  const seq = new Array<number>(clients).fill(0);

  const step = async (conn: RespConnection, c: number): Promise<StepEnd> => {
    const key = `g${generation}:k${rng.int(keys)}`;
    const isPut = rng.next() < 0.5;
    const invokeMs = now();
    if (isPut) {
      const value = `c${c}-${seq[c] = (seq[c] ?? 0) + 1}`;
      const o = await request(conn, ['SET', key, value, 'QUORUM']);
      if (o.kind === 'reply' && o.text === 'OK') {
        stats.putsOk++;
        history.push({ kind: 'put', key, value, invokeMs, returnMs: now() });
        return 'keep';
      }
      if (o.kind === 'reply' && o.error !== null && !o.error.startsWith('NOQUORUM')) {
        // READONLY, TRYAGAIN, TOOSTALE, NOTPRIMARY: refused before it was logged, so it never takes effect.
        stats.putsRefused++;
        noteError(o.error);
        return 'next-node';
      }
      // NOQUORUM or no reply: it may or may not take effect, at any time from now on.
      stats.putsUnknown++;
      noteError(o.kind === 'reply' && o.error !== null ? o.error : 'TIMEOUT');
      history.push({ kind: 'put', key, value, invokeMs, returnMs: undefined });
      return o.kind === 'lost' ? 'lost' : 'next-node';
    }
    const o = await request(conn, ['GET', key, 'QUORUM']);
    if (o.kind === 'reply' && o.error === null) {
      stats.getsOk++;
      history.push({ kind: 'get', key, value: o.text, invokeMs, returnMs: now() });
      return 'keep';
    }
    // A failed read imposes nothing on the history.
    stats.getsFailed++;
    noteError(o.kind === 'reply' && o.error !== null ? o.error : 'TIMEOUT');
    return o.kind === 'lost' ? 'lost' : 'next-node';
  };

  const loops = runClients(cluster, rng, clients, step);
  return {
    history,
    stats,
    nextGeneration: () => {
      generation++;
    },
    stop: () => loops.stop(),
  };
}

/** Count an error reply by its first word (NOQUORUM, READONLY...), for a test's summary. */
export function noteErrorWord(errors: Map<string, number>, e: string): void {
  const word = e.split(' ')[0] ?? e;
  errors.set(word, (errors.get(word) ?? 0) + 1);
}
