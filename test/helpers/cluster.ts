// An N-node kv-server cluster of real processes on 127.0.0.1 for tests and the failover bench:
// every node reaches each peer through its own TcpProxy (proxy[from][to]), or, for live
// membership changes (one configured address per member), through one proxy in front of each
// member that cuts the links named nodes dialled; so any pair can be partitioned (the proxies
// pass TLS links too: they move bytes); nodes can be SIGKILLed, restarted, SIGSTOPped and
// resumed, and added, dropped or moved to a new address. Owns those processes, proxies and data directories and
// always removes them in stop(); never talks to other hosts.

import { rmSync } from 'node:fs';
import type { CallResult } from '../../src/client/resp-conn.js';
import { CALL_TIMEOUT_MS, callOnce, replyText } from './call.js';
import { tryInfo } from './info.js';
import { lowPorts, startKvServer, tempDir, type RunningProcess } from './procs.js';
import { replicationLinkFrom, TcpProxy } from './proxy.js';
import { waitFor } from './wait.js';

/** Lines of each node's log included in a failure dump. */
const LOG_TAIL_LINES = 40;

export type NodeState = 'running' | 'killed' | 'paused';

export interface ClusterNode {
  readonly id: string;
  readonly port: number;
  readonly dir: string;
  readonly address: string;
  /** The plain port this helper's calls use: `port` itself, except in a TLS cluster (see ClusterOptions.tlsArgs). */
  readonly clientPort: number;
  /** The --cluster value this node is started with (peers' addresses point at proxies); '' for a node added later. */
  readonly clusterArg: string;
  /** Its membership flags on every (re)start: --cluster clusterArg, or what addNode was given (e.g. --join). */
  memberArgs: readonly string[];
  proc: RunningProcess | null;
  state: NodeState;
  /** Output of earlier incarnations (before restarts), for failure dumps. */
  previousOutput: string;
}

export interface ClusterOptions {
  readonly nodes: number;
  /** Extra kv-server flags for every node. */
  readonly args?: readonly string[];
  /**
   * Route peer traffic through proxies (default true): one per ordered pair, each node's
   * --cluster naming its own. 'per-member': one proxy in front of each node, whose address every
   * member is configured with (a membership change gives all members one address per member);
   * partitions then cut the links by who dialled them. false: nodes dial each other directly.
   */
  readonly proxies?: boolean | 'per-member';
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
  /** Nodes dropped by dropNode: their logs stay for failure dumps, their ports and proxies for a successor. */
  private readonly dropped = new Map<string, ClusterNode>();
  private stopped = false;

  private constructor(
    private readonly list: ClusterNode[],
    private readonly opts: ClusterOptions,
  ) {}

  /** The members this helper runs (dropped nodes excluded). */
  get nodes(): readonly ClusterNode[] {
    return this.list;
  }

  /** Start every node (ports, proxies and data directories are fresh) and wait until each accepts connections. */
  static async start(opts: ClusterOptions): Promise<Cluster> {
    const ids = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
    // Below the ephemeral range: the proxies started next listen on port 0, and one that took a
    // member's port made that member fail to listen and the proxy dial itself in a loop.
    const ports = await lowPorts(ids.length);
    const clientPorts = opts.tlsArgs === undefined ? ports : await lowPorts(ids.length);
    const proxied = opts.proxies === true || opts.proxies === undefined;
    const proxies = new Map<string, TcpProxy>();
    const nodes: ClusterNode[] = [];
    try {
      if (opts.proxies === 'per-member') for (let j = 0; j < ids.length; j++) proxies.set(memberKey(ids[j] as string), await TcpProxy.start(ports[j] as number));
      for (let i = 0; i < ids.length; i++) {
        const members: string[] = [];
        for (let j = 0; j < ids.length; j++) {
          let addr = proxies.get(memberKey(ids[j] as string))?.address ?? `127.0.0.1:${ports[j] as number}`;
          if (i !== j && proxied) {
            const px = await TcpProxy.start(ports[j] as number);
            proxies.set(`${ids[i] as string}>${ids[j] as string}`, px);
            addr = px.address;
          }
          members.push(`${ids[j] as string}=${addr}`);
        }
        const port = ports[i] as number;
        const clusterArg = members.join(',');
        nodes.push({ id: ids[i] as string, port, clientPort: clientPorts[i] as number, dir: tempDir('kvts-cluster-'), address: `127.0.0.1:${port}`, clusterArg, memberArgs: ['--cluster', clusterArg], proc: null, state: 'killed', previousOutput: '' });
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

  /** Per-member proxies: the proxy in front of `id`, at the address the members are configured with. */
  memberProxy(id: string): TcpProxy {
    const p = this.proxies.get(memberKey(id));
    if (p === undefined) throw new Error(`no proxy in front of ${id} (cluster started without per-member proxies?)`);
    return p;
  }

  /** Black-hole all traffic between the two groups (both directions of every crossing pair). */
  partition(a: readonly string[], b: readonly string[]): void {
    if (this.opts.proxies === 'per-member') {
      for (const x of a) this.memberProxy(x).blackholeMatching(replicationLinkFrom(b));
      for (const y of b) this.memberProxy(y).blackholeMatching(replicationLinkFrom(a));
      return;
    }
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
    const tls = this.opts.tlsArgs === undefined ? [] : ['--tls-port', String(n.port), ...this.opts.tlsArgs];
    n.proc = await startKvServer({
      port: n.clientPort,
      dir: n.dir,
      args: ['--node-id', n.id, ...n.memberArgs, ...tls, ...(this.opts.args ?? [])],
      ...(this.opts.env !== undefined ? { env: this.opts.env } : {}),
      ...(this.opts.readyTimeoutMs !== undefined ? { readyTimeoutMs: this.opts.readyTimeoutMs } : {}),
    });
    n.state = 'running';
  }

  /**
   * A node that is not in the starting membership, with a fresh data directory and
   * `memberArgs(address)` as its membership flags (e.g. --join), `address` being where the
   * members will dial it: per-member mode, a new proxy in front of a new port, or, with
   * `sameAddressAs` a dropped node, that node's port and proxy (a replacement at the same
   * address). Not started: restart() starts it (partitions already count it as a node).
   */
  async addNode(id: string, memberArgs: (address: string) => readonly string[], sameAddressAs?: string): Promise<ClusterNode> {
    if (this.opts.tlsArgs !== undefined) throw new Error('addNode: not for TLS clusters');
    if (this.list.some((n) => n.id === id) || this.dropped.has(id)) throw new Error(`node id ${id} was used before`);
    let port: number;
    if (sameAddressAs !== undefined) {
      const old = this.dropped.get(sameAddressAs);
      if (old === undefined) throw new Error(`${sameAddressAs} was not dropped`);
      port = old.port;
    } else {
      port = (await lowPorts(1))[0] as number;
      if (this.opts.proxies === 'per-member') this.proxies.set(memberKey(id), await TcpProxy.start(port));
    }
    const px = this.proxies.get(memberKey(sameAddressAs ?? id));
    if (px !== undefined && sameAddressAs !== undefined) this.proxies.set(memberKey(id), px);
    const address = px?.address ?? `127.0.0.1:${port}`;
    const n: ClusterNode = { id, port, clientPort: port, dir: tempDir('kvts-cluster-'), address: `127.0.0.1:${port}`, clusterArg: '', memberArgs: memberArgs(address), proc: null, state: 'killed', previousOutput: '' };
    this.list.push(n);
    return n;
  }

  /** SIGKILL a node and stop running it as a member (removed, or replaced); its data goes, its log stays for failure dumps. */
  async dropNode(id: string): Promise<void> {
    const n = this.node(id);
    await this.kill(id);
    this.list.splice(this.list.indexOf(n), 1);
    this.dropped.set(id, n);
    rmSync(n.dir, { recursive: true, force: true });
  }

  /**
   * Per-member mode: give a killed node a new port behind a new proxy, keeping its data
   * directory; returns the new address (for MEMBER ADDRESS). `memberArgs(address)` are its
   * membership flags from now on. Restart it with restart().
   */
  async moveNode(id: string, memberArgs: (address: string) => readonly string[]): Promise<string> {
    const old = this.node(id);
    if (old.state !== 'killed') throw new Error(`${id} is ${old.state}: kill it before moving it`);
    const port = (await lowPorts(1))[0] as number;
    const px = await TcpProxy.start(port);
    const oldPx = this.proxies.get(memberKey(id));
    // The old proxy keeps its place in the map under another key, so stop() still closes it.
    if (oldPx !== undefined) this.proxies.set(`${memberKey(id)}@${oldPx.port}`, oldPx);
    this.proxies.set(memberKey(id), px);
    const moved: ClusterNode = { ...old, port, clientPort: port, address: `127.0.0.1:${port}`, memberArgs: memberArgs(px.address) };
    this.list[this.list.indexOf(old)] = moved;
    return px.address;
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

  /** Wait until every node runs and all report the same DEBUG DIGEST; returns it. */
  async waitConverged(timeoutMs = 30_000): Promise<string> {
    let last = '';
    try {
      return await waitFor(
        'equal DEBUG DIGEST on all nodes',
        async () => {
          if (this.running().length !== this.nodes.length) return null;
          const d = await this.digests();
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
    return [...this.dropped.values(), ...this.nodes]
      .map((n) => {
        const all = (n.previousOutput + (n.proc?.output() ?? '')).split('\n');
        return `----- ${n.id} (${this.dropped.has(n.id) ? 'dropped' : n.state}) -----\n${all.slice(-lines).join('\n')}`;
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

/** The proxies map's key of the proxy in front of member `id` (per-member mode). */
function memberKey(id: string): string {
  return `>${id}`;
}
