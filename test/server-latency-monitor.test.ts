// The latency monitor (src/server/latency-monitor.ts) on its own: the threshold, one sample per
// second keeping the worst, the LATENCY_SAMPLES_MAX bound, RESET's count, and reports drawn from
// the recorded samples.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LATENCY_EVENTS, LATENCY_SAMPLES_MAX, LatencyMonitor } from '../src/server/latency-monitor.js';

const T0_MS = 1_700_000_000_000;

test('spikes under the threshold, or with the monitor off, are not recorded', () => {
  const settings = { latencyMonitorThresholdMs: 0 };
  const m = new LatencyMonitor(settings);
  m.addIfNeeded(LATENCY_EVENTS.command, 5000, T0_MS);
  assert.deepEqual(m.latest(), []);
  settings.latencyMonitorThresholdMs = 10;
  m.addIfNeeded(LATENCY_EVENTS.command, 9.9, T0_MS);
  assert.deepEqual(m.latest(), []);
  m.addIfNeeded(LATENCY_EVENTS.command, 10.7, T0_MS);
  assert.deepEqual(m.latest(), [['command', T0_MS / 1000, 10, 10]]);
});

test('one sample per second keeps the worst; the history keeps the last 160; the max is all time', () => {
  const m = new LatencyMonitor({ latencyMonitorThresholdMs: 1 });
  m.addIfNeeded(LATENCY_EVENTS.fsyncAlways, 5, T0_MS);
  m.addIfNeeded(LATENCY_EVENTS.fsyncAlways, 9, T0_MS + 500);
  m.addIfNeeded(LATENCY_EVENTS.fsyncAlways, 3, T0_MS + 900);
  assert.deepEqual(m.history('aof-fsync-always'), [{ timeSec: T0_MS / 1000, ms: 9 }]);
  for (let i = 1; i <= 200; i++) m.addIfNeeded(LATENCY_EVENTS.fsyncAlways, i, T0_MS + i * 1000);
  const h = m.history('aof-fsync-always');
  assert.equal(h.length, LATENCY_SAMPLES_MAX);
  assert.deepEqual(h[0], { timeSec: T0_MS / 1000 + 41, ms: 41 });
  assert.deepEqual(h[h.length - 1], { timeSec: T0_MS / 1000 + 200, ms: 200 });
  m.addIfNeeded(LATENCY_EVENTS.fsyncAlways, 2, T0_MS + 201_000);
  assert.deepEqual(m.latest(), [['aof-fsync-always', T0_MS / 1000 + 201, 2, 200]]);
});

test('RESET counts the events it dropped; GRAPH and DOCTOR describe what was recorded', () => {
  const m = new LatencyMonitor({ latencyMonitorThresholdMs: 1 });
  assert.match(m.doctor(T0_MS), /No latency spike of 1 ms or more/);
  assert.equal(m.graph('command', T0_MS), null);
  for (let i = 0; i < 4; i++) m.addIfNeeded(LATENCY_EVENTS.command, 100 + 100 * i, T0_MS + i * 2000);
  m.addIfNeeded(LATENCY_EVENTS.evictionCycle, 7, T0_MS);
  const g = m.graph('command', T0_MS + 10_000) as string;
  const lines = g.split('\n');
  assert.equal(lines[0], 'command - high 400 ms, low 100 ms (all time high 400 ms)');
  assert.equal(lines[1], '-'.repeat(80));
  // Four rows, the highest sample tallest: the last column reaches the top row, the first only the bottom.
  assert.deepEqual(lines.slice(2, 6).map((l) => l.length > 3 && l[3] !== ' '), [true, true, true, true]);
  assert.equal(lines[5]?.[0], '_');
  assert.equal(lines[2]?.[0] ?? ' ', ' ');
  // Ages written vertically: 10s, 8s, 6s, 4s ago.
  assert.deepEqual(lines.slice(7, 9), ['1864', '0sss']);
  assert.equal(lines[9], 's');
  const doctor = m.doctor(T0_MS + 10_000);
  assert.match(doctor, /1\. command: 4 latency spike\(s\) \(average 250 ms, mean deviation 100 ms, period 2 sec\)\. Worst all time: 400 ms\. Latest: 400 ms, 4 sec ago\./);
  assert.match(doctor, /2\. eviction-cycle: 1 latency spike/);
  assert.match(doctor, /- eviction-cycle: .*maxmemory/);
  assert.equal(m.reset(['nosuch', 'command', 'command']), 1);
  assert.equal(m.reset([]), 1);
  assert.deepEqual(m.latest(), []);
});
