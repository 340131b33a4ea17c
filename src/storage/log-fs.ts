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

/** Production: the calls straight from node:fs (the log holds this object in a field: no wrapper per call). */
export const NODE_LOG_FS: LogFs = {
  openSync: (path, flags) => openSync(path, flags),
  closeSync,
  writeSync: (fd, buf, offset, length, position) => writeSync(fd, buf, offset, length, position),
  fdatasyncSync,
  fdatasync: (fd, cb) => fdatasync(fd, cb),
  fsyncSync,
  ftruncateSync: (fd, length) => ftruncateSync(fd, length),
};
