// The ACL command (Redis 7.0): SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, LOG,
// GENPASS, DRYRUN, SAVE, LOAD, HELP, in Redis's reply shapes and error texts. A change to the
// users (SETUSER, DELUSER, LOAD) is logged as one 'acl' op holding the whole table it leaves,
// then applied from the store (ctx.server.acl.applyLogged), so a primary, its replicas and a
// restart all build the table from the same entries. Never edits the user table directly.

import { randomBytes } from 'node:crypto';
import type { AclServices, CommandContext, CommandModule, CommandSpec } from '../command-types.js';
import { ACL_CATEGORIES, AclUser, describeChannels, describeCommands, describeKeys, describeUserRules, dryRunText, encodeUsers, formatAclFile, parseAclFile, userFlags, type Selector } from '../acl.js';
import { arityOk } from './table.js';
import { ERR_NOT_INTEGER, parseInt64 } from './args.js';

const str = (b: Buffer | undefined): string => (b === undefined ? '' : b.toString('utf8'));
const lower = (b: Buffer | undefined): string => str(b).toLowerCase();

/** Redis's bound on ACL GENPASS's bits. */
const GENPASS_BITS_MAX = 4096;
const GENPASS_BITS_DEFAULT = 256;

const ACL_HELP = [
  'ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'CAT [<category>]', '    List all commands that belong to <category>, or all command categories', '    when no category is specified.',
  'DELUSER <username> [<username> ...]', '    Delete a list of users.',
  'DRYRUN <username> <command> [<arg> ...]', '    Returns whether the user can execute the given command without executing the command.',
  'GETUSER <username>', "    Get the user's details.",
  'GENPASS [<bits>]', '    Generate a secure 256-bit user password. The optional `bits` argument can', '    be used to specify a different size.',
  'LIST', '    Show users details in config file format.',
  'LOAD', '    Reload users from the ACL file.',
  'LOG [<count> | RESET]', '    Show the ACL log entries.',
  'SAVE', '    Save the current config to the ACL file.',
  'SETUSER <username> <attribute> [<attribute> ...]', '    Create or modify a user with the specified attributes.',
  'USERS', '    List all the registered usernames.',
  'WHOAMI', '    Return the current connection username.',
  'HELP', '    Print this help.',
];

/** Redis 7.0's error for ACL CAT, GENPASS and LOG with too many arguments (the subcommand as sent). */
function wrongArgs(argv: readonly Buffer[]): string {
  const sub = str(argv[1]);
  return `ERR unknown subcommand or wrong number of arguments for '${sub}'. Try ACL HELP.`;
}

/** Redis's arities of ACL's subcommands (counting "acl"). */
const ACL_SUBCOMMAND_ARITY: Readonly<Record<string, number>> = {
  setuser: -3, getuser: 3, deluser: -3, list: 2, users: 2, whoami: 2, cat: -2, log: -2, genpass: -2, dryrun: -4, save: 2, load: 2, help: 2,
};

/** Log the table with `users` replacing (or, null, removing) the named entries, then apply it. */
function logTable(ctx: CommandContext, acl: AclServices, changes: ReadonlyMap<string, AclUser | null>): void {
  const entries = acl.table.serialize().filter(([n]) => !changes.has(n));
  for (const u of changes.values()) if (u !== null) entries.push([u.name, describeUserRules(u)]);
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  ctx.write([{ t: 'acl', users: encodeUsers(entries) }]);
  acl.applyLogged(ctx.client.id);
}

function writeSelector(ctx: CommandContext, s: Selector): void {
  const out = ctx.out;
  out.bulk('commands');
  out.bulk(describeCommands(s));
  out.bulk('keys');
  out.bulk(describeKeys(s));
  out.bulk('channels');
  out.bulk(describeChannels(s));
}

function getUser(ctx: CommandContext, acl: AclServices, name: string): void {
  const out = ctx.out;
  const u = acl.table.get(name);
  if (u === undefined) return out.nullBulk();
  out.map(6);
  out.bulk('flags');
  const flags = userFlags(u);
  out.set(flags.length);
  for (const f of flags) out.bulk(f);
  out.bulk('passwords');
  out.array(u.passwords.length);
  for (const p of u.passwords) out.bulk(p);
  writeSelector(ctx, u.root);
  out.bulk('selectors');
  const extra = u.selectors.slice(1);
  out.array(extra.length);
  for (const s of extra) {
    out.map(3);
    writeSelector(ctx, s);
  }
}

function aclLog(ctx: CommandContext, acl: AclServices, argv: readonly Buffer[]): void {
  const out = ctx.out;
  let count = 10;
  if (argv.length === 3) {
    if (lower(argv[2]) === 'reset') {
      acl.log.reset();
      return out.ok();
    }
    const n = parseInt64(argv[2] as Buffer);
    if (n === null) return out.error(ERR_NOT_INTEGER);
    count = n < 0n ? 0 : Number(n > 1_000_000_000n ? 1_000_000_000n : n);
  } else if (argv.length > 3) return out.error(wrongArgs(argv));
  const now = Date.now();
  const entries = acl.log.newest(count);
  out.array(entries.length);
  for (const e of entries) {
    out.map(7);
    out.bulk('count');
    out.integer(e.count);
    out.bulk('reason');
    out.bulk(e.reason);
    out.bulk('context');
    out.bulk(e.context);
    out.bulk('object');
    out.bulk(e.object);
    out.bulk('username');
    out.bulk(e.username);
    out.bulk('age-seconds');
    out.double((now - e.createdMs) / 1000);
    out.bulk('client-info');
    out.bulk(e.clientInfo);
  }
}

function dryRun(ctx: CommandContext, acl: AclServices, argv: readonly Buffer[]): void {
  const out = ctx.out;
  const u = acl.table.get(str(argv[2]));
  if (u === undefined) return out.error(`ERR User '${str(argv[2])}' not found`);
  const target = argv.slice(3);
  const spec = ctx.server.commands.get(lower(target[0]));
  if (spec === undefined) return out.error(`ERR Command '${str(target[0])}' not found`);
  if (!arityOk(spec, target.length)) return out.error(`ERR wrong number of arguments for '${spec.name}' command`);
  const d = acl.table.check(u, spec, target);
  if (d === null) return out.ok();
  out.bulk(dryRunText(d));
}

/** Redis refuses user names it could not write back to an aclfile line. */
function validUserName(name: string): boolean {
  return name !== '' && !/[\s\0]/.test(name);
}

function setUser(ctx: CommandContext, acl: AclServices, argv: readonly Buffer[]): void {
  const name = str(argv[2]);
  if (!validUserName(name)) return ctx.out.error("ERR Usernames can't contain spaces or null characters");
  const u = acl.table.edit(name, argv.slice(3).map(str));
  if (typeof u === 'string') return ctx.out.error(`ERR ${u}`);
  logTable(ctx, acl, new Map([[name, u]]));
  ctx.out.ok();
}

function delUser(ctx: CommandContext, acl: AclServices, argv: readonly Buffer[]): void {
  const names = argv.slice(2).map(str);
  if (names.includes('default')) return ctx.out.error("ERR The 'default' user cannot be removed");
  const gone = new Map<string, null>();
  for (const n of names) if (acl.table.get(n) !== undefined) gone.set(n, null);
  if (gone.size > 0) logTable(ctx, acl, gone);
  ctx.out.integer(gone.size);
}

function load(ctx: CommandContext, acl: AclServices): void {
  const file = acl.readAclFile();
  if ('error' in file) return ctx.out.error(`ERR ${file.error}`);
  const parsed = parseAclFile(file.text);
  if (typeof parsed === 'string') return ctx.out.error(`ERR ${ctx.server.configGet(['aclfile'])[0]?.[1] ?? ''}:${parsed}`);
  const users = acl.table.parseUsers(parsed);
  if (typeof users === 'string') return ctx.out.error(`ERR ${users}`);
  // The file replaces the whole table (a default user it omits is reset to Redis's default).
  const changes = new Map<string, AclUser | null>();
  for (const [n] of acl.table.serialize()) changes.set(n, null);
  for (const u of users) changes.set(u.name, u);
  logTable(ctx, acl, changes);
  ctx.out.ok();
}

function aclCmd(ctx: CommandContext, argv: readonly Buffer[]): void {
  const out = ctx.out;
  const acl = ctx.server.acl;
  if (acl === undefined) return out.error('ERR this server has no user table');
  const sub = lower(argv[1]);
  switch (sub) {
    case 'setuser':
      return setUser(ctx, acl, argv);
    case 'getuser':
      return getUser(ctx, acl, str(argv[2]));
    case 'deluser':
      return delUser(ctx, acl, argv);
    case 'list': {
      const entries = acl.table.serialize();
      out.array(entries.length);
      for (const [n, rules] of entries) out.bulk(`user ${n} ${rules.join(' ')}`);
      return;
    }
    case 'users': {
      const names = acl.table.names();
      out.array(names.length);
      for (const n of names) out.bulk(n);
      return;
    }
    case 'whoami':
      return out.bulk(ctx.client.user?.name ?? 'default');
    case 'cat': {
      if (argv.length > 3) return out.error(wrongArgs(argv));
      if (argv.length === 2) {
        out.array(ACL_CATEGORIES.length);
        for (const c of ACL_CATEGORIES) out.bulk(c);
        return;
      }
      const names = acl.table.commandsIn(str(argv[2]));
      if (names === null) return out.error(`ERR Unknown category '${str(argv[2])}'`);
      out.array(names.length);
      for (const n of names) out.bulk(n);
      return;
    }
    case 'log':
      return aclLog(ctx, acl, argv);
    case 'genpass': {
      if (argv.length > 3) return out.error(wrongArgs(argv));
      let bits = GENPASS_BITS_DEFAULT;
      if (argv.length === 3) {
        const n = parseInt64(argv[2] as Buffer);
        if (n === null) return out.error(ERR_NOT_INTEGER);
        if (n <= 0n || n > BigInt(GENPASS_BITS_MAX)) return out.error(`ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to ${GENPASS_BITS_MAX}`);
        bits = Number(n);
      }
      const chars = Math.ceil(bits / 4);
      return out.bulk(randomBytes(Math.ceil(chars / 2)).toString('hex').slice(0, chars));
    }
    case 'dryrun':
      return dryRun(ctx, acl, argv);
    case 'save': {
      const err = acl.writeAclFile(formatAclFile(acl.table.serialize()));
      return err === null ? out.ok() : out.error(`ERR ${err}`);
    }
    case 'load':
      return load(ctx, acl);
    case 'help':
      out.array(ACL_HELP.length);
      for (const l of ACL_HELP) out.simple(l);
      return;
    default:
      return out.error(`ERR unknown subcommand '${str(argv[1])}'. Try ACL HELP.`);
  }
}

const aclSpec: CommandSpec = {
  name: 'acl',
  arity: -2,
  flags: ['admin', 'noscript', 'loading', 'stale'],
  firstKey: 0,
  lastKey: 0,
  keyStep: 0,
  summary: 'Users and their permissions: create, inspect, delete, check, save and load them.',
  syntax: 'subcommand [arg ...]',
  group: 'server',
  handler: aclCmd,
  subcommands: ['cat', 'deluser', 'dryrun', 'genpass', 'getuser', 'list', 'load', 'log', 'save', 'setuser', 'users', 'whoami', 'help'],
  subcommandArity: ACL_SUBCOMMAND_ARITY,
  writeSubcommands: ['setuser', 'deluser', 'load'],
};

export const aclCommands: CommandModule = [aclSpec];
