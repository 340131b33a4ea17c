// Live membership changes in the replication core: the configuration codec and arithmetic
// (member-config.ts), and scenarios driven through the simulated world without faults: a learner
// joins and is promoted when caught up, LEARNER stays a learner until promoted, one change at a
// time, removing a replica or the primary itself, a new address. The fault schedules with
// membership changes are in replication-sim.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyChange,
  bootstrapConfig,
  decodeMemberConfig,
  encodeMemberConfig,
  majoritiesCanBeDisjoint,
  REMOVED_KEPT,
  votersOf,
} from '../src/replication/core/member-config.js';
import type { Member, MemberConfig } from '../src/replication/core/types.js';
import { DEFAULT_SIM, SIM_TIMING, STEP_MS, SimWorld } from './helpers/sim/world.js';
import type { SimNode } from './helpers/sim/node.js';

const cfg = (voters: string[], learners: string[] = []): MemberConfig => {
  const members = new Map<string, Member>();
  for (const id of voters) members.set(id, { address: `h:${id}`, voter: true, autoPromote: false });
  for (const id of learners) members.set(id, { address: `h:${id}`, voter: false, autoPromote: true });
  return { members };
};

test('member configs: the byte form round-trips and refuses what is not a configuration', () => {
  const c = cfg(['a', 'b', 'c'], ['d']);
  const back = decodeMemberConfig(encodeMemberConfig(c));
  assert(back !== null);
  assert.deepEqual([...back.members], [...c.members]);
  // Equal configurations encode equal whatever the insertion order.
  assert(encodeMemberConfig(cfg(['c', 'a', 'b'], ['d'])).equals(encodeMemberConfig(c)));
  for (const bad of ['', 'nope', '{"v":2,"members":[]}', '{"v":1,"members":[]}', '{"v":1,"members":[["a","h",1,0],["a","h2",1,0]]}', '{"v":1,"members":[["a b","h",1,0]]}', '{"v":1,"members":[["a","h",0,1]]}']) {
    assert.equal(decodeMemberConfig(Buffer.from(bad)), null, bad);
  }
  const boot = bootstrapConfig({ mode: 'cluster', members: new Map([['a', 'h:a']]), learners: new Map([['z', 'h:z']]) });
  assert.deepEqual(votersOf(boot), ['a']);
  assert.equal(boot.members.get('z')?.voter, false);
});

test('member configs: applyChange adds learners, promotes, removes, moves, and refuses nonsense', () => {
  const c = cfg(['a', 'b', 'c']);
  const added = applyChange(c, { op: 'add', id: 'd', address: 'h:d', autoPromote: false });
  assert(typeof added !== 'string');
  assert.equal(added.members.get('d')?.voter, false, 'a new member is a learner');
  const promoted = applyChange(added, { op: 'promote', id: 'd' });
  assert(typeof promoted !== 'string');
  assert.deepEqual(votersOf(promoted).sort(), ['a', 'b', 'c', 'd']);
  assert.match(applyChange(c, { op: 'add', id: 'a', address: 'h:x', autoPromote: true }) as string, /already a member/);
  assert.match(applyChange(c, { op: 'add', id: 'x', address: 'h:a', autoPromote: true }) as string, /belongs to member a/);
  assert.match(applyChange(c, { op: 'promote', id: 'a' }) as string, /already a voter/);
  assert.match(applyChange(c, { op: 'remove', id: 'zz' }) as string, /not a member/);
  assert.match(applyChange(cfg(['a']), { op: 'remove', id: 'a' }) as string, /only voter/);
  const moved = applyChange(c, { op: 'address', id: 'b', address: 'h:b2' });
  assert(typeof moved !== 'string');
  assert.equal(moved.members.get('b')?.address, 'h:b2');
  // A removal is remembered (and survives the byte form); re-adding forgets it.
  const removed = applyChange(c, { op: 'remove', id: 'c' });
  assert(typeof removed !== 'string');
  assert.deepEqual(removed.removed, ['c']);
  assert.deepEqual(decodeMemberConfig(encodeMemberConfig(removed))?.removed, ['c']);
  const readded = applyChange(removed, { op: 'add', id: 'c', address: 'h:c', autoPromote: true });
  assert(typeof readded !== 'string');
  assert.equal(readded.removed, undefined);
  let many: MemberConfig = cfg(['a', 'b']);
  for (let i = 0; i < REMOVED_KEPT + 5; i++) {
    const added = applyChange(many, { op: 'add', id: `x${i}`, address: `h:x${i}`, autoPromote: false });
    assert(typeof added !== 'string');
    const gone = applyChange(added, { op: 'remove', id: `x${i}` });
    assert(typeof gone !== 'string');
    many = gone;
  }
  assert.equal(many.removed?.length, REMOVED_KEPT, 'the newest removals only');
  assert.equal(many.removed?.[REMOVED_KEPT - 1], `x${REMOVED_KEPT + 4}`);
});

test('member configs: two configurations one single-server change apart always share a voter between majorities', () => {
  assert.equal(majoritiesCanBeDisjoint(cfg(['a', 'b', 'c']), cfg(['a', 'b', 'c', 'd'])), false);
  assert.equal(majoritiesCanBeDisjoint(cfg(['a', 'b', 'c']), cfg(['a', 'b'])), false);
  assert.equal(majoritiesCanBeDisjoint(cfg(['a', 'b', 'c', 'd']), cfg(['b', 'c', 'd'])), false);
  // Two changes at once: {a,b} is a majority of the first, {c,d,e} of the second.
  assert.equal(majoritiesCanBeDisjoint(cfg(['a', 'b', 'c']), cfg(['a', 'b', 'c', 'd', 'e'])), true);
  assert.equal(majoritiesCanBeDisjoint(cfg(['a', 'b', 'c']), cfg(['a'])), true);
  assert.equal(majoritiesCanBeDisjoint(cfg(['a', 'b', 'c', 'd']), cfg(['a', 'b'])), false);
  // Learners never count.
  assert.equal(majoritiesCanBeDisjoint(cfg(['a', 'b', 'c']), cfg(['a', 'b', 'c'], ['d', 'e', 'f'])), false);
});

/** A fault-free world of 3 voters and 2 spares (n4, n5); writes flow, nothing else happens unless asked. */
function calmWorld(seed: number): SimWorld {
  return new SimWorld({
    ...DEFAULT_SIM,
    seed,
    nodes: 3,
    spares: 2,
    crashRate: 0,
    diskFailRate: 0,
    partitionRate: 0,
    failoverRate: 0,
    memberChangeRate: 0,
    net: { delayMinMs: 1, delayMaxMs: 5, dropRate: 0, duplicateRate: 0 },
  });
}

/** Step until `cond` or fail after `maxSteps` (simulated time: deterministic). */
function until(w: SimWorld, what: string, cond: () => boolean, maxSteps = 2000): void {
  for (let i = 0; i < maxSteps; i++) {
    if (cond()) return;
    w.step(false, true);
  }
  assert.fail(`not reached within ${maxSteps} steps: ${what}\n  ${w.trace.slice(-20).join('\n  ')}`);
}

/** The primary once it has committed an entry of its own epoch (before that it refuses membership changes). */
function primaryOf(w: SimWorld): SimNode {
  until(w, 'a primary that committed in its epoch', () => {
    const core = w.primary()?.core;
    return core !== null && core !== undefined && w.primary()?.epochAt(core.committedSeq) === core.currentEpoch;
  });
  return w.primary() as SimNode;
}

/** Ask the primary, step until the result; returns it. */
function change(w: SimWorld, c: Parameters<SimWorld['requestChange']>[1]): { outcome: string; reason: string } {
  const id = w.requestChange(primaryOf(w), c);
  until(w, `result of ${c.op} ${c.id}`, () => w.changeResults.has(id));
  return w.changeResults.get(id) as { outcome: string; reason: string };
}

const role = (w: SimWorld, id: string): string | undefined => w.primary()?.core?.configInForce.config.members.get(id)?.voter === true ? 'voter' : w.primary()?.core?.configInForce.config.members.has(id) === true ? 'learner' : 'none';

test('membership: a node added without LEARNER receives the log and becomes a voter on its own', () => {
  const w = calmWorld(11);
  primaryOf(w);
  for (let i = 0; i < 100; i++) w.step(false, true); // some data first
  assert.deepEqual(change(w, { op: 'add', id: 'n4', address: '10.0.0.4:7000', autoPromote: true }), { outcome: 'ok', reason: '' });
  until(w, 'n4 promoted', () => role(w, 'n4') === 'voter');
  const p = primaryOf(w);
  until(w, 'n4 holds the log', () => w.byName('n4').lastSeq === p.lastSeq);
  assert.equal(w.byName('n4').core?.memberRole, 'voter');
  // Four voters: a commit needs three.
  assert.equal(votersOf(p.core?.configInForce.config as MemberConfig).length, 4);
  w.checkConverged();
});

test('membership: LEARNER stays a learner (never counted) until MEMBER PROMOTE', () => {
  const w = calmWorld(12);
  primaryOf(w);
  assert.equal(change(w, { op: 'add', id: 'n4', address: '10.0.0.4:7000', autoPromote: false }).outcome, 'ok');
  for (let i = 0; i < 300; i++) w.step(false, true);
  assert.equal(role(w, 'n4'), 'learner');
  assert.equal(w.byName('n4').core?.memberRole, 'learner');
  assert.equal(w.byName('n4').core?.currentRole, 'replica', 'a learner never campaigns');
  assert.equal(change(w, { op: 'promote', id: 'n4' }).outcome, 'ok');
  assert.equal(role(w, 'n4'), 'voter');
});

test('membership: one change at a time; a second request while the first is in flight is refused', () => {
  const w = calmWorld(13);
  const p = primaryOf(w);
  const first = w.requestChange(p, { op: 'add', id: 'n4', address: '10.0.0.4:7000', autoPromote: false });
  const second = w.requestChange(p, { op: 'add', id: 'n5', address: '10.0.0.5:7000', autoPromote: false });
  assert.equal(w.changeResults.get(second)?.outcome, 'refused');
  assert.match(w.changeResults.get(second)?.reason ?? '', /in progress/);
  until(w, 'first done', () => w.changeResults.has(first));
  assert.equal(w.changeResults.get(first)?.outcome, 'ok');
});

test('membership: a removed replica is told, stops counting, and never campaigns; the rest keep committing', () => {
  const w = calmWorld(14);
  const p = primaryOf(w);
  const victim = ['n1', 'n2', 'n3'].find((id) => id !== p.id) as string;
  assert.equal(change(w, { op: 'remove', id: victim }).outcome, 'ok');
  until(w, `${victim} learns it was removed`, () => w.byName(victim).core?.memberRole === 'removed');
  // Its log stops; the two remaining voters still commit (2 of 2).
  const commitBefore = p.core?.committedSeq ?? 0;
  for (let i = 0; i < 400; i++) w.step(false, true);
  assert((p.core?.committedSeq ?? 0) > commitBefore + 10, 'commits continue without the removed node');
  assert.notEqual(w.byName(victim).core?.currentRole, 'primary');
  assert.notEqual(w.byName(victim).core?.currentRole, 'candidate');
  assert.equal(w.byName(victim).core?.acceptsWrites(w.nowMs), false);
});

test('membership: removing the primary commits the change, then hands over to a remaining voter within an election round', () => {
  const w = calmWorld(15);
  const old = primaryOf(w);
  assert.equal(change(w, { op: 'remove', id: old.id }).outcome, 'ok');
  // timeoutNow: the successor campaigns at once instead of waiting out an election timeout.
  until(w, 'a new primary', () => w.primary() !== undefined && w.primary() !== old, SIM_TIMING.electionTimeoutMinMs / STEP_MS);
  assert.equal(old.core?.memberRole, 'removed');
  assert.notEqual(old.core?.currentRole, 'primary');
  const p = w.primary() as SimNode;
  assert.equal(p.core?.configInForce.config.members.has(old.id), false);
  for (let i = 0; i < 400; i++) w.step(false, true);
  assert.equal(w.primary(), p, 'the removed node does not disturb the new primary');
});

test('membership: MEMBER ADDRESS records a new address; redirects name it', () => {
  const w = calmWorld(16);
  const p = primaryOf(w);
  const other = ['n1', 'n2', 'n3'].find((id) => id !== p.id) as string;
  assert.equal(change(w, { op: 'address', id: other, address: '10.9.9.9:7000' }).outcome, 'ok');
  until(w, 'the new address reaches the member', () => w.byName(other).core?.configInForce.config.members.get(other)?.address === '10.9.9.9:7000');
  assert.equal(p.core?.status(w.nowMs).peers.find((x) => x.id === other)?.address, '10.9.9.9:7000');
});
