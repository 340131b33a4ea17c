// In-process tests of the cluster-mode pieces that need no network: --cluster parsing, the
// membership binding of a data directory, the reply recorder, quorum operation routing, MEMBER's
// arguments, redirect and replies, and the TOPOLOGY view.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { openReplicatedStore as openStore } from '../src/storage/store.js';
import type { ReplicatedStore as Store } from '../src/storage/api.js';
import type { CommandContext, CommandSpec, ClientState, ServerServices } from '../src/server/command-types.js';
import { bindMembership, parseClusterFlag } from '../src/replication/cluster/membership.js';
import { ReplyRecorder } from '../src/replication/cluster/reply-recorder.js';
import { noQuorumWrite, QuorumOps, quorumSuffix, type QuorumBackend, type RunCommand } from '../src/replication/cluster/quorum-ops.js';
import { memberViews } from '../src/replication/cluster/topology.js';
import { ERR_REMOVED, MemberFrontend } from '../src/replication/cluster/member-commands.js';
import type { CoreStatus, MemberChange, MemberRole } from '../src/replication/core/types.js';
import { RecordingWriter } from './helpers/recording-writer.js';
import { tempDir } from './helpers/procs.js';

test('parseClusterFlag: valid lists and each kind of mistake', () => {
  const m = parseClusterFlag('n1=127.0.0.1:4001,n2=127.0.0.1:4002,n3=[::1]:4003', 'n2');
  assert.ok(typeof m !== 'string');
  assert.equal(m.self, 'n2');
  assert.deepEqual([...m.members.keys()], ['n1', 'n2', 'n3']);
  assert.equal(m.members.get('n3'), '[::1]:4003');
  const bad: Array<[string, string, RegExp]> = [
    ['n1=127.0.0.1:4001', 'n2', /must list this node/],
    ['n1=127.0.0.1:4001,n1=127.0.0.1:4002', 'n1', /listed twice/],
    ['n1=127.0.0.1:4001,n2=127.0.0.1:4001', 'n1', /address .* listed twice/],
    ['n1=127.0.0.1', 'n1', /bad address/],
    ['n1=127.0.0.1:70000', 'n1', /bad address/],
    ['=127.0.0.1:1', 'n1', /expected id=host:port/],
    ['n 1=127.0.0.1:1', 'n 1', /--node-id/],
    ['', 'n1', /expected id=host:port/],
  ];
  for (const [v, self, re] of bad) {
    const r = parseClusterFlag(v, self);
    assert.equal(typeof r, 'string', `${v} should be refused`);
    assert.match(r as string, re);
  }
  const many = Array.from({ length: 16 }, (_, i) => `n${i}=127.0.0.1:${5000 + i}`).join(',');
  assert.match(parseClusterFlag(many, 'n0') as string, /at most 15/);
});

test('bindMembership: first start records, same ids pass (addresses may move), other ids or node id are refused', async () => {
  const dir = tempDir('kvts-membership-');
  let store: Store | undefined;
  try {
    store = await openStore({ dir });
    const m1 = parseClusterFlag('n1=127.0.0.1:1,n2=127.0.0.1:2,n3=127.0.0.1:3', 'n1');
    assert.ok(typeof m1 !== 'string');
    assert.deepEqual(await bindMembership(store, m1), { ok: true, created: true });
    const moved = parseClusterFlag('n1=127.0.0.1:1,n2=127.0.0.1:22,n3=127.0.0.1:33', 'n1');
    assert.ok(typeof moved !== 'string');
    assert.deepEqual(await bindMembership(store, moved), { ok: true, created: false });
    const other = parseClusterFlag('n1=127.0.0.1:1,n2=127.0.0.1:2,n4=127.0.0.1:4', 'n1');
    assert.ok(typeof other !== 'string');
    const r = await bindMembership(store, other);
    assert.equal(r.ok, false);
    assert.match((r as { error: string }).error, /n1,n2,n4 differ from the membership .*\(n1,n2,n3\)/);
    const otherSelf = parseClusterFlag('n1=127.0.0.1:1,n2=127.0.0.1:2,n3=127.0.0.1:3', 'n2');
    assert.ok(typeof otherSelf !== 'string');
    const r2 = await bindMembership(store, otherSelf);
    assert.equal(r2.ok, false);
    await store.close();
    // Persisted: a reopened store still refuses.
    store = await openStore({ dir });
    assert.equal((await bindMembership(store, other)).ok, false);
  } finally {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ReplyRecorder replays nested replies exactly and counts complete replies', () => {
  const rec = new ReplyRecorder(3);
  rec.array(2);
  rec.map(1);
  rec.bulk('k');
  rec.integer(7);
  rec.array(0);
  assert.equal(rec.replies, 1);
  const buf = Buffer.from('abc');
  rec.bulk(buf);
  buf[0] = 0x7a; // later changes to the source must not change the recorded reply
  rec.error('ERR x');
  assert.equal(rec.replies, 3);
  assert.equal(rec.errors, 1);
  const w = new RecordingWriter();
  rec.replay(w);
  assert.deepEqual(w.take(), [[['k', 7], []], 'abc', '-ERR x']);
});

// ---------------------------------------------------------------- QuorumOps with a fake backend

function spec(name: string, flags: CommandSpec['flags']): CommandSpec {
  return { name, arity: -2, flags, firstKey: 1, lastKey: 1, keyStep: 1, summary: '', syntax: '', group: 'string', handler: () => undefined };
}

interface Harness {
  ops: QuorumOps;
  ctx: CommandContext;
  out: RecordingWriter;
  deferred: RecordingWriter[];
  submitted: string[];
  data: Map<string, string>;
  run: RunCommand;
}

function harness(quorumMode: boolean, unavailable: string | null = null): Harness {
  const data = new Map<string, string>();
  let seq = 10;
  const store = { get lastPosition() { return { epoch: 2, seq }; } } as unknown as Store;
  const out = new RecordingWriter();
  const deferred: RecordingWriter[] = [];
  const submitted: string[] = [];
  const client = { id: 1 } as unknown as ClientState;
  const ctx: CommandContext = {
    store,
    out,
    client,
    server: {} as ServerServices,
    write: () => {
      seq++;
    },
    defer: () => (write) => {
      const w = new RecordingWriter();
      write(w);
      deferred.push(w);
      return true;
    },
  };
  const backend: QuorumBackend = {
    quorumUnavailable: () => unavailable,
    submitRead: (id) => submitted.push(`read ${id}`),
    submitWrite: (id, s) => submitted.push(`write ${id} at ${s}`),
  };
  // A tiny GET/SET: what the dispatcher's checks + handler would do.
  const run: RunCommand = (c, _spec, argv): void => {
    const name = (argv[0] as Buffer).toString().toLowerCase();
    const key = (argv[1] as Buffer).toString();
    if (name === 'get') {
      if (argv.length !== 2) return c.out.error("ERR wrong number of arguments for 'get' command");
      const v = data.get(key);
      return v === undefined ? c.out.nullBulk() : c.out.bulk(v);
    }
    data.set(key, (argv[2] as Buffer).toString());
    c.write([]);
    c.out.ok();
  };
  return { ops: new QuorumOps(backend, () => quorumMode), ctx, out, deferred, submitted, data, run };
}

const args = (...a: string[]): Buffer[] => a.map((x) => Buffer.from(x));

test('quorumSuffix: GET key QUORUM and SET key value ... QUORUM only', () => {
  const get = spec('get', ['readonly']);
  const set = spec('set', ['write']);
  assert.equal(quorumSuffix(get, args('GET', 'k', 'quorum')), true);
  assert.equal(quorumSuffix(get, args('GET', 'k')), false);
  assert.equal(quorumSuffix(set, args('SET', 'k', 'v', 'QUORUM')), true);
  assert.equal(quorumSuffix(set, args('SET', 'k', 'v', 'EX', '10', 'QUORUM')), true);
  assert.equal(quorumSuffix(set, args('SET', 'k', 'QUORUM')), false, 'a value that happens to be QUORUM');
});

test('quorum write: replies only after the core says ok; unknown outcome gives the NOQUORUM text', () => {
  const h = harness(false);
  const set = spec('set', ['write']);
  assert.equal(h.ops.intercept(set, h.ctx, args('SET', 'k', 'v', 'QUORUM'), h.run), true);
  assert.deepEqual(h.submitted, ['write 1 at 11']);
  assert.equal(h.data.get('k'), 'v', 'the QUORUM word is not part of the command');
  assert.deepEqual(h.out.take(), [], 'nothing written before commit');
  assert.equal(h.deferred.length, 0);
  h.ops.onWriteResult(1, 'ok', '');
  assert.deepEqual(h.deferred[0]?.take(), ['+OK']);
  h.ops.intercept(set, h.ctx, args('SET', 'k', 'w', 'QUORUM'), h.run);
  h.ops.onWriteResult(2, 'unknown', 'leadership lost before commit');
  assert.deepEqual(h.deferred[1]?.take(), [`-${noQuorumWrite('leadership lost before commit')}`]);
  assert.match(noQuorumWrite('x'), /^NOQUORUM outcome unknown: the write may or may not take effect \(x\)$/);
  h.ops.onWriteResult(2, 'ok', ''); // a duplicate result is ignored
  assert.equal(h.deferred.length, 2);
  assert.equal(h.ops.pending, 0);
});

test('quorum read: the value read at submit time is the reply, released on readReady', () => {
  const h = harness(true);
  const get = spec('get', ['readonly']);
  h.data.set('k', 'old');
  assert.equal(h.ops.intercept(get, h.ctx, args('GET', 'k'), h.run), true);
  assert.deepEqual(h.submitted, ['read 1']);
  h.data.set('k', 'newer-uncommitted'); // must not leak into the pending reply
  h.ops.onReadReady(1);
  assert.deepEqual(h.deferred[0]?.take(), ['old']);
  h.ops.intercept(get, h.ctx, args('GET', 'k'), h.run);
  h.ops.onReadFailed(2, { reason: 'notPrimary', redirect: '127.0.0.1:4001' });
  assert.deepEqual(h.deferred[1]?.take(), ['-NOTPRIMARY quorum reads and writes are served by the primary; primary=127.0.0.1:4001']);
});

test('quorum routing: non-quorum commands pass through, errors answer at once, manual mode refuses', () => {
  const off = harness(false);
  assert.equal(off.ops.intercept(spec('get', ['readonly']), off.ctx, args('GET', 'k'), off.run), false);
  const on = harness(true);
  assert.equal(on.ops.intercept(spec('ping', ['fast']), on.ctx, args('PING', 'x'), on.run), false, 'PING has nothing to confirm');
  assert.equal(on.ops.intercept(spec('get', ['readonly']), on.ctx, args('GET', 'a', 'b'), on.run), true);
  assert.deepEqual(on.out.take(), ["-ERR wrong number of arguments for 'get' command"]);
  assert.deepEqual(on.submitted, []);
  const manual = harness(true, 'quorum needs cluster mode (--cluster)');
  manual.ops.intercept(spec('get', ['readonly']), manual.ctx, args('GET', 'k'), manual.run);
  assert.deepEqual(manual.out.take(), ['-NOQUORUM quorum needs cluster mode (--cluster)']);
});


/** Three voters and a learner, as the status of a cluster that is adding n4. */
const FOUR_MEMBERS = {
  members: new Map([
    ['n1', { address: '127.0.0.1:1', voter: true, autoPromote: false }],
    ['n2', { address: '127.0.0.1:2', voter: true, autoPromote: false }],
    ['n3', { address: '127.0.0.1:3', voter: true, autoPromote: false }],
    ['n4', { address: '127.0.0.1:4', voter: false, autoPromote: true }],
  ]),
};

test('memberViews: the primary sees each replica with its applied position and lag', () => {
  const status: CoreStatus = {
    nodeId: 'n1',
    mode: 'cluster',
    role: 'primary',
    epoch: 3,
    primaryId: 'n1',
    primaryAddress: '127.0.0.1:1',
    sync: 'none',
    lastPos: { epoch: 3, seq: 20 },
    commitSeq: 18,
    durableSeq: 20,
    acceptsWrites: true,
    logFailed: false,
    peers: [
      { id: 'n3', address: '127.0.0.1:3', role: 'replica', matchSeq: 18, lagOps: 2, lagMs: 5, link: 'up', sync: 'streaming', lastHeardMs: 990 },
      { id: 'n2', address: '127.0.0.1:2', role: 'replica', matchSeq: 0, lagOps: 20, lagMs: 0, link: 'down', sync: 'unknown', lastHeardMs: -1 },
      // Connected but outside the configuration (removed): not a member to show or route to.
      { id: 'n5', address: '127.0.0.1:5', role: 'replica', matchSeq: 0, lagOps: 0, lagMs: 0, link: 'up', sync: 'unknown', lastHeardMs: 999 },
    ],
    fullResyncs: 0,
    partialResyncs: 0,
    discardedEntries: 0,
    discardedRanges: [],
    backlogBytes: 0,
    backlogFirstSeq: 0,
    backlogBytesMax: 1024,
    membership: {
      config: FOUR_MEMBERS,
      seq: 12,
      committed: true,
      self: 'voter',
    },
  };
  const v = memberViews({ status, epochHistory: [{ epoch: 1, startSeq: 1 }, { epoch: 3, startSeq: 15 }], nowMs: 1000, knownPrimaryLastSeq: 0 });
  assert.deepEqual(v.map((x) => x.id), ['n1', 'n2', 'n3', 'n4']);
  assert.deepEqual(v.map((x) => x.member), ['voter', 'voter', 'voter', 'learner']);
  assert.equal(v[3]?.link, 'down', 'a member the core has no peer entry for yet is known by the configuration only');
  assert.deepEqual(v[0]?.applied, { epoch: 3, seq: 20 });
  assert.equal(v[0]?.link, 'self');
  assert.equal(v[1]?.applied, null, 'a member not streaming from us: unknown');
  assert.equal(v[1]?.lastHeardMsAgo, -1);
  assert.deepEqual(v[2]?.applied, { epoch: 3, seq: 18 });
  assert.equal(v[2]?.epoch, 3);
  assert.equal(v[2]?.lagOps, 2);
  assert.equal(v[2]?.lastHeardMsAgo, 10);
});

test('kv-cli: TOPOLOGY prints as a table; NOTPRIMARY is a redirect it follows', async () => {
  const { formatTopologyTable, formatCommandReply } = await import('../src/cli/format.js');
  const { errorFromReply, NotPrimaryError } = await import('../src/client/errors.js');
  const b = (s: string): { type: 'bulk'; value: Buffer } => ({ type: 'bulk', value: Buffer.from(s) });
  const i = (n: number): { type: 'integer'; value: bigint } => ({ type: 'integer', value: BigInt(n) });
  const member = (id: string, self: boolean, role: string): { type: 'map'; items: Array<ReturnType<typeof b> | ReturnType<typeof i> | { type: 'boolean'; value: boolean }> } => ({
    type: 'map',
    items: [b('id'), b(id), b('address'), b('127.0.0.1:4001'), b('self'), { type: 'boolean', value: self }, b('member'), b(id === 'n3' ? 'learner' : 'voter'), b('role'), b(role), b('epoch'), i(3), b('applied'), b('3:20'), b('lag_ops'), i(0), b('lag_ms'), i(0), b('link'), b(self ? 'self' : 'up'), b('last_heard_ms'), i(12), b('config_seq'), i(17), b('config_committed'), { type: 'boolean', value: false }],
  });
  const reply = { type: 'array' as const, items: [member('n1', true, 'primary'), member('n2', false, 'replica'), member('n3', false, 'replica')] };
  const t = formatTopologyTable(reply);
  assert.ok(t !== undefined);
  const lines = t.trimEnd().split('\n');
  assert.equal(lines.length, 5);
  assert.match(lines[0] as string, /^\s+id\s+address\s+member\s+role\s+epoch\s+applied\s+lag_ops\s+lag_ms\s+link\s+last_heard_ms$/);
  assert.match(lines[1] as string, /^\*\s+n1\s+127\.0\.0\.1:4001\s+voter\s+primary\s+3\s+3:20\s+0\s+0\s+self\s+12$/);
  assert.match(lines[2] as string, /^\s+n2 .* replica /);
  assert.match(lines[3] as string, /^\s+n3 .* learner .* replica /);
  assert.equal(lines[4], 'configuration seq 17, not committed yet: voters n1,n2; learners n3');
  assert.equal(formatCommandReply(['TOPOLOGY'], reply, true).toString(), t);
  assert.equal(formatTopologyTable({ type: 'error', message: 'ERR x' }), undefined);
  const np = errorFromReply('NOTPRIMARY quorum reads and writes are served by the primary; primary=127.0.0.1:4002');
  assert.ok(np instanceof NotPrimaryError);
  assert.equal(np.primary, '127.0.0.1:4002');
});

/** A cluster status with n1..n3 voters and n4 a learner; `role`, `self` as given. */
function clusterStatus(role: 'primary' | 'replica', self: MemberRole): CoreStatus {
  return {
    nodeId: 'n1', mode: 'cluster', role, epoch: 3, primaryId: role === 'primary' ? 'n1' : 'n2', primaryAddress: role === 'primary' ? '127.0.0.1:1' : '127.0.0.1:2',
    sync: 'none', lastPos: { epoch: 3, seq: 20 }, commitSeq: 20, durableSeq: 20, acceptsWrites: role === 'primary', logFailed: false,
    peers: [
      { id: 'n2', address: '127.0.0.1:2', role: 'replica', matchSeq: 19, lagOps: 1, lagMs: 3, link: 'up', sync: 'streaming', lastHeardMs: 990 },
      { id: 'n4', address: '127.0.0.1:4', role: 'replica', matchSeq: 5, lagOps: 15, lagMs: 0, link: 'up', sync: 'snapshot', lastHeardMs: 990 },
    ],
    fullResyncs: 0, partialResyncs: 0, discardedEntries: 0, discardedRanges: [], backlogBytes: 0, backlogFirstSeq: 0, backlogBytesMax: 1024,
    membership: {
      config: FOUR_MEMBERS,
      seq: 17,
      committed: false,
      self,
    },
  };
}

test('MEMBER: arguments checked, changes only on the primary (READONLY redirect elsewhere), replies from the core\'s result', () => {
  let status = clusterStatus('primary', 'voter');
  const asked: Array<[number, MemberChange]> = [];
  const m = new MemberFrontend({ status: () => status, changeMembers: (id, ch) => void asked.push([id, ch]) });
  const h = harness(false);
  const run = (...a: string[]): unknown[] => {
    m.spec().handler(h.ctx, args('MEMBER', ...a));
    return h.out.take();
  };
  assert.match(run('ADD', 'bad id', '127.0.0.1:5')[0] as string, /^-ERR bad node id 'bad id'/);
  assert.match(run('ADD', 'n5', 'nowhere')[0] as string, /^-ERR bad address 'nowhere'/);
  assert.match(run('ADD', 'n5', '127.0.0.1:5', 'VOTER')[0] as string, /^-ERR syntax error/);
  assert.match(run('FROB', 'n5')[0] as string, /^-ERR unknown subcommand 'frob'/);
  assert.deepEqual(asked, []);
  assert.deepEqual(run('ADD', 'n5', '127.0.0.1:5'), [], 'deferred until the core answers');
  assert.deepEqual(run('ADD', 'n6', '127.0.0.1:6', 'learner'), []);
  assert.deepEqual(run('PROMOTE', 'n4'), []);
  assert.deepEqual(run('REMOVE', 'n3'), []);
  assert.deepEqual(run('ADDRESS', 'n2', '127.0.0.1:22'), []);
  assert.deepEqual(asked, [
    [1, { op: 'add', id: 'n5', address: '127.0.0.1:5', autoPromote: true }],
    [2, { op: 'add', id: 'n6', address: '127.0.0.1:6', autoPromote: false }],
    [3, { op: 'promote', id: 'n4' }],
    [4, { op: 'remove', id: 'n3' }],
    [5, { op: 'address', id: 'n2', address: '127.0.0.1:22' }],
  ]);
  m.onResult({ type: 'memberChangeResult', requestId: 2, outcome: 'refused', seq: 0, reason: 'a membership change is in progress' });
  m.onResult({ type: 'memberChangeResult', requestId: 1, outcome: 'ok', seq: 21, reason: '' });
  m.onResult({ type: 'memberChangeResult', requestId: 3, outcome: 'unknown', seq: 22, reason: 'stepped down' });
  m.onResult({ type: 'memberChangeResult', requestId: 1, outcome: 'ok', seq: 21, reason: '' }); // answered already: ignored
  const replies = h.deferred.map((w) => w.take()[0]);
  assert.deepEqual(replies.slice(0, 2), ['-ERR a membership change is in progress', '+OK']);
  assert.match(String(replies[2]), /^-ERR membership change outcome unknown: the entry at seq 22 was appended .*\(stepped down\)/);
  assert.equal(replies.length, 3);
  status = clusterStatus('replica', 'voter');
  assert.deepEqual(run('REMOVE', 'n3'), ['-READONLY membership changes are made on the primary. primary=127.0.0.1:2']);
  status = clusterStatus('replica', 'removed');
  assert.deepEqual(run('LIST'), [`-${ERR_REMOVED}`]);
  assert.deepEqual(run('ADD', 'n5', '127.0.0.1:5'), [`-${ERR_REMOVED}`]);
  assert.equal(asked.length, 5);
});

test('MEMBER LIST: every member of the configuration with its role, link and progress as the primary tracks it', () => {
  const m = new MemberFrontend({ status: () => clusterStatus('primary', 'voter'), changeMembers: () => undefined });
  const h = harness(false);
  m.spec().handler(h.ctx, args('MEMBER', 'LIST'));
  const [list] = h.out.take();
  assert.ok(Array.isArray(list));
  const rows = list.map((e) => {
    assert.ok(Array.isArray(e));
    const pairs: string[] = [];
    for (let i = 0; i + 1 < e.length; i += 2) pairs.push(`${String(e[i])}=${String(e[i + 1])}`);
    return pairs.join(' ');
  });
  assert.deepEqual(rows, [
    'id=n1 address=127.0.0.1:1 role=voter self=true link=self match_seq=20 lag_ops=0 config_seq=17 config_committed=false',
    'id=n2 address=127.0.0.1:2 role=voter self=false link=up match_seq=19 lag_ops=1 config_seq=17 config_committed=false',
    'id=n3 address=127.0.0.1:3 role=voter self=false link=down match_seq=-1 lag_ops=-1 config_seq=17 config_committed=false',
    'id=n4 address=127.0.0.1:4 role=learner self=false link=up match_seq=-1 lag_ops=-1 config_seq=17 config_committed=false',
  ]);
});
