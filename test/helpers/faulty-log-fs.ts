// A LogFs that fails chosen calls: the Nth write (or fsync) from now fails with ENOSPC or EIO,
// for a number of calls or until cleared, then the calls succeed again. Wraps node:fs. Its calls
// are arrow-function fields: the log calls them without `this` (LogFs).

import { NODE_LOG_FS, type LogFs } from '../../src/storage/log-fs.js';

export type FaultOp = 'write' | 'fsync';

const MESSAGES: Record<string, string> = { ENOSPC: 'no space left on device', EIO: 'i/o error' };

interface Fault {
  code: string;
  /** Calls of this kind to let through first. */
  skip: number;
  /** Calls to fail (Infinity: until clear()). */
  times: number;
  /** The first failing write first writes half its bytes (a short write), as a filling disk does. */
  short: boolean;
}

export class FaultyLogFs implements LogFs {
  private readonly faults = new Map<FaultOp, Fault>();
  readonly failures: Record<FaultOp, number> = { write: 0, fsync: 0 };

  /** Let `after` calls of `op` through, then fail `times` of them with `code`. */
  fail(op: FaultOp, code: 'ENOSPC' | 'EIO', opts: { after?: number; times?: number; short?: boolean } = {}): void {
    this.faults.set(op, { code, skip: opts.after ?? 0, times: opts.times ?? Infinity, short: opts.short ?? false });
  }

  /** The fault is gone (space freed, disk replaced). */
  clear(): void {
    this.faults.clear();
  }

  private readonly check = (op: FaultOp, syscall: string): NodeJS.ErrnoException | null => {
    const f = this.faults.get(op);
    if (f === undefined) return null;
    if (f.skip > 0) {
      f.skip--;
      return null;
    }
    if (f.times <= 0) return null;
    f.times--;
    this.failures[op]++;
    const e: NodeJS.ErrnoException = new Error(`${f.code}: ${MESSAGES[f.code] ?? 'error'}, ${syscall}`);
    e.code = f.code;
    e.syscall = syscall;
    return e;
  };

  private readonly throwIf = (op: FaultOp, syscall: string): void => {
    const e = this.check(op, syscall);
    if (e !== null) throw e;
  };

  readonly openSync = (path: string, flags: string): number => NODE_LOG_FS.openSync(path, flags);

  readonly closeSync = (fd: number): void => NODE_LOG_FS.closeSync(fd);

  readonly writeSync = (fd: number, buf: Buffer, offset: number, length: number, position: number): number => {
    const f = this.faults.get('write');
    if (f !== undefined && f.short && f.skip === 0 && f.times > 0 && length > 1) {
      f.short = false;
      return NODE_LOG_FS.writeSync(fd, buf, offset, length >> 1, position);
    }
    this.throwIf('write', 'write');
    return NODE_LOG_FS.writeSync(fd, buf, offset, length, position);
  };

  readonly fdatasyncSync = (fd: number): void => {
    this.throwIf('fsync', 'fdatasync');
    NODE_LOG_FS.fdatasyncSync(fd);
  };

  readonly fdatasync = (fd: number, cb: (err: NodeJS.ErrnoException | null) => void): void => {
    const e = this.check('fsync', 'fdatasync');
    if (e !== null) {
      setImmediate(() => cb(e));
      return;
    }
    NODE_LOG_FS.fdatasync(fd, cb);
  };

  readonly fsyncSync = (fd: number): void => {
    this.throwIf('fsync', 'fsync');
    NODE_LOG_FS.fsyncSync(fd);
  };

  readonly ftruncateSync = (fd: number, length: number): void => NODE_LOG_FS.ftruncateSync(fd, length);
}
