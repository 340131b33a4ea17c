// Real processes for integration tests: kv-server and redis-server on 127.0.0.1 with
// ephemeral ports, temp data directories, and cleanup that always runs.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';
import { freePort, portAccepts } from '../../src/bench/servers.js';

const here = dirname(fileURLToPath(import.meta.url));
/** Repository root (dist/test/helpers -> ../../..). */
export const REPO_ROOT = join(here, '..', '..', '..');
export const KV_SERVER_JS = join(REPO_ROOT, 'dist', 'src', 'cli', 'kv-server.js');
export const KV_CLI_JS = join(REPO_ROOT, 'dist', 'src', 'cli', 'kv-cli.js');

export function tempDir(prefix = 'kvts-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** An ephemeral port on 127.0.0.1 that was free a moment ago (shared with the bench harness). */
export { freePort };

export { portAccepts };

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

export interface KvServerOptions {
  readonly port?: number;
  readonly dir?: string;
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  /** Wait until the port accepts connections. Default true. */
  readonly waitReady?: boolean;
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
    await waitFor(`kv-server on ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`kv-server exited ${child.exitCode}: ${proc.output()}`);
      return portAccepts(port);
    });
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

/** Kill (SIGKILL unless told) and remove the data directory. Safe to call twice. */
export async function stopAndClean(p: RunningProcess | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (p === undefined) return;
  await p.kill(signal);
  rmSync(p.dir, { recursive: true, force: true });
}
