// MULTI, EXEC, DISCARD, WATCH and UNWATCH with Redis 7.0's replies. Owns their texts and the
// order of EXEC's own checks (queue-time refusal, then changed watched keys); the queueing is
// dispatch.ts's and running the queue as one log entry the server's (TransactionServices).

import type { CommandContext, CommandFlag, CommandModule, CommandSpec, TransactionServices } from '../command-types.js';
import { keyFromBytes } from '../../storage/types.js';
import { ClientTx } from '../multi.js';
import { key, legacyRange, range, type KeySpec } from './key-specs.js';

const CONTROL_FLAGS: CommandFlag[] = ['noscript', 'loading', 'stale', 'fast', 'allow_busy'];

function spec(name: string, arity: number, flags: CommandFlag[], summary: string, syntax: string, handler: CommandSpec['handler'], keySpecs: readonly KeySpec[] = []): CommandSpec {
  return { name, arity, flags, ...legacyRange(keySpecs), keySpecs, summary, syntax, group: 'transactions', handler };
}

function services(ctx: CommandContext): TransactionServices | undefined {
  const t = ctx.server.transactions;
  if (t === undefined) ctx.out.error('ERR this server does not run transactions');
  return t;
}

/** The connection's transaction state, made on first use. */
function clientTx(ctx: CommandContext, t: TransactionServices): ClientTx {
  const c = ctx.client;
  if (c.tx === undefined || c.tx === null) c.tx = new ClientTx(t.watches);
  return c.tx;
}

function multi(ctx: CommandContext): void {
  const t = services(ctx);
  if (t === undefined) return;
  const tx = clientTx(ctx, t);
  if (tx.inMulti) return ctx.out.error('ERR MULTI calls can not be nested');
  tx.begin();
  ctx.out.ok();
}

function exec(ctx: CommandContext): void {
  const t = services(ctx);
  if (t === undefined) return;
  const tx = ctx.client.tx;
  if (tx === undefined || tx === null || !tx.inMulti) return ctx.out.error('ERR EXEC without MULTI');
  // Redis 7.0: a watched key that existed at WATCH and has expired since counts as changed.
  if (!tx.dirty && tx.expiredSinceWatch(ctx.store)) tx.dirty = true;
  if (tx.refused) {
    tx.reset();
    return ctx.out.error('EXECABORT Transaction discarded because of previous errors.');
  }
  if (tx.dirty) {
    tx.reset();
    return ctx.out.nullArray();
  }
  t.exec(ctx, tx.take());
}

function discard(ctx: CommandContext): void {
  const tx = ctx.client.tx;
  if (tx === undefined || tx === null || !tx.inMulti) return ctx.out.error('ERR DISCARD without MULTI');
  tx.reset();
  ctx.out.ok();
}

function watch(ctx: CommandContext, argv: readonly Buffer[]): void {
  const t = services(ctx);
  if (t === undefined) return;
  const tx = clientTx(ctx, t);
  if (tx.inMulti) return ctx.out.error('ERR WATCH inside MULTI is not allowed');
  // Already doomed: watching more cannot change EXEC's outcome.
  if (!tx.dirty) for (let i = 1; i < argv.length; i++) {
    const key = keyFromBytes(argv[i] as Buffer);
    tx.watch(key, ctx.store.has(key));
  }
  ctx.out.ok();
}

function unwatch(ctx: CommandContext): void {
  ctx.client.tx?.unwatchAll();
  ctx.out.ok();
}

export const transactionCommands: CommandModule = [
  spec('multi', 1, CONTROL_FLAGS, 'Start a transaction: later commands are queued until EXEC or DISCARD.', '', multi),
  spec('exec', 1, ['noscript', 'loading', 'stale', 'skip_slowlog'], 'Run the queued commands as one atomic, durable log entry.', '', exec),
  spec('discard', 1, CONTROL_FLAGS, 'Drop the queued commands and the watched keys.', '', discard),
  spec('watch', -2, CONTROL_FLAGS, 'Make the next EXEC fail if any of these keys changes.', 'key [key ...]', watch, [key('RO', 1, range(-1))]),
  spec('unwatch', 1, CONTROL_FLAGS, 'Forget every watched key.', '', unwatch),
];
