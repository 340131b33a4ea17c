// The slow log (SLOWLOG GET/LEN/RESET): commands that ran for slowlog-log-slower-than µs or
// more, newest first, at most slowlog-max-len of them, with their arguments trimmed and
// credentials redacted as Redis 7.0 does. Owns the entries and their ids; it never times a
// command (the dispatcher does and reports each one) and never reads a socket.

import type { ClientState } from './command-types.js';

/** Redis's SLOWLOG_ENTRY_MAX_ARGC: the last kept argument says how many more there were. */
export const SLOWLOG_ARGS_MAX = 32;
/** Redis's SLOWLOG_ENTRY_MAX_STRING: longer arguments keep this many bytes and say how many more. */
export const SLOWLOG_ARG_BYTES_MAX = 128;

const REDACTED = Buffer.from('(redacted)');

/** Settings the log reads live (the server's config object). */
export interface SlowlogSettings {
  readonly slowlogSlowerThanUs: number;
  readonly slowlogMaxLen: number;
}

export interface SlowlogEntry {
  readonly id: number;
  /** Unix time in seconds when the command finished. */
  readonly timeSec: number;
  readonly durationUs: number;
  /** Copied, trimmed and redacted arguments (never views into a read buffer). */
  readonly argv: readonly Buffer[];
  readonly addr: string;
  readonly name: string;
}

/**
 * CONFIG SET values that carry credentials; Redis flags them SENSITIVE_CONFIG and redacts them
 * whether or not the server knows the setting.
 */
const SENSITIVE_CONFIGS: ReadonlySet<string> = new Set(['requirepass', 'masterauth', 'masteruser', 'tls-key-file-pass', 'tls-client-key-file-pass']);

const eq = (b: Buffer | undefined, lowerWord: string): boolean => b !== undefined && b.length === lowerWord.length && b.toString('latin1').toLowerCase() === lowerWord;

/** Which arguments Redis 7.0 replaces by "(redacted)" before the command reaches the slow log. */
export function redactedArgs(name: string, argv: readonly Buffer[]): ReadonlySet<number> | null {
  if (name === 'auth') return new Set(argv.map((_, i) => i).filter((i) => i > 0));
  if (name === 'hello') {
    for (let i = 2; i + 2 < argv.length; i++) if (eq(argv[i], 'auth')) return new Set([i + 1, i + 2]);
    return null;
  }
  if (name === 'config' && eq(argv[1], 'set')) {
    const out = new Set<number>();
    for (let i = 2; i + 1 < argv.length; i += 2) if (SENSITIVE_CONFIGS.has((argv[i] as Buffer).toString('latin1').toLowerCase())) out.add(i + 1);
    return out.size > 0 ? out : null;
  }
  return null;
}

/** Redis's slowlogCreateEntry: at most SLOWLOG_ARGS_MAX arguments of SLOWLOG_ARG_BYTES_MAX bytes, copied. */
export function slowlogArgs(name: string, argv: readonly Buffer[]): Buffer[] {
  const redacted = redactedArgs(name, argv);
  const n = Math.min(argv.length, SLOWLOG_ARGS_MAX);
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    if (i === SLOWLOG_ARGS_MAX - 1 && argv.length > SLOWLOG_ARGS_MAX) {
      out.push(Buffer.from(`... (${argv.length - SLOWLOG_ARGS_MAX + 1} more arguments)`));
      break;
    }
    if (redacted?.has(i) === true) {
      out.push(REDACTED);
      continue;
    }
    const a = argv[i] as Buffer;
    if (a.length > SLOWLOG_ARG_BYTES_MAX) {
      out.push(Buffer.concat([a.subarray(0, SLOWLOG_ARG_BYTES_MAX), Buffer.from(`... (${a.length - SLOWLOG_ARG_BYTES_MAX} more bytes)`)]));
    } else out.push(Buffer.from(a));
  }
  return out;
}

export class SlowLog {
  /** Oldest first; at most settings.slowlogMaxLen (trimmed when an entry is added or read). */
  private entries: SlowlogEntry[] = [];
  /** Index of the oldest live entry in `entries` (dropping from the front is O(1) amortised). */
  private head = 0;
  /** Ids keep counting across RESET, as Redis's. */
  private nextId = 0;

  constructor(private readonly settings: SlowlogSettings) {}

  /** Whether a command of this duration is logged (cheap: runs after every command). */
  wants(durationUs: number): boolean {
    const t = this.settings.slowlogSlowerThanUs;
    return t >= 0 && durationUs >= t;
  }

  /** Log a command that `wants` accepted: its arguments are copied here. */
  add(client: ClientState, name: string, argv: readonly Buffer[], durationUs: number, nowMs: number): void {
    this.entries.push({ id: this.nextId++, timeSec: Math.floor(nowMs / 1000), durationUs, argv: slowlogArgs(name, argv), addr: client.addr, name: client.name });
    this.trim();
  }

  get length(): number {
    this.trim();
    return this.entries.length - this.head;
  }

  /** The newest `count` entries, newest first (count < 0: all of them). */
  newest(count: number): SlowlogEntry[] {
    this.trim();
    const n = count < 0 ? this.entries.length - this.head : Math.min(count, this.entries.length - this.head);
    const out: SlowlogEntry[] = [];
    for (let i = this.entries.length - 1; out.length < n; i--) out.push(this.entries[i] as SlowlogEntry);
    return out;
  }

  reset(): void {
    this.entries = [];
    this.head = 0;
  }

  /** Drop the oldest entries past slowlog-max-len (it may have been lowered since). */
  private trim(): void {
    const max = this.settings.slowlogMaxLen;
    const live = this.entries.length - this.head;
    if (live > max) this.head += live - max;
    // Compact once the dropped prefix is as large as what is kept, so the array stays O(max).
    if (this.head > 0 && this.head >= this.entries.length - this.head) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
