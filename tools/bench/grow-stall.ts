// The longest synchronous pause of growing one hash or set to N members: applies single-member
// ops (HSET / SADD effects) to a bare keyspace, timing each applyOp call (wall and CPU time),
// and reports the longest calls, the longest GC pauses and the total. One call is what a live HSET or SADD, or a
// replica's loader adding one member, runs without yielding.
// Owns those runs and their report; never touches files or servers.
//
//   node dist/tools/bench/grow-stall.js [--members N] [--type hash|set]...

import { performance, PerformanceObserver } from 'node:perf_hooks';
import { Keyspace } from '../../src/storage/keyspace.js';
import type { Op } from '../../src/storage/types.js';

type Kind = 'hash' | 'set';

/** How many of the longest calls (and GC pauses) the report lists: one long call may be a GC pause. */
const LONGEST_CALLS_SHOWN = 5;

function parseArgs(argv: readonly string[]): { members: number; types: Kind[] } {
  const o = { members: 2_000_000, types: [] as Kind[] };
  for (let i = 0; i < argv.length; i += 2) {
    const a = argv[i];
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${a} needs a value`);
    if (a === '--members') o.members = Number(v);
    else if (a === '--type' && (v === 'hash' || v === 'set')) o.types.push(v);
    else throw new Error(`unknown option ${a} ${v}`);
  }
  if (!Number.isSafeInteger(o.members) || o.members <= 0) throw new Error('--members must be a positive integer');
  if (o.types.length === 0) o.types = ['hash', 'set'];
  return o;
}

const gcPausesMs: number[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcPausesMs.push(e.duration);
}).observe({ entryTypes: ['gc'] });

async function run(kind: Kind, members: number): Promise<void> {
  gcPausesMs.length = 0;
  const ks = new Keyspace();
  const value = Buffer.from('value-0123');
  /** The LONGEST_CALLS_SHOWN longest calls as [ms, member index], longest first. */
  const longest: Array<[number, number]> = [];
  /** The longest call in CPU time (user + system, all threads): not stretched when the machine is busy. */
  let longestCpuMs = 0;
  const t0 = performance.now();
  for (let i = 0; i < members; i++) {
    const op: Op = kind === 'hash' ? { t: 'hset', key: 'big', field: `field:${i}`, value } : { t: 'sadd', key: 'big', member: `member:${i}` };
    const t = performance.now();
    const c = process.cpuUsage();
    ks.applyOp(op);
    const cpu = process.cpuUsage(c);
    const d = performance.now() - t;
    longestCpuMs = Math.max(longestCpuMs, (cpu.user + cpu.system) / 1000);
    if (longest.length < LONGEST_CALLS_SHOWN || d > (longest[longest.length - 1] as [number, number])[0]) {
      longest.push([d, i]);
      longest.sort((a, b) => b[0] - a[0]);
      longest.length = Math.min(longest.length, LONGEST_CALLS_SHOWN);
    }
    // Let the GC observer run now and then, as a server's event loop would.
    if (i % 100_000 === 99_999) await new Promise<void>((r) => setImmediate(r));
  }
  const totalMs = performance.now() - t0;
  await new Promise<void>((r) => setImmediate(r));
  console.log(
    `${kind} grown to ${members} members: longest applyOp calls ${longest.map(([d, i]) => `${d.toFixed(1)} ms (member ${i})`).join(', ')}; ` +
      `longest GC pauses ${gcPausesMs.sort((a, b) => b - a).slice(0, LONGEST_CALLS_SHOWN).map((d) => d.toFixed(1)).join(', ')} ms; longest call in CPU time ${longestCpuMs.toFixed(1)} ms; longest GC pause ${Math.max(0, ...gcPausesMs).toFixed(1)} ms, total ${totalMs.toFixed(0)} ms`,
  );
}

const opts = parseArgs(process.argv.slice(2));
for (const kind of opts.types) await run(kind, opts.members);
