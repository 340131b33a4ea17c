// Error classes the storage engine hands to its callers (open refusals, corruption).
// Owns only the error shapes and their messages; never decides policy.

/** The operator's repair command for a data directory (named in every refusal). */
export function repairCommand(dir: string): string {
  return `kv-server --repair --dir ${dir}`;
}

/**
 * A file the store opens (log segment, snapshot, meta.json, epochs.json) failed its checksum or
 * format check somewhere other than a torn tail. `lost` says what a repair would cut there.
 */
export class CorruptLogError extends Error {
  override readonly name = 'CorruptLogError';
  readonly lost: string | undefined;
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
    detail: { readonly lost?: string; readonly dir?: string } = {},
  ) {
    const lost = detail.lost === undefined ? '' : `; cutting there loses ${detail.lost}`;
    const how = detail.dir === undefined ? 'open with repair: true' : `run \`${repairCommand(detail.dir)}\` (embedded: open with repair: true)`;
    super(`corrupt data in ${file} at offset ${offset}: ${reason}${lost}; to cut there and keep a copy of the cut bytes, ${how}`);
    this.lost = detail.lost;
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

/** Redis's WRONGTYPE text, which the embedded API's WrongTypeError carries too. */
export const WRONGTYPE_MESSAGE = 'WRONGTYPE Operation against a key holding the wrong kind of value';

/** An embedded call on a key that holds another type (a hash call on a set, a get-like read of a collection). */
export class WrongTypeError extends Error {
  override readonly name = 'WrongTypeError';
  constructor() {
    super(WRONGTYPE_MESSAGE);
  }
}

/** An embedded write refused for what the stored value holds: HINCRBY of a non-integer or past int64, a NaN score. */
export class InvalidValueError extends Error {
  override readonly name = 'InvalidValueError';
}
