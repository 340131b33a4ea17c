// Feeds the slow log and the latency monitor from the dispatcher's timing of each command (the
// one clock reading it already takes for INFO commandstats), and from blocked commands when they
// are served. Owns that routing only: which commands are logged, under which event; it never
// times a command itself nor keeps entries (slowlog.ts and latency-monitor.ts do).

import type { CommandContext, CommandSpec } from './command-types.js';
import type { CommandObserver } from './dispatch.js';
import { LATENCY_EVENTS, type LatencyMonitor } from './latency-monitor.js';
import type { SlowLog } from './slowlog.js';

export class CommandTimingObserver implements CommandObserver {
  constructor(
    private readonly slowlog: SlowLog,
    private readonly latency: LatencyMonitor,
  ) {}

  /**
   * A command that blocked is logged when it is served (blocking.ts reports it), with the time
   * its serving took, as Redis logs a blocked command at unblock; EXEC (skip_slowlog) is not
   * logged, the commands it ran are, one by one.
   */
  executed(ctx: CommandContext, spec: CommandSpec, argv: readonly Buffer[], durationMs: number): void {
    if (ctx.client.blocked === true) return;
    const us = Math.round(durationMs * 1000);
    if (this.slowlog.wants(us) && !spec.flags.includes('skip_slowlog')) this.slowlog.add(ctx.client, spec.name, argv, us, Date.now());
    if (this.latency.over(durationMs)) this.latency.addIfNeeded(spec.flags.includes('fast') ? LATENCY_EVENTS.fastCommand : LATENCY_EVENTS.command, durationMs);
  }
}
