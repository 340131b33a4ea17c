// Slow readers against a running server: N clients each pipeline GETs of one large value and
// never read, reconnecting whenever the server closes them, while one probe client sends
// PING / GET one at a time and records each round trip. Owns those connections and the latency
// statistics; it never starts or configures a server (the caller sets the output limit).
//
//   node dist/tools/bench/slow-readers.js --port P [--readers N] [--gets N] [--value-bytes N] [--seconds S]
//
// It sets the key `slowreader:big` (and `slowreader:small` for the probe) on that server.

import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connectResp, type RespConnection } from '../../src/client/resp-conn.js';
import { encodeCommand } from '../../src/client/resp-wire.js';

export const BIG_KEY = 'slowreader:big';
const SMALL_KEY = 'slowreader:small';
/** Probe round trips kept for percentiles (the max is tracked over all of them). */
const PROBE_SAMPLES_MAX = 1_000_000;

export interface SlowReaderOptions {
  readonly port: number;
  readonly host?: string;
  /** Slow readers connected at once. */
  readonly readers: number;
  /** GETs each slow reader pipelines per connection. */
  readonly getsPerReader: number;
  readonly valueBytes: number;
  /** How long the probe runs while the slow readers are fed. */
  readonly durationMs: number;
  /**
   * Go on past durationMs until the server closed this many slow readers, for at most
   * untilClosedMaxMs in all (a loaded machine may need longer to fill a reader's limit).
   */
  readonly untilClosed?: { readonly count: number; readonly maxMs: number };
}

export interface SlowReaderResult {
  readonly probeCalls: number;
  readonly probeMaxMs: number;
  readonly probeP99Ms: number;
  readonly probeP50Ms: number;
  /** Slow-reader connections the server closed while the probe ran. */
  readonly readersClosed: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] as number;
}

export async function mustConnect(host: string, port: number): Promise<RespConnection> {
  const c = await connectResp(host, port);
  if (!c.ok) throw new Error(`cannot connect to ${host}:${port}: ${c.error}`);
  return c.conn;
}

export async function mustCall(c: RespConnection, args: readonly (string | Buffer)[]): Promise<void> {
  const r = await c.call(args);
  if (!r.ok) throw new Error(`${String(args[0])} failed: ${r.error}`);
  if (r.reply.type === 'error') throw new Error(`${String(args[0])} failed: ${r.reply.message}`);
}

/**
 * One slow reader: connect, write the whole pipeline, never read (a socket without a 'data'
 * listener stops reading once its stream buffer is full), and start again when closed.
 */
function runSlowReader(host: string, port: number, pipeline: Buffer, running: () => boolean, onClosed: () => void): { stop(): void } {
  let sock: Socket | null = null;
  const start = (): void => {
    if (!running()) return;
    const s = connect({ host, port });
    sock = s;
    s.on('error', () => undefined);
    s.once('connect', () => s.write(pipeline));
    s.once('close', () => {
      if (!running()) return;
      onClosed();
      start();
    });
  };
  start();
  return { stop: () => sock?.destroy() };
}

export async function measureSlowReaders(o: SlowReaderOptions): Promise<SlowReaderResult> {
  const host = o.host ?? '127.0.0.1';
  const admin = await mustConnect(host, o.port);
  await mustCall(admin, ['SET', BIG_KEY, Buffer.alloc(o.valueBytes, 0x78)]);
  await mustCall(admin, ['SET', SMALL_KEY, 'v']);
  admin.close();
  const probe = await mustConnect(host, o.port);
  const get = encodeCommand(['GET', BIG_KEY]);
  const pipeline = Buffer.concat(Array.from({ length: o.getsPerReader }, () => get));
  let running = true;
  let closed = 0;
  const readers = Array.from({ length: o.readers }, () => runSlowReader(host, o.port, pipeline, () => running, () => closed++));
  const samples: number[] = [];
  let max = 0;
  let calls = 0;
  const startMs = performance.now();
  const end = startMs + o.durationMs;
  const more = (): boolean => o.untilClosed !== undefined && closed < o.untilClosed.count && performance.now() < startMs + o.untilClosed.maxMs;
  try {
    while (performance.now() < end || more()) {
      const t0 = performance.now();
      await mustCall(probe, calls % 2 === 0 ? ['PING'] : ['GET', SMALL_KEY]);
      const dt = performance.now() - t0;
      calls++;
      if (dt > max) max = dt;
      if (samples.length < PROBE_SAMPLES_MAX) samples.push(dt);
    }
  } finally {
    running = false;
    for (const r of readers) r.stop();
    probe.close();
  }
  samples.sort((a, b) => a - b);
  return { probeCalls: calls, probeMaxMs: max, probeP99Ms: percentile(samples, 99), probeP50Ms: percentile(samples, 50), readersClosed: closed };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      readers: { type: 'string', default: '1' },
      gets: { type: 'string', default: '200000' },
      'value-bytes': { type: 'string', default: String(100 * 1024) },
      seconds: { type: 'string', default: '10' },
    },
  });
  if (values.port === undefined) throw new Error('--port is required');
  const r = await measureSlowReaders({
    host: values.host,
    port: Number(values.port),
    readers: Number(values.readers),
    getsPerReader: Number(values.gets),
    valueBytes: Number(values['value-bytes']),
    durationMs: Number(values.seconds) * 1000,
  });
  const f = (x: number): string => x.toFixed(2);
  console.log(`readers=${values.readers} probe_calls=${r.probeCalls} p50_ms=${f(r.probeP50Ms)} p99_ms=${f(r.probeP99Ms)} max_ms=${f(r.probeMaxMs)} readers_closed=${r.readersClosed}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main().catch((e: unknown) => {
    console.error(`slow-readers: ${(e as Error).message}`);
    process.exit(1);
  });
}
