// kv-server's log output: one JSON object per line (pino's format, for log collectors) or
// human-readable lines (pino-pretty), chosen by --log-format; `auto` picks readable lines when
// stderr is a terminal. Owns only that choice and the logger's construction; it never decides
// what is logged.

import { pino, type Logger } from 'pino';
import type { LogLevel } from '../server/config.js';

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export function parseLogFormat(v: string): LogFormat | null {
  return LOG_FORMATS.find((f) => f === v) ?? null;
}

/** `auto` → pretty on a terminal, JSON when piped or redirected (a collector reads it). */
export function resolveLogFormat(f: LogFormat, stderrIsTty: boolean): 'json' | 'pretty' {
  return f === 'auto' ? (stderrIsTty ? 'pretty' : 'json') : f;
}

/**
 * The process logger on stderr (fd 2), written synchronously so nothing is lost at exit.
 * pino-pretty is loaded only when used: a JSON-logging server does not pay its start-up time.
 */
export async function createLogger(level: LogLevel, format: LogFormat): Promise<Logger> {
  const tty = process.stderr.isTTY === true;
  if (resolveLogFormat(format, tty) === 'json') return pino({ level, base: { pid: process.pid } }, pino.destination(2));
  // One line per entry: `npm start` prefixes each member's lines with its id.
  const { default: pinoPretty } = await import('pino-pretty');
  const stream = pinoPretty({ destination: 2, sync: true, colorize: tty, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  return pino({ level, base: { pid: process.pid } }, stream);
}
