// Server processes for the benchmark suite: redis-server and kv-server on 127.0.0.1, each on a
// free port with its own temp directory, and their teardown. Owns those processes and dirs;
// never binds beyond loopback and never leaves a process or a directory behind on stop().

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort, portAccepts } from '../lib/ports.js';

export { freePort, portAccepts };

const here = dirname(fileURLToPath(import.meta.url));
/** dist/tools/bench -> repository root. */
export const REPO_ROOT = join(here, '..', '..', '..');
export const KV_SERVER_JS = join(REPO_ROOT, 'dist', 'src', 'cli', 'kv-server.js');
/** How long a server may take to accept connections after spawn. */
export const SERVER_READY_TIMEOUT_MS = 15_000;
/** Poll period while waiting for a port to accept. */
const READY_POLL_MS = 25;
/** Grace period between SIGTERM and SIGKILL at shutdown. */
export const STOP_GRACE_MS = 5_000;

export interface ServerProc {
  readonly name: string;
  readonly port: number;
  readonly dir: string;
  /** The server's process id (its CPU time is read from /proc). */
  readonly pid: number;
  /** The exact command line, for the report. */
  readonly command: string;
  stop(): Promise<void>;
}


/** True when `cmd --version` runs. */
export function haveExecutable(cmd: string): boolean {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

export function kvServerBuilt(): boolean {
  return existsSync(KV_SERVER_JS);
}

/** Restart measurements: a longer wait for the port (a server may load its data first), a dir kept on stop. */
interface LaunchOptions {
  readonly readyTimeoutMs?: number;
  readonly keepDir?: boolean;
}

export async function launch(name: string, file: string, args: string[], port: number, dir: string, stopSignal: NodeJS.Signals = 'SIGTERM', lo: LaunchOptions = {}): Promise<ServerProc> {
  const child: ChildProcess = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 10_000) stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(stopSignal);
      // The grace timer is cancelled once the child exits, so it cannot keep the process alive.
      const grace = new AbortController();
      const graceful = await Promise.race([
        exited.then(() => true),
        delay(STOP_GRACE_MS, false, { signal: grace.signal }).catch(() => false),
      ]);
      grace.abort();
      if (!graceful) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    if (lo.keepDir !== true) rmSync(dir, { recursive: true, force: true });
  };
  const readyTimeoutMs = lo.readyTimeoutMs ?? SERVER_READY_TIMEOUT_MS;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`${name} exited before accepting connections: ${stderr.trim()}`);
    }
    if (await portAccepts(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} did not accept connections on ${port} within ${readyTimeoutMs} ms`);
    }
    await delay(READY_POLL_MS);
  }
  const shown = [name === 'kv-ts' ? 'node' : file, ...args].map((a) => (a === '' ? "''" : a)).join(' ');
  return { name, port, dir, pid: child.pid ?? -1, command: shown, stop };
}

/** redis-server with AOF: `appendfsync` is 'everysec' or 'always'; `extra` e.g. --replicaof. */
export async function startRedis(appendfsync: string, extra: readonly string[] = []): Promise<ServerProc> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'kvts-bench-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', appendfsync, ...extra];
  return launch('redis', 'redis-server', args, port, dir);
}

/**
 * kv-server with the given --fsync policy; `extra` e.g. --replica-of; `port` when fixed in
 * advance (cluster); `serverJs` another build's kv-server.js (a before/after comparison).
 */
export async function startKv(fsync: string, extra: readonly string[] = [], port?: number, serverJs = KV_SERVER_JS): Promise<ServerProc> {
  const p = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'kvts-bench-kv-'));
  const args = [serverJs, '--port', String(p), '--host', '127.0.0.1', '--dir', dir, '--fsync', fsync, '--log-level', 'warn', ...extra];
  return launch('kv-ts', process.execPath, args, p, dir);
}

/**
 * A server on a directory the caller owns and that outlives it (stop() leaves it), so a restart
 * reopens the same data; waits up to `readyTimeoutMs` for the port. `args` follow port, bind and dir.
 */
export async function startInDir(kind: 'redis' | 'kv-ts', dir: string, args: readonly string[], readyTimeoutMs: number): Promise<ServerProc> {
  const port = await freePort();
  const lo = { readyTimeoutMs, keepDir: true };
  if (kind === 'redis') return launch('redis', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...args], port, dir, 'SIGTERM', lo);
  return launch('kv-ts', process.execPath, [KV_SERVER_JS, '--port', String(port), '--host', '127.0.0.1', '--dir', dir, ...args], port, dir, 'SIGTERM', lo);
}

/** etcd process (etcd-cluster.ts builds the arguments); `port` is its client port. */
export function startEtcdProcess(args: readonly string[], port: number, dir: string): Promise<ServerProc> {
  // SIGKILL: on SIGTERM a member tries to hand over leadership to peers that are stopping too
  // and waits seconds for it; its data directory is deleted right after anyway.
  return launch('etcd', ETCD_BIN, [...args], port, dir, 'SIGKILL');
}

/** Debian's etcd-server package installs here; the suite never looks for it elsewhere on PATH. */
export const ETCD_BIN = '/usr/bin/etcd';

export function haveEtcd(): boolean {
  return existsSync(ETCD_BIN) && haveExecutable(ETCD_BIN);
}

/** Distinct free ports (a cluster needs them all before any process starts). */
export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < n) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  return ports;
}
