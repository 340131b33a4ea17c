// The kv-bench core: drive any RESP server (or, through etcd-driver.ts, etcd's HTTP/JSON
// gateway) with N connections, each keeping at most P requests outstanding, and measure every
// request. runBench(options) -> result; no printing here.
// Never counts an error reply as a success and never drops a latency sample.
//
// Why not ioredis here: its per-command cost (a Command object, a promise, argument conversion,
// reply transformation) is of the same order as a server's per-request cost, so the benchmark
// would measure the client. Instead each connection writes pre-encoded command bytes (a template
// per command with the key digits patched in place) and counts replies with a framer that
// allocates nothing (resp-wire.ts scanReply).

import assert from 'node:assert';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { build, type Histogram } from 'hdr-histogram-js';
import { connectResp } from '../client/resp-conn.js';
import { errorKind, INCOMPLETE, MALFORMED, scanReply } from '../client/resp-wire.js';
import { keyPicker, ZIPFIAN_KEYSPACE_MAX, type Distribution } from './zipfian.js';

export const KEY_PREFIX = 'key:';
/** Key suffix width: keys look like redis-benchmark's `key:000000012345`. */
export const KEY_DIGITS = 12;
export const KEYSPACE_MAX = 10 ** KEY_DIGITS;
export const CONNECTIONS_MAX = 10_000;
export const PIPELINE_MAX = 10_000;
export const VALUE_BYTES_MAX = 64 * 1024 * 1024;
/** --rate bound: far above what one client process can issue. */
export const RATE_PER_SEC_MAX = 10_000_000;
/** Histogram range: 1 µs .. 1 hour; the histogram auto-resizes beyond, so nothing is clipped. */
const LATENCY_US_HIGHEST = 3_600_000_000;

/** The etcd3 client and its policy library as the repository pins them (package.json devDependencies). */
export const ETCD3_VERSION = '1.1.2';
export const COCKATIEL_VERSION = '3.2.1';

/** Error kinds for failures that are not error replies. */
export const KIND_CONNECTION_LOST = 'CONNECTION_LOST';
export const KIND_PROTOCOL = 'PROTOCOL_ERROR';
export const KIND_TIMEOUT = 'TIMEOUT';
/**
 * A connection with requests in flight and no reply for this long is given up (its requests
 * count as TIMEOUT). Without it, `WAIT 1 0` against a primary with no replica blocks forever.
 */
export const STALL_TIMEOUT_MS_DEFAULT = 30_000;
/** How often the stall watchdog looks. */
const STALL_CHECK_MS = 250;

export type Consistency = 'eventual' | 'session' | 'quorum';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface BenchOptions {
  readonly host: string;
  readonly port: number;
  /**
   * Where the connections go, round-robin (connection i to targets[i % n]); default host:port.
   * kv-bench --seeds fills it with every node for reads that any node may serve.
   */
  readonly targets?: readonly Endpoint[] | undefined;
  /** Drive etcd's HTTP/JSON gateway at these base URLs instead of a RESP server (etcd-driver.ts). */
  readonly etcd?: readonly string[] | undefined;
  /**
   * Drive etcd over gRPC (the etcd3 client, etcd-grpc-driver.ts) at these host:port endpoints:
   * one HTTP/2 channel per endpoint, `connections` requests in flight over them together.
   */
  readonly etcdGrpc?: readonly string[] | undefined;
  /** How keys are picked (default uniform); ignored with sequentialKeys. */
  readonly distribution?: Distribution | undefined;
  /** Request i uses key i mod keyspace instead of a random key: a preload writes every key once. */
  readonly sequentialKeys?: boolean | undefined;
  readonly password?: string | undefined;
  readonly connections: number;
  /** Total requests; ignored when durationSec is set. */
  readonly requests: number;
  readonly durationSec?: number | undefined;
  readonly valueBytes: number;
  readonly pipeline: number;
  /** Relative weights; {get: 0, set: 1} is SET only. */
  readonly ratio: { readonly get: number; readonly set: number };
  readonly keyspace: number;
  readonly consistency?: Consistency | undefined;
  /** Send `WAIT n 0` after each SET; the SET and its WAIT form one request. */
  readonly redisWait?: number | undefined;
  readonly seed: number;
  /** Give up on a connection that has requests in flight and no reply for this long. */
  readonly stallTimeoutMs?: number | undefined;
  /**
   * Open-loop: issue at most this many requests per second in total, each connection on its own
   * fixed schedule. A request the server's slowness delayed counts from its scheduled time, so a
   * stall shows in the percentiles instead of silently lowering the rate (coordinated omission).
   */
  readonly ratePerSec?: number | undefined;
  /** Stop issuing once aborted: a load that lasts exactly as long as something else. */
  readonly signal?: AbortSignal | undefined;
  /** Called from the event loop as requests complete; cheap. */
  readonly onProgress?: ((done: number, total: number | undefined) => void) | undefined;
}

export interface LatencySummaryMs {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export interface BenchResult {
  readonly requestsOk: number;
  readonly errors: Readonly<Record<string, number>>;
  readonly errorsTotal: number;
  readonly elapsedSec: number;
  /** Successful requests per second. */
  readonly throughput: number;
  /** Latency of successful requests, from the first byte written to the last reply byte read. */
  readonly latencyMs: LatencySummaryMs;
  readonly gets: number;
  readonly sets: number;
}

export type BenchOutcome = { readonly ok: true; readonly result: BenchResult } | { readonly ok: false; readonly error: string };

/** mulberry32: tiny, seeded, good enough to pick keys and operations reproducibly. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function validateOptions(o: BenchOptions): string | undefined {
  const intIn = (v: number, lo: number, hi: number): boolean => Number.isInteger(v) && v >= lo && v <= hi;
  if (!intIn(o.connections, 1, CONNECTIONS_MAX)) return `connections must be 1..${CONNECTIONS_MAX}`;
  if (!intIn(o.pipeline, 1, PIPELINE_MAX)) return `pipeline must be 1..${PIPELINE_MAX}`;
  if (!intIn(o.valueBytes, 0, VALUE_BYTES_MAX)) return `value size must be 0..${VALUE_BYTES_MAX}`;
  if (!intIn(o.keyspace, 1, KEYSPACE_MAX)) return `keyspace must be 1..${KEYSPACE_MAX}`;
  if (o.durationSec === undefined && !intIn(o.requests, 1, Number.MAX_SAFE_INTEGER)) return 'requests must be >= 1';
  if (o.durationSec !== undefined && !(o.durationSec > 0)) return 'duration must be > 0 seconds';
  if (!(o.ratio.get >= 0 && o.ratio.set >= 0 && o.ratio.get + o.ratio.set > 0)) return 'ratio needs a positive weight';
  if (o.redisWait !== undefined && !intIn(o.redisWait, 0, 1000)) return 'redis-wait must be 0..1000';
  if (o.ratePerSec !== undefined && !(o.ratePerSec > 0 && o.ratePerSec <= RATE_PER_SEC_MAX)) return `rate must be in (0, ${RATE_PER_SEC_MAX}] requests/s`;
  if (o.targets !== undefined && o.targets.length === 0) return 'targets must not be empty';
  if (o.distribution === 'zipfian' && o.keyspace > ZIPFIAN_KEYSPACE_MAX) return `zipfian keyspace must be 1..${ZIPFIAN_KEYSPACE_MAX}`;
  if (o.etcd !== undefined && o.etcdGrpc !== undefined) return 'etcd: the JSON gateway and gRPC exclude each other';
  if (o.etcdGrpc !== undefined) {
    if (o.etcdGrpc.length === 0) return 'etcd gRPC needs at least one endpoint';
    // Each request is one awaited unary call: the channel multiplexes, a caller does not pipeline.
    if (o.pipeline !== 1) return 'etcd gRPC: pipeline must be 1 (-c calls in flight share the HTTP/2 channel)';
    if (o.consistency !== undefined || o.redisWait !== undefined || o.password !== undefined) return 'etcd: --consistency, --redis-wait and -a apply to RESP servers only';
  }
  if (o.etcd !== undefined) {
    if (o.etcd.length === 0) return 'etcd needs at least one endpoint';
    // HTTP/1.1 has no pipelining in node:http: one request per socket at a time.
    if (o.pipeline !== 1) return 'etcd: pipeline must be 1 (HTTP/1.1, one request in flight per connection)';
    if (o.consistency !== undefined || o.redisWait !== undefined || o.password !== undefined) return 'etcd: --consistency, --redis-wait and -a apply to RESP servers only';
    if (o.ratePerSec !== undefined || o.signal !== undefined) return 'etcd: --rate applies to RESP servers only';
  }
  return undefined;
}

/** Pre-encoded command templates; the key digits are patched in place per request. */
export interface Templates {
  readonly set: Buffer;
  readonly get: Buffer;
  readonly setKeyAt: number;
  readonly getKeyAt: number;
  readonly wait: Buffer | undefined;
  /** The value every SET writes (seeded); the etcd driver sends it base64-encoded. */
  readonly value: Buffer;
}

export function templates(o: BenchOptions, rand: () => number): Templates {
  const key = KEY_PREFIX + '0'.repeat(KEY_DIGITS);
  const value = Buffer.alloc(o.valueBytes);
  // Printable seeded bytes: compressible-neither-trivially-nor-at-all, and readable in a dump.
  for (let i = 0; i < value.length; i++) value[i] = 97 + Math.floor(rand() * 26);
  const head = (n: number, name: string): string => `*${n}\r\n$${name.length}\r\n${name}\r\n$${key.length}\r\n`;
  const setHead = head(3, 'SET');
  const set = Buffer.concat([
    Buffer.from(setHead + key + `\r\n$${value.length}\r\n`, 'latin1'),
    value,
    Buffer.from('\r\n', 'latin1'),
  ]);
  const getHead = head(2, 'GET');
  const get = Buffer.from(getHead + key + '\r\n', 'latin1');
  const wait = o.redisWait === undefined ? undefined : Buffer.from(`*3\r\n$4\r\nWAIT\r\n$${String(o.redisWait).length}\r\n${o.redisWait}\r\n$1\r\n0\r\n`, 'latin1');
  return {
    set,
    get,
    setKeyAt: Buffer.byteLength(setHead) + KEY_PREFIX.length,
    getKeyAt: Buffer.byteLength(getHead) + KEY_PREFIX.length,
    wait,
    value,
  };
}

function writeDigits(buf: Buffer, at: number, n: number): void {
  for (let i = KEY_DIGITS - 1; i >= 0; i--) {
    buf[at + i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
}

/** Shared state of one run: the request budget, the tallies and the histogram. */
export class Run {
  issued = 0;
  done = 0;
  ok = 0;
  gets = 0;
  sets = 0;
  readonly errors = new Map<string, number>();
  readonly hist: Histogram = build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: LATENCY_US_HIGHEST,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  });
  /** performance.now() after which --duration stops issuing; set when the clock starts. */
  private deadline = Infinity;
  /** performance.now() when the clock started: --rate schedules count from it. */
  startedMs = 0;
  /** --rate: milliseconds between one connection's scheduled requests (0: closed loop). */
  readonly intervalMs: number;
  readonly total: number | undefined;
  private readonly getWeight: number;
  private readonly pickKey: () => number;

  constructor(
    readonly o: BenchOptions,
    readonly t: Templates,
    readonly rand: () => number,
  ) {
    this.total = o.durationSec === undefined ? o.requests : undefined;
    this.getWeight = o.ratio.get / (o.ratio.get + o.ratio.set);
    this.pickKey = keyPicker(o.distribution ?? 'uniform', o.keyspace, rand);
    this.intervalMs = o.ratePerSec === undefined ? 0 : (o.connections * 1000) / o.ratePerSec;
  }

  /** Start the clock: connections are open, the first request is about to be written. */
  begin(now: number): void {
    this.startedMs = now;
    if (this.o.durationSec !== undefined) this.deadline = now + this.o.durationSec * 1000;
  }

  /** May another request start? Budget by count (-n) or by time (--duration). */
  mayIssue(): boolean {
    if (this.o.signal?.aborted === true) return false;
    return this.total !== undefined ? this.issued < this.total : performance.now() < this.deadline;
  }

  nextIsGet(): boolean {
    return this.getWeight > 0 && (this.getWeight >= 1 || this.rand() < this.getWeight);
  }

  /** Call once per issued request, after `issued++`. */
  nextKey(): number {
    if (this.o.sequentialKeys === true) return (this.issued - 1) % this.o.keyspace;
    return this.pickKey();
  }

  /** A successful request that took `ms` from first byte written to last byte read. */
  recordOk(ms: number): void {
    this.ok++;
    // Microseconds, at least 1 (the histogram's lowest discernible value).
    this.hist.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  /** Request finished (either way): progress accounting. */
  finishedOne(): void {
    this.done++;
    this.o.onProgress?.(this.done, this.total);
  }

  countError(kind: string): void {
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
  }
}

/**
 * One connection's hot loop. In-flight requests are a FIFO of (start time, replies owed, first
 * error kind); a request with WAIT owes two replies. Writes are batched: one socket write per
 * refill, carrying up to `pipeline - inflight` commands.
 */
class BenchConnection {
  private readonly startMs: Float64Array;
  private readonly owed: Uint8Array;
  private readonly errKind: (string | undefined)[];
  private head = 0;
  private inflight = 0;
  private pending: Buffer = Buffer.alloc(0);
  private finished = false;
  /** --rate: requests this connection has issued, and the timer that wakes it for the next. */
  private sent = 0;
  private wakeTimer: NodeJS.Timeout | undefined;
  /** performance.now() of the last write or reply: the stall watchdog's reference. */
  private lastActivityMs = performance.now();
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;

  constructor(
    private readonly run: Run,
    private readonly sock: Socket,
    /** Spreads the connections' --rate schedules evenly over one interval. */
    private readonly phase: number,
  ) {
    const p = run.o.pipeline;
    this.startMs = new Float64Array(p);
    this.owed = new Uint8Array(p);
    this.errKind = new Array<string | undefined>(p).fill(undefined);
    this.closed = new Promise((r) => (this.resolveClosed = r));
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('error', () => this.lose(KIND_CONNECTION_LOST));
    sock.on('close', () => this.lose(KIND_CONNECTION_LOST));
  }

  start(): void {
    this.refill();
  }

  /**
   * `fromTimer`: called when the --rate schedule came due; the timer's own lateness is the
   * client's, so those requests count from now, not from their scheduled time.
   */
  private refill(fromTimer = false): void {
    const { run } = this;
    const p = run.o.pipeline;
    const cmds: Buffer[] = [];
    const now = performance.now();
    while (this.inflight < p && run.mayIssue()) {
      let startMs = now;
      if (run.intervalMs > 0) {
        const dueMs = run.startedMs + (this.sent + this.phase) * run.intervalMs;
        if (dueMs > now) {
          this.wakeAt(dueMs - now);
          break;
        }
        if (!fromTimer) startMs = dueMs;
        this.sent++;
      }
      run.issued++;
      const isGet = run.nextIsGet();
      const tpl = isGet ? run.t.get : run.t.set;
      // A copy per command: the socket may hold the buffer after write() returns.
      const cmd = Buffer.allocUnsafe(tpl.length);
      tpl.copy(cmd);
      writeDigits(cmd, isGet ? run.t.getKeyAt : run.t.setKeyAt, run.nextKey());
      cmds.push(cmd);
      let owed = 1;
      if (!isGet && run.t.wait !== undefined) {
        cmds.push(run.t.wait);
        owed = 2;
      }
      if (isGet) run.gets++;
      else run.sets++;
      const slot = (this.head + this.inflight) % p;
      this.startMs[slot] = startMs;
      this.owed[slot] = owed;
      this.errKind[slot] = undefined;
      this.inflight++;
    }
    if (cmds.length > 0) this.lastActivityMs = now;
    if (cmds.length > 0) this.sock.write(cmds.length === 1 ? (cmds[0] as Buffer) : Buffer.concat(cmds));
    else if (this.inflight === 0 && this.wakeTimer === undefined) this.finish();
  }

  private wakeAt(inMs: number): void {
    if (this.wakeTimer !== undefined) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      if (!this.finished) this.refill(true);
    }, inMs);
  }

  /** Called by the watchdog: give up if requests are in flight and nothing moved for too long. */
  checkStall(now: number, timeoutMs: number): void {
    if (!this.finished && this.inflight > 0 && now - this.lastActivityMs > timeoutMs) this.lose(KIND_TIMEOUT);
  }

  private onData(d: Buffer): void {
    this.lastActivityMs = performance.now();
    const buf = this.pending.length === 0 ? d : Buffer.concat([this.pending, d]);
    let pos = 0;
    const p = this.run.o.pipeline;
    for (;;) {
      const end = scanReply(buf, pos);
      if (end === INCOMPLETE) break;
      if (end === MALFORMED || this.inflight === 0) {
        // Garbage, or a reply we never asked for: the stream can no longer be trusted.
        this.lose(KIND_PROTOCOL);
        return;
      }
      const slot = this.head;
      const t = buf[pos];
      if ((t === 45 || t === 33) && this.errKind[slot] === undefined) this.errKind[slot] = errorKind(buf, pos);
      pos = end;
      const left = (this.owed[slot] as number) - 1;
      this.owed[slot] = left;
      if (left > 0) continue;
      this.complete(slot, performance.now());
      this.head = (this.head + 1) % p;
      this.inflight--;
    }
    this.pending = pos === buf.length ? Buffer.alloc(0) : buf.subarray(pos);
    if (!this.finished) this.refill();
  }

  private complete(slot: number, now: number): void {
    const { run } = this;
    const kind = this.errKind[slot];
    if (kind === undefined) run.recordOk(now - (this.startMs[slot] as number));
    else run.countError(kind);
    run.finishedOne();
  }

  /** The connection broke: every request still in flight failed with `kind`. */
  lose(kind: string): void {
    if (this.finished) return;
    const p = this.run.o.pipeline;
    for (let i = 0; i < this.inflight; i++) {
      this.run.countError(kind);
      this.run.done++;
      this.head = (this.head + 1) % p;
    }
    this.inflight = 0;
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    this.sock.destroy();
    this.resolveClosed();
  }
}

/** Open one connection and run its handshake (AUTH, CONSISTENCY); errors come back as text. */
async function openBenchSocket(o: BenchOptions, to: Endpoint): Promise<{ ok: true; sock: Socket } | { ok: false; error: string }> {
  const c = await connectResp(to.host, to.port);
  if (!c.ok) return { ok: false, error: `Could not connect to ${to.host}:${to.port}: ${c.error}` };
  const steps: string[][] = [];
  if (o.password !== undefined) steps.push(['AUTH', o.password]);
  if (o.consistency !== undefined) steps.push(['CONSISTENCY', o.consistency.toUpperCase()]);
  for (const args of steps) {
    const r = await c.conn.call(args);
    const failure = !r.ok ? r.error : r.reply.type === 'error' ? r.reply.message : undefined;
    if (failure !== undefined) {
      c.conn.close();
      return { ok: false, error: `${args[0]} ${args[0] === 'AUTH' ? '' : args.slice(1).join(' ') + ' '}failed: ${failure}` };
    }
  }
  return { ok: true, sock: c.conn.detach() };
}

/** Connection i's endpoint: the targets round-robin, or host:port. */
export function targetOf(o: BenchOptions, i: number): Endpoint {
  const ts = o.targets;
  return ts === undefined ? { host: o.host, port: o.port } : (ts[i % ts.length] as Endpoint);
}

export async function runBench(o: BenchOptions): Promise<BenchOutcome> {
  const invalid = validateOptions(o);
  if (invalid !== undefined) return { ok: false, error: invalid };
  if (o.etcd !== undefined) {
    // Imported lazily: RESP-only users never load node:http.
    const { runEtcdBench } = await import('./etcd-driver.js');
    return runEtcdBench(o, o.etcd);
  }
  if (o.etcdGrpc !== undefined) {
    // Imported lazily: the etcd3 client (gRPC, protobuf) loads only for --etcd-grpc. It is a
    // devDependency (the repository's suite needs it; a store's users need not carry gRPC), so an
    // installed package may lack it: say what to install instead of failing with a stack.
    let driver: typeof import('./etcd-grpc-driver.js');
    try {
      driver = await import('./etcd-grpc-driver.js');
    } catch (e) {
      if ((e as NodeJS.ErrnoException | undefined)?.code !== 'ERR_MODULE_NOT_FOUND') throw e;
      return { ok: false, error: `--etcd-grpc needs the etcd3 client: npm install etcd3@${ETCD3_VERSION} cockatiel@${COCKATIEL_VERSION} (${e instanceof Error ? e.message : String(e)})` };
    }
    return driver.runEtcdGrpcBench(o, o.etcdGrpc);
  }
  const rand = prng(o.seed);
  const run = new Run(o, templates(o, rand), rand);
  const opened = await Promise.all(Array.from({ length: o.connections }, (_, i) => openBenchSocket(o, targetOf(o, i))));
  const failed = opened.find((x) => !x.ok);
  if (failed !== undefined && !failed.ok) {
    for (const x of opened) if (x.ok) x.sock.destroy();
    return { ok: false, error: failed.error };
  }
  const conns = opened.map((x, i) => {
    assert(x.ok);
    return new BenchConnection(run, x.sock, opened.length > 0 ? i / opened.length : 0);
  });
  const t0 = performance.now();
  run.begin(t0);
  for (const c of conns) c.start();
  const stallMs = o.stallTimeoutMs ?? STALL_TIMEOUT_MS_DEFAULT;
  const watchdog = setInterval(() => {
    const now = performance.now();
    for (const c of conns) c.checkStall(now, stallMs);
  }, Math.min(STALL_CHECK_MS, stallMs));
  await Promise.all(conns.map((c) => c.closed));
  clearInterval(watchdog);
  return { ok: true, result: summarize(run, (performance.now() - t0) / 1000) };
}

/** The final tallies and latency percentiles; checks that every request was accounted for once. */
export function summarize(run: Run, elapsedSec: number): BenchResult {
  const errorsTotal = [...run.errors.values()].reduce((a, b) => a + b, 0);
  // Every issued request ended exactly once, as a success or as a counted error.
  assert.equal(run.ok + errorsTotal, run.issued, 'requests lost track of');
  assert.equal(run.done, run.issued);
  const h = run.hist;
  const ms = (us: number): number => us / 1000;
  // A percentile is its bucket's highest equivalent value (3 significant digits), which can lie
  // above the exact largest sample: never report a percentile past the max.
  const at = (p: number): number => ms(Math.min(h.getValueAtPercentile(p), h.maxValue));
  const result: BenchResult = {
    requestsOk: run.ok,
    errors: Object.fromEntries([...run.errors.entries()].sort((a, b) => b[1] - a[1])),
    errorsTotal,
    elapsedSec,
    throughput: elapsedSec > 0 ? run.ok / elapsedSec : 0,
    latencyMs: {
      p50: at(50),
      p90: at(90),
      p99: at(99),
      p999: at(99.9),
      max: ms(h.maxValue),
      mean: ms(h.mean),
    },
    gets: run.gets,
    sets: run.sets,
  };
  assert.equal(h.totalCount, run.ok, 'one latency sample per successful request');
  h.destroy();
  return result;
}
