// Package root (`import { openStore } from 'kv-ts'`): the embedded storage API and its types.
// Re-exports only; owns no behaviour. The engine's replication interface stays internal.

export { openStore } from './storage/embedded.js';
export { CorruptLogError, DirectoryLockedError, InvalidValueError, StoreUnavailableError, WrongTypeError } from './storage/errors.js';
export type { Store, StoreCore, StoreOptions, StoreStats, SetOptions, RestoreOptions, HashFields, ZMember, ZMembers, ZRangeOptions, ZRangeByScoreOptions } from './storage/api.js';
export type { KeyTypeName } from './storage/collection.js';
export type { Position, Epoch, Seq, FsyncPolicy } from './storage/types.js';
export { comparePositions, formatPosition, ZERO_POSITION } from './storage/types.js';
