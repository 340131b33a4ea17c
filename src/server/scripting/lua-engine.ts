// The Lua scripting engine (EVAL, EVALSHA, SCRIPT): one Lua VM (fengari, Lua 5.3 in JavaScript,
// byte strings) per server, its sandbox (Redis 7.0's globals protection and read-only library
// tables, Lua 5.1 shims), the script cache, the redis.* library and the conversions between
// Lua values and replies. Owns the VM and the cache; it never touches the store or a socket:
// every command a script calls goes to the host (`ScriptCall`), which runs it through the
// server's dispatcher, and the caller owns atomicity (one log entry per script).

import assert from 'node:assert';
import { createHash } from 'node:crypto';
import type { LuaState } from 'fengari';
import type { ReplyWriter } from '../../protocol/reply.js';
import { ReplyCapture, type CapturedReply } from './reply-capture.js';
import { LUA_PRELUDE } from './lua-prelude.js';
import { JSON_DEPTH_DEFAULT, jsonDecode, jsonEncode } from './lua-json.js';
import { lua, lauxlib, lualib } from './fengari-vm.js';

/** What Redis 7.0 reports as the scripting engine's server version (redis.REDIS_VERSION). */
export const SCRIPT_REDIS_VERSION = '7.0.0';
const SCRIPT_REDIS_VERSION_NUM = 0x070000;
/** Bytes of script bodies the cache keeps; past it the oldest scripts are forgotten (EVALSHA then answers NOSCRIPT). */
export const SCRIPT_CACHE_BYTES_MAX = 64 * 1024 * 1024;
/** How long a library's load may run (Redis's LOAD_TIMEOUT_MS): its code runs inside FUNCTION LOAD, on replicas and at startup. */
export const FUNCTION_LOAD_TIME_LIMIT_MS = 500;
/** Lua instructions between two checks of the time limit (Redis's hook interval). */
const HOOK_INSTRUCTIONS = 10_000;
/** Nesting a script's reply may have (Redis stops at the Lua stack's limit). */
const REPLY_DEPTH_MAX = 1000;
/** Characters of a Lua error message an error reply carries. */
const ERROR_MESSAGE_CHARS_MAX = 1000;

export type ScriptLogLevel = 'debug' | 'verbose' | 'notice' | 'warning';
const LOG_LEVELS: readonly ScriptLogLevel[] = ['debug', 'verbose', 'notice', 'warning'];

/** Shebang flags (`#!lua flags=no-writes,allow-oom`): Redis 7.0's names. */
export interface ScriptFlags {
  /** Has a shebang: flags are explicit (a script without one is Redis's legacy "may write"). */
  readonly shebang: boolean;
  readonly noWrites: boolean;
  readonly allowOom: boolean;
  readonly allowStale: boolean;
}

const SHEBANG_FLAGS = new Set(['no-writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys']);

export interface CachedScript {
  /** The body's SHA1; for a library function, its name (what error replies name). */
  readonly sha: string;
  readonly body: Buffer;
  readonly flags: ScriptFlags;
  /** A library function (FUNCTION LOAD): the registry reference of its callback, called with (KEYS, ARGV). */
  readonly functionRef?: number;
}

/** What a library's load registered with redis.register_function (Redis 7.0's checks). */
export interface RegisteredFunction {
  readonly name: string;
  readonly ref: number;
  readonly description: string | null;
  /** Flags as given, each once, in Redis's order. */
  readonly flags: readonly string[];
}

/** Redis's rule for library and function names. */
export const FUNCTION_NAME_RE = /^[A-Za-z0-9_]+$/;
const ERR_FUNCTION_NAME = 'Library names can only contain letters, numbers, or underscores(_) and must be at least one character long';
/** Functions one library may register: bounds what a load can grow. */
export const LIBRARY_FUNCTIONS_MAX = 10_000;

/** Runs one command for the running script; its reply (or refusal) is written into `out`. */
export type ScriptCall = (argv: Buffer[], out: ReplyWriter) => void;

export interface ScriptRun {
  readonly script: CachedScript;
  readonly keys: readonly Buffer[];
  readonly args: readonly Buffer[];
  readonly call: ScriptCall;
}

/**
 * 'done': the script's reply (a value or an error) was written; 'command-error': its reply is the
 * error a command it called replied (that command counted it already); 'killed': SCRIPT KILL or
 * FUNCTION KILL (or the host) stopped it and its reply is Redis's killed error.
 */
export type ScriptOutcome = 'done' | 'command-error' | 'killed';
/** Marks an error table made from a command's error reply (Redis's ignore_err_stats_update). */
const COUNTED_FIELD = 'kv_counted';

export function sha1hex(b: Buffer | string): string {
  return createHash('sha1').update(b).digest('hex');
}

/** A Lua string as a Buffer, without a copy (Lua strings are never changed in place). */
function luaBytes(L: LuaState, idx: number): Buffer {
  const s = lua.lua_tolstring(L, idx) as Uint8Array;
  return Buffer.from(s.buffer, s.byteOffset, s.byteLength);
}

/**
 * Redis's luaPushErrorBuff: "-CODE msg" keeps its code, anything else gets ERR; the text is
 * trimmed of CR/LF at both ends.
 */
export function errorTableText(e: string): string {
  let code = 'ERR';
  let msg = e;
  if (e.startsWith('-')) {
    const sp = e.indexOf(' ');
    if (sp < 0) msg = e.slice(1);
    else {
      code = e.slice(1, sp);
      msg = e.slice(sp + 1);
    }
  }
  return `${code} ${msg.replace(/^[\r\n]+|[\r\n]+$/g, '')}`;
}

export class ScriptEngine {
  private readonly cache = new Map<string, CachedScript>();
  private cacheBytes = 0;
  private L: LuaState;
  /** Compiled scripts: sha -> registry reference of the function, in this VM. */
  private compiled = new Map<string, number>();
  private envRef = 0;
  private globalsRef = 0;
  private handlerRef = 0;
  private functionsRef = 0;
  /** The functions a library load in progress registered (null: no load in progress). */
  private registering: RegisteredFunction[] | null = null;
  /** The run in progress (scripts do not nest: redis.call of EVAL is refused as noscript). */
  private current: ScriptRun | null = null;
  private resp: 2 | 3 = 2;
  /** FUNCTION LOAD's deadline (Date.now() ms) and whether it was passed. */
  private deadlineMs = 0;
  private timedOut = false;
  /** The thread scripts run in (reused while it ends cleanly), and its registry reference. */
  private co: LuaState | null = null;
  private coRef = 0;
  private runRef = 0;
  /** Arguments the next resume passes (the first starts the body with them; later ones pass none). */
  private resumeArgs = 0;
  /** Date.now() at which the running slice yields (0: it runs to the script's end). */
  private sliceEndMs = 0;
  /** Why the running script is being stopped (null: it is not), then where it was when it was. */
  private killedBy: string | null = null;
  private killedAt = '';
  /** The run ended: its resume status, or a reply decided before it started (a compile error). */
  private endStatus = -1;
  private startError: string | null = null;
  /** cjson's nesting limits: VM-wide settings, as lua-cjson's (SCRIPT FLUSH resets them). */
  private jsonEncodeDepthMax = JSON_DEPTH_DEFAULT;
  private jsonDecodeDepthMax = JSON_DEPTH_DEFAULT;
  private jsonInvalidNumbers = false;
  private readonly hookFn = (L: LuaState): void => this.hook(L);

  constructor(
    private readonly log: (level: ScriptLogLevel, msg: string) => void,
    private readonly cacheBytesMax = SCRIPT_CACHE_BYTES_MAX,
  ) {
    this.L = this.newState();
  }

  get scripts(): number {
    return this.cache.size;
  }

  get memoryBytes(): number {
    return this.cacheBytes;
  }

  get(sha: string): CachedScript | undefined {
    return this.cache.get(sha.toLowerCase());
  }

  /**
   * SCRIPT LOAD, and EVAL of a script not seen yet: check the shebang, compile, cache. Returns
   * the cached script or the error reply text.
   */
  load(body: Buffer): CachedScript | string {
    const sha = sha1hex(body);
    const have = this.cache.get(sha);
    if (have !== undefined) return have;
    const flags = parseShebang(body);
    if (typeof flags === 'string') return flags;
    const script: CachedScript = { sha, body: Buffer.from(body), flags };
    const err = this.compile(script);
    if (err !== null) return err;
    this.cache.set(sha, script);
    this.cacheBytes += body.length;
    for (const [k, s] of this.cache) {
      if (this.cacheBytes <= this.cacheBytesMax || k === sha) break;
      this.cache.delete(k);
      this.cacheBytes -= s.body.length;
      const ref = this.compiled.get(k);
      if (ref !== undefined) lauxlib.luaL_unref(this.L, lua.LUA_REGISTRYINDEX, ref);
      this.compiled.delete(k);
    }
    return script;
  }

  /** SCRIPT FLUSH: forget every script and start a fresh VM. */
  flush(): void {
    this.cache.clear();
    this.cacheBytes = 0;
    this.L = this.newState();
  }

  /** The script in flight (started, not finished), if any. */
  get running(): ScriptRun | null {
    return this.current;
  }

  /**
   * Start a cached script as a coroutine (its body's first slice runs at step()). Scripts do not
   * nest or overlap: the host runs one at a time, refusing others (BUSY) while one is in flight.
   */
  start(run: ScriptRun): void {
    assert(this.current === null, 'bug: a script started while another is in flight');
    const L = this.L;
    this.current = run;
    this.resp = 2;
    this.killedBy = null;
    this.killedAt = '';
    this.endStatus = -1;
    this.startError = null;
    const fn = run.script.functionRef;
    if (fn === undefined && !this.compiled.has(run.script.sha) && this.compile(run.script) !== null) {
      this.startError = 'ERR Error compiling script';
      return;
    }
    if (fn === undefined) {
      lua.lua_settop(L, 0);
      lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, this.globalsRef);
      this.pushStrings(L, run.keys);
      lua.lua_setfield(L, 1, 'KEYS');
      this.pushStrings(L, run.args);
      lua.lua_setfield(L, 1, 'ARGV');
      lua.lua_settop(L, 0);
    }
    const co = this.thread();
    lua.lua_settop(co, 0);
    lua.lua_rawgeti(co, lua.LUA_REGISTRYINDEX, this.runRef);
    lua.lua_rawgeti(co, lua.LUA_REGISTRYINDEX, this.handlerRef);
    lua.lua_rawgeti(co, lua.LUA_REGISTRYINDEX, fn ?? (this.compiled.get(run.script.sha) as number));
    // A library function takes KEYS and ARGV as its arguments.
    if (fn !== undefined) {
      this.pushStrings(co, run.keys);
      this.pushStrings(co, run.args);
    }
    this.resumeArgs = fn === undefined ? 2 : 4;
  }

  /**
   * Run the started script until it ends or, when `untilMs` is not 0, until Date.now() passes
   * it (checked every HOOK_INSTRUCTIONS Lua instructions): then it yields, to be resumed by a
   * later step. True when it ended (finish() writes its reply).
   */
  step(untilMs: number): boolean {
    if (this.startError !== null) return true;
    const co = this.co as LuaState;
    this.sliceEndMs = untilMs;
    if (untilMs > 0 || this.killedBy !== null) lua.lua_sethook(co, this.hookFn, this.killedBy !== null ? lua.LUA_MASKLINE : lua.LUA_MASKCOUNT, HOOK_INSTRUCTIONS);
    let status: number;
    try {
      const nargs = this.resumeArgs;
      this.resumeArgs = 0;
      status = lua.lua_resume(co, this.L, nargs);
    } catch (e) {
      // A JavaScript exception crossed the VM (a bug): its state is unknown, so it is replaced.
      this.current = null;
      this.L = this.newState();
      throw e;
    }
    // What the coroutine yielded (none from the hook, a command's reply from redis.call) is handed back at the next resume.
    if (status === lua.LUA_YIELD) {
      this.resumeArgs = lua.lua_gettop(co);
      return false;
    }
    lua.lua_sethook(co, null, 0, 0);
    this.endStatus = status;
    return true;
  }

  /**
   * Stop the script in flight at its next hook (SCRIPT KILL, FUNCTION KILL): every line then
   * raises again, so pcall cannot swallow it. `text` is the error it ends with.
   */
  kill(text: string): void {
    if (this.current === null || this.killedBy !== null) return;
    this.killedBy = text;
    if (this.co !== null) lua.lua_sethook(this.co, this.hookFn, lua.LUA_MASKLINE, 0);
  }

  /** The ended script's reply into `out` (the caller's protocol); the script is no longer in flight. */
  finish(out: ReplyWriter): ScriptOutcome {
    const run = this.current;
    assert(run !== null, 'bug: finish without a script');
    const co = this.co as LuaState;
    try {
      if (this.startError !== null) {
        out.error(this.startError);
        return 'done';
      }
      if (this.killedBy !== null) {
        out.error(`${this.killedBy}${this.killedAt}`);
        return 'killed';
      }
      if (this.endStatus !== lua.LUA_OK) {
        // An error outside the body's xpcall (the stack overflowed in the handler): the text Lua gave.
        const msg = lua.lua_type(co, -1) === lua.LUA_TSTRING ? luaBytes(co, -1).toString('latin1') : 'execution failure';
        out.error(`ERR Error running script ${run.script.sha}, ${oneLine(msg).slice(0, 100)}`);
        return 'done';
      }
      // The body returned xpcall's status and the script's value (or its error table).
      const ok = lua.lua_toboolean(co, -2);
      const counted = this.isCountedError(co);
      if (ok) this.writeReply(co, out, -1, 0);
      else this.writeError(co, out, run.script.sha);
      return counted ? 'command-error' : 'done';
    } finally {
      this.endRun();
    }
  }

  private endRun(): void {
    this.current = null;
    this.killedBy = null;
    this.startError = null;
    const co = this.co;
    if (co === null) return;
    lua.lua_sethook(co, null, 0, 0);
    // A thread that ended in error (or was stopped mid-run) is dead: the next run gets a new one.
    if (lua.lua_status(co) === lua.LUA_OK) lua.lua_settop(co, 0);
    else this.dropThread();
  }

  /** The thread scripts run in: the last one while it ended cleanly, else a new one. */
  private thread(): LuaState {
    if (this.co !== null && lua.lua_status(this.co) === lua.LUA_OK) return this.co;
    this.dropThread();
    const co = lua.lua_newthread(this.L);
    this.coRef = lauxlib.luaL_ref(this.L, lua.LUA_REGISTRYINDEX);
    this.co = co;
    return co;
  }

  private dropThread(): void {
    if (this.co === null) return;
    lauxlib.luaL_unref(this.L, lua.LUA_REGISTRYINDEX, this.coRef);
    this.co = null;
  }

  /**
   * FUNCTION LOAD: run a library's code (its shebang line already checked) once, with only the
   * load API visible; the functions it registered (their callbacks stay referenced in this VM),
   * or Redis's error text. A failed load leaves nothing registered.
   */
  loadLibrary(code: Buffer): RegisteredFunction[] | string {
    const L = this.L;
    const failed = loadChunk(L, code, true, '@user_function', 'ERR Error compiling function');
    if (failed !== null) return failed;
    const chunk = lua.lua_gettop(L);
    lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, this.functionsRef);
    const tbl = lua.lua_gettop(L);
    lua.lua_getfield(L, tbl, 'env');
    lua.lua_setupvalue(L, chunk, 1);
    const registered: RegisteredFunction[] = [];
    this.registering = registered;
    this.setLoading(L, tbl, true);
    lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, this.handlerRef);
    lua.lua_pushvalue(L, chunk);
    this.timedOut = false;
    this.deadlineMs = Date.now() + FUNCTION_LOAD_TIME_LIMIT_MS;
    lua.lua_sethook(L, this.hookFn, lua.LUA_MASKCOUNT, HOOK_INSTRUCTIONS);
    const status = lua.lua_pcall(L, 0, 0, tbl + 1);
    lua.lua_sethook(L, null, 0, 0);
    let err: string | null = null;
    if (status !== lua.LUA_OK) {
      const top = lua.lua_gettop(L);
      const text = lua.lua_type(L, top) === lua.LUA_TTABLE && this.field(L, top, 'err') === lua.LUA_TSTRING ? luaBytes(L, -1).toString('latin1') : 'unknown error';
      err = `ERR Error registering functions: ${oneLine(asLua51(text))}`;
    } else if (registered.length === 0) err = 'ERR No functions registered';
    this.setLoading(L, tbl, false);
    this.registering = null;
    lua.lua_settop(L, 0);
    if (err !== null) {
      this.releaseFunctions(registered);
      return err;
    }
    return registered;
  }

  /** Drop the callbacks of functions that will never run (a failed or replaced load). */
  releaseFunctions(fns: readonly RegisteredFunction[]): void {
    for (const f of fns) lauxlib.luaL_unref(this.L, lua.LUA_REGISTRYINDEX, f.ref);
  }

  private setLoading(L: LuaState, tbl: number, on: boolean): void {
    lua.lua_getfield(L, tbl, 'set_loading');
    lua.lua_pushboolean(L, on);
    lua.lua_pcall(L, 1, 0, 0);
  }

  /** redis.register_function(name, fn) or redis.register_function{function_name=, callback=, flags=, description=}. */
  private registerFunction(L: LuaState): number {
    const into = this.registering;
    if (into === null) return this.raise(L, 'ERR redis.register_function can only be called on FUNCTION LOAD command');
    const n = lua.lua_gettop(L);
    if (n < 1 || n > 2) return this.raise(L, 'ERR wrong number of arguments to redis.register_function');
    let name: string;
    let description: string | null = null;
    const flags: string[] = [];
    if (n === 1) {
      if (lua.lua_type(L, 1) !== lua.LUA_TTABLE) return this.raise(L, 'ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).');
      let nameV: string | null = null;
      let hasCallback = false;
      lua.lua_pushnil(L);
      while (lua.lua_next(L, 1)) {
        if (lua.lua_type(L, -2) !== lua.LUA_TSTRING) return this.raise(L, 'ERR named argument key given to redis.register_function is not a string');
        const k = luaBytes(L, -2).toString('latin1');
        const t = lua.lua_type(L, -1);
        if (k === 'function_name') {
          if (t !== lua.LUA_TSTRING) return this.raise(L, 'ERR function_name argument given to redis.register_function must be a string');
          nameV = luaBytes(L, -1).toString('latin1');
        } else if (k === 'description') {
          if (t !== lua.LUA_TSTRING) return this.raise(L, 'ERR description argument given to redis.register_function must be a string');
          description = luaBytes(L, -1).toString('latin1');
        } else if (k === 'callback') {
          if (t !== lua.LUA_TFUNCTION) return this.raise(L, 'ERR callback argument given to redis.register_function must be a function');
          hasCallback = true;
        } else if (k === 'flags') {
          if (t !== lua.LUA_TTABLE) return this.raise(L, 'ERR flags argument to redis.register_function must be a table representing function flags');
          for (let i = 1; lua.lua_rawgeti(L, -1, i) !== lua.LUA_TNIL; i++) {
            const f = lua.lua_type(L, -1) === lua.LUA_TSTRING ? luaBytes(L, -1).toString('latin1') : null;
            lua.lua_pop(L, 1);
            if (f === null || !SHEBANG_FLAGS.has(f)) return this.raise(L, 'ERR unknown flag given');
            if (!flags.includes(f)) flags.push(f);
          }
          lua.lua_pop(L, 1);
        } else return this.raise(L, 'ERR unknown argument given to redis.register_function');
        lua.lua_pop(L, 1);
      }
      if (nameV === null) return this.raise(L, 'ERR redis.register_function must get a function name argument');
      if (!hasCallback) return this.raise(L, 'ERR redis.register_function must get a callback argument');
      name = nameV;
      lua.lua_getfield(L, 1, 'callback');
    } else {
      if (lua.lua_type(L, 1) !== lua.LUA_TSTRING) return this.raise(L, 'ERR first argument to redis.register_function must be a string');
      if (lua.lua_type(L, 2) !== lua.LUA_TFUNCTION) return this.raise(L, 'ERR second argument to redis.register_function must be a function');
      name = luaBytes(L, 1).toString('latin1');
      lua.lua_pushvalue(L, 2);
    }
    if (!FUNCTION_NAME_RE.test(name)) return this.raise(L, `ERR ${ERR_FUNCTION_NAME}`);
    if (into.some((f) => f.name === name)) return this.raise(L, 'ERR Function already exists in the library');
    if (into.length >= LIBRARY_FUNCTIONS_MAX) return this.raise(L, `ERR too many functions in one library (at most ${LIBRARY_FUNCTIONS_MAX})`);
    const order = [...SHEBANG_FLAGS].filter((f) => flags.includes(f));
    into.push({ name, ref: lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX), description, flags: order });
    lua.lua_settop(L, 0);
    return 0;
  }

  // ---------------------------------------------------------------- VM setup

  private newState(): LuaState {
    const L = lauxlib.luaL_newstate();
    // The old state's thread goes with it.
    this.co = null;
    this.compiled = new Map();
    this.jsonEncodeDepthMax = this.jsonDecodeDepthMax = JSON_DEPTH_DEFAULT;
    this.jsonInvalidNumbers = false;
    for (const [name, open] of [['_G', lualib.luaopen_base], ['table', lualib.luaopen_table], ['string', lualib.luaopen_string], ['math', lualib.luaopen_math], ['debug', lualib.luaopen_debug], ['coroutine', lualib.luaopen_coroutine]] as const) {
      lauxlib.luaL_requiref(L, name, open, 1);
      lua.lua_pop(L, 1);
    }
    const prelude = Buffer.from(LUA_PRELUDE);
    if (lauxlib.luaL_loadbuffer(L, prelude, prelude.length, '=prelude') !== lua.LUA_OK) throw new Error(`bug: Lua prelude: ${luaBytes(L, -1).toString()}`);
    lua.lua_createtable(L, 0, 16);
    const fns: Array<[string, (L: LuaState) => number]> = [
      ['call', (l) => this.redisCall(l, true)],
      ['pcall', (l) => this.redisCall(l, false)],
      ['sha1hex', (l) => this.sha1(l)],
      ['error_reply', (l) => this.errorReply(l)],
      ['status_reply', (l) => this.statusReply(l)],
      ['log', (l) => this.logFn(l)],
      ['setresp', (l) => this.setResp(l)],
      ['set_repl', (l) => this.setRepl(l)],
      ['json_encode', (l) => this.jsonEncodeFn(l)],
      ['json_decode', (l) => this.jsonDecodeFn(l)],
      ['json_encode_max_depth', (l) => this.jsonDepth(l, 'encode')],
      ['json_decode_max_depth', (l) => this.jsonDepth(l, 'decode')],
      ['json_encode_invalid_numbers', (l) => this.jsonInvalid(l)],
      ['register_function', (l) => this.registerFunction(l)],
    ];
    for (const [name, fn] of fns) {
      lua.lua_pushcfunction(L, fn);
      lua.lua_setfield(L, -2, name);
    }
    lua.lua_pushstring(L, SCRIPT_REDIS_VERSION);
    lua.lua_setfield(L, -2, 'REDIS_VERSION');
    lua.lua_pushnumber(L, SCRIPT_REDIS_VERSION_NUM);
    lua.lua_setfield(L, -2, 'REDIS_VERSION_NUM');
    if (lua.lua_pcall(L, 1, 5, 0) !== lua.LUA_OK) throw new Error(`bug: Lua prelude: ${luaBytes(L, -1).toString()}`);
    // The prelude returns the sandbox's environment, its globals, the error handler, the
    // libraries' environment and the body every script runs in (xpcall: a yieldable pcall).
    this.runRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
    this.functionsRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
    this.handlerRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
    this.globalsRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
    this.envRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
    return L;
  }

  /** Compile into this VM; null, or Redis's compile error reply. */
  private compile(script: CachedScript): string | null {
    const L = this.L;
    const failed = loadChunk(L, script.body, script.flags.shebang, '@user_script', 'ERR Error compiling script (new function)');
    if (failed !== null) return failed;
    lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, this.envRef);
    lua.lua_setupvalue(L, 1, 1);
    this.compiled.set(script.sha, lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX));
    lua.lua_settop(L, 0);
    return null;
  }

  private pushStrings(L: LuaState, items: readonly Buffer[]): void {
    lua.lua_createtable(L, items.length, 0);
    for (let i = 0; i < items.length; i++) {
      lua.lua_pushstring(L, items[i] as Buffer);
      lua.lua_rawseti(L, -2, i + 1);
    }
  }

  /**
   * The hook. A script being killed raises on every line (so pcall cannot swallow it). A running
   * script past its slice yields (the host serves other clients, then resumes it); where it cannot
   * (inside a metamethod or a callback called from JavaScript) it goes on to the next check.
   * A library load past FUNCTION_LOAD_TIME_LIMIT_MS is aborted.
   */
  private hook(L: LuaState): void {
    if (this.registering !== null) return this.loadHook(L);
    if (this.killedBy !== null) {
      if (this.killedAt === '') this.killedAt = this.where(L);
      return this.raise(L, this.killedBy);
    }
    if (this.sliceEndMs > 0 && Date.now() >= this.sliceEndMs && lua.lua_isyieldable(L)) lua.lua_yield(L, 0);
  }

  /** ' script: <sha or function>, on <source>:<line>.' for the running Lua function (Redis's error suffix). */
  private where(L: LuaState): string {
    const ar = new lua.lua_Debug();
    if (!lua.lua_getstack(L, 0, ar) || !lua.lua_getinfo(L, 'Sl', ar) || ar.source === null) return '';
    const source = Buffer.from(ar.source).toString('latin1');
    return ` script: ${this.current?.script.sha ?? ''}, on ${source}:${ar.currentline}.`;
  }

  private loadHook(L: LuaState): void {
    if (!this.timedOut && Date.now() < this.deadlineMs) return;
    if (!this.timedOut) {
      this.timedOut = true;
      lua.lua_sethook(L, this.hookFn, lua.LUA_MASKLINE | lua.LUA_MASKCOUNT, 1);
    }
    this.raise(L, 'ERR FUNCTION LOAD timeout');
  }

  /** Raise a Redis error table {err = text} (text in luaPushErrorBuff's form). */
  private raise(L: LuaState, text: string): never {
    this.pushErrorTable(L, text);
    return lua.lua_error(L);
  }

  /** Whether the value at the top is an error table made from a command's error reply. */
  private isCountedError(L: LuaState): boolean {
    const top = lua.lua_gettop(L);
    if (top === 0 || lua.lua_type(L, top) !== lua.LUA_TTABLE) return false;
    const t = this.field(L, top, COUNTED_FIELD);
    lua.lua_pop(L, 1);
    return t === lua.LUA_TBOOLEAN;
  }

  private pushErrorTable(L: LuaState, err: string): void {
    lua.lua_createtable(L, 0, 1);
    lua.lua_pushstring(L, err);
    lua.lua_setfield(L, -2, 'err');
  }

  // ---------------------------------------------------------------- the redis.* library

  private redisCall(L: LuaState, raise: boolean): number {
    const run = this.current;
    const n = lua.lua_gettop(L);
    if (run === null) return this.raise(L, 'ERR redis.call() can only be used while a script runs');
    if (n === 0) return this.failCall(L, raise, 'ERR Please specify at least one argument for this redis lib call');
    const argv: Buffer[] = new Array<Buffer>(n);
    for (let i = 1; i <= n; i++) {
      const t = lua.lua_type(L, i);
      if (t === lua.LUA_TSTRING) argv[i - 1] = luaBytes(L, i);
      else if (t === lua.LUA_TNUMBER) argv[i - 1] = Buffer.from(formatLuaNumber(lua.lua_tonumber(L, i)));
      else return this.failCall(L, raise, 'ERR Lua redis lib command arguments must be strings or integers');
    }
    const capture = new ReplyCapture(this.resp);
    run.call(argv, capture);
    const reply = capture.take();
    lua.lua_settop(L, 0);
    if (reply === null) {
      lua.lua_pushboolean(L, false);
      return 1;
    }
    if (!lua.lua_checkstack(L, 8)) return this.raise(L, 'ERR reached lua stack limit');
    this.pushReply(L, reply, 0);
    if (reply.t === 'error' && raise) return lua.lua_error(L);
    // A slice also ends at a command (a loop of commands runs few Lua instructions per second):
    // the reply is yielded, and the next resume hands it back as redis.call's value.
    if (this.sliceEndMs > 0 && Date.now() >= this.sliceEndMs && lua.lua_isyieldable(L)) {
      lua.lua_yield(L, 1);
      return 0;
    }
    return 1;
  }

  private failCall(L: LuaState, raise: boolean, text: string): number {
    if (raise) return this.raise(L, text);
    lua.lua_settop(L, 0);
    this.pushErrorTable(L, text);
    return 1;
  }

  /** A command's reply as a Lua value (Redis's redisProtocolToLuaType, RESP2 and RESP3). */
  private pushReply(L: LuaState, r: CapturedReply, depth: number): void {
    if (depth > REPLY_DEPTH_MAX || !lua.lua_checkstack(L, 4)) this.raise(L, 'ERR reached lua stack limit');
    switch (r.t) {
      case 'status':
        lua.lua_createtable(L, 0, 1);
        lua.lua_pushstring(L, r.s);
        lua.lua_setfield(L, -2, 'ok');
        return;
      case 'error':
        this.pushErrorTable(L, errorTableText(`-${r.s}`));
        lua.lua_pushboolean(L, true);
        lua.lua_setfield(L, -2, COUNTED_FIELD);
        return;
      case 'int':
        return lua.lua_pushnumber(L, r.n);
      case 'bulk':
        lua.lua_pushstring(L, r.b);
        return;
      case 'null':
        if (this.resp === 3) lua.lua_pushnil(L);
        else lua.lua_pushboolean(L, false);
        return;
      case 'array':
        lua.lua_createtable(L, r.items.length, 0);
        for (let i = 0; i < r.items.length; i++) {
          this.pushReply(L, r.items[i] as CapturedReply, depth + 1);
          lua.lua_rawseti(L, -2, i + 1);
        }
        return;
      case 'map':
        lua.lua_createtable(L, 0, 1);
        lua.lua_createtable(L, 0, r.items.length / 2);
        for (let i = 0; i + 1 < r.items.length; i += 2) {
          this.pushReply(L, r.items[i] as CapturedReply, depth + 1);
          this.pushReply(L, r.items[i + 1] as CapturedReply, depth + 1);
          lua.lua_rawset(L, -3);
        }
        lua.lua_setfield(L, -2, 'map');
        return;
      case 'set':
        lua.lua_createtable(L, 0, 1);
        lua.lua_createtable(L, 0, r.items.length);
        for (const item of r.items) {
          this.pushReply(L, item, depth + 1);
          lua.lua_pushboolean(L, true);
          lua.lua_rawset(L, -3);
        }
        lua.lua_setfield(L, -2, 'set');
        return;
      case 'double':
        lua.lua_createtable(L, 0, 1);
        lua.lua_pushnumber(L, r.x);
        lua.lua_setfield(L, -2, 'double');
        return;
      case 'bool':
        return lua.lua_pushboolean(L, r.v);
      case 'verbatim':
        lua.lua_createtable(L, 0, 1);
        lua.lua_createtable(L, 0, 2);
        lua.lua_pushstring(L, r.s);
        lua.lua_setfield(L, -2, 'string');
        lua.lua_pushstring(L, 'txt');
        lua.lua_setfield(L, -2, 'format');
        lua.lua_setfield(L, -2, 'verbatim_string');
        return;
      default: {
        const never: never = r;
        throw new Error(`bug: reply ${String(never)}`);
      }
    }
  }

  private sha1(L: LuaState): number {
    if (lua.lua_gettop(L) !== 1) return this.raise(L, 'ERR wrong number of arguments');
    const t = lua.lua_type(L, 1);
    const digest = sha1hex(t === lua.LUA_TSTRING || t === lua.LUA_TNUMBER ? this.argBytes(L, 1) : Buffer.alloc(0));
    lua.lua_settop(L, 0);
    lua.lua_pushstring(L, digest);
    return 1;
  }

  /** A string or number argument's bytes (numbers as Lua 5.1 prints them). */
  private argBytes(L: LuaState, idx: number): Buffer {
    return lua.lua_type(L, idx) === lua.LUA_TNUMBER ? Buffer.from(formatLuaNumber(lua.lua_tonumber(L, idx))) : luaBytes(L, idx);
  }

  private isStringy(L: LuaState, idx: number): boolean {
    const t = lua.lua_type(L, idx);
    return t === lua.LUA_TSTRING || t === lua.LUA_TNUMBER;
  }

  private errorReply(L: LuaState): number {
    if (lua.lua_gettop(L) !== 1 || !this.isStringy(L, 1)) {
      lua.lua_settop(L, 0);
      this.pushErrorTable(L, 'ERR wrong number or type of arguments');
      return 1;
    }
    const e = this.argBytes(L, 1).toString('latin1');
    lua.lua_settop(L, 0);
    this.pushErrorTable(L, errorTableText(e.startsWith('-') ? e : `-${e}`));
    return 1;
  }

  private statusReply(L: LuaState): number {
    if (lua.lua_gettop(L) !== 1 || !this.isStringy(L, 1)) {
      lua.lua_settop(L, 0);
      this.pushErrorTable(L, 'ERR wrong number or type of arguments');
      return 1;
    }
    const s = this.argBytes(L, 1);
    lua.lua_settop(L, 0);
    lua.lua_createtable(L, 0, 1);
    lua.lua_pushstring(L, s);
    lua.lua_setfield(L, -2, 'ok');
    return 1;
  }

  private logFn(L: LuaState): number {
    const n = lua.lua_gettop(L);
    if (n < 2) return this.raise(L, 'ERR redis.log() requires two arguments or more.');
    if (lua.lua_type(L, 1) !== lua.LUA_TNUMBER) return this.raise(L, 'ERR First argument must be a number (log level).');
    const level = LOG_LEVELS[lua.lua_tonumber(L, 1)];
    if (level === undefined) return this.raise(L, 'ERR Invalid debug level.');
    const parts: string[] = [];
    for (let i = 2; i <= n; i++) if (this.isStringy(L, i)) parts.push(this.argBytes(L, i).toString('latin1'));
    this.log(level, parts.join(' '));
    lua.lua_settop(L, 0);
    return 0;
  }

  private setResp(L: LuaState): number {
    if (lua.lua_gettop(L) !== 1) return this.raise(L, 'ERR redis.setresp() requires one argument.');
    const v = lua.lua_tonumber(L, 1);
    if (v !== 2 && v !== 3) return this.raise(L, 'ERR RESP version must be 2 or 3.');
    this.resp = v;
    return 0;
  }

  /** Accepted for compatibility: a script's effects are always logged and replicated as one entry. */
  private setRepl(L: LuaState): number {
    if (lua.lua_gettop(L) !== 1) return this.raise(L, 'ERR redis.set_repl() requires one argument.');
    const v = lua.lua_tonumber(L, 1);
    if (!(v >= 0 && v <= 3 && Number.isInteger(v))) return this.raise(L, 'ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.');
    return 0;
  }

  private jsonEncodeFn(L: LuaState): number {
    const r = lua.lua_gettop(L) === 1 ? jsonEncode(L, 1, { depthMax: this.jsonEncodeDepthMax, invalidNumbers: this.jsonInvalidNumbers }) : { error: "bad argument #1 to 'encode' (expected 1 argument)" };
    if (typeof r !== 'string') return this.raiseAtCaller(L, r.error);
    lua.lua_settop(L, 0);
    lua.lua_pushstring(L, Buffer.from(r, 'latin1'));
    return 1;
  }

  private jsonDecodeFn(L: LuaState): number {
    if (lua.lua_gettop(L) !== 1 || !this.isStringy(L, 1)) return this.raiseAtCaller(L, "bad argument #1 to 'decode' (string expected)");
    const text = this.argBytes(L, 1);
    lua.lua_settop(L, 0);
    const err = jsonDecode(L, text, this.jsonDecodeDepthMax);
    if (err !== null) return this.raiseAtCaller(L, err);
    return 1;
  }

  /** cjson.encode_max_depth(n) / decode_max_depth(n): the new limit (the current one without n). */
  private jsonDepth(L: LuaState, which: 'encode' | 'decode'): number {
    if (lua.lua_gettop(L) >= 1 && lua.lua_type(L, 1) === lua.LUA_TNUMBER) {
      const n = Math.trunc(lua.lua_tonumber(L, 1));
      if (!(n >= 1 && n <= 2147483647)) return this.raiseAtCaller(L, 'bad argument #1 to \'max_depth\' (expected integer between 1 and 2147483647)');
      if (which === 'encode') this.jsonEncodeDepthMax = n;
      else this.jsonDecodeDepthMax = n;
    }
    lua.lua_settop(L, 0);
    lua.lua_pushnumber(L, which === 'encode' ? this.jsonEncodeDepthMax : this.jsonDecodeDepthMax);
    return 1;
  }

  /** cjson.encode_invalid_numbers(on): whether NaN and infinities encode (as nan, inf) or fail. */
  private jsonInvalid(L: LuaState): number {
    if (lua.lua_gettop(L) >= 1) this.jsonInvalidNumbers = lua.lua_toboolean(L, 1);
    lua.lua_settop(L, 0);
    lua.lua_pushboolean(L, this.jsonInvalidNumbers);
    return 1;
  }

  /** A library error as lua-cjson raises it: a string, with the calling script's line. */
  private raiseAtCaller(L: LuaState, msg: string): never {
    lua.lua_settop(L, 0);
    lauxlib.luaL_where(L, 1);
    const where = luaBytes(L, 1).toString('latin1');
    lua.lua_settop(L, 0);
    lua.lua_pushstring(L, `${where}${msg}`);
    return lua.lua_error(L);
  }

  // ---------------------------------------------------------------- the script's reply

  /**
   * The value at the top as the script's reply (Redis's luaReplyToRedisReply): strings bulk,
   * numbers integers (truncated), booleans 1/nil (RESP3 true/false after setresp(3)), tables
   * {err=}, {ok=}, {double=}, {big_number=}, {map=}, {set=} or arrays up to their first nil.
   */
  private writeReply(L: LuaState, out: ReplyWriter, idx: number, depth: number): void {
    const top = lua.lua_absindex(L, idx > 0 ? idx : lua.lua_gettop(L) + idx + 1);
    if (depth > REPLY_DEPTH_MAX || !lua.lua_checkstack(L, 4)) return out.error('ERR reached lua stack limit');
    const t = lua.lua_type(L, top);
    if (t === lua.LUA_TSTRING) return out.bulk(luaBytes(L, top));
    if (t === lua.LUA_TBOOLEAN) {
      const b = lua.lua_toboolean(L, top);
      if (this.resp === 3) return out.boolean(b);
      return b ? out.integer(1) : out.nullBulk();
    }
    if (t === lua.LUA_TNUMBER) return out.integer(truncateToInt(lua.lua_tonumber(L, top)));
    if (t !== lua.LUA_TTABLE) return out.nullBulk();
    if (this.field(L, top, 'err') === lua.LUA_TSTRING) {
      const msg = luaBytes(L, -1).toString('latin1');
      lua.lua_pop(L, 1);
      return out.error(oneLine(msg));
    }
    lua.lua_pop(L, 1);
    if (this.field(L, top, 'ok') === lua.LUA_TSTRING) {
      const s = luaBytes(L, -1).toString('latin1');
      lua.lua_pop(L, 1);
      return out.simple(oneLine(s));
    }
    lua.lua_pop(L, 1);
    if (this.field(L, top, 'double') === lua.LUA_TNUMBER) {
      const x = lua.lua_tonumber(L, -1);
      lua.lua_pop(L, 1);
      return out.double(x);
    }
    lua.lua_pop(L, 1);
    if (this.field(L, top, 'big_number') === lua.LUA_TSTRING) {
      const s = luaBytes(L, -1).toString('latin1');
      lua.lua_pop(L, 1);
      return out.doubleText(s.replace(/[\r\n]/g, ' '));
    }
    lua.lua_pop(L, 1);
    if (this.field(L, top, 'map') === lua.LUA_TTABLE) return this.writeMap(L, out, depth);
    lua.lua_pop(L, 1);
    if (this.field(L, top, 'set') === lua.LUA_TTABLE) return this.writeSet(L, out, depth);
    lua.lua_pop(L, 1);
    let n = 0;
    while (lua.lua_rawgeti(L, top, n + 1) !== lua.LUA_TNIL) {
      lua.lua_pop(L, 1);
      n++;
    }
    lua.lua_pop(L, 1);
    out.array(n);
    for (let i = 1; i <= n; i++) {
      lua.lua_rawgeti(L, top, i);
      this.writeReply(L, out, -1, depth + 1);
      lua.lua_pop(L, 1);
    }
  }

  private field(L: LuaState, idx: number, name: string): number {
    lua.lua_pushstring(L, name);
    return lua.lua_rawget(L, idx);
  }

  /** How many keys the table at stack index `t` has (lua_next walks them; the stack is left as it was). */
  private entryCount(L: LuaState, t: number): number {
    let n = 0;
    lua.lua_pushnil(L);
    while (lua.lua_next(L, t)) {
      n++;
      lua.lua_pop(L, 1);
    }
    return n;
  }

  /** The map table at the top (popped): RESP3 map, RESP2 flat array. */
  private writeMap(L: LuaState, out: ReplyWriter, depth: number): void {
    const t = lua.lua_gettop(L);
    out.map(this.entryCount(L, t));
    lua.lua_pushnil(L);
    while (lua.lua_next(L, t)) {
      lua.lua_pushvalue(L, -2);
      this.writeReply(L, out, -1, depth + 1);
      lua.lua_pop(L, 1);
      this.writeReply(L, out, -1, depth + 1);
      lua.lua_pop(L, 1);
    }
    lua.lua_pop(L, 1);
  }

  private writeSet(L: LuaState, out: ReplyWriter, depth: number): void {
    const t = lua.lua_gettop(L);
    out.set(this.entryCount(L, t));
    lua.lua_pushnil(L);
    while (lua.lua_next(L, t)) {
      lua.lua_pop(L, 1);
      lua.lua_pushvalue(L, -1);
      this.writeReply(L, out, -1, depth + 1);
      lua.lua_pop(L, 1);
    }
    lua.lua_pop(L, 1);
  }

  /**
   * A failed script (Redis 7.0's luaCallFunction): the error handler made a table {err, source,
   * line}; the reply is the err text and where it happened.
   */
  private writeError(L: LuaState, out: ReplyWriter, sha: string): void {
    const top = lua.lua_gettop(L);
    if (lua.lua_type(L, top) !== lua.LUA_TTABLE) {
      const msg = lua.lua_type(L, top) === lua.LUA_TSTRING ? luaBytes(L, top).toString('latin1') : 'execution failure';
      return out.error(`ERR Error running script ${sha}, ${oneLine(msg).slice(0, 100)}`);
    }
    const err = this.field(L, top, 'err') === lua.LUA_TSTRING ? luaBytes(L, -1).toString('latin1') : 'ERR unknown error';
    lua.lua_pop(L, 1);
    const source = this.field(L, top, 'source') === lua.LUA_TSTRING ? luaBytes(L, -1).toString('latin1') : null;
    lua.lua_pop(L, 1);
    const line = this.field(L, top, 'line') === lua.LUA_TNUMBER ? formatLuaNumber(lua.lua_tonumber(L, -1)) : null;
    lua.lua_pop(L, 1);
    const where = source !== null && line !== null ? ` script: ${sha}, on ${source}:${line}.` : '';
    out.error(oneLine(asLua51(err) + where).slice(0, ERROR_MESSAGE_CHARS_MAX));
  }
}

/** Redis converts a Lua number reply with a C cast: toward zero. */
function truncateToInt(x: number): number | bigint {
  // Out of range (and NaN), the x86 conversion Redis relies on gives the "integer indefinite" value.
  if (!(x > -9223372036854775809 && x < 9223372036854775808)) return -9223372036854775808n;
  const t = Math.trunc(x);
  return Number.isSafeInteger(t) ? t : BigInt(t);
}

/** Numbers as Redis 7.0 passes them to commands: integers plainly, others in their shortest form. */
export function formatLuaNumber(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e21) return x.toFixed(0);
  return String(x);
}

/** Lua 5.3's wording of the errors scripts meet most, as Lua 5.1 (Redis's) words them. */
function asLua51(msg: string): string {
  return msg
    .replace(/near <eof>/g, "near '<eof>'")
    .replace(/attempt to (\w+) a (\w+) value \((\w+) '([^']*)'\)/g, "attempt to $1 $3 '$4' (a $2 value)");
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

/**
 * `#!lua flags=a,b` on the first line: Redis 7.0's checks and texts. Flags, or the error text.
 */
export function parseShebang(body: Buffer): ScriptFlags | string {
  if (body.length < 2 || body[0] !== 0x23 || body[1] !== 0x21) return { shebang: false, noWrites: false, allowOom: false, allowStale: false };
  const nl = body.indexOf(0x0a);
  const line = body.subarray(2, nl < 0 ? body.length : nl).toString('latin1').replace(/\r$/, '');
  const parts = `#!${line}`.split(' ').filter((p) => p !== '');
  if (!(parts[0] ?? '').startsWith('#!lua')) return `ERR Unexpected engine in script shebang: ${parts[0] ?? ''}`;
  const flags = new Set<string>();
  for (const p of parts.slice(1)) {
    if (!p.startsWith('flags=')) return `ERR Unknown lua shebang option: ${p}`;
    for (const f of p.slice(6).split(',')) {
      if (f === '') continue;
      if (!SHEBANG_FLAGS.has(f)) return `ERR Unexpected flag in script shebang: ${f}`;
      flags.add(f);
    }
  }
  return { shebang: true, noWrites: flags.has('no-writes'), allowOom: flags.has('allow-oom'), allowStale: flags.has('allow-stale') };
}

/**
 * Compile `code` onto an empty stack of `L` (the chunk at index 1); null, or `errPrefix: <Lua's
 * message>` with the stack emptied. A shebang line becomes a comment: Lua would not parse it, and
 * line numbers stay.
 */
function loadChunk(L: LuaState, code: Buffer, shebang: boolean, chunkName: string, errPrefix: string): string | null {
  let body = code;
  if (shebang) {
    body = Buffer.from(code);
    body[0] = 0x2d;
    body[1] = 0x2d;
  }
  lua.lua_settop(L, 0);
  if (lauxlib.luaL_loadbuffer(L, body, body.length, chunkName) === lua.LUA_OK) return null;
  const msg = luaBytes(L, -1).toString('latin1');
  lua.lua_settop(L, 0);
  return `${errPrefix}: ${oneLine(asLua51(msg))}`;
}
