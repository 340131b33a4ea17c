// kv-server: command-line entry point. Parses flags and the optional config file, opens
// the store, starts the network server and turns SIGTERM/SIGINT into a clean shutdown.
// Owns process concerns only (argv, exit codes, signals, logging setup); it never
// handles a request itself.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { openReplicatedStore } from '../storage/store.js';
import { warmUp } from '../server/warmup.js';
import { SERVER_FSYNC_ON_LOOP_MAX_MS } from '../storage/wal.js';
import { defaultConfig, parseConfigFile, parseMemory, setAtStartup, type ServerConfig } from '../server/config.js';
import { KvServer, type ServerLog } from '../server/server.js';
import { KV_TS_VERSION } from '../server/info-sections.js';
import { formatAddress } from '../net/address.js';
import { createLogger, LOG_FORMATS, parseLogFormat, type LogFormat } from './log-format.js';
import type { MetricsEndpoint } from '../metrics/http.js';
import { announcedPort, linkTlsOptions, loadTlsMaterial, tlsClientOptions, tlsInUse, type TlsMaterial } from '../server/tls.js';
import { restoreBackup, restoreTargetRefusal, reusedIdRefusal, verifyBackup } from '../replication/host/backup-restore.js';
import { formatPosition } from '../storage/types.js';
import { attachReplication, ConfigRefusedError, parseReplicationFlags, REPLICATION_FLAG_NAMES, type ReplicationFlags } from '../replication/host/attach.js';

/** Exit code for usage errors (bad flag or value), like most Unix tools. */
const EXIT_USAGE = 2;
/** Exit code for runtime failures (store cannot open, port in use). */
const EXIT_FAILURE = 1;

const USAGE = `Usage: kv-server [options]

Options:
  --port N                    TCP port (default 4000)
  --host ADDR                 address to listen on (default 127.0.0.1: loopback only)
  --dir PATH                  data directory (default ./data)
  --fsync always|everysec|no  log fsync policy (default everysec)
  --requirepass PASSWORD      require AUTH before other commands (the default user's password)
  --aclfile PATH              users file for ACL LOAD / SAVE ("user <name> <rules>" lines); read
                              at startup while the log holds no users
  --maxclients N              maximum simultaneous clients (default 10000)
  --log-level LEVEL           trace|debug|info|warn|error|fatal|silent (default info)
  --log-format auto|json|pretty  log lines as JSON or human-readable (default auto: readable when
                              stderr is a terminal, JSON when piped)
  --metrics-port N            serve GET /metrics (Prometheus) and GET /health over HTTP on port N
                              (default: off; 0 = any free port, printed at start)
  --metrics-host ADDR         address of the metrics endpoint (default 127.0.0.1)
  --config FILE               JSON or redis.conf-style "name value" file; flags override it
  --client-query-buffer-limit BYTES   max unparsed input per client (default 1gb)
  --client-output-buffer-limit BYTES  max pending output per client (default 64mb, 0 = unlimited);
                                      or Redis's "normal <hard> <soft> <soft-seconds>" groups
  --proto-max-bulk-len BYTES          max size of one argument (default 512mb)
  --auto-aof-rewrite-percentage N     compact when the log grows by N% (default 100)
  --auto-aof-rewrite-min-size BYTES   ... and is at least this big (default 64mb)
  --maxmemory BYTES           memory limit (e.g. 100mb, 1gb; 0 = none); default 3/4 of the
                              smaller of physical memory and the cgroup limit
  --maxmemory-policy POLICY   noeviction (default: writes get -OOM over the limit),
                              allkeys-lru|lfu|random, volatile-lru|lfu|random|ttl
  --maxmemory-samples N       keys sampled per eviction (default 5)
  --slowlog-log-slower-than US  log commands taking US microseconds or more (default 10000;
                              0 = every command, -1 = off); SLOWLOG GET reads them
  --slowlog-max-len N         slow log entries kept (default 128)
  --latency-monitor-threshold MS  record latency events of MS or more (default 0 = off)
  --replica-of HOST:PORT      start as a replica of that primary
  --primary-user NAME         user the replication link authenticates as (default: default)
  --primary-auth PASSWORD     that user's password on the primary (replication link)
  --replica-max-lag-ms MS     replica refuses reads after this long without the primary (default 5000)
  --replica-max-lag-ops N     ... or when this many writes behind (default 1000)
  --repl-backlog-bytes BYTES  primary's backlog for partial resyncs (default 16mb)
  --tls-port N                TLS listener next to --port (default 0: none; --port 0: TLS only)
  --tls-cert-file FILE        this node's PEM certificate (also presented on the links it dials)
  --tls-key-file FILE         its PEM private key
  --tls-ca-cert-file FILE     PEM CA that signs client and peer certificates
  --tls-auth-clients yes|no|optional  yes (default): clients need a certificate the CA signed;
                              optional: one given is checked; no: none asked
  --tls-replication yes|no    the link to --replica-of / REPLICAOF uses TLS (the address names
                              the primary's TLS port)
  --tls-cluster yes|no        cluster links use TLS: the ports in --cluster are TLS ports
  --node-id ID                stable node id (default: random, kept in the data directory)
  --cluster ID=HOST:PORT,...  cluster mode: every member, this node included (needs --node-id);
                              elections choose the primary; QUORUM reads/writes, FAILOVER, TOPOLOGY,
                              MEMBER. The bootstrap configuration of a new cluster; once the log
                              holds a configuration (after MEMBER changes) it only gives addresses
  --join HOST:PORT            an empty data directory joins the running cluster of that member
                              (needs --node-id): added as a learner, promoted once caught up; a
                              restart needs neither --join nor --cluster
  --election-timeout-ms N     cluster: election timeouts drawn from [N, 2N) ms (default 500)
  --heartbeat-interval-ms N   cluster: primary heartbeat interval (default 50)
  --cluster-enabled yes|no    cluster: every connection speaks Redis Cluster (keyed commands a
                              replica does not serve get -MOVED, not -READONLY; default no)
  --repair                    check the data directory and cut every damaged file at its first
                              damage (log segment, snapshot, meta.json, epochs.json), print what
                              was dropped (records, seq range), keep the cut bytes in
                              <dir>/repair-<time>/, then exit (0: done, 1: cannot repair)
  --restore FILE              start a new data directory (--dir, missing or empty) from a backup
                              written by kv-cli --snapshot: checks the whole file first (a
                              damaged or incomplete one is refused), loads it with progress on
                              stderr, then runs normally; give the node ids other than the
                              backup's source (see docs/operations.md, 'Backups and the restore drill')
  --warmup yes|no             before opening the data, run SET/GET through the request path on a
                              scratch store in a temp directory, so the first clients are served
                              by code V8 has already optimized (default no; adds ~250 ms or more
                              to start-up)
  --help                      print this help
  --version                   print the version
`;

/** Flags that map one-to-one onto settings (config.ts names). */
const SETTING_FLAGS: Record<string, string> = {
  port: 'port',
  host: 'bind',
  dir: 'dir',
  fsync: 'appendfsync',
  requirepass: 'requirepass',
  aclfile: 'aclfile',
  maxclients: 'maxclients',
  'log-level': 'loglevel',
  'client-query-buffer-limit': 'client-query-buffer-limit',
  'client-output-buffer-limit': 'client-output-buffer-limit',
  'proto-max-bulk-len': 'proto-max-bulk-len',
  'auto-aof-rewrite-percentage': 'auto-aof-rewrite-percentage',
  'auto-aof-rewrite-min-size': 'auto-aof-rewrite-min-size',
  maxmemory: 'maxmemory',
  'maxmemory-policy': 'maxmemory-policy',
  'maxmemory-samples': 'maxmemory-samples',
  'slowlog-log-slower-than': 'slowlog-log-slower-than',
  'slowlog-max-len': 'slowlog-max-len',
  'latency-monitor-threshold': 'latency-monitor-threshold',
  'tls-port': 'tls-port',
  'tls-cert-file': 'tls-cert-file',
  'tls-key-file': 'tls-key-file',
  'tls-ca-cert-file': 'tls-ca-cert-file',
  'tls-auth-clients': 'tls-auth-clients',
  'tls-replication': 'tls-replication',
  'tls-cluster': 'tls-cluster',
  'cluster-enabled': 'cluster-enabled',
};

function usageError(msg: string): never {
  process.stderr.write(`kv-server: ${msg}\n`);
  process.exit(EXIT_USAGE);
}

/** The HTTP endpoint's flags (not settings: CONFIG does not see them). */
interface ObservabilityFlags {
  readonly logFormat: LogFormat;
  /** null: no metrics endpoint. */
  readonly metricsPort: number | null;
  readonly metricsHost: string;
}

function parseObservabilityFlags(values: Record<string, string | boolean | undefined>): ObservabilityFlags {
  const fmt = values['log-format'];
  const logFormat = typeof fmt === 'string' ? parseLogFormat(fmt) : 'auto';
  if (logFormat === null) usageError(`--log-format: expected one of ${LOG_FORMATS.join('|')}, got '${String(fmt)}'`);
  const port = values['metrics-port'];
  let metricsPort: number | null = null;
  if (typeof port === 'string') {
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) usageError(`--metrics-port: expected a port number 0-65535, got '${port}'`);
    metricsPort = Number(port);
  }
  const host = values['metrics-host'];
  if (typeof host === 'string' && metricsPort === null) usageError('--metrics-host needs --metrics-port');
  return { logFormat, metricsPort, metricsHost: typeof host === 'string' ? host : '127.0.0.1' };
}

type Parsed = { config: ServerConfig; configFile: string | undefined; replication: ReplicationFlags; repair: boolean; restore: string | undefined; observability: ObservabilityFlags; warmup: boolean } | 'exit';

function parseCommandLine(argv: string[]): Parsed {
  const options: Record<string, { type: 'string' | 'boolean' }> = { config: { type: 'string' }, help: { type: 'boolean' }, version: { type: 'boolean' }, repair: { type: 'boolean' }, restore: { type: 'string' } };
  for (const f of Object.keys(SETTING_FLAGS)) options[f] = { type: 'string' };
  for (const f of REPLICATION_FLAG_NAMES) options[f] = { type: 'string' };
  for (const f of ['log-format', 'metrics-port', 'metrics-host', 'warmup']) options[f] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    // parseArgs messages are one line, e.g. "Unknown option '--prot'".
    usageError(`${(e as Error).message.split('\n')[0]} (see --help)`);
  }
  if (values['help'] === true) {
    process.stdout.write(USAGE);
    return 'exit';
  }
  if (values['version'] === true) {
    process.stdout.write(`kv-server ${KV_TS_VERSION}\n`);
    return 'exit';
  }
  const cfg = defaultConfig();
  const file = values['config'];
  if (typeof file === 'string') {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      usageError(`cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const pairs = parseConfigFile(text);
    if (typeof pairs === 'string') usageError(`config file ${file}: ${pairs}`);
    for (const [k, v] of pairs) {
      const err = setAtStartup(cfg, k, v);
      if (err !== null) usageError(`config file ${file}: ${err}`);
    }
  }
  for (const [flag, setting] of Object.entries(SETTING_FLAGS)) {
    const v = values[flag];
    if (typeof v !== 'string') continue;
    const err = setAtStartup(cfg, setting, v);
    if (err !== null) usageError(`--${flag}: ${err.replace(/^bad value for '[^']+': /, 'bad value ')}`);
  }
  // A config file's repl-backlog-size is the backlog flag's value when the flag is not given.
  const fromFile = values['repl-backlog-bytes'] === undefined && cfg.replBacklogBytes !== null ? { 'repl-backlog-bytes': String(cfg.replBacklogBytes) } : {};
  const replication = parseReplicationFlags({ ...values, ...fromFile }, parseMemory);
  if (typeof replication === 'string') usageError(replication);
  const observability = parseObservabilityFlags(values);
  const restore = typeof values['restore'] === 'string' ? values['restore'] : undefined;
  if (restore !== undefined && values['repair'] === true) usageError('--restore and --repair exclude each other');
  const warmupFlag = values['warmup'];
  if (warmupFlag !== undefined && warmupFlag !== 'yes' && warmupFlag !== 'no') usageError(`--warmup: expected yes or no, got '${String(warmupFlag)}'`);
  return { config: cfg, configFile: typeof file === 'string' ? file : undefined, replication, repair: values['repair'] === true, restore, observability, warmup: warmupFlag === 'yes' };
}

/** --repair: open the directory with repair on, report every cut on stdout, close, exit. */
async function repair(dir: string): Promise<void> {
  const cuts: string[] = [];
  try {
    const store = await openReplicatedStore({
      dir,
      repair: true,
      onWarning: (m) => {
        cuts.push(m);
        process.stdout.write(`kv-server: ${m}\n`);
      },
    });
    const last = store.lastPosition;
    const keys = store.size;
    await store.close();
    const what = cuts.some((m) => m.startsWith('repair:')) ? 'repaired' : 'no damage found in';
    process.stdout.write(`kv-server: ${what} ${dir}: ${keys} keys, log up to seq ${last.seq}\n`);
  } catch (e) {
    process.stderr.write(`kv-server: cannot repair ${dir}: ${(e as Error).message}\n`);
    process.exit(EXIT_FAILURE);
  }
}

/** --restore: build the (empty) data directory from a backup before the normal start. */
async function restore(file: string, dir: string, replication: ReplicationFlags): Promise<void> {
  const say = (line: string): void => void process.stderr.write(`kv-server: restore: ${line}\n`);
  const refusal = restoreTargetRefusal(dir);
  if (refusal !== null) usageError(`--restore: ${refusal}`);
  say(`checking ${file}`);
  let lastSay = Date.now();
  const checked = verifyBackup(file, (bytes, total) => {
    if (Date.now() - lastSay < 1000) return;
    lastSay = Date.now();
    say(`checking ${file}: ${Math.floor((bytes * 100) / total)}%`);
  });
  if (!checked.ok) {
    process.stderr.write(`kv-server: cannot restore: ${checked.error}; nothing was written to ${dir}\n`);
    process.exit(EXIT_FAILURE);
  }
  const ids = [...(replication.nodeId !== null ? [replication.nodeId] : []), ...(replication.cluster !== null ? [...replication.cluster.members.keys()] : [])];
  const reused = reusedIdRefusal(checked.summary, ids);
  if (reused !== null) usageError(`--restore: ${reused}`);
  const s = checked.summary;
  say(`${file} is whole: ${s.items} snapshot items and ${s.records} log records, exact at ${formatPosition(s.end)}, from node ${s.sourceNodeId}`);
  const done = await restoreBackup(file, dir, s, say);
  if (!done.ok) {
    process.stderr.write(`kv-server: cannot restore: ${done.error}; nothing was written to ${dir}\n`);
    process.exit(EXIT_FAILURE);
  }
  say(`${dir} restored at ${formatPosition(s.end)}; starting`);
}

async function main(): Promise<void> {
  const parsed = parseCommandLine(process.argv.slice(2));
  if (parsed === 'exit') return;
  if (parsed.repair) return repair(parsed.config.dir);
  if (parsed.restore !== undefined) await restore(parsed.restore, parsed.config.dir, parsed.replication);
  const { config: cfg, configFile } = parsed;
  // Certificates are checked before anything opens: a bad file stops the start, never a later handshake.
  let tls: TlsMaterial | null = null;
  if (tlsInUse(cfg.tls)) {
    const m = loadTlsMaterial(cfg.tls);
    if ('kind' in m) {
      if (m.kind === 'usage') usageError(m.message);
      process.stderr.write(`kv-server: ${m.message}\n`);
      process.exit(EXIT_FAILURE);
    }
    tls = m;
  }
  // Peers dial the ports --cluster lists, as TLS ports: this node must listen on one.
  const clusterFlag = parsed.replication.cluster !== null || parsed.replication.join !== null;
  if (cfg.tls.cluster && clusterFlag && cfg.tls.port === 0) usageError('--tls-cluster yes needs --tls-port (the port --cluster lists for this node)');
  const obs = parsed.observability;
  const logger = await createLogger(cfg.logLevel, obs.logFormat);
  // Loaded only with --metrics-port (prom-client's start-up time), and built before the store
  // opens: the store reports each fsync round's duration to it.
  const metricsModule = obs.metricsPort === null ? null : await import('../metrics/http.js');
  const metrics = metricsModule === null ? null : new metricsModule.ServerMetrics();
  const log: ServerLog = {
    info: (m) => logger.info(m),
    warn: (m) => logger.warn(m),
    error: (m) => logger.error(m),
  };
  if (parsed.warmup) {
    // Before the real store opens: the warm-up's scratch server and store are gone when it returns.
    try {
      const w = await warmUp(cfg.fsync);
      logger.info(`warm-up: ${w.requests} requests in ${w.ms.toFixed(0)} ms`);
    } catch (e) {
      logger.warn(`warm-up skipped: ${(e as Error).message}`);
    }
  }
  let store;
  try {
    store = await openReplicatedStore({
      dir: cfg.dir,
      fsync: cfg.fsync,
      compactPercent: cfg.compactPercent,
      compactMinBytes: cfg.compactMinBytes,
      encodingLimits: cfg.encodingLimits,
      fsyncOnLoopMaxMs: SERVER_FSYNC_ON_LOOP_MAX_MS,
      ...(metrics !== null ? { onFsyncSeconds: metrics.observeFsync } : {}),
      // After a log failure that discarded writes the store resumes by itself: the replication
      // host hears of the rollback (its core forgets those positions and a primary continues in
      // a new epoch), so no position is ever given to two records.
      onWarning: (m) => logger.warn(m),
    });
  } catch (e) {
    process.stderr.write(`kv-server: cannot open data directory ${cfg.dir}: ${(e as Error).message}\n`);
    process.exit(EXIT_FAILURE);
  }
  let endpoint: MetricsEndpoint | null = null;
  const server = new KvServer({
    config: cfg,
    store,
    log,
    ...(configFile !== undefined ? { configFile } : {}),
    ...(tls !== null ? { tls } : {}),
    onShutdown: (code) => {
      const exit = (): void => {
        logger.flush();
        process.exit(code);
      };
      if (endpoint === null) return exit();
      endpoint.close().then(exit, exit);
    },
  });
  let replication;
  try {
    // Before listen: a restarted primary begins its new epoch before any client can write.
    const linkTls = linkTlsOptions(cfg.tls, clusterFlag, tls);
    // Files loaded again by CONFIG SET: the next link dialled presents the new certificate.
    if (linkTls !== null) server.onTlsReload = (m) => void Object.assign(linkTls, tlsClientOptions(m));
    replication = await attachReplication(server, store, parsed.replication, formatAddress(cfg.host, announcedPort(cfg.port, cfg.tls)), log, linkTls);
  } catch (e) {
    process.stderr.write(`kv-server: cannot start replication: ${(e as Error).message}\n`);
    await store.close().catch(() => undefined);
    // A refused configuration (another cluster's data directory) is the operator's to fix: usage code.
    process.exit(e instanceof ConfigRefusedError ? EXIT_USAGE : EXIT_FAILURE);
  }
  if (metrics !== null && metricsModule !== null && obs.metricsPort !== null) {
    try {
      endpoint = await metricsModule.serveMetrics(metrics, server, replication.host, obs.metricsHost, obs.metricsPort, (e) => logger.warn(`metrics endpoint: ${e.message}`));
    } catch (e) {
      process.stderr.write(`kv-server: cannot serve metrics on ${formatAddress(obs.metricsHost, obs.metricsPort)}: ${(e as Error).message}\n`);
      await store.close().catch(() => undefined);
      process.exit(EXIT_FAILURE);
    }
    process.stdout.write(`kv-server metrics on http://${formatAddress(endpoint.host, endpoint.port)}/metrics\n`);
  }
  try {
    const addr = await server.listen();
    const tlsNote = addr.tlsPort > 0 ? `, TLS on port ${addr.tlsPort}` : '';
    process.stdout.write(`kv-server ready on ${addr.host}:${addr.port} (dir ${cfg.dir}, fsync ${cfg.fsync}${tlsNote})\n`);
    logger.info({ host: addr.host, port: addr.port, ...(addr.tlsPort > 0 ? { tlsPort: addr.tlsPort } : {}), dir: cfg.dir, fsync: cfg.fsync }, 'ready');
  } catch (e) {
    const ports = cfg.tls.port > 0 ? `${cfg.port} / TLS ${cfg.tls.port}` : String(cfg.port);
    process.stderr.write(`kv-server: cannot listen on ${cfg.host}:${ports}: ${(e as Error).message}\n`);
    await store.close().catch(() => undefined);
    process.exit(EXIT_FAILURE);
  }
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      // A second signal while shutting down: the operator insists; exit without waiting.
      process.stderr.write(`kv-server: ${sig} again, exiting immediately\n`);
      process.exit(EXIT_FAILURE);
    }
    void server.shutdown(sig);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

main().catch((e: unknown) => {
  process.stderr.write(`kv-server: ${(e as Error).message}\n`);
  process.exit(EXIT_FAILURE);
});
