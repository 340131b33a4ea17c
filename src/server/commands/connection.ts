// Connection commands: PING ECHO QUIT HELLO AUTH SELECT CLIENT, with Redis 7 replies and
// error texts. They change only the calling client's state (or, for CLIENT KILL, ask the
// server to close others); they never touch the keyspace.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { CommandContext, CommandModule, CommandSpec } from '../command-types.js';
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

/** Shared by AUTH and HELLO ... AUTH. Returns an error reply text or null on success. */
function authenticate(ctx: CommandContext, user: Buffer | undefined, pass: Buffer): string | null {
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
  if (!ctx.client.authenticated && ctx.server.requirePass() !== null) {
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

const CLIENT_HELP = [
  'CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'GETNAME', '    Return the name of the current connection.',
  'ID', '    Return the ID of the current connection.',
  'INFO', '    Return information about the current client connection.',
  'KILL <ip:port>', '    Kill connection made from <ip:port>.',
  'KILL <option> <value> [<option> <value> [...]]', '    Kill connections. Options are: ID <client-id>, ADDR <ip:port>, LADDR <ip:port>, SKIPME (YES|NO).',
  'LIST [TYPE normal] [ID <id> [<id> ...]]', '    Return information about client connections.',
  'SETNAME <name>', '    Assign the name <name> to the current connection.',
  'SETINFO <LIB-NAME|LIB-VER> <value>', '    Set client library name or version.',
  'UNBLOCK <clientid> [TIMEOUT|ERROR]', '    Unblock the specified blocked client.',
  'TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]', '         [OPTIN] [OPTOUT] [NOLOOP]', '    Control server assisted client side caching.',
  'CACHING (YES|NO)', '    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.',
  'GETREDIR', '    Return the client ID we are redirecting to when tracking is enabled.',
  'TRACKINGINFO', '    Report tracking status for the current connection.',
  'NO-EVICT (ON|OFF)', '    Accepted for compatibility (kv-ts never evicts).',
  'NO-TOUCH (ON|OFF)', '    Accepted for compatibility (kv-ts keeps no LRU data).',
  'HELP', '    Print this help.',
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
    case 'no-touch': {
      if (argv.length !== 3) return wrongArgs();
      const v = lower(argv[2]);
      return v === 'on' || v === 'off' ? out.ok() : out.error('ERR syntax error');
    }
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

function clientList(ctx: CommandContext, argv: readonly Buffer[]): void {
  let lines = ctx.server.clientList().split('\n').filter((l) => l !== '');
  let i = 2;
  while (i < argv.length) {
    const opt = lower(argv[i]);
    if (opt === 'type' && i + 1 < argv.length) {
      const t = lower(argv[i + 1]);
      if (!['normal', 'master', 'replica', 'slave', 'pubsub'].includes(t)) return ctx.out.error(`ERR Unknown client type '${str(argv[i + 1])}'`);
      // Only the normal and pubsub classes exist on a client port (replicas leave it).
      if (t === 'pubsub') lines = lines.filter((l) => l.includes(' flags=P '));
      else if (t === 'normal') lines = lines.filter((l) => !l.includes(' flags=P '));
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

function clientKill(ctx: CommandContext, argv: readonly Buffer[]): void {
  const out = ctx.out;
  if (argv.length === 3) {
    // Old form: CLIENT KILL addr:port → +OK or an error.
    const addr = str(argv[2]);
    if (addr === ctx.client.addr) {
      ctx.client.closeAfterReply = true;
      return out.ok();
    }
    return ctx.server.clientKill({ addr }) > 0 ? out.ok() : out.error('ERR No such client');
  }
  if (argv.length < 4 || argv.length % 2 !== 0) return out.error('ERR syntax error');
  const f: { id?: number; addr?: string; laddr?: string } = {};
  let skipMe = true;
  for (let i = 2; i < argv.length; i += 2) {
    const opt = lower(argv[i]);
    const v = str(argv[i + 1]);
    if (opt === 'id') {
      if (!/^[1-9]\d*$/.test(v)) return out.error('ERR client-id should be greater than 0');
      f.id = Number(v);
    } else if (opt === 'addr') f.addr = v;
    else if (opt === 'laddr') f.laddr = v;
    else if (opt === 'skipme') {
      if (v.toLowerCase() === 'yes') skipMe = true;
      else if (v.toLowerCase() === 'no') skipMe = false;
      else return out.error('ERR syntax error');
    } else if (opt === 'type' || opt === 'user' || opt === 'maxage') {
      return out.error(`ERR CLIENT KILL ${opt.toUpperCase()} is not supported by kv-ts`);
    } else return out.error('ERR syntax error');
  }
  const me = ctx.client;
  const matchesMe = (f.id === undefined || f.id === me.id) && (f.addr === undefined || f.addr === me.addr) && (f.laddr === undefined || f.laddr === me.laddr);
  let killed = 0;
  if (matchesMe && !skipMe) {
    me.closeAfterReply = true; // Redis: the caller gets its reply, then is closed
    killed = 1;
  }
  // Other clients: the caller cannot match an ID/ADDR filter twice, so exclude it explicitly.
  const others = matchesMe ? countOthers(ctx, f) : ctx.server.clientKill(f);
  out.integer(killed + others);
}

/** Kill matching clients other than the caller (possible only with LADDR-only filters). */
function countOthers(ctx: CommandContext, f: { id?: number; addr?: string; laddr?: string }): number {
  if (f.id !== undefined || f.addr !== undefined) return 0; // ids and addrs are unique: only the caller matched
  let n = 0;
  for (const line of ctx.server.clientList().split('\n')) {
    const m = /^id=(\d+) addr=(\S+) laddr=(\S+) /.exec(line);
    if (m === null || Number(m[1]) === ctx.client.id || m[3] !== f.laddr) continue;
    n += ctx.server.clientKill({ id: Number(m[1]) });
  }
  return n;
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
  spec('quit', -1, ['noauth', 'fast', 'stale', 'loading'], 'Close the connection.', '', (ctx) => {
    ctx.client.closeAfterReply = true;
    ctx.out.ok();
  }),
  spec('hello', -1, ['noauth', 'fast', 'stale', 'loading'], 'Handshake: protocol version, authentication, client name.', '[protover [AUTH username password] [SETNAME clientname]]', hello),
  spec('auth', -2, ['noauth', 'fast', 'stale', 'loading'], 'Authenticate the connection.', '[username] password', (ctx, argv) => {
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
    ['id', 'getname', 'setname', 'setinfo', 'info', 'list', 'kill', 'unblock', 'tracking', 'caching', 'getredir', 'trackinginfo', 'no-evict', 'no-touch', 'help'],
  ),
];
