// Unit tests of the client's pure parts (no processes): the wire error → typed error mapping,
// TOPOLOGY/ROLE replies → TopologyView (RESP2 flat arrays and RESP3 maps), topology diffs as
// events, and the read / idempotentWrite / write classification that the retry policy relies on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AuthError,
  KvError,
  NoQuorumError,
  NotPrimaryError,
  ReadOnlyError,
  ReplyError,
  SessionLostError,
  TooStaleError,
  TryAgainError,
} from '../src/client/index.js';
import { errorFromReply, redirectAddress } from '../src/client/errors.js';
import { diffViews, viewFromRole, viewFromTopology, type Decoded, type TopologyView } from '../src/client/topology.js';

test('errorFromReply: redirects carry the primary the server named', () => {
  const ro = errorFromReply("READONLY You can't write against a read only replica. primary=127.0.0.1:4001");
  assert.ok(ro instanceof ReadOnlyError);
  assert.equal(ro.code, 'READONLY');
  assert.equal(ro.primary, '127.0.0.1:4001');

  const stale = errorFromReply('TOOSTALE replica is 12 ops / 340 ms behind; primary=127.0.0.1:4002 (no contact with the primary for 340 ms)');
  assert.ok(stale instanceof TooStaleError);
  assert.equal(stale.primary, '127.0.0.1:4002');

  // A replica that never heard from a primary says primary=unknown: no address, not a wrong one.
  const lost = errorFromReply('TOOSTALE replica is 0 ops / 0 ms behind; primary=unknown (never heard from a primary)');
  assert.ok(lost instanceof TooStaleError);
  assert.equal(lost.primary, undefined);

  const np = errorFromReply('NOTPRIMARY quorum reads and writes are served by the primary; primary=127.0.0.1:4003');
  assert.ok(np instanceof NotPrimaryError);
  assert.equal(np.primary, '127.0.0.1:4003');

  const v6 = errorFromReply("READONLY You can't write against a read only replica. primary=[::1]:4001");
  assert.ok(v6 instanceof ReadOnlyError);
  assert.equal(v6.primary, '[::1]:4001');

  // Every typed error is a KvError and an Error, with the class name as its name (for logs).
  for (const e of [ro, stale, np]) {
    assert.ok(e instanceof KvError && e instanceof Error);
    assert.equal(e.name, e.constructor.name);
  }
});

test('errorFromReply: TRYAGAIN/LOADING, NOQUORUM outcome unknown vs refused, SESSIONLOST, auth, others', () => {
  const again = errorFromReply('TRYAGAIN this node is becoming primary; retry shortly');
  assert.ok(again instanceof TryAgainError);
  assert.ok(errorFromReply('LOADING kv-ts is loading the dataset in memory') instanceof TryAgainError);

  const unknown = errorFromReply('NOQUORUM outcome unknown: the write may or may not take effect (the primary stepped down)');
  assert.ok(unknown instanceof NoQuorumError);
  assert.equal(unknown.outcomeUnknown, true);
  const needsCluster = errorFromReply('NOQUORUM quorum needs cluster mode (--cluster)');
  assert.ok(needsCluster instanceof NoQuorumError);
  assert.equal(needsCluster.outcomeUnknown, false);
  const readRefused = errorFromReply('NOQUORUM read not confirmed by a majority (timed out); retry');
  assert.ok(readRefused instanceof NoQuorumError);
  assert.equal(readRefused.outcomeUnknown, false);

  const sl = errorFromReply("SESSIONLOST position 3:1042 is not in this node's history (a failover discarded it); primary=127.0.0.1:4001");
  assert.ok(sl instanceof SessionLostError);
  assert.equal(sl.token, '3:1042');
  assert.equal(sl.code, 'SESSIONLOST');

  assert.ok(errorFromReply('NOAUTH Authentication required.') instanceof AuthError);
  const wp = errorFromReply('WRONGPASS invalid username-password pair or user is disabled.');
  assert.ok(wp instanceof AuthError);
  assert.equal(wp.code, 'WRONGPASS');

  const wt = errorFromReply('WRONGTYPE Operation against a key holding the wrong kind of value');
  assert.ok(wt instanceof ReplyError);
  assert.equal(wt.code, 'WRONGTYPE');
  const syntax = errorFromReply('ERR syntax error');
  assert.ok(syntax instanceof ReplyError);
  assert.equal(syntax.code, 'ERR');
  // Typed redirect classes are not ReplyError: the retry loop must be able to tell them apart.
  assert.ok(!(errorFromReply('READONLY x primary=127.0.0.1:1') instanceof ReplyError));
});

test('redirectAddress: the last host:port word; ports out of range and non-addresses are ignored', () => {
  assert.equal(redirectAddress('MOVED 3999 127.0.0.1:6381'), '127.0.0.1:6381');
  assert.equal(redirectAddress('READONLY x primary=localhost:7000.'), 'localhost:7000');
  assert.equal(redirectAddress('READONLY x primary=127.0.0.1:70000'), undefined);
  assert.equal(redirectAddress('ERR nothing here'), undefined);
});

/** TOPOLOGY members as the server sends them (RESP2: flat pairs; RESP3: maps). */
const MEMBERS: Array<Record<string, string | number | null>> = [
  { id: 'n1', address: '127.0.0.1:4001', self: 1, role: 'primary', epoch: 3, applied: '3:10', lag_ops: 0, lag_ms: 0, link: 'self', last_heard_ms: 0 },
  { id: 'n2', address: '127.0.0.1:4002', self: 0, role: 'replica', epoch: 3, applied: '3:9', lag_ops: 1, lag_ms: 4, link: 'up', last_heard_ms: 10 },
  { id: 'n3', address: '127.0.0.1:4003', self: 0, role: 'unknown', epoch: -1, applied: null, lag_ops: 0, lag_ms: 0, link: 'down', last_heard_ms: -1 },
];
const flat = (m: Record<string, string | number | null>): Decoded => Object.entries(m).flatMap(([k, v]) => [k, v]);
const asMap = (m: Record<string, string | number | null>): Decoded => new Map<unknown, Decoded>(Object.entries(m));

test('viewFromTopology: RESP2 flat arrays and RESP3 maps give the same view; a primary hides replicas whose link is down', () => {
  const v2 = viewFromTopology('127.0.0.1:4001', MEMBERS.map(flat));
  const v3 = viewFromTopology('127.0.0.1:4001', MEMBERS.map(asMap));
  assert.ok(v2 !== null && v3 !== null);
  assert.deepEqual(v2, v3);
  assert.equal(v2.mode, 'cluster');
  assert.equal(v2.primary, '127.0.0.1:4001');
  assert.equal(v2.epoch, 3);
  // n3's link is down as the primary sees it: not offered for reads.
  assert.deepEqual(v2.replicas, ['127.0.0.1:4002']);
  assert.equal(v2.members.length, 3);
  assert.deepEqual(v2.members[1], { id: 'n2', address: '127.0.0.1:4002', role: 'replica', epoch: 3, applied: '3:9', lagOps: 1, lagMs: 4, link: 'up' });
  assert.equal(v2.members[2]?.applied, null);

  // The same members as a replica (n2) sees them: it cannot judge other links, so n3 stays a candidate.
  const fromReplica = MEMBERS.map((m) => ({ ...m, self: m['id'] === 'n2' ? 1 : 0 }));
  const vr = viewFromTopology('127.0.0.1:4002', fromReplica.map(flat));
  assert.ok(vr !== null);
  assert.equal(vr.primary, '127.0.0.1:4001');
  assert.deepEqual(vr.replicas, ['127.0.0.1:4002', '127.0.0.1:4003']);

  // During an election nobody is primary.
  const leaderless = viewFromTopology('127.0.0.1:4002', MEMBERS.map((m) => flat({ ...m, role: 'replica' })));
  assert.equal(leaderless?.primary, null);
  assert.equal(leaderless?.epoch, -1);

  // Not TOPOLOGY-shaped: null, so the client falls back to ROLE.
  assert.equal(viewFromTopology('x:1', 'OK'), null);
  assert.equal(viewFromTopology('x:1', [['foo', 'bar']]), null);
});

test('viewFromRole: master lists its replicas; slave names its primary', () => {
  const m = viewFromRole('127.0.0.1:5000', ['master', 1234, [['127.0.0.1', '5001', '1200'], ['127.0.0.1', '5002', '1234']]]);
  assert.ok(m !== null);
  assert.equal(m.mode, 'replication');
  assert.equal(m.primary, '127.0.0.1:5000');
  assert.deepEqual(m.replicas, ['127.0.0.1:5001', '127.0.0.1:5002']);
  assert.deepEqual(
    m.members.map((x) => [x.address, x.role]),
    [
      ['127.0.0.1:5000', 'primary'],
      ['127.0.0.1:5001', 'replica'],
      ['127.0.0.1:5002', 'replica'],
    ],
  );
  const s = viewFromRole('127.0.0.1:5001', ['slave', '127.0.0.1', 5000, 'connected', 1200]);
  assert.ok(s !== null);
  assert.equal(s.primary, '127.0.0.1:5000');
  assert.deepEqual(s.replicas, ['127.0.0.1:5001']);
  assert.equal(s.members[0]?.link, 'connected');
  assert.equal(viewFromRole('x:1', ['sentinel', ['m']]), null);
  assert.equal(viewFromRole('x:1', 'OK'), null);
});

test('diffViews: first view, primary change, replica added and lost', () => {
  const base: TopologyView = { source: 'a', mode: 'cluster', primary: 'p:1', replicas: ['r:1', 'r:2'], members: [], epoch: 1 };
  assert.deepEqual(diffViews(null, base), [
    { type: 'primaryChanged', from: null, to: 'p:1' },
    { type: 'replicaAdded', address: 'r:1' },
    { type: 'replicaAdded', address: 'r:2' },
  ]);
  assert.deepEqual(diffViews(base, base), []);
  const failover: TopologyView = { ...base, primary: 'r:1', replicas: ['r:2', 'r:3'], epoch: 2 };
  assert.deepEqual(diffViews(base, failover), [
    { type: 'primaryChanged', from: 'p:1', to: 'r:1' },
    { type: 'replicaAdded', address: 'r:3' },
    { type: 'replicaLost', address: 'r:1' },
  ]);
  assert.deepEqual(diffViews(base, { ...base, primary: null }), [{ type: 'primaryChanged', from: 'p:1', to: null }]);
});
