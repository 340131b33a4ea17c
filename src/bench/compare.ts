// Side-by-side comparison of redis and kv-ts measurements: medians over rounds, the ratio,
// and the plain-text and Markdown tables. Pure; never runs or times anything.

export interface Sample {
  readonly rps: number;
  readonly p50Ms: number;
}

export interface Comparison {
  readonly workload: string;
  readonly redis: readonly Sample[];
  readonly kv: readonly Sample[];
  /** Why a side has no samples (its runs failed), shown instead of numbers. */
  readonly redisError?: string | undefined;
  readonly kvError?: string | undefined;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export interface Row {
  readonly workload: string;
  readonly redisRps: number;
  readonly kvRps: number;
  /** kv-ts / redis throughput; NaN when either side is missing. */
  readonly ratio: number;
  readonly redisP50Ms: number;
  readonly kvP50Ms: number;
}

export function toRow(c: Comparison): Row {
  const redisRps = median(c.redis.map((s) => s.rps));
  const kvRps = median(c.kv.map((s) => s.rps));
  return {
    workload: c.workload,
    redisRps,
    kvRps,
    ratio: kvRps / redisRps,
    redisP50Ms: median(c.redis.map((s) => s.p50Ms)),
    kvP50Ms: median(c.kv.map((s) => s.p50Ms)),
  };
}

export const TABLE_HEADER = ['workload', 'redis req/s', 'kv-ts req/s', 'ratio', 'redis p50 ms', 'kv-ts p50 ms'] as const;

function cells(r: Row): string[] {
  const n = (x: number, d: number): string => (Number.isFinite(x) ? x.toFixed(d) : 'failed');
  return [r.workload, n(r.redisRps, 0), n(r.kvRps, 0), Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}x` : '-', n(r.redisP50Ms, 3), n(r.kvP50Ms, 3)];
}

export function plainTable(rows: readonly Row[]): string {
  const all = [[...TABLE_HEADER], ...rows.map(cells)];
  const widths = TABLE_HEADER.map((_, i) => Math.max(...all.map((r) => (r[i] as string).length)));
  const line = (r: readonly string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  return all.map(line).join('\n') + '\n';
}

export function markdownTable(rows: readonly Row[]): string {
  const line = (r: readonly string[]): string => `| ${r.join(' | ')} |`;
  return [line(TABLE_HEADER), line(TABLE_HEADER.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map((r) => line(cells(r)))].join('\n') + '\n';
}
