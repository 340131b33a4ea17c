// The command modules a KvServer's table starts with when it is given none: strings, bits, LCS,
// keyspace, DUMP/RESTORE, hashes, sets, sorted sets, GEO, HyperLogLog, lists, streams, SORT, connection, admin, pub/sub, introspection (SLOWLOG, LATENCY) and scripting (EVAL, SCRIPT). Owns that list only; it never builds or mutates a table (each server
// builds its own; replication and cluster modules are added to one server's table on attach).

import type { CommandModule } from '../command-types.js';
import { adminCommands } from './admin.js';
import { bitCommands } from './bits.js';
import { connectionCommands } from './connection.js';
import { dumpCommands } from './dump.js';
import { migrateCommands } from './migrate.js';
import { genericCommands } from './generic.js';
import { hashCommands } from './hashes.js';
import { listCommands } from './lists.js';
import { streamCommands } from './streams.js';
import { streamGroupCommands } from './stream-groups.js';
import { setCommands } from './sets.js';
import { sortCommands } from './sort.js';
import { lcsCommands } from './lcs.js';
import { pubsubCommands } from './pubsub.js';
import { stringCommands } from './strings.js';
import { zsetCommands } from './zsets.js';
import { geoCommands } from './geo.js';
import { hyperloglogCommands } from './hyperloglog.js';
import { transactionCommands } from './transactions.js';
import { introspectionCommands } from './introspection.js';
import { aclCommands } from './acl.js';
import { scriptingCommands } from './scripting.js';
import { functionCommands } from './functions.js';

export const SERVER_COMMAND_MODULES: readonly CommandModule[] = Object.freeze([
  stringCommands,
  bitCommands,
  lcsCommands,
  genericCommands,
  dumpCommands,
  migrateCommands,
  hashCommands,
  setCommands,
  zsetCommands,
  geoCommands,
  hyperloglogCommands,
  listCommands,
  streamCommands,
  streamGroupCommands,
  sortCommands,
  connectionCommands,
  transactionCommands,
  adminCommands,
  pubsubCommands,
  introspectionCommands,
  aclCommands,
  scriptingCommands,
  functionCommands,
]);
