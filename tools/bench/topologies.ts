// Replicated server set-ups for the suite, each ready before it is returned: a primary with
// replicas (redis-server --replicaof / kv-server --replica-of) and a kv-server cluster with an
// elected primary. Owns the waiting (INFO replication, with deadlines); never measures.

import { setTimeout as delay } from 'node:timers/promises';
import { info, replicaLine } from './info.js';
import { freePorts, startKv, startRedis, type ServerProc } from './servers.js';

/** A primary's replicas must be streaming within this long after start. */
export const REPLICAS_READY_TIMEOUT_MS = 30_000;
/** A fresh cluster must elect a primary with all links up within this long. */
export const CLUSTER_READY_TIMEOUT_MS = 30_000;
const READY_POLL_MS = 50;

export type Flavor = 'redis' | 'kv-ts';

export const REDIS_PRIMARY_ARGS: readonly string[] = ['--repl-diskless-sync-delay', '0', '--shutdown-timeout', '0'];

export interface Replicated {
  readonly flavor: Flavor;
  readonly primary: ServerProc;
  readonly replicas: readonly ServerProc[];
  stop(): Promise<void>;
}

/** True when the primary lists `n` replicas online and every replica says its link is up and synced. */
async function replicasStreaming(primary: ServerProc, replicas: readonly ServerProc[]): Promise<boolean> {
  const p = await info(primary.port, 'replication');
  const online = [...p.entries()].filter(([k, v]) => /^slave\d+$/.test(k) && replicaLine(v).get('state') === 'online').length;
  if (online < replicas.length) return false;
  for (const r of replicas) {
    const i = await info(r.port, 'replication');
    if (i.get('master_link_status') !== 'up' || i.get('master_sync_in_progress') === '1') return false;
    // A redis replica with AOF rewrites its AOF after a full sync (and refuses SIGTERM until it
    // is done): not ready until then, so the rewrite neither skews the measurement nor the stop.
    const p = await info(r.port, 'persistence');
    if (p.get('aof_rewrite_in_progress') === '1' || p.get('aof_rewrite_scheduled') === '1') return false;
  }
  return true;
}

async function waitUntil(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(READY_POLL_MS);
  }
}

/** A primary and `n` replicas of one flavour, all with the same fsync policy, replicas streaming. */
export async function startReplicated(flavor: Flavor, fsync: string, n: number): Promise<Replicated> {
  // Redis 7 defaults that only cost wall time here: a 5 s delay before the first (diskless) full
  // sync, and a primary that waits up to 10 s at shutdown for replicas we are stopping anyway.
  const primary = flavor === 'redis' ? await startRedis(fsync, REDIS_PRIMARY_ARGS) : await startKv(fsync);
  const replicas: ServerProc[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all([primary, ...replicas].map((s) => s.stop()));
  };
  try {
    for (let i = 0; i < n; i++) {
      const extra = flavor === 'redis' ? ['--replicaof', '127.0.0.1', String(primary.port)] : ['--replica-of', `127.0.0.1:${primary.port}`];
      replicas.push(flavor === 'redis' ? await startRedis(fsync, extra) : await startKv(fsync, extra));
    }
    await waitUntil(`${n} ${flavor} replicas streaming from ${primary.port}`, REPLICAS_READY_TIMEOUT_MS, () => replicasStreaming(primary, replicas));
  } catch (e) {
    await stop();
    throw e;
  }
  return { flavor, primary, replicas, stop };
}

export interface KvCluster {
  readonly nodes: readonly ServerProc[];
  /** The elected primary (accepts writes, links to every member up). */
  readonly primary: ServerProc;
  stop(): Promise<void>;
}

/** The node that says it is primary, accepts writes and has every link up; undefined if none yet. */
async function clusterPrimary(nodes: readonly ServerProc[]): Promise<ServerProc | undefined> {
  let best: { node: ServerProc; epoch: number } | undefined;
  for (const node of nodes) {
    const i = await info(node.port, 'replication');
    if (i.get('role') !== 'master' || i.get('kv_cluster_accepts_writes') !== '1') continue;
    if (Number(i.get('kv_cluster_links_up') ?? '0') < nodes.length - 1) continue;
    const epoch = Number(i.get('kv_epoch') ?? '-1');
    if (best === undefined || epoch > best.epoch) best = { node, epoch };
  }
  return best?.node;
}

/** An `n`-node kv-server cluster (ids n1..nN, direct links) with an elected primary. */
export async function startKvCluster(n: number, fsync: string): Promise<KvCluster> {
  const ports = await freePorts(n);
  const members = ports.map((p, i) => `n${i + 1}=127.0.0.1:${p}`).join(',');
  const nodes: ServerProc[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((s) => s.stop()));
  };
  try {
    const started = await Promise.allSettled(ports.map((p, i) => startKv(fsync, ['--node-id', `n${i + 1}`, '--cluster', members], p)));
    for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
    let primary: ServerProc | undefined;
    await waitUntil(`a primary among ${n} kv-server cluster nodes`, CLUSTER_READY_TIMEOUT_MS, async () => {
      primary = await clusterPrimary(nodes);
      return primary !== undefined;
    });
    if (primary === undefined) throw new Error('unreachable: waitUntil returned without a primary');
    return { nodes, primary, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
