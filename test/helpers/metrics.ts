// The metrics endpoint from a test: the port a kv-server printed for --metrics-port 0, GETs with
// a deadline, and a reader for the Prometheus text format (sample lines only).

import type { RunningProcess } from './procs.js';
import { waitFor } from './wait.js';

/** A GET that gets no answer within this fails the probe (a paused or overloaded node). */
const HTTP_TIMEOUT_MS = 3_000;

/** The port kv-server printed ("kv-server metrics on http://127.0.0.1:PORT/metrics"). */
export function metricsPortOf(proc: RunningProcess): Promise<number> {
  return waitFor(`metrics port printed by kv-server on ${proc.port}`, () => {
    const m = /kv-server metrics on http:\/\/[^\s]*:(\d+)\/metrics/.exec(proc.output());
    return m === null ? null : Number(m[1]);
  });
}

export interface HttpAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

export async function httpGet(port: number, path: string, method = 'GET'): Promise<HttpAnswer> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: await res.text() };
}

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Sample lines of a text exposition (label values here never hold `"` or `,`). */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? '').split(',').filter((p) => p !== '')) {
      const eq = pair.indexOf('=');
      labels[pair.slice(0, eq)] = pair.slice(eq + 2, -1);
    }
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample with this name and (at least) these labels, or undefined. */
export function sampleValue(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length > 1) throw new Error(`${hits.length} samples match ${name} ${JSON.stringify(labels)}`);
  return hits[0]?.value;
}

export async function scrape(port: number): Promise<Sample[]> {
  const r = await httpGet(port, '/metrics');
  if (r.status !== 200) throw new Error(`GET /metrics: ${r.status} ${r.body}`);
  return parseExposition(r.body);
}
