// protocol/command-kinds.ts: the one classification of commands (read / idempotent write /
// write), its argument rules, and its agreement with the server's command specs: a command the
// server flags 'write' is never a read, every 'readonly' one is, and every command the server
// knows is classified (a new command without an entry fails here).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMAND_CLASSES, commandKind, leastSafeKind, possibleKinds, type CommandClass } from '../src/protocol/command-kinds.js';
import type { CommandSpec } from '../src/server/command-types.js';
import { SERVER_COMMAND_MODULES } from '../src/server/commands/modules.js';
import { ReplicationFrontend } from '../src/replication/host/commands.js';
import type { ReplicationHost } from '../src/replication/host/host.js';
import { ClusterFrontend, type ClusterHostApi } from '../src/replication/cluster/commands.js';

/** Every command spec a server can be built with, from the command modules themselves. */
function serverSpecs(): CommandSpec[] {
  // commands() only builds the specs; the stubs are never called.
  const replication = new ReplicationFrontend({ setObserver: () => undefined } as unknown as ReplicationHost);
  const cluster = new ClusterFrontend({} as ClusterHostApi, () => false);
  return [...SERVER_COMMAND_MODULES.flat(), ...replication.commands(), ...cluster.commands()];
}

test('commandKind: plain SET may be repeated; SET NX/XX/GET, INCR and unknown commands may not', () => {
  assert.equal(commandKind(['GET', 'k']), 'read');
  assert.equal(commandKind(['mget', 'a', 'b']), 'read');
  assert.equal(commandKind(['SCAN', '0']), 'read');
  assert.equal(commandKind(['SET', 'k', 'v']), 'idempotentWrite');
  assert.equal(commandKind(['SET', 'k', 'v', 'EX', '10']), 'idempotentWrite');
  // The value itself may spell an option word: only words after it count.
  assert.equal(commandKind(['SET', 'k', 'nx']), 'idempotentWrite');
  assert.equal(commandKind(['SET', 'k', 'v', 'NX']), 'write');
  assert.equal(commandKind(['set', 'k', 'v', 'xx']), 'write');
  assert.equal(commandKind(['SET', 'k', 'v', 'GET']), 'write');
  assert.equal(commandKind(['SET', 'k', 'v', 'EX', '10', 'GET']), 'write');
  assert.equal(commandKind(['MSET', 'a', '1']), 'idempotentWrite');
  assert.equal(commandKind(['INCR', 'k']), 'write');
  assert.equal(commandKind(['APPEND', 'k', 'x']), 'write');
  assert.equal(commandKind(['DEL', 'k']), 'write');
  assert.equal(commandKind(['SOMETHINGNEW', 'k']), 'write');
  assert.equal(commandKind([]), 'write');
  assert.equal(commandKind(['DEBUG', 'DIGEST']), 'read');
  assert.equal(commandKind(['DEBUG', 'SLEEP', '1']), 'write');
  assert.equal(commandKind(['OBJECT', 'ENCODING', 'k']), 'read');
  assert.equal(commandKind(['CONFIG', 'GET', 'x']), 'write');
  // Streams: an XADD (a new entry per run) or a delivery is never resent; XACK and XSETID may be.
  assert.equal(commandKind(['XADD', 's', '*', 'f', 'v']), 'write');
  assert.equal(commandKind(['XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', 's', '>']), 'write');
  assert.equal(commandKind(['XCLAIM', 's', 'g', 'c', '0', '1-1']), 'write');
  assert.equal(commandKind(['XACK', 's', 'g', '1-1']), 'idempotentWrite');
  assert.equal(commandKind(['XSETID', 's', '5-5']), 'idempotentWrite');
  assert.equal(commandKind(['XREAD', 'BLOCK', '0', 'STREAMS', 's', '$']), 'read');
  assert.equal(commandKind(['XINFO', 'STREAM', 's']), 'read');
  assert.equal(commandKind(['XGROUP', 'HELP']), 'read');
  assert.equal(commandKind(['XGROUP', 'CREATE', 's', 'g', '$']), 'write');
  assert.equal(commandKind([Buffer.from('GET'), Buffer.from('k')]), 'read');
  assert.equal(commandKind([Buffer.from('set'), Buffer.from('k'), Buffer.from('v'), Buffer.from('nx')]), 'write');
});

test('leastSafeKind: a batch is as safe as its least safe command', () => {
  assert.equal(leastSafeKind([]), 'read');
  assert.equal(leastSafeKind(['read', 'read']), 'read');
  assert.equal(leastSafeKind(['read', 'idempotentWrite']), 'idempotentWrite');
  assert.equal(leastSafeKind(['idempotentWrite', 'write', 'read']), 'write');
});

type SpecFacts = Pick<CommandSpec, 'name' | 'flags'>;

/** Where the classification and the server's specs disagree, one line each. */
function disagreements(specs: readonly SpecFacts[], classes: ReadonlyMap<string, CommandClass>): string[] {
  const out: string[] = [];
  for (const s of specs) {
    const c = classes.get(s.name);
    if (c === undefined) {
      out.push(`${s.name}: not classified`);
      continue;
    }
    const kinds = possibleKinds(c);
    if (s.flags.includes('write') && kinds.has('read')) out.push(`${s.name}: flagged 'write' but may be classified read`);
    if (s.flags.includes('readonly') && (kinds.size !== 1 || !kinds.has('read'))) out.push(`${s.name}: flagged 'readonly' but may be classified a write`);
  }
  return out;
}

test('the classification agrees with every server command spec', () => {
  const specs = serverSpecs();
  assert.ok(specs.length >= 60, `found ${specs.length} specs`);
  assert.equal(new Set(specs.map((s) => s.name)).size, specs.length, 'one spec per name');
  assert.deepEqual(disagreements(specs, COMMAND_CLASSES), []);
});

test('the agreement check fails on a write classified read, a readonly command classified a write, a command not classified', () => {
  const specs: SpecFacts[] = [
    { name: 'incr', flags: ['write', 'fast'] },
    { name: 'get', flags: ['readonly', 'fast'] },
    { name: 'set', flags: ['write'] },
    { name: 'del', flags: ['write'] },
    { name: 'ping', flags: ['fast'] },
  ];
  const wrong = new Map<string, CommandClass>([
    ['incr', { kind: 'read' }],
    ['get', { kind: 'idempotentWrite' }],
    ['set', { kind: 'idempotentWrite', conditionalOptions: ['nx'] }],
    ['ping', { kind: 'write', readSubcommands: ['x'] }],
  ]);
  assert.deepEqual(disagreements(specs, wrong), [
    "incr: flagged 'write' but may be classified read",
    "get: flagged 'readonly' but may be classified a write",
    'del: not classified',
  ]);
  // An argument rule counts: a write with a read subcommand may be a read.
  assert.deepEqual(disagreements([{ name: 'x', flags: ['write'] }], new Map([['x', { kind: 'write', readSubcommands: ['show'] }]])), ["x: flagged 'write' but may be classified read"]);
  assert.deepEqual([...possibleKinds(COMMAND_CLASSES.get('set') ?? { kind: 'read' })].sort(), ['idempotentWrite', 'write']);
});
