// Server settings: defaults, the config-file reader, and the CONFIG GET/SET registry.
// Owns validation of every setting (flags, file and CONFIG SET share it); it never
// applies a setting to a running subsystem itself — holders read the live object.

import { formatNotifyFlags, NOTIFY_CLASS_ERROR, parseNotifyFlags } from './keyspace-events.js';
import { globMatch } from '../storage/glob.js';
import { FSYNC_POLICIES, type FsyncPolicy } from '../storage/types.js';
import { defaultEncodingLimits, type EncodingLimits } from '../storage/collection.js';
import { MAXMEMORY_POLICIES, MAXMEMORY_SAMPLES_DEFAULT, MAXMEMORY_SAMPLES_MAX, MAXMEMORY_SAMPLES_MIN, type MaxmemoryPolicy } from '../storage/eviction.js';
import { defaultMaxmemoryBytes, EVICTION_TENACITY_DEFAULT, EVICTION_TENACITY_MAX } from './memory.js';
import { TRACKING_TABLE_KEYS_MAX_DEFAULT } from './tracking.js';
import { defaultTlsSettings, TLS_SETTINGS, type TlsSettings } from './tls-config.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Redis's defaults: commands of 10 ms or more are logged, 128 entries kept. */
const SLOWLOG_SLOWER_THAN_US_DEFAULT = 10_000;
const SLOWLOG_MAX_LEN_DEFAULT = 128;
/**
 * Bound on slowlog-max-len (Redis takes any long): an entry holds up to 32 arguments of 128
 * bytes, so the log stays far below maxmemory scales even when full.
 */
export const SLOWLOG_MAX_LEN_MAX = 100_000;
/** Redis's default busy-reply-threshold: how long a script runs before other clients get BUSY. */
export const SCRIPT_TIME_LIMIT_MS_DEFAULT = 5000;
/** Longest threshold accepted for slowlog-log-slower-than (µs) and latency-monitor-threshold (ms). */
const THRESHOLD_MAX = Number.MAX_SAFE_INTEGER;
/** Redis's default latency-tracking-info-percentiles. */
const LATENCY_PERCENTILES_DEFAULT: readonly number[] = [50, 99, 99.9];
/** Percentiles one latency-tracking-info-percentiles value may list. */
const LATENCY_PERCENTILES_MAX = 32;

/** Port range a TCP listener can use. */
const PORT_MAX = 65535;
/** Redis's own bound on maxclients is the fd limit; we refuse silly values outright. */
const MAXCLIENTS_MAX = 1_000_000;
/** Redis rejects client-query-buffer-limit below 1 MB ("must be >= 1mb"); we allow smaller for tests but not below this. */
const QUERY_BUFFER_BYTES_MIN = 1024;

/**
 * Redis's client classes for client-output-buffer-limit. `normal`: every RESP client (the
 * connection closes one whose pending output passes the hard limit, or stays past the soft
 * limit for longer than soft-seconds). `pubsub`: a connection with any subscription, checked the
 * same way as each message is encoded. `replica` is kept, validated and reported for Redis
 * configuration files and tools: replication links are bounded by the replication layer's own
 * LINK_OUTPUT_BYTES_MAX, not by this class.
 */
export const OUTPUT_LIMIT_CLASSES = ['normal', 'replica', 'pubsub'] as const;
export type OutputLimitClass = (typeof OUTPUT_LIMIT_CLASSES)[number];

/** One class's output limit; 0 turns a bound off (Redis's semantics). */
export interface OutputLimit {
  /** Pending output past this closes the client at once. */
  hardBytes: number;
  /** Pending output past this for longer than softSeconds closes the client. */
  softBytes: number;
  softSeconds: number;
}

/** Longest soft-limit duration accepted (Redis takes any long; a year is beyond any use). */
const OUTPUT_SOFT_SECONDS_MAX = 365 * 24 * 3600;

/**
 * Redis leaves normal clients unlimited; kv-ts bounds them so a client that stops reading
 * cannot grow the server without limit. The other classes have Redis's defaults.
 */
export const NORMAL_OUTPUT_HARD_BYTES_DEFAULT = 64 * 1024 * 1024;

function defaultOutputLimits(): Record<OutputLimitClass, OutputLimit> {
  return {
    normal: { hardBytes: NORMAL_OUTPUT_HARD_BYTES_DEFAULT, softBytes: 0, softSeconds: 0 },
    replica: { hardBytes: 256 * 1024 * 1024, softBytes: 64 * 1024 * 1024, softSeconds: 60 },
    pubsub: { hardBytes: 32 * 1024 * 1024, softBytes: 8 * 1024 * 1024, softSeconds: 60 },
  };
}

/** CONFIG GET text, Redis's order and class names ("slave" for replica, as Redis 7.0 prints). */
function formatOutputLimits(l: Record<OutputLimitClass, OutputLimit>): string {
  const one = (name: string, c: OutputLimit): string => `${name} ${c.hardBytes} ${c.softBytes} ${c.softSeconds}`;
  return `${one('normal', l.normal)} ${one('slave', l.replica)} ${one('pubsub', l.pubsub)}`;
}

/**
 * Redis's value: one or more "<class> <hard> <soft> <soft-seconds>" groups (class normal,
 * replica/slave or pubsub), applied all or nothing. A lone memory value sets the normal class's
 * hard limit (kv-ts's --client-output-buffer-limit BYTES).
 */
function setOutputLimits(cfg: ServerConfig, v: string): string | null {
  const words = v.trim().split(/\s+/);
  if (words.length === 1) {
    const n = parseMemory(words[0] as string);
    if (n === null) return 'Wrong number of arguments in buffer limit configuration (a memory value or "<class> <hard> <soft> <soft-seconds>" groups).';
    cfg.outputLimits.normal.hardBytes = n;
    return null;
  }
  if (words.length % 4 !== 0) return 'Wrong number of arguments in buffer limit configuration ("<class> <hard> <soft> <soft-seconds>" groups).';
  const next = { ...cfg.outputLimits };
  for (let i = 0; i < words.length; i += 4) {
    const name = (words[i] as string).toLowerCase();
    const cls: OutputLimitClass | undefined = name === 'slave' ? 'replica' : OUTPUT_LIMIT_CLASSES.find((c) => c === name);
    if (cls === undefined) return `Invalid client class specified in buffer limit configuration: '${words[i]}' (normal, replica, pubsub).`;
    const hardBytes = parseMemory(words[i + 1] as string);
    const softBytes = parseMemory(words[i + 2] as string);
    const softSeconds = parseIntIn(words[i + 3] as string, 0, OUTPUT_SOFT_SECONDS_MAX);
    if (hardBytes === null || softBytes === null || softSeconds === null) return `Error in hard, soft or soft_seconds setting in buffer limit configuration (class '${name}').`;
    next[cls] = { hardBytes, softBytes, softSeconds };
  }
  // Mutated in place: connections read this object live.
  Object.assign(cfg.outputLimits, next);
  return null;
}

export interface ServerConfig {
  port: number;
  host: string;
  dir: string;
  fsync: FsyncPolicy;
  /** null = no password. The default user's password (server/acl.ts), as in Redis. */
  requirepass: string | null;
  /** Users file for ACL LOAD / SAVE (Redis's format, a "user <name> <rules>" line each); null: none. */
  aclfile: string | null;
  /** ACL LOG entries kept. */
  acllogMaxLen: number;
  maxclients: number;
  logLevel: LogLevel;
  /** Max unparsed input per client (client-query-buffer-limit). */
  queryBufferBytesMax: number;
  /** Max single argument (proto-max-bulk-len). */
  bulkBytesMax: number;
  /**
   * client-output-buffer-limit, per client class. The normal and pubsub classes are applied (by
   * connection.ts, as each reply or message is produced); see OUTPUT_LIMIT_CLASSES.
   */
  outputLimits: Record<OutputLimitClass, OutputLimit>;
  /** Store auto-compaction (auto-aof-rewrite-percentage / -min-size). */
  compactPercent: number;
  compactMinBytes: number;
  /** Compact-encoding limits of collections: the store holds this same object (live). */
  readonly encodingLimits: EncodingLimits;
  /** Memory limit in bytes, 0 = none (maxmemory). Default: a share of the machine's memory (memory.ts). */
  maxmemory: number;
  maxmemoryPolicy: MaxmemoryPolicy;
  maxmemorySamples: number;
  /** 0..100: how long one eviction run may take (maxmemory-eviction-tenacity; 100 = until done). */
  maxmemoryEvictionTenacity: number;
  /** notify-keyspace-events as Redis's class bits (keyspace-events.ts); 0 = off. */
  notifyKeyspaceEvents: number;
  /** Keys the client-side caching table remembers before it forgets some (tracking-table-max-keys; 0 = no bound). */
  trackingTableKeysMax: number;
  /** slowlog-log-slower-than: log commands that ran this many µs or more; -1 = off, 0 = every command. */
  slowlogSlowerThanUs: number;
  /**
   * busy-reply-threshold (alias lua-time-limit): milliseconds a script runs holding the event
   * loop; past them it goes on in slices and other clients get BUSY until it ends or SCRIPT KILL /
   * FUNCTION KILL stops it (Redis 7.0). 0 = never: the script holds the loop to its end.
   */
  scriptTimeLimitMs: number;
  /** slowlog-max-len: entries the slow log keeps (the oldest go first). */
  slowlogMaxLen: number;
  /** latency-monitor-threshold: record latency events of this many ms or more; 0 = off. */
  latencyMonitorThresholdMs: number;
  /** latency-tracking: per-command latency histograms (INFO latencystats, LATENCY HISTOGRAM). */
  latencyTracking: boolean;
  /** latency-tracking-info-percentiles: the percentiles INFO latencystats prints. */
  latencyPercentiles: number[];
  /** save: Redis's RDB save points, as CONFIG GET prints them ("" = none). */
  savePoints: string;
  /**
   * repl-backlog-size from a config file or a CONFIG SET made with no replication layer attached
   * (null: none). With one attached, CONFIG reads and sets the layer's own budget instead.
   */
  replBacklogBytes: number | null;
  /**
   * cluster-enabled: every connection is a Redis Cluster connection (keyed commands a replica
   * does not serve get -MOVED instead of -READONLY). Needs cluster mode (--cluster).
   */
  clusterEnabled: boolean;
  /** The tls-* settings (tls-config.ts). */
  readonly tls: TlsSettings;
}

export function defaultConfig(): ServerConfig {
  return {
    port: 4000,
    host: '127.0.0.1',
    dir: './data',
    fsync: 'everysec',
    requirepass: null,
    aclfile: null,
    acllogMaxLen: 128,
    maxclients: 10000,
    logLevel: 'info',
    queryBufferBytesMax: 1024 * 1024 * 1024,
    bulkBytesMax: 512 * 1024 * 1024,
    outputLimits: defaultOutputLimits(),
    compactPercent: 100,
    compactMinBytes: 64 * 1024 * 1024,
    encodingLimits: defaultEncodingLimits(),
    maxmemory: defaultMaxmemoryBytes(),
    maxmemoryPolicy: 'noeviction',
    notifyKeyspaceEvents: 0,
    trackingTableKeysMax: TRACKING_TABLE_KEYS_MAX_DEFAULT,
    maxmemorySamples: MAXMEMORY_SAMPLES_DEFAULT,
    maxmemoryEvictionTenacity: EVICTION_TENACITY_DEFAULT,
    slowlogSlowerThanUs: SLOWLOG_SLOWER_THAN_US_DEFAULT,
    scriptTimeLimitMs: SCRIPT_TIME_LIMIT_MS_DEFAULT,
    slowlogMaxLen: SLOWLOG_MAX_LEN_DEFAULT,
    latencyMonitorThresholdMs: 0,
    latencyTracking: true,
    latencyPercentiles: [...LATENCY_PERCENTILES_DEFAULT],
    savePoints: '',
    replBacklogBytes: null,
    clusterEnabled: false,
    tls: defaultTlsSettings(),
  };
}

/** Redis memtoull: plain bytes or k/kb/m/mb/g/gb (k = 1000, kb = 1024). */
export function parseMemory(s: string): number | null {
  const m = /^(\d+)(k|kb|m|mb|g|gb)?$/i.exec(s.trim());
  if (m === null) return null;
  const mult: Record<string, number> = { k: 1e3, kb: 1024, m: 1e6, mb: 1024 ** 2, g: 1e9, gb: 1024 ** 3 };
  const n = Number(m[1]) * (m[2] === undefined ? 1 : (mult[m[2].toLowerCase()] as number));
  return Number.isSafeInteger(n) ? n : null;
}

function parseIntIn(s: string, min: number, max: number): number | null {
  if (!/^-?\d+$/.test(s)) return null;
  const n = Number(s);
  return n >= min && n <= max ? n : null;
}

function parseYesNo(s: string): boolean | null {
  const v = s.toLowerCase();
  return v === 'yes' ? true : v === 'no' ? false : null;
}

/** Space-separated numbers in [0, 100] (Redis: an empty value clears the list); else Redis's error text. */
function parsePercentiles(s: string): number[] | string {
  const invalid = 'Invalid latency-tracking-info-percentiles parameters';
  const words = s.trim() === '' ? [] : s.trim().split(/\s+/);
  if (words.length > LATENCY_PERCENTILES_MAX) return invalid;
  const out: number[] = [];
  for (const w of words) {
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(w)) return invalid;
    const n = Number(w);
    if (!(n >= 0 && n <= 100)) return 'latency-tracking-info-percentiles parameters should sit between [0.0,100.0]';
    out.push(n);
  }
  return out;
}

/** What Redis reports for repl-backlog-size when nothing set it (1mb). */
const REPL_BACKLOG_SIZE_REDIS_DEFAULT = 1024 * 1024;

/** Redis lists the policies in this order in its CONFIG SET error. */
const POLICY_ORDER: readonly MaxmemoryPolicy[] = ['volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl', 'allkeys-lru', 'allkeys-lfu', 'allkeys-random', 'noeviction'];

export type Setter = (cfg: ServerConfig, v: string, facts: ConfigFacts) => string | null;

/**
 * How CONFIG SET treats a setting. `live`: applied at once. `startup`: kv-ts reads it only when
 * it starts, where Redis changes it live; setting its current value is accepted (Redis skips an
 * unchanged value too) and any other value is refused. `immutable`: Redis refuses it as well.
 */
export type Change = 'live' | 'startup' | 'immutable';

export interface Setting {
  readonly name: string;
  /** Other names accepted in config files and flags (never by CONFIG GET/SET). */
  readonly aliases: readonly string[];
  get(cfg: ServerConfig, facts: ConfigFacts): string;
  /** Validates and stores; returns an error text (no "ERR " prefix) or null. */
  readonly set: Setter;
  readonly change: Change;
  /** Redis's hidden configs: CONFIG GET reports them only when asked by exact name. */
  readonly hidden?: true;
}

type IntKey = 'port' | 'maxclients' | 'compactPercent' | 'maxmemorySamples' | 'maxmemoryEvictionTenacity' | 'slowlogSlowerThanUs' | 'slowlogMaxLen' | 'latencyMonitorThresholdMs' | 'scriptTimeLimitMs';

/** An integer setting, with Redis's error texts (kv-ts's bounds may be narrower than Redis's). */
const intSetter =
  (key: IntKey, min: number, max: number): Setter =>
  (cfg, v) => {
    if (!/^-?\d+$/.test(v)) return "argument couldn't be parsed into an integer";
    const n = parseIntIn(v, min, max);
    if (n === null) return `argument must be between ${min} and ${max} inclusive`;
    cfg[key] = n;
    return null;
  };

const memSetter =
  (key: 'queryBufferBytesMax' | 'bulkBytesMax' | 'compactMinBytes' | 'maxmemory', min: number): Setter =>
  (cfg, v) => {
    const n = parseMemory(v);
    if (n === null) return 'argument must be a memory value';
    if (n < min) return `argument must be >= ${min}`;
    cfg[key] = n;
    return null;
  };

const SETTINGS: readonly Setting[] = [
  // Live: the server listens on the new port before CONFIG SET answers (server.ts rebind).
  { name: 'port', aliases: [], get: (c) => String(c.port), set: intSetter('port', 0, PORT_MAX), change: 'live' },
  {
    name: 'bind', aliases: ['host'], get: (c) => c.host, change: 'startup',
    set: (c, v) => (v === '' ? 'argument must be an address' : ((c.host = v.split(/\s+/)[0] as string), null)),
  },
  { name: 'dir', aliases: [], get: (c) => c.dir, change: 'startup', set: (c, v) => (v === '' ? 'argument must be a directory' : ((c.dir = v), null)) },
  {
    name: 'appendfsync', aliases: ['fsync'], get: (c) => c.fsync, change: 'startup',
    set: (c, v) => {
      const p = FSYNC_POLICIES.find((x) => x === v.toLowerCase());
      if (p === undefined) return `argument must be one of ${FSYNC_POLICIES.join('|')}`;
      c.fsync = p;
      return null;
    },
  },
  { name: 'aclfile', aliases: [], get: (c) => c.aclfile ?? '', change: 'startup', set: (c, v) => ((c.aclfile = v === '' ? null : v), null) },
  { name: 'acllog-max-len', aliases: [], get: (c) => String(c.acllogMaxLen), change: 'live', set: (c, v) => { const n = /^\d+$/.test(v) ? Number(v) : NaN; if (!Number.isSafeInteger(n) || n > 1_000_000) return 'argument must be between 0 and 1000000 inclusive'; c.acllogMaxLen = n; return null; } },
  { name: 'requirepass', aliases: [], get: (c) => c.requirepass ?? '', change: 'live', set: (c, v) => ((c.requirepass = v === '' ? null : v), null) },
  { name: 'maxclients', aliases: [], get: (c) => String(c.maxclients), set: intSetter('maxclients', 1, MAXCLIENTS_MAX), change: 'live' },
  {
    name: 'loglevel', aliases: ['log-level'], get: (c) => c.logLevel, change: 'live',
    set: (c, v) => {
      const l = LOG_LEVELS.find((x) => x === v.toLowerCase());
      if (l === undefined) return `argument must be one of ${LOG_LEVELS.join('|')}`;
      c.logLevel = l;
      return null;
    },
  },
  { name: 'client-query-buffer-limit', aliases: [], get: (c) => String(c.queryBufferBytesMax), set: memSetter('queryBufferBytesMax', QUERY_BUFFER_BYTES_MIN), change: 'live' },
  { name: 'proto-max-bulk-len', aliases: [], get: (c) => String(c.bulkBytesMax), set: memSetter('bulkBytesMax', 1), change: 'live' },
  {
    name: 'client-output-buffer-limit', aliases: [], change: 'live',
    get: (c) => formatOutputLimits(c.outputLimits),
    set: setOutputLimits,
  },
  { name: 'auto-aof-rewrite-percentage', aliases: [], get: (c) => String(c.compactPercent), set: intSetter('compactPercent', 0, 1_000_000), change: 'startup' },
  { name: 'auto-aof-rewrite-min-size', aliases: [], get: (c) => String(c.compactMinBytes), set: memSetter('compactMinBytes', 0), change: 'startup' },
  {
    name: 'notify-keyspace-events', aliases: [], get: (c) => formatNotifyFlags(c.notifyKeyspaceEvents), change: 'live',
    set: (c, v) => {
      const f = parseNotifyFlags(v);
      if (f === null) return NOTIFY_CLASS_ERROR;
      c.notifyKeyspaceEvents = f;
      return null;
    },
  },
  { name: 'maxmemory', aliases: [], get: (c) => String(c.maxmemory), set: memSetter('maxmemory', 0), change: 'live' },
  {
    name: 'tracking-table-max-keys', aliases: [], get: (c) => String(c.trackingTableKeysMax), change: 'live',
    set: (c, v) => {
      const n = parseIntIn(v, 0, Number.MAX_SAFE_INTEGER);
      if (n === null) return 'argument couldn\'t be parsed into an integer';
      c.trackingTableKeysMax = n;
      return null;
    },
  },
  {
    name: 'maxmemory-policy', aliases: [], get: (c) => c.maxmemoryPolicy, change: 'live',
    set: (c, v) => {
      const p = MAXMEMORY_POLICIES.find((x) => x === v.toLowerCase());
      if (p === undefined) return `argument(s) must be one of the following: ${POLICY_ORDER.join(', ')}`;
      c.maxmemoryPolicy = p;
      return null;
    },
  },
  { name: 'maxmemory-samples', aliases: [], get: (c) => String(c.maxmemorySamples), set: intSetter('maxmemorySamples', MAXMEMORY_SAMPLES_MIN, MAXMEMORY_SAMPLES_MAX), change: 'live' },
  {
    name: 'maxmemory-eviction-tenacity', aliases: [], get: (c) => String(c.maxmemoryEvictionTenacity), change: 'live',
    set: intSetter('maxmemoryEvictionTenacity', 0, EVICTION_TENACITY_MAX),
  },
  { name: 'slowlog-log-slower-than', aliases: [], get: (c) => String(c.slowlogSlowerThanUs), set: intSetter('slowlogSlowerThanUs', -1, THRESHOLD_MAX), change: 'live' },
  { name: 'busy-reply-threshold', aliases: ['lua-time-limit'], get: (c) => String(c.scriptTimeLimitMs), set: intSetter('scriptTimeLimitMs', 0, THRESHOLD_MAX), change: 'live' },
  // Redis 7.0's older name for it, accepted by CONFIG too.
  { name: 'lua-time-limit', aliases: [], get: (c) => String(c.scriptTimeLimitMs), set: intSetter('scriptTimeLimitMs', 0, THRESHOLD_MAX), change: 'live', hidden: true },
  { name: 'slowlog-max-len', aliases: [], get: (c) => String(c.slowlogMaxLen), set: intSetter('slowlogMaxLen', 0, SLOWLOG_MAX_LEN_MAX), change: 'live' },
  { name: 'latency-monitor-threshold', aliases: [], get: (c) => String(c.latencyMonitorThresholdMs), set: intSetter('latencyMonitorThresholdMs', 0, THRESHOLD_MAX), change: 'live' },
  {
    name: 'latency-tracking', aliases: [], get: (c) => (c.latencyTracking ? 'yes' : 'no'), change: 'live',
    set: (c, v) => {
      const b = parseYesNo(v);
      if (b === null) return "argument must be 'yes' or 'no'";
      c.latencyTracking = b;
      return null;
    },
  },
  {
    name: 'latency-tracking-info-percentiles', aliases: [], get: (c) => c.latencyPercentiles.map(String).join(' '), change: 'live',
    set: (c, v) => {
      const ps = parsePercentiles(v);
      if (typeof ps === 'string') return ps;
      c.latencyPercentiles = ps;
      return null;
    },
  },
  // Fixed facts that clients and tools query; setting them to their one value is accepted.
  // Redis's old names (ziplist) are settings of their own so CONFIG GET/SET accept both.
  ...(['hash-max-listpack-entries', 'hash-max-ziplist-entries'] as const).map((name) => limitSetting(name, 'hashListpackEntries')),
  ...(['hash-max-listpack-value', 'hash-max-ziplist-value'] as const).map((name) => limitSetting(name, 'hashListpackValueBytes')),
  limitSetting('set-max-intset-entries', 'setIntsetEntries'),
  ...(['zset-max-listpack-entries', 'zset-max-ziplist-entries'] as const).map((name) => limitSetting(name, 'zsetListpackEntries')),
  ...(['zset-max-listpack-value', 'zset-max-ziplist-value'] as const).map((name) => limitSetting(name, 'zsetListpackValueBytes')),
  ...(['list-max-listpack-size', 'list-max-ziplist-size'] as const).map((name) => limitSetting(name, 'listListpackSize', -65535)),
  limitSetting('list-compress-depth', 'listCompressDepth'),
  limitSetting('stream-node-max-entries', 'streamNodeEntries'),
  limitSetting('stream-node-max-bytes', 'streamNodeBytes'),
  {
    // A memory value, as in Redis.
    name: 'hll-sparse-max-bytes', aliases: [], change: 'live', get: (c) => String(c.encodingLimits.hllSparseBytes),
    set: (c, v) => {
      const n = parseMemory(v);
      if (n === null) return 'argument must be a memory value';
      c.encodingLimits.hllSparseBytes = n;
      return null;
    },
  },
  // Redis's RDB save points: kv-ts logs every write before it is acknowledged, so a point can
  // only ask for a snapshot of what is already durable. Validated as Redis does and reported.
  { name: 'save', aliases: [], get: (c) => c.savePoints, change: 'live', set: setSavePoints },
  {
    // Live, as in Redis: a smaller budget drops the oldest entries at once. Without a replication
    // layer (the embedded store) it is only kept; Redis's default is reported until set.
    name: 'repl-backlog-size', aliases: [], change: 'live',
    get: (c, facts) => String(facts.backlog()?.get() ?? c.replBacklogBytes ?? REPL_BACKLOG_SIZE_REDIS_DEFAULT),
    set: (c, v, facts) => {
      const n = parseMemory(v);
      if (n === null) return 'argument must be a memory value';
      if (n < 1) return 'argument must be >= 1';
      const b = facts.backlog();
      if (b === null) c.replBacklogBytes = n;
      else b.set(n);
      return null;
    },
  },
  { name: 'appendonly', aliases: [], get: () => 'yes', change: 'live', set: (_c, v) => (v === 'yes' ? null : 'kv-ts always logs; only "yes" is accepted') },
  { name: 'databases', aliases: [], get: () => '1', change: 'immutable', set: (_c, v) => (v === '1' ? null : 'only one database exists') },
  { name: 'daemonize', aliases: [], get: () => 'no', change: 'immutable', set: (_c, v) => (parseYesNo(v) === false ? null : 'kv-ts does not daemonize; only "no" is accepted') },
  // Immutable as in Redis: clients learn once, from their first connection, how to route.
  {
    name: 'cluster-enabled', aliases: [], change: 'immutable', get: (c) => (c.clusterEnabled ? 'yes' : 'no'),
    set: (c, v) => {
      const b = parseYesNo(v);
      if (b === null) return 'argument must be \'yes\' or \'no\'';
      c.clusterEnabled = b;
      return null;
    },
  },
  // Whose replica this node is ("host port", "" on a primary): the replication layer owns it
  // (REPLICAOF changes it); CONFIG SET refuses it as Redis 7.0 does.
  ...(['replicaof', 'slaveof'] as const).map((name): Setting => ({
    name, aliases: [], change: 'immutable', get: (_c, facts) => facts.replicaOf(),
    set: () => 'set by REPLICAOF',
  })),
  {
    // Redis evicts clients once all of them together use more than this; kv-ts bounds each
    // client instead (client-output-buffer-limit, client-query-buffer-limit), so only "off".
    name: 'maxmemory-clients', aliases: [], get: () => '0', change: 'live',
    set: (_c, v) => {
      const n = parseMemoryOrPercent(v);
      if (typeof n === 'string') return n;
      return n === 0 ? null : 'kv-ts does not evict clients by their total memory; only 0 is accepted';
    },
  },
  ...TLS_SETTINGS,
  // Redis's test hook slowing its loading per key: kv-ts has none, so only "no delay".
  { name: 'key-load-delay', aliases: [], get: () => '0', change: 'live', hidden: true, set: (_c, v) => (/^-?\d+$/.test(v) ? (Number(v) === 0 ? null : 'kv-ts has no load delay; only 0 is accepted') : "argument couldn't be parsed into an integer") },
];

/** An encoding limit (Redis: a size_t from 0 to LONG_MAX; list-max-listpack-size may be negative). */
function limitSetting(name: string, key: keyof EncodingLimits, min = 0): Setting {
  return {
    name,
    aliases: [],
    change: 'live',
    get: (c) => String(c.encodingLimits[key]),
    set: (c, v) => {
      const n = parseIntIn(v, min, Number.MAX_SAFE_INTEGER);
      if (n === null) return 'argument couldn\'t be parsed into an integer';
      c.encodingLimits[key] = n;
      return null;
    },
  };
}

/** Redis's save value: "" or pairs of seconds (>= 1) and changes (>= 0). */
function setSavePoints(cfg: ServerConfig, v: string): string | null {
  const words = v === '' ? [] : v.split(' ');
  if (words.length % 2 !== 0) return 'Invalid save parameters';
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as string;
    if (!/^[+-]?\d+$/.test(w) || Number(w) < (i % 2 === 0 ? 1 : 0)) return 'Invalid save parameters';
  }
  cfg.savePoints = words.map((w) => String(Number(w))).join(' ');
  return null;
}

/** Redis's memory-or-percent value (a percentage comes back negative); else Redis's error text. */
function parseMemoryOrPercent(v: string): number | string {
  const n = parseMemory(v);
  if (n !== null) return n;
  const m = /^(\d+)%$/.exec(v);
  if (m === null) return 'argument must be a memory or percent value';
  const pct = Number(m[1]);
  return pct > 100 ? 'percentage argument must be less or equal to 100' : -pct;
}

/** Facts other layers own that CONFIG GET reports. */
export interface ConfigFacts {
  /** "host port" of this node's primary, "" on a primary. */
  replicaOf(): string;
  /** The replication backlog's budget, when a replication layer is attached. */
  backlog(): { get(): number; set(bytes: number): void } | null;
}

const NO_FACTS: ConfigFacts = { replicaOf: () => '', backlog: () => null };

/** A CONFIG name (case-insensitive); flag aliases are not CONFIG names. */
function findConfig(name: string): Setting | undefined {
  const n = name.toLowerCase();
  return SETTINGS.find((s) => s.name === n);
}

function findSetting(name: string): Setting | undefined {
  const n = name.toLowerCase();
  return SETTINGS.find((s) => s.name === n || s.aliases.includes(n));
}

/**
 * CONFIG GET of several patterns: a pattern without glob characters names one setting (hidden
 * ones included) and comes back spelled as asked; a glob matches the settings that are not
 * hidden. Each setting comes once, in the order found.
 */
export function configGet(cfg: ServerConfig, patterns: readonly string[], facts: ConfigFacts = NO_FACTS): Array<[string, string]> {
  const found = new Map<Setting, string>();
  for (const p of patterns) {
    if (!/[[*?]/.test(p)) {
      const s = findConfig(p);
      if (s !== undefined && !found.has(s)) found.set(s, p);
      continue;
    }
    for (const s of SETTINGS) if (s.hidden !== true && !found.has(s) && globMatch(p, s.name, true)) found.set(s, s.name);
  }
  return [...found].map(([s, name]) => [name, s.get(cfg, facts)]);
}

/** One CONFIG SET call's outcome: Redis's error text (no "ERR "), or the settings whose value changed. */
export type ConfigSetResult = { readonly error: string } | { readonly changed: readonly string[] };

const failed = (name: string, why: string): { error: string } => ({ error: `CONFIG SET failed (possibly related to argument '${name}') - ${why}` });

/**
 * Redis 7's CONFIG SET of several pairs: all or nothing. Names are checked first (unknown,
 * immutable, duplicate: the first problem is reported); then every value is set in order and,
 * if one is refused, every setting of the call gets its old value back.
 */
export function configSetMany(
  cfg: ServerConfig,
  pairs: ReadonlyArray<readonly [string, string]>,
  facts: ConfigFacts = NO_FACTS,
  /** Applies the changed settings together (e.g. loads new TLS files); an error text puts every pair back. */
  apply: ((changed: readonly string[]) => { readonly name: string; readonly error: string } | null) | null = null,
): ConfigSetResult {
  const settings: Setting[] = [];
  for (const [name] of pairs) {
    const s = findConfig(name);
    if (s === undefined) return { error: `Unknown option or number of arguments for CONFIG SET - '${name}'` };
    if (s.change === 'immutable') return failed(name, "can't set immutable config");
    if (settings.includes(s)) return failed(name, 'duplicate parameter');
    settings.push(s);
  }
  const old = settings.map((s) => s.get(cfg, facts));
  const changed: string[] = [];
  for (let i = 0; i < settings.length; i++) {
    const s = settings[i] as Setting;
    const v = (pairs[i] as readonly [string, string])[1];
    const err = s.change === 'startup' ? sameValue(cfg, s, v, old[i] as string) : s.set(cfg, v, facts);
    if (err !== null) {
      // The old values were valid before: setting them back cannot fail.
      for (let j = i; j >= 0; j--) (settings[j] as Setting).set(cfg, old[j] as string, facts);
      return failed(s.name, err);
    }
    if (s.get(cfg, facts) !== old[i]) changed.push(s.name);
  }
  const refused = changed.length > 0 && apply !== null ? apply(changed) : null;
  if (refused !== null) {
    for (let j = settings.length - 1; j >= 0; j--) (settings[j] as Setting).set(cfg, old[j] as string, facts);
    return failed(refused.name, refused.error);
  }
  return { changed };
}

/** A startup-only setting: its current value (as it would be stored) is accepted, nothing else. */
function sameValue(cfg: ServerConfig, s: Setting, v: string, current: string): string | null {
  const scratch = structuredClone(cfg);
  const err = s.set(scratch, v, NO_FACTS);
  if (err !== null) return err;
  return s.get(scratch, NO_FACTS) === current ? null : 'kv-ts reads it only at startup';
}

/** One pair of CONFIG SET. */
export function configSet(cfg: ServerConfig, name: string, value: string): string | null {
  const r = configSetMany(cfg, [[name, value]]);
  return 'error' in r ? r.error : null;
}

/** Startup assignment (flags, config file): every setting, mutable or not. Error text or null. */
export function setAtStartup(cfg: ServerConfig, name: string, value: string): string | null {
  const s = findSetting(name);
  if (s === undefined) return `unknown setting '${name}'`;
  const err = s.set(cfg, value, NO_FACTS);
  return err === null ? null : `bad value for '${name}': ${JSON.stringify(value)} (${err})`;
}

/**
 * A config file is JSON (an object of setting -> value) or redis.conf style
 * (`name value` per line, # comments, "quoted" values). Returns the pairs or an error text.
 */
export function parseConfigFile(text: string): Array<[string, string]> | string {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let obj: unknown;
    try {
      obj = JSON.parse(trimmed);
    } catch (e) {
      return `invalid JSON: ${(e as Error).message}`;
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return 'JSON config must be an object';
    const out: Array<[string, string]> = [];
    for (const [k, v] of Object.entries(obj)) {
      if (typeof v !== 'string' && typeof v !== 'number' && v !== null) return `JSON value of '${k}' must be a string or number`;
      out.push([k, v === null ? '' : String(v)]);
    }
    return out;
  }
  const out: Array<[string, string]> = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+)\s*(.*)$/.exec(line) as RegExpExecArray;
    let v = (m[2] as string).trim();
    if (v.length >= 2 && ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'")))) v = v.slice(1, -1);
    out.push([m[1] as string, v]);
  }
  return out;
}

/** What CONFIG REWRITE writes before the settings it appends (Redis writes the same line). */
const REWRITE_MARKER = '# Generated by CONFIG REWRITE';

/**
 * A value as a redis.conf line holds it (parseConfigFile reads it back): quoted with a quote it
 * does not end with when the parser would otherwise trim or unquote it. null: a line break, which
 * no line can hold.
 */
function confValue(v: string): string | null {
  if (/[\r\n]/.test(v)) return null;
  if (v !== '' && v === v.trim() && !/^["']|["']$/.test(v)) return v;
  const q = v.endsWith('"') || v.startsWith('"') ? "'" : '"';
  return `${q}${v}${q}`;
}

/**
 * CONFIG REWRITE: the config file's new text, given its current text. Redis's rules: comments and
 * blank lines stay where they are; a setting the file names gets its current value on its own line
 * (under the name the file uses; a second line for the same setting is dropped); a setting whose
 * value differs from kv-ts's default and that the file does not name is appended after a marker.
 * Immutable and hidden settings are left as the file has them. A JSON file stays JSON (keys
 * updated in place, new ones added). Returns an error text when the file cannot be read as a config.
 */
export function rewriteConfigText(text: string, cfg: ServerConfig, facts: ConfigFacts): { text: string } | { error: string } {
  const defaults = defaultConfig();
  const rewritable = (st: Setting): boolean => st.change !== 'immutable' && st.hidden !== true;
  const added = (named: ReadonlySet<Setting>): Setting[] => SETTINGS.filter((st) => !named.has(st) && rewritable(st) && st.get(cfg, facts) !== st.get(defaults, NO_FACTS));
  if (text.trim().startsWith('{')) {
    const pairs = parseConfigFile(text);
    if (typeof pairs === 'string') return { error: pairs };
    const obj: Record<string, string> = {};
    const named = new Set<Setting>();
    for (const [k, v] of pairs) {
      const st = findSetting(k);
      if (st === undefined || !rewritable(st)) obj[k] = v;
      else if (!named.has(st)) {
        named.add(st);
        obj[k] = st.get(cfg, facts);
      }
    }
    for (const st of added(named)) obj[st.name] = st.get(cfg, facts);
    return { text: `${JSON.stringify(obj, null, 2)}\n` };
  }
  const out: string[] = [];
  const named = new Set<Setting>();
  let broken: Setting | null = null;
  const lineOf = (name: string, st: Setting): string => {
    const v = confValue(st.get(cfg, facts));
    if (v === null) broken = st;
    return `${name} ${v ?? ''}`;
  };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === REWRITE_MARKER) continue;
    const name = /^(\S+)/.exec(line)?.[1];
    const st = name === undefined || line.startsWith('#') ? undefined : findSetting(name);
    if (name === undefined || st === undefined || !rewritable(st)) out.push(raw);
    else if (!named.has(st)) {
      named.add(st);
      out.push(lineOf(name, st));
    }
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  const more = added(named);
  if (more.length > 0) out.push(REWRITE_MARKER, ...more.map((st) => lineOf(st.name, st)));
  if (broken !== null) return { error: `the value of '${(broken as Setting).name}' holds a line break` };
  return { text: `${out.join('\n')}\n` };
}
