// Which commands the client may send to a replica and which it may send twice. Owns that one
// classification; everything it does not know is treated as a non-idempotent write (sent to the
// primary, never repeated after an unknown outcome), the only safe default.

import type { Arg } from './node-conn.js';

/**
 * read: no effect, may go to a replica (as the mode allows) and may always be retried.
 * idempotentWrite: applying it twice leaves the same state and the same reply (plain SET, MSET).
 * write: anything else.
 */
export type CommandKind = 'read' | 'idempotentWrite' | 'write';

const READS = new Set([
  'get', 'mget', 'exists', 'ttl', 'pttl', 'expiretime', 'pexpiretime', 'type', 'strlen', 'getrange', 'substr',
  'scan', 'keys', 'dbsize', 'randomkey', 'lcs', 'ping', 'echo', 'time', 'info', 'role', 'topology', 'position',
  'command', 'lastsave', 'memory', 'object', 'dump', 'debug',
]);
const IDEMPOTENT = new Set(['mset', 'setex', 'psetex', 'flushall', 'flushdb']);

/** SET is idempotent unless it reads the old value or is conditional on it. */
const SET_NOT_IDEMPOTENT = new Set(['nx', 'xx', 'get']);

export function commandKind(args: readonly Arg[]): CommandKind {
  const name = String(args[0] ?? '').toLowerCase();
  if (READS.has(name)) return name === 'debug' || name === 'memory' || name === 'object' ? (readSub(args) ? 'read' : 'write') : 'read';
  if (IDEMPOTENT.has(name)) return 'idempotentWrite';
  if (name === 'set') {
    for (let i = 3; i < args.length; i++) if (SET_NOT_IDEMPOTENT.has(String(args[i]).toLowerCase())) return 'write';
    return 'idempotentWrite';
  }
  return 'write';
}

/** DEBUG/MEMORY/OBJECT: only their inspecting subcommands count as reads. */
function readSub(args: readonly Arg[]): boolean {
  const sub = String(args[1] ?? '').toLowerCase();
  return ['digest', 'digest-value', 'usage', 'stats', 'encoding', 'freq', 'idletime', 'refcount', 'help', 'object'].includes(sub);
}
