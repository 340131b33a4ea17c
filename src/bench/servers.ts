// Server processes for the benchmark suite: redis-server and kv-server on 127.0.0.1, each on a
// free port with its own temp directory, and their teardown. Owns those processes and dirs;
// never binds beyond loopback and never leaves a process or a directory behind on stop().

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/src/bench -> repository root. */
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
  /** The exact command line, for the report. */
  readonly command: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') return reject(new Error('no port'));
      srv.close(() => resolve(addr.port));
    });
  });
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** True when `cmd --version` runs. */
export function haveExecutable(cmd: string): boolean {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

export function kvServerBuilt(): boolean {
  return existsSync(KV_SERVER_JS);
}

async function launch(name: string, file: string, args: string[], port: number, dir: string): Promise<ServerProc> {
  const child: ChildProcess = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 10_000) stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const graceful = await Promise.race([exited.then(() => true), delay(STOP_GRACE_MS).then(() => false)]);
      if (!graceful) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + SERVER_READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`${name} exited before accepting connections: ${stderr.trim()}`);
    }
    if (await portAccepts(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} did not accept connections on ${port} within ${SERVER_READY_TIMEOUT_MS} ms`);
    }
    await delay(READY_POLL_MS);
  }
  const shown = [name === 'kv-ts' ? 'node' : file, ...args].map((a) => (a === '' ? "''" : a)).join(' ');
  return { name, port, dir, command: shown, stop };
}

/** redis-server with AOF: `appendfsync` is 'everysec' or 'always'. */
export async function startRedis(appendfsync: string): Promise<ServerProc> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'kvts-bench-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', appendfsync];
  return launch('redis', 'redis-server', args, port, dir);
}

/** kv-server with the given --fsync policy. */
export async function startKv(fsync: string): Promise<ServerProc> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'kvts-bench-kv-'));
  const args = [KV_SERVER_JS, '--port', String(port), '--host', '127.0.0.1', '--dir', dir, '--fsync', fsync];
  return launch('kv-ts', process.execPath, args, port, dir);
}
