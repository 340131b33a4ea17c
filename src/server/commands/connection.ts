// Connection commands: PING ECHO QUIT HELLO AUTH SELECT CLIENT MONITOR RESET, with Redis 7
// replies and error texts. They change only the calling client's state (or ask the server to
// close others, pause clients or stream commands: ServerServices.clientAdmin); they never touch
// the keyspace.

import { createHash, timingSafeEqual } from 'node:crypto';
import { REPLY_OFF, REPLY_ON, REPLY_SKIP_NEXT, type ClientKillFilter, type CommandContext, type CommandModule, type CommandSpec } from '../command-types.js';
import { REDIS_COMPAT_VERSION } from '../info-sections.js';
import { ERR_INT32_RANGE, ERR_NOT_INTEGER, parseInt32, parseInt64 } from './args.js';
import { clientTrackingSubcommand } from '../tracking.js';

const str = (b: Buffer | undefined): string => (b === undefined ? '' : b.toString('utf8'));
const lower = (b: Buffer | undefined): string => str(b).toLowerCase();

/** Compare secrets in constant time (hashing first makes the lengths equal). */
function passwordMatches(given: Buffer, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

const WRONGPASS = 'WRONGPASS invalid username-password pair or user is disabled.';

/**
 * Shared by AUTH and HELLO ... AUTH: the client runs as the user from now on. Returns an error
 * reply text or null on success; a failure goes to ACL LOG (reason auth), as in Redis.
 */
function authenticate(ctx: CommandContext, user: Buffer | undefined, pass: Buffer): string | null {
  const acl = ctx.server.acl;
  if (acl === undefined) return authenticateDefault(ctx, user, pass);
  const name = user === undefined ? 'default' : str(user);
  if (user === undefined && acl.table.defaultUser.nopass) {
    return 'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?';
  }
  const u = acl.table.get(name);
  if (u === undefined || !u.checkPassword(pass)) {
    const context = ctx.client.tx?.inMulti === true ? 'multi' : 'toplevel';
    acl.log.add({ reason: 'auth', context, object: 'AUTH', username: name, clientInfo: acl.clientInfo(ctx.client) }, Date.now());
    return WRONGPASS;
  }
  ctx.client.user = u;
  ctx.client.authenticated = true;
  return null;
}

/** Without a user table (embedders' servers): requirepass is the default user's password. */
function authenticateDefault(ctx: CommandContext, user: Buffer | undefined, pass: Buffer): string | null {
  const required = ctx.server.requirePass();
  if (user !== undefined && str(user) !== 'default') return WRONGPASS;
  if (required === null) {
    // Redis: the default user has "nopass"; the one-argument form is a configuration mistake.
    if (user === undefined) {
      return 'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?';
    }
    ctx.client.authenticated = true;
    return null;
  }
  if (!passwordMatches(pass, required)) return WRONGPASS;
  ctx.client.authenticated = true;
  return null;
}

/** Valid CLIENT SETNAME names: no spaces, newlines or other special characters (Redis rule). */
function validName(b: Buffer): boolean {
  for (const c of b) if (c < 33 || c > 126) return false;
  return true;
}

function spec(
  name: string,
  arity: number,
  flags: CommandSpec['flags'],
  summary: string,
  syntax: string,
  handler: CommandSpec['handler'],
  subcommands?: readonly string[],
): CommandSpec {
  return { name, arity, flags, firstKey: 0, lastKey: 0, keyStep: 0, summary, syntax, group: 'connection', handler, ...(subcommands ? { subcommands } : {}) };
}

function hello(ctx: CommandContext, argv: readonly Buffer[]): void {
  let proto = ctx.client.protocol;
  let i = 1;
  if (argv.length >= 2) {
    const p = str(argv[1]);
    if (!/^-?\d+$/.test(p)) return ctx.out.error('ERR Protocol version is not an integer or out of range');
    const n = Number(p);
    if (n !== 2 && n !== 3) return ctx.out.error('NOPROTO unsupported protocol version');
    proto = n;
    i = 2;
  }
  let setName: Buffer | undefined;
  let authArgs: [Buffer, Buffer] | undefined;
  for (; i < argv.length; i++) {
    const opt = lower(argv[i]);
    const more = argv.length - i - 1;
    if (opt === 'auth' && more >= 2) {
      authArgs = [argv[i + 1] as Buffer, argv[i + 2] as Buffer];
      i += 2;
    } else if (opt === 'setname' && more >= 1) {
      setName = argv[i + 1] as Buffer;
      i += 1;
    } else {
      return ctx.out.error(`ERR Syntax error in HELLO option '${str(argv[i])}'`);
    }
  }
  if (authArgs !== undefined) {
    const err = authenticate(ctx, authArgs[0], authArgs[1]);
    if (err !== null) return ctx.out.error(err);
  }
  if (!ctx.client.authenticated && (ctx.server.acl?.authRequired() ?? ctx.server.requirePass() !== null)) {
    return ctx.out.error(
      'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
    );
  }
  if (setName !== undefined) {
    if (!validName(setName)) return ctx.out.error('ERR Client names cannot contain spaces, newlines or special characters.');
    ctx.client.name = str(setName);
  }
  ctx.client.protocol = proto;
  // The reply is encoded in the new protocol (Redis switches before replying).
  const out = ctx.out;
  out.setProtocol?.(proto);
  out.map(7);
  out.bulk('server');
  out.bulk('kv-ts');
  out.bulk('version');
  out.bulk(REDIS_COMPAT_VERSION);
  out.bulk('proto');
  out.integer(proto);
  out.bulk('id');
  out.integer(ctx.client.id);
  out.bulk('mode');
  out.bulk('standalone');
  out.bulk('role');
  out.bulk('master');
  out.bulk('modules');
  out.array(0);
}

/** Redis 7.0's CLIENT HELP, in its order, with the subcommands and options kv-ts adds from later versions (SETINFO, NO-TOUCH, KILL MAXAGE, LIST ID). */
const CLIENT_HELP = [
  'CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'CACHING (YES|NO)', '    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.',
  'GETREDIR', '    Return the client ID we are redirecting to when tracking is enabled.',
  'GETNAME', '    Return the name of the current connection.',
  'ID', '    Return the ID of the current connection.',
  'INFO', '    Return information about the current client connection.',
  'KILL <ip:port>', '    Kill connection made from <ip:port>.',
  'KILL <option> <value> [<option> <value> [...]]',
  '    Kill connections. Options are:',
  '    * ADDR (<ip:port>|<unixsocket>:0)', '      Kill connections made from the specified address',
  '    * LADDR (<ip:port>|<unixsocket>:0)', '      Kill connections made to specified local address',
  '    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)', '      Kill connections by type.',
  '    * USER <username>', '      Kill connections authenticated by <username>.',
  '    * SKIPME (YES|NO)', '      Skip killing current connection (default: yes).',
  '    * ID <client-id>', '      Kill connections by client id.',
  '    * MAXAGE <maxage>', '      Kill connections older than the specified age.',
  'LIST [options ...]', '    Return information about client connections. Options:',
  '    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)', '      Return clients of specified type.',
  '    * ID <client-id> [<client-id> ...]', '      Return clients of specified IDs only.',
  'UNPAUSE', '    Stop the current client pause, resuming traffic.',
  'PAUSE <timeout> [WRITE|ALL]', '    Suspend all, or just write, clients for <timeout> milliseconds.',
  'REPLY (ON|OFF|SKIP)', '    Control the replies sent to the current connection.',
  'SETNAME <name>', '    Assign the name <name> to the current connection.',
  'SETINFO <LIB-NAME|LIB-VER> <value>', '    Set client library name or version.',
  'UNBLOCK <clientid> [TIMEOUT|ERROR]', '    Unblock the specified blocked client.',
  'TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]', '         [OPTIN] [OPTOUT] [NOLOOP]', '    Control server assisted client side caching.',
  'TRACKINGINFO', '    Report tracking status for the current connection.',
  'NO-EVICT (ON|OFF)', '    Protect current client connection from eviction.',
  'NO-TOUCH (ON|OFF)', '    Will not touch LRU/LFU stats when this mode is on.',
  'HELP', '    Prints this help.',
];

function clientCmd(ctx: CommandContext, argv: readonly Buffer[]): void {
  const sub = lower(argv[1]);
  const out = ctx.out;
  const c = ctx.client;
  const wrongArgs = (): void => out.error(`ERR wrong number of arguments for 'client|${sub}' command`);
  switch (sub) {
    case 'id':
      return argv.length === 2 ? out.integer(c.id) : wrongArgs();
    case 'getname':
      if (argv.length !== 2) return wrongArgs();
      return c.name === '' ? out.nullBulk() : out.bulk(c.name);
    case 'setname': {
      if (argv.length !== 3) return wrongArgs();
      const n = argv[2] as Buffer;
      if (!validName(n)) return out.error('ERR Client names cannot contain spaces, newlines or special characters.');
      c.name = str(n);
      return out.ok();
    }
    case 'setinfo': {
      if (argv.length !== 4) return wrongArgs();
      const attr = lower(argv[2]);
      const v = argv[3] as Buffer;
      if (attr !== 'lib-name' && attr !== 'lib-ver') return out.error(`ERR Unrecognized option '${str(argv[2])}'`);
      if (!validName(v) && v.length > 0) return out.error(`ERR ${attr} cannot contain spaces, newlines or special characters.`);
      if (attr === 'lib-name') c.libName = str(v);
      else c.libVersion = str(v);
      return out.ok();
    }
    case 'info':
      if (argv.length !== 2) return wrongArgs();
      return out.verbatim(clientLine(ctx, c.id) + '\n');
    case 'list':
      return clientList(ctx, argv);
    case 'kill':
      return clientKill(ctx, argv);
    case 'unblock':
      return clientUnblock(ctx, argv);
    case 'no-evict':
    case 'no-touch':
      return argv.length === 3 ? clientOnOff(ctx, sub, argv[2] as Buffer) : wrongArgs();
    case 'reply':
      return argv.length === 3 ? clientReply(ctx, argv[2] as Buffer) : wrongArgs();
    case 'pause':
      return clientPause(ctx, argv);
    case 'unpause':
      if (argv.length !== 2) return wrongArgs();
      if (ctx.server.clientAdmin === undefined) return out.error('ERR CLIENT UNPAUSE is not available on this server');
      ctx.server.clientAdmin.unpause();
      return out.ok();
    case 'tracking':
    case 'caching':
    case 'getredir':
    case 'trackinginfo':
      if (clientTrackingSubcommand(ctx, sub, argv)) return;
      return out.error(`ERR unknown subcommand '${str(argv[1])}'. Try CLIENT HELP.`);
    case 'help':
      out.array(CLIENT_HELP.length);
      for (const l of CLIENT_HELP) out.simple(l);
      return;
    default:
      return out.error(`ERR unknown subcommand '${str(argv[1])}'. Try CLIENT HELP.`);
  }
}

/** CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 when that client was blocked (BLPOP...) and is now answered. */
function clientUnblock(ctx: CommandContext, argv: readonly Buffer[]): void {
  const out = ctx.out;
  if (argv.length < 3) return out.error("ERR wrong number of arguments for 'client|unblock' command");
  if (argv.length > 4) return out.error(`ERR unknown subcommand or wrong number of arguments for '${str(argv[1])}'. Try CLIENT HELP.`);
  let error = false;
  if (argv.length === 4) {
    const how = lower(argv[3]);
    if (how === 'error') error = true;
    else if (how !== 'timeout') return out.error('ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR');
  }
  const id = parseInt64(argv[2] as Buffer);
  if (id === null) return out.error(ERR_NOT_INTEGER);
  const blocking = ctx.server.blocking;
  out.integer(blocking !== undefined && id > 0n && id <= BigInt(Number.MAX_SAFE_INTEGER) && blocking.unblock(Number(id), error) ? 1 : 0);
}

function clientLine(ctx: CommandContext, id: number): string {
  const prefix = `id=${id} `;
  return ctx.server.clientList().split('\n').find((l) => l.startsWith(prefix)) ?? '';
}

/** A CLIENT LIST line of a subscribed client (its flags hold P). */
const SUBSCRIBED_FLAGS = / flags=[A-Za-z]*P/;

function clientList(ctx: CommandContext, argv: readonly Buffer[]): void {
  let lines = ctx.server.clientList().split('\n').filter((l) => l !== '');
  let i = 2;
  while (i < argv.length) {
    const opt = lower(argv[i]);
    if (opt === 'type' && i + 1 < argv.length) {
      const t = lower(argv[i + 1]);
      if (!['normal', 'master', 'replica', 'slave', 'pubsub'].includes(t)) return ctx.out.error(`ERR Unknown client type '${str(argv[i + 1])}'`);
      // Only the normal and pubsub classes exist on a client port (replicas leave it).
      if (t === 'pubsub') lines = lines.filter((l) => SUBSCRIBED_FLAGS.test(l));
      else if (t === 'normal') lines = lines.filter((l) => !SUBSCRIBED_FLAGS.test(l));
      else lines = [];
      i += 2;
    } else if (opt === 'id' && i + 1 < argv.length) {
      const ids = new Set<string>();
      for (i++; i < argv.length; i++) {
        const s = str(argv[i]);
        if (!/^[1-9]\d*$/.test(s)) return ctx.out.error('ERR Invalid client ID');
        ids.add(s);
      }
      lines = lines.filter((l) => ids.has(l.slice(3, l.indexOf(' '))));
    } else {
      return ctx.out.error('ERR syntax error');
    }
  }
  ctx.out.verbatim(lines.map((l) => l + '\n').join(''));
}

/** Redis's client type names, and the class each stands for (slave is replica's old name). */
const CLIENT_TYPES: ReadonlyMap<string, NonNullable<ClientKillFilter['type']>> = new Map([
  ['normal', 'normal'],
  ['master', 'master'],
  ['replica', 'replica'],
  ['slave', 'replica'],
  ['pubsub', 'pubsub'],
]);

/** The one user kv-ts has (no ACL): every client is logged in as it, with requirepass or without. */
const DEFAULT_USER = 'default';

/**
 * CLIENT KILL addr:port (the old form: +OK, or an error when no client has that address; the
 * caller may kill itself), or CLIENT KILL with filters (ID, ADDR, LADDR, TYPE, USER, SKIPME,
 * MAXAGE), which all must match: the number killed.
 */
function clientKill(ctx: CommandContext, argv: readonly Buffer[]): void {
  const out = ctx.out;
  const kill = (f: ClientKillFilter): number => ctx.server.clientKill(f);
  if (argv.length < 3) return out.error("ERR wrong number of arguments for 'client|kill' command");
  if (argv.length === 3) {
    return kill({ addr: str(argv[2]), callerId: ctx.client.id, skipMe: false }) > 0 ? out.ok() : out.error('ERR No such client');
  }
  const f: ClientKillFilter = { callerId: ctx.client.id, skipMe: true };
  for (let i = 2; i < argv.length; i += 2) {
    const opt = lower(argv[i]);
    const v = argv[i + 1];
    if (v === undefined) return out.error('ERR syntax error');
    if (opt === 'id') {
      const id = parseInt64(v);
      if (id === null || id < 1n) return out.error('ERR client-id should be greater than 0');
      f.id = Number(id);
    } else if (opt === 'type') {
      const t = CLIENT_TYPES.get(lower(v));
      if (t === undefined) return out.error(`ERR Unknown client type '${str(v)}'`);
      f.type = t;
    } else if (opt === 'addr') f.addr = str(v);
    else if (opt === 'laddr') f.laddr = str(v);
    else if (opt === 'user') {
      const known = ctx.server.acl === undefined ? str(v) === DEFAULT_USER : ctx.server.acl.table.get(str(v)) !== undefined;
      if (!known) return out.error(`ERR No such user '${str(v)}'`);
      f.user = str(v);
    } else if (opt === 'skipme') {
      const yn = lower(v);
      if (yn !== 'yes' && yn !== 'no') return out.error('ERR syntax error');
      f.skipMe = yn === 'yes';
    } else if (opt === 'maxage') {
      const age = parseInt64(v);
      if (age === null || age < 0n) return out.error('ERR maxage is not an integer or out of range');
      f.maxAgeSec = Number(age);
    } else return out.error('ERR syntax error');
  }
  out.integer(kill(f));
}

/** CLIENT NO-EVICT / NO-TOUCH ON|OFF: the client's flag (CLIENT LIST flags e / T). */
function clientOnOff(ctx: CommandContext, sub: 'no-evict' | 'no-touch', v: Buffer): void {
  const on = lower(v);
  if (on !== 'on' && on !== 'off') return ctx.out.error('ERR syntax error');
  if (sub === 'no-evict') ctx.client.noEvict = on === 'on';
  else ctx.client.noTouch = on === 'on';
  ctx.out.ok();
}

/**
 * CLIENT REPLY ON|OFF|SKIP. OFF and SKIP reply nothing themselves; the connection drops the
 * replies of the commands they silence (Connection.dispatchSilenced). SKIP while OFF changes nothing.
 */
function clientReply(ctx: CommandContext, v: Buffer): void {
  const c = ctx.client;
  const mode = lower(v);
  if (mode === 'on') {
    c.replyMode = REPLY_ON;
    return ctx.out.ok();
  }
  if (mode === 'off') c.replyMode = REPLY_OFF;
  else if (mode === 'skip') {
    if (c.replyMode !== REPLY_OFF) c.replyMode = REPLY_SKIP_NEXT;
  } else ctx.out.error('ERR syntax error');
}

/** CLIENT PAUSE timeout [WRITE|ALL]: ALL when no mode is given, as in Redis. */
function clientPause(ctx: CommandContext, argv: readonly Buffer[]): void {
  const out = ctx.out;
  if (argv.length < 3) return out.error("ERR wrong number of arguments for 'client|pause' command");
  if (argv.length > 4) return out.error(`ERR unknown subcommand or wrong number of arguments for '${str(argv[1])}'. Try CLIENT HELP.`);
  let mode: 'write' | 'all' = 'all';
  if (argv.length === 4) {
    const m = lower(argv[3]);
    if (m !== 'write' && m !== 'all') return out.error('ERR CLIENT PAUSE mode must be WRITE or ALL');
    mode = m;
  }
  const ms = parseInt64(argv[2] as Buffer);
  if (ms === null) return out.error('ERR timeout is not an integer or out of range');
  if (ms < 0n) return out.error('ERR timeout is negative');
  const now = Date.now();
  if (ms > BigInt(Number.MAX_SAFE_INTEGER - now)) return out.error('ERR timeout is out of range');
  const admin = ctx.server.clientAdmin;
  if (admin === undefined) return out.error('ERR CLIENT PAUSE is not available on this server');
  admin.pause(mode, now + Number(ms));
  out.ok();
}

/** MONITOR: +OK, then a line per command of any client. Ignored (no reply) by a client already monitoring, as in Redis. */
function monitor(ctx: CommandContext): void {
  const admin = ctx.server.clientAdmin;
  if (ctx.inTransaction === true) return ctx.out.error("MONITOR isn't allowed for DENY BLOCKING client");
  if (admin === undefined) return ctx.out.error('ERR MONITOR is not available on this server');
  if (ctx.client.monitor === true) return;
  admin.monitor(ctx);
  ctx.out.ok();
}

/** RESET: the connection as if just opened (server/server.ts resetConnection), then +RESET. */
function reset(ctx: CommandContext): void {
  const admin = ctx.server.clientAdmin;
  if (admin === undefined) return ctx.out.error('ERR RESET is not available on this server');
  admin.resetConnection(ctx);
  ctx.out.simple('RESET');
}

export const connectionCommands: CommandModule = [
  spec('ping', -1, ['fast', 'stale', 'loading'], 'Ping the server.', '[message]', (ctx, argv) => {
    if (argv.length > 2) return ctx.out.error("ERR wrong number of arguments for 'ping' command");
    // Redis: a subscribed RESP2 client gets ["pong", message] (its replies are read as messages).
    if (ctx.client.protocol === 2 && (ctx.pubsub?.total ?? 0) > 0) {
      ctx.out.array(2);
      ctx.out.bulk('pong');
      return ctx.out.bulk(argv.length === 2 ? (argv[1] as Buffer) : '');
    }
    if (argv.length === 2) return ctx.out.bulk(argv[1] as Buffer);
    ctx.out.simple('PONG');
  }),
  spec('echo', 2, ['fast', 'stale', 'loading'], 'Return the given string.', 'message', (ctx, argv) => ctx.out.bulk(argv[1] as Buffer)),
  spec('quit', -1, ['noauth', 'noscript', 'fast', 'stale', 'loading', 'allow_busy'], 'Close the connection.', '', (ctx) => {
    ctx.client.closeAfterReply = true;
    ctx.out.ok();
  }),
  spec('hello', -1, ['noauth', 'noscript', 'fast', 'stale', 'loading', 'allow_busy'], 'Handshake: protocol version, authentication, client name.', '[protover [AUTH username password] [SETNAME clientname]]', hello),
  spec('auth', -2, ['noauth', 'noscript', 'fast', 'stale', 'loading', 'allow_busy'], 'Authenticate the connection.', '[username] password', (ctx, argv) => {
    if (argv.length > 3) return ctx.out.error('ERR syntax error');
    const err = argv.length === 3 ? authenticate(ctx, argv[1], argv[2] as Buffer) : authenticate(ctx, undefined, argv[1] as Buffer);
    if (err !== null) return ctx.out.error(err);
    ctx.out.ok();
  }),
  spec('select', 2, ['fast', 'loading', 'stale'], 'Select the database (kv-ts has only database 0).', 'index', (ctx, argv) => {
    const db = parseInt32(argv[1] as Buffer);
    if (db === null) return ctx.out.error(parseInt64(argv[1] as Buffer) === null ? ERR_NOT_INTEGER : ERR_INT32_RANGE);
    if (db !== 0) return ctx.out.error('ERR DB index is out of range');
    ctx.out.ok();
  }),
  spec(
    'client',
    -2,
    ['stale', 'loading'],
    'Inspect and manage client connections.',
    'subcommand [arg ...]',
    clientCmd,
    ['id', 'getname', 'setname', 'setinfo', 'info', 'list', 'kill', 'unblock', 'tracking', 'caching', 'getredir', 'trackinginfo', 'no-evict', 'no-touch', 'reply', 'pause', 'unpause', 'help'],
  ),
  { ...spec('monitor', 1, ['admin', 'noscript', 'loading', 'stale'], "Listen for every command the server runs, as it runs them.", '', monitor), acl: [] },
  spec('reset', 1, ['noauth', 'noscript', 'loading', 'stale', 'fast', 'allow_busy'], 'Reset the connection.', '', reset),
];
