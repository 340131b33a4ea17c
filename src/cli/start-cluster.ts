// `npm start [-- --nodes N]`: a local kv-ts cluster of N members (default 3; data under
// ./data/n1..nN, client ports 4001...) with the primary and connection hints printed, stopped
// cleanly on Ctrl-C. Started again with a larger N over existing data directories it grows the
// cluster: the members it bootstrapped start as before, the new ones with --join (the primary
// adds them as learners and promotes them once caught up). Owns only the child processes, their
// lifetimes and the record of which members bootstrapped the cluster; it never serves a request.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { connectResp } from '../client/resp-conn.js';
import { parseFlags } from './flags.js';
import { parseLogFormat, resolveLogFormat } from './log-format.js';

/** Where the members listen for clients and peers. Loopback only: this is a development cluster. */
const HOST = '127.0.0.1';
const NODE_COUNT_DEFAULT = 3;
/** A cluster has at most 15 members (member-config.ts). */
const NODE_COUNT_MAX = 15;
/** Under the data root: the ids that bootstrapped the cluster (--cluster); later members joined. */
const BOOTSTRAP_FILE = 'start-cluster.json';
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
  /** How it starts: --cluster (bootstraps the cluster), --join (new, joins it), or from its data directory alone (joined before). */
  start: 'bootstrap' | 'join' | 'dir';
  child: ChildProcess | null;
  exited: Promise<number | null>;
}

function members(count: number): Member[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `n${i + 1}`,
    port: FIRST_PORT + i,
    dir: join(DATA_ROOT, `n${i + 1}`),
    start: 'bootstrap',
    child: null,
    exited: Promise.resolve(null),
  }));
}

function hasData(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).length > 0;
}

/**
 * Which members bootstrapped the cluster: recorded at the first start; for data made before the
 * record existed, the members whose directories hold data (or every member of a fresh cluster).
 * A member outside that set joins (first start) or restarts from its data directory.
 */
function planStarts(ms: Member[]): string[] {
  const file = join(DATA_ROOT, BOOTSTRAP_FILE);
  let bootstrap: string[] | null = null;
  if (existsSync(file)) {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as { bootstrap?: unknown };
    if (Array.isArray(raw.bootstrap)) bootstrap = raw.bootstrap.filter((x): x is string => typeof x === 'string');
  }
  if (bootstrap === null) {
    const existing = ms.filter((m) => hasData(m.dir)).map((m) => m.id);
    bootstrap = existing.length > 0 ? existing : ms.map((m) => m.id);
    mkdirSync(DATA_ROOT, { recursive: true });
    writeFileSync(file, JSON.stringify({ bootstrap }) + '\n');
  }
  for (const m of ms) m.start = bootstrap.includes(m.id) ? 'bootstrap' : hasData(m.dir) ? 'dir' : 'join';
  return bootstrap;
}

/** The bootstrap members' --cluster value (ports follow the ids: n<i> on FIRST_PORT + i - 1). */
function clusterArg(ids: readonly string[]): string {
  return ids.map((id) => `${id}=${HOST}:${FIRST_PORT + Number(id.slice(1)) - 1}`).join(',');
}

/** Prefix each line a member prints with its id, so the logs stay readable in one terminal. */
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
function startFlags(argv: readonly string[]): { ok: true; format: 'json' | 'pretty'; nodes: number } | { ok: false; error: string } {
  const r = parseFlags(argv, { 'log-format': { type: 'string' }, nodes: { type: 'string' } });
  if (!r.ok) return r;
  const f = parseLogFormat(r.values['log-format'] ?? 'auto');
  if (f === null) return { ok: false, error: `--log-format: expected auto|json|pretty, got '${r.values['log-format'] ?? ''}'` };
  const n = r.values.nodes ?? String(NODE_COUNT_DEFAULT);
  if (!/^\d{1,2}$/.test(n) || Number(n) < 1 || Number(n) > NODE_COUNT_MAX) return { ok: false, error: `--nodes: expected 1-${NODE_COUNT_MAX}, got '${n}'` };
  return { ok: true, format: resolveLogFormat(f, process.stderr.isTTY === true), nodes: Number(n) };
}

function startMember(m: Member, bootstrap: readonly string[], logFormat: 'json' | 'pretty', stopping: () => boolean, onUnexpectedExit: () => void): void {
  mkdirSync(m.dir, { recursive: true });
  const membership = m.start === 'bootstrap' ? ['--cluster', clusterArg(bootstrap)] : m.start === 'join' ? ['--join', `${HOST}:${FIRST_PORT}`] : [];
  const child = spawn(
    process.execPath,
    [KV_SERVER_JS, '--host', HOST, '--port', String(m.port), '--dir', m.dir, '--node-id', m.id, ...membership, '--log-level', 'warn', '--log-format', logFormat],
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
  const lf = startFlags(process.argv.slice(2));
  if (!lf.ok) {
    process.stderr.write(`start-cluster: ${lf.error}\n`);
    process.exit(EXIT_FAILURE);
  }
  if (!Number.isInteger(FIRST_PORT) || FIRST_PORT < 1 || FIRST_PORT + lf.nodes - 1 > 65535) {
    process.stderr.write(`start-cluster: KV_START_PORT must be a port number (got '${process.env['KV_START_PORT'] ?? ''}')\n`);
    process.exit(EXIT_FAILURE);
  }
  const logFormat = lf.format;
  const ms = members(lf.nodes);
  const bootstrap = planStarts(ms);
  if (!bootstrap.includes('n1')) {
    process.stderr.write(`start-cluster: ${DATA_ROOT}/${BOOTSTRAP_FILE} names no n1 among the bootstrap members; new members join through n1\n`);
    process.exit(EXIT_FAILURE);
  }
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
  for (const m of ms) startMember(m, bootstrap, logFormat, () => stopping, onUnexpectedExit);
  const how = (m: Member): string => (m.start === 'join' ? ', joining' : '');
  process.stdout.write(`kv-ts local cluster: ${ms.map((m) => `${m.id} on ${HOST}:${m.port} (${m.dir}${how(m)})`).join(', ')}\n`);
  const absent = bootstrap.filter((id) => !ms.some((m) => m.id === id));
  if (absent.length > 0) process.stdout.write(`note: bootstrap members ${absent.join(', ')} are not started (--nodes ${ms.length}); they are still voters unless removed (MEMBER REMOVE)\n`);

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
          (ms.some((m) => m.start === 'join') ? `new members join as learners and become voters once caught up: npx kv-cli -p ${p.port} member list\n` : '') +
          `Ctrl-C stops all ${ms.length} members.\n`,
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
