// The command modules a KvServer's table starts with when it is given none: strings, bits, LCS, keyspace,
// connection and admin. Owns that list only; it never builds or mutates a table (each server
// builds its own; replication and cluster modules are added to one server's table on attach).

import type { CommandModule } from '../command-types.js';
import { adminCommands } from './admin.js';
import { bitCommands } from './bits.js';
import { connectionCommands } from './connection.js';
import { genericCommands } from './generic.js';
import { lcsCommands } from './lcs.js';
import { stringCommands } from './strings.js';

export const SERVER_COMMAND_MODULES: readonly CommandModule[] = Object.freeze([stringCommands, bitCommands, lcsCommands, genericCommands, connectionCommands, adminCommands]);
