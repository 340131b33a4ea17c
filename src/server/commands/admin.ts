// Server administration commands: COMMAND (introspection of the server's command table),
// CONFIG, INFO and SHUTDOWN, in Redis 7's reply formats. They reach the table and everything
// else through ServerServices; they never touch sockets, the keyspace or the store directly.

import type { CommandContext, CommandFlag, CommandModule, CommandSpec, CommandTableView } from '../command-types.js';
import type { ReplyWriter } from '../../protocol/reply.js';
import { arityOk } from './table.js';
import { globMatch } from '../../storage/glob.js';
import { isMovable, keyPositions, keySpecsOf, legacyRange, type KeySpec } from './key-specs.js';

const str = (b: Buffer | undefined): string => (b === undefined ? '' : b.toString('utf8'));
const lower = (b: Buffer | undefined): string => str(b).toLowerCase();

/** Our flag names as Redis's COMMAND reply spells them. */
const FLAG_NAMES: Record<CommandFlag, string> = {
  write: 'write',
  denyoom: 'denyoom',
  readonly: 'readonly',
  fast: 'fast',
  admin: 'admin',
  noauth: 'no_auth',
  loading: 'loading',
  stale: 'stale',
  noscript: 'noscript',
  pubsub: 'pubsub',
  allow_busy: 'allow_busy',
  skip_slowlog: 'skip_slowlog',
  no_multi: 'no_multi',
  blocking: 'blocking',
  no_mandatory_keys: 'no_mandatory_keys',
  skip_monitor: 'skip_monitor',
};

/** Redis's command flags in the order COMMAND prints them (its flag bits' order). */
const FLAG_ORDER = [
  'write', 'readonly', 'denyoom', 'module', 'admin', 'pubsub', 'noscript', 'blocking', 'loading', 'stale', 'skip_monitor', 'skip_slowlog',
  'asking', 'fast', 'no_auth', 'may_replicate', 'no_mandatory_keys', 'no_async_loading', 'no_multi', 'movablekeys', 'allow_busy',
];

/** Redis's ACL categories in the order COMMAND prints them (its category table's order). */
const ACL_ORDER = ['@keyspace', '@read', '@write', '@set', '@sortedset', '@list', '@hash', '@string', '@bitmap', '@hyperloglog', '@geo', '@stream', '@pubsub', '@admin', '@fast', '@slow', '@blocking', '@dangerous', '@connection', '@transaction', '@scripting'];

const GROUP_CATEGORY: Partial<Record<CommandSpec['group'], string>> = {
  string: '@string', generic: '@keyspace', keyspace: '@keyspace', connection: '@connection', hash: '@hash', set: '@set',
  'sorted-set': '@sortedset', list: '@list', stream: '@stream', transactions: '@transaction', pubsub: '@pubsub', geo: '@geo', hyperloglog: '@hyperloglog', scripting: '@scripting',
};

/** A command's ACL categories, derived from its flags and group as Redis assigns them. */
export function aclCategories(s: CommandSpec): string[] {
  const cats = new Set<string>();
  if (s.flags.includes('write')) cats.add('@write');
  if (s.flags.includes('readonly')) cats.add('@read');
  cats.add(s.flags.includes('fast') ? '@fast' : '@slow');
  if (s.flags.includes('admin')) cats.add('@admin').add('@dangerous');
  if (s.flags.includes('blocking')) cats.add('@blocking');
  if (s.flags.includes('pubsub')) cats.add('@pubsub');
  for (const c of s.acl ?? [GROUP_CATEGORY[s.group]]) if (c !== undefined) cats.add(c);
  return ACL_ORDER.filter((c) => cats.has(c));
}

function writeKeySpecs(out: ReplyWriter, specs: readonly KeySpec[]): void {
  out.set(specs.length);
  for (const k of specs) {
    out.map(k.notes === undefined ? 3 : 4);
    if (k.notes !== undefined) {
      out.bulk('notes');
      out.bulk(k.notes);
    }
    out.bulk('flags');
    out.set(k.flags.length);
    for (const f of k.flags) out.simple(f);
    out.bulk('begin_search');
    out.map(2);
    out.bulk('type');
    out.bulk(k.begin.type);
    out.bulk('spec');
    if (k.begin.type === 'unknown') out.map(0);
    else if (k.begin.type === 'index') {
      out.map(1);
      out.bulk('index');
      out.integer(k.begin.index);
    } else {
      out.map(2);
      out.bulk('keyword');
      out.bulk(k.begin.keyword);
      out.bulk('startfrom');
      out.integer(k.begin.startfrom);
    }
    out.bulk('find_keys');
    out.map(2);
    out.bulk('type');
    out.bulk(k.find.type);
    out.bulk('spec');
    if (k.find.type === 'unknown') {
      out.map(0);
      continue;
    }
    out.map(3);
    if (k.find.type === 'range') {
      out.bulk('lastkey');
      out.integer(k.find.lastkey);
      out.bulk('keystep');
      out.integer(k.find.keystep);
      out.bulk('limit');
      out.integer(k.find.limit);
    } else {
      out.bulk('keynumidx');
      out.integer(k.find.keynumidx);
      out.bulk('firstkey');
      out.integer(k.find.firstkey);
      out.bulk('keystep');
      out.integer(k.find.keystep);
    }
  }
}

/** A command's flags as COMMAND prints them: Redis's names in its order, `movablekeys` derived from the key specs. */
function infoFlags(s: CommandSpec, keys: readonly KeySpec[]): string[] {
  const names = s.flags.map((f) => FLAG_NAMES[f]);
  if (isMovable(keys)) names.push('movablekeys');
  return FLAG_ORDER.filter((f) => names.includes(f));
}

/**
 * One COMMAND / COMMAND INFO entry: [name, arity, flags, first, last, step, acl, tips,
 * key-specs, subcommands]. A container (CONFIG, CLIENT...) has no flags or keys of its own and
 * is @slow, as in Redis; its subcommands carry its flags and their own keys.
 */
function writeCommandInfo(out: ReplyWriter, s: CommandSpec, sub: string | null = null): void {
  const isContainer = sub === null && s.subcommands !== undefined;
  const keys = isContainer ? [] : keySpecsOf(s, sub);
  out.array(10);
  out.bulk(sub === null ? s.name : `${s.name}|${sub}`);
  out.integer(sub === null ? s.arity : (s.subcommandArity?.[sub] ?? -2));
  const flags = isContainer ? [] : infoFlags(s, keys);
  out.set(flags.length);
  for (const f of flags) out.simple(f);
  const triple = legacyRange(keys);
  out.integer(triple.firstKey);
  out.integer(triple.lastKey);
  out.integer(triple.keyStep);
  const cats = isContainer ? ['@slow'] : aclCategories(s);
  out.set(cats.length);
  for (const c of cats) out.simple(c);
  out.set(0);
  writeKeySpecs(out, keys);
  const subs = sub === null ? (s.subcommands ?? []) : [];
  out.set(subs.length);
  for (const x of subs) writeCommandInfo(out, s, x);
}

function writeCommandDocs(out: ReplyWriter, s: CommandSpec, sub: string | null = null): void {
  const subs = sub === null ? (s.subcommands ?? []) : [];
  out.map(subs.length > 0 ? 5 : 4);
  out.bulk('summary');
  out.bulk(sub === null ? s.summary : `${s.name.toUpperCase()} ${sub.toUpperCase()}`);
  out.bulk('since');
  out.bulk('1.0.0');
  out.bulk('group');
  out.bulk(s.group);
  out.bulk('syntax');
  out.bulk(sub === null ? s.syntax : '');
  if (subs.length > 0) {
    out.bulk('subcommands');
    out.map(subs.length);
    for (const x of subs) {
      out.bulk(`${s.name}|${x}`);
      writeCommandDocs(out, s, x);
    }
  }
}

/** A command or `container|subcommand` name as COMMAND INFO/DOCS take it; null when there is none. */
function resolveName(table: CommandTableView, name: string): [CommandSpec, string | null] | null {
  const bar = name.indexOf('|');
  const s = table.get(bar < 0 ? name : name.slice(0, bar));
  if (s === undefined) return null;
  if (bar < 0) return [s, null];
  const sub = name.slice(bar + 1);
  return s.subcommands?.includes(sub) === true ? [s, sub] : null;
}

/** Every name COMMAND LIST gives: each command, then its subcommands as `container|sub` (Redis 7). */
function allNames(table: CommandTableView): string[] {
  const out: string[] = [];
  for (const s of table) {
    out.push(s.name);
    for (const sub of s.subcommands ?? []) out.push(`${s.name}|${sub}`);
  }
  return out;
}

const COMMAND_HELP = [
  'COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  '(no subcommand)', '    Return details about all commands.',
  'COUNT', '    Return the total number of commands.',
  'GETKEYS <full-command>', '    Return the keys from a full command.',
  'GETKEYSANDFLAGS <full-command>', '    Return the keys and the access flags from a full command.',
  'INFO [<command-name> ...]', '    Return details about the given commands, or all of them.',
  'DOCS [<command-name> ...]', '    Return documentation details about the given commands, or all of them.',
  'LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]', '    Return a list of all command names.',
  'HELP', '    Print this help.',
];

/** COMMAND GETKEYS / GETKEYSANDFLAGS with Redis 7.0's checks and errors, in its order. */
function commandGetKeys(ctx: CommandContext, argv: readonly Buffer[], withFlags: boolean): void {
  const out = ctx.out;
  const target = argv.slice(2);
  const s = ctx.server.commands.get(lower(target[0]));
  if (s === undefined) return out.error('ERR Invalid command specified');
  // A container's keys are its subcommand's (MEMORY USAGE key), as Redis looks them up.
  const sub = s.subcommands !== undefined && target.length > 1 ? lower(target[1]) : null;
  if (sub !== null && !s.subcommands?.includes(sub)) return out.error('ERR Invalid command specified');
  // Shard channels (not_key) are not keys to GETKEYS.
  const specs = (s.subcommands === undefined ? keySpecsOf(s, null) : sub === null ? [] : keySpecsOf(s, sub)).filter((k) => !k.flags.includes('not_key'));
  if (specs.length === 0) return out.error('ERR The command has no key arguments');
  const arity = sub === null ? s.arity : (s.subcommandArity?.[sub] ?? -2);
  if (!arityOk({ ...s, arity }, target.length)) return out.error('ERR Invalid number of arguments specified for command');
  const keys = keyPositions(specs, target);
  // A command whose keys are optional (EVAL with numkeys 0) has none to show.
  if (keys === null && s.flags.includes('no_mandatory_keys')) return out.array(0);
  if (keys === null) return out.error('ERR Invalid arguments specified for command');
  out.array(keys.length);
  for (const [i, k] of keys) {
    if (!withFlags) {
      out.bulk(target[i] as Buffer);
      continue;
    }
    const flags = k.resolve?.(target) ?? k.flags;
    out.array(2);
    out.bulk(target[i] as Buffer);
    out.set(flags.length);
    for (const f of flags) out.simple(f);
  }
}

function commandCmd(ctx: CommandContext, argv: readonly Buffer[]): void {
  const out = ctx.out;
  const table = ctx.server.commands;
  if (argv.length === 1) {
    out.array(table.size);
    for (const s of table) writeCommandInfo(out, s);
    return;
  }
  const sub = lower(argv[1]);
  switch (sub) {
    case 'count':
      return argv.length === 2 ? out.integer(table.size) : out.error("ERR wrong number of arguments for 'command|count' command");
    case 'info': {
      const names = argv.length === 2 ? [...table.names()] : argv.slice(2).map((b) => lower(b));
      out.array(names.length);
      for (const n of names) {
        const r = resolveName(table, n);
        if (r === null) out.nullBulk();
        else writeCommandInfo(out, r[0], r[1]);
      }
      return;
    }
    case 'docs': {
      const found = argv.length === 2 ? [...table].map((s): [CommandSpec, null] => [s, null]) : argv.slice(2).map((b) => resolveName(table, lower(b))).filter((r) => r !== null);
      out.map(found.length);
      for (const [s, x] of found) {
        out.bulk(x === null ? s.name : `${s.name}|${x}`);
        writeCommandDocs(out, s, x);
      }
      return;
    }
    case 'list': {
      let names = allNames(table);
      if (argv.length === 5 && lower(argv[2]) === 'filterby') {
        const kind = lower(argv[3]);
        const v = str(argv[4]);
        if (kind === 'pattern') names = names.filter((n) => globMatch(v, n, true));
        else if (kind === 'aclcat') {
          const cat = `@${v.toLowerCase()}`;
          names = names.filter((n) => {
            const [s, x] = resolveName(table, n) as [CommandSpec, string | null];
            return (s.subcommands !== undefined && x === null ? ['@slow'] : aclCategories(s)).includes(cat);
          });
        } else if (kind === 'module') names = [];
        else return out.error('ERR syntax error');
      } else if (argv.length !== 2) return out.error('ERR syntax error');
      out.array(names.length);
      for (const n of names) out.bulk(n);
      return;
    }
    case 'getkeys':
    case 'getkeysandflags':
      if (argv.length < 4) return out.error(`ERR wrong number of arguments for 'command|${sub}' command`);
      return commandGetKeys(ctx, argv, sub === 'getkeysandflags');
    case 'help':
      if (argv.length !== 2) return out.error("ERR wrong number of arguments for 'command|help' command");
      out.array(COMMAND_HELP.length);
      for (const l of COMMAND_HELP) out.simple(l);
      return;
    default:
      return out.error(`ERR unknown subcommand '${str(argv[1])}'. Try COMMAND HELP.`);
  }
}

const CONFIG_HELP: readonly string[] = [
  'CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'GET <pattern>',
  '    Return parameters matching the glob-like <pattern> and their values.',
  'SET <directive> <value>',
  '    Set the configuration <directive> to <value>.',
  'RESETSTAT',
  '    Reset statistics reported by the INFO command.',
  'REWRITE',
  '    Rewrite the configuration file.',
  'HELP',
  '    Prints this help.',
];

function configCmd(ctx: CommandContext, argv: readonly Buffer[]): void {
  const out = ctx.out;
  const sub = lower(argv[1]);
  switch (sub) {
    case 'get': {
      if (argv.length < 3) return out.error("ERR wrong number of arguments for 'config|get' command");
      const found = ctx.server.configGet(argv.slice(2).map(str));
      out.map(found.length);
      for (const [k, v] of found) {
        out.bulk(k);
        out.bulk(v);
      }
      return;
    }
    case 'set': {
      if (argv.length < 4 || argv.length % 2 !== 0) return out.error("ERR wrong number of arguments for 'config|set' command");
      // Redis 7 applies all pairs or none (config.ts configSetMany).
      const pairs: Array<[string, string]> = [];
      for (let i = 2; i < argv.length; i += 2) pairs.push([str(argv[i]), str(argv[i + 1])]);
      const r = ctx.server.configSet(pairs, ctx.defer !== undefined);
      if (!(r instanceof Promise)) return r === null ? out.ok() : out.error(`ERR ${r}`);
      const reply = (ctx.defer as NonNullable<CommandContext['defer']>)();
      void r.then((err) => reply((o) => (err === null ? o.ok() : o.error(`ERR ${err}`))));
      return;
    }
    case 'resetstat':
      if (argv.length !== 2) return out.error("ERR wrong number of arguments for 'config|resetstat' command");
      ctx.server.resetStats?.();
      return out.ok();
    case 'rewrite': {
      if (argv.length !== 2) return out.error("ERR wrong number of arguments for 'config|rewrite' command");
      const rewrite = ctx.server.configRewrite;
      const err = rewrite === undefined ? 'The server is running without a config file' : rewrite();
      return err === null ? out.ok() : out.error(`ERR ${err}`);
    }
    case 'help':
      // Redis 7.0's text, line for line.
      out.array(CONFIG_HELP.length);
      for (const line of CONFIG_HELP) out.simple(line);
      return;
    default:
      return out.error(`ERR unknown subcommand '${str(argv[1])}'. Try CONFIG HELP.`);
  }
}

const SHUTDOWN_OPTIONS = new Set(['nosave', 'save', 'now', 'force', 'abort']);

function shutdownCmd(ctx: CommandContext, argv: readonly Buffer[]): void {
  const opts = argv.slice(1).map((b) => lower(b));
  for (const o of opts) if (!SHUTDOWN_OPTIONS.has(o)) return ctx.out.error('ERR syntax error');
  if (opts.includes('abort')) {
    if (opts.length > 1) return ctx.out.error('ERR syntax error');
    return ctx.out.error('ERR No shutdown in progress.');
  }
  // A script running past busy-reply-threshold: only SHUTDOWN NOSAVE ends the server (Redis's
  // rule); the script's writes, never logged before it ends, are lost with it.
  const busy = ctx.server.scripting?.busy() ?? null;
  if (busy !== null && !opts.includes('nosave')) return ctx.out.error(busy.busyError);
  // kv-ts always flushes and fsyncs its log on shutdown (NOSAVE only skips Redis's RDB dump,
  // which kv-ts does not have). Like Redis, no reply: the connection closes as the server exits.
  ctx.server.shutdown();
}

function spec(name: string, arity: number, flags: CommandFlag[], summary: string, syntax: string, handler: CommandSpec['handler'], subcommandArity?: Record<string, number>): CommandSpec {
  const subs = subcommandArity === undefined ? {} : { subcommands: Object.keys(subcommandArity), subcommandArity };
  return { name, arity, flags, firstKey: 0, lastKey: 0, keyStep: 0, summary, syntax, group: 'server', handler, ...subs };
}

export const adminCommands: CommandModule = [
  spec('command', -1, ['loading', 'stale'], 'Details about the commands of this server.', '[COUNT | INFO [name ...] | DOCS [name ...] | LIST [FILTERBY MODULE m | ACLCAT c | PATTERN p] | GETKEYS cmd ... | GETKEYSANDFLAGS cmd ...]', commandCmd, { count: 2, info: -2, docs: -2, list: -2, getkeys: -4, getkeysandflags: -4, help: 2 }),
  spec('config', -2, ['admin', 'loading', 'stale'], 'Read or change server settings.', 'GET pattern [pattern ...] | SET name value [name value ...] | RESETSTAT | REWRITE', configCmd, { get: -3, set: -4, resetstat: 2, rewrite: 2, help: 2 }),
  { ...spec('info', -1, ['loading', 'stale'], 'Information and statistics about the server.', '[section [section ...]]', (ctx, argv) => {
    ctx.out.verbatim(ctx.server.info(argv.slice(1).map((b) => lower(b))));
  }), acl: ['@dangerous'] },
  spec('shutdown', -1, ['admin', 'loading', 'stale', 'noscript', 'no_multi', 'allow_busy'], 'Flush and fsync the log, close the store and exit.', '[NOSAVE | SAVE] [NOW] [FORCE] [ABORT]', shutdownCmd),
];
