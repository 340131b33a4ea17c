// EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT with Redis 7.0's arguments and texts. Owns
// their parsing; the server runs the script (ScriptingServices: one log entry per script) and
// the engine (scripting/lua-engine.ts) owns the VM and the cache.

import type { CommandContext, CommandFlag, CommandModule, CommandSpec, ScriptingServices } from '../command-types.js';
import { errUnknownContainerSubcommand, isWord } from './args.js';
import { key, keynum, legacyRange, type KeySpec } from './key-specs.js';

const EVAL_FLAGS: CommandFlag[] = ['noscript', 'skip_monitor', 'stale', 'no_mandatory_keys'];

function spec(name: string, arity: number, flags: CommandFlag[], summary: string, syntax: string, handler: CommandSpec['handler'], keySpecs: readonly KeySpec[] = []): CommandSpec {
  return { name, arity, flags, ...legacyRange(keySpecs), keySpecs, summary, syntax, group: 'scripting', acl: ['@scripting'], handler };
}

export function services(ctx: CommandContext): ScriptingServices | undefined {
  const s = ctx.server.scripting;
  if (s === undefined) ctx.out.error('ERR this server does not run scripts');
  return s;
}

/**
 * numkeys (argv[2]) as Redis 7.0 checks it for EVAL and FCALL (which word a non-number
 * differently: `notANumber`); the keys and args, or null after replying the error.
 */
export function keysAndArgs(ctx: CommandContext, argv: readonly Buffer[], notANumber = 'ERR value is not an integer or out of range'): { keys: Buffer[]; args: Buffer[] } | null {
  const text = (argv[2] as Buffer).toString('latin1');
  const n = /^-?(0|[1-9][0-9]{0,17})$/.test(text) ? Number(text) : NaN;
  if (Number.isNaN(n)) {
    ctx.out.error(notANumber);
    return null;
  }
  if (n > argv.length - 3) {
    ctx.out.error("ERR Number of keys can't be greater than number of args");
    return null;
  }
  if (n < 0) {
    ctx.out.error("ERR Number of keys can't be negative");
    return null;
  }
  return { keys: argv.slice(3, 3 + n) as Buffer[], args: argv.slice(3 + n) as Buffer[] };
}

function evalCommand(readOnly: boolean): CommandSpec['handler'] {
  return (ctx, argv) => {
    const s = services(ctx);
    if (s === undefined) return;
    const ka = keysAndArgs(ctx, argv);
    if (ka === null) return;
    const script = s.engine.load(argv[1] as Buffer);
    if (typeof script === 'string') return ctx.out.error(script);
    s.run(ctx, argv, script, ka.keys, ka.args, readOnly);
  };
}

function evalShaCommand(readOnly: boolean): CommandSpec['handler'] {
  return (ctx, argv) => {
    const s = services(ctx);
    if (s === undefined) return;
    const ka = keysAndArgs(ctx, argv);
    if (ka === null) return;
    const sha = (argv[1] as Buffer).toString('latin1');
    const script = sha.length === 40 ? s.engine.get(sha) : undefined;
    if (script === undefined) return ctx.out.error('NOSCRIPT No matching script. Please use EVAL.');
    s.run(ctx, argv, script, ka.keys, ka.args, readOnly);
  };
}

const SCRIPT_HELP = [
  'SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'EXISTS <sha1> [<sha1> ...]',
  '    Return information about the existence of the scripts in the script cache.',
  'FLUSH [ASYNC|SYNC]',
  '    Flush the Lua scripts cache. Very dangerous on replicas.',
  '    When called without the optional mode argument, the behavior is determined by the',
  '    lazyfree-lazy-user-flush configuration directive. Valid modes are:',
  '    * ASYNC: Asynchronously flush the scripts cache.',
  '    * SYNC: Synchronously flush the scripts cache.',
  'KILL',
  '    Kill the currently executing Lua script.',
  'LOAD <script>',
  '    Load a script into the scripts cache without executing it.',
  'HELP',
  '    Prints this help.',
];

function scriptCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const s = services(ctx);
  if (s === undefined) return;
  const sub = argv[1] as Buffer;
  const out = ctx.out;
  if (isWord(sub, 'help') && argv.length === 2) {
    out.array(SCRIPT_HELP.length);
    for (const line of SCRIPT_HELP) out.simple(line);
    return;
  }
  if (isWord(sub, 'load') && argv.length === 3) {
    const script = s.engine.load(argv[2] as Buffer);
    if (typeof script === 'string') return out.error(script);
    return out.bulk(script.sha);
  }
  if (isWord(sub, 'exists') && argv.length >= 3) {
    out.array(argv.length - 2);
    for (let i = 2; i < argv.length; i++) out.integer(s.engine.get((argv[i] as Buffer).toString('latin1')) === undefined ? 0 : 1);
    return;
  }
  if (isWord(sub, 'flush') && argv.length <= 3) {
    if (argv.length === 3 && !isWord(argv[2] as Buffer, 'async') && !isWord(argv[2] as Buffer, 'sync')) return out.error('ERR SCRIPT FLUSH only support SYNC|ASYNC option');
    s.engine.flush();
    return out.ok();
  }
  if (isWord(sub, 'kill') && argv.length === 2) {
    const refused = s.kill(true);
    return refused === null ? out.ok() : out.error(refused);
  }
  out.error(errUnknownContainerSubcommand(sub, 'SCRIPT'));
}

const EVAL_KEYS = [key('RW access update', 2, keynum(), { notes: 'We cannot tell how the keys will be used so we assume the worst, RW and UPDATE' })];
const EVAL_RO_KEYS = [key('RO access', 2, keynum(), { notes: 'We cannot tell how the keys will be used so we assume the worst, RO and ACCESS' })];

export const scriptingCommands: CommandModule = [
  spec('eval', -3, EVAL_FLAGS, 'Run a Lua script; its writes are one atomic log entry.', 'script numkeys [key [key ...]] [arg [arg ...]]', evalCommand(false), EVAL_KEYS),
  spec('evalsha', -3, EVAL_FLAGS, 'Run a cached Lua script by its SHA1 digest.', 'sha1 numkeys [key [key ...]] [arg [arg ...]]', evalShaCommand(false), [key('RW access update', 2, keynum())]),
  spec('eval_ro', -3, ['noscript', 'skip_monitor', 'stale', 'readonly', 'no_mandatory_keys'], 'Run a read-only Lua script.', 'script numkeys [key [key ...]] [arg [arg ...]]', evalCommand(true), EVAL_RO_KEYS),
  spec('evalsha_ro', -3, ['noscript', 'skip_monitor', 'stale', 'readonly', 'no_mandatory_keys'], 'Run a cached read-only Lua script by its SHA1 digest.', 'sha1 numkeys [key [key ...]] [arg [arg ...]]', evalShaCommand(true), [key('RO access', 2, keynum())]),
  {
    ...spec('script', -2, ['noscript'], 'Manage the script cache: LOAD, EXISTS, FLUSH, KILL.', 'LOAD script | EXISTS sha1 [sha1 ...] | FLUSH [ASYNC|SYNC] | KILL', scriptCommand),
    subcommands: ['exists', 'flush', 'help', 'kill', 'load'],
    subcommandArity: { exists: -3, flush: -2, help: 2, kill: 2, load: 3 },
  },
];

