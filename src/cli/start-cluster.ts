// `npm start`: a local 3-node kv-ts cluster (data under ./data/n1..n3, client ports 4001-4003)
// with the primary and connection hints printed, stopped cleanly on Ctrl-C. Owns only the three
// child processes and their lifetimes; it never serves a request nor changes cluster state.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { connectResp } from '../client/resp-conn.js';
import { parseFlags } from './flags.js';
import { parseLogFormat, resolveLogFormat } from './log-format.js';

/** Where the members listen for clients and peers. Loopback only: this is a development cluster. */
const HOST = '127.0.0.1';
const NODE_COUNT = 3;
/** KV_START_PORT / KV_START_DIR move the cluster (the test of `npm start` uses free ports and a temp dir). */
const FIRST_PORT = Number(process.env['KV_START_PORT'] ?? 4001);
const DATA_ROOT = process.env['KV_START_DIR'] ?? 'data';
/** How long we wait for an election before printing that there is no primary yet (and keep waiting). */
const PRIMARY_WAIT_NOTICE_MS = 10_000;
const PRIMARY_POLL_INTERVAL_MS = 100;
/** A member that does not exit this long after SIGTERM is killed (a clean shutdown flushes in milliseconds). */
const STOP_GRACE_MS = 10_000;
const EXIT_OK = 0;
const EXIT_FAILURE = 1;

const here = dirname(fileURLToPath(import.meta.url));
const KV_SERVER_JS = join(here, 'kv-server.js');

interface Member {
  readonly id: string;
  readonly port: number;
  readonly dir: string;
  child: ChildProcess | null;
  exited: Promise<number | null>;
}

function members(): Member[] {
  return Array.from({ length: NODE_COUNT }, (_, i) => ({
    id: `n${i + 1}`,
    port: FIRST_PORT + i,
    dir: join(DATA_ROOT, `n${i + 1}`),
    child: null,
    exited: Promise.resolve(null),
  }));
}

function clusterArg(ms: readonly Member[]): string {
  return ms.map((m) => `${m.id}=${HOST}:${m.port}`).join(',');
}

/** Prefix each line a member prints with its id, so three logs stay readable in one terminal. */
function pipeWithPrefix(stream: NodeJS.ReadableStream | null, id: string, to: NodeJS.WriteStream): void {
  if (stream === null) return;
  let partial = '';
  stream.on('data', (d: Buffer) => {
    const lines = (partial + d.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) to.write(`[${id}] ${l}\n`);
  });
}

/**
 * The members' stderr is a pipe to us, so their own `auto` would always choose JSON: the choice
 * is made here, against our stderr (`--log-format auto|json|pretty`, default auto).
 */
function memberLogFormat(argv: readonly string[]): { ok: true; format: 'json' | 'pretty' } | { ok: false; error: string } {
  const r = parseFlags(argv, { 'log-format': { type: 'string' } });
  if (!r.ok) return r;
  const f = parseLogFormat(r.values['log-format'] ?? 'auto');
  if (f === null) return { ok: false, error: `--log-format: expected auto|json|pretty, got '${r.values['log-format'] ?? ''}'` };
  return { ok: true, format: resolveLogFormat(f, process.stderr.isTTY === true) };
}

function startMember(m: Member, all: readonly Member[], logFormat: 'json' | 'pretty', stopping: () => boolean, onUnexpectedExit: () => void): void {
  mkdirSync(m.dir, { recursive: true });
  const child = spawn(
    process.execPath,
    [KV_SERVER_JS, '--host', HOST, '--port', String(m.port), '--dir', m.dir, '--node-id', m.id, '--cluster', clusterArg(all), '--log-level', 'warn', '--log-format', logFormat],
    // Own process group: a terminal's Ctrl-C reaches only us, and we stop the members in order.
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  m.child = child;
  pipeWithPrefix(child.stdout, m.id, process.stdout);
  pipeWithPrefix(child.stderr, m.id, process.stderr);
  m.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      m.child = null;
      resolve(code);
      if (!stopping()) {
        process.stderr.write(`[${m.id}] exited unexpectedly (${signal ?? `code ${code}`})\n`);
        onUnexpectedExit();
      }
    });
  });
}

/** Role and epoch of a member from INFO replication, or null when it does not answer. */
async function roleOf(port: number): Promise<{ role: string; epoch: number } | null> {
  const c = await connectResp(HOST, port, 1000);
  if (!c.ok) return null;
  try {
    const r = await c.conn.call(['INFO', 'replication']);
    if (!r.ok || r.reply.type !== 'bulk') return null;
    const text = r.reply.value.toString('utf8');
    const role = /^role:(\S+)/m.exec(text)?.[1];
    const epoch = Number(/^kv_epoch:(\d+)/m.exec(text)?.[1] ?? '-1');
    return role === undefined ? null : { role, epoch };
  } finally {
    c.conn.close();
  }
}

async function findPrimary(ms: readonly Member[]): Promise<Member | null> {
  let best: { m: Member; epoch: number } | null = null;
  for (const m of ms) {
    const r = await roleOf(m.port);
    if (r !== null && r.role === 'master' && (best === null || r.epoch > best.epoch)) best = { m, epoch: r.epoch };
  }
  return best?.m ?? null;
}

async function main(): Promise<void> {
  if (!Number.isInteger(FIRST_PORT) || FIRST_PORT < 1 || FIRST_PORT + NODE_COUNT - 1 > 65535) {
    process.stderr.write(`start-cluster: KV_START_PORT must be a port number (got '${process.env['KV_START_PORT'] ?? ''}')\n`);
    process.exit(EXIT_FAILURE);
  }
  const lf = memberLogFormat(process.argv.slice(2));
  if (!lf.ok) {
    process.stderr.write(`start-cluster: ${lf.error}\n`);
    process.exit(EXIT_FAILURE);
  }
  const logFormat = lf.format;
  const ms = members();
  let stopping = false;
  const stop = async (why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${why}: stopping ${ms.map((m) => m.id).join(', ')}...\n`);
    for (const m of ms) m.child?.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const m of ms) m.child?.kill('SIGKILL');
    }, STOP_GRACE_MS);
    const codes = await Promise.all(ms.map((m) => m.exited));
    clearTimeout(timer);
    const clean = codes.every((c) => c === 0);
    process.stdout.write(clean ? 'all members stopped cleanly\n' : `members exited with ${codes.join(', ')}\n`);
    process.exit(clean ? EXIT_OK : EXIT_FAILURE);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  // A member that dies is reported; when none is left there is nothing to serve, so we fail.
  const onUnexpectedExit = (): void => {
    if (ms.every((m) => m.child === null)) {
      process.stderr.write('all members exited; see their logs above\n');
      process.exit(EXIT_FAILURE);
    }
  };
  for (const m of ms) startMember(m, ms, logFormat, () => stopping, onUnexpectedExit);
  process.stdout.write(`kv-ts local cluster: ${ms.map((m) => `${m.id} on ${HOST}:${m.port} (${m.dir})`).join(', ')}\n`);

  const seeds = ms.map((m) => `${HOST}:${m.port}`).join(',');
  const startedMs = Date.now();
  let noticed = false;
  for (;;) {
    if (stopping) return;
    const p = await findPrimary(ms);
    if (p !== null) {
      process.stdout.write(
        `primary: ${p.id} at ${HOST}:${p.port} (elected after ${Date.now() - startedMs} ms)\n\n` +
          `connect:\n` +
          `  npx kv-cli --seeds ${seeds}            # finds the primary, rides through failovers\n` +
          `  npx kv-cli --seeds ${seeds} --quorum   # majority-committed writes, linearizable reads\n` +
          `  npx kv-cli --seeds ${seeds} topology   # every member: role, epoch, position, lag\n` +
          `  redis-cli -p ${p.port}\n\n` +
          `Ctrl-C stops all three members.\n`,
      );
      return;
    }
    if (!noticed && Date.now() - startedMs > PRIMARY_WAIT_NOTICE_MS) {
      noticed = true;
      process.stdout.write(`no primary after ${PRIMARY_WAIT_NOTICE_MS} ms; still waiting (see the members' logs above)\n`);
    }
    await delay(PRIMARY_POLL_INTERVAL_MS);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`start-cluster: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(EXIT_FAILURE);
});
