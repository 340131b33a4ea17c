// A server's command table: the value dispatch, arity errors, COMMAND and the replication
// layer's write/readonly routing all read. Owns name uniqueness and case; it never imports a
// command module (each KvServer builds its own table from the modules it is given).

import type { CommandModule, CommandSpec, CommandTableView } from '../command-types.js';

export class CommandTable implements CommandTableView {
  private readonly byName = new Map<string, CommandSpec>();

  constructor(modules: readonly CommandModule[] = []) {
    for (const m of modules) this.add(m);
  }

  /**
   * Add a module's commands. All or nothing: a name that is not lower-case, or already in this
   * table (a module added twice, or two modules claiming one name), is a bug and throws before
   * any command is added. Nothing is ever removed, so a lookup that found a spec stays right.
   */
  add(specs: CommandModule): void {
    const seen = new Set<string>();
    for (const s of specs) {
      if (s.name !== s.name.toLowerCase()) throw new Error(`command name must be lower-case: ${s.name}`);
      if (this.byName.has(s.name) || seen.has(s.name)) {
        throw new Error(`duplicate command '${s.name}': this command table already has it (was its module added twice?)`);
      }
      seen.add(s.name);
    }
    for (const s of specs) this.byName.set(s.name, s);
  }

  get size(): number {
    return this.byName.size;
  }

  /** By lower-case name. */
  get(name: string): CommandSpec | undefined {
    return this.byName.get(name);
  }

  /** By the name as sent, in any case (dispatch caches the short names; see dispatch.ts). */
  lookup(name: Buffer): CommandSpec | undefined {
    return this.byName.get(name.latin1Slice(0, name.length).toLowerCase());
  }

  names(): IterableIterator<string> {
    return this.byName.keys();
  }

  [Symbol.iterator](): IterableIterator<CommandSpec> {
    return this.byName.values();
  }
}

/** Redis arity rule: positive = exact argc, negative = at least |arity|. */
export function arityOk(spec: CommandSpec, argc: number): boolean {
  return spec.arity >= 0 ? argc === spec.arity : argc >= -spec.arity;
}
