// Server administration commands: COMMAND (introspection of the server's command table),
// CONFIG, INFO and SHUTDOWN, in Redis 7's reply formats. They reach the table and everything
// else through ServerServices; they never touch sockets, the keyspace or the store directly.

import type { CommandContext, CommandFlag, CommandModule, CommandSpec } from '../command-types.js';
import type { ReplyWriter } from '../../protocol/reply.js';
import { arityOk } from './table.js';
import { globMatch } from '../../storage/glob.js';

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
};

function aclCategories(s: CommandSpec): string[] {
  const cats: string[] = [];
  if (s.flags.includes('write')) cats.push('@write');
  if (s.flags.includes('readonly')) cats.push('@read');
  cats.push(s.flags.includes('fast') ? '@fast' : '@slow');
  if (s.flags.includes('admin')) cats.push('@admin', '@dangerous');
  if (s.group === 'string') cats.push('@string');
  else if (s.group === 'generic' || s.group === 'keyspace') cats.push('@keyspace');
  else if (s.group === 'connection') cats.push('@connection');
  else if (s.group === 'hash') cats.push('@hash');
  else if (s.group === 'set') cats.push('@set');
  else if (s.group === 'sorted-set') cats.push('@sortedset');
  else if (s.group === 'list') cats.push('@list');
  else if (s.group === 'transactions') cats.push('@transaction');
  else if (s.group === 'pubsub') cats.push('@pubsub');
  return cats;
}

/** Redis 7 key-spec for a fixed range: begin_search by index, find_keys by range. */
function writeKeySpecs(out: ReplyWriter, s: CommandSpec): void {
  if (s.firstKey === 0) return out.array(0);
  out.array(1);
  out.map(3);
  out.bulk('flags');
  const flags = s.flags.includes('write') ? ['RW', 'UPDATE'] : ['RO', 'ACCESS'];
  out.array(flags.length);
  for (const f of flags) out.simple(f);
  out.bulk('begin_search');
  out.map(2);
  out.bulk('type');
  out.bulk('index');
  out.bulk('spec');
  out.map(1);
  out.bulk('index');
  out.integer(s.firstKey);
  out.bulk('find_keys');
  out.map(2);
  out.bulk('type');
  out.bulk('range');
  out.bulk('spec');
  out.map(3);
  out.bulk('lastkey');
  out.integer(s.lastKey < 0 ? s.lastKey : s.lastKey - s.firstKey);
  out.bulk('keystep');
  out.integer(s.keyStep);
  out.bulk('limit');
  out.integer(0);
}

/** One COMMAND / COMMAND INFO entry: [name, arity, flags, first, last, step, acl, tips, key-specs, subcommands]. */
function writeCommandInfo(out: ReplyWriter, s: CommandSpec, fullName = s.name, isSub = false): void {
  out.array(10);
  out.bulk(fullName);
  out.integer(isSub ? -2 : s.arity);
  const flags = s.flags.map((f) => FLAG_NAMES[f]);
  out.set(flags.length);
  for (const f of flags) out.simple(f);
  out.integer(s.firstKey);
  out.integer(s.lastKey);
  out.integer(s.keyStep);
  const cats = aclCategories(s);
  out.set(cats.length);
  for (const c of cats) out.simple(c);
  out.set(0);
  writeKeySpecs(out, s);
  const subs = isSub ? [] : (s.subcommands ?? []);
  out.array(subs.length);
  for (const sub of subs) writeCommandInfo(out, s, `${s.name}|${sub}`, true);
}

function writeCommandDocs(out: ReplyWriter, s: CommandSpec): void {
  const subs = s.subcommands ?? [];
  out.map(subs.length > 0 ? 5 : 4);
  out.bulk('summary');
  out.bulk(s.summary);
  out.bulk('since');
  out.bulk('1.0.0');
  out.bulk('group');
  out.bulk(s.group);
  out.bulk('syntax');
  out.bulk(s.syntax);
  if (subs.length > 0) {
    out.bulk('subcommands');
    out.map(subs.length);
    for (const sub of subs) {
      out.bulk(`${s.name}|${sub}`);
      out.map(3);
      out.bulk('summary');
      out.bulk(`${s.name.toUpperCase()} ${sub.toUpperCase()}`);
      out.bulk('since');
      out.bulk('1.0.0');
      out.bulk('group');
      out.bulk(s.group);
    }
  }
}

const COMMAND_HELP = [
  'COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  '(no subcommand)', '    Return details about all commands.',
  'COUNT', '    Return the total number of commands.',
  'GETKEYS <full-command>', '    Return the keys from a full command.',
  'INFO [<command-name> ...]', '    Return details about the given commands, or all of them.',
  'DOCS [<command-name> ...]', '    Return documentation details about the given commands, or all of them.',
  'LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]', '    Return a list of all command names.',
  'HELP', '    Print this help.',
];

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
        const s = table.get(n);
        if (s === undefined) out.nullArray();
        else writeCommandInfo(out, s);
      }
      return;
    }
    case 'docs': {
      const specs = argv.length === 2 ? [...table] : argv.slice(2).map((b) => table.get(lower(b))).filter((s): s is CommandSpec => s !== undefined);
      out.map(specs.length);
      for (const s of specs) {
        out.bulk(s.name);
        writeCommandDocs(out, s);
      }
      return;
    }
    case 'list': {
      let names = [...table.names()];
      if (argv.length === 5 && lower(argv[2]) === 'filterby') {
        const kind = lower(argv[3]);
        const v = str(argv[4]);
        if (kind === 'pattern') names = names.filter((n) => globMatch(v, n, true));
        else if (kind === 'aclcat') names = names.filter((n) => aclCategories(table.get(n) as CommandSpec).includes(`@${v.toLowerCase()}`));
        else if (kind === 'module') names = [];
        else return out.error('ERR syntax error');
      } else if (argv.length !== 2) return out.error('ERR syntax error');
      out.array(names.length);
      for (const n of names) out.bulk(n);
      return;
    }
    case 'getkeys': {
      if (argv.length < 3) return out.error("ERR wrong number of arguments for 'command|getkeys' command");
      const target = argv.slice(2);
      const s = table.get(lower(target[0]));
      if (s === undefined) return out.error('ERR Invalid command specified');
      if (!arityOk(s, target.length)) return out.error('ERR Invalid number of arguments specified for command');
      if (s.firstKey === 0) return out.error('ERR The command has no key arguments');
      const last = s.lastKey < 0 ? target.length + s.lastKey : s.lastKey;
      const keys: Buffer[] = [];
      for (let i = s.firstKey; i <= last && i < target.length; i += Math.max(1, s.keyStep)) keys.push(target[i] as Buffer);
      out.array(keys.length);
      for (const k of keys) out.bulk(k);
      return;
    }
    case 'help':
      out.array(COMMAND_HELP.length);
      for (const l of COMMAND_HELP) out.simple(l);
      return;
    default:
      return out.error(`ERR unknown subcommand '${str(argv[1])}'. Try COMMAND HELP.`);
  }
}

function configCmd(ctx: CommandContext, argv: readonly Buffer[]): void {
  const out = ctx.out;
  const sub = lower(argv[1]);
  switch (sub) {
    case 'get': {
      if (argv.length < 3) return out.error("ERR wrong number of arguments for 'config|get' command");
      const seen = new Map<string, string>();
      for (const p of argv.slice(2)) for (const [k, v] of ctx.server.configGet(str(p))) seen.set(k, v);
      out.map(seen.size);
      for (const [k, v] of seen) {
        out.bulk(k);
        out.bulk(v);
      }
      return;
    }
    case 'set': {
      if (argv.length < 4 || argv.length % 2 !== 0) return out.error("ERR wrong number of arguments for 'config|set' command");
      // Redis 7 applies all pairs or none: validate on a dry run first by remembering old values.
      const pairs: Array<[string, string]> = [];
      for (let i = 2; i < argv.length; i += 2) pairs.push([str(argv[i]), str(argv[i + 1])]);
      const old: Array<[string, string]> = [];
      for (const [k, v] of pairs) {
        const before = ctx.server.configGet(k).find(([n]) => n === k.toLowerCase());
        const err = ctx.server.configSet(k, v);
        if (err !== null) {
          for (const [ok, ov] of old.reverse()) ctx.server.configSet(ok, ov);
          return out.error(`ERR ${err}`);
        }
        if (before !== undefined) old.push([before[0], before[1]]);
      }
      return out.ok();
    }
    case 'resetstat':
      if (argv.length !== 2) return out.error("ERR wrong number of arguments for 'config|resetstat' command");
      ctx.server.resetStats?.();
      return out.ok();
    case 'rewrite':
      return out.error('ERR CONFIG REWRITE is not supported by kv-ts (edit the --config file instead)');
    case 'help':
      out.array(6);
      out.simple('CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:');
      out.simple('GET <pattern> [<pattern> ...]');
      out.simple('SET <directive> <value> [<directive> <value> ...]');
      out.simple('RESETSTAT');
      out.simple('HELP');
      out.simple('    Print this help.');
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
  // kv-ts always flushes and fsyncs its log on shutdown (NOSAVE only skips Redis's RDB dump,
  // which kv-ts does not have). Like Redis, no reply: the connection closes as the server exits.
  ctx.server.shutdown();
}

function spec(name: string, arity: number, flags: CommandFlag[], summary: string, syntax: string, handler: CommandSpec['handler'], subcommands?: string[]): CommandSpec {
  return { name, arity, flags, firstKey: 0, lastKey: 0, keyStep: 0, summary, syntax, group: 'server', handler, ...(subcommands ? { subcommands } : {}) };
}

export const adminCommands: CommandModule = [
  spec('command', -1, ['loading', 'stale'], 'Details about the commands of this server.', '[COUNT | INFO [name ...] | DOCS [name ...] | LIST | GETKEYS cmd ...]', commandCmd, ['count', 'info', 'docs', 'list', 'getkeys', 'help']),
  spec('config', -2, ['admin', 'loading', 'stale'], 'Read or change server settings.', 'GET pattern [pattern ...] | SET name value [name value ...] | RESETSTAT', configCmd, ['get', 'set', 'resetstat', 'help']),
  spec('info', -1, ['loading', 'stale'], 'Information and statistics about the server.', '[section [section ...]]', (ctx, argv) => {
    ctx.out.verbatim(ctx.server.info(argv.slice(1).map((b) => lower(b))));
  }),
  spec('shutdown', -1, ['admin', 'loading', 'stale', 'noscript', 'no_multi'], 'Flush and fsync the log, close the store and exit.', '[NOSAVE | SAVE] [NOW] [FORCE] [ABORT]', shutdownCmd),
];
