// Package root (`import { openStore } from 'kv-ts'`): the embedded storage API and its types.
// Re-exports only; owns no behaviour. The engine's replication interface stays internal.

export { openStore } from './storage/embedded.js';
export { CorruptLogError, DirectoryLockedError, StoreUnavailableError } from './storage/errors.js';
export type { Store, StoreOptions, StoreStats, SetOptions } from './storage/api.js';
export type { Position, Epoch, Seq, FsyncPolicy } from './storage/types.js';
export { comparePositions, formatPosition, ZERO_POSITION } from './storage/types.js';
