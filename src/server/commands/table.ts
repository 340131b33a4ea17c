// The one command table. Dispatch, arity errors, COMMAND, kv-cli help and the
// replication layer's write/readonly routing all read it; nothing repeats it.

import type { CommandSpec } from '../command-types.js';
import { stringCommands } from './strings.js';
import { genericCommands } from './generic.js';
import { connectionCommands } from './connection.js';
import { adminCommands } from './admin.js';

function build(specs: readonly CommandSpec[]): Map<string, CommandSpec> {
  const m = new Map<string, CommandSpec>();
  for (const s of specs) {
    if (s.name !== s.name.toLowerCase()) throw new Error(`command name must be lower-case: ${s.name}`);
    if (m.has(s.name)) throw new Error(`duplicate command in table: ${s.name}`);
    m.set(s.name, s);
  }
  return m;
}

const table = build([
  ...stringCommands,
  ...genericCommands,
  ...connectionCommands,
  ...adminCommands,
]);
export const COMMANDS: ReadonlyMap<string, CommandSpec> = table;

/**
 * Add commands from another module (e.g. the replication layer's REPLICAOF, ROLE) to the
 * same table, so dispatch, arity checks and COMMAND see them. Duplicate names are bugs.
 */
export function registerCommands(specs: readonly CommandSpec[]): void {
  for (const s of specs) {
    if (s.name !== s.name.toLowerCase()) throw new Error(`command name must be lower-case: ${s.name}`);
    if (table.has(s.name)) throw new Error(`duplicate command in table: ${s.name}`);
  }
  for (const s of specs) table.set(s.name, s);
}

/** Look up by the name as sent (any case). Avoids allocating for the common lower/upper-case names. */
export function lookupCommand(name: Buffer): CommandSpec | undefined {
  return COMMANDS.get(name.latin1Slice(0, name.length).toLowerCase());
}

/** Redis arity rule: positive = exact argc, negative = at least |arity|. */
export function arityOk(spec: CommandSpec, argc: number): boolean {
  return spec.arity >= 0 ? argc === spec.arity : argc >= -spec.arity;
}
