// kv-cli: the command-line client. One-shot mode (`kv-cli set a 1`) and an interactive REPL
// with history and help, printing replies exactly like redis-cli 7. Owns the CLI's flow
// (flags, handshake, REPL loop, exit codes); never formats replies itself (format.ts does).

import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connectResp, type RespConnection } from '../client/resp-conn.js';
import type { Reply } from '../client/resp-wire.js';
import { formatCommandReply, formatHelp, redirectTarget, splitArgs } from './format.js';

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
  -a <password>      Password to use when connecting to the server.
  -n <db>            Database number (accepted for redis-cli compatibility; kv-ts has only db 0).
  -3, --resp3        Start the session in RESP3 protocol mode (HELLO 3).
  --quorum           Send CONSISTENCY QUORUM after connecting.
  --session          Send CONSISTENCY SESSION after connecting.
  --raw              Use raw formatting for replies (default when stdout is not a tty).
  --no-raw           Force formatted output even when stdout is not a tty.
  --help             Output this help and exit.
`;

interface CliOptions {
  readonly host: string;
  readonly port: number;
  readonly password: string | undefined;
  readonly resp3: boolean;
  readonly consistency: 'QUORUM' | 'SESSION' | undefined;
  readonly raw: boolean | undefined;
  readonly help: boolean;
  /** Command to run in one-shot mode; undefined starts the REPL. */
  readonly command: readonly string[] | undefined;
}

type ParseResult = { readonly ok: true; readonly opts: CliOptions } | { readonly ok: false; readonly error: string };

export function parseCliArgs(argv: readonly string[]): ParseResult {
  let host = DEFAULT_HOST;
  let port = DEFAULT_PORT;
  let password: string | undefined;
  let resp3 = false;
  let consistency: CliOptions['consistency'];
  let raw: boolean | undefined;
  let help = false;
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
      case '-a': {
        const v = value();
        if (v === undefined) return { ok: false, error: `Missing value for ${a}` };
        password = v;
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
        consistency = 'QUORUM';
        break;
      case '--session':
        consistency = 'SESSION';
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
      default:
        return { ok: false, error: `Unrecognized option: '${a}'` };
    }
    i++;
  }
  const command = i < argv.length ? argv.slice(i) : undefined;
  return { ok: true, opts: { host, port, password, resp3, consistency, raw, help, command } };
}

type Session = { readonly ok: true; readonly conn: RespConnection } | { readonly ok: false; readonly exitCode: number };

/** Connect and run the handshake (AUTH, HELLO 3, CONSISTENCY). Prints its own diagnostics. */
async function openSession(o: CliOptions, oneShot: boolean): Promise<Session> {
  const c = await connectResp(o.host, o.port);
  if (!c.ok) {
    process.stderr.write(`Could not connect to kv-server at ${o.host}:${o.port}: ${c.error}\n`);
    return { ok: false, exitCode: EXIT_FAILURE };
  }
  const conn = c.conn;
  const step = async (args: string[]): Promise<Reply | undefined> => {
    const r = await conn.call(args);
    if (!r.ok) {
      process.stderr.write(`Error: ${r.error}\n`);
      return undefined;
    }
    return r.reply;
  };
  if (o.password !== undefined) {
    const r = await step(['AUTH', o.password]);
    if (r === undefined) return { ok: false, exitCode: EXIT_FAILURE };
    // Like redis-cli: report and carry on; the server will answer NOAUTH where it matters.
    if (r.type === 'error') process.stderr.write(`AUTH failed: ${r.message}\n`);
  }
  if (o.resp3) {
    const r = await step(['HELLO', '3']);
    if (r === undefined) return { ok: false, exitCode: EXIT_FAILURE };
    if (r.type === 'error') {
      process.stderr.write(`HELLO 3 failed: ${r.message}\n`);
      conn.close();
      return { ok: false, exitCode: EXIT_FAILURE };
    }
  }
  if (o.consistency !== undefined) {
    const r = await step(['CONSISTENCY', o.consistency]);
    if (r === undefined) return { ok: false, exitCode: EXIT_FAILURE };
    if (r.type === 'error') {
      // e.g. "quorum needs replicas": a one-shot command must not silently run weaker.
      process.stderr.write(`${r.message}\n`);
      if (oneShot) {
        conn.close();
        return { ok: false, exitCode: EXIT_USAGE };
      }
      process.stderr.write(`(continuing with the server's default consistency)\n`);
    }
  }
  return { ok: true, conn };
}

/** A READONLY/TOOSTALE reply is followed to the node it names at most this many times per command. */
const REDIRECTS_MAX = 3;

type CallOutcome =
  | { readonly ok: true; readonly reply: Reply; readonly session: Session & { ok: true }; readonly opts: CliOptions }
  | { readonly ok: false; readonly error: string; readonly session: Session; readonly opts: CliOptions };

/**
 * Send a command; when the node answers READONLY or TOOSTALE with the primary's address,
 * reconnect there (same password, protocol and consistency) and send it again, like
 * `redis-cli -c` follows cluster redirects. Returns the session and options now in use.
 */
async function callFollowingRedirects(
  session: Session & { ok: true },
  o: CliOptions,
  args: readonly (string | Buffer)[],
  oneShotMode: boolean,
): Promise<CallOutcome> {
  let cur = session;
  let opts = o;
  for (let hop = 0; ; hop++) {
    const r = await cur.conn.call(args);
    if (!r.ok) return { ok: false, error: r.error, session: cur, opts };
    const target = hop < REDIRECTS_MAX ? redirectTarget(r.reply) : undefined;
    if (target === undefined || (target.host === opts.host && target.port === opts.port)) {
      return { ok: true, reply: r.reply, session: cur, opts };
    }
    process.stderr.write(`-> Redirected (${target.reason}) to ${target.host}:${target.port}\n`);
    const next = { ...opts, host: target.host, port: target.port };
    const s = await openSession(next, oneShotMode);
    if (!s.ok) return { ok: true, reply: r.reply, session: cur, opts };
    cur.conn.close();
    cur = s;
    opts = next;
  }
}

function useTty(o: CliOptions): boolean {
  return o.raw !== undefined ? !o.raw : process.stdout.isTTY === true;
}

async function oneShot(o: CliOptions, command: readonly string[]): Promise<number> {
  const s = await openSession(o, true);
  if (!s.ok) return s.exitCode;
  const r = await callFollowingRedirects(s, o, command, true);
  if (r.session.ok) r.session.conn.close();
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
  let current = o;
  let session = await openSession(o, false);
  if (!session.ok) return session.exitCode;
  const histFile = historyPath();
  const history = interactive ? loadHistory(histFile) : [];
  const rl = createInterface({
    input: process.stdin,
    output: interactive ? process.stdout : undefined,
    terminal: interactive,
    history,
    historySize: HISTORY_LINES_MAX,
    prompt: `${o.host}:${o.port}> `,
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
      if (!session.ok) session = await openSession(current, false);
      if (session.ok) {
        if (name === 'help') await printHelp(session.conn, args.slice(1), write);
        else {
          const r = await callFollowingRedirects(session, current, args, false);
          session = r.session;
          if (r.opts !== current) {
            current = r.opts;
            rl.setPrompt(`${current.host}:${current.port}> `);
          }
          if (r.ok) write(formatCommandReply(args, r.reply, tty));
          else {
            process.stderr.write(`Error: ${r.error}\n`);
            session = { ok: false, exitCode: EXIT_FAILURE };
          }
        }
      }
    }
    if (interactive) rl.prompt();
  }
  rl.close();
  if (session.ok) session.conn.close();
  if (interactive) trimHistory(histFile);
  return EXIT_OK;
}

async function printHelp(conn: RespConnection, args: readonly Buffer[], write: (s: string) => boolean): Promise<void> {
  if (args.length === 0) {
    write(GENERAL_HELP);
    return;
  }
  const [cmd, sub] = args.map((a) => a.toString('utf8'));
  const r = await conn.call(['COMMAND', 'DOCS', cmd as string]);
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
  return p.opts.command !== undefined ? oneShot(p.opts, p.opts.command) : repl(p.opts);
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
