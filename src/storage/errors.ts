// Error classes the storage engine hands to its callers (open refusals, corruption).
// Owns only the error shapes and their messages; never decides policy.

/** A log or snapshot file failed its checksum or format check somewhere other than a torn tail. */
export class CorruptLogError extends Error {
  override readonly name = 'CorruptLogError';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`corrupt data in ${file} at offset ${offset}: ${reason} (open with repair: true to truncate there)`);
  }
}

/** Another live process (or this one) holds the data directory's lock file. */
export class DirectoryLockedError extends Error {
  override readonly name = 'DirectoryLockedError';
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`data directory ${dir} is in use by pid ${pid}`);
  }
}

/** The store was closed, or a previous fsync failed (we never retry a failed fsync: the page cache state is unknown). */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}
