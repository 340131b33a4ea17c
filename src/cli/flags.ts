// Flag syntax for kv-bench and the bench tools (tools/bench): node:util parseArgs in strict mode (no
// positionals), its error as one line. Owns only syntax; never validates values, never
// prints and never exits (each tool says what a bad flag means for it).

import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;
/** The typed values parseArgs returns for `options` (strings, booleans, defaults applied). */
export type FlagValues<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>>['values'];

export type FlagsResult<O extends Options> = { readonly ok: true; readonly values: FlagValues<O> } | { readonly ok: false; readonly error: string };

export function parseFlags<const O extends Options>(argv: readonly string[], options: O): FlagsResult<O> {
  try {
    return { ok: true, values: parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values };
  } catch (e) {
    // parseArgs explains an ambiguous value (`--seed -5`) over three lines: one line here.
    return { ok: false, error: (e instanceof Error ? e.message : String(e)).split('\n').join(' ') };
  }
}
