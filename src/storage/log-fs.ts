// The file-system calls the write-ahead log makes on its segments, as one injectable seam: the
// store passes node:fs by default, and tests pass one that fails chosen calls (ENOSPC, EIO).
// Owns only the call signatures and the default; never holds state and never retries.

import { closeSync, fdatasync, fdatasyncSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';

/** The log calls these as plain functions (without `this`): implement them as arrow functions. */
export interface LogFs {
  openSync(path: string, flags: string): number;
  closeSync(fd: number): void;
  /** Positional write; returns the bytes written (may be short). */
  writeSync(fd: number, buf: Buffer, offset: number, length: number, position: number): number;
  fdatasyncSync(fd: number): void;
  /** The group-commit round's fdatasync in the libuv pool. */
  fdatasync(fd: number, cb: (err: NodeJS.ErrnoException | null) => void): void;
  fsyncSync(fd: number): void;
  ftruncateSync(fd: number, length: number): void;
}

/**
 * Production: node:fs, each call through the module binding at call time (so a test that mocks
 * node:fs still reaches the log). The log holds this object in a field: nothing is allocated per call.
 */
export const NODE_LOG_FS: LogFs = {
  openSync: (path, flags) => openSync(path, flags),
  closeSync: (fd) => closeSync(fd),
  writeSync: (fd, buf, offset, length, position) => writeSync(fd, buf, offset, length, position),
  fdatasyncSync: (fd) => fdatasyncSync(fd),
  fdatasync: (fd, cb) => fdatasync(fd, cb),
  fsyncSync: (fd) => fsyncSync(fd),
  ftruncateSync: (fd, length) => ftruncateSync(fd, length),
};
