// Rendering of a kv-bench result: the human table and the --json document, and the stderr
// progress bar line. Pure string building; never measures, never writes to a stream.

import type { BenchOptions, BenchResult } from './run.js';

/** Width of the progress bar in characters. */
export const PROGRESS_BAR_CHARS = 30;

const fmt = (x: number, digits = 3): string => x.toFixed(digits);

export function workloadLabel(o: BenchOptions): string {
  const mix = o.ratio.get === 0 ? 'SET' : o.ratio.set === 0 ? 'GET' : `GET:SET ${o.ratio.get}:${o.ratio.set}`;
  const wait = o.redisWait !== undefined ? ` +WAIT ${o.redisWait} 0` : '';
  const cons = o.consistency !== undefined ? ` consistency=${o.consistency}` : '';
  const dist = o.distribution === 'zipfian' ? ' zipfian' : '';
  return `${mix}${wait}${cons} -c ${o.connections} -P ${o.pipeline} -d ${o.valueBytes} keyspace ${o.keyspace}${dist}`;
}

/** Where the requests went: etcd URLs, the --seeds routing, or host:port. */
export function targetLabel(o: BenchOptions): string {
  if (o.etcd !== undefined) return `etcd ${o.etcd.join(',')}`;
  if (o.etcdGrpc !== undefined) return `etcd gRPC ${o.etcdGrpc.join(',')}`;
  if (o.targets !== undefined) return [...new Set(o.targets.map((t) => `${t.host}:${t.port}`))].join(',');
  return `${o.host}:${o.port}`;
}

export function formatTable(o: BenchOptions, r: BenchResult): string {
  const rows: [string, string][] = [
    ['target', targetLabel(o)],
    ['workload', workloadLabel(o)],
    ['requests ok', String(r.requestsOk)],
    ['errors', r.errorsTotal === 0 ? '0' : `${r.errorsTotal} (${Object.entries(r.errors).map(([k, v]) => `${k}: ${v}`).join(', ')})`],
    ['elapsed', `${fmt(r.elapsedSec)} s`],
    ['throughput', `${r.throughput.toFixed(0)} ok req/s`],
    ['latency p50', `${fmt(r.latencyMs.p50)} ms`],
    ['latency p90', `${fmt(r.latencyMs.p90)} ms`],
    ['latency p99', `${fmt(r.latencyMs.p99)} ms`],
    ['latency p99.9', `${fmt(r.latencyMs.p999)} ms`],
    ['latency max', `${fmt(r.latencyMs.max)} ms`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n';
}

export function formatJson(o: BenchOptions, r: BenchResult): string {
  const { onProgress: _omit, password: _secret, ...options } = o;
  return JSON.stringify({ options, target: targetLabel(o), result: r }, null, 2) + '\n';
}

/** One progress line (carriage-return terminated so it redraws in place). */
export function progressLine(done: number, total: number | undefined, elapsedSec: number, durationSec: number | undefined): string {
  const frac = total !== undefined ? done / total : durationSec !== undefined ? Math.min(1, elapsedSec / durationSec) : 0;
  const filled = Math.round(frac * PROGRESS_BAR_CHARS);
  const bar = '#'.repeat(filled) + '.'.repeat(PROGRESS_BAR_CHARS - filled);
  const rate = elapsedSec > 0 ? (done / elapsedSec).toFixed(0) : '0';
  return `\r[${bar}] ${(frac * 100).toFixed(0).padStart(3)}%  ${done} req  ${rate} req/s`;
}
