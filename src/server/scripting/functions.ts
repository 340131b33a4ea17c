// Function libraries (Redis 7.0 FUNCTION / FCALL): the library table, its byte form in a log
// entry's 'functions' op and in FUNCTION DUMP payloads, and the loading of libraries into their
// own Lua VM (a ScriptEngine apart from EVAL's, so SCRIPT FLUSH never drops a function).
// Owns the table and that VM; never writes to the log: the FUNCTION command logs the table it
// leaves, and the server installs what the store holds (local write, replica, restart).

import { crc32c } from '@node-rs/crc32';
import { FUNCTION_NAME_RE, ScriptEngine, type CachedScript, type RegisteredFunction, type ScriptLogLevel } from './lua-engine.js';

/** Libraries one table may hold: bounds a load, a restore and a replayed table. */
export const FUNCTION_LIBRARIES_MAX = 10_000;
/** Bytes of library code one table may hold (the table travels in one log entry). */
export const FUNCTION_CODE_BYTES_MAX = 64 * 1024 * 1024;

/** FUNCTION DUMP's payload: magic, version, body, CRC32C of everything before it. */
const DUMP_MAGIC = Buffer.from('KVFN', 'latin1');
const DUMP_VERSION = 1;

export interface LibraryFunction {
  readonly name: string;
  readonly library: string;
  readonly description: string | null;
  readonly flags: readonly string[];
  /** What the server runs (engine.run), with the function's flags as a shebang's. */
  readonly script: CachedScript;
}

export interface Library {
  readonly name: string;
  readonly code: Buffer;
  readonly functions: readonly LibraryFunction[];
}

/** `#!lua name=<lib>` on the first line: the library name, or Redis's error text. */
export function libraryName(code: Buffer): string {
  if (code.length < 2 || code[0] !== 0x23 || code[1] !== 0x21) return 'ERR Missing library metadata';
  const nl = code.indexOf(0x0a);
  const line = code.subarray(2, nl < 0 ? code.length : nl).toString('latin1').replace(/\r$/, '');
  // The engine is what follows "#!" up to the first space (Redis 7.0: "#! name=x" names engine '');
  // the rest are arguments, a quoted part unquoted as sdssplitargs does (name="x" is name=x).
  const words = line.split(' ');
  const engine = words[0] ?? '';
  const parts = ['', ...words.slice(1).filter((p) => p !== '').map((p) => p.replace(/"([^"]*)"|'([^']*)'/g, '$1$2'))];
  if (engine.toLowerCase() !== 'lua') return `ERR Engine '${engine}' not found`;
  let name: string | null = null;
  for (const p of parts.slice(1)) {
    if (!p.startsWith('name=')) return `ERR Invalid metadata value given: ${p}`;
    if (name !== null) return 'ERR Invalid metadata value, name argument was given multiple times';
    name = p.slice(5);
  }
  if (name === null) return 'ERR Library name was not given';
  if (!FUNCTION_NAME_RE.test(name)) return 'ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long';
  return name;
}

/** The table's byte form (a 'functions' op, a dump's body): JSON of the libraries' codes in base64, by name. */
export function encodeLibraries(codes: readonly Buffer[]): Buffer {
  return Buffer.from(JSON.stringify(codes.map((c) => c.toString('base64'))));
}

/** A table's bytes back to the codes; null when they are not that shape. */
export function decodeLibraries(b: Buffer): Buffer[] | null {
  let v: unknown;
  try {
    v = JSON.parse(b.toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(v) || v.length > FUNCTION_LIBRARIES_MAX || !v.every((x) => typeof x === 'string')) return null;
  return (v as string[]).map((s) => Buffer.from(s, 'base64'));
}

/** FUNCTION DUMP: the table with a version and a checksum, so RESTORE refuses damage. */
export function dumpPayload(codes: readonly Buffer[]): Buffer {
  const body = encodeLibraries(codes);
  const head = Buffer.alloc(DUMP_MAGIC.length + 2);
  DUMP_MAGIC.copy(head, 0);
  head.writeUInt16LE(DUMP_VERSION, DUMP_MAGIC.length);
  const crc = Buffer.alloc(4);
  const all = Buffer.concat([head, body]);
  crc.writeUInt32LE(crc32c(all), 0);
  return Buffer.concat([all, crc]);
}

/** A FUNCTION RESTORE payload's codes, or null (Redis answers "payload version or checksum are wrong"). */
export function readDumpPayload(p: Buffer): Buffer[] | null {
  const min = DUMP_MAGIC.length + 2 + 4;
  if (p.length < min || !p.subarray(0, DUMP_MAGIC.length).equals(DUMP_MAGIC) || p.readUInt16LE(DUMP_MAGIC.length) !== DUMP_VERSION) return null;
  if (crc32c(p.subarray(0, p.length - 4)) !== p.readUInt32LE(p.length - 4)) return null;
  return decodeLibraries(p.subarray(DUMP_MAGIC.length + 2, p.length - 4));
}

/** A set of libraries loaded into one VM; immutable once built (a change builds a new one). */
export class FunctionTable {
  /** By library name, in load order. */
  readonly libraries = new Map<string, Library>();
  /** By function name, case-insensitive (as Redis's FCALL). */
  private readonly byName = new Map<string, LibraryFunction>();

  private constructor(readonly engine: ScriptEngine) {}

  static empty(log: (level: ScriptLogLevel, msg: string) => void): FunctionTable {
    return new FunctionTable(new ScriptEngine(log));
  }

  /**
   * Load `codes` into a fresh VM: the table, or the error of the first library that fails
   * (Redis's texts: a duplicate library or function name, a load error).
   */
  static build(codes: readonly Buffer[], log: (level: ScriptLogLevel, msg: string) => void): FunctionTable | string {
    if (codes.length > FUNCTION_LIBRARIES_MAX) return `ERR too many libraries (at most ${FUNCTION_LIBRARIES_MAX})`;
    if (codes.reduce((n, c) => n + c.length, 0) > FUNCTION_CODE_BYTES_MAX) return `ERR library code past ${FUNCTION_CODE_BYTES_MAX} bytes`;
    const t = FunctionTable.empty(log);
    for (const code of codes) {
      const err = t.add(code);
      if (err !== null) return err;
    }
    return t;
  }

  get codes(): Buffer[] {
    return [...this.libraries.values()].map((l) => l.code);
  }

  get functionCount(): number {
    return this.byName.size;
  }

  get(name: string): LibraryFunction | undefined {
    return this.byName.get(name.toLowerCase());
  }

  private add(code: Buffer): string | null {
    const name = libraryName(code);
    if (name.startsWith('ERR ')) return name;
    if (this.libraries.has(name)) return `ERR Library '${name}' already exists`;
    const fns = this.engine.loadLibrary(code);
    if (typeof fns === 'string') return fns;
    const clash = fns.find((f) => this.byName.has(f.name.toLowerCase()));
    if (clash !== undefined) {
      this.engine.releaseFunctions(fns);
      return `ERR Function ${clash.name} already exists`;
    }
    const lib: Library = { name, code: Buffer.from(code), functions: fns.map((f) => libraryFunction(name, code, f)) };
    this.libraries.set(name, lib);
    for (const f of lib.functions) this.byName.set(f.name.toLowerCase(), f);
    return null;
  }
}

function libraryFunction(library: string, code: Buffer, f: RegisteredFunction): LibraryFunction {
  const script: CachedScript = {
    sha: f.name,
    body: code,
    functionRef: f.ref,
    // A function's flags are always explicit (Redis treats it as a script with a shebang).
    flags: { shebang: true, noWrites: f.flags.includes('no-writes'), allowOom: f.flags.includes('allow-oom'), allowStale: f.flags.includes('allow-stale') },
  };
  return { name: f.name, library, description: f.description, flags: f.flags, script };
}
