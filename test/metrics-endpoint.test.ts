// The operators' HTTP endpoint (src/metrics/): /metrics values move with the workload on a real
// kv-server (keys, per-command counts and latency histograms, fsyncs), /health's rule per role
// (pure function, then a manual-mode primary and replica), a failing disk shown in both (in
// process, over a log whose calls fail on demand), the endpoint's bounds and errors, and a port
// that cannot be bound is a startup error.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openReplicatedStore } from '../src/storage/store.js';
import { KvServer } from '../src/server/server.js';
import { defaultConfig } from '../src/server/config.js';
import { DEFAULT_REPLICATION_FLAGS, attachReplication } from '../src/replication/host/attach.js';
import { ServerMetrics } from '../src/metrics/registry.js';
import { evaluateHealth, type HealthInput } from '../src/metrics/health.js';
import { METRICS_CONNECTIONS_MAX, serveMetrics } from '../src/metrics/http.js';
import { callOnce } from './helpers/call.js';
import { FaultyLogFs } from './helpers/faulty-log-fs.js';
import { httpGet, metricsPortOf, parseExposition, sampleValue, scrape } from './helpers/metrics.js';
import { REPO_ROOT, startKvServer, tempDirsRemovedAfter, type RunningProcess } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';

const dirs = tempDirsRemovedAfter('kvts-metrics-');
const procs: RunningProcess[] = [];
after(async () => {
  for (const p of procs) await p.kill();
});

async function kvServer(args: readonly string[]): Promise<RunningProcess> {
  const p = await startKvServer({ dir: dirs(), args });
  procs.push(p);
  return p;
}

async function ok(port: number, args: readonly string[]): Promise<void> {
  const r = await callOnce(port, args);
  if (!r.ok) assert.fail(`${args.join(' ')}: ${r.error}`);
  if (r.reply.type === 'error') assert.fail(`${args.join(' ')}: -${r.reply.message}`);
}

test('/metrics on a single node: keys, per-command counts and latency histograms, fsyncs move with the workload', async () => {
  const p = await kvServer(['--metrics-port', '0', '--fsync', 'always']);
  const mport = await metricsPortOf(p);
  const before = await scrape(mport);
  assert.equal(sampleValue(before, 'kv_keys'), 0);
  assert.equal(sampleValue(before, 'kv_role', { role: 'primary' }), 1);
  assert.equal(sampleValue(before, 'kv_role', { role: 'replica' }), 0);
  assert.equal(sampleValue(before, 'kv_commands_total', { command: 'set' }), undefined);
  for (let i = 0; i < 7; i++) await ok(p.port, ['SET', `k${i}`, 'v']);
  await ok(p.port, ['GET', 'k1']);
  const s = await scrape(mport);
  assert.equal(sampleValue(s, 'kv_keys'), 7);
  assert.equal(sampleValue(s, 'kv_commands_total', { command: 'set' }), 7);
  assert.equal(sampleValue(s, 'kv_commands_total', { command: 'get' }), 1);
  // The histogram is the one INFO latencystats keeps: its count is the calls, its buckets cumulative.
  assert.equal(sampleValue(s, 'kv_command_duration_seconds_count', { command: 'set' }), 7);
  assert.equal(sampleValue(s, 'kv_command_duration_seconds_bucket', { command: 'set', le: '+Inf' }), 7);
  const buckets = s.filter((x) => x.name === 'kv_command_duration_seconds_bucket' && x.labels['command'] === 'set').map((x) => x.value);
  assert.deepEqual(buckets, [...buckets].sort((a, b) => a - b), 'cumulative buckets never decrease');
  assert.equal(sampleValue(s, 'kv_command_duration_seconds_bucket', { command: 'set', le: '1' }), 7, 'every SET took under a second');
  assert.ok((sampleValue(s, 'kv_command_duration_seconds_sum', { command: 'set' }) ?? 0) > 0);
  // fsync always: every acknowledged SET waited for an fsync round, each one timed.
  assert.ok((sampleValue(s, 'kv_fsync_duration_seconds_count') ?? 0) >= 1);
  assert.equal(sampleValue(s, 'kv_log_last_seq'), (sampleValue(before, 'kv_log_last_seq') ?? -100) + 7);
  assert.equal(sampleValue(s, 'kv_log_failed'), 0);
  assert.ok((sampleValue(s, 'kv_used_memory_bytes') ?? 0) > 0);
  assert.ok(sampleValue(s, 'process_cpu_user_seconds_total') !== undefined, 'prom-client default metrics');
  // Deletes and CONFIG RESETSTAT move them back.
  await ok(p.port, ['DEL', 'k0', 'k1']);
  await ok(p.port, ['CONFIG', 'RESETSTAT']);
  const s2 = await scrape(mport);
  assert.equal(sampleValue(s2, 'kv_keys'), 5);
  assert.equal(sampleValue(s2, 'kv_commands_total', { command: 'set' }), undefined);
});

test('the endpoint: /health 200 with role and epoch, ?role filter, 404, 405, 400; text and JSON content types', async () => {
  const p = await kvServer(['--metrics-port', '0']);
  const mport = await metricsPortOf(p);
  const h = await httpGet(mport, '/health');
  assert.equal(h.status, 200, h.body);
  assert.match(h.contentType, /^application\/json/);
  const body = JSON.parse(h.body) as Record<string, unknown>;
  assert.equal(body['role'], 'primary');
  assert.equal(body['mode'], 'manual');
  assert.equal(body['writable'], true);
  assert.equal(body['quorum'], null);
  assert.equal(typeof body['epoch'], 'number');
  assert.equal((await httpGet(mport, '/health?role=primary')).status, 200);
  assert.equal((await httpGet(mport, '/health?role=replica')).status, 503);
  assert.equal((await httpGet(mport, '/health?role=leader')).status, 400);
  assert.equal((await httpGet(mport, '/nothing')).status, 404);
  assert.equal((await httpGet(mport, '/metrics', 'POST')).status, 405);
  const m = await httpGet(mport, '/metrics');
  assert.match(m.contentType, /^text\/plain; version=0\.0\.4/);
  // The Grafana dashboard asks only for metrics the server exports.
  const declared = new Set([...m.body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) => (type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name as string])));
  const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'docs', 'grafana-dashboard.json'), 'utf8')) as { schemaVersion: number; panels: Array<{ targets: Array<{ expr: string }> }> };
  assert.ok(dashboard.schemaVersion > 0 && dashboard.panels.length > 0);
  const used = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/\bkv_[a-z_]+/g)].map((x) => x[0])));
  assert.ok(used.length > 10);
  for (const name of used) assert.ok(declared.has(name), `the dashboard uses ${name}, which /metrics does not export`);
  // Oversized request headers are refused by the bound, not read.
  const big = await fetch(`http://127.0.0.1:${mport}/metrics`, { headers: { 'x-pad': 'a'.repeat(16 * 1024) }, signal: AbortSignal.timeout(3000) });
  assert.equal(big.status, 431);
});

test('the endpoint holds at most METRICS_CONNECTIONS_MAX connections and closes with the server (SIGTERM)', async () => {
  const p = await kvServer(['--metrics-port', '0']);
  const mport = await metricsPortOf(p);
  const idle: Socket[] = [];
  try {
    for (let i = 0; i < METRICS_CONNECTIONS_MAX; i++) {
      const s = connect(mport, '127.0.0.1');
      await once(s, 'connect');
      idle.push(s);
    }
    // Past the bound the server closes new connections at once: the request gets no answer.
    await waitFor('the server holds all idle connections', async () => {
      try {
        await httpGet(mport, '/health');
        return false;
      } catch {
        return true;
      }
    });
  } finally {
    for (const s of idle) s.destroy();
  }
  await waitFor('a request is served again once the idle connections closed', async () => (await httpGet(mport, '/health')).status === 200);
  await p.kill('SIGTERM');
  assert.equal(await p.exited(), 0, p.output());
  await assert.rejects(httpGet(mport, '/metrics'), 'the endpoint is closed');
});

test('a manual-mode replica: role gauge and lag on it, 200 while it follows, 503 once its primary is gone', async () => {
  const primary = await kvServer(['--metrics-port', '0']);
  const replica = await kvServer(['--metrics-port', '0', '--replica-of', `127.0.0.1:${primary.port}`, '--replica-max-lag-ms', '300']);
  const pm = await metricsPortOf(primary);
  const rm = await metricsPortOf(replica);
  await ok(primary.port, ['SET', 'x', '1']);
  await waitFor('the replica has x and answers /health 200', async () => (await httpGet(rm, '/health')).status === 200 && (await scrape(rm)).some((x) => x.name === 'kv_keys' && x.value === 1));
  const rs = await scrape(rm);
  assert.equal(sampleValue(rs, 'kv_role', { role: 'replica' }), 1);
  assert.equal(sampleValue(rs, 'kv_replication_lag_ops'), 0);
  assert.equal(sampleValue(rs, 'kv_accepts_writes'), 0);
  assert.ok((sampleValue(rs, 'kv_full_resyncs_total') ?? 0) + (sampleValue(rs, 'kv_partial_resyncs_total') ?? 0) >= 1, 'the replica synced once');
  // The primary has one lag series per replica, named by the replica's node id.
  const ps = await scrape(pm);
  const lag = ps.filter((x) => x.name === 'kv_replica_lag_ops');
  assert.equal(lag.length, 1, JSON.stringify(lag));
  assert.equal((await httpGet(rm, '/health?role=primary')).status, 503);
  await primary.kill();
  const stale = await waitFor('the replica reports 503 without its primary', async () => {
    const h = await httpGet(rm, '/health');
    return h.status === 503 ? (JSON.parse(h.body) as { reasons: string[] }) : null;
  });
  assert.match(stale.reasons.join(' '), /does not serve reads/);
});

test('health rule: a primary needs writes, a replica needs reads, a failed log and a wrong role are unavailable', () => {
  const base: HealthInput = { mode: 'cluster', role: 'primary', epoch: 3, lastSeq: 10, writable: true, readable: true, readDetail: null, logError: null };
  assert.equal(evaluateHealth(base, null).code, 200);
  assert.equal(evaluateHealth(base, null).body.quorum, true);
  assert.equal(evaluateHealth({ ...base, writable: false }, null).code, 503);
  assert.equal(evaluateHealth({ ...base, writable: false }, null).body.quorum, false);
  assert.equal(evaluateHealth({ ...base, mode: 'manual' }, null).body.quorum, null);
  assert.equal(evaluateHealth({ ...base, logError: 'ENOSPC' }, null).code, 503);
  const replica: HealthInput = { ...base, role: 'replica', writable: false };
  assert.equal(evaluateHealth(replica, null).code, 200);
  assert.equal(evaluateHealth(replica, 'replica').code, 200);
  assert.equal(evaluateHealth(replica, 'primary').code, 503);
  assert.equal(evaluateHealth({ ...replica, readable: false, readDetail: 'never heard from a primary' }, null).code, 503);
  assert.equal(evaluateHealth({ ...replica, role: 'candidate', readable: false, readDetail: 'no primary' }, null).code, 503);
});

test('a failing disk: kv_log_failed and kv_log_write_errors_total, /health 503 naming the error, then recovery', async () => {
  const dir = dirs();
  const fs = new FaultyLogFs();
  const metrics = new ServerMetrics();
  const store = await openReplicatedStore({ dir, fsync: 'always', logFs: fs, fsyncOnLoopMaxMs: 2, onFsyncSeconds: metrics.observeFsync, onWarning: () => undefined });
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const server = new KvServer({ config: { ...defaultConfig(), port: 0, host: '127.0.0.1', dir, fsync: 'always' }, store, log: quiet });
  const { port } = await server.listen();
  const { host } = await attachReplication(server, store, DEFAULT_REPLICATION_FLAGS, `127.0.0.1:${port}`, quiet);
  const ep = await serveMetrics(metrics, server, host, '127.0.0.1', 0, (e) => assert.fail(e));
  try {
    await waitFor('primary accepts writes', async () => (await httpGet(ep.port, '/health')).status === 200);
    await ok(port, ['SET', 'a', '1']);
    assert.ok((sampleValue(await scrape(ep.port), 'kv_fsync_duration_seconds_count') ?? 0) >= 1);
    fs.fail('write', 'ENOSPC');
    const r = await callOnce(port, ['SET', 'b', '2']);
    assert.ok(r.ok && r.reply.type === 'error', 'the write met the failure');
    const s = await scrape(ep.port);
    assert.equal(sampleValue(s, 'kv_log_failed'), 1);
    assert.ok((sampleValue(s, 'kv_log_write_errors_total') ?? 0) >= 1);
    const h = await httpGet(ep.port, '/health');
    assert.equal(h.status, 503);
    const body = JSON.parse(h.body) as { log: { failed: boolean; error: string }; writable: boolean };
    assert.equal(body.log.failed, true);
    assert.match(body.log.error, /ENOSPC/);
    fs.clear();
    await waitFor('writes resume and /health is 200 again', async () => (await httpGet(ep.port, '/health')).status === 200, { timeoutMs: 10_000 });
    assert.equal(sampleValue(await scrape(ep.port), 'kv_log_failed'), 0);
  } finally {
    await ep.close();
    await server.close();
  }
});

test('startup errors: a metrics port in use exits 1 naming it; bad values are usage errors (exit 2)', async () => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const addr = busy.address();
  const taken = typeof addr === 'object' && addr !== null ? addr.port : 0;
  try {
    const p = await startKvServer({ dir: dirs(), args: ['--metrics-port', String(taken)], waitReady: false });
    assert.equal(await p.exited(), 1, p.output());
    assert.match(p.output(), new RegExp(`cannot serve metrics on 127\\.0\\.0\\.1:${taken}: .*EADDRINUSE`));
  } finally {
    busy.close();
  }
  for (const args of [['--metrics-port', 'abc'], ['--metrics-port', '70000'], ['--metrics-host', '0.0.0.0'], ['--log-format', 'xml']]) {
    const p = await startKvServer({ dir: dirs(), args, waitReady: false });
    assert.equal(await p.exited(), 2, `${args.join(' ')}: ${p.output()}`);
  }
});

test('parseExposition reads labelled and plain samples and refuses a malformed line', () => {
  const s = parseExposition('# HELP a x\n# TYPE a gauge\na 1\nb{x="1",le="+Inf"} 2.5\n');
  assert.equal(sampleValue(s, 'a'), 1);
  assert.equal(sampleValue(s, 'b', { le: '+Inf' }), 2.5);
  assert.throws(() => parseExposition('not a line at all'));
});
