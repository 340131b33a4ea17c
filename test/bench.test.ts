// kv-bench and the bench suite: the reply framer on split frames, runBench's accounting
// (every request ends exactly once, errors by kind, never as successes, at most -P in flight)
// against real and scripted RESP servers, the CLI's JSON, and the suite's parsing and docs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeReply, encodeCommand, errorKind, INCOMPLETE, MALFORMED, scanReply } from '../src/client/resp-wire.js';
import { runBench, type BenchOptions, type BenchResult } from '../src/bench/run.js';
import { parseRedisBenchmarkCsv, runRedisBenchmark } from '../tools/bench/redis-benchmark.js';
import { spliceSection, BEGIN_MARKER, END_MARKER } from '../tools/bench/docs.js';
import { markdownTable, median, toRow } from '../tools/bench/compare.js';
import { rows12Verdict } from '../tools/bench/suite-docs.js';
import { rng, testSeed } from './helpers/rng.js';
import { KV_SERVER_JS, REPO_ROOT, freePort, startKvServer, startRedisServer, stopAndClean, type RunningProcess } from './helpers/procs.js';

const KV_BENCH_JS = join(REPO_ROOT, 'dist', 'src', 'cli', 'kv-bench.js');
const SUITE_JS = join(REPO_ROOT, 'dist', 'tools', 'bench', 'suite.js');
const STORAGE_BENCH_JS = join(REPO_ROOT, 'dist', 'tools', 'bench', 'storage-bench.js');
const FAILOVER_BENCH_JS = join(REPO_ROOT, 'dist', 'tools', 'bench', 'failover-bench.js');
const DELETE_LATENCY_JS = join(REPO_ROOT, 'dist', 'tools', 'bench', 'delete-latency.js');
const GROWTH_PAUSE_JS = join(REPO_ROOT, 'dist', 'tools', 'bench', 'growth-pause.js');
const BIGKEYS_JS = join(REPO_ROOT, 'dist', 'tools', 'bench', 'bigkeys.js');
const CPU_JS = join(REPO_ROOT, 'dist', 'tools', 'bench', 'cpu-per-request.js');

// ---------------------------------------------------------------------------------------------
// The framer.

const FRAMES: readonly string[] = [
  '+OK\r\n',
  '-ERR unknown command\r\n',
  '-NOAUTH Authentication required.\r\n',
  ':12345\r\n',
  ':-1\r\n',
  '$5\r\nhello\r\n',
  '$0\r\n\r\n',
  '$-1\r\n',
  '$4\r\na\r\nb\r\n', // CRLF inside a bulk is data
  '*-1\r\n',
  '*0\r\n',
  '*3\r\n:1\r\n$1\r\nx\r\n*2\r\n+a\r\n-ERR b\r\n',
  '%2\r\n+k1\r\n:1\r\n+k2\r\n*1\r\n$1\r\nv\r\n',
  '~2\r\n+a\r\n+b\r\n',
  '_\r\n',
  ',3.25\r\n',
  '#t\r\n',
  '(12345678901234567890\r\n',
  '=8\r\ntxt:abcd\r\n',
  '!9\r\nERR boom!\r\n',
  '|1\r\n+ttl\r\n:3\r\n$2\r\nhi\r\n',
  '>2\r\n+message\r\n$1\r\nm\r\n',
];

test('scanReply: every strict prefix is INCOMPLETE, the whole frame ends exactly', () => {
  for (const f of FRAMES) {
    const buf = Buffer.from(f, 'latin1');
    for (let cut = 0; cut < buf.length; cut++) assert.equal(scanReply(buf.subarray(0, cut), 0), INCOMPLETE, `${JSON.stringify(f)} cut ${cut}`);
    assert.equal(scanReply(buf, 0), buf.length, JSON.stringify(f));
    const d = decodeReply(buf, 0);
    assert.ok(typeof d !== 'number', JSON.stringify(f));
    assert.equal(d.end, buf.length);
  }
});

test('scanReply: random concatenations split at random points are reassembled frame by frame', () => {
  const r = rng(testSeed(7));
  for (let round = 0; round < 200; round++) {
    const picks = Array.from({ length: 1 + r.int(20) }, () => r.pick(FRAMES));
    const all = Buffer.from(picks.join(''), 'latin1');
    // Feed in random chunks, as a socket would, keeping the unconsumed tail like the bench does.
    let pending = Buffer.alloc(0);
    let off = 0;
    let frames = 0;
    while (off < all.length) {
      const n = 1 + r.int(12);
      pending = Buffer.concat([pending, all.subarray(off, off + n)]);
      off += n;
      let pos = 0;
      for (;;) {
        const end = scanReply(pending, pos);
        if (end === INCOMPLETE) break;
        assert.notEqual(end, MALFORMED);
        assert.equal(pending.subarray(pos, end).toString('latin1'), picks[frames], `seed ${r.seed} round ${round}`);
        frames++;
        pos = end;
      }
      pending = pending.subarray(pos);
    }
    assert.equal(frames, picks.length);
    assert.equal(pending.length, 0);
  }
});

test('scanReply: malformed input is reported, not thrown', () => {
  for (const bad of ['?x\r\n', '$abc\r\n', '$3\r\nabcXY', '*x\r\n', '+OK\rX', '$-2\r\n', ':1\n']) {
    const res = scanReply(Buffer.from(bad, 'latin1'), 0);
    assert.ok(res === MALFORMED || res === INCOMPLETE, bad);
    if (bad !== ':1\n') assert.equal(res, MALFORMED, bad);
  }
});

test('errorKind is the first word of simple and blob errors', () => {
  assert.equal(errorKind(Buffer.from('-NOAUTH Authentication required.\r\n'), 0), 'NOAUTH');
  assert.equal(errorKind(Buffer.from('+OK\r\n-READONLY x y\r\n'), 5), 'READONLY');
  assert.equal(errorKind(Buffer.from('-ERR\r\n'), 0), 'ERR');
  assert.equal(errorKind(Buffer.from('!11\r\nNOQUORUM no\r\n'), 0), 'NOQUORUM');
});

test('encodeCommand is binary safe and frames as one reply-shaped array', () => {
  const c = encodeCommand(['SET', Buffer.from([0, 13, 10, 255]), 'é']);
  assert.equal(c.toString('latin1'), '*3\r\n$3\r\nSET\r\n$4\r\n\x00\r\n\xff\r\n$2\r\n\xc3\xa9\r\n');
  assert.equal(scanReply(c, 0), c.length);
});

// ---------------------------------------------------------------------------------------------
// runBench against a scripted server: exact accounting and the pipeline bound.

interface Script {
  /** Reply for the i-th command (per connection) named `name`. */
  reply(name: string, i: number): string | 'close';
}

interface Scripted {
  readonly port: number;
  readonly server: Server;
  maxInFlight: number;
  commands: Map<string, number>;
  errorsSent: Map<string, number>;
}

/**
 * A RESP server that answers each data event's commands together on the next macrotask, so the
 * client's outstanding requests accumulate and can be measured.
 */
async function scriptedServer(script: Script): Promise<Scripted> {
  const s: Scripted = { port: 0, server: createServer(), maxInFlight: 0, commands: new Map(), errorsSent: new Map() };
  s.server.on('connection', (sock: Socket) => {
    let pending = Buffer.alloc(0);
    let inFlight: string[] = [];
    let perConn = 0;
    let flushing = false;
    let closed = false;
    sock.on('error', () => {});
    sock.on('data', (d: Buffer) => {
      if (closed) return;
      pending = Buffer.concat([pending, d]);
      let pos = 0;
      for (;;) {
        const end = scanReply(pending, pos);
        if (end < 0) break;
        const cmd = decodeReply(pending, pos);
        assert.ok(typeof cmd !== 'number' && cmd.reply.type === 'array');
        const first = cmd.reply.items[0];
        assert.ok(first?.type === 'bulk');
        const name = first.value.toString().toUpperCase();
        inFlight.push(name);
        s.commands.set(name, (s.commands.get(name) ?? 0) + 1);
        pos = end;
      }
      pending = pending.subarray(pos);
      s.maxInFlight = Math.max(s.maxInFlight, inFlight.filter((n) => n !== 'WAIT').length);
      if (flushing) return;
      flushing = true;
      setImmediate(() => {
        flushing = false;
        const out: string[] = [];
        for (const name of inFlight) {
          const r = script.reply(name, perConn++);
          if (r === 'close') {
            // Answer what came before, then hang up on everything still in flight.
            closed = true;
            sock.end(out.join(''));
            return;
          }
          if (r.startsWith('-')) {
            const kind = r.slice(1).split(/[\s\r]/)[0] as string;
            s.errorsSent.set(kind, (s.errorsSent.get(kind) ?? 0) + 1);
          }
          out.push(r);
        }
        inFlight = [];
        sock.write(out.join(''));
      });
    });
  });
  await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', () => r()));
  const addr = s.server.address();
  assert.ok(addr !== null && typeof addr === 'object');
  return Object.assign(s, { port: addr.port });
}

function opts(port: number, over: Partial<BenchOptions> = {}): BenchOptions {
  return {
    host: '127.0.0.1',
    port,
    connections: 4,
    requests: 500,
    valueBytes: 10,
    pipeline: 1,
    ratio: { get: 1, set: 1 },
    keyspace: 1000,
    seed: 42,
    ...over,
  };
}

async function mustRun(o: BenchOptions): Promise<BenchResult> {
  const out = await runBench(o);
  if (!out.ok) assert.fail(out.error);
  return out.result;
}

test('runBench: error replies are counted by kind and never as successes; pipeline bound holds', async () => {
  const srv = await scriptedServer({ reply: (name, i) => (i % 3 === 0 ? '-READONLY go to 127.0.0.1:1\r\n' : name === 'GET' ? '$-1\r\n' : '+OK\r\n') });
  try {
    const r = await mustRun(opts(srv.port, { pipeline: 8, requests: 1000 }));
    const sent = srv.errorsSent.get('READONLY') ?? 0;
    assert.ok(sent > 0);
    assert.deepEqual(r.errors, { READONLY: sent });
    assert.equal(r.errorsTotal, sent);
    assert.equal(r.requestsOk, 1000 - sent);
    assert.equal(r.gets + r.sets, 1000);
    assert.equal((srv.commands.get('GET') ?? 0) + (srv.commands.get('SET') ?? 0), 1000);
    assert.ok(srv.maxInFlight <= 8, `max in flight ${srv.maxInFlight}`);
    assert.ok(srv.maxInFlight > 1, 'pipelining did happen');
  } finally {
    srv.server.close();
  }
});

test('runBench: --redis-wait makes SET+WAIT one request; a failed WAIT fails the request', async () => {
  let waits = 0;
  const srv = await scriptedServer({
    reply: (name) => {
      if (name !== 'WAIT') return '+OK\r\n';
      waits++;
      return waits % 5 === 0 ? '-NOREPLICAS Not enough good replicas\r\n' : ':1\r\n';
    },
  });
  try {
    const r = await mustRun(opts(srv.port, { ratio: { get: 0, set: 1 }, redisWait: 1, pipeline: 3, requests: 300 }));
    assert.equal(srv.commands.get('SET'), 300);
    assert.equal(srv.commands.get('WAIT'), 300);
    assert.deepEqual(r.errors, { NOREPLICAS: 60 });
    assert.equal(r.requestsOk, 240);
    assert.ok(srv.maxInFlight <= 3);
  } finally {
    srv.server.close();
  }
});

test('runBench: a dropped connection fails its in-flight requests as CONNECTION_LOST', async () => {
  const srv = await scriptedServer({ reply: (_n, i) => (i === 50 ? 'close' : '+OK\r\n') });
  try {
    const r = await mustRun(opts(srv.port, { connections: 2, pipeline: 4, requests: 1000, ratio: { get: 0, set: 1 } }));
    assert.ok((r.errors['CONNECTION_LOST'] ?? 0) > 0);
    assert.equal(r.requestsOk + r.errorsTotal, r.gets + r.sets, 'every issued request ended once');
    assert.ok(r.requestsOk >= 100 && r.requestsOk < 1000);
  } finally {
    srv.server.close();
  }
});

test('runBench: a server that stops answering fails the stalled requests as TIMEOUT', async () => {
  // Like WAIT 1 0 on a primary without replicas: accepted, never answered.
  const mute = createServer((sock) => sock.on('error', () => {}));
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', () => r()));
  try {
    const addr = mute.address();
    assert.ok(addr !== null && typeof addr === 'object');
    const r = await mustRun(opts(addr.port, { connections: 3, pipeline: 2, requests: 100, stallTimeoutMs: 200 }));
    assert.equal(r.requestsOk, 0);
    assert.deepEqual(r.errors, { TIMEOUT: 6 }); // 3 connections x 2 in flight, then nothing more issued
  } finally {
    mute.close();
  }
});

test('runBench: invalid options and unreachable servers are error values', async () => {
  const bad = await runBench(opts(1, { pipeline: 0 }));
  assert.deepEqual(bad, { ok: false, error: 'pipeline must be 1..10000' });
  const port = await freePort();
  const down = await runBench(opts(port));
  assert.deepEqual(down, { ok: false, error: `Could not connect to 127.0.0.1:${port}: Connection refused` });
});

// ---------------------------------------------------------------------------------------------
// Against a real redis-server.

let redis: RunningProcess | undefined;
let secured: RunningProcess | undefined;
before(async () => {
  [redis, secured] = await Promise.all([startRedisServer(), startRedisServer(['--requirepass', 'pw'])]);
});
after(async () => {
  await Promise.all([stopAndClean(redis), stopAndClean(secured)]);
});

test('runBench vs redis-server: -n 2000 mixed load, counts add up, keys land in the keyspace', async () => {
  const r = await mustRun(opts(redis!.port, { connections: 10, requests: 2000, pipeline: 4, keyspace: 500, valueBytes: 100 }));
  assert.equal(r.requestsOk, 2000);
  assert.equal(r.errorsTotal, 0);
  assert.equal(r.gets + r.sets, 2000);
  assert.ok(r.gets > 800 && r.sets > 800, `mix ${r.gets}:${r.sets}`);
  assert.ok(r.throughput > 0 && r.latencyMs.p50 > 0 && r.latencyMs.p50 <= r.latencyMs.p99 && r.latencyMs.p99 <= r.latencyMs.max);
  const c = await runRedisBenchmarkFreeCheck(redis!.port);
  assert.ok(c > 0 && c <= 500, `dbsize ${c}`);
});

/** DBSIZE via redis-cli (a different client than the one under test). */
async function runRedisBenchmarkFreeCheck(port: number): Promise<number> {
  const r = await runTool('redis-cli', ['-p', String(port), 'dbsize']);
  return Number(r.stdout.trim());
}

test('runBench vs redis-server with requirepass and no -a: all NOAUTH, zero ok', async () => {
  const r = await mustRun(opts(secured!.port, { requests: 2000, connections: 5 }));
  assert.equal(r.requestsOk, 0);
  assert.deepEqual(r.errors, { NOAUTH: 2000 });
  const authed = await mustRun(opts(secured!.port, { requests: 200, password: 'pw' }));
  assert.equal(authed.requestsOk, 200);
  const wrong = await runBench(opts(secured!.port, { password: 'nope' }));
  assert.ok(!wrong.ok && /^AUTH failed: WRONGPASS/.test(wrong.error), JSON.stringify(wrong));
});

test('runBench --consistency on a server that rejects it fails with the server\'s message', async () => {
  const r = await runBench(opts(redis!.port, { consistency: 'quorum' }));
  assert.ok(!r.ok);
  assert.match(r.error, /^CONSISTENCY QUORUM failed: ERR unknown command 'CONSISTENCY'/);
});

test('runBench --duration runs for about that long', async () => {
  const r = await mustRun(opts(redis!.port, { durationSec: 0.3, requests: 0 }));
  assert.ok(r.requestsOk > 0);
  assert.ok(r.elapsedSec >= 0.3 && r.elapsedSec < 5, `elapsed ${r.elapsedSec}`);
});

test('runBench --rate paces the requests; an abort signal ends a long run', async () => {
  const r = await mustRun(opts(redis!.port, { ratePerSec: 2000, requests: 600 }));
  assert.equal(r.requestsOk, 600);
  // 600 requests at 2000/s cannot finish before 0.3 s (minus one interval of slack).
  assert.ok(r.elapsedSec >= 0.28 && r.elapsedSec < 10, `elapsed ${r.elapsedSec}`);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 200);
  const a = await mustRun(opts(redis!.port, { ratePerSec: 1000, durationSec: 3600, requests: 0, signal: ac.signal }));
  assert.ok(a.requestsOk > 0 && a.elapsedSec < 10, `elapsed ${a.elapsedSec}`);
});

test('runBench --rate: requests delayed by a stalled reply count from their scheduled time', async () => {
  // One reply (the 50th command) is held back STALL_MS; the requests scheduled meanwhile go out
  // late and must carry that wait in their latency (no coordinated omission).
  const STALL_MS = 150;
  let seen = 0;
  const server = createServer((sock: Socket) => {
    let pending = Buffer.alloc(0);
    sock.on('error', () => {});
    sock.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      let pos = 0;
      let replies = '';
      for (let end = scanReply(pending, pos); end >= 0; end = scanReply(pending, pos)) {
        pos = end;
        replies += '+OK\r\n';
        seen++;
      }
      pending = pending.subarray(pos);
      if (seen === 50) setTimeout(() => sock.write(replies), STALL_MS);
      else sock.write(replies);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  assert.ok(addr !== null && typeof addr === 'object');
  try {
    const r = await mustRun(opts(addr.port, { connections: 1, ratePerSec: 1000, requests: 400, ratio: { get: 0, set: 1 } }));
    assert.equal(r.requestsOk, 400);
    // ~150 of 400 requests were scheduled during the stall: well over 10 % waited > 20 ms.
    assert.ok(r.latencyMs.p90 >= 20, `p90 ${r.latencyMs.p90} ms`);
    assert.ok(r.latencyMs.max >= STALL_MS * 0.9, `max ${r.latencyMs.max} ms`);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runTool(file: string, args: readonly string[]): Promise<Ran> {
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

test('kv-bench CLI: --json parses and matches the run; errors give exit 3; bad flags exit 2', async () => {
  const ok = await runTool(process.execPath, [KV_BENCH_JS, '-p', String(redis!.port), '-n', '2000', '-c', '8', '-P', '2', '--ratio', '1:1', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const doc = JSON.parse(ok.stdout) as { options: BenchOptions; result: BenchResult };
  assert.equal(doc.result.requestsOk, 2000);
  assert.equal(doc.options.pipeline, 2);
  assert.equal(doc.result.gets + doc.result.sets, 2000);
  const noauth = await runTool(process.execPath, [KV_BENCH_JS, '-p', String(secured!.port), '-n', '100', '--quiet']);
  assert.equal(noauth.code, 3);
  assert.match(noauth.stdout, /errors 100\n$/);
  const table = await runTool(process.execPath, [KV_BENCH_JS, '--seeds', `127.0.0.1:${redis!.port},127.0.0.1:1`, '-n', '100']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /requests ok +100\n/);
  assert.match(table.stdout, /latency p99\.9 +[\d.]+ ms/);
  const bad = await runTool(process.execPath, [KV_BENCH_JS, '--ratio', 'x']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, 'kv-bench: --ratio needs get:set weights, e.g. 1:1 (see --help)\n');
});

test('bench tools: a bad flag or value is one line on stderr and exit 2; --help exits 0', async () => {
  const tools: [string, readonly (readonly string[])[]][] = [
    [KV_BENCH_JS, [['--frobnicate'], ['-c', '0'], ['-P'], ['--seed', '-5'], ['stray'], ['--seeds', 'nohost']]],
    [SUITE_JS, [['--frobnicate'], ['--rows', '10'], ['--rounds'], ['--docs', 'x', '--no-docs']]],
    [STORAGE_BENCH_JS, [['--frobnicate'], ['--keys', 'many']]],
    [FAILOVER_BENCH_JS, [['--frobnicate'], ['--trials', '0'], ['--join-keys', '-1'], ['--join-keys', 'many']]],
    [DELETE_LATENCY_JS, [['--frobnicate'], ['--elements', '0'], ['--types', 'list'], ['--systems', 'etcd']]],
    [GROWTH_PAUSE_JS, [['--frobnicate'], ['--keys', '0'], ['--keys', 'many'], ['--systems', 'etcd']]],
    [BIGKEYS_JS, [['--frobnicate'], ['--keys', '0'], ['--rate', '-1'], ['--baseline', 'long']]],
    [CPU_JS, [['--frobnicate'], ['--tests', 'eval'], ['--requests', '0'], ['--pipelines', '16,x'], ['--clients', '1.5']]],
  ];
  for (const [tool, bads] of tools) {
    for (const args of bads) {
      const r = await runTool(process.execPath, [tool, ...args]);
      const what = `${tool} ${args.join(' ')}`;
      assert.equal(r.code, 2, `${what}: ${r.stderr}`);
      assert.match(r.stderr, /^[\w:-]+: [^\n]+\n$/, what);
      assert.equal(r.stdout, '', what);
    }
    const help = await runTool(process.execPath, [tool, '--help']);
    assert.equal(help.code, 0, `${tool} --help: ${help.stderr}`);
    assert.match(help.stdout, /^Usage: /);
  }
});

test('runBench vs kv-server: -n 2000 mixed load, all ok; a refused CONSISTENCY fails the run', { skip: existsSync(KV_SERVER_JS) ? false : 'kv-server not built' }, async () => {
  const kv = await startKvServer();
  try {
    const r = await mustRun(opts(kv.port, { connections: 10, requests: 2000, pipeline: 4, keyspace: 500, valueBytes: 100 }));
    assert.equal(r.requestsOk, 2000);
    assert.equal(r.errorsTotal, 0);
    const q = await runBench(opts(kv.port, { consistency: 'quorum' }));
    // Until replication lands kv-server has no quorum mode; whatever it says must surface verbatim.
    if (!q.ok) assert.match(q.error, /^CONSISTENCY QUORUM failed: \S+/);
  } finally {
    await stopAndClean(kv);
  }
});

// ---------------------------------------------------------------------------------------------
// Suite building blocks.

test('redis-benchmark CSV is parsed (real redis-benchmark output)', async () => {
  const r = await runRedisBenchmark({ port: redis!.port, tests: ['set', 'get'], requests: 2000, clients: 10, valueBytes: 100, keyspace: 1000, pipeline: 1 });
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.deepEqual(
    r.rows.map((x) => x.test),
    ['SET', 'GET'],
  );
  for (const row of r.rows) assert.ok(row.rps > 0 && row.p50Ms > 0);
  const fixed = parseRedisBenchmarkCsv('"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"\n"SET","73800.73","0.420","0.096","0.391","0.703","1.111","9.999"\n');
  assert.deepEqual(fixed, { ok: true, rows: [{ test: 'SET', rps: 73800.73, p50Ms: 0.391, p99Ms: 1.111, maxMs: 9.999 }] });
  assert.equal(parseRedisBenchmarkCsv('Could not connect').ok, false);
  // -t lrange_100 also prints the LPUSH that fills its list: not a requested test, left out.
  const lrange = parseRedisBenchmarkCsv('"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"\n"LPUSH (needed to benchmark LRANGE)","90000.00","0.3","0.1","0.3","0.5","0.9","2.0"\n"LRANGE_100 (first 100 elements)","50715.08","2.209","0.352","1.863","3.759","6.695","149.887"\n');
  assert.deepEqual(lrange.ok && lrange.rows.map((x) => x.test), ['LRANGE_100 (first 100 elements)']);
});

test('redis-benchmark custom command (row 6 read lines): one CSV row named by the command line', async () => {
  const zadd = await runRedisBenchmark({ port: redis!.port, tests: [], requests: 200, clients: 2, valueBytes: 10, keyspace: 10, pipeline: 1, command: ['ZADD', 'rb:z', '1', 'm'] });
  assert.ok(zadd.ok, zadd.ok ? '' : zadd.error);
  const r = await runRedisBenchmark({ port: redis!.port, tests: [], requests: 2000, clients: 10, valueBytes: 100, keyspace: 1000, pipeline: 4, command: ['ZRANGE', 'rb:z', '0', '9'] });
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.deepEqual(r.rows.map((x) => x.test), ['ZRANGE rb:z 0 9']);
  assert.ok((r.rows[0]?.rps ?? 0) > 0);
});

test('spliceSection replaces only the marked section', () => {
  const doc = `# Benchmarks\n\nintro\n\n${BEGIN_MARKER}\nold\n${END_MARKER}\n\n## Notes\nkeep me\n`;
  const r = spliceSection(doc, 'new table');
  assert.deepEqual(r, { ok: true, text: `# Benchmarks\n\nintro\n\n${BEGIN_MARKER}\nnew table\n${END_MARKER}\n\n## Notes\nkeep me\n` });
  const fresh = spliceSection('', 'x');
  assert.ok(fresh.ok && fresh.text === `# Benchmarks\n\n${BEGIN_MARKER}\nx\n${END_MARKER}\n`);
  const appended = spliceSection('# Mine\ntext\n', 'x');
  assert.ok(appended.ok && appended.text.startsWith('# Mine\ntext\n\n' + BEGIN_MARKER));
  assert.equal(spliceSection(`${END_MARKER}\n${BEGIN_MARKER}`, 'x').ok, false);
});

test('comparison rows take medians and the kv/redis and kv/etcd ratios', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  const row = toRow({ workload: 'SET -P 1', redis: [{ rps: 100, p50Ms: 1 }, { rps: 300, p50Ms: 3, p99Ms: 9 }, { rps: 200, p50Ms: 2, p99Ms: 5 }], kv: [{ rps: 150, p50Ms: 1.5, p99Ms: 4, p999Ms: 6, maxMs: 8 }], etcd: [{ rps: 50, p50Ms: 10, p99Ms: 20, p999Ms: 30, maxMs: 41.25 }] });
  assert.deepEqual(row, {
    workload: 'SET -P 1',
    redisRps: 200,
    kvRps: 150,
    ratio: 0.75,
    ratioMin: NaN, // one kv-ts round against three redis rounds: no pairs
    ratioMax: NaN,
    etcdRps: 50,
    ratioEtcd: 3,
    redisP50Ms: 2,
    kvP50Ms: 1.5,
    etcdP50Ms: 10,
    redisP99Ms: 7, // median of the two rounds that reported one
    kvP99Ms: 4,
    etcdP99Ms: 20,
    redisP999Ms: NaN, // redis-benchmark reports no p99.9
    kvP999Ms: 6,
    etcdP999Ms: 30,
    redisMaxMs: NaN,
    kvMaxMs: 8,
    etcdMaxMs: 41.25,
  });
  const md = markdownTable([row, toRow({ workload: 'GET -P 1', redis: [{ rps: 10, p50Ms: 1 }], kv: [] })]);
  assert.match(md, /\| SET -P 1 \| 200 \| 150 \| 0\.75x \| - \| 50 \| 3\.00x \| 2\.000 \/ 1\.500 \/ 10\.000 \| 7\.000 \/ 4\.000 \/ 20\.000 \| - \/ 6\.000 \/ 30\.000 \| - \/ 8\.0 \/ 41\.3 \|/);
  assert.match(md, /\| GET -P 1 \| 10 \| - \| - \| - \| - \| - \| 1\.000 \/ - \/ - \| - \/ - \/ - \| - \/ - \/ - \| - \/ - \/ - \|/);
});

test('per-round ratios pair the two sides by round; the rows 1-2 verdict judges warm lines and reports cold ones apart', () => {
  const s = (rps: number, round?: number): { rps: number; p50Ms: number; round?: number } => ({ rps, p50Ms: 1, ...(round !== undefined ? { round } : {}) });
  const paired = toRow({ workload: '1. SET -P 16, fsync everysec', redis: [s(100, 0), s(200, 1), s(100, 2)], kv: [s(90, 0), s(120, 1), s(95, 2)] });
  assert.equal(paired.ratio, 0.95); // median 95 / median 100
  assert.equal(paired.ratioMin, 0.6); // round 1: 120 / 200
  assert.equal(paired.ratioMax, 0.95);
  assert.match(markdownTable([paired]), /\| 0\.95x \| 0\.60–0\.95 \|/);
  // A round where one side failed pairs with nothing: kv-ts failed round 0, redis round 1, so
  // equal sample counts must not pair kv-ts's round 1 with redis's round 0.
  const gaps = toRow({ workload: '1. GET -P 16, fsync everysec', redis: [s(100, 0), s(300, 2), s(400, 3)], kv: [s(20, 1), s(150, 2), s(400, 3)] });
  assert.equal(gaps.ratioMin, 0.5); // round 2: 150 / 300 (by position it would be 20 / 100)
  assert.equal(gaps.ratioMax, 1); // round 3
  const onePair = toRow({ workload: 'x', redis: [s(100, 0), s(100, 2)], kv: [s(50, 1), s(80, 2)] });
  assert.ok(Number.isNaN(onePair.ratioMin) && Number.isNaN(onePair.ratioMax), 'one paired round is no range');
  assert.ok(Number.isNaN(toRow({ workload: 'x', redis: [s(1), s(2)], kv: [s(1), s(2)] }).ratioMin), 'samples outside the rounds (cold pass) never pair');
  const cold = toRow({ workload: '2. SET -P 1, primary + 2 replicas, fsync everysec, cold: first 200000 after start', redis: [s(100)], kv: [s(70)] });
  const ok = rows12Verdict([paired, cold]);
  assert.ok(ok !== undefined);
  assert.match(ok, /: met — lowest median 0\.95× \(1\. SET -P 16, fsync everysec\), 0 of 1 lines at 1\.0× or more\./);
  assert.match(ok, /Lowest single round: 0\.60×/);
  assert.match(ok, /Cold lines .*lowest 0\.70× \(2\. SET -P 1, primary/);
  const low = toRow({ workload: '2. SET -P 16, primary + 2 replicas, fsync everysec', redis: [s(100)], kv: [s(79)] });
  assert.match(rows12Verdict([paired, low, cold]) ?? '', /NOT met \(1 of 2 lines below\) — lowest median 0\.79× \(2\. SET -P 16/);
  assert.equal(rows12Verdict([cold]), undefined, 'cold lines alone are no verdict');
  assert.equal(rows12Verdict([toRow({ workload: '3. durable majority SET', redis: [s(1)], kv: [s(1)] })]), undefined);
});

test('npm run bench:cpu: CPU per request of redis-server, kv-server and the I/O floor, one table row each', { skip: existsSync(KV_SERVER_JS) ? false : 'kv-server not built', timeout: 120_000 }, async () => {
  const r = await runTool(process.execPath, [CPU_JS, '--tests', 'ping_mbulk,incr', '--requests', '20000', '--pipelines', '16']);
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.split('\n').filter((l) => /^\| (ping_mbulk|incr) /.test(l));
  // The floor server answers only PING_MBULK: it runs beside the other two for that test alone.
  assert.deepEqual(rows.map((l) => l.split('|').slice(1, 4).map((c) => c.trim()).join(' ')), ['ping_mbulk 16 redis', 'ping_mbulk 16 kv-ts', 'ping_mbulk 16 io-floor', 'incr 16 redis', 'incr 16 kv-ts']);
  for (const l of rows) {
    const [user, sys, total, rps] = l.split('|').slice(4, 8).map((c) => Number(c.trim()));
    assert.ok(user !== undefined && sys !== undefined && user >= 0 && sys >= 0 && Math.abs((total ?? NaN) - (user + sys)) < 0.011, l);
    assert.ok((rps ?? 0) > 0, `every server answered its load: ${l}`);
  }
});

test('npm run bench smoke: both servers, alternating rows, docs section written', { skip: existsSync(KV_SERVER_JS) ? false : 'kv-server not built' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvts-suite-'));
  try {
    const docs = join(dir, 'benchmarks.md');
    writeFileSync(docs, `# Benchmarks\n\nhand-written\n\n${BEGIN_MARKER}\nold\n${END_MARKER}\n\ntail stays\n`);
    const r = await runTool(process.execPath, [SUITE_JS, '--rows', '1', '-n', '2000', '--rounds', '2', '--no-always', '--docs', docs]);
    assert.equal(r.code, 0, r.stderr);
    // Two rounds: each warm line has its median ratio and the range of the two rounds' own ratios.
    for (const w of ['SET -P 1', 'GET -P 1', 'SET -P 16', 'GET -P 16']) assert.match(r.stdout, new RegExp(`${w}, fsync everysec +\\d+ +\\d+ +[\\d.]+x +[\\d.]+–[\\d.]+ `));
    assert.match(r.stdout, /Rows 1, 2 and 6 target \(kv-ts ≥ 0\.8× Redis on every line\): (met|NOT met)/);
    // The cold pass on the fresh servers first (reported on its own lines), then the round:
    // redis then kv-ts for each pipeline depth.
    for (const w of ['SET', 'GET']) assert.match(r.stdout, new RegExp(`${w} -P 1, fsync everysec, cold: first 2000 after start +\\d+ +\\d+ +[\\d.]+x`));
    const order = [...r.stderr.matchAll(/(cold start|round \d\/2) -P (\d+) (redis|kv-ts) \.\.\./g)].map((m) => `${m[1] === 'cold start' ? 'cold' : m[1].slice(6, 7) + '/' + m[2]}:${m[3]}`);
    // The order rotates every round, so neither system always runs first.
    assert.deepEqual(order, ['cold:redis', 'cold:kv-ts', '1/1:redis', '1/1:kv-ts', '1/16:redis', '1/16:kv-ts', '2/1:kv-ts', '2/1:redis', '2/16:kv-ts', '2/16:redis']);
    const text = readFileSync(docs, 'utf8');
    assert.ok(text.startsWith('# Benchmarks\n\nhand-written\n\n' + BEGIN_MARKER));
    assert.ok(text.endsWith(`${END_MARKER}\n\ntail stays\n`));
    assert.match(text, /\| 1\. SET -P 16, fsync everysec \| \d+ \| \d+ \| [\d.]+x \| [\d.]+–[\d.]+ \|/);
    assert.match(text, /\*\*Rows 1, 2 and 6 target/);
    // Rows 1-2 have p50 and p99 only (redis-benchmark), so the chart has those bars.
    const svg = readFileSync(join(dir, 'bench-latency.svg'), 'utf8');
    assert.match(text, /!\[[^\]]*\]\(bench-latency\.svg\)/);
    assert.equal([...svg.matchAll(/<g class="series" data-system="([^"]+)"/g)].map((m) => m[1]).join(','), 'redis,kv-ts');
    assert.match(text, /redis-benchmark -h 127\.0\.0\.1 -p <port> -t set,get -n 2000 -c 50 -d 100 -r 100000 -P 16 --csv/);
    assert.doesNotMatch(text, /\nold\n/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bench:bigkeys smoke: both servers loaded, restarted twice and compacted under load; every measure has a number', { skip: existsSync(KV_SERVER_JS) ? false : 'kv-server not built' }, async () => {
  const r = await runTool(process.execPath, [BIGKEYS_JS, '--keys', '3000', '--rate', '500', '--baseline', '0.5', '--no-docs']);
  assert.equal(r.code, 0, r.stderr);
  for (const m of ['load 3000 keys', 'RSS after the load', 'restart, log only', 'restart, after compaction', 'compaction (COMPACT / BGREWRITEAOF)', 'during the compaction']) {
    const line = r.stdout.split('\n').find((l) => l.includes(m));
    assert.ok(line !== undefined, `no line for ${m}:\n${r.stdout}`);
    assert.ok(!/NaN|undefined/.test(line), line);
  }
  assert.match(r.stdout, /^9\. 3000 keys: p99\.9 during compaction/m);
});
