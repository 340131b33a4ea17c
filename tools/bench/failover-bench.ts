// `npm run bench:failover`: over N trials, SIGKILL the primary of a local 3-node cluster and
// time until a write is acknowledged by the new primary (a client loop tries every surviving
// node); then load K keys and time an empty fourth node from MEMBER ADD to voter (its full
// resync and catch-up included); prints median and max and the join time and writes them into
// docs/benchmarks.md between the failover markers. Owns its kv-server processes and temp dirs;
// never binds beyond loopback.
// Usage: npm run bench:failover -- [--trials N] [--join-keys K] [-- kv-server flags, e.g. --election-timeout-ms 200]

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { connectResp, type RespConnection } from '../../src/client/resp-conn.js';
import { parseFlags } from '../../src/cli/flags.js';
import { parseMemberList } from '../../src/replication/cluster/member-list-reply.js';
import { describeMachine } from './docs.js';
import { pipelineCalls } from './pipeline.js';
import { freePort, KV_SERVER_JS, kvServerBuilt, REPO_ROOT } from './servers.js';

const NODE_COUNT = 3;
/** Fewer trials make the median and p95 too coarse to compare. */
const TRIALS_MIN = 10;
/** A trial whose new primary took no write within this is reported as a failure (no election). */
const TRIAL_TIMEOUT_MS = 30_000;
/** One probe write waits this long for a reply before the loop moves to the next node. */
const PROBE_TIMEOUT_MS = 250;
/** Pause between probe rounds over all nodes (keeps the loop from spinning on READONLY replies). */
const PROBE_ROUND_PAUSE_MS = 2;
/** Waiting for a stable cluster (primary elected, killed node back and caught up). */
const STABLE_TIMEOUT_MS = 30_000;
const POLL_MS = 50;
/** Keys in the cluster when the empty node is added (--join-keys; 0 skips the join run). */
const JOIN_KEYS_DEFAULT = 1_000_000;
/** Keys per MSET while loading them (fewer log entries than one SET each). */
const KEYS_PER_MSET = 100;
/** MSETs in flight while loading: a deeper pipeline starves the primary's heartbeats on a small machine (elections mid-load). */
const LOAD_WINDOW = 16;
/** Bytes of each loaded value. */
const VALUE_BYTES = 16;
/** The added node must be a voter within this (a full resync of the keys, then the catch-up). */
const JOIN_TIMEOUT_MS = 10 * 60_000;
/** MEMBER LIST poll period while waiting for the promotion (the resolution of the join time). */
const JOIN_POLL_MS = 20;
const JOINER_ID = 'n4';
/** Keys per load chunk: a chunk refused midway (TRYAGAIN while the primary lost contact with a majority, READONLY after an election) is sent again, whole (MSETs are idempotent). */
const LOAD_CHUNK_KEYS = 20_000;
/** Attempts per chunk before the run is given up. */
const LOAD_ATTEMPTS_MAX = 20;
const BEGIN = '<!-- failover:begin -->';
const END = '<!-- failover:end -->';
const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;
const USAGE = 'npm run bench:failover -- [--trials N] [--join-keys K] [-- kv-server flags...]';
const FLAGS = {
  trials: { type: 'string', default: String(TRIALS_MIN) },
  'join-keys': { type: 'string', default: String(JOIN_KEYS_DEFAULT) },
  help: { type: 'boolean', default: false },
} as const;
const DOC = join(REPO_ROOT, 'docs', 'benchmarks.md');

interface Node {
  readonly id: string;
  readonly port: number;
  readonly dir: string;
  child: ChildProcess | null;
  exited: Promise<void>;
}

function args(n: Node, all: readonly Node[], extra: readonly string[]): string[] {
  const cluster = all.map((m) => `${m.id}=127.0.0.1:${m.port}`).join(',');
  return [KV_SERVER_JS, '--host', '127.0.0.1', '--port', String(n.port), '--dir', n.dir, '--node-id', n.id, '--cluster', cluster, '--log-level', 'warn', ...extra];
}

/** An empty node that joins through the member `seed` (already added by MEMBER ADD at its address, it finds itself listed and starts as that learner). */
function joinArgs(n: Node, seed: Node, extra: readonly string[]): string[] {
  return [KV_SERVER_JS, '--host', '127.0.0.1', '--port', String(n.port), '--dir', n.dir, '--node-id', n.id, '--join', `127.0.0.1:${seed.port}`, '--log-level', 'warn', ...extra];
}

async function start(n: Node, all: readonly Node[], extra: readonly string[], argv: readonly string[] = args(n, all, extra)): Promise<void> {
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'ignore'] });
  n.child = child;
  n.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + STABLE_TIMEOUT_MS;
  for (;;) {
    const c = await connectResp('127.0.0.1', n.port, 1000);
    if (c.ok) {
      c.conn.close();
      return;
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${n.id} did not start (exit ${child.exitCode})`);
    await delay(POLL_MS);
  }
}

async function kill(n: Node): Promise<void> {
  n.child?.kill('SIGKILL');
  await n.exited;
  n.child = null;
}

async function call(conn: RespConnection, argv: readonly string[], timeoutMs: number): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
  });
  const r = await Promise.race([conn.call(argv), t]);
  clearTimeout(timer);
  if (r === null || !r.ok) return null;
  const rep = r.reply;
  if (rep.type === 'simple' || rep.type === 'bulk') return rep.value.toString('latin1');
  if (rep.type === 'error') return `-${rep.message}`;
  return '';
}

async function callOnce(port: number, argv: readonly string[]): Promise<string | null> {
  const c = await connectResp('127.0.0.1', port, 1000);
  if (!c.ok) return null;
  try {
    return await call(c.conn, argv, 1000);
  } finally {
    c.conn.close();
  }
}

async function info(port: number): Promise<Map<string, string>> {
  const text = (await callOnce(port, ['INFO', 'replication'])) ?? '';
  return new Map(text.split('\r\n').flatMap((l) => (l.includes(':') ? [[l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)] as [string, string]] : [])));
}

/** The current primary once every node runs, one claims master and all agree on the position. */
async function waitStable(nodes: readonly Node[]): Promise<Node> {
  const deadline = Date.now() + STABLE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const infos = await Promise.all(nodes.map((n) => info(n.port)));
    const primaries = nodes.filter((_, i) => infos[i]?.get('role') === 'master');
    const positions = new Set(infos.map((m) => m.get('kv_position')));
    if (primaries.length === 1 && positions.size === 1) {
      const p = primaries[0] as Node;
      if ((await callOnce(p.port, ['SET', 'failover-bench:warm', '1'])) === 'OK') return p;
    }
    await delay(POLL_MS);
  }
  throw new Error('cluster did not become stable (one primary, all nodes at the same position)');
}

/** Kill `primary`, then try every other node until one acknowledges a write; returns the ms. */
async function trial(primary: Node, nodes: readonly Node[], n: number): Promise<{ ms: number; newPrimary: string }> {
  const others = nodes.filter((x) => x !== primary);
  const conns = new Map<Node, RespConnection>();
  for (const o of others) {
    const c = await connectResp('127.0.0.1', o.port, 1000);
    if (c.ok) conns.set(o, c.conn);
  }
  const t0 = performance.now();
  primary.child?.kill('SIGKILL');
  try {
    while (performance.now() - t0 < TRIAL_TIMEOUT_MS) {
      for (const o of others) {
        const conn = conns.get(o);
        if (conn === undefined) continue;
        const r = await call(conn, ['SET', 'failover-bench:key', String(n)], PROBE_TIMEOUT_MS);
        if (r === 'OK') return { ms: performance.now() - t0, newPrimary: o.id };
      }
      await delay(PROBE_ROUND_PAUSE_MS);
    }
    throw new Error(`trial ${n}: no write acknowledged within ${TRIAL_TIMEOUT_MS} ms`);
  } finally {
    for (const c of conns.values()) c.close();
    await primary.exited;
    primary.child = null;
  }
}

/** Keys [from, to) of VALUE_BYTES each, as MSETs of KEYS_PER_MSET. */
function* loadCommands(from: number, to: number): Generator<string[]> {
  const value = 'v'.repeat(VALUE_BYTES);
  for (let i = from; i < to; i += KEYS_PER_MSET) {
    const argv = ['MSET'];
    for (let k = i; k < Math.min(to, i + KEYS_PER_MSET); k++) argv.push(`key:${k}`, value);
    yield argv;
  }
}

/** Load `keys` keys through the primary, chunk by chunk, a refused chunk again on the primary of the moment; returns the ms. */
async function loadKeys(nodes: readonly Node[], keys: number): Promise<number> {
  const t0 = performance.now();
  let conn: RespConnection | null = null;
  try {
    for (let from = 0; from < keys; from += LOAD_CHUNK_KEYS) {
      for (let attempt = 1; ; attempt++) {
        if (conn === null) {
          const c = await connectResp('127.0.0.1', (await waitStable(nodes)).port, 1000);
          if (!c.ok) throw new Error(`load: ${c.error}`);
          conn = c.conn;
        }
        try {
          await pipelineCalls(conn, loadCommands(from, Math.min(keys, from + LOAD_CHUNK_KEYS)), LOAD_WINDOW);
          break;
        } catch (e) {
          if (attempt >= LOAD_ATTEMPTS_MAX) throw e;
          process.stdout.write(`load: keys from ${from} refused (${(e as Error).message}): again\n`);
          conn.close();
          conn = null;
        }
      }
    }
  } finally {
    conn?.close();
  }
  return performance.now() - t0;
}

/** Is `id` a voter of the committed configuration `primary` reports? */
async function isVoter(primary: Node, id: string): Promise<boolean> {
  const c = await connectResp('127.0.0.1', primary.port, 1000);
  if (!c.ok) return false;
  try {
    const r = await c.conn.call(['MEMBER', 'LIST']);
    const m = r.ok ? parseMemberList(r.reply)?.find((x) => x.id === id) : undefined;
    return m !== undefined && m.role === 'voter' && m.configCommitted;
  } finally {
    c.conn.close();
  }
}

interface JoinResult {
  readonly keys: number;
  readonly loadMs: number;
  readonly joinMs: number;
  /** DBSIZE on the new node once it serves reads (a replica refuses them while it knows it is behind). */
  readonly dbsize: number;
}

/** DBSIZE of the node at `port` once it answers one (TOOSTALE while it is behind); -1 when it never does within STABLE_TIMEOUT_MS. */
async function dbsizeOnceServing(port: number): Promise<number> {
  const deadline = Date.now() + STABLE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const c = await connectResp('127.0.0.1', port, 1000);
    if (c.ok) {
      const r = await c.conn.call(['DBSIZE']);
      c.conn.close();
      if (r.ok && r.reply.type === 'integer') return Number(r.reply.value);
    }
    await delay(POLL_MS);
  }
  return -1;
}

/**
 * Load `keys` keys through the primary, wait until every member holds them, then add an empty
 * node: MEMBER ADD on the primary and the node started (--join); the time runs from just before
 * MEMBER ADD until the primary lists the node as a voter of a committed configuration.
 */
async function joinRun(nodes: readonly Node[], joiner: Node, extra: readonly string[], keys: number): Promise<JoinResult> {
  const loadMs = await loadKeys(nodes, keys);
  const settled = await waitStable(nodes);
  const t0 = performance.now();
  const added = await callOnce(settled.port, ['MEMBER', 'ADD', joiner.id, `127.0.0.1:${joiner.port}`]);
  if (added !== 'OK') throw new Error(`MEMBER ADD ${joiner.id}: ${added ?? 'no reply'}`);
  await start(joiner, nodes, extra, joinArgs(joiner, settled, extra));
  for (;;) {
    if (await isVoter(settled, joiner.id)) break;
    if (performance.now() - t0 > JOIN_TIMEOUT_MS) throw new Error(`${joiner.id} was not a voter within ${JOIN_TIMEOUT_MS} ms`);
    await delay(JOIN_POLL_MS);
  }
  const joinMs = performance.now() - t0;
  return { keys, loadMs, joinMs, dbsize: await dbsizeOnceServing(joiner.port) };
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

function median(sorted: readonly number[]): number {
  const m = sorted.length / 2;
  return sorted.length % 2 === 1 ? (sorted[Math.floor(m)] as number) : ((sorted[m - 1] as number) + (sorted[m] as number)) / 2;
}

function splice(file: string, body: string): string {
  const section = `${BEGIN}\n${body.trimEnd()}\n${END}`;
  const b = file.indexOf(BEGIN);
  const e = file.indexOf(END);
  if (b < 0 || e < b) return `${file.trimEnd()}\n\n${section}\n`;
  return file.slice(0, b) + section + file.slice(e + END.length);
}

function usageError(msg: string): never {
  process.stderr.write(`bench:failover: ${msg} (usage: ${USAGE})\n`);
  process.exit(EXIT_USAGE);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  // Everything after `--` goes to every kv-server unchanged (kv-server checks it).
  const sep = argv.indexOf('--');
  const parsed = parseFlags(sep < 0 ? argv : argv.slice(0, sep), FLAGS);
  if (!parsed.ok) usageError(parsed.error);
  if (parsed.values.help) {
    process.stdout.write(`Usage: ${USAGE}\n`);
    return;
  }
  const extra = sep < 0 ? [] : argv.slice(sep + 1);
  const trials = parsed.values.trials.trim() === '' ? NaN : Number(parsed.values.trials);
  if (!Number.isInteger(trials) || trials < 1) usageError('--trials needs a positive integer');
  const joinKeys = parsed.values['join-keys'].trim() === '' ? NaN : Number(parsed.values['join-keys']);
  if (!Number.isInteger(joinKeys) || joinKeys < 0) usageError('--join-keys needs an integer >= 0');
  if (!kvServerBuilt()) throw new Error(`${KV_SERVER_JS} missing: run npm run build first`);
  const machine = describeMachine();
  const nodes: Node[] = [];
  for (let i = 0; i < NODE_COUNT; i++) {
    nodes.push({ id: `n${i + 1}`, port: await freePort(), dir: mkdtempSync(join(tmpdir(), 'kvts-failover-')), child: null, exited: Promise.resolve() });
  }
  const joiner: Node = { id: JOINER_ID, port: await freePort(), dir: mkdtempSync(join(tmpdir(), 'kvts-failover-')), child: null, exited: Promise.resolve() };
  const samples: number[] = [];
  const lines: string[] = [];
  let joined: JoinResult | null = null;
  try {
    await Promise.all(nodes.map((n) => start(n, nodes, extra)));
    for (let t = 1; t <= trials; t++) {
      const primary = await waitStable(nodes);
      const r = await trial(primary, nodes, t);
      samples.push(r.ms);
      const line = `trial ${t}: killed ${primary.id}, ${r.newPrimary} acknowledged a write after ${r.ms.toFixed(0)} ms`;
      lines.push(line);
      process.stdout.write(`${line}\n`);
      await start(primary, nodes, extra); // it rejoins as a replica before the next trial
    }
    if (joinKeys > 0) {
      process.stdout.write(`loading ${joinKeys} keys, then adding an empty node ...\n`);
      joined = await joinRun(nodes, joiner, extra, joinKeys);
      process.stdout.write(`join: ${joinKeys} keys loaded in ${joined.loadMs.toFixed(0)} ms; MEMBER ADD -> voter in ${joined.joinMs.toFixed(0)} ms (the new node holds ${joined.dbsize} keys)\n`);
    }
  } finally {
    for (const n of [...nodes, joiner]) await kill(n);
    for (const n of [...nodes, joiner]) rmSync(n.dir, { recursive: true, force: true });
  }
  const sorted = [...samples].sort((a, b) => a - b);
  const med = median(sorted);
  const max = sorted[sorted.length - 1] as number;
  process.stdout.write(`failover: ${trials} trials, median ${med.toFixed(0)} ms, p90 ${quantile(sorted, 0.9).toFixed(0)} ms, max ${max.toFixed(0)} ms\n`);
  const body = [
    '## Cluster failover: SIGKILL the primary → first acknowledged write on the new primary',
    '',
    `Generated by \`npm run bench:failover${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}\` on ${machine.date}.`,
    '',
    `- Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.os}; node ${machine.node}; 1-min load average at start ${machine.load1.toFixed(1)}.`,
    `- 3 kv-server processes on 127.0.0.1 (\`--cluster n1=…,n2=…,n3=…\`${extra.length > 0 ? `, \`${extra.join(' ')}\`` : ''}), default cluster timing.`,
    '- Each trial: wait for one primary with all nodes at the same position; SIGKILL it; a client loop sends `SET` to every',
    `  surviving node in turn (${PROBE_TIMEOUT_MS} ms reply timeout) until one answers \`OK\`; the time is measured from just before the`,
    '  SIGKILL. The killed node is restarted and rejoins as a replica before the next trial.',
    '',
    `| trials | median ms | p90 ms | max ms | min ms |`,
    `| ---: | ---: | ---: | ---: | ---: |`,
    `| ${trials} | ${med.toFixed(0)} | ${quantile(sorted, 0.9).toFixed(0)} | ${max.toFixed(0)} | ${(sorted[0] as number).toFixed(0)} |`,
    '',
    'Goal: median < 1000 ms.',
    '',
    ...(joined === null
      ? []
      : [
          '### Adding a member: `MEMBER ADD` of an empty node → voter',
          '',
          `- After the trials, ${joined.keys.toLocaleString('en-US')} keys (${VALUE_BYTES}-byte values, \`MSET\` of ${KEYS_PER_MSET} keys, pipelined) are loaded through the primary and every member`,
          '  reaches the same position; then `MEMBER ADD n4 <address>` is sent to the primary and an empty `kv-server --join` is started.',
          `  The time runs from just before \`MEMBER ADD\` until the primary's \`MEMBER LIST\` shows n4 as a voter of a committed configuration`,
          `  (polled every ${JOIN_POLL_MS} ms): its full resync, the catch-up and the automatic promotion.`,
          '',
          '| keys in the cluster | load ms | MEMBER ADD → voter ms | DBSIZE on the new node |',
          '| ---: | ---: | ---: | ---: |',
          `| ${joined.keys.toLocaleString('en-US')} | ${joined.loadMs.toFixed(0)} | ${joined.joinMs.toFixed(0)} | ${joined.dbsize} |`,
          '',
        ]),
    '<details><summary>per trial</summary>',
    '',
    ...lines.map((l) => `- ${l}`),
    '',
    '</details>',
  ].join('\n');
  const before = existsSync(DOC) ? readFileSync(DOC, 'utf8') : '# Benchmarks\n';
  writeFileSync(DOC, splice(before, body));
  process.stdout.write(`wrote the failover section of ${DOC}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:failover: ${(e as Error).message}\n`);
  process.exit(EXIT_FAILURE);
});
