// Running redis-benchmark and reading its --csv output. Owns the argument list and the CSV
// parsing; never interprets results (the suite compares them) and never retries a failed run.

import { execFile } from 'node:child_process';

/** A redis-benchmark run should never take this long; beyond it something is stuck. */
export const REDIS_BENCHMARK_TIMEOUT_MS = 30 * 60 * 1000;

export interface RedisBenchmarkParams {
  readonly port: number;
  readonly tests: readonly string[];
  readonly requests: number;
  readonly clients: number;
  readonly valueBytes: number;
  readonly keyspace: number;
  readonly pipeline: number;
  /**
   * One custom command (redis-benchmark's trailing `cmd args...` form) run instead of `tests`;
   * its CSV row is named by the command line.
   */
  readonly command?: readonly string[];
}

export interface CsvRow {
  /** Test name as redis-benchmark prints it, e.g. "SET". */
  readonly test: string;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number | undefined;
  readonly maxMs: number | undefined;
}

export function redisBenchmarkArgs(p: RedisBenchmarkParams): string[] {
  return [
    '-h', '127.0.0.1', '-p', String(p.port),
    ...(p.command === undefined ? ['-t', p.tests.join(',')] : []),
    '-n', String(p.requests),
    '-c', String(p.clients),
    '-d', String(p.valueBytes),
    '-r', String(p.keyspace),
    '-P', String(p.pipeline),
    '--csv',
    ...(p.command ?? []),
  ];
}

/** Split one CSV line with double-quoted fields ("" is an escaped quote). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= line.length) break;
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            v += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += line[i];
        i++;
      }
      out.push(v);
      i++; // the comma
    } else {
      const j = line.indexOf(',', i);
      const end = j < 0 ? line.length : j;
      out.push(line.slice(i, end));
      i = end + 1;
    }
  }
  return out;
}

export type ParseCsvResult = { readonly ok: true; readonly rows: CsvRow[] } | { readonly ok: false; readonly error: string };

/** Parse redis-benchmark --csv output (header "test","rps",...,"p50_latency_ms",...). */
export function parseRedisBenchmarkCsv(text: string): ParseCsvResult {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const headerAt = lines.findIndex((l) => l.startsWith('"test"'));
  if (headerAt < 0) return { ok: false, error: `no CSV header in redis-benchmark output: ${text.slice(0, 200)}` };
  const header = csvFields(lines[headerAt] as string);
  const col = (name: string): number => header.indexOf(name);
  const [iTest, iRps, iP50, iP99, iMax] = [col('test'), col('rps'), col('p50_latency_ms'), col('p99_latency_ms'), col('max_latency_ms')];
  if (iRps < 0 || iP50 < 0) return { ok: false, error: `CSV header lacks rps or p50_latency_ms: ${lines[headerAt]}` };
  const rows: CsvRow[] = [];
  for (const line of lines.slice(headerAt + 1)) {
    const f = csvFields(line);
    // The LRANGE tests first fill their list: redis-benchmark reports that step as a row of its own.
    if ((f[iTest] ?? '').includes('(needed to benchmark')) continue;
    const rps = Number(f[iRps]);
    const p50Ms = Number(f[iP50]);
    if (!Number.isFinite(rps) || !Number.isFinite(p50Ms)) return { ok: false, error: `bad CSV row: ${line}` };
    const p99 = iP99 >= 0 ? Number(f[iP99]) : NaN;
    const max = iMax >= 0 ? Number(f[iMax]) : NaN;
    rows.push({ test: f[iTest] ?? '', rps, p50Ms, p99Ms: Number.isFinite(p99) ? p99 : undefined, maxMs: Number.isFinite(max) ? max : undefined });
  }
  return { ok: true, rows };
}

export type RunResult = { readonly ok: true; readonly rows: CsvRow[] } | { readonly ok: false; readonly error: string };

export function runRedisBenchmark(p: RedisBenchmarkParams): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      'redis-benchmark',
      redisBenchmarkArgs(p),
      { timeout: REDIS_BENCHMARK_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err !== null) {
          resolve({ ok: false, error: `redis-benchmark failed: ${err.message} ${String(stderr).trim()}` });
          return;
        }
        const parsed = parseRedisBenchmarkCsv(String(stdout));
        const expected = p.command === undefined ? p.tests.length : 1;
        if (parsed.ok && parsed.rows.length !== expected) {
          resolve({ ok: false, error: `redis-benchmark printed ${parsed.rows.length} rows for ${expected} tests: ${String(stdout)} ${String(stderr)}` });
          return;
        }
        resolve(parsed);
      },
    );
  });
}
