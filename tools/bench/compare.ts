// Side-by-side comparison of redis, kv-ts and etcd measurements: medians over rounds, the
// ratios (kv-ts ÷ redis, kv-ts ÷ etcd), and the plain-text and Markdown tables.
// Pure; never runs or times anything.

export type System = 'redis' | 'kv' | 'etcd';
export const SYSTEMS: readonly System[] = ['redis', 'kv', 'etcd'];
export const SYSTEM_NAMES: Readonly<Record<System, string>> = { redis: 'redis', kv: 'kv-ts', etcd: 'etcd' };

export interface Sample {
  readonly rps: number;
  readonly p50Ms: number;
  /** Absent when the tool does not report it (redis-benchmark has no p90 or p99.9). */
  readonly p90Ms?: number | undefined;
  readonly p99Ms?: number | undefined;
  readonly p999Ms?: number | undefined;
  /** The slowest request of the run (redis-benchmark and kv-bench both report it). */
  readonly maxMs?: number | undefined;
  /** The round it was measured in (0-based); absent outside the rounds (a cold pass). */
  readonly round?: number | undefined;
}

export interface Comparison {
  readonly workload: string;
  readonly redis: readonly Sample[];
  readonly kv: readonly Sample[];
  /** Only workloads with an etcd side (durable writes, linearizable reads) have samples here. */
  readonly etcd?: readonly Sample[] | undefined;
  /** Why a side has no samples (its runs failed or it was skipped), shown instead of numbers. */
  readonly redisError?: string | undefined;
  readonly kvError?: string | undefined;
  readonly etcdError?: string | undefined;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Medians of one side's samples; NaN where nothing was measured. */
export interface SideSummary {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  /** Median over rounds of each round's slowest request. */
  readonly maxMs: number;
}

export function summarizeSide(samples: readonly Sample[] | undefined): SideSummary {
  const s = samples ?? [];
  const m = (pick: (x: Sample) => number | undefined): number => median(s.map(pick).filter((v): v is number => v !== undefined));
  return { rps: m((x) => x.rps), p50Ms: m((x) => x.p50Ms), p90Ms: m((x) => x.p90Ms), p99Ms: m((x) => x.p99Ms), p999Ms: m((x) => x.p999Ms), maxMs: m((x) => x.maxMs) };
}

export interface Row {
  readonly workload: string;
  readonly redisRps: number;
  readonly kvRps: number;
  /** kv-ts / redis throughput; NaN when either side is missing. */
  readonly ratio: number;
  /**
   * The lowest and highest kv-ts / redis throughput of one round (within a round the two run back
   * to back), so a reader sees the spread behind the median; NaN unless at least 2 rounds have a
   * sample from both sides.
   */
  readonly ratioMin: number;
  readonly ratioMax: number;
  readonly etcdRps: number;
  /** kv-ts / etcd throughput; NaN when either side is missing. */
  readonly ratioEtcd: number;
  readonly redisP50Ms: number;
  readonly kvP50Ms: number;
  readonly etcdP50Ms: number;
  readonly redisP99Ms: number;
  readonly kvP99Ms: number;
  readonly etcdP99Ms: number;
  readonly redisP999Ms: number;
  readonly kvP999Ms: number;
  readonly etcdP999Ms: number;
  readonly redisMaxMs: number;
  readonly kvMaxMs: number;
  readonly etcdMaxMs: number;
}

export function toRow(c: Comparison): Row {
  const r = summarizeSide(c.redis);
  const k = summarizeSide(c.kv);
  const e = summarizeSide(c.etcd);
  const perRound = roundRatios(c.kv, c.redis);
  return {
    workload: c.workload,
    redisRps: r.rps,
    kvRps: k.rps,
    ratio: k.rps / r.rps,
    ratioMin: perRound.length > 0 ? Math.min(...perRound) : NaN,
    ratioMax: perRound.length > 0 ? Math.max(...perRound) : NaN,
    etcdRps: e.rps,
    ratioEtcd: k.rps / e.rps,
    redisP50Ms: r.p50Ms,
    kvP50Ms: k.p50Ms,
    etcdP50Ms: e.p50Ms,
    redisP99Ms: r.p99Ms,
    kvP99Ms: k.p99Ms,
    etcdP99Ms: e.p99Ms,
    redisP999Ms: r.p999Ms,
    kvP999Ms: k.p999Ms,
    etcdP999Ms: e.p999Ms,
    redisMaxMs: r.maxMs,
    kvMaxMs: k.maxMs,
    etcdMaxMs: e.maxMs,
  };
}

/**
 * Each round's kv-ts / redis throughput, paired by the samples' round (a round where one side
 * failed has no pair); empty unless at least 2 rounds pair up.
 */
function roundRatios(kv: readonly Sample[], redis: readonly Sample[]): number[] {
  const redisByRound = new Map(redis.filter((r) => r.round !== undefined).map((r) => [r.round, r.rps]));
  const out: number[] = [];
  for (const k of kv) {
    const r = k.round === undefined ? undefined : redisByRound.get(k.round);
    if (r !== undefined) out.push(k.rps / r);
  }
  return out.length >= 2 ? out : [];
}

export const TABLE_HEADER = ['workload', 'redis req/s', 'kv-ts req/s', 'kv-ts÷redis', 'per round', 'etcd req/s', 'kv-ts÷etcd', 'p50 ms redis/kv-ts/etcd', 'p99 ms redis/kv-ts/etcd', 'p99.9 ms redis/kv-ts/etcd', 'max ms redis/kv-ts/etcd'] as const;

function cells(r: Row): string[] {
  const n = (x: number, d: number): string => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const ratio = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}x` : '-');
  return [
    r.workload,
    n(r.redisRps, 0),
    n(r.kvRps, 0),
    ratio(r.ratio),
    Number.isFinite(r.ratioMin) ? `${r.ratioMin.toFixed(2)}–${r.ratioMax.toFixed(2)}` : '-',
    n(r.etcdRps, 0),
    ratio(r.ratioEtcd),
    `${n(r.redisP50Ms, 3)} / ${n(r.kvP50Ms, 3)} / ${n(r.etcdP50Ms, 3)}`,
    `${n(r.redisP99Ms, 3)} / ${n(r.kvP99Ms, 3)} / ${n(r.etcdP99Ms, 3)}`,
    `${n(r.redisP999Ms, 3)} / ${n(r.kvP999Ms, 3)} / ${n(r.etcdP999Ms, 3)}`,
    `${n(r.redisMaxMs, 1)} / ${n(r.kvMaxMs, 1)} / ${n(r.etcdMaxMs, 1)}`,
  ];
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
