// Which commands only read, which writes may be applied twice, which may not: one entry per
// command, read by the client (routing, what it may resend) and checked against the server's
// command specs by a test. Owns that classification; it never imports server or client code
// (the client package must stay light), and never decides routing or retries itself.

/**
 * read: no effect; may go to a replica (as the consistency mode allows) and may always be resent.
 * idempotentWrite: applying it twice leaves the same state and gives the same reply (plain SET, MSET).
 * write: anything else; resent only when it certainly did not run.
 */
export type CommandKind = 'read' | 'idempotentWrite' | 'write';

export interface CommandClass {
  /** The kind when no argument rule below applies. */
  readonly kind: CommandKind;
  /** Subcommands (the second word) that only inspect: with one of these the command is a read. */
  readonly readSubcommands?: readonly string[];
  /**
   * Options that make an idempotent write a plain write, because they read the old value or make
   * the write conditional on it (SET NX/XX/GET). Only words after the value count (from the fourth
   * word on): the value itself may spell an option.
   */
  readonly conditionalOptions?: readonly string[];
}

const READ: CommandClass = { kind: 'read' };
const IDEMPOTENT: CommandClass = { kind: 'idempotentWrite' };
const WRITE: CommandClass = { kind: 'write' };

/** First word index of SET-style options: SET key value [options]. */
const OPTIONS_FROM = 3;

/**
 * Every command the server knows, plus Redis commands a client may send to a Redis node. A
 * command not listed is a write: sent to the primary and never resent after an unknown outcome,
 * the only safe default. A new server command without an entry here fails the consistency test.
 */
export const COMMAND_CLASSES: ReadonlyMap<string, CommandClass> = new Map<string, CommandClass>([
  // Strings.
  ['get', READ],
  ['mget', READ],
  ['strlen', READ],
  ['getrange', READ],
  ['substr', READ],
  ['lcs', READ],
  ['set', { kind: 'idempotentWrite', conditionalOptions: ['nx', 'xx', 'get'] }],
  ['mset', IDEMPOTENT],
  ['setex', IDEMPOTENT],
  ['psetex', IDEMPOTENT],
  ['put', WRITE],
  ['setnx', WRITE],
  ['msetnx', WRITE],
  ['getset', WRITE],
  ['getdel', WRITE],
  ['getex', WRITE],
  ['incr', WRITE],
  ['decr', WRITE],
  ['incrby', WRITE],
  ['decrby', WRITE],
  ['incrbyfloat', WRITE],
  ['append', WRITE],
  ['setrange', WRITE],
  // Bits: a SETBIT or BITFIELD replies with the old bits, and BITOP's destination may be a source.
  ['getbit', READ],
  ['bitcount', READ],
  ['bitpos', READ],
  ['bitfield_ro', READ],
  ['setbit', WRITE],
  ['bitop', WRITE],
  ['bitfield', WRITE],
  // HyperLogLog: PFADD replies whether a register grew (a second run says 0); a second PFMERGE
  // takes the same maxima and replies OK again. PFCOUNT only refreshes its own cache.
  ['pfcount', READ],
  ['pfadd', WRITE],
  ['pfmerge', IDEMPOTENT],
  ['pfdebug', WRITE],
  ['pfselftest', READ],
  // Keyspace.
  ['exists', READ],
  ['touch', READ],
  ['type', READ],
  ['ttl', READ],
  ['pttl', READ],
  ['expiretime', READ],
  ['pexpiretime', READ],
  ['keys', READ],
  ['scan', READ],
  ['dbsize', READ],
  ['randomkey', READ],
  ['dump', READ],
  ['del', WRITE],
  ['unlink', WRITE],
  ['expire', WRITE],
  ['pexpire', WRITE],
  ['expireat', WRITE],
  ['pexpireat', WRITE],
  ['persist', WRITE],
  ['rename', WRITE],
  ['renamenx', WRITE],
  // A second RESTORE answers BUSYKEY (or, with REPLACE, moves a relative TTL): never resent blindly.
  ['restore', WRITE],
  // MIGRATE deletes the keys it moved: a second one finds them gone (NOKEY) or elsewhere.
  ['migrate', WRITE],
  ['flushall', IDEMPOTENT],
  ['flushdb', IDEMPOTENT],
  // Sets and sorted sets. Removing or adding the same members again leaves the same state;
  // SPOP, the pops, ZINCRBY, rank-range removals and the *STORE forms (a destination may also
  // be an input) may not be repeated. ZADD is a write: its INCR may come before the scores.
  ...(['sismember', 'smismember', 'smembers', 'scard', 'srandmember', 'sinter', 'sintercard', 'sunion', 'sdiff', 'sscan'] as const).map((n) => [n, READ] as const),
  ...(['zcard', 'zscore', 'zmscore', 'zrank', 'zrevrank', 'zcount', 'zlexcount', 'zrange', 'zrangebyscore', 'zrevrangebyscore', 'zrangebylex', 'zrevrangebylex', 'zrevrange', 'zrandmember', 'zunion', 'zinter', 'zdiff', 'zintercard', 'zscan'] as const).map((n) => [n, READ] as const),
  // Hashes. HMSET replies OK whatever was there; HSET/HDEL/SADD/... reply a count that a second
  // run would change, so they are plain writes (an idempotent write gives the same reply twice).
  ...(['hget', 'hmget', 'hgetall', 'hkeys', 'hvals', 'hexists', 'hlen', 'hstrlen', 'hrandfield', 'hscan'] as const).map((n) => [n, READ] as const),
  ['hmset', IDEMPOTENT],
  ...(['hset', 'hsetnx', 'hdel', 'hincrby', 'hincrbyfloat', 'copy'] as const).map((n) => [n, WRITE] as const),
  ...(['sadd', 'srem', 'smove', 'zrem', 'zremrangebyscore', 'zremrangebylex', 'spop', 'sinterstore', 'sunionstore', 'sdiffstore', 'zadd', 'zincrby', 'zpopmin', 'zpopmax', 'zmpop', 'zremrangebyrank', 'zrangestore', 'zunionstore', 'zinterstore', 'zdiffstore'] as const).map((n) => [n, WRITE] as const),
  // Lists. Every list write is positional or counts what is there (a second LPUSH adds the
  // elements again, a second LSET after another client's push changes another element), so none
  // may be resent after an unknown outcome.
  ...(['llen', 'lindex', 'lrange', 'lpos'] as const).map((n) => [n, READ] as const),
  ...(['lpush', 'rpush', 'lpushx', 'rpushx', 'lpop', 'rpop', 'lset', 'linsert', 'lrem', 'ltrim', 'lmove', 'rpoplpush', 'lmpop'] as const).map((n) => [n, WRITE] as const),
  // Blocking pops: a pop that may already have been served is never resent.
  ...(['blpop', 'brpop', 'blmove', 'brpoplpush', 'blmpop', 'bzpopmin', 'bzpopmax', 'bzmpop'] as const).map((n) => [n, WRITE] as const),
  // Streams. XADD adds an entry per run (with '*' a new id each time; with an explicit id a resend
  // is refused), XREADGROUP delivers and counts deliveries, XCLAIM/XAUTOCLAIM count them too: none
  // may be resent after an unknown outcome. XACK and XSETID set absolute state: a resend leaves the
  // same stream (XACK then counts 0 acknowledged).
  ...(['xlen', 'xrange', 'xrevrange', 'xread', 'xpending', 'xinfo'] as const).map((n) => [n, READ] as const),
  ...(['xadd', 'xtrim', 'xdel', 'xreadgroup', 'xclaim', 'xautoclaim'] as const).map((n) => [n, WRITE] as const),
  ...(['xack', 'xsetid'] as const).map((n) => [n, IDEMPOTENT] as const),
  ['xgroup', { kind: 'write', readSubcommands: ['help'] }],
  // SORT is flagged a write (it may STORE) and goes to the primary as in Redis; SORT_RO only reads.
  ['sort', WRITE],
  // GEO (sorted sets underneath): GEOADD answers how many it added, the STORE forms replace a key.
  ...(['geopos', 'geodist', 'geohash', 'georadius_ro', 'georadiusbymember_ro', 'geosearch'] as const).map((n) => [n, READ] as const),
  ...(['geoadd', 'georadius', 'georadiusbymember', 'geosearchstore'] as const).map((n) => [n, WRITE] as const),
  ['sort_ro', READ],
  ['swapdb', WRITE],
  // Transactions: connection state, and EXEC runs writes: never resent after an unknown outcome
  // (the transaction may have committed; its queue and watches belong to the lost connection).
  ...(['multi', 'exec', 'discard', 'watch', 'unwatch'] as const).map((n) => [n, WRITE] as const),
  // Scripts: EVAL may write (a resent script would run twice); the _RO forms only read.
  ...(['eval', 'evalsha'] as const).map((n) => [n, WRITE] as const),
  ...(['eval_ro', 'evalsha_ro'] as const).map((n) => [n, READ] as const),
  ['script', { kind: 'write', readSubcommands: ['exists', 'help'] }],
  ['fcall', WRITE],
  ['fcall_ro', READ],
  ['function', { kind: 'write', readSubcommands: ['list', 'dump', 'stats', 'kill', 'help'] }],
  // Connection and server.
  ['ping', READ],
  ['echo', READ],
  ['time', READ],
  ['info', READ],
  ['command', READ],
  ['slowlog', { kind: 'write', readSubcommands: ['get', 'len', 'help'] }],
  ['latency', { kind: 'write', readSubcommands: ['latest', 'history', 'graph', 'doctor', 'histogram', 'help'] }],
  ['lastsave', READ],
  ['quit', WRITE],
  ['hello', WRITE],
  ['auth', WRITE],
  ['select', WRITE],
  ['client', WRITE],
  // Connection state, not data: never resent (a second MONITOR or RESET is not the same request).
  ['monitor', WRITE],
  ['reset', WRITE],
  ['config', WRITE],
  // SETUSER, DELUSER and LOAD change the replicated user table (the primary's); SAVE writes a file.
  ['acl', { kind: 'write', readSubcommands: ['whoami', 'getuser', 'list', 'users', 'cat', 'log', 'genpass', 'dryrun', 'help'] }],
  ['shutdown', WRITE],
  ['compact', WRITE],
  ['bgrewriteaof', WRITE],
  ['bgsave', WRITE],
  ['save', WRITE],
  ['cleanup', WRITE],
  ['debug', { kind: 'write', readSubcommands: ['digest', 'digest-value', 'object', 'help'] }],
  // Every OBJECT and MEMORY subcommand the server has only inspects (the server flags them readonly).
  ['memory', READ],
  ['object', READ],
  // Pub/sub. A message is not state: PUBLISH resent after an unknown outcome may deliver twice,
  // so it is a plain write (never resent); the subscription commands only change the connection.
  ['publish', WRITE],
  ['spublish', WRITE],
  ['pubsub', READ],
  ...(['subscribe', 'unsubscribe', 'psubscribe', 'punsubscribe', 'ssubscribe', 'sunsubscribe'] as const).map((n) => [n, WRITE] as const),
  // Replication and cluster.
  ['role', READ],
  ['position', READ],
  ['topology', READ],
  ['replicaof', WRITE],
  ['slaveof', WRITE],
  ['promote', WRITE],
  ['wait', WRITE],
  ['consistency', WRITE],
  ['kvrepl', WRITE],
  ['kvsnapshot', READ],
  ['failover', WRITE],
  ['member', { kind: 'write', readSubcommands: ['list'] }],
]);

/** Anything a command word can be: the client sends strings and Buffers, the server holds Buffers. */
type Word = string | Buffer;

function word(w: Word | undefined): string {
  if (w === undefined) return '';
  return (typeof w === 'string' ? w : w.toString('latin1')).toLowerCase();
}

/** The kind of one command as sent (name first). */
export function commandKind(args: readonly Word[]): CommandKind {
  const c = COMMAND_CLASSES.get(word(args[0]));
  if (c === undefined) return 'write';
  if (c.readSubcommands !== undefined && c.readSubcommands.includes(word(args[1]))) return 'read';
  if (c.conditionalOptions !== undefined) {
    for (let i = OPTIONS_FROM; i < args.length; i++) if (c.conditionalOptions.includes(word(args[i]))) return 'write';
  }
  return c.kind;
}

/** Every kind a command can have across its arguments (what the consistency test checks). */
export function possibleKinds(c: CommandClass): ReadonlySet<CommandKind> {
  const kinds = new Set<CommandKind>([c.kind]);
  if (c.readSubcommands !== undefined && c.readSubcommands.length > 0) kinds.add('read');
  if (c.conditionalOptions !== undefined && c.conditionalOptions.length > 0) kinds.add('write');
  return kinds;
}

/** The least safe of several kinds: what a batch of them may be treated as. */
export function leastSafeKind(kinds: readonly CommandKind[]): CommandKind {
  if (kinds.includes('write')) return 'write';
  return kinds.includes('idempotentWrite') ? 'idempotentWrite' : 'read';
}
