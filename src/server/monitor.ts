// MONITOR: the clients that asked to see every command, and the one line per command they get,
// in Redis's format: +<seconds>.<micros> [<db> <addr>] "arg" "arg"..., with AUTH's and HELLO's
// secrets redacted. Owns the set of monitors and the formatting; it never writes to a socket
// (each line goes through the monitor's PushSink, which applies its output limit) and never
// runs or refuses a command. With no monitor attached the dispatcher does not call it at all.

import { performance } from 'node:perf_hooks';
import type { ClientState } from './command-types.js';
import type { PushSink } from './pubsub.js';
import type { ReplyWriter } from '../protocol/reply.js';

/** What Redis shows instead of a secret argument. */
const REDACTED = '(redacted)';
const MICROS_PER_SECOND = 1_000_000;

export class MonitorFeed {
  private readonly monitors: PushSink[] = [];

  get size(): number {
    return this.monitors.length;
  }

  add(m: PushSink): void {
    if (!this.monitors.includes(m)) this.monitors.push(m);
  }

  remove(m: PushSink): void {
    const i = this.monitors.indexOf(m);
    if (i >= 0) this.monitors.splice(i, 1);
  }

  /** `argv` was run by `from`: one line (formatted once) to every monitor. */
  feed(from: ClientState, argv: readonly Buffer[]): void {
    const line = monitorLine(nowMicros(), from.addr, argv);
    const write = (out: ReplyWriter): void => out.simple(line);
    // A copy: a monitor closed by its output limit leaves the list while it is walked.
    for (const m of [...this.monitors]) m.push(write);
  }
}

/** Wall-clock microseconds (Redis stamps each line with gettimeofday). */
function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** One MONITOR line (without the leading '+' and CRLF, which the simple-string reply adds). */
export function monitorLine(micros: number, addr: string, argv: readonly Buffer[]): string {
  const sec = Math.floor(micros / MICROS_PER_SECOND);
  const us = String(micros % MICROS_PER_SECOND).padStart(6, '0');
  let s = `${sec}.${us} [0 ${addr}]`;
  const secret = redactedFrom(argv);
  for (let i = 0; i < argv.length; i++) {
    s += ' ';
    s += secret(i) ? `"${REDACTED}"` : quote(argv[i] as Buffer);
  }
  return s;
}

/** Which argument positions hide a secret: every AUTH argument, HELLO's AUTH user and password. */
function redactedFrom(argv: readonly Buffer[]): (i: number) => boolean {
  const name = (argv[0] as Buffer).toString('latin1').toLowerCase();
  if (name === 'auth') return (i) => i > 0;
  if (name !== 'hello') return () => false;
  const hidden = new Set<number>();
  for (let i = 2; i + 2 < argv.length; i++) {
    if ((argv[i] as Buffer).toString('latin1').toLowerCase() === 'auth') {
      hidden.add(i + 1);
      hidden.add(i + 2);
      i += 2;
    }
  }
  return (i) => hidden.has(i);
}

/** Redis's sdscatrepr: a double-quoted string with \\, \", \n, \r, \t, \a, \b and \xHH escapes. */
export function quote(b: Buffer): string {
  let s = '"';
  for (const c of b) {
    if (c === 0x5c) s += '\\\\';
    else if (c === 0x22) s += '\\"';
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x0d) s += '\\r';
    else if (c === 0x09) s += '\\t';
    else if (c === 0x07) s += '\\a';
    else if (c === 0x08) s += '\\b';
    else if (c >= 0x20 && c <= 0x7e) s += String.fromCharCode(c);
    else s += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s + '"';
}
