// Real processes for integration tests: kv-server and redis-server on 127.0.0.1 with
// ephemeral ports, temp data directories, and cleanup that always runs; a primary with a replica;
// a test file's servers and connections, closed after its last test.

import { after, before } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, portAccepts } from '../../tools/lib/ports.js';
import { waitFor } from './wait.js';
import { RawConn } from './server-conn.js';

export { freePort, portAccepts };

const here = dirname(fileURLToPath(import.meta.url));
/** Repository root (dist/test/helpers -> ../../..). */
export const REPO_ROOT = join(here, '..', '..', '..');
export const KV_SERVER_JS = join(REPO_ROOT, 'dist', 'src', 'cli', 'kv-server.js');
export const KV_CLI_JS = join(REPO_ROOT, 'dist', 'src', 'cli', 'kv-cli.js');

export function tempDir(prefix = 'kvts-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A temp-dir maker for one test file: every directory it made is removed after the file's tests. */
export function tempDirsRemovedAfter(prefix: string): () => string {
  const made: string[] = [];
  after(() => {
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = tempDir(prefix);
    made.push(d);
    return d;
  };
}


/** Can this process bind 127.0.0.1:port right now? */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Ports handed out by lowPorts in this process (never twice). */
const handedOut = new Set<number>();

/**
 * `count` ports (consecutive when asked) that bind now, from below the kernel's ephemeral range.
 * For ports that stay unbound for a while after they are picked (a cluster's members are named
 * before they start, and proxies start in between): a port from freePort is inside the
 * ephemeral range, where any listen(0) or outgoing connection, the test's own proxies included,
 * can take it before the server binds it. Below the range only another explicit bind can.
 */
export async function lowPorts(count: number, consecutive = false): Promise<number[]> {
  const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  const top = Number.isFinite(low) && low > 12_000 ? low - count : 30_000;
  const bottom = 10_000;
  // Concurrent test processes start their scans far apart (a spread of the pid).
  let p = bottom + ((process.pid * 7919) % (top - bottom));
  const out: number[] = [];
  for (let tries = 0; tries < 2000 && out.length < count; tries++, p = p + 1 >= top ? bottom : p + 1) {
    if (consecutive) {
      const run = Array.from({ length: count }, (_, k) => p + k);
      if (run.some((x) => handedOut.has(x))) continue;
      let ok = true;
      for (const x of run) if (!(await canBind(x))) ok = false;
      if (ok) out.push(...run);
    } else if (!handedOut.has(p) && (await canBind(p))) out.push(p);
  }
  if (out.length < count) throw new Error(`no ${count} free ports below ${top}`);
  for (const x of out) handedOut.add(x);
  return out;
}

export interface RunningProcess {
  readonly port: number;
  readonly dir: string;
  readonly child: ChildProcess;
  /** Everything the process printed so far (stdout + stderr). */
  output(): string;
  /** SIGKILL and wait for exit. */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  exited(): Promise<number | null>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

function track(child: ChildProcess, port: number, dir: string): RunningProcess {
  live.add(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exitP = new Promise<number | null>((resolve) => {
    child.once('exit', (code, sig) => {
      live.delete(child);
      resolve(code ?? (sig !== null ? -1 : null));
    });
  });
  return {
    port,
    dir,
    child,
    output: () => out,
    exited: () => exitP,
    kill: async (signal: NodeJS.Signals = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exitP;
    },
  };
}

/** Lines of a server's output in the error when it never became ready. */
const READY_FAILURE_LINES = 40;
/**
 * How long a kv-server may take to accept connections by default. A start takes well under a
 * second on a quiet machine, but a loaded 2-core CI run saw starts past 10 s; a start that never
 * comes still fails, with the server's output.
 */
const READY_TIMEOUT_MS = 30_000;

export interface KvServerOptions {
  readonly port?: number;
  readonly dir?: string;
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  /** Wait until the port accepts connections. Default true. */
  readonly waitReady?: boolean;
  /** How long that wait may take (a start that first restores a backup takes longer). Default READY_TIMEOUT_MS. */
  readonly readyTimeoutMs?: number;
}

export async function startKvServer(opts: KvServerOptions = {}): Promise<RunningProcess> {
  const port = opts.port ?? (await freePort());
  const dir = opts.dir ?? tempDir();
  const child = spawn(
    process.execPath,
    [KV_SERVER_JS, '--port', String(port), '--host', '127.0.0.1', '--dir', dir, ...(opts.args ?? [])],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } },
  );
  const proc = track(child, port, dir);
  if (opts.waitReady !== false) {
    try {
      await waitFor(`kv-server on ${port}`, async () => {
        if (child.exitCode !== null) throw new Error(`kv-server exited ${child.exitCode}: ${proc.output()}`);
        return portAccepts(port);
      }, { timeoutMs: opts.readyTimeoutMs ?? READY_TIMEOUT_MS });
    } catch (e) {
      if (child.exitCode !== null) throw e; // its output is in the message already
      // Nobody gets a handle on a server that never became ready: stop it here, and say what it printed.
      await proc.kill('SIGKILL');
      throw new Error(`${(e as Error).message}; its last output:\n${proc.output().split('\n').slice(-READY_FAILURE_LINES).join('\n')}`);
    }
  }
  return proc;
}

export async function startRedisServer(extraArgs: readonly string[] = []): Promise<RunningProcess> {
  const port = await freePort();
  const dir = tempDir('kvts-redis-');
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const proc = track(child, port, dir);
  await waitFor(`redis-server on ${port}`, async () => {
    if (child.exitCode !== null) throw new Error(`redis-server exited ${child.exitCode}: ${proc.output()}`);
    return portAccepts(port);
  });
  return proc;
}

/**
 * A redis-server with cluster support on and no slots assigned. Its cluster bus gets a free port
 * of its own: Redis's default, the port + 10000, does not exist above port 55535.
 */
export async function startRedisClusterNode(): Promise<RunningProcess> {
  return startRedisServer(['--cluster-enabled', 'yes', '--cluster-port', String(await freePort())]);
}

/** Kill (SIGKILL unless told) and remove the data directory. Safe to call twice. */
export async function stopAndClean(p: RunningProcess | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (p === undefined) return;
  await p.kill(signal);
  rmSync(p.dir, { recursive: true, force: true });
}

/**
 * A kv-server and a redis-server shared by one test file's differential tests: started before
 * its first test and stopped after its last. Read the ports inside tests.
 */
export function serverPairPerFile(): { kvPort(): number; redisPort(): number } {
  let kv: RunningProcess | undefined;
  let redis: RunningProcess | undefined;
  before(async () => {
    kv = await startKvServer();
    redis = await startRedisServer();
  });
  after(async () => {
    await stopAndClean(kv);
    await stopAndClean(redis);
  });
  const portOf = (p: RunningProcess | undefined): number => {
    if (p === undefined) throw new Error('the server pair is started by before(): read ports inside tests');
    return p.port;
  };
  return { kvPort: () => portOf(kv), redisPort: () => portOf(redis) };
}

/** The arguments that make a kv-server a replica of the one on 127.0.0.1:`primaryPort`, then `args`. */
export function replicaOfArgs(primaryPort: number, args: readonly string[] = []): string[] {
  return ['--replica-of', `127.0.0.1:${primaryPort}`, ...args];
}

export interface PrimaryReplicaOptions {
  readonly primaryArgs?: readonly string[];
  readonly replicaArgs?: readonly string[];
}

/** A kv-server primary and a replica of it (not waited for to link); the primary is stopped when the replica cannot start. */
export async function startPrimaryAndReplica(opts: PrimaryReplicaOptions = {}): Promise<{ primary: RunningProcess; replica: RunningProcess }> {
  const primary = await startKvServer({ args: opts.primaryArgs ?? [] });
  try {
    return { primary, replica: await startKvServer({ args: replicaOfArgs(primary.port, opts.replicaArgs) }) };
  } catch (e) {
    await stopAndClean(primary);
    throw e;
  }
}

/** `fn` with a primary and a replica of it, both stopped after it (also when it throws). */
export async function withPrimaryAndReplica<T>(fn: (primary: RunningProcess, replica: RunningProcess) => Promise<T>, opts: PrimaryReplicaOptions = {}): Promise<T> {
  const { primary, replica } = await startPrimaryAndReplica(opts);
  try {
    return await fn(primary, replica);
  } finally {
    await stopAndClean(replica);
    await stopAndClean(primary);
  }
}

/** A test file's kv-servers and connections (kvServersPerFile): all closed and stopped after its last test. */
export interface KvServerFrame {
  /** A server with a connection to it; `args` default to `--fsync no`. */
  open(args?: readonly string[], dir?: string): Promise<{ server: RunningProcess; c: RawConn }>;
  /** Another connection to the server on `port`. */
  conn(port: number): Promise<RawConn>;
  /** SIGKILL `server` and start another on its directory, with a connection to it. */
  killAndReopen(server: RunningProcess, args?: readonly string[]): Promise<{ server: RunningProcess; c: RawConn }>;
  /** A primary and a replica of it (startPrimaryAndReplica). */
  primaryAndReplica(opts?: PrimaryReplicaOptions): Promise<{ primary: RunningProcess; replica: RunningProcess }>;
}

export function kvServersPerFile(): KvServerFrame {
  const procs: RunningProcess[] = [];
  const conns: RawConn[] = [];
  after(async () => {
    for (const c of conns) c.close();
    for (const p of procs) await stopAndClean(p);
  });
  const conn = async (port: number): Promise<RawConn> => {
    const c = await RawConn.open(port);
    conns.push(c);
    return c;
  };
  const open = async (args: readonly string[] = ['--fsync', 'no'], dir?: string): Promise<{ server: RunningProcess; c: RawConn }> => {
    const server = await startKvServer({ args, ...(dir === undefined ? {} : { dir }) });
    procs.push(server);
    return { server, c: await conn(server.port) };
  };
  return {
    conn,
    open,
    killAndReopen: async (server, args) => {
      await server.kill('SIGKILL');
      return open(args, server.dir);
    },
    primaryAndReplica: async (opts) => {
      const pair = await startPrimaryAndReplica(opts);
      procs.push(pair.primary, pair.replica);
      return pair;
    },
  };
}
