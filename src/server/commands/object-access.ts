// OBJECT FREQ and OBJECT IDLETIME: the access information the maxmemory policies keep per key.
// Owns only these two subcommands' replies (OBJECT itself is in generic.ts); never counts the
// lookup as an access (as Redis's OBJECT does not).

import type { CommandContext } from '../command-types.js';
import { keyFromBytes } from '../../storage/types.js';

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
