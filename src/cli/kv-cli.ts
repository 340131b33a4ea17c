// kv-cli: the command-line client, built on KvClient (src/client): it discovers the cluster from
// its seeds, sends writes to the primary wherever it is and rides through failovers. One-shot
// mode (`kv-cli set a 1`) and an interactive REPL with history and help, printing replies exactly
// like redis-cli 7. Owns the CLI's flow (flags, REPL loop, exit codes); format.ts prints.

import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ConnectionOptions } from 'node:tls';
import { AuthError, KvClient, KvError, UnavailableError, type Consistency, type ReadFrom } from '../client/index.js';
import type { Reply } from '../client/resp-wire.js';
import { formatAddress, parseAddress } from '../net/address.js';
import { formatCommandReply, formatHelp, splitArgs } from './format.js';
import { toReply } from './wire-reply.js';
import { takeSnapshot } from './snapshot.js';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 4000;
/** History entries kept in the history file (redis-cli keeps unlimited; we bound it). */
export const HISTORY_LINES_MAX = 1000;
const EXIT_OK = 0;
const EXIT_FAILURE = 1; // as redis-cli: cannot connect, connection lost
const EXIT_USAGE = 2; // bad flags; consistency mode refused in one-shot mode

const USAGE = `Usage: kv-cli [OPTIONS] [cmd [arg [arg ...]]]
  -h <hostname>      Server hostname (default: ${DEFAULT_HOST}).
  -p <port>          Server port (default: ${DEFAULT_PORT}).
  --seeds <a,b,..>   Cluster members as host:port (instead of -h/-p); the first is the node
                     that node-local commands (INFO, ROLE, TOPOLOGY, CONFIG, ...) go to.
  -a <password>      Password to use when connecting to the server.
  -n <db>            Database number (accepted for redis-cli compatibility; kv-ts has only db 0).
  -3, --resp3        Start the session in RESP3 protocol mode (HELLO 3).
  --quorum           Quorum mode: majority-committed writes, linearizable reads (cluster mode).
  --session          Session mode: read-your-writes and monotonic reads on any node.
  --read-from <where> primary (default) | replica | any: where reads go (not in quorum mode).
  --tls              Establish a secure TLS connection (to every node).
  --cacert <file>    CA Certificate file to verify with.
  --cert <file>      Client certificate to authenticate with.
  --key <file>       Private key file to authenticate with.
  --snapshot <file>  Write an exact backup of the node (-h/-p or the first seed; primary or replica)
                     to <file> while it keeps serving: progress on stderr, <file>.tmp until the
                     whole stream arrived and was checked, then fsync and rename. Restore it with
                     kv-server --restore <file> --dir <empty dir>.
  --raw              Use raw formatting for replies (default when stdout is not a tty).
  --no-raw           Force formatted output even when stdout is not a tty.
  --help             Output this help and exit.
`;

interface CliOptions {
  /** -h/-p as one address, or --seeds. */
  readonly seeds: readonly string[];
  readonly password: string | undefined;
  readonly resp3: boolean;
  readonly consistency: Consistency;
  readonly readFrom: ReadFrom;
  readonly raw: boolean | undefined;
  /** --tls and its PEM files (redis-cli's flags); null: plain TCP. */
  readonly tls: CliTls | null;
  readonly help: boolean;
  /** --snapshot: the backup file to write (no command runs). */
  readonly snapshot?: string;
  /** Command to run in one-shot mode; undefined starts the REPL. */
  readonly command: readonly string[] | undefined;
}

interface CliTls {
  readonly cacert: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
}

type ParseResult = { readonly ok: true; readonly opts: CliOptions } | { readonly ok: false; readonly error: string };

export function parseCliArgs(argv: readonly string[]): ParseResult {
  let host = DEFAULT_HOST;
  let port = DEFAULT_PORT;
  let password: string | undefined;
  let resp3 = false;
  let seeds: string[] | undefined;
  let readFrom: ReadFrom = 'primary';
  let consistency: Consistency = 'eventual';
  let raw: boolean | undefined;
  let help = false;
  let tls = false;
  const tlsFiles: { cacert?: string; cert?: string; key?: string } = {};
  let snapshot: string | undefined;
  let i = 0;
  /** The flag's value (the next word); consumes both. */
  const value = (): string | undefined => {
    const v = argv[i + 1];
    i += 2;
    return v === undefined ? undefined : v;
  };
  while (i < argv.length) {
    const a = argv[i] as string;
    if (!a.startsWith('-') || a === '-') break;
    switch (a) {
      case '-h': {
        const v = value();
        if (v === undefined) return { ok: false, error: `Missing value for ${a}` };
        host = v;
        continue;
      }
      case '-p': {
        const v = value();
        const n = Number(v);
        if (v === undefined || !Number.isInteger(n) || n < 1 || n > 65535) {
          return { ok: false, error: `Invalid port for -p: '${v ?? ''}'` };
        }
        port = n;
        continue;
      }
      case '--seeds': {
        const v = value();
        const list = (v ?? '').split(',').filter((x) => x !== '');
        const bad = list.find((a) => parseAddress(a) === null);
        if (list.length === 0 || bad !== undefined) return { ok: false, error: `Invalid --seeds: '${bad ?? v ?? ''}' (expected host:port[,host:port...])` };
        seeds = list;
        continue;
      }
      case '--read-from': {
        const v = value();
        if (v !== 'primary' && v !== 'replica' && v !== 'any') return { ok: false, error: `Invalid --read-from: '${v ?? ''}' (primary, replica or any)` };
        readFrom = v;
        continue;
      }
      case '-a': {
        const v = value();
        if (v === undefined) return { ok: false, error: `Missing value for ${a}` };
        password = v;
        continue;
      }
      case '--snapshot': {
        const v = value();
        if (v === undefined || v === '') return { ok: false, error: `Missing file for ${a}` };
        snapshot = v;
        continue;
      }
      case '-n': {
        const v = value();
        if (v === undefined || !/^\d+$/.test(v)) return { ok: false, error: `Invalid db number for -n: '${v ?? ''}'` };
        continue; // accepted and ignored: kv-ts has one keyspace
      }
      case '-3':
      case '--resp3':
        resp3 = true;
        break;
      case '-2':
        resp3 = false;
        break;
      case '--quorum':
        consistency = 'quorum';
        break;
      case '--session':
        consistency = 'session';
        break;
      case '--raw':
        raw = true;
        break;
      case '--no-raw':
        raw = false;
        break;
      case '--help':
        help = true;
        break;
      case '--tls':
        tls = true;
        break;
      case '--cacert':
      case '--cert':
      case '--key': {
        const v = value();
        if (v === undefined) return { ok: false, error: `Missing value for ${a}` };
        tlsFiles[a.slice(2) as 'cacert' | 'cert' | 'key'] = v;
        continue;
      }
      default:
        return { ok: false, error: `Unrecognized option: '${a}'` };
    }
    i++;
  }
  const command = i < argv.length ? argv.slice(i) : undefined;
  if (!tls && Object.keys(tlsFiles).length > 0) return { ok: false, error: '--cacert, --cert and --key need --tls' };
  const tlsOpts: CliTls | null = tls ? { cacert: tlsFiles.cacert, cert: tlsFiles.cert, key: tlsFiles.key } : null;
  if (snapshot !== undefined && command !== undefined) return { ok: false, error: '--snapshot takes no command' };
  return { ok: true, opts: { seeds: seeds ?? [formatAddress(host, port)], password, resp3, consistency, readFrom, raw, tls: tlsOpts, help, command, ...(snapshot !== undefined ? { snapshot } : {}) } };
}

/**
 * Commands that describe or steer the node they are sent to: kv-cli sends them to the node named
 * with -h/-p (the first seed), like redis-cli. Everything else is routed by KvClient: writes to
 * the primary wherever it is now, reads as --read-from says.
 */
const NODE_LOCAL = new Set([
  'info', 'role', 'position', 'config', 'client', 'debug', 'memory', 'slowlog', 'latency', 'dbsize',
  'command', 'ping', 'echo', 'time', 'lastsave', 'save', 'bgsave', 'bgrewriteaof', 'shutdown', 'replicaof',
  'slaveof', 'promote', 'failover', 'hello', 'auth', 'select', 'consistency', 'lolwut', 'acl', 'module',
  'monitor', 'object', 'reset', 'quit',
]);

/** ACL subcommands that change the replicated user table: they go to the primary, as other writes. */
const ACL_TABLE_WRITES = new Set(['setuser', 'deluser', 'load']);

/** The reply to print, or a failure of the client itself (no node, outcome unknown). */
type Outcome = { readonly ok: true; readonly reply: Reply } | { readonly ok: false; readonly error: string };

/** Server error replies (KvError subclasses carrying the server's line) print as (error) like redis-cli. */
const CLIENT_SIDE = new Set(['UNAVAILABLE', 'OUTCOMEUNKNOWN', 'CLOSED']);

async function call(client: KvClient, o: CliOptions, args: readonly Buffer[]): Promise<Outcome> {
  const name = (args[0] as Buffer).toString('utf8').toLowerCase();
  try {
    // TOPOLOGY: the primary's view is the complete one (a replica knows little about its peers).
    const at = NODE_LOCAL.has(name) && !(name === 'acl' && ACL_TABLE_WRITES.has(String(args[1] ?? '').toLowerCase())) ? (o.seeds[0] as string) : name === 'topology' ? client.topology()?.primary ?? (o.seeds[0] as string) : null;
    const v = at !== null ? await client.rawTypedAt(at, args) : await client.rawTyped(args);
    return { ok: true, reply: toReply(v) };
  } catch (e) {
    if (e instanceof KvError && !CLIENT_SIDE.has(e.code)) return { ok: true, reply: { type: 'error', message: e.message } };
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

/** What kv-cli says when it cannot start, and its exit code (redis-cli's texts where it has one). */
function connectFailure(o: CliOptions, e: unknown): number {
  if (e instanceof AuthError) {
    process.stderr.write(`AUTH failed: ${e.message}\n`);
    return EXIT_FAILURE;
  }
  if (e instanceof UnavailableError) {
    const cause = e.cause as NodeJS.ErrnoException | undefined;
    const why = cause?.code === 'ECONNREFUSED' ? 'Connection refused' : (cause?.message ?? e.message);
    process.stderr.write(`Could not connect to kv-server at ${o.seeds.join(',')}: ${why}\n`);
    return EXIT_FAILURE;
  }
  // e.g. "quorum needs --cluster" or CONSISTENCY unknown to a Redis server: a command must not
  // silently run weaker than asked.
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  return e instanceof KvError && !CLIENT_SIDE.has(e.code) ? EXIT_USAGE : EXIT_FAILURE;
}

/** The PEM files of --cacert/--cert/--key as node:tls options; an error text when one cannot be read. */
function tlsOptions(t: CliTls): ConnectionOptions | string {
  const out: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  for (const [flag, path, opt] of [['--cacert', t.cacert, 'ca'], ['--cert', t.cert, 'cert'], ['--key', t.key, 'key']] as const) {
    if (path === undefined) continue;
    try {
      out[opt] = readFileSync(path);
    } catch (e) {
      return `cannot read ${flag} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    }
  }
  return out;
}

async function openClient(o: CliOptions): Promise<KvClient | number> {
  const tls = o.tls === null ? undefined : tlsOptions(o.tls);
  if (typeof tls === 'string') {
    process.stderr.write(`Could not connect to kv-server at ${o.seeds.join(',')}: ${tls}\n`);
    return EXIT_FAILURE;
  }
  try {
    const client = await KvClient.connect({
      tls,
      seeds: o.seeds,
      password: o.password,
      consistency: o.consistency,
      readFrom: o.readFrom,
      resp: o.resp3 ? 3 : 2,
      discoverTimeoutMs: 0,
      refreshIntervalMs: 0, // a CLI refreshes on redirects and errors only
    });
    client.on('primaryChanged', (ev: { from: string | null; to: string | null }) => {
      if (ev.from !== null) process.stderr.write(`-> Primary changed: ${ev.from} -> ${ev.to ?? '(election running)'}\n`);
    });
    return client;
  } catch (e) {
    return connectFailure(o, e);
  }
}

function useTty(o: CliOptions): boolean {
  return o.raw !== undefined ? !o.raw : process.stdout.isTTY === true;
}

async function oneShot(o: CliOptions, command: readonly string[]): Promise<number> {
  const client = await openClient(o);
  if (typeof client === 'number') return client;
  const args = command.map((c) => Buffer.from(c, 'utf8'));
  const r = await call(client, o, args);
  await client.close();
  if (!r.ok) {
    process.stderr.write(`Error: ${r.error}\n`);
    return EXIT_FAILURE;
  }
  process.stdout.write(formatCommandReply(command, r.reply, useTty(o)));
  // redis-cli 7.0 exits 0 after printing an error reply; so do we, so scripts behave alike.
  return EXIT_OK;
}

function historyPath(): string {
  return process.env['KVCLI_HISTFILE'] ?? join(homedir(), '.kvcli_history');
}

/** Newest-first, as readline wants it. A missing or unreadable file is an empty history. */
function loadHistory(path: string): string[] {
  try {
    const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
    return lines.slice(-HISTORY_LINES_MAX).reverse();
  } catch {
    return [];
  }
}

const GENERAL_HELP = `kv-cli: the kv-ts command-line client.
To get help about a command type: "help <command>"
To quit: "quit" or "exit"
`;

async function repl(o: CliOptions): Promise<number> {
  const interactive = process.stdin.isTTY === true;
  const tty = useTty(o);
  const client = await openClient(o);
  if (typeof client === 'number') return client;
  const histFile = historyPath();
  const history = interactive ? loadHistory(histFile) : [];
  const rl = createInterface({
    input: process.stdin,
    output: interactive ? process.stdout : undefined,
    terminal: interactive,
    history,
    historySize: HISTORY_LINES_MAX,
    prompt: `${o.seeds[0] as string}> `,
  });
  rl.on('SIGINT', () => rl.close());
  const write = (b: Buffer | string): boolean => process.stdout.write(b);
  if (interactive) rl.prompt();
  for await (const line of rl) {
    const parsed = splitArgs(line);
    if (!parsed.ok) {
      write(`${parsed.error}\n`);
    } else if (parsed.args.length > 0) {
      const args = parsed.args;
      const name = (args[0] as Buffer).toString('utf8').toLowerCase();
      if (interactive && name !== 'auth') appendHistory(histFile, line);
      if (name === 'quit' || name === 'exit') break;
      if (name === 'help') await printHelp(client, o, args.slice(1), write);
      else {
        const r = await call(client, o, args);
        if (r.ok) write(formatCommandReply(args, r.reply, tty));
        else process.stderr.write(`Error: ${r.error}\n`);
      }
    }
    if (interactive) rl.prompt();
  }
  rl.close();
  await client.close();
  if (interactive) trimHistory(histFile);
  return EXIT_OK;
}

async function printHelp(client: KvClient, o: CliOptions, args: readonly Buffer[], write: (s: string) => boolean): Promise<void> {
  if (args.length === 0) {
    write(GENERAL_HELP);
    return;
  }
  const [cmd, sub] = args.map((a) => a.toString('utf8'));
  const r = await call(client, o, [Buffer.from('COMMAND'), Buffer.from('DOCS'), Buffer.from(cmd as string)]);
  const text = r.ok ? formatHelp(cmd as string, r.reply, sub) : undefined;
  write(text ?? `No help for '${[cmd, sub].filter((x) => x !== undefined).join(' ')}' (the server has no COMMAND DOCS entry for it)\n`);
}

function appendHistory(path: string, line: string): void {
  try {
    appendFileSync(path, line.replace(/\n/g, ' ') + '\n', { mode: 0o600 });
  } catch {
    // History is a convenience: an unwritable home directory must not break the session.
  }
}

/** Keep the file bounded: rewrite it with the newest HISTORY_LINES_MAX entries. */
function trimHistory(path: string): void {
  try {
    const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
    if (lines.length > HISTORY_LINES_MAX) writeFileSync(path, lines.slice(-HISTORY_LINES_MAX).join('\n') + '\n');
  } catch {
    // See appendHistory.
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const p = parseCliArgs(argv);
  if (!p.ok) {
    process.stderr.write(`${p.error}\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (p.opts.help) {
    process.stdout.write(USAGE);
    return EXIT_OK;
  }
  if (p.opts.snapshot !== undefined) return snapshot(p.opts, p.opts.snapshot);
  return p.opts.command !== undefined ? oneShot(p.opts, p.opts.command) : repl(p.opts);
}

async function snapshot(o: CliOptions, file: string): Promise<number> {
  const say = (line: string): void => void process.stderr.write(`${line}\n`);
  const failure = await takeSnapshot({ address: o.seeds[0] as string, password: o.password, file, say });
  if (failure === null) return EXIT_OK;
  say(`snapshot failed: ${failure} (${file} not written)`);
  return EXIT_FAILURE;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    // Only a bug gets here: every expected failure is handled as a value above.
    process.stderr.write(`kv-cli: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = EXIT_FAILURE;
  },
);
