// The latency monitor (LATENCY LATEST/HISTORY/RESET/GRAPH/DOCTOR): for each event class
// ("command", "fast-command", "aof-fsync-always", "eviction-cycle", "expire-cycle") the
// latency spikes of latency-monitor-threshold ms or more, one sample per second, the last
// LATENCY_SAMPLES_MAX of them, and the all-time maximum, as Redis's latency.c keeps them.
// Owns those series and the reports drawn from them; it never measures anything itself (the
// dispatcher, the server's durability wait, eviction and expiry report their durations).

/** Redis's LATENCY_TS_LEN: samples kept per event. */
export const LATENCY_SAMPLES_MAX = 160;

/** The events kv-ts reports, under Redis's names where the meaning is the same. */
export const LATENCY_EVENTS = {
  /** A command without the fast flag ran this long. */
  command: 'command',
  /** A command with the fast flag (O(1) or O(log N)) ran this long. */
  fastCommand: 'fast-command',
  /** Under appendfsync always: replies waited this long for the log's fsync. */
  fsyncAlways: 'aof-fsync-always',
  /** One maxmemory eviction run. */
  evictionCycle: 'eviction-cycle',
  /** One active expiry sweep. */
  expireCycle: 'expire-cycle',
} as const;
export type LatencyEvent = (typeof LATENCY_EVENTS)[keyof typeof LATENCY_EVENTS];

/** Settings read live (the server's config object). */
export interface LatencyMonitorSettings {
  readonly latencyMonitorThresholdMs: number;
}

export interface LatencySample {
  /** Unix time in seconds. */
  readonly timeSec: number;
  readonly ms: number;
}

/** One event's samples: a ring, oldest first from `next` once full. */
class EventSeries {
  readonly samples: LatencySample[] = [];
  next = 0;
  maxMs = 0;

  add(timeSec: number, ms: number): void {
    if (ms > this.maxMs) this.maxMs = ms;
    const n = this.samples.length;
    const lastIdx = n < LATENCY_SAMPLES_MAX ? n - 1 : (this.next + LATENCY_SAMPLES_MAX - 1) % LATENCY_SAMPLES_MAX;
    const last = this.samples[lastIdx];
    // One sample per second: a second spike in the same second keeps the larger (Redis's rule).
    if (last !== undefined && last.timeSec === timeSec) {
      if (ms > last.ms) this.samples[lastIdx] = { timeSec, ms };
      return;
    }
    if (n < LATENCY_SAMPLES_MAX) this.samples.push({ timeSec, ms });
    else {
      this.samples[this.next] = { timeSec, ms };
      this.next = (this.next + 1) % LATENCY_SAMPLES_MAX;
    }
  }

  /** Oldest first. */
  ordered(): LatencySample[] {
    return this.samples.length < LATENCY_SAMPLES_MAX ? [...this.samples] : [...this.samples.slice(this.next), ...this.samples.slice(0, this.next)];
  }

  latest(): LatencySample {
    const s = this.ordered();
    return s[s.length - 1] as LatencySample;
  }
}

export class LatencyMonitor {
  /** Events in the order they first spiked (LATENCY LATEST lists them so). */
  private readonly series = new Map<string, EventSeries>();

  constructor(private readonly settings: LatencyMonitorSettings) {}

  /** Whether a duration is a spike to record (cheap: runs after every command). */
  over(ms: number): boolean {
    const t = this.settings.latencyMonitorThresholdMs;
    return t > 0 && ms >= t;
  }

  addIfNeeded(event: LatencyEvent, ms: number, nowMs: number = Date.now()): void {
    if (!this.over(ms)) return;
    let s = this.series.get(event);
    if (s === undefined) {
      s = new EventSeries();
      this.series.set(event, s);
    }
    s.add(Math.floor(nowMs / 1000), Math.floor(ms));
  }

  /** LATENCY LATEST rows: event, time of the latest spike, its ms, the all-time max ms. */
  latest(): Array<[string, number, number, number]> {
    const out: Array<[string, number, number, number]> = [];
    for (const [name, s] of this.series) {
      const l = s.latest();
      out.push([name, l.timeSec, l.ms, s.maxMs]);
    }
    return out;
  }

  /** LATENCY HISTORY: oldest first; empty for an event with no samples. */
  history(event: string): LatencySample[] {
    return this.series.get(event)?.ordered() ?? [];
  }

  /** LATENCY RESET: the given events (all when none); returns how many had samples. */
  reset(events: readonly string[]): number {
    if (events.length === 0) {
      const n = this.series.size;
      this.series.clear();
      return n;
    }
    let n = 0;
    for (const e of new Set(events)) if (this.series.delete(e)) n++;
    return n;
  }

  /** LATENCY GRAPH: an ASCII chart of the event's samples, or null when it has none. */
  graph(event: string, nowMs: number = Date.now()): string | null {
    const s = this.series.get(event);
    if (s === undefined) return null;
    return renderGraph(event, s.ordered(), s.maxMs, Math.floor(nowMs / 1000));
  }

  /** LATENCY DOCTOR: what the recorded spikes say, event by event, with advice. */
  doctor(nowMs: number = Date.now()): string {
    const threshold = this.settings.latencyMonitorThresholdMs;
    const lines: string[] = [];
    if (this.series.size === 0) {
      lines.push(threshold <= 0
        ? 'Latency monitoring is off (latency-monitor-threshold is 0): no spike is recorded. Enable it with CONFIG SET latency-monitor-threshold <milliseconds>.'
        : `No latency spike of ${threshold} ms or more has been recorded since the monitor was last reset.`);
      return lines.join('\n') + '\n';
    }
    lines.push(`Latency spikes of ${threshold <= 0 ? 'the configured threshold (monitoring is now off)' : `${threshold} ms or more`} were recorded for ${this.series.size} event class(es):`, '');
    let i = 1;
    for (const [name, s] of this.series) {
      lines.push(...describeEvent(i++, name, s.ordered(), s.maxMs, Math.floor(nowMs / 1000)));
      lines.push('');
    }
    lines.push('Advice:');
    for (const name of this.series.keys()) lines.push(`- ${name}: ${ADVICE[name] ?? 'no specific advice for this event.'}`);
    return lines.join('\n') + '\n';
  }
}

/** Statistics of one event's samples, as sentences. */
function describeEvent(n: number, name: string, samples: readonly LatencySample[], maxMs: number, nowSec: number): string[] {
  const count = samples.length;
  const avg = samples.reduce((a, x) => a + x.ms, 0) / count;
  const meanDev = samples.reduce((a, x) => a + Math.abs(x.ms - avg), 0) / count;
  const first = samples[0] as LatencySample;
  const last = samples[count - 1] as LatencySample;
  const out = [`${n}. ${name}: ${count} latency spike(s) (average ${Math.round(avg)} ms, mean deviation ${Math.round(meanDev)} ms, period ${count > 1 ? `${Math.round((last.timeSec - first.timeSec) / (count - 1))} sec` : 'n/a'}). Worst all time: ${maxMs} ms. Latest: ${last.ms} ms, ${nowSec - last.timeSec} sec ago.`];
  if (count >= 3 && meanDev > avg / 2) out.push(`   The spikes vary widely (deviation above half the average): they depend on the work done, not on a steady cost.`);
  else if (count >= 3) out.push(`   The spikes are steady in size: a recurring cost of about ${Math.round(avg)} ms.`);
  if (count >= LATENCY_SAMPLES_MAX) out.push(`   The history is full (${LATENCY_SAMPLES_MAX} samples): older spikes were dropped.`);
  return out;
}

const ADVICE: Readonly<Record<string, string>> = {
  [LATENCY_EVENTS.command]: 'slow commands block every client while they run. Check SLOWLOG GET for O(N) commands on large keys (KEYS, SMEMBERS, LRANGE 0 -1, SORT...) and prefer incremental ones (SCAN, SSCAN, HSCAN, ZSCAN).',
  [LATENCY_EVENTS.fastCommand]: 'commands flagged fast (O(1) or O(log N)) took long: the process was likely starved of CPU (a busy or overcommitted machine, swapping, or a long garbage collection). Check the host load and memory.',
  [LATENCY_EVENTS.fsyncAlways]: 'with appendfsync always every reply waits for the disk. A slow or shared disk shows here; appendfsync everysec trades up to one second of writes for much lower latency.',
  [LATENCY_EVENTS.evictionCycle]: 'evicting keys to stay under maxmemory took long: writes arrive faster than eviction frees memory. Raise maxmemory, lower maxmemory-eviction-tenacity, or write less.',
  [LATENCY_EVENTS.expireCycle]: 'the active expiry sweep took long: many keys expire at the same time. Spread expiry times (add randomness to TTLs).',
};

/** Rows of the bar chart (Redis's sparkline has four). */
const GRAPH_ROWS = 4;
/** Columns: one per sample, the newest ones. */
const GRAPH_COLUMNS_MAX = 80;

/** "12s", "3m", "2h", "4d": how long ago a sample was, short enough for a vertical label. */
function ago(sec: number): string {
  if (sec < 60) return `${sec}s`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m`;
  if (sec < 86400) return `${Math.floor(sec / 3600)}h`;
  return `${Math.floor(sec / 86400)}d`;
}

/**
 * A header with the range, then one column per sample scaled between the lowest and highest
 * sample ('#' tops a bar, '|' fills below it, '_' marks the lowest values), then each column's
 * age written vertically (Redis's layout).
 */
function renderGraph(event: string, all: readonly LatencySample[], maxMs: number, nowSec: number): string {
  const samples = all.slice(-GRAPH_COLUMNS_MAX);
  let hi = 0;
  let lo = Number.MAX_SAFE_INTEGER;
  for (const s of samples) {
    if (s.ms > hi) hi = s.ms;
    if (s.ms < lo) lo = s.ms;
  }
  const lines = [`${event} - high ${hi} ms, low ${lo} ms (all time high ${maxMs} ms)`, '-'.repeat(GRAPH_COLUMNS_MAX)];
  // Height of each column in half-rows: 1 (lowest) .. 2 * GRAPH_ROWS (highest).
  const heights = samples.map((s) => (hi === lo ? 2 * GRAPH_ROWS : 1 + Math.round(((s.ms - lo) / (hi - lo)) * (2 * GRAPH_ROWS - 1))));
  for (let row = GRAPH_ROWS - 1; row >= 0; row--) {
    let line = '';
    for (const h of heights) {
      const full = 2 * row + 2;
      const half = 2 * row + 1;
      line += h > full ? '|' : h === full ? '#' : h === half ? '_' : ' ';
    }
    lines.push(line.trimEnd());
  }
  lines.push('');
  const labels = samples.map((s) => ago(Math.max(0, nowSec - s.timeSec)));
  const depth = Math.max(...labels.map((l) => l.length));
  for (let r = 0; r < depth; r++) lines.push(labels.map((l) => l[r] ?? ' ').join('').trimEnd());
  return lines.join('\n') + '\n';
}
