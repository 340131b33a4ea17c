// FUNCTION (LOAD, DELETE, FLUSH, LIST, DUMP, RESTORE, STATS, KILL, HELP), FCALL and FCALL_RO with
// Redis 7.0's arguments and texts. Owns their parsing; every change of the library table is
// logged as one 'functions' op holding the table it leaves (ScriptingServices.setFunctions), and
// a call runs like EVAL (ScriptingServices.runFunction: one log entry per call).

import type { CommandContext, CommandFlag, CommandModule, CommandSpec, ScriptingServices } from '../command-types.js';
import { errUnknownContainerSubcommand, errUnknownSubcommand, isWord } from './args.js';
import { key, keynum, legacyRange } from './key-specs.js';
import { dumpPayload, libraryName, readDumpPayload, type Library } from '../scripting/functions.js';
import { globMatch } from '../../storage/glob.js';
import { keysAndArgs, services } from './scripting.js';

function fcallCommand(readOnly: boolean): CommandSpec['handler'] {
  return (ctx, argv) => {
    const s = services(ctx);
    if (s === undefined) return;
    const fn = s.functions.get((argv[1] as Buffer).toString('latin1'));
    if (fn === undefined) return ctx.out.error('ERR Function not found');
    const ka = keysAndArgs(ctx, argv, 'ERR Bad number of keys provided');
    if (ka === null) return;
    if (readOnly && !fn.script.flags.noWrites) return ctx.out.error('ERR Can not execute a script with write flag using *_ro command.');
    s.runFunction(ctx, argv, fn.script, ka.keys, ka.args, readOnly);
  };
}

const FUNCTION_HELP = [
  'FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'LOAD [REPLACE] <FUNCTION CODE>',
  '    Create a new library with the given library name and code.',
  'DELETE <LIBRARY NAME>',
  '    Delete the given library.',
  'LIST [LIBRARYNAME PATTERN] [WITHCODE]',
  '    Return general information on all the libraries:',
  '    * Library name',
  '    * The engine used to run the Library',
  '    * Library description',
  '    * Functions list',
  '    * Library code (if WITHCODE is given)',
  '    It also possible to get only function that matches a pattern using LIBRARYNAME argument.',
  'STATS',
  '    Return information about the current function running:',
  '    * Function name',
  '    * Command used to run the function',
  '    * Duration in MS that the function is running',
  '    If no function is running, return nil',
  '    In addition, returns a list of available engines.',
  'KILL',
  '    Kill the current running function.',
  'FLUSH [ASYNC|SYNC]',
  '    Delete all the libraries.',
  '    When called without the optional mode argument, the behavior is determined by the',
  '    lazyfree-lazy-user-flush configuration directive. Valid modes are:',
  '    * ASYNC: Asynchronously flush the libraries.',
  '    * SYNC: Synchronously flush the libraries.',
  'DUMP',
  '    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command',
  'RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]',
  '    Restore the libraries represented by the given payload, it is possible to give a restore policy to',
  '    control how to handle existing libraries (default APPEND):',
  '    * FLUSH: delete all existing libraries.',
  '    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.',
  '    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old',
  '      libraries with the new libraries (notice that even on this option there is a chance of failure',
  '      in case of functions name collision with another library).',
  'HELP',
  '    Prints this help.',
];

/** Build the table `codes` make and, when it loads, log it; replies OK (or `okReply`) or the error. */
function changeTable(ctx: CommandContext, s: ScriptingServices, codes: readonly Buffer[], okReply: () => void): void {
  const t = s.buildFunctions(codes);
  if (typeof t === 'string') return ctx.out.error(t);
  s.setFunctions(ctx, t);
  okReply();
}

function load(ctx: CommandContext, s: ScriptingServices, argv: readonly Buffer[]): void {
  let replace = false;
  let i = 2;
  for (; i < argv.length - 1; i++) {
    if (isWord(argv[i] as Buffer, 'replace')) replace = true;
    else return ctx.out.error(`ERR Unknown option given: ${(argv[i] as Buffer).toString('latin1')}`);
  }
  const code = argv[i] as Buffer;
  const name = libraryName(code);
  if (name.startsWith('ERR ')) return ctx.out.error(name);
  const cur = s.functions;
  if (!replace && cur.libraries.has(name)) return ctx.out.error(`ERR Library '${name}' already exists`);
  const codes = [...cur.libraries.values()].filter((l) => l.name !== name).map((l) => l.code);
  codes.push(code);
  changeTable(ctx, s, codes, () => ctx.out.bulk(name));
}

function restore(ctx: CommandContext, s: ScriptingServices, argv: readonly Buffer[]): void {
  let policy: 'flush' | 'append' | 'replace' = 'append';
  if (argv.length === 4) {
    const p = argv[3] as Buffer;
    if (isWord(p, 'flush')) policy = 'flush';
    else if (isWord(p, 'append')) policy = 'append';
    else if (isWord(p, 'replace')) policy = 'replace';
    else return ctx.out.error('ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.');
  }
  const codes = readDumpPayload(argv[2] as Buffer);
  if (codes === null) return ctx.out.error('ERR DUMP payload version or checksum are wrong');
  const incoming = new Map<string, Buffer>();
  for (const c of codes) {
    const n = libraryName(c);
    if (n.startsWith('ERR ')) return ctx.out.error(n);
    incoming.set(n, c);
  }
  const kept = policy === 'flush' ? [] : [...s.functions.libraries.values()];
  if (policy === 'append') {
    const clash = kept.find((l) => incoming.has(l.name));
    if (clash !== undefined) return ctx.out.error(`ERR Library ${clash.name} already exists`);
  }
  const merged = [...kept.filter((l) => !incoming.has(l.name)).map((l) => l.code), ...incoming.values()];
  changeTable(ctx, s, merged, () => ctx.out.ok());
}

function list(ctx: CommandContext, s: ScriptingServices, argv: readonly Buffer[]): void {
  let withCode = false;
  let pattern: string | null = null;
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i] as Buffer;
    if (isWord(a, 'withcode') && !withCode) withCode = true;
    else if (isWord(a, 'libraryname') && pattern === null) {
      if (i + 1 >= argv.length) return ctx.out.error('ERR library name argument was not given');
      pattern = (argv[++i] as Buffer).toString('latin1');
    } else return ctx.out.error(`ERR Unknown argument ${a.toString('latin1')}`);
  }
  const libs = [...s.functions.libraries.values()].filter((l) => pattern === null || globMatch(pattern, l.name));
  const out = ctx.out;
  out.array(libs.length);
  for (const l of libs) writeLibrary(ctx, l, withCode);
}

function writeLibrary(ctx: CommandContext, l: Library, withCode: boolean): void {
  const out = ctx.out;
  out.map(withCode ? 4 : 3);
  out.bulk('library_name');
  out.bulk(l.name);
  out.bulk('engine');
  out.bulk('LUA');
  out.bulk('functions');
  out.array(l.functions.length);
  for (const f of l.functions) {
    out.map(3);
    out.bulk('name');
    out.bulk(f.name);
    out.bulk('description');
    if (f.description === null) out.nullBulk();
    else out.bulk(f.description);
    out.bulk('flags');
    out.set(f.flags.length);
    for (const flag of f.flags) out.simple(flag);
  }
  if (withCode) {
    out.bulk('library_code');
    out.bulk(l.code);
  }
}

/** FUNCTION STATS: the function running past busy-reply-threshold (BUSY while a script does, as Redis), and the engine's counts. */
function stats(ctx: CommandContext, s: ScriptingServices): void {
  const out = ctx.out;
  const busy = s.busy();
  if (busy !== null && busy.isEval) return out.error(busy.busyError);
  out.map(2);
  out.bulk('running_script');
  if (busy === null) out.nullBulk();
  else {
    out.map(3);
    out.bulk('name');
    out.bulk(busy.name);
    out.bulk('command');
    out.array(busy.argv.length);
    for (const a of busy.argv) out.bulk(a);
    out.bulk('duration_ms');
    out.integer(Date.now() - busy.startedMs);
  }
  out.bulk('engines');
  out.map(1);
  out.bulk('LUA');
  out.map(2);
  out.bulk('libraries_count');
  out.integer(s.functions.libraries.size);
  out.bulk('functions_count');
  out.integer(s.functions.functionCount);
}

function functionCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const s = services(ctx);
  if (s === undefined) return;
  const sub = argv[1] as Buffer;
  const out = ctx.out;
  const n = argv.length;
  // Redis flags every FUNCTION subcommand but HELP noscript; the container shares no flags here.
  if (ctx.inScript === true && !isWord(sub, 'help')) return out.error('ERR This Redis command is not allowed from script');
  if (isWord(sub, 'help') && n === 2) {
    out.array(FUNCTION_HELP.length);
    for (const line of FUNCTION_HELP) out.simple(line);
    return;
  }
  const grows = isWord(sub, 'load') || (isWord(sub, 'restore') && (n === 3 || n === 4));
  const oom = grows ? s.admitLibraryGrowth() : null;
  if (oom !== null) return out.error(oom);
  if (isWord(sub, 'load')) return load(ctx, s, argv);
  if (isWord(sub, 'delete')) {
    const name = (argv[2] as Buffer).toString('latin1');
    const cur = s.functions;
    if (!cur.libraries.has(name)) return out.error('ERR Library not found');
    return changeTable(ctx, s, [...cur.libraries.values()].filter((l) => l.name !== name).map((l) => l.code), () => out.ok());
  }
  if (isWord(sub, 'flush') && n <= 3) {
    if (n === 3 && !isWord(argv[2] as Buffer, 'async') && !isWord(argv[2] as Buffer, 'sync')) return out.error('ERR FUNCTION FLUSH only supports SYNC|ASYNC option');
    return changeTable(ctx, s, [], () => out.ok());
  }
  if (isWord(sub, 'list')) return list(ctx, s, argv);
  if (isWord(sub, 'dump') && n === 2) return out.bulk(dumpPayload(s.functions.codes));
  if (isWord(sub, 'restore') && (n === 3 || n === 4)) return restore(ctx, s, argv);
  if (isWord(sub, 'stats') && n === 2) return stats(ctx, s);
  if (isWord(sub, 'kill') && n === 2) {
    const refused = s.kill(false);
    return refused === null ? out.ok() : out.error(refused);
  }
  const known = ['help', 'flush', 'dump', 'restore', 'stats', 'kill'].some((w) => isWord(sub, w));
  out.error(known ? errUnknownSubcommand(sub, 'FUNCTION') : errUnknownContainerSubcommand(sub, 'FUNCTION'));
}

const FCALL_FLAGS: CommandFlag[] = ['noscript', 'skip_monitor', 'stale', 'no_mandatory_keys'];

function spec(name: string, arity: number, flags: CommandFlag[], summary: string, syntax: string, handler: CommandSpec['handler'], keySpecs: CommandSpec['keySpecs'] = []): CommandSpec {
  return { name, arity, flags, ...legacyRange(keySpecs ?? []), keySpecs, summary, syntax, group: 'scripting', acl: ['@scripting'], handler };
}

export const functionCommands: CommandModule = [
  spec('fcall', -3, FCALL_FLAGS, 'Call a function of a loaded library; its writes are one atomic log entry.', 'function numkeys [key [key ...]] [arg [arg ...]]', fcallCommand(false), [key('RW access update', 2, keynum(), { notes: 'We cannot tell how the keys will be used so we assume the worst, RW and UPDATE' })]),
  spec('fcall_ro', -3, ['readonly', ...FCALL_FLAGS], 'Call a function flagged no-writes.', 'function numkeys [key [key ...]] [arg [arg ...]]', fcallCommand(true), [key('RO access', 2, keynum(), { notes: 'We cannot tell how the keys will be used so we assume the worst, RO and ACCESS' })]),
  {
    ...spec('function', -2, [], 'Manage function libraries: LOAD, DELETE, FLUSH, LIST, DUMP, RESTORE, STATS, KILL.', 'LOAD [REPLACE] code | DELETE library | FLUSH [ASYNC|SYNC] | LIST [LIBRARYNAME pattern] [WITHCODE] | DUMP | RESTORE payload [FLUSH|APPEND|REPLACE] | STATS | KILL', functionCommand),
    subcommands: ['delete', 'dump', 'flush', 'help', 'kill', 'list', 'load', 'restore', 'stats'],
    writeSubcommands: ['delete', 'flush', 'load', 'restore'],
    subcommandArity: { delete: 3, dump: 2, flush: -2, help: 2, kill: 2, list: -2, load: -3, restore: -3, stats: 2 },
  },
];
