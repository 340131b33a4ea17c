// The data directory's LOCK file: one owning process per directory. Exclusive create
// (link(2) fails atomically when it exists) with the owner's pid; a lock left by a dead pid is taken over.
// Never deletes a lock whose owner is alive (PID reuse after a crash is a known, documented risk).

import { closeSync, fsyncSync, linkSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DirectoryLockedError } from './errors.js';
import { fsyncDirSync, unlinkIfExists } from './fsutil.js';

export const LOCK_FILE = 'LOCK';
/** Attempts at take-over before giving up (another process may race us for a stale lock). */
const LOCK_ATTEMPTS_MAX = 3;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else; it is alive.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Acquire the lock or throw DirectoryLockedError. Returns the release function. */
export function acquireLock(dir: string): () => void {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < LOCK_ATTEMPTS_MAX; attempt++) {
    // Write the pid into a private temp file, then link() it into place: the LOCK file
    // appears atomically with its content, so nobody ever reads a half-written lock.
    const tmp = join(dir, `${LOCK_FILE}.${process.pid}.tmp`);
    const fd = openSync(tmp, 'w');
    try {
      const b = Buffer.from(`${process.pid}\n`);
      writeSync(fd, b, 0, b.length);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, path);
      unlinkIfExists(tmp);
    } catch (e) {
      unlinkIfExists(tmp);
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let text = '';
      try {
        text = readFileSync(path, 'latin1').trim();
      } catch (re) {
        if ((re as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
        throw re;
      }
      const pid = Number(text);
      if (Number.isInteger(pid) && pid > 0 && (pid === process.pid || pidAlive(pid))) {
        throw new DirectoryLockedError(dir, pid);
      }
      unlinkIfExists(path);
      continue;
    }
    fsyncDirSync(dir);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      unlinkIfExists(path);
    };
  }
  throw new Error(`could not acquire ${path} after ${LOCK_ATTEMPTS_MAX} attempts`);
}
