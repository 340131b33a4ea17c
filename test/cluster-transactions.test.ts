// Transactions in cluster mode under faults with real processes (3 nodes): clients run WATCH /
// MULTI / EXEC transfers between accounts, in QUORUM mode and in the default mode, while the seeded
// schedule kills, pauses and partitions nodes. After every fault heals, one transaction reading
// every account on the primary must show the same total; at the end every node reaches the same
// DEBUG DIGEST and shows that total. In the QUORUM run, other clients also run WATCH-based
// compare-and-set increments, recorded as a history of reads and CAS (unknown outcomes as such)
// that must be linearizable. (The default mode is not linearizable under faults: a failover loses
// acknowledged transactions, whole; so only its total is checked.)
// Default: one short run per mode. KV_LONG=1: longer schedules. KV_SEED replays a schedule.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { connectResp, type RespConnection } from '../src/client/resp-conn.js';
import type { Reply } from '../src/client/resp-wire.js';
import { callWithin } from './helpers/call.js';
import { Cluster } from './helpers/cluster.js';
import { pauseAndProbe, runFaultSchedule } from './helpers/faults.js';
import { checkLinearizable, type KvOp } from './helpers/linearizability.js';
import { noteErrorWord, OP_TIMEOUT_MS, request, runClients, type StepEnd } from './helpers/quorum-workload.js';
import { rng as makeRng, testSeed, type Rng } from './helpers/rng.js';
import { waitFor } from './helpers/wait.js';

const LONG = process.env['KV_LONG'] === '1';
const FAULTS = LONG ? 25 : 5;
/** How long a partition or a dead node lasts before it heals. */
const FAULT_MS = 2_000;
/** Normal operation between faults. */
const CALM_MS = 1_000;
const ACCOUNTS = 5;
const START_BALANCE = 100;
const TOTAL = ACCOUNTS * START_BALANCE;
const TRANSFER_AMOUNT_MAX = 10;
const TRANSFER_CLIENTS = 3;
const CAS_CLIENTS = 3;
/** Counters per generation (the checker's search is exponential in one key's concurrent history). */
const CAS_KEYS = 2;
/** How long the check after a fault may take to find a primary that answers it. */
const CHECK_DEADLINE_MS = 30_000;

/** Derives the workload's stream from the seed. */
const WORKLOAD_SEED_XOR = 0x5bd1e995;

type Mode = 'quorum' | 'eventual';

const account = (i: number): string => `acct:${i}`;
const ACCOUNT_KEYS = Array.from({ length: ACCOUNTS }, (_, i) => account(i));

interface Stats {
  committed: number;
  aborted: number;
  unknown: number;
  refused: number;
  /** Transfers not attempted: the source held less than the amount. */
  skipped: number;
  casOk: number;
  casUnknown: number;
  casFailed: number;
  casRefused: number;
  reads: number;
  /** Totals read after each fault (all must equal TOTAL). */
  readonly totals: number[];
  readonly errors: Map<string, number>;
}

/** How a transaction's EXEC ended. */
type ExecEnd = 'committed' | 'aborted' | 'unknown' | 'refused';

/** EXEC's reply: an array = ran, a null array = a watched key changed, NOQUORUM or no reply = unknown, other errors = never ran. */
async function exec(conn: RespConnection, errors: Map<string, number>): Promise<ExecEnd> {
  const c = await callWithin(conn, ['EXEC'], OP_TIMEOUT_MS);
  if (!c.ok) {
    noteErrorWord(errors, 'TIMEOUT');
    return 'unknown';
  }
  if (c.reply.type === 'array') return 'committed';
  if (c.reply.type === 'null') return 'aborted';
  if (c.reply.type !== 'error') throw new Error(`EXEC answered ${JSON.stringify(c.reply)}`);
  noteErrorWord(errors, c.reply.message);
  return c.reply.message.startsWith('NOQUORUM') ? 'unknown' : 'refused';
}

/**
 * Commands before EXEC (WATCH, GET, MULTI, queued ones): none writes, so a missing reply or an
 * error only ends this attempt. Returns the text of a reply, or the step's end.
 */
async function prepare(conn: RespConnection, argv: readonly string[], errors: Map<string, number>): Promise<{ text: string | null } | { end: StepEnd }> {
  const o = await request(conn, argv);
  if (o.kind === 'lost') {
    noteErrorWord(errors, 'TIMEOUT');
    return { end: 'lost' };
  }
  if (o.error !== null) {
    noteErrorWord(errors, o.error);
    return { end: 'next-node' };
  }
  return { text: o.text };
}

/** One transfer: WATCH from to; GET both; MULTI; DECRBY from x; INCRBY to x; EXEC. */
function transferStep(r: Rng, stats: Stats) {
  return async (conn: RespConnection): Promise<StepEnd> => {
    const from = r.int(ACCOUNTS);
    const to = (from + 1 + r.int(ACCOUNTS - 1)) % ACCOUNTS;
    const amount = 1 + r.int(TRANSFER_AMOUNT_MAX);
    const [a, b] = [account(from), account(to)];
    const e = stats.errors;
    let p = await prepare(conn, ['WATCH', a, b], e);
    if ('end' in p) return p.end;
    p = await prepare(conn, ['GET', a], e);
    if ('end' in p) return p.end;
    const balance = Number(p.text ?? '0');
    p = await prepare(conn, ['GET', b], e);
    if ('end' in p) return p.end;
    if (balance < amount) {
      stats.skipped++;
      p = await prepare(conn, ['UNWATCH'], e);
      return 'end' in p ? p.end : 'keep';
    }
    for (const argv of [['MULTI'], ['DECRBY', a, String(amount)], ['INCRBY', b, String(amount)]]) {
      p = await prepare(conn, argv, e);
      if ('end' in p) return p.end;
    }
    const end = await exec(conn, e);
    stats[end]++;
    return end === 'committed' || end === 'aborted' ? 'keep' : end === 'unknown' ? 'lost' : 'next-node';
  };
}

/**
 * One compare-and-set increment: WATCH k; GET k; MULTI; SET k v+1; EXEC. The GET is a read of the
 * history; a committed EXEC a CAS from what it read, an unknown one a CAS of unknown outcome.
 */
function casStep(r: Rng, stats: Stats, history: KvOp[], generation: () => number, now: () => number) {
  return async (conn: RespConnection): Promise<StepEnd> => {
    const key = `g${generation()}:c${r.int(CAS_KEYS)}`;
    const e = stats.errors;
    const invokeMs = now();
    let p = await prepare(conn, ['WATCH', key], e);
    if ('end' in p) return p.end;
    const readMs = now();
    p = await prepare(conn, ['GET', key], e);
    if ('end' in p) return p.end;
    const expected = p.text;
    history.push({ kind: 'get', key, value: expected, invokeMs: readMs, returnMs: now() });
    stats.reads++;
    const value = String(Number(expected ?? '0') + 1);
    for (const argv of [['MULTI'], ['SET', key, value]]) {
      p = await prepare(conn, argv, e);
      if ('end' in p) return p.end;
    }
    const end = await exec(conn, e);
    if (end === 'committed') {
      stats.casOk++;
      history.push({ kind: 'cas', key, expected, value, invokeMs, returnMs: now() });
      return 'keep';
    }
    if (end === 'unknown') {
      stats.casUnknown++;
      history.push({ kind: 'cas', key, expected, value, invokeMs, returnMs: undefined });
      return 'lost';
    }
    if (end === 'aborted') stats.casFailed++;
    else stats.casRefused++;
    return end === 'aborted' ? 'keep' : 'next-node';
  };
}

/** The balances in one transaction (MULTI; GET each; EXEC), on a fresh connection to `port`; null when it got no full answer. */
async function readTotal(port: number, mode: Mode): Promise<number | null> {
  const c = await connectResp('127.0.0.1', port, OP_TIMEOUT_MS);
  if (!c.ok) return null;
  try {
    const argvs: string[][] = [...(mode === 'quorum' ? [['CONSISTENCY', 'QUORUM']] : []), ['MULTI'], ...ACCOUNT_KEYS.map((k) => ['GET', k])];
    for (const argv of argvs) {
      const r = await callWithin(c.conn, argv, OP_TIMEOUT_MS);
      if (!r.ok || r.reply.type === 'error') return null;
    }
    const r = await callWithin(c.conn, ['EXEC'], OP_TIMEOUT_MS);
    if (!r.ok || r.reply.type !== 'array') return null;
    return r.reply.items.reduce((sum: number, it: Reply) => {
      assert.equal(it.type, 'bulk', `an account is missing or unreadable: ${JSON.stringify(it)}`);
      return sum + Number(it.type === 'bulk' ? it.value.toString('latin1') : NaN);
    }, 0);
  } finally {
    c.conn.close();
  }
}

/** The total as the primary sees it, once some primary answers. */
async function primaryTotal(cluster: Cluster, mode: Mode): Promise<number> {
  return waitFor(
    'a primary answering the balance read',
    async () => {
      const p = await cluster.primary();
      return p === null ? null : readTotal(cluster.node(p).port, mode);
    },
    { timeoutMs: CHECK_DEADLINE_MS, intervalMs: 100 },
  );
}

async function runTransactions(mode: Mode, seed: number, faults: number): Promise<void> {
  // Two streams: the schedule's draws do not depend on how many steps the clients took, so
  // KV_SEED replays the same faults.
  const schedule = makeRng(seed);
  const r = makeRng(seed ^ WORKLOAD_SEED_XOR);
  const cluster = await Cluster.start({ nodes: 3 });
  const stats: Stats = { committed: 0, aborted: 0, unknown: 0, refused: 0, skipped: 0, casOk: 0, casUnknown: 0, casFailed: 0, casRefused: 0, reads: 0, totals: [], errors: new Map() };
  const history: KvOp[] = [];
  let log: string[] = [];
  const summary = (): string =>
    `seed ${seed}, ${mode}, faults: ${log.join('; ')}\n` +
    `transfers committed ${stats.committed}, aborted ${stats.aborted}, unknown ${stats.unknown}, refused ${stats.refused}, skipped ${stats.skipped}; ` +
    `totals after faults ${stats.totals.join(',')}; cas ok ${stats.casOk}, unknown ${stats.casUnknown}, failed ${stats.casFailed}, refused ${stats.casRefused}, reads ${stats.reads}; ` +
    `errors ${[...stats.errors].map(([k, v]) => `${k}=${v}`).join(' ')}\n` +
    `replay: KV_SEED=${seed} node --test dist/test/cluster-transactions.test.js`;
  try {
    const primary = await cluster.waitForPrimary();
    const init = await cluster.call(primary, ['MSET', ...ACCOUNT_KEYS.flatMap((k) => [k, String(START_BALANCE)])]);
    assert.ok(init.ok && init.reply.type === 'simple', `MSET of the accounts: ${JSON.stringify(init)}`);
    await cluster.waitConverged(30_000);

    const setup = mode === 'quorum' ? [['CONSISTENCY', 'QUORUM']] : [];
    const t0 = performance.now();
    let generation = 0;
    const loops = [runClients(cluster, r, TRANSFER_CLIENTS, transferStep(r, stats), setup)];
    if (mode === 'quorum') loops.push(runClients(cluster, r, CAS_CLIENTS, casStep(r, stats, history, () => generation, () => performance.now() - t0), setup));
    try {
      log = await runFaultSchedule(cluster, schedule, {
        faults,
        calmMs: CALM_MS,
        faultMs: FAULT_MS,
        beforeFault: () => {
          generation++;
        },
        pausePrimary: async (id) => `resumed ${id} refused the queued write: ${(await pauseAndProbe(cluster, id)).split(' ')[0] ?? ''}`,
        afterFault: async () => {
          const total = await primaryTotal(cluster, mode);
          stats.totals.push(total);
          assert.equal(total, TOTAL, `the accounts' total after a fault\n${summary()}`);
        },
      });
    } finally {
      for (const l of loops) await l.stop();
    }
    for (const n of cluster.nodes) if (n.state === 'killed') await cluster.restart(n.id);
    process.stdout.write(`# ${summary().replace(/\n/g, '\n# ')}\n`);
    assert.ok(stats.committed > 0, `transfers committed\n${summary()}`);
    if (mode === 'quorum') {
      assert.ok(stats.casOk > 0, `compare-and-sets committed\n${summary()}`);
      const verdict = checkLinearizable(history);
      assert.equal(verdict.ok, true, `${JSON.stringify(verdict).slice(0, 4000)}\n${summary()}`);
    }
    // Writes stopped and faults healed: every node holds the same data, with the same total.
    await cluster.waitConverged(60_000);
    for (const n of cluster.nodes) {
      const total = await waitFor(`${n.id} answering the balance read`, () => readTotal(n.port, 'eventual'), { timeoutMs: CHECK_DEADLINE_MS, intervalMs: 100 });
      assert.equal(total, TOTAL, `${n.id}'s total\n${summary()}`);
    }
  } catch (e) {
    cluster.printLogs(60);
    throw e;
  } finally {
    await cluster.stop();
  }
}

test('QUORUM mode: transfers keep the total through kills, pauses and partitions; CAS increments stay linearizable; nodes converge', { timeout: LONG ? 600_000 : 180_000 }, async () => {
  await runTransactions('quorum', testSeed(6101), FAULTS);
});

test('default mode: transfers keep the total through kills, pauses and partitions (failover loses whole transactions only); nodes converge', { timeout: LONG ? 600_000 : 180_000 }, async () => {
  await runTransactions('eventual', testSeed(6102), FAULTS);
});
