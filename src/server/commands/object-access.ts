// OBJECT FREQ and OBJECT IDLETIME: the access information the maxmemory policies keep per key.
// Owns only these two subcommands' replies; the whole OBJECT command (ENCODING, REFCOUNT, HELP)
// belongs with the keyspace's types, which calls objectAccessReply for these two. Never counts
// the lookup as an access (as Redis's OBJECT does not).

import type { CommandContext, CommandModule } from '../command-types.js';
import { keyFromBytes } from '../../storage/types.js';
import { errUnknownSubcommand } from './args.js';

/**
 * Reply to OBJECT FREQ|IDLETIME `key` (`sub` lower-cased). False when `sub` is neither, so the
 * full OBJECT command can go on with its other subcommands.
 */
export function objectAccessReply(ctx: CommandContext, sub: string, key: Buffer): boolean {
  if (sub !== 'freq' && sub !== 'idletime') return false;
  const r = ctx.store.objectAccess(keyFromBytes(key), sub);
  if (r === undefined) ctx.out.nullBulk();
  else if ('error' in r) ctx.out.error(r.error);
  else ctx.out.integer(r.value);
  return true;
}

/** OBJECT with FREQ and IDLETIME only, until the full command replaces it. */
export const objectAccessCommands: CommandModule = [
  {
    name: 'object', arity: -2, flags: ['readonly'], firstKey: 2, lastKey: 2, keyStep: 1, group: 'keyspace',
    summary: 'Inspect a key: FREQ (LFU counter) or IDLETIME (seconds since last access)', syntax: 'FREQ|IDLETIME key',
    subcommands: ['freq', 'idletime'],
    handler: (ctx, argv) => {
      const sub = argv[1] as Buffer;
      if (argv.length !== 3 || !objectAccessReply(ctx, sub.toString('latin1').toLowerCase(), argv[2] as Buffer)) ctx.out.error(errUnknownSubcommand(sub, 'OBJECT'));
    },
  },
];
