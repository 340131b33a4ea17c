// An N-node kv-server cluster of real processes on 127.0.0.1 for tests and the failover bench:
// every node reaches each peer through its own TcpProxy (proxy[from][to]), so any pair can be
// partitioned (the proxies pass TLS links too: they move bytes); nodes can be SIGKILLed,
// restarted (also on a new port), SIGSTOPped and resumed, and new nodes can join the running
// cluster (kv-server --join, dialled directly, not through proxies). Owns those processes, proxies and data directories and
// always removes them in stop(); never talks to other hosts.

import { rmSync } from 'node:fs';
import type { CallResult } from '../../src/client/resp-conn.js';
import { CALL_TIMEOUT_MS, callOnce, replyText } from './call.js';
import { tryInfo } from './info.js';
import { lowPorts, startKvServer, tempDir, type RunningProcess } from './procs.js';
import { TcpProxy } from './proxy.js';
import { waitFor } from './wait.js';

/** Lines of each node's log included in a failure dump. */
const LOG_TAIL_LINES = 40;
/** A joining node listens once the primary added it: an election or a change in progress may delay that. */
const JOIN_READY_TIMEOUT_MS = 60_000;

export type NodeState = 'running' | 'killed' | 'paused';

export interface ClusterNode {
  readonly id: string;
  /** The port and address change only with restartOnNewPort. */
  port: number;
  readonly dir: string;
  address: string;
  /** The plain port this helper's calls use: `port` itself, except in a TLS cluster (see ClusterOptions.tlsArgs). */
  clientPort: number;
  /** The --cluster value this node is started with (peers' addresses point at proxies); '' for a node that joined (its data directory knows its cluster). */
  clusterArg: string;
  proc: RunningProcess | null;
  state: NodeState;
  /** Output of earlier incarnations (before restarts), for failure dumps. */
  previousOutput: string;
}

export interface ClusterOptions {
  readonly nodes: number;
  /** Extra kv-server flags for every node. */
  readonly args?: readonly string[];
  /** Route peer traffic through proxies (default true). Without, nodes dial each other directly. */
  readonly proxies?: boolean;
  readonly env?: Record<string, string>;
  /**
   * A TLS cluster: these flags (certificate files, `--tls-cluster yes`) for every node. The ports
   * in --cluster are then the members' TLS ports (`port`), and each node also listens on a plain
   * `clientPort` for this helper's calls.
   */
  readonly tlsArgs?: readonly string[];
  /** How long each node's start may take before it accepts connections (default: startKvServer's). */
  readonly readyTimeoutMs?: number;
}

export class Cluster {
  private readonly proxies = new Map<string, TcpProxy>();
  private stopped = false;

  private constructor(
    private readonly members: ClusterNode[],
    private readonly opts: ClusterOptions,
  ) {}

  /** Start every node (ports, proxies and data directories are fresh) and wait until each accepts connections. */
  static async start(opts: ClusterOptions): Promise<Cluster> {
    const ids = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
    // Below the ephemeral range: the proxies started next listen on port 0, and one that took a
    // member's port made that member fail to listen and the proxy dial itself in a loop.
    const ports = await lowPorts(ids.length);
    const clientPorts = opts.tlsArgs === undefined ? ports : await lowPorts(ids.length);
    const proxied = opts.proxies !== false;
    const proxies = new Map<string, TcpProxy>();
    const nodes: ClusterNode[] = [];
    try {
      for (let i = 0; i < ids.length; i++) {
        const members: string[] = [];
        for (let j = 0; j < ids.length; j++) {
          let addr = `127.0.0.1:${ports[j] as number}`;
          if (i !== j && proxied) {
            const px = await TcpProxy.start(ports[j] as number);
            proxies.set(`${ids[i] as string}>${ids[j] as string}`, px);
            addr = px.address;
          }
          members.push(`${ids[j] as string}=${addr}`);
        }
        const port = ports[i] as number;
        nodes.push({ id: ids[i] as string, port, clientPort: clientPorts[i] as number, dir: tempDir('kvts-cluster-'), address: `127.0.0.1:${port}`, clusterArg: members.join(','), proc: null, state: 'killed', previousOutput: '' });
      }
    } catch (e) {
      for (const p of proxies.values()) await p.close();
      throw e;
    }
    const cluster = new Cluster(nodes, opts);
    for (const [k, p] of proxies) cluster.proxies.set(k, p);
    try {
      await Promise.all(nodes.map((n) => cluster.restart(n.id)));
    } catch (e) {
      await cluster.stop();
      throw e;
    }
    return cluster;
  }

  /** Every node started so far: the initial members, then those that joined. */
  get nodes(): readonly ClusterNode[] {
    return this.members;
  }

  node(id: string): ClusterNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** The proxy `from` dials to reach `to`. */
  proxy(from: string, to: string): TcpProxy {
    const p = this.proxies.get(`${from}>${to}`);
    if (p === undefined) throw new Error(`no proxy ${from}>${to} (cluster started without proxies?)`);
    return p;
  }

  /** Black-hole all traffic between the two groups (both directions of every crossing pair). */
  partition(a: readonly string[], b: readonly string[]): void {
    for (const x of a) {
      for (const y of b) {
        this.proxy(x, y).blackhole('both');
        this.proxy(y, x).blackhole('both');
      }
    }
  }

  /** Cut one node off from every other node. */
  isolate(id: string): void {
    this.partition([id], this.nodes.filter((n) => n.id !== id).map((n) => n.id));
  }

  /** Every proxy passes again (connections that lost bytes are reset so they reconnect cleanly). */
  heal(): void {
    for (const p of this.proxies.values()) p.pass();
  }

  /** Start (or restart after kill) a node with the same id, port, data directory and membership. */
  async restart(id: string): Promise<void> {
    const n = this.node(id);
    if (n.proc !== null && n.state !== 'killed') throw new Error(`${id} is ${n.state}`);
    if (n.proc !== null) n.previousOutput += n.proc.output();
    await this.launch(n, n.clusterArg === '' ? [] : ['--cluster', n.clusterArg]);
  }

  private async launch(n: ClusterNode, membership: readonly string[], readyTimeoutMs = this.opts.readyTimeoutMs): Promise<void> {
    const tls = this.opts.tlsArgs === undefined ? [] : ['--tls-port', String(n.port), ...this.opts.tlsArgs];
    n.proc = await startKvServer({
      port: n.clientPort,
      dir: n.dir,
      args: ['--node-id', n.id, ...membership, ...tls, ...(this.opts.args ?? [])],
      ...(this.opts.env !== undefined ? { env: this.opts.env } : {}),
      ...(readyTimeoutMs !== undefined ? { readyTimeoutMs } : {}),
    });
    n.state = 'running';
  }

  /**
   * Start a new node `id` (fresh port and data directory) with `kv-server --join` at member
   * `seed`; resolves once it listens, which it does after the primary added it. It dials and is
   * dialled directly (no proxies). Restarts of it run without --join: its data directory knows.
   */
  async join(id: string, seed: string, readyTimeoutMs = JOIN_READY_TIMEOUT_MS): Promise<ClusterNode> {
    const n = this.members.find((m) => m.id === id) ?? (await this.newNode(id));
    if (n.proc !== null) throw new Error(`${id} already started`);
    await this.launch(n, ['--join', this.node(seed).address], readyTimeoutMs);
    return n;
  }

  /** A node not started yet (its port and data directory chosen): MEMBER ADD can name it before it joins. */
  async newNode(id: string): Promise<ClusterNode> {
    if (this.opts.tlsArgs !== undefined) throw new Error('join: TLS clusters are not supported by this helper');
    if (this.members.some((m) => m.id === id)) throw new Error(`${id} already exists`);
    const [port] = await lowPorts(1);
    const n: ClusterNode = { id, port: port as number, clientPort: port as number, dir: tempDir('kvts-cluster-'), address: `127.0.0.1:${port as number}`, clusterArg: '', proc: null, state: 'killed', previousOutput: '' };
    this.members.push(n);
    return n;
  }

  /**
   * Restart a killed node with its data directory on a fresh port (a member that moved); its
   * --cluster entry names the new address. The others learn it from MEMBER ADDRESS.
   */
  async restartOnNewPort(id: string): Promise<void> {
    if (this.opts.tlsArgs !== undefined || this.proxies.size > 0) throw new Error('restartOnNewPort: only for clusters without proxies or TLS');
    const n = this.node(id);
    if (n.state !== 'killed') throw new Error(`${id} is ${n.state}`);
    const [port] = await lowPorts(1);
    const address = `127.0.0.1:${port as number}`;
    if (n.clusterArg !== '') n.clusterArg = n.clusterArg.replace(`${id}=${n.address}`, `${id}=${address}`);
    n.port = port as number;
    n.clientPort = port as number;
    n.address = address;
    await this.restart(id);
  }

  async kill(id: string): Promise<void> {
    const n = this.node(id);
    if (n.proc === null) return;
    await n.proc.kill('SIGKILL');
    n.state = 'killed';
  }

  /** SIGSTOP: the process keeps its sockets but runs nothing (a long GC pause, a frozen VM). */
  pause(id: string): void {
    const n = this.node(id);
    if (n.proc === null || n.state !== 'running') throw new Error(`${id} is not running`);
    n.proc.child.kill('SIGSTOP');
    n.state = 'paused';
  }

  resume(id: string): void {
    const n = this.node(id);
    if (n.proc === null || n.state !== 'paused') throw new Error(`${id} is not paused`);
    n.proc.child.kill('SIGCONT');
    n.state = 'running';
  }

  running(): ClusterNode[] {
    return this.nodes.filter((n) => n.state === 'running');
  }

  call(id: string, args: readonly string[], timeoutMs = CALL_TIMEOUT_MS): Promise<CallResult> {
    return callOnce(this.node(id).clientPort, args, timeoutMs);
  }

  /** INFO replication of a node as a map, or null when it does not answer. */
  async replicationInfo(id: string): Promise<Map<string, string> | null> {
    return tryInfo(this.node(id).clientPort);
  }

  /**
   * The node that is primary now: among running nodes claiming role master, the one with the
   * highest epoch (a deposed primary that has not heard the news yet has a lower one).
   */
  async primary(): Promise<string | null> {
    let best: { id: string; epoch: number } | null = null;
    for (const n of this.running()) {
      const info = await this.replicationInfo(n.id);
      if (info === null || info.get('role') !== 'master') continue;
      const epoch = Number(info.get('kv_epoch') ?? '-1');
      if (best === null || epoch > best.epoch) best = { id: n.id, epoch };
    }
    return best?.id ?? null;
  }

  /** Wait until some node is primary and accepts a write (an epoch's first no-op committed). */
  async waitForPrimary(timeoutMs = 15_000, except: readonly string[] = []): Promise<string> {
    return waitFor(
      'a primary that accepts writes',
      async () => {
        const p = await this.primary();
        if (p === null || except.includes(p)) return null;
        const r = await this.call(p, ['SET', '__probe__', p]);
        return r.ok && r.reply.type === 'simple' ? p : null;
      },
      { timeoutMs, intervalMs: 50 },
    );
  }

  /** The highest epoch any running node reports (-1 when none answers). */
  async highestEpoch(): Promise<number> {
    let best = -1;
    for (const n of this.running()) best = Math.max(best, Number((await this.replicationInfo(n.id))?.get('kv_epoch') ?? '-1'));
    return best;
  }

  /**
   * Run `fn` with the current primary, again (up to `attempts` times) when it fails and an
   * election happened meanwhile: a loaded machine can starve a primary's heartbeats past the
   * election timeout, which a test that assumes one primary throughout did not ask for.
   */
  async whileStable<T>(fn: (primaryId: string) => Promise<T>, attempts = 3): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const primaryId = await this.waitForPrimary();
      const epoch = await this.highestEpoch();
      try {
        return await fn(primaryId);
      } catch (e) {
        if (attempt >= attempts || (await this.highestEpoch()) === epoch) throw e;
        process.stdout.write(`# an election during attempt ${attempt} (epoch ${epoch} -> ${await this.highestEpoch()}): run again\n`);
      }
    }
  }

  /** DEBUG DIGEST of every running node. */
  async digests(): Promise<Map<string, string | null>> {
    const out = new Map<string, string | null>();
    for (const n of this.running()) {
      const r = await this.call(n.id, ['DEBUG', 'DIGEST']);
      out.set(n.id, r.ok ? replyText(r.reply) : null);
    }
    return out;
  }

  /** Wait until every node (or each of `only`) runs and all report the same DEBUG DIGEST; returns it. */
  async waitConverged(timeoutMs = 30_000, only?: readonly string[]): Promise<string> {
    let last = '';
    const ids = only ?? this.nodes.map((n) => n.id);
    try {
      return await waitFor(
        `equal DEBUG DIGEST on ${ids.join(',')}`,
        async () => {
          if (ids.some((id) => this.node(id).state !== 'running')) return null;
          const d = await this.digests();
          for (const k of [...d.keys()]) if (!ids.includes(k)) d.delete(k);
          const vals = [...d.values()];
          last = [...d.entries()].map(([k, v]) => `${k}=${v ?? 'no answer'}`).join(' ');
          const first = vals[0];
          return first !== null && first !== undefined && vals.every((v) => v === first) ? first : null;
        },
        { timeoutMs, intervalMs: 100 },
      );
    } catch (e) {
      throw new Error(`${(e as Error).message}; last digests: ${last}`);
    }
  }

  /** The tail of every node's log, for assertion messages. */
  logs(lines = LOG_TAIL_LINES): string {
    return this.nodes
      .map((n) => {
        const all = (n.previousOutput + (n.proc?.output() ?? '')).split('\n');
        return `----- ${n.id} (${n.state}) -----\n${all.slice(-lines).join('\n')}`;
      })
      .join('\n');
  }

  /** The tail of every node's log on stdout as test diagnostics, for a test that is failing. */
  printLogs(lines = LOG_TAIL_LINES): void {
    process.stdout.write(`# cluster logs:\n${this.logs(lines).replace(/^/gm, '# ')}\n`);
  }

  /** Kill every node (resuming paused ones is unnecessary for SIGKILL), close proxies, remove data. Safe twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const n of this.nodes) {
      if (n.proc !== null) await n.proc.kill('SIGKILL');
      n.state = 'killed';
    }
    for (const p of this.proxies.values()) await p.close();
    for (const n of this.nodes) rmSync(n.dir, { recursive: true, force: true });
  }
}
