// What the suite writes: the Markdown section of docs/benchmarks.md (machine, versions,
// commands per row, the one results table, row 5, notes), the chart's input, the row 3 target
// verdict and the row 5 plain-text table. Pure string building; never measures, never writes.

import type { ChartGroup, ChartSeries } from './chart.js';
import { SYSTEM_NAMES, SYSTEMS, summarizeSide, type Comparison, type Row } from './compare.js';
import type { Machine } from './docs.js';
import type { LagRow, StorageRow } from './suite-rows.js';

/** Row 3 target: kv-ts quorum SET throughput at least this multiple of etcd's put throughput. */
export const ROW3_ETCD_THROUGHPUT_TARGET = 2;

/** Rows 1 and 2 target: kv-ts throughput at least this fraction of Redis's on every line. */
export const ROWS12_REDIS_RATIO_TARGET = 0.8;
/** The suite labels the lines of a fresh process's first requests with this (see suite-rows.ts COLD_REQUESTS). */
export const COLD_MARK = ', cold:';

/**
 * The rows 1, 2 and 6 verdict (redis-benchmark lines): every warm line's median ratio against the target, the lowest single
 * round, and the cold lines reported apart (a fresh process before V8 has optimized it; the
 * rows measure servers under their load, and the cold lines are there so nobody has to
 * take the warm-up on trust). Undefined when no row 1, 2 or 6 line has both sides.
 */
export function rows12Verdict(rows: readonly Row[]): string | undefined {
  const lines = rows.filter((r) => /^[126]\./.test(r.workload) && Number.isFinite(r.ratio));
  const warm = lines.filter((r) => !r.workload.includes(COLD_MARK));
  const cold = lines.filter((r) => r.workload.includes(COLD_MARK));
  if (warm.length === 0) return undefined;
  const lowest = (xs: readonly Row[], pick: (r: Row) => number): Row => xs.reduce((a, b) => (pick(b) < pick(a) ? b : a));
  const low = lowest(warm, (r) => r.ratio);
  const below = warm.filter((r) => r.ratio < ROWS12_REDIS_RATIO_TARGET).length;
  const met = below === 0 ? 'met' : `NOT met (${below} of ${warm.length} lines below)`;
  const parts = [
    `Rows 1, 2 and 6 target (kv-ts ≥ ${ROWS12_REDIS_RATIO_TARGET}× Redis on every line): ${met} — lowest median ${low.ratio.toFixed(2)}× (${low.workload}), ` +
      `${warm.filter((r) => r.ratio >= 1).length} of ${warm.length} lines at 1.0× or more.`,
  ];
  const rounds = warm.filter((r) => Number.isFinite(r.ratioMin));
  if (rounds.length > 0) {
    const lr = lowest(rounds, (r) => r.ratioMin);
    parts.push(`Lowest single round: ${lr.ratioMin.toFixed(2)}× (${lr.workload}).`);
  }
  if (cold.length > 0) {
    const lc = lowest(cold, (r) => r.ratio);
    parts.push(`Cold lines (a fresh process's first requests, while V8 is still optimizing it; reported apart, not part of the target): lowest ${lc.ratio.toFixed(2)}× (${lc.workload}).`);
  }
  return parts.join(' ');
}

/** The row 3 verdict against its target, or undefined when kv-ts or etcd is missing. */
export function row3Verdict(row: Row | undefined): string | undefined {
  if (row === undefined || !Number.isFinite(row.ratioEtcd) || !Number.isFinite(row.kvP99Ms) || !Number.isFinite(row.etcdP99Ms)) return undefined;
  const tput = row.ratioEtcd >= ROW3_ETCD_THROUGHPUT_TARGET;
  const p99 = row.kvP99Ms < row.etcdP99Ms;
  const met = tput && p99 ? 'met' : 'NOT met';
  return (
    `Row 3 target (kv-ts quorum SET ≥ ${ROW3_ETCD_THROUGHPUT_TARGET}× etcd put throughput, p99 below etcd's): ${met} — ` +
    `throughput ${row.ratioEtcd.toFixed(2)}× (${tput ? 'ok' : 'short'}), p99 ${row.kvP99Ms.toFixed(2)} ms vs ${row.etcdP99Ms.toFixed(2)} ms (${p99 ? 'ok' : 'higher'}).`
  );
}

/** Chart input: one group per workload, one series per system that has samples. */
export function chartGroups(results: readonly Comparison[]): ChartGroup[] {
  return results.map((c) => {
    const series: ChartSeries[] = [];
    for (const sys of SYSTEMS) {
      const samples = c[sys];
      if (samples === undefined || samples.length === 0) continue;
      const s = summarizeSide(samples);
      const ms: Record<string, number> = {};
      if (Number.isFinite(s.p50Ms)) ms['p50'] = s.p50Ms;
      if (Number.isFinite(s.p90Ms)) ms['p90'] = s.p90Ms;
      if (Number.isFinite(s.p99Ms)) ms['p99'] = s.p99Ms;
      if (Number.isFinite(s.p999Ms)) ms['p99.9'] = s.p999Ms;
      series.push({ system: SYSTEM_NAMES[sys], ms });
    }
    return { workload: c.workload, series };
  });
}

const n0 = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : '-');

export function lagTable(rows: readonly LagRow[]): string {
  const head = '| system | SET/s (50 conn, -P 16) | replica behind p50 / p99 / max (writes) | lag_ms p50 / p99 | samples |';
  const lines = rows.map((r) => `| ${r.system} | ${n0(r.setsPerSec)} | ${n0(r.behindP50)} / ${n0(r.behindP99)} / ${n0(r.behindMax)} | ${Number.isFinite(r.lagMsP99) ? `${n0(r.lagMsP50)} / ${n0(r.lagMsP99)}` : 'not reported'} | ${r.samples} |`);
  return [head, '| --- | ---: | ---: | ---: | ---: |', ...lines].join('\n');
}

export function storageTable(rows: readonly StorageRow[]): string {
  return ['| measure | kv-ts | redis-server |', '| --- | --- | --- |', ...rows.map((r) => `| ${r.measure} | ${r.kv} | ${r.redis} |`)].join('\n');
}

export interface DocsInput {
  readonly argv: readonly string[];
  readonly machine: Machine;
  readonly load1End: number;
  readonly rounds: number;
  readonly durationSec: number;
  readonly rowsRun: readonly number[];
  readonly table: string;
  /** Target verdicts (rows 1-2, row 3), each shown in bold under the table. */
  readonly verdicts: readonly string[];
  readonly chartFile: string | undefined;
  readonly commands: ReadonlyMap<number, ReadonlySet<string>>;
  readonly lag: readonly LagRow[];
  readonly storage: { readonly source: string; readonly rows: readonly StorageRow[] } | undefined;
  readonly notes: readonly string[];
  readonly failures: readonly string[];
}

const ROW_TITLES: Readonly<Record<number, string>> = {
  1: 'Row 1 — single node, redis-benchmark',
  2: 'Row 2 — primary + 2 replicas, async SET, redis-benchmark',
  3: 'Row 3 — durable majority writes, kv-bench engine',
  4: 'Row 4 — linearizable reads, kv-bench engine',
  5: 'Row 5 — replication lag under load',
  6: 'Row 6 — hashes, sets and sorted sets, single node, redis-benchmark',
  7: 'Row 7 — values and connections (1 KiB and 16 KiB values, 1000 clients, MSET, INCR), single node, redis-benchmark',
  8: 'Row 8 — YCSB workloads B and A, Zipfian keys, single node, kv-bench engine',
};

export function docsBody(d: DocsInput): string {
  const m = d.machine;
  const cmd = ['npm run bench', ...(d.argv.length > 0 ? ['--', ...d.argv] : [])].join(' ');
  const out: string[] = [
    '## Side by side: kv-ts, Redis and etcd',
    '',
    `Generated by \`${cmd}\` on ${m.date} (rows ${d.rowsRun.join(', ')}).`,
    '',
    `- Machine: ${m.cpuModel}, ${m.cores} cores, ${m.os}; clients and all servers share these cores; 1-min load average ${m.load1.toFixed(1)} at start, ${d.load1End.toFixed(1)} at the end.`,
    `- Versions: node ${m.node}, redis-server ${m.redis}, etcd ${m.etcd}.`,
    `- Each number: median of ${d.rounds} round(s); within a round the systems run back to back, and the order rotates every round. kv-bench rows run for ${d.durationSec} s each. Rows 1 and 2 first run each freshly started server's first requests at -P 1 and report them on their own lines marked *cold*; the rounds after them measure the warm servers. Nothing is dropped, and failed requests are never counted as throughput.`,
    '- Durability: rows 1, 2, 5, 6, 7 and 8 use `appendfsync everysec` / `--fsync everysec`; rows 3 and 4 fsync every write on every node (`appendfsync always` on the Redis primary and both replicas, `--fsync always`, etcd always fsyncs its WAL), because etcd has no weaker setting. Redis `SET` + `WAIT 1 0` is the strongest write Redis 7.0 has, and still weaker than a majority write: WAIT returns once one replica has *received* the write, not fsynced it.',
    '- etcd: rows 3 and 4 drive etcd over gRPC with the `etcd3` client, as its Node users do (one HTTP/2 channel, the 50 requests in flight multiplexed over it); kv-ts÷etcd and the row 3 verdict use that line. The lines marked *etcd via JSON gateway* drive the same cluster through its HTTP/1.1 gateway (50 keep-alive connections, one request in flight each); their kv-ts column repeats the main line\'s kv-ts runs.',
    '- Row 7 runs each variant with a share of -n (1 KiB values, 1000 clients and INCR a twentieth, 16 KiB values a hundredth, MSET of 10 keys a fortieth), row 6 a twentieth; row 8 preloads every key once (YCSB\'s load phase), then runs YCSB B (95% GET / 5% SET) and A (50/50) over YCSB\'s Zipfian distribution (θ 0.99; the popular keys scattered over the keyspace by a seeded bijection, not YCSB\'s FNV hash).',
    '- Routing: kv-ts via `kv-bench --seeds` (TOPOLOGY → primary), etcd requests all go to the leader (its best case; a follower would forward), redis to its primary.',
    '',
    d.table.trimEnd(),
    '',
    'kv-ts÷redis and kv-ts÷etcd are throughput ratios of the medians (target for rows 1, 2 and 6: ≥ 0.8, 1.0 the goal); *per round* is the lowest and highest kv-ts÷redis of a single round, when there were two or more. redis-benchmark reports p50, p99 and max but no p90 or p99.9, so its lines have two bars per system in the chart; *max* is the median over rounds of each round\'s slowest request.',
  ];
  for (const v of d.verdicts) out.push('', `**${v}**`);
  if (d.chartFile !== undefined) out.push('', `![Latency percentiles per workload and system, log scale](${d.chartFile})`);
  if (d.lag.length > 0) {
    out.push(
      '',
      '### Replication lag under load (row 5)',
      '',
      'While the load runs, `INFO replication` is read from the primary and both replicas at once every 50 ms; "behind" = primary `master_repl_offset` − replica `slave_repl_offset`. kv-ts offsets count writes; Redis offsets count bytes of the replication stream and are divided by the bytes of one propagated SET (' +
        'this load sends nothing else). kv-ts also reports `lag_ms` per replica (age of the oldest unacknowledged write); Redis reports only whole seconds, so that column is kv-ts only.',
      '',
      lagTable(d.lag),
    );
  }
  if (d.storage !== undefined) {
    out.push('', '### Restart time and RSS at 1M keys × 100 B (row 5)', '', `Latest results of ${d.storage.source} (not rerun by this suite: it takes minutes; see [storage-bench.md](storage-bench.md)).`, '', storageTable(d.storage.rows));
  }
  out.push('', '### Commands', '');
  for (const [row, cmds] of [...d.commands.entries()].sort((a, b) => a[0] - b[0])) {
    out.push(`- ${ROW_TITLES[row] ?? `Row ${row}`}:`);
    for (const c of cmds) out.push(`  - \`${c}\``);
  }
  if (d.notes.length > 0 || d.failures.length > 0) {
    out.push('', '### Skipped and failed', '');
    for (const n of [...d.failures.map((f) => `FAILED: ${f}`), ...d.notes]) out.push(`- ${n}`);
  }
  return out.join('\n');
}

