// The metrics endpoint of a 3-node cluster (real processes): the primary's role gauge, commit
// position and one lag series per replica; /health on the primary and the replicas; through a
// SIGKILL of the primary, the new primary's gauges and lag series (the dead member's included);
// and a member left without a majority answers 503.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from './helpers/cluster.js';
import { httpGet, metricsPortOf, sampleValue, scrape, type Sample } from './helpers/metrics.js';
import { waitFor } from './helpers/wait.js';

let cluster: Cluster;

before(async () => {
  // --metrics-port 0: every member picks a free port and prints it.
  cluster = await Cluster.start({ nodes: 3, args: ['--metrics-port', '0'] });
});

after(async () => {
  await cluster?.stop();
});

async function metricsOf(id: string): Promise<Sample[]> {
  const proc = cluster.node(id).proc;
  assert.ok(proc !== null, `${id} is not running`);
  return scrape(await metricsPortOf(proc));
}

async function healthOf(id: string, query = ''): Promise<{ status: number; body: Record<string, unknown> }> {
  const proc = cluster.node(id).proc;
  assert.ok(proc !== null, `${id} is not running`);
  const r = await httpGet(await metricsPortOf(proc), `/health${query}`);
  return { status: r.status, body: JSON.parse(r.body) as Record<string, unknown> };
}

function lagSeries(s: readonly Sample[]): string[] {
  return s.filter((x) => x.name === 'kv_replica_lag_ops').map((x) => x.labels['replica'] as string).sort();
}

test('primary: role gauge, commit position, a lag series per replica; /health 200 on every member, ?role filters', async () => {
  const primary = await cluster.waitForPrimary();
  const others = cluster.nodes.map((n) => n.id).filter((id) => id !== primary);
  const s = await waitFor('the primary reports both replicas caught up', async () => {
    const m = await metricsOf(primary);
    return lagSeries(m).length === 2 && others.every((id) => sampleValue(m, 'kv_replica_lag_ops', { replica: id }) === 0) ? m : null;
  });
  assert.equal(sampleValue(s, 'kv_role', { role: 'primary' }), 1);
  assert.equal(sampleValue(s, 'kv_accepts_writes'), 1);
  assert.deepEqual(lagSeries(s), others.sort());
  assert.ok((sampleValue(s, 'kv_commit_seq') ?? 0) >= 1, 'the epoch\'s first entry is committed');
  assert.equal(sampleValue(s, 'kv_members', { kind: 'voter' }), 3);
  assert.equal(sampleValue(s, 'kv_members', { kind: 'learner' }), 0);
  assert.equal(sampleValue(s, 'kv_member_role', { role: 'voter' }), 1);
  assert.equal(sampleValue(s, 'kv_member_role', { role: 'learner' }), 0);
  assert.equal(sampleValue(s, 'kv_config_committed'), 1);
  assert.equal(sampleValue(s, 'kv_config_seq'), 0, 'the --cluster list is the configuration in force');
  for (const id of others) {
    const r = await metricsOf(id);
    assert.equal(sampleValue(r, 'kv_role', { role: 'replica' }), 1, id);
    assert.deepEqual(lagSeries(r), [], `${id}: a replica exports no per-replica lag`);
    assert.equal(sampleValue(r, 'kv_epoch'), sampleValue(s, 'kv_epoch'));
  }
  const ph = await healthOf(primary);
  assert.equal(ph.status, 200, JSON.stringify(ph.body));
  assert.equal(ph.body['quorum'], true);
  assert.equal(ph.body['mode'], 'cluster');
  assert.equal((await healthOf(primary, '?role=replica')).status, 503);
  for (const id of others) {
    await waitFor(`${id} /health 200`, async () => (await healthOf(id)).status === 200);
    const h = await healthOf(id, '?role=primary');
    assert.equal(h.status, 503);
    assert.equal(h.body['quorum'], false);
  }
});

test('failover by SIGKILL: the new primary\'s role gauge, higher epoch, lag series for both other members', async () => {
  const old = await cluster.waitForPrimary();
  const oldEpoch = sampleValue(await metricsOf(old), 'kv_epoch') ?? -1;
  await cluster.kill(old);
  const next = await cluster.waitForPrimary(15_000, [old]);
  const s = await waitFor('the new primary exports its role and a lag series for each other member', async () => {
    const m = await metricsOf(next);
    return sampleValue(m, 'kv_role', { role: 'primary' }) === 1 && lagSeries(m).length === 2 ? m : null;
  });
  assert.ok((sampleValue(s, 'kv_epoch') ?? -1) > oldEpoch, 'a new epoch');
  assert.deepEqual(lagSeries(s), cluster.nodes.map((n) => n.id).filter((id) => id !== next).sort());
  assert.equal(sampleValue(s, 'kv_replica_link_up', { replica: old }), 0, 'the dead member\'s link is down');
  assert.equal((await healthOf(next)).status, 200, 'two of three form a majority');
  await cluster.restart(old);
  await waitFor(`${old} rejoins and the primary sees it caught up`, async () => {
    const m = await metricsOf(next);
    return sampleValue(m, 'kv_replica_link_up', { replica: old }) === 1 && sampleValue(m, 'kv_replica_lag_ops', { replica: old }) === 0;
  }, { timeoutMs: 20_000 });
});

test('a member that lost its majority answers /health 503', async () => {
  const primary = await cluster.waitForPrimary();
  const others = cluster.nodes.map((n) => n.id).filter((id) => id !== primary);
  for (const id of others) await cluster.kill(id);
  const h = await waitFor('the lone member reports 503', async () => {
    const r = await healthOf(primary);
    return r.status === 503 ? r : null;
  }, { timeoutMs: 15_000 });
  assert.equal(h.body['writable'], false);
  assert.equal(h.body['quorum'], false);
  assert.ok((h.body['reasons'] as string[]).length > 0);
});
