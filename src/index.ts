// Package root (`import { openStore } from 'kv-ts'`): the embedded storage API and its types.
// Re-exports only; owns no behaviour.

export { openStore } from './storage/store.js';
export { CorruptLogError, DirectoryLockedError, StoreUnavailableError } from './storage/errors.js';
export type { Store, StoreOptions, StoreStats, ScanResult, SetOptions, SnapshotItem, SnapshotLoader } from './storage/api.js';
export type { Position, Epoch, Seq, Key, Op, LogEntry, FsyncPolicy, EpochStart, ExpireAtMs } from './storage/types.js';
export { keyFromBytes, keyToBytes, toKey, toValue, comparePositions, formatPosition, ZERO_POSITION } from './storage/types.js';
