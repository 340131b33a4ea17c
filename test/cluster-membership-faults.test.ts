// Live membership changes with real processes under faults: concurrent clients run quorum reads
// and writes on a few keys while a 3-node cluster grows to 5 (MEMBER ADD of an empty node, and
// an empty node started with --join) and shrinks back to 3 (MEMBER REMOVE, the primary's own
// removal included), with a member SIGKILLed and restarted and the proxies partitioning members
// meanwhile; and while a SIGKILLed member is replaced: by a fresh node at its address (MEMBER
// REMOVE, then --join under a new id), and by itself with its data at a new address (MEMBER
// ADDRESS). Checks: the history is linearizable; a removed node refuses writes and quorum reads;
// the members converge to one DEBUG DIGEST; every key with an acknowledged write reads back
// (quorum) a value the history allows; a member removed while cut off learns it once the
// partition heals; a join through a cut-off primary waits for a committed addition. Every member
// is configured at the proxy in front of it, so partitions cut the links by who dialled them.
// Default: short runs; KV_LONG=1: more faults around every change and a second grow/shrink
// round. KV_SEED replays a schedule.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { replyText } from './helpers/call.js';
import { Cluster } from './helpers/cluster.js';
import { checkLinearizable, type KvOp } from './helpers/linearizability.js';
import { changeMembers, MEMBER_CALL_TIMEOUT_MS, memberList, waitMembers, waitVoter } from './helpers/members.js';
import { startWorkload, type Workload } from './helpers/quorum-workload.js';
import { rng as makeRng, testSeed, type Rng } from './helpers/rng.js';
import { waitFor } from './helpers/wait.js';

const LONG = process.env['KV_LONG'] === '1';
/** How long a partition or a dead member lasts before it heals. */
const FAULT_MS = 2_000;
/** Normal operation between steps. */
const CALM_MS = LONG ? 2_000 : 700;
/** Clients and keys of the workload (a few keys: many overlapping operations per key). */
const CLIENTS = 4;
const KEYS = 3;
/** A removed node learns it was removed from the entry that removed it, or from the members' answer to its campaign. */
const REMOVED_NOTICE_MS = 10_000;
/** What a removed node answers to writes and quorum reads. */
const REMOVED = /this node was removed from the cluster/;
/** MEMBER refusals that mean the change was made already (an earlier attempt's outcome was unknown). */
const ALREADY_ADDED = /already a member|already a voter/;
const ALREADY_REMOVED = /is not a member/;
const ALREADY_MOVED = /is already at/;

interface Run {
  readonly cluster: Cluster;
  readonly work: Workload;
  readonly r: Rng;
  readonly log: string[];
  /** The members now (removed nodes stay in cluster.nodes, killed). */
  members: string[];
}

/** Start `nodes` members behind per-member proxies, wait for a primary, start the workload; run `body`; then the common checks. */
async function withWorkload(seed: number, nodes: number, body: (run: Run) => Promise<void>): Promise<void> {
  const r = makeRng(seed);
  const cluster = await Cluster.start({ nodes, proxies: 'per-member' });
  const log: string[] = [];
  try {
    await cluster.waitForPrimary();
    const work = startWorkload(cluster, r, CLIENTS, KEYS);
    const run: Run = { cluster, work, r, log, members: cluster.nodes.map((n) => n.id) };
    try {
      await body(run);
      await delay(CALM_MS);
    } finally {
      await work.stop();
      cluster.heal();
    }
    await finalChecks(run, `seed ${seed}: ${log.join('; ')}`, `KV_SEED=${seed} node --test dist/test/cluster-membership-faults.test.js`);
  } catch (e) {
    process.stdout.write(`# steps so far: ${log.join('; ')}\n`);
    cluster.printLogs(80);
    throw e;
  } finally {
    await cluster.stop();
  }
}

/**
 * After the workload stopped and faults healed: the configuration holds exactly the members,
 * all voters; the history plus a quorum read of every key written is linearizable (so no
 * acknowledged write was lost); every member reaches the same DEBUG DIGEST.
 */
async function finalChecks(run: Run, steps: string, replay: string): Promise<void> {
  const { cluster, work, members } = run;
  await waitMembers(cluster, members);
  for (const id of members) await waitVoter(cluster, id);
  const s = work.stats;
  const summary =
    `${steps}\nputs ok ${s.putsOk}, unknown ${s.putsUnknown}, refused ${s.putsRefused}; gets ok ${s.getsOk}, failed ${s.getsFailed}; ` +
    `errors ${[...s.errors].map(([k, v]) => `${k}=${v}`).join(' ')}`;
  process.stdout.write(`# ${summary.replace(/\n/g, '\n# ')}\n`);
  assert.ok(s.putsOk > 0 && s.getsOk > 0, `the workload made progress\n${summary}`);

  // Read back every key with an acknowledged write, after every operation of the workload.
  const history: KvOp[] = [...work.history];
  let t = history.reduce((m, o) => Math.max(m, o.invokeMs, o.returnMs ?? 0), 0);
  const acked = [...new Set(work.history.filter((o) => o.kind === 'put' && o.returnMs !== undefined).map((o) => o.key))].sort();
  for (const key of acked) {
    const value = await waitFor(
      `a quorum read of ${key}`,
      async () => {
        const p = await cluster.primary();
        if (p === null) return null;
        const g = await cluster.call(p, ['GET', key, 'QUORUM']);
        if (!g.ok || g.reply.type === 'error') return null;
        return { text: g.reply.type === 'null' ? null : replyText(g.reply) };
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    assert.notEqual(value.text, null, `${key} had an acknowledged write and reads back absent\n${summary}`);
    history.push({ kind: 'get', key, value: value.text, invokeMs: t + 1, returnMs: t + 2 });
    t += 2;
  }
  const verdict = checkLinearizable(history);
  assert.equal(verdict.ok, true, `${JSON.stringify(verdict).slice(0, 4000)}\n${summary}\nreplay: ${replay}`);
  await cluster.waitConverged(60_000, members);
}

/** A removed node, still running, refuses writes and quorum reads (it must not serve a cluster it left). */
async function assertRefusesAsRemoved(cluster: Cluster, id: string): Promise<void> {
  let last = '';
  await waitFor(
    `${id} to answer as removed`,
    async () => {
      const w = await cluster.call(id, ['SET', 'removed-probe', id, 'QUORUM']);
      const g = await cluster.call(id, ['GET', 'removed-probe', 'QUORUM']);
      last = `SET: ${w.ok ? replyText(w.reply) : w.error}; GET: ${g.ok ? replyText(g.reply) : g.error}`;
      return w.ok && g.ok && w.reply.type === 'error' && g.reply.type === 'error' && REMOVED.test(w.reply.message) && REMOVED.test(g.reply.message);
    },
    { timeoutMs: REMOVED_NOTICE_MS, intervalMs: 100 },
  ).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}; last: ${last}`);
  });
}

/** Run `during` in the background: awaiting the result gives its error, if any, without an unhandled rejection meanwhile. */
function background(during: () => Promise<void>): Promise<unknown> {
  return during().then(
    () => null,
    (e: unknown) => e ?? new Error('failed'),
  );
}

async function rethrow(result: Promise<unknown>): Promise<void> {
  const e = await result;
  if (e !== null) throw e;
}

/** SIGKILL `id` for FAULT_MS, restart it; `during` starts with the fault and may outlast it. */
async function killFor(run: Run, id: string, during: () => Promise<void>): Promise<void> {
  run.log.push(`kill ${id}`);
  await run.cluster.kill(id);
  const d = background(during);
  await delay(FAULT_MS);
  await run.cluster.restart(id);
  await rethrow(d);
}

/** Cut `id` off from every other node for FAULT_MS, then heal; `during` starts with the fault and may outlast it. */
async function isolateFor(run: Run, id: string, during: () => Promise<void>): Promise<void> {
  run.log.push(`isolate ${id}`);
  run.cluster.isolate(id);
  const d = background(during);
  try {
    await delay(FAULT_MS);
  } finally {
    run.cluster.heal();
  }
  await rethrow(d);
}

/** The primary now (one is elected within the deadline). */
function primaryNow(cluster: Cluster): Promise<string> {
  return cluster.waitForPrimary(30_000);
}

/**
 * Start `id` (made by newNode) empty with --join at member `seed`: it is added as a learner at
 * its own address (the join checks that), then moved behind its proxy (MEMBER ADDRESS) so that
 * partitions reach its links too.
 */
async function joinBehindProxy(run: Run, id: string, seed: string): Promise<void> {
  await run.cluster.join(id, seed);
  run.log.push(`${id} joined via ${seed}`);
  await changeMembers(run.cluster, ['ADDRESS', id, run.cluster.memberProxy(id).address], ALREADY_MOVED);
}

/** Grow by two: `added` by MEMBER ADD while a member is SIGKILLed, `joined` by --join while the primary is cut off. */
async function grow(run: Run, added: string, joined: string): Promise<void> {
  const { cluster, work, r, log } = run;
  await delay(CALM_MS);
  work.nextGeneration();
  // The operator adds it, then starts it empty; a member dies meanwhile.
  const victim = r.pick(run.members);
  const node = await cluster.newNode(added);
  await killFor(run, victim, async () => {
    const by = await changeMembers(cluster, ['ADD', added, node.address], ALREADY_ADDED);
    log.push(`MEMBER ADD ${added} (acknowledged by ${by || 'an earlier attempt'})`);
    await joinBehindProxy(run, added, r.pick(run.members.filter((id) => id !== victim)));
  });
  run.members.push(added);
  await waitVoter(cluster, added);
  log.push(`${added} voter`);
  await delay(CALM_MS);
  work.nextGeneration();
  // It asks the primary, which is cut off from the others: an election follows, the join retries.
  const cut = await primaryNow(cluster);
  await cluster.newNode(joined);
  await isolateFor(run, cut, () => cluster.join(joined, cut).then(() => undefined));
  log.push(`${joined} joined`);
  await changeMembers(cluster, ['ADDRESS', joined, cluster.memberProxy(joined).address], ALREADY_MOVED);
  run.members.push(joined);
  await waitVoter(cluster, joined);
  log.push(`${joined} voter`);
  if (LONG) {
    // Both faults again, on the grown cluster.
    await delay(CALM_MS);
    work.nextGeneration();
    await killFor(run, await primaryNow(cluster), async () => {});
    await delay(CALM_MS);
    await isolateFor(run, r.pick(run.members), async () => {});
  }
}

/** MEMBER REMOVE `id`; a running `id` must then answer as removed (whether or not it held the entry: the members tell it), and is stopped. */
async function remove(run: Run, id: string, why: string): Promise<void> {
  const by = await changeMembers(run.cluster, ['REMOVE', id], ALREADY_REMOVED);
  run.log.push(`MEMBER REMOVE ${id} (${why}; acknowledged by ${by || 'an earlier attempt'})`);
  run.members = run.members.filter((m) => m !== id);
  if (run.cluster.node(id).state !== 'running') return;
  await assertRefusesAsRemoved(run.cluster, id);
  await run.cluster.kill(id);
}

/** Shrink by two: remove the primary itself while another member is cut off, then a follower. */
async function shrink(run: Run): Promise<void> {
  const { cluster, work, r } = run;
  await delay(CALM_MS);
  work.nextGeneration();
  const first = await primaryNow(cluster);
  const cut = r.pick(run.members.filter((id) => id !== first));
  await isolateFor(run, cut, () => remove(run, first, 'the primary'));
  await delay(CALM_MS);
  work.nextGeneration();
  const p = await primaryNow(cluster);
  await remove(run, r.pick(run.members.filter((id) => id !== p)), 'a follower');
  if (LONG) {
    await delay(CALM_MS);
    work.nextGeneration();
    await killFor(run, r.pick(run.members), async () => {});
  }
}

/**
 * Replace SIGKILLed members while clients write: a follower by a fresh node at its address
 * (MEMBER REMOVE, --join under a new id on the same port, behind the same proxy); then, after
 * the primary was cut off for a while, the primary by itself at a new address with its data
 * (MEMBER ADDRESS, restart).
 */
async function replace(run: Run): Promise<void> {
  const { cluster, work, r, log } = run;
  await delay(CALM_MS);
  work.nextGeneration();
  const p = await primaryNow(cluster);
  const dead = r.pick(run.members.filter((id) => id !== p));
  const address = cluster.memberProxy(dead).address;
  await cluster.kill(dead);
  log.push(`kill ${dead}`);
  await remove(run, dead, 'dead');
  const fresh = `${dead}b`;
  await cluster.newNode(fresh, dead);
  await joinBehindProxy(run, fresh, p);
  run.members.push(fresh);
  await waitVoter(cluster, fresh);
  log.push(`${fresh} voter at ${dead}'s address`);
  assert.equal((await memberList(cluster, await primaryNow(cluster)))?.find((m) => m.id === fresh)?.address, address);

  // The primary cut off: the others elect a new one while its clients' writes go nowhere.
  await delay(CALM_MS);
  work.nextGeneration();
  await isolateFor(run, await primaryNow(cluster), async () => {});

  await delay(CALM_MS);
  work.nextGeneration();
  const moved = await primaryNow(cluster);
  await cluster.kill(moved);
  log.push(`kill ${moved} (the primary)`);
  await cluster.restartOnNewPort(moved);
  const to = cluster.memberProxy(moved).address;
  await changeMembers(cluster, ['ADDRESS', moved, to], ALREADY_MOVED);
  log.push(`MEMBER ADDRESS ${moved} ${to}`);
  await waitFor(
    `${moved} listed at ${to} by the primary, its link up`,
    async () => {
      const pr = await cluster.primary();
      const list = pr === null ? null : await memberList(cluster, pr);
      const m = list?.find((x) => x.id === moved);
      return m !== undefined && m.address === to && m.role === 'voter' && (m.link === 'up' || m.link === 'self');
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  log.push(`${moved} back at its new address`);
}

test('grow 3 -> 5 and shrink back to 3 under quorum reads/writes, a SIGKILL and partitions: linearizable, converged, nothing acknowledged lost', { timeout: LONG ? 600_000 : 240_000 }, async () => {
  await withWorkload(testSeed(7101), 3, async (run) => {
    await grow(run, 'n4', 'n5');
    await shrink(run);
    if (LONG) {
      // A second round, new ids.
      await grow(run, 'n6', 'n7');
      await shrink(run);
    }
  });
});

test('replace a SIGKILLed member while clients write: a fresh node at its address, then the primary at a new address with its data', { timeout: LONG ? 600_000 : 240_000 }, async () => {
  await withWorkload(testSeed(7102), 3, replace);
});

test('a member removed while cut off learns it was removed once the partition heals', { timeout: 120_000 }, async () => {
  const cluster = await Cluster.start({ nodes: 3, proxies: 'per-member' });
  try {
    const p = await primaryNow(cluster);
    const gone = cluster.nodes.map((n) => n.id).find((id) => id !== p) as string;
    cluster.isolate(gone);
    // The two others commit the removal without it: it never receives the entry that removed it.
    await changeMembers(cluster, ['REMOVE', gone], ALREADY_REMOVED);
    await waitMembers(cluster, cluster.nodes.map((n) => n.id).filter((id) => id !== gone));
    const acked = await cluster.call(p, ['SET', 'after-removal', '1', 'QUORUM']);
    assert.ok(acked.ok && acked.reply.type === 'simple', 'the two remaining voters commit');
    cluster.heal();
    await assertRefusesAsRemoved(cluster, gone);
  } catch (e) {
    cluster.printLogs(40);
    throw e;
  } finally {
    await cluster.stop();
  }
});

test('a join through a cut-off primary that lists it only in an uncommitted configuration waits for a committed one', { timeout: 120_000 }, async () => {
  const cluster = await Cluster.start({ nodes: 3, proxies: 'per-member' });
  try {
    const p = await primaryNow(cluster);
    const n4 = await cluster.newNode('n4');
    cluster.isolate(p);
    // The cut-off primary appends the addition (in force in its log at once) but cannot commit it.
    const add = await cluster.call(p, ['MEMBER', 'ADD', 'n4', n4.address], MEMBER_CALL_TIMEOUT_MS);
    assert.ok(add.ok && add.reply.type === 'error', `the cut-off primary cannot commit the addition: ${JSON.stringify(add.ok ? replyText(add.reply) : add.error)}`);
    // Its list shows n4 in that configuration (most runs; it may have stepped down and heard otherwise first).
    const listed = (await memberList(cluster, p))?.find((m) => m.id === 'n4');
    process.stdout.write(`# ${p} lists n4: ${listed === undefined ? 'no' : `committed ${String(listed.configCommitted)}`}\n`);
    // The join asks it; it must not take that listing for an addition (the others discard the entry).
    const joining = cluster.join('n4', p).then(
      () => null,
      (e: unknown) => e,
    );
    await delay(FAULT_MS);
    cluster.heal();
    assert.equal(await joining, null);
    await waitVoter(cluster, 'n4');
    await cluster.waitConverged(30_000);
  } catch (e) {
    cluster.printLogs(40);
    throw e;
  } finally {
    await cluster.stop();
  }
});
