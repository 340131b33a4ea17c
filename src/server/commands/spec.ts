// The pieces every command module's table is written with: a spec builder for the module's group
// (one key at argument 1 unless a spec says otherwise) and Redis's usual flag sets. Owns no
// command and no table.

import type { CommandSpec } from '../command-types.js';
import { legacyRange } from './key-specs.js';

/** A table entry before its group (and, when it is the usual single key at 1, its key spec) is filled in. */
export type Spec = Omit<CommandSpec, 'group' | 'firstKey' | 'lastKey' | 'keyStep'> & Partial<Pick<CommandSpec, 'firstKey' | 'lastKey' | 'keyStep'>>;

/**
 * The spec builder of one module's group: an entry that declares key specs gets its legacy key
 * triple from them (one description of its keys); one that declares neither has one key at 1.
 */
export function specIn(group: CommandSpec['group']): (s: Spec) => CommandSpec {
  return (s) => ({ group, ...(s.keySpecs === undefined ? { firstKey: 1, lastKey: 1, keyStep: 1 } : legacyRange(s.keySpecs)), ...s });
}

export const W = ['write'] as const;
export const WF = ['write', 'fast'] as const;
/** denyoom: may grow memory, refused with -OOM over maxmemory (Redis's flag). */
export const WD = ['write', 'denyoom'] as const;
export const WDF = ['write', 'denyoom', 'fast'] as const;
export const R = ['readonly'] as const;
export const RF = ['readonly', 'fast'] as const;
