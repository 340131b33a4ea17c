// SLOWLOG and LATENCY: the server's slow log, latency monitor and per-command latency
// histograms, in Redis 7.0's reply formats and error texts. They read through
// ServerServices.introspection; they never time a command or keep state of their own.

import type { CommandContext, CommandFlag, CommandModule, CommandSpec, IntrospectionServices } from '../command-types.js';
import type { ReplyWriter } from '../../protocol/reply.js';
import type { CommandStatsTable } from '../latency.js';

const str = (b: Buffer | undefined): string => (b === undefined ? '' : b.toString('utf8'));

/** SLOWLOG GET without a count (Redis's default). */
const SLOWLOG_GET_DEFAULT = 10;

/** A container's subcommand: its Redis arity (counting the container's name) and handler. */
interface Subcommand {
  readonly arity: number;
  readonly run: (ctx: CommandContext, argv: readonly Buffer[], intro: IntrospectionServices) => void;
}

/**
 * Run argv[1] of a container command (SLOWLOG, LATENCY), or Redis's error for an unknown one
 * (dispatch has checked a known one's arity: see CommandSpec.subcommandArity).
 */
function runSubcommand(ctx: CommandContext, argv: readonly Buffer[], container: string, subs: ReadonlyMap<string, Subcommand>): void {
  const out = ctx.out;
  const sub = subs.get(str(argv[1]).toLowerCase());
  if (sub === undefined) return out.error(`ERR unknown subcommand '${str(argv[1])}'. Try ${container.toUpperCase()} HELP.`);
  const intro = ctx.server.introspection;
  if (intro === undefined) return out.error(`ERR ${container.toUpperCase()} is not available on this server`);
  sub.run(ctx, argv, intro);
}

function writeHelp(out: ReplyWriter, lines: readonly string[]): void {
  out.array(lines.length);
  for (const l of lines) out.simple(l);
}

const SLOWLOG_HELP = [
  'SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'GET [<count>]',
  `    Return top <count> entries from the slowlog (default: ${SLOWLOG_GET_DEFAULT}, -1 mean all).`,
  '    Entries are made of:',
  '    id, timestamp, time in microseconds, arguments array, client IP and port,',
  '    client name',
  'LEN',
  '    Return the length of the slowlog.',
  'RESET',
  '    Reset the slowlog.',
  'HELP',
  '    Prints this help.',
];

const ERR_SLOWLOG_COUNT = 'ERR count should be greater than or equal to -1';

function slowlogGet(ctx: CommandContext, argv: readonly Buffer[], intro: IntrospectionServices): void {
  const out = ctx.out;
  if (argv.length > 3) return out.error(`ERR unknown subcommand or wrong number of arguments for '${str(argv[1])}'. Try SLOWLOG HELP.`);
  let count = SLOWLOG_GET_DEFAULT;
  if (argv.length === 3) {
    const s = str(argv[2]);
    count = /^-?\d+$/.test(s) ? Number(s) : Number.NaN;
    if (!Number.isSafeInteger(count) || count < -1) return out.error(ERR_SLOWLOG_COUNT);
  }
  const entries = intro.slowlog.newest(count);
  out.array(entries.length);
  for (const e of entries) {
    out.array(6);
    out.integer(e.id);
    out.integer(e.timeSec);
    out.integer(e.durationUs);
    out.array(e.argv.length);
    for (const a of e.argv) out.bulk(a);
    out.bulk(e.addr);
    out.bulk(e.name);
  }
}

const SLOWLOG_SUBCOMMANDS: ReadonlyMap<string, Subcommand> = new Map<string, Subcommand>([
  ['get', { arity: -2, run: slowlogGet }],
  ['len', { arity: 2, run: (ctx, _argv, intro) => ctx.out.integer(intro.slowlog.length) }],
  ['reset', { arity: 2, run: (ctx, _argv, intro) => (intro.slowlog.reset(), ctx.out.ok()) }],
  ['help', { arity: 2, run: (ctx) => writeHelp(ctx.out, SLOWLOG_HELP) }],
]);

const LATENCY_HELP = [
  'LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'DOCTOR',
  '    Return a human readable latency analysis report.',
  'GRAPH <event>',
  '    Return an ASCII latency graph for the <event> class.',
  'HISTORY <event>',
  '    Return time-latency samples for the <event> class.',
  'LATEST',
  '    Return the latest latency samples for all events.',
  'RESET [<event> ...]',
  '    Reset latency data of one or more <event> classes.',
  '    (default: reset all data for all event classes)',
  'HISTOGRAM [COMMAND ...]',
  '    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.',
  '    If no commands are specified then all histograms are replied.',
  'HELP',
  '    Prints this help.',
];

/**
 * The stats names LATENCY HISTOGRAM reports for its arguments: a container command stands for
 * its subcommands (`client` -> `client|id`, `client|list`...), `client|id` for itself, unknown
 * names for nothing; each once, with a recorded histogram.
 */
function histogramNames(ctx: CommandContext, args: readonly Buffer[], stats: CommandStatsTable): string[] {
  if (args.length === 0) return stats.histogramNames();
  const names = new Set<string>();
  const table = ctx.server.commands;
  for (const a of args) {
    const name = str(a).toLowerCase();
    const bar = name.indexOf('|');
    const spec: CommandSpec | undefined = table.get(bar < 0 ? name : name.slice(0, bar));
    if (spec === undefined) continue;
    if (bar >= 0) {
      if (spec.subcommands?.includes(name.slice(bar + 1)) === true) names.add(name);
    } else if (spec.subcommands !== undefined) for (const sub of spec.subcommands) names.add(`${name}|${sub}`);
    else names.add(name);
  }
  return [...names].filter((n) => (stats.peek(n)?.histogram.totalCount ?? 0) > 0);
}

function latencyHistogram(ctx: CommandContext, argv: readonly Buffer[], intro: IntrospectionServices): void {
  const out = ctx.out;
  const names = histogramNames(ctx, argv.slice(2), intro.commandStats);
  out.map(names.length);
  for (const n of names) {
    const h = (intro.commandStats.peek(n) as NonNullable<ReturnType<CommandStatsTable['peek']>>).histogram;
    out.bulk(n);
    out.map(2);
    out.bulk('calls');
    out.integer(h.totalCount);
    out.bulk('histogram_usec');
    const cdf = h.cdfUsec();
    out.map(cdf.length);
    for (const [us, count] of cdf) {
      out.integer(us);
      out.integer(count);
    }
  }
}

function latencyLatest(ctx: CommandContext, _argv: readonly Buffer[], intro: IntrospectionServices): void {
  const rows = intro.latency.latest();
  ctx.out.array(rows.length);
  for (const [event, timeSec, ms, maxMs] of rows) {
    ctx.out.array(4);
    ctx.out.bulk(event);
    ctx.out.integer(timeSec);
    ctx.out.integer(ms);
    ctx.out.integer(maxMs);
  }
}

function latencyHistory(ctx: CommandContext, argv: readonly Buffer[], intro: IntrospectionServices): void {
  const samples = intro.latency.history(str(argv[2]));
  ctx.out.array(samples.length);
  for (const s of samples) {
    ctx.out.array(2);
    ctx.out.integer(s.timeSec);
    ctx.out.integer(s.ms);
  }
}

function latencyGraph(ctx: CommandContext, argv: readonly Buffer[], intro: IntrospectionServices): void {
  const event = str(argv[2]);
  const g = intro.latency.graph(event);
  if (g === null) return ctx.out.error(`ERR No samples available for event '${event}'`);
  ctx.out.verbatim(g);
}

const LATENCY_SUBCOMMANDS: ReadonlyMap<string, Subcommand> = new Map<string, Subcommand>([
  ['doctor', { arity: 2, run: (ctx, _argv, intro) => ctx.out.verbatim(intro.latency.doctor()) }],
  ['graph', { arity: 3, run: latencyGraph }],
  ['history', { arity: 3, run: latencyHistory }],
  ['latest', { arity: 2, run: latencyLatest }],
  ['reset', { arity: -2, run: (ctx, argv, intro) => ctx.out.integer(intro.latency.reset(argv.slice(2).map(str))) }],
  ['histogram', { arity: -2, run: latencyHistogram }],
  ['help', { arity: 2, run: (ctx) => writeHelp(ctx.out, LATENCY_HELP) }],
]);

const FLAGS: CommandFlag[] = ['admin', 'noscript', 'loading', 'stale'];

function container(name: string, summary: string, syntax: string, subs: ReadonlyMap<string, Subcommand>): CommandSpec {
  return {
    name, arity: -2, flags: FLAGS, firstKey: 0, lastKey: 0, keyStep: 0, summary, syntax, group: 'server',
    subcommands: [...subs.keys()],
    subcommandArity: Object.fromEntries([...subs].map(([n, sub]) => [n, sub.arity])),
    handler: (ctx, argv) => runSubcommand(ctx, argv, name, subs),
  };
}

export const introspectionCommands: CommandModule = [
  container('slowlog', 'The slow log: commands that ran longer than slowlog-log-slower-than.', 'GET [count] | LEN | RESET | HELP', SLOWLOG_SUBCOMMANDS),
  container('latency', 'The latency monitor and per-command latency histograms.', 'LATEST | HISTORY event | RESET [event ...] | GRAPH event | DOCTOR | HISTOGRAM [command ...] | HELP', LATENCY_SUBCOMMANDS),
];
