// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password]
// [AUTH2 username password] [KEYS key ...] with Redis 7.0's arguments, texts and order: the keys'
// DUMP payloads go to the target as RESTORE commands over a cached connection
// (server/migrate-links.ts), then the keys the target took are deleted here as one log entry
// (not with COPY). Owns the command's parsing and its sequence; the event loop keeps serving
// other clients while the target answers (the reply is deferred).

import type { CommandContext, CommandModule } from '../command-types.js';
import { dumpKey } from '../../storage/dump-payload.js';
import { keyFromBytes, type Key, type Op } from '../../storage/types.js';
import { ERR_NOT_INTEGER, ERR_SYNTAX, isWord, parseInt64 } from './args.js';
import { key, range } from './key-specs.js';
import type { MigrateLinks } from '../migrate-links.js';
import type { CallResult } from '../../client/resp-conn.js';

/** Redis's timeout when the argument is 0 or negative. */
const MIGRATE_TIMEOUT_DEFAULT_MS = 1000;

interface MigrateArgs {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly timeoutMs: number;
  readonly copy: boolean;
  readonly replace: boolean;
  readonly auth: readonly Buffer[] | null;
  readonly keys: readonly Buffer[];
}

function parse(argv: readonly Buffer[]): MigrateArgs | string {
  let copy = false;
  let replace = false;
  let auth: Buffer[] | null = null;
  let keys: readonly Buffer[] = [argv[3] as Buffer];
  for (let j = 6; j < argv.length; j++) {
    const a = argv[j] as Buffer;
    const more = argv.length - 1 - j;
    if (isWord(a, 'copy')) copy = true;
    else if (isWord(a, 'replace')) replace = true;
    else if (isWord(a, 'auth')) {
      if (more < 1) return ERR_SYNTAX;
      auth = [argv[++j] as Buffer];
    } else if (isWord(a, 'auth2')) {
      if (more < 2) return ERR_SYNTAX;
      auth = [argv[j + 1] as Buffer, argv[j + 2] as Buffer];
      j += 2;
    } else if (isWord(a, 'keys')) {
      if ((argv[3] as Buffer).length !== 0) return 'ERR When using MIGRATE KEYS option, the key argument must be set to the empty string';
      keys = argv.slice(j + 1);
      break;
    } else return ERR_SYNTAX;
  }
  const timeout = parseInt64(argv[5] as Buffer);
  const db = parseInt64(argv[4] as Buffer);
  if (timeout === null || db === null) return ERR_NOT_INTEGER;
  const port = Number((argv[2] as Buffer).toString('latin1'));
  return {
    host: (argv[1] as Buffer).toString('latin1'),
    port: Number.isInteger(port) && port > 0 && port < 65536 ? port : 0,
    db: Number(db),
    timeoutMs: timeout <= 0n ? MIGRATE_TIMEOUT_DEFAULT_MS : Number(timeout > 2_147_483_647n ? 2_147_483_647n : timeout),
    copy,
    replace,
    auth,
    keys,
  };
}

/** A key's payload and its remaining time to live (0: none), as sent. */
interface Sent {
  readonly key: Key;
  readonly payload: Buffer;
}

function migrateCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const a = parse(argv);
  if (typeof a === 'string') return ctx.out.error(a);
  const links = ctx.server.migrateLinks;
  if (links === undefined || ctx.defer === undefined) return ctx.out.error('ERR MIGRATE is not allowed inside MULTI or a script on kv-ts (it waits for the target)');
  const now = Date.now();
  const restores: Array<Array<string | Buffer>> = [];
  const sent: Sent[] = [];
  for (const k of a.keys) {
    const kk = keyFromBytes(k);
    const payload = dumpKey(ctx.store, kk);
    if (payload === undefined) continue;
    // Nothing is sent when one of the keys cannot be: kv-ts writes no RDB stream encoding.
    if (payload === null) return ctx.out.error('ERR MIGRATE of a stream is not supported by kv-ts (no RDB stream encoding); COPY and RENAME move streams');
    const at = ctx.store.getExpireAt(kk);
    let ttl = 0;
    if (at !== undefined && at > 0) {
      ttl = at - now;
      if (ttl < 0) continue;
      if (ttl < 1) ttl = 1;
    }
    restores.push(['RESTORE', k, String(ttl), payload, ...(a.replace ? ['REPLACE'] : [])]);
    sent.push({ key: kk, payload });
  }
  if (sent.length === 0) return ctx.out.simple('NOKEY');
  if (a.port === 0) return ctx.out.error('IOERR error or timeout writing to target instance');
  const reply = ctx.defer();
  void transfer(links, a, restores, true).then((r) => {
    reply((out) => {
      if (typeof r === 'string') {
        out.error(r);
        return;
      }
      // The keys the target took, deleted as one entry; one another client changed meanwhile
      // (its value is no longer the one sent) is kept.
      if (!a.copy) {
        const dels: Op[] = [];
        for (let i = 0; i < sent.length; i++) {
          const s = sent[i] as Sent;
          if (r.restored[i] !== true) continue;
          const now = dumpKey(ctx.store, s.key);
          if (now !== undefined && now !== null && now.equals(s.payload)) dels.push({ t: 'del', key: s.key });
        }
        if (dels.length > 0) ctx.write(dels);
      }
      if (r.targetError !== null) out.error(`ERR Target instance replied with error: ${r.targetError}`);
      else out.ok();
    });
  });
}

/** The target's answers: which RESTOREs it took, and its first error (null: none). */
interface Transfer {
  readonly restored: readonly boolean[];
  readonly targetError: string | null;
}

/**
 * AUTH, SELECT (when the cached connection has another database), then the RESTOREs, pipelined;
 * the IOERR text on a connection error or timeout. A failed reused connection (the target
 * restarted) is tried once more on a new one, as Redis does.
 */
async function transfer(links: MigrateLinks, a: MigrateArgs, restores: ReadonlyArray<ReadonlyArray<string | Buffer>>, mayRetry: boolean): Promise<Transfer | string> {
  const link = await links.get(a.host, a.port, a.timeoutMs);
  if (link === 'timeout') return 'IOERR error or timeout connecting to the client';
  if (link === 'refused') return 'IOERR error or timeout writing to target instance';
  const calls: Array<Promise<CallResult | 'timeout'>> = [];
  const call = (args: ReadonlyArray<string | Buffer>): number => calls.push(links.call(a.host, a.port, link, args, a.timeoutMs)) - 1;
  const authAt = a.auth === null ? -1 : call(['AUTH', ...a.auth]);
  const selectAt = link.lastDb !== a.db ? call(['SELECT', String(a.db)]) : -1;
  const first = calls.length;
  for (const r of restores) call(r);
  const replies = await Promise.all(calls);
  if (replies.some((r) => r === 'timeout' || !r.ok)) {
    const timedOut = replies.some((r) => r === 'timeout');
    if (mayRetry && link.reused && !timedOut) return transfer(links, a, restores, false);
    return 'IOERR error or timeout reading to target instance';
  }
  const ok = replies as Array<Extract<CallResult, { ok: true }>>;
  const errorOf = (i: number): string | null => {
    const r = ok[i]?.reply;
    return r !== undefined && r.type === 'error' ? r.message : null;
  };
  // An AUTH or SELECT refused: Redis reports it and counts no key as moved.
  const setupError = (authAt >= 0 ? errorOf(authAt) : null) ?? (selectAt >= 0 ? errorOf(selectAt) : null);
  if (setupError !== null) return { restored: restores.map(() => false), targetError: setupError };
  if (selectAt >= 0) links.selected(a.host, a.port, a.db);
  let targetError: string | null = null;
  const restored = restores.map((_, i) => {
    const e = errorOf(first + i);
    if (e !== null && targetError === null) targetError = e;
    return e === null;
  });
  return { restored, targetError };
}

export const migrateCommands: CommandModule = [
  {
    name: 'migrate', arity: -6, flags: ['write'], firstKey: 3, lastKey: 3, keyStep: 1, group: 'generic', acl: ['@keyspace', '@dangerous'],
    keySpecs: [key('RW access delete', 3), key('RW access delete incomplete', { keyword: 'KEYS', startfrom: -2 }, range(-1))],
    summary: 'Move keys to another server (DUMP payloads sent as RESTORE), deleting them here unless COPY',
    syntax: 'host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password] [AUTH2 username password] [KEYS key [key ...]]',
    handler: migrateCommand,
  },
];
