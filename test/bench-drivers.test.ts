// The side-by-side suite's parts beyond row 1: the etcd driver (accounting against a scripted
// HTTP server, refused connections, a real etcd when /usr/bin/etcd exists), the SVG chart,
// kv-bench --seeds discovery against a real 3-node kv cluster, and a short run of rows 2 and 4.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { latencyChartSvg, PERCENTILES } from '../tools/bench/chart.js';
import { etcdCall, etcdErrorKind, parseEtcdEndpoint } from '../src/bench/etcd-driver.js';
import { startEtcdCluster } from '../tools/bench/etcd-cluster.js';
import { COCKATIEL_VERSION, ETCD3_VERSION, prng, runBench, templates, validateOptions, type BenchOptions, type BenchResult } from '../src/bench/run.js';
import { grpcErrorKind, parseEtcdGrpcEndpoint } from '../src/bench/etcd-grpc-driver.js';
import { GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';
import { WHOLE_RUN_BUDGET_SEC } from '../tools/bench/suite-budget.js';
import { MANY_CLIENTS } from '../tools/bench/suite-workloads.js';
import { discoverPrimary, parseTopology, routeBySeeds } from '../src/bench/seeds.js';
import { BEGIN_MARKER, END_MARKER } from '../tools/bench/docs.js';
import { haveEtcd } from '../tools/bench/servers.js';
import { redisSetBytes, rotation } from '../tools/bench/suite-rows.js';
import { row3Verdict } from '../tools/bench/suite-docs.js';
import { toRow } from '../tools/bench/compare.js';
import { Cluster } from './helpers/cluster.js';
import { freePort, KV_SERVER_JS, REPO_ROOT } from './helpers/procs.js';

const KV_BENCH_JS = join(REPO_ROOT, 'dist', 'src', 'cli', 'kv-bench.js');
const SUITE_JS = join(REPO_ROOT, 'dist', 'tools', 'bench', 'suite.js');
const NO_ETCD = haveEtcd() ? false : '/usr/bin/etcd not installed (apt-get install etcd-server)';
const NO_KV = existsSync(KV_SERVER_JS) ? false : 'kv-server not built';

function etcdOpts(urls: readonly string[], over: Partial<BenchOptions> = {}): BenchOptions {
  return { host: '', port: 0, etcd: urls, connections: 4, requests: 300, valueBytes: 20, pipeline: 1, ratio: { get: 1, set: 1 }, keyspace: 100, seed: 7, ...over };
}

async function mustRun(o: BenchOptions): Promise<BenchResult> {
  const out = await runBench(o);
  if (!out.ok) assert.fail(out.error);
  return out.result;
}

// ---------------------------------------------------------------------------------------------
// etcd driver.

test('etcd error kinds: gRPC code names, HTTP status otherwise, 200 without error is success', () => {
  assert.equal(etcdErrorKind(200, '{"header":{"revision":"2"}}'), undefined);
  assert.equal(etcdErrorKind(400, '{"error":"etcdserver: key is not provided","code":3}'), 'INVALID_ARGUMENT');
  assert.equal(etcdErrorKind(200, '{"error":"illegal base64","message":"x","code":3}'), 'INVALID_ARGUMENT');
  assert.equal(etcdErrorKind(503, '{"error":"etcdserver: leader changed","code":14}'), 'UNAVAILABLE');
  assert.equal(etcdErrorKind(502, 'Bad gateway'), 'HTTP_502');
  assert.deepEqual(parseEtcdEndpoint('http://127.0.0.1:2379/'), { ok: true, endpoint: { host: '127.0.0.1', port: 2379 } });
  assert.equal(parseEtcdEndpoint('https://127.0.0.1:2379').ok, false);
  assert.equal(parseEtcdEndpoint('http://127.0.0.1').ok, false);
});

test('etcd driver: refused connections are counted by kind, zero successes', async () => {
  const port = await freePort();
  const r = await mustRun(etcdOpts([`http://127.0.0.1:${port}`], { requests: 200 }));
  assert.equal(r.requestsOk, 0);
  assert.deepEqual(r.errors, { CONNECTION_REFUSED: 200 });
  assert.equal(r.gets + r.sets, 200);
  const bad = await runBench(etcdOpts([`http://127.0.0.1:${port}`], { pipeline: 2 }));
  assert.ok(!bad.ok && /pipeline must be 1/.test(bad.error));
  const mixed = await runBench(etcdOpts([`http://127.0.0.1:${port}`], { consistency: 'quorum' }));
  assert.ok(!mixed.ok && /RESP servers only/.test(mixed.error));
});

test('etcd driver vs a scripted gateway: exact error accounting, one request per connection, keep-alive', async () => {
  let inFlight = 0;
  let maxInFlight = 0;
  let seen = 0;
  let errorsSent = 0;
  const sockets = new Set<Socket>();
  const paths = new Map<string, number>();
  const bodies: string[] = [];
  const srv = createServer((req: IncomingMessage, res: ServerResponse) => {
    sockets.add(req.socket);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const i = seen++;
      paths.set(req.url ?? '', (paths.get(req.url ?? '') ?? 0) + 1);
      if (bodies.length < 50) bodies.push(body);
      // Answer on a later turn so requests from different connections overlap.
      setImmediate(() => {
        inFlight--;
        if (i % 3 === 0) {
          errorsSent++;
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end('{"error":"etcdserver: request timed out","code":14}');
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"header":{"revision":"1"}}');
        }
      });
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  try {
    const addr = srv.address();
    assert.ok(addr !== null && typeof addr === 'object');
    const r = await mustRun(etcdOpts([`http://127.0.0.1:${addr.port}`], { connections: 5, requests: 600 }));
    assert.equal(seen, 600);
    assert.deepEqual(r.errors, { UNAVAILABLE: errorsSent });
    assert.equal(r.requestsOk, 600 - errorsSent);
    assert.equal((paths.get('/v3/kv/put') ?? 0) + (paths.get('/v3/kv/range') ?? 0), 600);
    assert.equal(paths.get('/v3/kv/put'), r.sets);
    assert.ok(maxInFlight <= 5 && maxInFlight > 1, `max in flight ${maxInFlight}`);
    assert.ok(sockets.size <= 5, `${sockets.size} sockets: keep-alive must reuse connections`);
    for (const b of bodies) {
      const j = JSON.parse(b) as { key: string; value?: string };
      assert.match(Buffer.from(j.key, 'base64').toString('latin1'), /^key:\d{12}$/);
      if (j.value !== undefined) assert.equal(Buffer.from(j.value, 'base64').length, 20);
    }
  } finally {
    srv.close();
  }
});

test('etcd driver vs a real etcd: puts land with the seeded value, linearizable ranges read them', { skip: NO_ETCD }, async () => {
  const etcd = await startEtcdCluster(1);
  try {
    const leader = await etcd.leaderUrl();
    assert.ok(leader.ok, leader.ok ? '' : leader.error);
    const o = etcdOpts([leader.url], { ratio: { get: 0, set: 1 }, requests: 40, keyspace: 40, sequentialKeys: true, connections: 4 });
    const w = await mustRun(o);
    assert.equal(w.requestsOk, 40);
    const expected = templates(o, prng(o.seed)).value.toString('base64');
    const ep = { host: '127.0.0.1', port: Number(new URL(leader.url).port) };
    for (const k of [0, 17, 39]) {
      const got = await etcdCall(ep, '/v3/kv/range', { key: Buffer.from(`key:${String(k).padStart(12, '0')}`).toString('base64') });
      assert.ok(got.ok, got.ok ? '' : got.error);
      const kvs = (got.json as { kvs?: Array<{ value: string }> }).kvs;
      assert.equal(kvs?.[0]?.value, expected, `key ${k}`);
    }
    const reads = await mustRun({ ...o, ratio: { get: 1, set: 0 }, sequentialKeys: false, requests: 200 });
    assert.equal(reads.requestsOk, 200);
    assert.equal(reads.gets, 200);
  } finally {
    await etcd.stop();
  }
});

test('etcd gRPC error kinds and endpoints: etcd3 error classes by name, deadline as TIMEOUT', () => {
  assert.equal(grpcErrorKind(new GRPCUnavailableError('x')), 'GRPC_UNAVAILABLE');
  assert.equal(grpcErrorKind(new GRPCDeadlineExceededError('x')), 'TIMEOUT');
  assert.equal(grpcErrorKind(new Error('x')), 'GRPC_ERROR');
  assert.equal(grpcErrorKind('x'), 'GRPC_ERROR');
  assert.deepEqual(parseEtcdGrpcEndpoint('127.0.0.1:2379'), { ok: true, endpoint: { host: '127.0.0.1', port: 2379 } });
  assert.equal(parseEtcdGrpcEndpoint('http://127.0.0.1:2379').ok, false);
  assert.match(validateOptions(etcdOpts([], { etcd: undefined, etcdGrpc: ['127.0.0.1:1'], pipeline: 4 })) ?? '', /pipeline must be 1/);
  assert.match(validateOptions(etcdOpts(['http://127.0.0.1:1'], { etcdGrpc: ['127.0.0.1:1'] })) ?? '', /exclude/);
  assert.match(validateOptions(etcdOpts([], { etcd: undefined, etcdGrpc: [] })) ?? '', /at least one/);
  // The install hint of a package without etcd3 names the versions the repository pins.
  const dev = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies;
  assert.deepEqual([dev['etcd3'], dev['cockatiel']], [ETCD3_VERSION, COCKATIEL_VERSION]);
});

test('etcd gRPC driver: an endpoint nobody listens on fails the run before the clock starts', async () => {
  const port = await freePort();
  const out = await runBench(etcdOpts([], { etcd: undefined, etcdGrpc: [`127.0.0.1:${port}`], stallTimeoutMs: 2000 }));
  assert.equal(out.ok, false);
  assert.match(out.ok ? '' : out.error, new RegExp(`Could not reach etcd over gRPC at 127\\.0\\.0\\.1:${port}`));
});

test('etcd gRPC driver vs a real etcd: N puts and linearizable ranges complete without errors, values land, percentiles ordered', { skip: NO_ETCD }, async () => {
  const etcd = await startEtcdCluster(1);
  try {
    const leader = await etcd.leaderUrl();
    assert.ok(leader.ok, leader.ok ? '' : leader.error);
    const hostPort = new URL(leader.url).host;
    const o = etcdOpts([], { etcd: undefined, etcdGrpc: [hostPort], ratio: { get: 0, set: 1 }, requests: 60, keyspace: 60, sequentialKeys: true, connections: 8 });
    const w = await mustRun(o);
    assert.deepEqual([w.requestsOk, w.errorsTotal, w.sets], [60, 0, 60]);
    // The same seeded value the gateway driver would write, read back through the gateway.
    const expected = templates(o, prng(o.seed)).value.toString('base64');
    const ep = { host: '127.0.0.1', port: Number(new URL(leader.url).port) };
    for (const k of [0, 31, 59]) {
      const got = await etcdCall(ep, '/v3/kv/range', { key: Buffer.from(`key:${String(k).padStart(12, '0')}`).toString('base64') });
      assert.ok(got.ok, got.ok ? '' : got.error);
      assert.equal((got.json as { kvs?: Array<{ value: string }> }).kvs?.[0]?.value, expected, `key ${k}`);
    }
    const mixed = await mustRun({ ...o, ratio: { get: 3, set: 1 }, sequentialKeys: false, distribution: 'zipfian', requests: 300 });
    assert.deepEqual([mixed.requestsOk, mixed.errorsTotal, mixed.gets + mixed.sets], [300, 0, 300]);
    const l = mixed.latencyMs;
    assert.ok(l.p50 > 0 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max, JSON.stringify(l));
    // The CLI: --etcd-grpc, the table shows p99.9 and max.
    const cli = await runTool(process.execPath, [KV_BENCH_JS, '--etcd-grpc', hostPort, '-c', '8', '-n', '100', '--ratio', '1:1', '--distribution', 'zipfian']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /target +etcd gRPC 127\.0\.0\.1:\d+/);
    assert.match(cli.stdout, /workload +GET:SET 1:1 -c 8 -P 1 -d 100 keyspace 100000 zipfian/);
    assert.match(cli.stdout, /requests ok +100\n/);
    assert.match(cli.stdout, /latency p99\.9 +[\d.]+ ms\nlatency max +[\d.]+ ms/);
  } finally {
    await etcd.stop();
  }
});

test('kv-bench and suite options: --distribution, --etcd-grpc, --quick and --plan', async () => {
  for (const args of [['--distribution', 'pareto'], ['--etcd-grpc', 'nohost'], ['--etcd-grpc', '127.0.0.1:1', '-P', '4'], ['--etcd', 'http://127.0.0.1:1', '--etcd-grpc', '127.0.0.1:1'], ['--seeds', '127.0.0.1:1', '--etcd-grpc', '127.0.0.1:1']]) {
    const r = await runTool(process.execPath, [KV_BENCH_JS, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^kv-bench: [^\n]+\n$/);
  }
  const help = await runTool(process.execPath, [KV_BENCH_JS, '--help']);
  assert.match(help.stdout, /--etcd-grpc h:p/);
  assert.match(help.stdout, /--distribution <d> +uniform \(default\) or zipfian/);
  // --plan runs nothing: it prints the resolved options and the estimate.
  const plan = async (...args: string[]): Promise<string> => {
    const r = await runTool(process.execPath, [SUITE_JS, '--plan', '--no-docs', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return r.stderr;
  };
  const quick = await plan('--quick');
  assert.match(quick, /^\d\d:\d\d bench: rows 1,2, -n 200000, 1 round\(s\), 4 s per kv-bench run, fsync everysec\n/);
  assert.match(quick, /estimated duration (\d):\d\d \(rows 1: \d:\d\d, 2: \d:\d\d\)/);
  const quickMin = Number(/estimated duration (\d+):/.exec(quick)?.[1]);
  assert.ok(quickMin >= 1 && quickMin <= 3, `--quick estimate ${quickMin} min`);
  assert.match(await plan('--quick', '-n', '5000', '--rows', '1'), /^\d\d:\d\d bench: rows 1, -n 5000, 1 round\(s\)/, 'explicit flags win over --quick');
  assert.match(await plan('--quick', '--rounds', '2'), /^\d\d:\d\d bench: rows 1,2, -n 200000, 2 round\(s\)/);
  const whole = await plan();
  assert.match(whole, /^\d\d:\d\d bench: rows 1,2,3,4,5,6,7,8,9, -n 500000, 3 round\(s\), 4 s per kv-bench run, fsync everysec and always\n/);
  const [, mm, ss] = /estimated duration (\d+):(\d\d)/.exec(whole) ?? [];
  assert.ok(Number(mm) * 60 + Number(ss) <= WHOLE_RUN_BUDGET_SEC, `default run estimate ${mm}:${ss}`);
  assert.doesNotMatch(whole, /over the .* budget/);
  assert.match(await plan('-n', '5000000'), /over the 20:00 budget of a whole run/);
});

// ---------------------------------------------------------------------------------------------
// The chart.

/** Minimal XML well-formedness: every tag closes in order, attributes quoted, no bare & or <. */
function assertWellFormed(xml: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt < 0 ? xml.length : lt);
    assert.doesNotMatch(text, /&(?!(amp|lt|gt|quot|apos);)/, `bare & in ${text}`);
    assert.ok(!text.includes('>'), `bare > in text: ${text}`);
    if (lt < 0) break;
    tag.lastIndex = lt;
    const m = tag.exec(xml);
    assert.ok(m !== null, `malformed tag at ${xml.slice(lt, lt + 60)}`);
    if (m[1] === '/') assert.equal(stack.pop(), m[2], `mismatched </${m[2]}>`);
    else if (m[4] !== '/') stack.push(m[2] as string);
    i = tag.lastIndex;
  }
  assert.deepEqual(stack, [], 'unclosed tags');
}

test('latency chart: well-formed SVG, one series per system, log-scale bars, missing values draw nothing', () => {
  const svg = latencyChartSvg('A <b> & "c"', [
    { workload: '3. durable SET <quorum> & co', series: [
      { system: 'redis', ms: { p50: 0.5, p99: 5 } },
      { system: 'kv-ts', ms: { p50: 1, p90: 2, p99: 10, 'p99.9': 100 } },
      { system: 'etcd', ms: { p50: 10, p90: 20, p99: 40, 'p99.9': 80 } },
    ] },
    { workload: '4. linearizable GET', series: [{ system: 'kv-ts', ms: { p50: 0.2, p90: 0.4, p99: 1, 'p99.9': 3 } }] },
  ]);
  assertWellFormed(svg);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  const series = [...svg.matchAll(/<g class="series" data-system="([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(series, ['redis', 'kv-ts', 'etcd']);
  const legend = [...svg.matchAll(/<g class="legend">.*?<text[^>]*>([^<]+)<\/text><\/g>/g)].map((m) => m[1]);
  assert.deepEqual(legend, ['redis', 'kv-ts', 'etcd']);
  // 2 + 4 + 4 + 4 values: one bar each, nothing for the percentiles redis did not report.
  const bars = [...svg.matchAll(/<rect x="[\d.]+" y="([\d.]+)" width="\d+" height="([\d.]+)"><title>([^<]+)<\/title>/g)];
  assert.equal(bars.length, 14);
  const barOf = (label: string): { top: number; height: number } => {
    const b = bars.find((m) => (m[3] as string).startsWith(label));
    assert.ok(b !== undefined, label);
    return { top: Number(b[1]), height: Number(b[2]) };
  };
  // Log scale: each decade is the same height, so 1 -> 10 ms and 10 -> 100 ms grow equally.
  const one = barOf('kv-ts, 3. durable SET &lt;quorum&gt; &amp; co, p50');
  const ten = barOf('kv-ts, 3. durable SET &lt;quorum&gt; &amp; co, p99:');
  const hundred = barOf('kv-ts, 3. durable SET &lt;quorum&gt; &amp; co, p99.9');
  assert.ok(Math.abs(ten.height - one.height - (hundred.height - ten.height)) < 0.5, `${one.height} ${ten.height} ${hundred.height}`);
  assert.ok(hundred.top < ten.top && ten.top < one.top);
  for (const p of PERCENTILES) assert.ok(svg.includes(`>${p}</text>`), p);
  assert.ok(svg.includes('0.1 ms') && svg.includes('100 ms'), 'decade labels span the data');
});

// ---------------------------------------------------------------------------------------------
// --seeds discovery and routing.

test('TOPOLOGY replies parse in both RESP3 map and RESP2 flat shapes; routing keeps writes on the primary', () => {
  const b = (s: string) => ({ type: 'bulk' as const, value: Buffer.from(s) });
  const fields = (id: string, port: number, role: string) => [b('id'), b(id), b('address'), b(`127.0.0.1:${port}`), b('self'), { type: 'boolean' as const, value: false }, b('role'), b(role)];
  const resp3 = parseTopology({ type: 'array', items: [{ type: 'map', items: fields('n1', 7001, 'replica') }, { type: 'map', items: fields('n2', 7002, 'primary') }] });
  const resp2 = parseTopology({ type: 'array', items: [{ type: 'array', items: fields('n1', 7001, 'replica') }, { type: 'array', items: fields('n2', 7002, 'primary') }] });
  assert.deepEqual(resp3, resp2);
  assert.deepEqual(resp3?.map((m) => `${m.id}@${m.address.port}:${m.role}`), ['n1@7001:replica', 'n2@7002:primary']);
  assert.equal(parseTopology({ type: 'error', message: 'ERR' }), undefined);
  const d = { primary: { host: '127.0.0.1', port: 7002 }, members: [{ host: '127.0.0.1', port: 7001 }, { host: '127.0.0.1', port: 7002 }], via: { host: '127.0.0.1', port: 7001 } };
  const base = etcdOpts([], { etcd: undefined, ratio: { get: 1, set: 0 } });
  assert.deepEqual(routeBySeeds(base, d).targets, d.members, 'eventual reads go to any node');
  assert.deepEqual(routeBySeeds({ ...base, consistency: 'quorum' }, d).targets, [d.primary], 'quorum reads need the primary');
  assert.deepEqual(routeBySeeds({ ...base, ratio: { get: 1, set: 1 } }, d).targets, [d.primary], 'writes need the primary');
});

function runTool(file: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: out, stderr: err }));
  });
}

test('kv-bench --seeds against a real 3-node cluster: a dead seed and a replica seed still lead to the primary', { skip: NO_KV }, async () => {
  const cluster = await Cluster.start({ nodes: 3, proxies: false });
  try {
    const dead = await freePort();
    // The discovery asserts one primary throughout: run again if an election came in between.
    await cluster.whileStable(async (primaryId) => {
      const primary = cluster.node(primaryId);
      const replicas = cluster.nodes.filter((n) => n.id !== primaryId);
      const found = await discoverPrimary([{ host: '127.0.0.1', port: dead }, ...replicas.map((n) => ({ host: '127.0.0.1', port: n.port }))]);
      assert.ok(found.ok, found.ok ? '' : found.error);
      assert.equal(found.discovery.primary.port, primary.port);
      assert.equal(found.discovery.via.port, (replicas[0] as { port: number }).port);
      assert.equal(found.discovery.members.length, 3);
      // Quorum SETs through a replica seed: any request sent to a replica would fail (READONLY).
      const seeds = [`127.0.0.1:${dead}`, ...replicas.map((n) => `127.0.0.1:${n.port}`)].join(',');
      const w = await runTool(process.execPath, [KV_BENCH_JS, '--seeds', seeds, '-n', '300', '-c', '6', '--consistency', 'quorum', '--json']);
      assert.equal(w.code, 0, w.stderr + w.stdout);
      const doc = JSON.parse(w.stdout) as { target: string; result: BenchResult };
      assert.equal(doc.target, `127.0.0.1:${primary.port}`);
      assert.equal(doc.result.requestsOk, 300);
      assert.equal(doc.result.errorsTotal, 0);
      // Eventual reads are spread over every member.
      const r = await runTool(process.execPath, [KV_BENCH_JS, '--seeds', seeds, '-n', '300', '-c', '6', '--ratio', '1:0', '--json']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const rd = JSON.parse(r.stdout) as { target: string; result: BenchResult };
      assert.deepEqual(rd.target.split(',').map((a) => Number(a.split(':')[1])).sort(), cluster.nodes.map((n) => n.port).sort());
      assert.equal(rd.result.requestsOk, 300);
    });
    const none = await runTool(process.execPath, [KV_BENCH_JS, '--seeds', `127.0.0.1:${dead}`, '-n', '10']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no seed knows a primary: 127\.0\.0\.1:\d+: no answer/);
  } finally {
    await cluster.stop();
  }
});

// ---------------------------------------------------------------------------------------------
// Suite pieces and a short run of rows 2 and 4.

test('suite helpers: rotation, redis SET stream bytes, row 3 verdict', () => {
  assert.deepEqual([0, 1, 2, 3].map((r) => rotation(['a', 'b', 'c'], r).join('')), ['abc', 'bca', 'cab', 'abc']);
  // *3\r\n$3\r\nSET\r\n$16\r\nkey:000000000001\r\n$100\r\n<100 bytes>\r\n
  assert.equal(redisSetBytes(100), 4 + 4 + 5 + 5 + 18 + 6 + 102);
  const row = (kv: number, etcd: number, kvP99: number, etcdP99: number) => toRow({ workload: '3.', redis: [], kv: [{ rps: kv, p50Ms: 1, p99Ms: kvP99 }], etcd: [{ rps: etcd, p50Ms: 1, p99Ms: etcdP99 }] });
  assert.match(row3Verdict(row(3000, 1000, 5, 10)) ?? '', /: met — throughput 3\.00×/);
  assert.match(row3Verdict(row(1500, 1000, 5, 10)) ?? '', /NOT met — throughput 1\.50× \(short\)/);
  assert.match(row3Verdict(row(3000, 1000, 20, 10)) ?? '', /NOT met .*\(higher\)/);
  assert.equal(row3Verdict(toRow({ workload: '3.', redis: [], kv: [] })), undefined);
});

test('npm run bench --rows 7,8 smoke: values, 1000 clients, MSET, INCR and YCSB lines side by side, their commands recorded', { skip: NO_KV }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvts-suite-'));
  try {
    const docs = join(dir, 'benchmarks.md');
    const r = await runTool(process.execPath, [SUITE_JS, '--rows', '7,8', '-n', '2000', '--rounds', '1', '--duration', '0.5', '--docs', docs]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stderr, /estimated duration \d+:\d\d \(rows 7: \d:\d\d, 8: \d:\d\d\)/);
    const ratio = ' +\\d+ +\\d+ +[\\d.]+x';
    for (const line of ['7. SET -d 1024 -P 1', '7. GET -d 16384 -P 16', `7. SET -c ${MANY_CLIENTS} -P 16`, '7. MSET (10 keys) -P 1', '7. INCR -P 16']) {
      assert.match(r.stdout, new RegExp(line.replace(/[.()]/g, '\\$&') + ', fsync everysec' + ratio), line);
    }
    // YCSB lines: both sides measured, p99.9 and max present for both (kv-bench reports them).
    for (const w of ['B \\(95% GET / 5% SET\\)', 'A \\(50% GET / 50% SET\\)']) {
      assert.match(r.stdout, new RegExp(`8\\. YCSB ${w}, zipfian θ 0\\.99, 100000 keys × 1000 B, 50 connections, fsync everysec${ratio}.* [\\d.]+ / [\\d.]+ / - +[\\d.]+ / [\\d.]+ / -\\n`), w);
    }
    const text = readFileSync(docs, 'utf8');
    assert.match(text, /Row 7 — values and connections/);
    assert.match(text, /`redis-benchmark -h 127\.0\.0\.1 -p <port> -t set,get -n 1000 -c 50 -d 16384 -r 100000 -P 16 --csv`/);
    assert.match(text, /`redis-benchmark -h 127\.0\.0\.1 -p <port> -t set,get -n 1000 -c 1000 -d 100 /);
    assert.match(text, /`redis-benchmark -h 127\.0\.0\.1 -p <port> -t mset -n 1000 /);
    assert.match(text, /`redis-benchmark -h 127\.0\.0\.1 -p <port> -t incr -n 1000 /);
    assert.match(text, /Row 8 — YCSB/);
    assert.match(text, /`node dist\/src\/cli\/kv-bench\.js -p <port> -c 50 -P 1 -d 1000 --keyspace 100000 --ratio 95:5 --duration 0\.5 --distribution zipfian`/);
    assert.match(text, /--ratio 1:1 --duration 0\.5 --distribution zipfian`/);
    assert.match(text, /-n 100000 --sequential   \(preload, YCSB's load phase\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('npm run bench --rows 2,4 smoke: replicas attached, kv-ts (and etcd if installed) measured, chart embedded', { skip: NO_KV }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvts-suite-'));
  try {
    const docs = join(dir, 'benchmarks.md');
    writeFileSync(docs, `# Benchmarks\n\n${BEGIN_MARKER}\nold\n${END_MARKER}\n\nkept\n`);
    const r = await runTool(process.execPath, [SUITE_JS, '--rows', '2,4', '-n', '2000', '--rounds', '1', '--duration', '0.5', '--read-keys', '200', '--docs', docs]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /2\. SET -P 1, primary \+ 2 replicas, fsync everysec +\d+ +\d+ +[\d.]+x/);
    assert.match(r.stdout, /2\. SET -P 16, primary \+ 2 replicas/);
    const row4 = /4\. linearizable GET, 50 connections, 200 preloaded keys +- +(\d+) +- +- +(\S+) +(\S+)/.exec(r.stdout);
    assert.ok(row4 !== null, r.stdout);
    assert.ok(Number(row4[1]) > 0);
    if (NO_ETCD === false) {
      assert.match(row4[3] as string, /^[\d.]+x$/, 'kv-ts ÷ etcd ratio present');
      assert.match(r.stdout, /4\. linearizable GET, 50 connections, 200 preloaded keys — etcd via JSON gateway \(HTTP\/1\.1\) +- +\d+ +- +- +\d+ +[\d.]+x/);
    }
    else assert.match(r.stderr, /etcd not found: apt-get install etcd-server etcd-client/);
    const text = readFileSync(docs, 'utf8');
    assert.ok(text.endsWith(`${END_MARKER}\n\nkept\n`));
    assert.match(text, /--replica-of 127\.0\.0\.1:<port>/);
    assert.match(text, /--replicaof 127\.0\.0\.1 <port>/);
    assert.match(text, /kv-bench\.js --seeds 127\.0\.0\.1:<port>,127\.0\.0\.1:<port>,127\.0\.0\.1:<port> -c 50 -P 1 .* --consistency quorum/);
    assert.match(text, /Versions: node v\d+.*redis-server .*etcd /);
    if (NO_ETCD === false) {
      assert.match(text, /kv-bench\.js --etcd-grpc 127\.0\.0\.1:<leader-client-port> -c 50 -P 1 .*--ratio 1:0/, 'gRPC line command');
      assert.match(text, /kv-bench\.js --etcd http:\/\/127\.0\.0\.1:<leader-client-port> -c 50 -P 1 .*--ratio 1:0/, 'gateway line command');
    }
    assert.match(text, /!\[[^\]]*\]\(bench-latency\.svg\)/);
    const svg = readFileSync(join(dir, 'bench-latency.svg'), 'utf8');
    assertWellFormed(svg);
    const systems = [...svg.matchAll(/<g class="series" data-system="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(systems, NO_ETCD === false ? ['redis', 'kv-ts', 'etcd'] : ['redis', 'kv-ts']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
