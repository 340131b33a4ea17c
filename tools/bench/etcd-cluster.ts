// An etcd cluster for the suite: N /usr/bin/etcd processes on 127.0.0.1 with ephemeral client
// and peer ports, data in temp dirs, started together with --initial-cluster-state new; waiting
// for a leader; stopping everything. Owns those processes; never binds beyond loopback.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { etcdCall } from '../../src/bench/etcd-driver.js';
import type { Endpoint } from '../../src/bench/run.js';
import { freePorts, startEtcdProcess, type ServerProc } from './servers.js';

/** How long an etcd cluster may take to elect its first leader. */
export const ETCD_LEADER_TIMEOUT_MS = 30_000;
const LEADER_POLL_MS = 100;

export interface EtcdCluster {
  readonly members: readonly ServerProc[];
  /** Client URLs in member order. */
  readonly urls: readonly string[];
  /** One member's command line with ports and dirs as placeholders, for the report. */
  readonly commandShown: string;
  /** The client URL of the current leader, or an error after the deadline. */
  leaderUrl(timeoutMs?: number): Promise<{ ok: true; url: string } | { ok: false; error: string }>;
  stop(): Promise<void>;
}

function endpointOf(url: string): Endpoint {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

interface StatusJson {
  readonly header?: { readonly member_id?: string };
  readonly leader?: string;
}

/** Start `n` members; resolves once every member accepts client connections. */
export async function startEtcdCluster(n: number): Promise<EtcdCluster> {
  const ports = await freePorts(2 * n);
  const root = mkdtempSync(join(tmpdir(), 'kvts-bench-etcd-'));
  const names = Array.from({ length: n }, (_, i) => `e${i + 1}`);
  const clientUrl = (i: number): string => `http://127.0.0.1:${ports[2 * i] as number}`;
  const peerUrl = (i: number): string => `http://127.0.0.1:${ports[2 * i + 1] as number}`;
  const initial = names.map((nm, i) => `${nm}=${peerUrl(i)}`).join(',');
  const argsOf = (i: number, dir: string): string[] => [
    '--name', names[i] as string,
    '--data-dir', dir,
    '--listen-client-urls', clientUrl(i),
    '--advertise-client-urls', clientUrl(i),
    '--listen-peer-urls', peerUrl(i),
    '--initial-advertise-peer-urls', peerUrl(i),
    '--initial-cluster', initial,
    '--initial-cluster-state', 'new',
    '--initial-cluster-token', `kvts-bench-${ports[0] as number}`,
    '--logger', 'zap',
    '--log-level', 'error',
  ];
  const members: ServerProc[] = [];
  try {
    // All at once: a member blocks its start-up until it can reach the others.
    const started = await Promise.allSettled(names.map((_, i) => startEtcdProcess(argsOf(i, join(root, names[i] as string)), ports[2 * i] as number, mkdtempSync(join(root, 'run-')))));
    for (const s of started) if (s.status === 'fulfilled') members.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
  } catch (e) {
    await Promise.all(members.map((m) => m.stop()));
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
  const urls = names.map((_, i) => clientUrl(i));
  const shown = ['etcd', ...argsOf(0, '<tmp>')]
    .join(' ')
    .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:<port>')
    .replace(/kvts-bench-\d+/, 'kvts-bench');
  return {
    members,
    urls,
    commandShown: shown,
    async leaderUrl(timeoutMs = ETCD_LEADER_TIMEOUT_MS) {
      const deadline = Date.now() + timeoutMs;
      let last = 'no answer';
      for (;;) {
        for (const url of urls) {
          const r = await etcdCall(endpointOf(url), '/v3/maintenance/status', {});
          if (!r.ok) {
            last = r.error;
            continue;
          }
          const st = r.json as StatusJson;
          // The member whose own id is the leader id it reports.
          if (st.leader !== undefined && st.leader !== '0' && st.leader === st.header?.member_id) return { ok: true, url };
          last = `leader ${st.leader ?? '?'}`;
        }
        if (Date.now() > deadline) return { ok: false, error: `no etcd leader within ${timeoutMs} ms (last: ${last})` };
        await delay(LEADER_POLL_MS);
      }
    },
    async stop() {
      await Promise.all(members.map((m) => m.stop()));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
