// `import { KvClient } from 'kv-ts/client'`: the topology-aware client, its options, errors and
// topology types. Re-exports only; owns no behaviour.

export { KvClient, Pipeline, REDIRECT_HOPS_MAX, NODE_DOWN_MS } from './kv-client.js';
export type { KvClientOptions, Consistency, ReadFrom, SetOptions, RestoreOptions, ScanOptions, PipelineResult, KvClientStatus, ScoredMember } from './kv-client.js';
export type { ScoredValue } from './collection-replies.js';
export {
  KvError,
  ReplyError,
  ReadOnlyError,
  TooStaleError,
  NotPrimaryError,
  TryAgainError,
  OutcomeUnknownError,
  NoQuorumError,
  SessionLostError,
  AuthError,
  UnavailableError,
} from './errors.js';
export type { TopologyView, MemberInfo, TopologyEvent } from './topology.js';
