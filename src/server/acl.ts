// Users and their permissions (Redis 7.0 ACL semantics): the rule language of ACL SETUSER,
// each user's selectors (commands, key patterns with read/write flags, channel patterns), the
// permission check the dispatcher runs, the descriptions ACL LIST / GETUSER print, and the
// serialized user table that the log carries (one 'acl' op holds the whole table).
// Owns the user objects (clients keep references to them: a change is made in place);
// never writes to the log or to sockets: the ACL command logs, the server applies.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { CommandSpec, CommandTableView } from './command-types.js';
import { aclCategories } from './commands/admin.js';
import { keyPositions, keySpecsOf } from './commands/key-specs.js';
import { subcommandOf } from './latency.js';
import { globMatch } from '../storage/glob.js';

/** Redis's ACL categories, in the order ACL CAT lists them. */
export const ACL_CATEGORIES = [
  'keyspace', 'read', 'write', 'set', 'sortedset', 'list', 'hash', 'string', 'bitmap', 'hyperloglog', 'geo', 'stream', 'pubsub',
  'admin', 'fast', 'slow', 'blocking', 'dangerous', 'connection', 'transaction', 'scripting',
] as const;

const KEY_READ = 1;
const KEY_WRITE = 2;

/** Users one table may hold: bounds a replayed or loaded table and what SETUSER can grow. */
export const ACL_USERS_MAX = 10_000;
/** Rules (and patterns) one selector may hold. */
export const ACL_RULES_PER_SELECTOR_MAX = 10_000;

/** Redis's texts for a refused SETUSER modifier. */
const ERR_SYNTAX = 'Syntax error';
const ERR_UNKNOWN = 'Unknown command or category name in ACL';
const ERR_AFTER_ALLKEYS = "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns";
const ERR_AFTER_ALLCHANNELS = "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels";
const ERR_NO_PASSWORD = 'The password you are trying to remove from the user does not exist';
const ERR_BAD_HASH = 'The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters';

export function passwordHash(pass: Buffer | string): string {
  return createHash('sha256').update(pass).digest('hex');
}

interface KeyPattern {
  readonly pattern: string;
  flags: number;
}

/** One selector: what commands it allows and on which keys and channels. The root selector is the user's own. */
export class Selector {
  allKeys = false;
  keys: KeyPattern[] = [];
  allChannels = false;
  channels: string[] = [];
  /** Starts from +@all (so commands added later are allowed) rather than -@all. */
  allowFuture = false;
  /** The command rules after the +@all/-@all base, in Redis's compacted order ("+get", "-@hash", "+config|get"). */
  rules: string[] = [];
  /** Allowed full names ("get", "config|get", and a container's own name), derived from the rules. */
  allowed = new Set<string>();
  /** The table size `allowed` was derived for (a grown table re-derives it). */
  derivedFor = -1;

  copy(): Selector {
    const s = new Selector();
    s.allKeys = this.allKeys;
    s.keys = this.keys.map((k) => ({ pattern: k.pattern, flags: k.flags }));
    s.allChannels = this.allChannels;
    s.channels = [...this.channels];
    s.allowFuture = this.allowFuture;
    s.rules = [...this.rules];
    return s;
  }
}

export class AclUser {
  enabled = false;
  nopass = false;
  /**
   * Redis's RESTORE payload flag (kv-ts validates every payload either way): shown as set, and
   * 'reset' sets sanitize-payload, as Redis 7.0.
   */
  payloadFlag: '' | 'sanitize-payload' | 'skip-sanitize-payload' = '';
  /** SHA-256 hex digests, each once, in the order added. */
  passwords: string[] = [];
  /** The root selector first, then the user's extra selectors. */
  selectors: Selector[] = [new Selector()];
  /**
   * All commands (with future ones), all keys, all channels, no selectors needed: the dispatcher
   * then skips the check (one field read on the hot path).
   */
  unrestricted = false;
  /** Set once the user is deleted: its clients are being disconnected. */
  deleted = false;

  constructor(readonly name: string) {}

  get root(): Selector {
    return this.selectors[0] as Selector;
  }

  /** Copy the rules of `from` into this object (clients keep referring to it). */
  assign(from: AclUser): void {
    this.enabled = from.enabled;
    this.nopass = from.nopass;
    this.payloadFlag = from.payloadFlag;
    this.passwords = [...from.passwords];
    this.selectors = from.selectors.map((s) => s.copy());
    this.unrestricted = from.unrestricted;
  }

  copy(): AclUser {
    const u = new AclUser(this.name);
    u.assign(this);
    return u;
  }

  checkPassword(pass: Buffer): boolean {
    if (!this.enabled) return false;
    if (this.nopass) return true;
    const given = Buffer.from(passwordHash(pass), 'latin1');
    let ok = false;
    for (const p of this.passwords) if (timingSafeEqual(given, Buffer.from(p, 'latin1'))) ok = true;
    return ok;
  }
}

/** Why a command was refused: ACL LOG's reason, and the object (command, key or channel name). */
export interface AclDenial {
  readonly reason: 'command' | 'key' | 'channel';
  readonly object: string;
}

/** Redis's -NOPERM texts. */
export function denialError(d: AclDenial): string {
  if (d.reason === 'command') return `NOPERM this user has no permissions to run the '${d.object}' command`;
  if (d.reason === 'key') return 'NOPERM this user has no permissions to access one of the keys used as arguments';
  return 'NOPERM this user has no permissions to access one of the channels used as arguments';
}

/** A command queued in MULTI and refused at EXEC: Redis's text. */
export function execDenialError(d: AclDenial): string {
  const why = d.reason === 'command' ? 'no permission to execute the command or subcommand' : d.reason === 'key' ? 'no permission to touch the specified keys' : 'no permission to access one of the channels used as arguments';
  return `NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: ${why}`;
}

/** ACL DRYRUN's texts (Redis 7.0). */
export function dryRunText(d: AclDenial): string {
  if (d.reason === 'command') return `This user has no permissions to run the '${d.object}' command`;
  if (d.reason === 'key') return `This user has no permissions to access the '${d.object}' key`;
  return `This user has no permissions to access the '${d.object}' channel`;
}

/** The channels a command names, and whether they are patterns (Redis's CMD_CHANNEL_* commands). */
function channelArgs(name: string, argc: number): { from: number; to: number; pattern: boolean } | null {
  switch (name) {
    case 'subscribe':
    case 'ssubscribe':
      return { from: 1, to: argc, pattern: false };
    case 'psubscribe':
      return { from: 1, to: argc, pattern: true };
    case 'publish':
    case 'spublish':
      return { from: 1, to: 2, pattern: false };
    default:
      return null;
  }
}

const DENIED_COMMAND = 1;
const DENIED_KEY = 2;
const DENIED_CHANNEL = 4;

/**
 * The user table and the rule language. `commands` is the server's table: rules name its
 * commands and categories, and permissions are derived from it.
 */
export class AclTable {
  private readonly users = new Map<string, AclUser>();
  readonly defaultUser: AclUser;

  constructor(private readonly commands: CommandTableView) {
    this.defaultUser = AclTable.newDefault(commands);
    this.users.set('default', this.defaultUser);
  }

  private static newDefault(commands: CommandTableView): AclUser {
    const u = new AclUser('default');
    u.enabled = true;
    u.nopass = true;
    u.root.allKeys = true;
    u.root.allChannels = true;
    u.root.allowFuture = true;
    refresh(u, commands);
    return u;
  }

  get(name: string): AclUser | undefined {
    return this.users.get(name);
  }

  names(): string[] {
    return [...this.users.keys()].sort();
  }

  /**
   * ACL SETUSER's rules applied to a copy of the user (a new one when absent): the copy, or
   * Redis's error text (without "ERR ") and nothing changed.
   */
  edit(name: string, rules: readonly string[]): AclUser | string {
    const merged = mergeSelectorArgs(rules);
    if (typeof merged === 'string') return merged;
    const existing = this.users.get(name);
    if (existing === undefined && this.users.size >= ACL_USERS_MAX) return `too many users (at most ${ACL_USERS_MAX})`;
    const u = existing?.copy() ?? new AclUser(name);
    for (const r of merged) {
      const err = this.applyUserRule(u, r);
      if (err !== null) return `Error in ACL SETUSER modifier '${r}': ${err}`;
    }
    refresh(u, this.commands);
    return u;
  }

  /** The whole table replaced by `users` (ACL LOAD, a logged change): existing user objects are updated in place. Returns the users that no longer exist. */
  replaceAll(users: readonly AclUser[]): AclUser[] {
    const next = new Map<string, AclUser>();
    for (const u of users) {
      const cur = this.users.get(u.name);
      if (cur !== undefined) {
        cur.assign(u);
        refresh(cur, this.commands);
        next.set(u.name, cur);
      } else {
        refresh(u, this.commands);
        next.set(u.name, u);
      }
    }
    if (!next.has('default')) {
      this.defaultUser.assign(AclTable.newDefault(this.commands));
      next.set('default', this.defaultUser);
    }
    const gone: AclUser[] = [];
    for (const [n, u] of this.users) {
      if (!next.has(n)) {
        u.deleted = true;
        gone.push(u);
      }
    }
    this.users.clear();
    for (const [n, u] of next) this.users.set(n, u);
    return gone;
  }

  /** Every user as SETUSER rules (ACL LIST without the "user name" words): what the log and the aclfile hold. */
  serialize(): Array<[string, string[]]> {
    return this.names().map((n) => [n, describeUserRules(this.users.get(n) as AclUser)]);
  }

  /** Users from serialized rules (a log entry, the aclfile); an error text on a bad rule or a duplicate user. */
  parseUsers(entries: ReadonlyArray<readonly [string, readonly string[]]>): AclUser[] | string {
    if (entries.length > ACL_USERS_MAX) return `too many users (at most ${ACL_USERS_MAX})`;
    const seen = new Set<string>();
    const out: AclUser[] = [];
    for (const [name, rules] of entries) {
      if (seen.has(name)) return `Duplicate user '${name}' found`;
      seen.add(name);
      const merged = mergeSelectorArgs(rules);
      if (typeof merged === 'string') return merged;
      const u = new AclUser(name);
      for (const r of merged) {
        const err = this.applyUserRule(u, r);
        if (err !== null) return `Error in user declaration '${name}': ${err} ('${r}')`;
      }
      refresh(u, this.commands);
      out.push(u);
    }
    return out;
  }

  /** Permission check: null when allowed, else the most relevant denial over the user's selectors (Redis's order). */
  check(user: AclUser, spec: CommandSpec, argv: readonly Buffer[]): AclDenial | null {
    let worst = 0;
    let worstPos = -1;
    for (const s of user.selectors) {
      if (s.derivedFor !== this.commands.size) derive(s, this.commands);
      const r = checkSelector(s, spec, argv);
      if (r === null) return null;
      if (r[0] > worst || (r[0] === worst && r[1] > worstPos)) {
        worst = r[0];
        worstPos = r[1];
      }
    }
    if (worst === DENIED_COMMAND || worstPos < 0) return { reason: 'command', object: fullName(spec, argv) };
    return { reason: worst === DENIED_KEY ? 'key' : 'channel', object: (argv[worstPos] as Buffer).toString('latin1') };
  }

  /** Whether the user may subscribe to `name` (a literal channel, or with `pattern` a PSUBSCRIBE pattern). */
  channelAllowed(user: AclUser, name: string, pattern: boolean): boolean {
    return user.selectors.some((s) => s.allChannels || (pattern ? s.channels.includes(name) : s.channels.some((p) => globMatch(p, name))));
  }

  /** Whether some selector of the user lists the command `name` itself (noauth commands included). */
  allowsCommand(user: AclUser, name: string): boolean {
    return user.selectors.some((s) => {
      if (s.derivedFor !== this.commands.size) derive(s, this.commands);
      return s.allowed.has(name);
    });
  }

  /** Commands of a category as ACL CAT <category> lists them; null for an unknown category. */
  commandsIn(category: string): string[] | null {
    const cat = category.toLowerCase();
    if (!(ACL_CATEGORIES as readonly string[]).includes(cat)) return null;
    const out: string[] = [];
    for (const s of this.commands) {
      if (aclCategories(s).includes(`@${cat}`)) {
        if (s.subcommands === undefined) out.push(s.name);
        else for (const sub of s.subcommands) out.push(`${s.name}|${sub}`);
      }
    }
    return out;
  }

  private applyUserRule(u: AclUser, r: string): string | null {
    const low = r.toLowerCase();
    switch (low) {
      case 'on':
        u.enabled = true;
        return null;
      case 'off':
        u.enabled = false;
        return null;
      case 'nopass':
        u.nopass = true;
        u.passwords = [];
        return null;
      case 'resetpass':
        u.nopass = false;
        u.passwords = [];
        return null;
      case 'clearselectors':
        u.selectors = [u.root];
        return null;
      case 'reset':
        u.passwords = [];
        u.nopass = false;
        u.enabled = false;
        u.selectors = [new Selector()];
        u.payloadFlag = 'sanitize-payload';
        return null;
      case 'sanitize-payload':
      case 'skip-sanitize-payload':
        u.payloadFlag = low;
        return null;
      default:
        break;
    }
    const c = r[0];
    if (c === '>' || c === '<') {
      const h = passwordHash(Buffer.from(r.slice(1), 'utf8'));
      return c === '>' ? addPassword(u, h) : removePassword(u, h);
    }
    if (c === '#' || c === '!') {
      const h = r.slice(1);
      if (!/^[0-9a-f]{64}$/.test(h)) return ERR_BAD_HASH;
      return c === '#' ? addPassword(u, h) : removePassword(u, h);
    }
    if (c === '(' && r.endsWith(')')) {
      const s = new Selector();
      for (const part of r.slice(1, -1).split(' ').filter((x) => x !== '')) {
        const err = this.applySelectorRule(s, part);
        if (err !== null) return err;
      }
      u.selectors.push(s);
      return null;
    }
    return this.applySelectorRule(u.root, r);
  }

  private applySelectorRule(s: Selector, r: string): string | null {
    const low = r.toLowerCase();
    if (low === 'allkeys' || r === '~*') {
      s.allKeys = true;
      s.keys = [];
      return null;
    }
    if (low === 'resetkeys') {
      s.allKeys = false;
      s.keys = [];
      return null;
    }
    if (low === 'allchannels' || r === '&*') {
      s.allChannels = true;
      s.channels = [];
      return null;
    }
    if (low === 'resetchannels') {
      s.allChannels = false;
      s.channels = [];
      return null;
    }
    if (low === 'allcommands' || low === '+@all') {
      s.allowFuture = true;
      s.rules = [];
      return null;
    }
    if (low === 'nocommands' || low === '-@all') {
      s.allowFuture = false;
      s.rules = [];
      return null;
    }
    const c = r[0];
    if (c === '~' || c === '%') return addKeyPattern(s, r);
    if (c === '&') {
      if (s.allChannels) return ERR_AFTER_ALLCHANNELS;
      const p = r.slice(1);
      if (!s.channels.includes(p)) {
        if (s.channels.length >= ACL_RULES_PER_SELECTOR_MAX) return ERR_SYNTAX;
        s.channels.push(p);
      }
      return null;
    }
    if (c === '+' || c === '-') return this.addCommandRule(s, c, low.slice(1));
    return ERR_SYNTAX;
  }

  private addCommandRule(s: Selector, sign: '+' | '-', name: string): string | null {
    if (name.startsWith('@')) {
      if (!(ACL_CATEGORIES as readonly string[]).includes(name.slice(1))) return ERR_UNKNOWN;
    } else {
      const bar = name.indexOf('|');
      const spec = this.commands.get(bar < 0 ? name : name.slice(0, bar));
      if (spec === undefined) return ERR_UNKNOWN;
      if (bar >= 0 && spec.subcommands !== undefined && name.indexOf('|', bar + 1) >= 0) return 'Allowing first-arg of a subcommand is not supported';
      // A first argument of a command without subcommands (Redis's deprecated "+select|0") is not supported.
      if (bar >= 0 && spec.subcommands?.includes(name.slice(bar + 1)) !== true) return ERR_UNKNOWN;
    }
    // Redis compacts: a rule replaces earlier ones on the same name (a command's also on its subcommands).
    const isCommand = !name.startsWith('@') && !name.includes('|');
    s.rules = s.rules.filter((x) => {
      const n = x.slice(1);
      return n !== name && !(isCommand && n.startsWith(`${name}|`));
    });
    if (s.rules.length >= ACL_RULES_PER_SELECTOR_MAX) return ERR_SYNTAX;
    s.rules.push(sign + name);
    s.derivedFor = -1;
    return null;
  }
}

function addPassword(u: AclUser, h: string): null {
  if (!u.passwords.includes(h)) u.passwords.push(h);
  u.nopass = false;
  return null;
}

function removePassword(u: AclUser, h: string): string | null {
  const i = u.passwords.indexOf(h);
  if (i < 0) return ERR_NO_PASSWORD;
  u.passwords.splice(i, 1);
  u.nopass = false;
  return null;
}

function addKeyPattern(s: Selector, r: string): string | null {
  let flags = 0;
  let p = 0;
  if (r[0] === '%') {
    p = 1;
    for (; p < r.length && r[p] !== '~'; p++) {
      const f = (r[p] as string).toUpperCase();
      if (f === 'R') flags |= KEY_READ;
      else if (f === 'W') flags |= KEY_WRITE;
      else return ERR_SYNTAX;
    }
    if (flags === 0 || p === r.length) return ERR_SYNTAX;
  } else flags = KEY_READ | KEY_WRITE;
  if (s.allKeys) return ERR_AFTER_ALLKEYS;
  const pattern = r.slice(p + 1);
  const same = s.keys.find((k) => k.pattern === pattern);
  if (same !== undefined) same.flags |= flags;
  else {
    if (s.keys.length >= ACL_RULES_PER_SELECTOR_MAX) return ERR_SYNTAX;
    s.keys.push({ pattern, flags });
  }
  return null;
}

/**
 * SETUSER's arguments with selectors joined: "(~a*" "+get)" is one rule, as Redis merges them.
 * A selector left open is Redis's error.
 */
function mergeSelectorArgs(rules: readonly string[]): string[] | string {
  const out: string[] = [];
  let open: string | null = null;
  for (const r of rules) {
    if (open !== null) {
      open += ` ${r}`;
      if (r.endsWith(')')) {
        out.push(open);
        open = null;
      }
    } else if (r.startsWith('(') && !r.endsWith(')')) open = r;
    else out.push(r);
  }
  if (open !== null) return `Unmatched parenthesis in acl selector starting at '${open.split(' ')[0] as string}'.`;
  return out;
}

/** The `allowed` sets and the unrestricted flag after a change. */
function refresh(u: AclUser, commands: CommandTableView): void {
  for (const s of u.selectors) derive(s, commands);
  const r = u.root;
  u.unrestricted = r.allowFuture && r.rules.length === 0 && r.allKeys && r.allChannels;
}

/** The names `spec` answers to for permissions: itself and, for a container, each `name|sub`. */
function namesOf(spec: CommandSpec): string[] {
  return spec.subcommands === undefined ? [spec.name] : [spec.name, ...spec.subcommands.map((x) => `${spec.name}|${x}`)];
}

function derive(s: Selector, commands: CommandTableView): void {
  const allowed = new Set<string>();
  if (s.allowFuture) for (const spec of commands) for (const n of namesOf(spec)) allowed.add(n);
  for (const rule of s.rules) {
    const add = rule[0] === '+';
    const name = rule.slice(1);
    let names: string[];
    if (name.startsWith('@')) {
      names = [];
      for (const spec of commands) if (aclCategories(spec).includes(name)) names.push(...namesOf(spec));
    } else if (name.includes('|')) names = [name];
    else {
      const spec = commands.get(name);
      names = spec === undefined ? [] : namesOf(spec);
    }
    for (const n of names) {
      if (add) allowed.add(n);
      else allowed.delete(n);
    }
  }
  s.allowed = allowed;
  s.derivedFor = commands.size;
}

/** The name permissions are kept under: `container|sub` for a known subcommand. */
function fullName(spec: CommandSpec, argv: readonly Buffer[]): string {
  if (spec.subcommands === undefined || argv.length < 2) return spec.name;
  const sub = subcommandOf(spec.subcommands, argv[1] as Buffer);
  return sub === null ? spec.name : `${spec.name}|${sub}`;
}

/** [denial, argument index] or null when the selector allows the command. */
function checkSelector(s: Selector, spec: CommandSpec, argv: readonly Buffer[]): [number, number] | null {
  // As Redis: commands allowed before AUTH (AUTH, HELLO, QUIT...) need no permission.
  if (!spec.flags.includes('noauth') && !s.allowed.has(fullName(spec, argv))) return [DENIED_COMMAND, -1];
  if (!s.allKeys) {
    const sub = spec.subcommands !== undefined && argv.length > 1 ? subcommandOf(spec.subcommands, argv[1] as Buffer) : null;
    const specs = keySpecsOf(spec, sub).filter((k) => !k.flags.includes('not_key'));
    const found = specs.length === 0 ? [] : (keyPositions(specs, argv) ?? []);
    for (const [i, k] of found) {
      const flags = k.resolve?.(argv) ?? k.flags;
      let need = 0;
      if (flags.includes('access')) need |= KEY_READ;
      if (flags.includes('insert') || flags.includes('delete') || flags.includes('update')) need |= KEY_WRITE;
      const key = (argv[i] as Buffer).toString('latin1');
      if (!s.keys.some((p) => (p.flags & need) === need && globMatch(p.pattern, key))) return [DENIED_KEY, i];
    }
  }
  if (!s.allChannels) {
    const ch = channelArgs(spec.name, argv.length);
    if (ch !== null) {
      for (let i = ch.from; i < ch.to; i++) {
        const name = (argv[i] as Buffer).toString('latin1');
        const ok = ch.pattern ? s.channels.includes(name) : s.channels.some((p) => globMatch(p, name));
        if (!ok) return [DENIED_CHANNEL, i];
      }
    }
  }
  return null;
}

function describeKeyPattern(k: KeyPattern): string {
  if (k.flags === (KEY_READ | KEY_WRITE)) return `~${k.pattern}`;
  return `%${k.flags === KEY_READ ? 'R' : 'W'}~${k.pattern}`;
}

/** A selector's command rules as Redis describes them ("+@all -@hash +hget"). */
export function describeCommands(s: Selector): string {
  return [s.allowFuture ? '+@all' : '-@all', ...s.rules].join(' ');
}

export function describeKeys(s: Selector): string {
  return s.allKeys ? '~*' : s.keys.map(describeKeyPattern).join(' ');
}

export function describeChannels(s: Selector): string {
  return s.allChannels ? '&*' : s.channels.map((c) => `&${c}`).join(' ');
}

/** ACL LIST's words for one selector: keys, channels, commands. */
function describeSelector(s: Selector): string[] {
  const words: string[] = s.allKeys ? ['~*'] : s.keys.map(describeKeyPattern);
  if (s.allChannels) words.push('&*');
  else words.push('resetchannels', ...s.channels.map((c) => `&${c}`));
  words.push(s.allowFuture ? '+@all' : '-@all', ...s.rules);
  return words;
}

/** A user as the rules that rebuild it (ACL LIST's line without "user <name>"). */
export function describeUserRules(u: AclUser): string[] {
  const words: string[] = userFlags(u);
  for (const p of u.passwords) words.push(`#${p}`);
  words.push(...describeSelector(u.root));
  for (const s of u.selectors.slice(1)) words.push(`(${describeSelector(s).join(' ')})`);
  return words;
}

/** The flags ACL GETUSER lists. */
export function userFlags(u: AclUser): string[] {
  const f = [u.enabled ? 'on' : 'off'];
  if (u.nopass) f.push('nopass');
  if (u.payloadFlag !== '') f.push(u.payloadFlag);
  return f;
}

/** Entries closer than this to an equal one (reason, context, object, user) are counted in it, as Redis groups them. */
const ACL_LOG_GROUPING_MS = 60_000;

/** Where a refused command ran, as ACL LOG names it. */
export type AclLogContext = 'toplevel' | 'multi' | 'lua';

export interface AclLogEntry {
  count: number;
  readonly reason: 'command' | 'key' | 'channel' | 'auth';
  readonly context: AclLogContext;
  readonly object: string;
  readonly username: string;
  readonly createdMs: number;
  updatedMs: number;
  clientInfo: string;
}

/** ACL LOG: refused commands and failed authentications, newest first, at most `maxLen()` of them. */
export class AclLog {
  private entries: AclLogEntry[] = [];

  constructor(private readonly maxLen: () => number) {}

  add(e: Omit<AclLogEntry, 'count' | 'createdMs' | 'updatedMs'>, nowMs: number): void {
    const i = this.entries.findIndex((x) => x.reason === e.reason && x.context === e.context && x.object === e.object && x.username === e.username && nowMs - x.updatedMs < ACL_LOG_GROUPING_MS);
    if (i >= 0) {
      const same = this.entries[i] as AclLogEntry;
      same.count++;
      same.updatedMs = nowMs;
      same.clientInfo = e.clientInfo;
      this.entries.splice(i, 1);
      this.entries.unshift(same);
      return;
    }
    this.entries.unshift({ ...e, count: 1, createdMs: nowMs, updatedMs: nowMs });
    this.trim();
  }

  trim(): void {
    const max = this.maxLen();
    if (this.entries.length > max) this.entries.length = max;
  }

  newest(n: number): readonly AclLogEntry[] {
    this.trim();
    return this.entries.slice(0, n);
  }

  reset(): void {
    this.entries = [];
  }
}

/** The user table as an 'acl' op's bytes: JSON of [name, rules] pairs (rules as SETUSER takes them). */
export function encodeUsers(entries: ReadonlyArray<readonly [string, readonly string[]]>): Buffer {
  return Buffer.from(JSON.stringify(entries), 'utf8');
}

/** An 'acl' op's bytes back to [name, rules] pairs; null when they are not that shape. */
export function decodeUsers(b: Buffer): Array<[string, string[]]> | null {
  let v: unknown;
  try {
    v = JSON.parse(b.toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(v)) return null;
  const out: Array<[string, string[]]> = [];
  for (const e of v as unknown[]) {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || !Array.isArray(e[1]) || !(e[1] as unknown[]).every((r) => typeof r === 'string')) return null;
    out.push([e[0], e[1] as string[]]);
  }
  return out;
}

/**
 * An aclfile (Redis's format: one "user <name> <rules...>" line per user; blank lines and lines
 * starting with '#' are skipped) as [name, rules] pairs, or "<line>: <error>".
 */
export function parseAclFile(text: string): Array<[string, string[]]> | string {
  const out: Array<[string, string[]]> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '' || line.startsWith('#')) continue;
    const words = line.split(/\s+/);
    if (words[0] !== 'user' || words.length < 2) return `${i + 1}: line should start with user keyword`;
    out.push([words[1] as string, words.slice(2)]);
  }
  return out;
}

/** The aclfile text for a table (ACL SAVE): its ACL LIST lines. */
export function formatAclFile(entries: ReadonlyArray<readonly [string, readonly string[]]>): string {
  return entries.map(([n, rules]) => `user ${n} ${rules.join(' ')}\n`).join('');
}
