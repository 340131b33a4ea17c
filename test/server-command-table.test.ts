// Tests of the command table (server/commands/table.ts): what it refuses, lookups in any case,
// a lookup cache per dispatcher, and one table per KvServer (two servers in one process, one
// with replication attached), read by COMMAND through the handler context.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { openReplicatedStore as openStore } from '../src/storage/store.js';
import type { ClientState, CommandContext, CommandModule, CommandSpec, ServerServices } from '../src/server/command-types.js';
import { SERVER_COMMAND_MODULES } from '../src/server/commands/modules.js';
import { CommandTable, arityOk } from '../src/server/commands/table.js';
import { isMovable, key, keyPositions, keynum, legacyRange, range } from '../src/server/commands/key-specs.js';
import { defaultConfig } from '../src/server/config.js';
import { Dispatcher } from '../src/server/dispatch.js';
import { CommandStatsTable } from '../src/server/latency.js';
import { KvServer } from '../src/server/server.js';
import { DEFAULT_REPLICATION_FLAGS, attachReplication } from '../src/replication/host/attach.js';
import { clusterCommandSpecs } from '../src/replication/cluster/redis-cluster.js';
import type { ReplicatedStore as Store } from '../src/storage/api.js';
import { RecordingWriter } from './helpers/recording-writer.js';
import { RawConn } from './helpers/server-conn.js';
import { asText, cmd, ReplyError, type Reply } from './helpers/resp.js';
import { tempDir } from './helpers/procs.js';

function spec(name: string, reply = name.toUpperCase()): CommandSpec {
  return {
    name, arity: 1, flags: ['fast'], firstKey: 0, lastKey: 0, keyStep: 0, summary: 'test only', syntax: '', group: 'server',
    handler: (ctx) => ctx.out.simple(reply),
  };
}

test('a table is built from modules in order, looks names up in any case, and applies the arity rule', () => {
  const a: CommandModule = [spec('t-one'), spec('t-two')];
  const b: CommandModule = [spec('t-three')];
  const t = new CommandTable([a, b]);
  assert.equal(t.size, 3);
  assert.deepEqual([...t.names()], ['t-one', 't-two', 't-three']);
  assert.deepEqual([...t].map((s) => s.name), ['t-one', 't-two', 't-three']);
  assert.equal(t.get('t-two'), a[1]);
  assert.equal(t.get('T-TWO'), undefined, 'get takes the lower-case name');
  for (const n of ['t-three', 'T-THREE', 'T-tHrEe']) assert.equal(t.lookup(Buffer.from(n)), b[0], n);
  assert.equal(t.lookup(Buffer.from('t-four')), undefined);
  const exact = { ...spec('x'), arity: 2 };
  const atLeast = { ...spec('y'), arity: -2 };
  assert.deepEqual([1, 2, 3].map((n) => arityOk(exact, n)), [false, true, false]);
  assert.deepEqual([1, 2, 3].map((n) => arityOk(atLeast, n)), [false, true, true]);
});

test('a table refuses a module added twice, a name two modules claim and upper-case names, adding nothing', () => {
  const mod: CommandModule = [spec('t-one'), spec('t-two')];
  const t = new CommandTable([mod]);
  assert.throws(() => t.add(mod), /duplicate command 't-one': this command table already has it \(was its module added twice\?\)/);
  assert.throws(() => t.add([spec('t-new'), spec('t-two')]), /duplicate command 't-two'/);
  assert.throws(() => t.add([spec('t-dup'), spec('t-dup')]), /duplicate command 't-dup'/);
  assert.throws(() => t.add([spec('t-fine'), spec('T-Upper')]), /command name must be lower-case: T-Upper/);
  assert.equal(t.size, 2, 'a refused module adds none of its commands');
  for (const n of ['t-new', 't-dup', 't-fine']) assert.equal(t.get(n), undefined, n);
  assert.throws(() => new CommandTable([mod, mod]), /duplicate command 't-one'/);
  // The server's own modules fit in one table, and each table is its own.
  const s1 = new CommandTable(SERVER_COMMAND_MODULES);
  const s2 = new CommandTable(SERVER_COMMAND_MODULES);
  s1.add([spec('t-only-in-s1')]);
  assert.equal(s1.size, s2.size + 1);
  assert.equal(s2.get('t-only-in-s1'), undefined);
});

test('every entry with key specs has the legacy key triple Redis derives from them; key-spec flags are checked', () => {
  const table = new CommandTable(SERVER_COMMAND_MODULES);
  let declared = 0;
  for (const s of table) {
    if (s.keySpecs === undefined) continue;
    declared++;
    assert.deepEqual({ firstKey: s.firstKey, lastKey: s.lastKey, keyStep: s.keyStep }, legacyRange(s.keySpecs), s.name);
  }
  assert.ok(declared > 140, `${declared} commands declare key specs`);
  // Redis's derivation: adjacent ranges merge, a gap or a numkeys search ends the triple.
  assert.deepEqual(legacyRange([key('OW update', 2), key('RO access', 3, range(-1))]), { firstKey: 2, lastKey: -1, keyStep: 1 });
  assert.deepEqual(legacyRange([key('OW update', 1), key('RO access', 2, keynum())]), { firstKey: 1, lastKey: 1, keyStep: 1 });
  assert.deepEqual(legacyRange([key('RO', 1), key('RW', 3)]), { firstKey: 1, lastKey: 1, keyStep: 1 });
  assert.deepEqual(legacyRange([key('RO access', 1, keynum())]), { firstKey: 0, lastKey: 0, keyStep: 0 });
  assert.equal(isMovable([key('RO', 1, range(-1))]), false);
  assert.equal(isMovable([key('RO', { keyword: 'STORE', startfrom: 1 })]), true);
  // A keyword search (SORT's STORE): the key after the keyword, none without it.
  const store = [key('OW update', { keyword: 'STORE', startfrom: 1 })];
  const args = (...a: string[]): Buffer[] => a.map((x) => Buffer.from(x));
  assert.deepEqual(keyPositions(store, args('sort', 'k', 'BY', 'x', 'store', 'dst'))?.map(([i]) => i), [5]);
  assert.deepEqual(keyPositions(store, args('sort', 'k')), []);
  // A spec the command finds itself (Redis's "unknown"): its locate rule, and movable.
  const located = [key('RO access', 1), key('OW update', 'unknown', undefined, { locate: (argv) => (argv.length > 3 ? [3] : []) })];
  assert.equal(isMovable(located), true);
  assert.deepEqual(legacyRange(located), { firstKey: 1, lastKey: 1, keyStep: 1 });
  assert.deepEqual(keyPositions(located, args('x', 'a', 'b', 'c'))?.map(([i, k]) => [i, k.flags.join(' ')]), [[1, 'RO access'], [3, 'OW update']]);
  assert.throws(() => key('RW acess', 1), /unknown key-spec flag 'acess'/);
});

/** A dispatcher over `table` with a recording writer; the store is never touched. */
function dispatcherOver(table: CommandTable): (...args: string[]) => unknown {
  const d = new Dispatcher(table, new CommandStatsTable(), { commandsProcessed: 0, errorReplies: 0 }, () => false);
  const client: ClientState = {
    id: 1, name: '', protocol: 2, authenticated: true, libName: '', libVersion: '', addr: 'a', laddr: 'b', createdMs: 0, lastCommand: '', closeAfterReply: false,
  };
  const out = new RecordingWriter();
  const unused = (): never => assert.fail('not used');
  const server: ServerServices = {
    commands: table, info: unused, configGet: unused, configSet: unused, clientList: unused, clientKill: unused, requirePass: () => null, shutdown: unused, compact: unused,
  };
  const ctx: CommandContext = { store: undefined as unknown as Store, out, client, server, write: unused };
  return (...args) => {
    d.run(ctx, args.map((a) => Buffer.from(a, 'latin1')));
    const replies = out.take();
    assert.equal(replies.length, 1);
    return replies[0];
  };
}

test('each dispatcher caches lookups in its own table only: a command added to one is unknown to the other', () => {
  const t1 = new CommandTable(SERVER_COMMAND_MODULES);
  const t2 = new CommandTable(SERVER_COMMAND_MODULES);
  const run1 = dispatcherOver(t1);
  const run2 = dispatcherOver(t2);
  // Both miss first (a miss is never cached), then only t1 gains the command; short and long names.
  for (const name of ['zz', 'zz-long-name']) {
    assert.match(String(run1(name)), /^-ERR unknown command/);
    assert.match(String(run2(name)), /^-ERR unknown command/);
    t1.add([spec(name, 'ONE')]);
    t2.add([spec(`${name}-2`, 'TWO')]);
    for (const sent of [name, name.toUpperCase()]) {
      assert.equal(run1(sent), '+ONE');
      assert.match(String(run2(sent)), /^-ERR unknown command/);
    }
    assert.equal(run2(`${name}-2`), '+TWO');
    assert.match(String(run1(`${name}-2`)), /^-ERR unknown command/);
  }
  assert.equal(run1('COMMAND', 'COUNT'), t1.size);
  assert.equal(run2('COMMAND', 'COUNT'), t2.size);
});

interface Running {
  readonly server: KvServer;
  readonly port: number;
  readonly dir: string;
}

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function startServer(): Promise<Running> {
  const dir = tempDir('kvts-table-');
  const store = await openStore({ dir, fsync: 'no' });
  const server = new KvServer({ config: { ...defaultConfig(), port: 0, host: '127.0.0.1', dir, fsync: 'no' }, store, log: quiet });
  const { port } = await server.listen();
  return { server, port, dir };
}

async function stop(r: Running | undefined): Promise<void> {
  if (r === undefined) return;
  await r.server.close();
  rmSync(r.dir, { recursive: true, force: true });
}

function attach(r: Running): ReturnType<typeof attachReplication> {
  return attachReplication(r.server, r.server.store, DEFAULT_REPLICATION_FLAGS, `127.0.0.1:${r.port}`, quiet);
}

async function ask(c: RawConn, ...args: string[]): Promise<Reply> {
  c.send(cmd(...args));
  return asText(await c.read());
}

function isUnknown(r: Reply, name: string): boolean {
  return r instanceof ReplyError && r.message.startsWith(`ERR unknown command '${name}'`);
}

test('two servers in one process own separate tables: replication attached to one adds ROLE and REPLICAOF there only', async (t) => {
  let a: Running | undefined;
  let b: Running | undefined;
  const conns: RawConn[] = [];
  t.after(async () => {
    for (const c of conns) c.close();
    await stop(a);
    await stop(b);
  });
  a = await startServer();
  b = await startServer();
  const ca = await RawConn.open(a.port);
  const cb = await RawConn.open(b.port);
  conns.push(ca, cb);
  const baseCount = await ask(cb, 'COMMAND', 'COUNT');
  assert.equal(baseCount, b.server.commands.size);
  assert.equal(await ask(ca, 'COMMAND', 'COUNT'), baseCount);

  const { frontend } = await attach(a);
  // A server without cluster mode also gets CLUSTER, READONLY, READWRITE and ASKING (they say so).
  const added = frontend.commands().length + clusterCommandSpecs(null).length;
  assert.equal(await ask(ca, 'COMMAND', 'COUNT'), (baseCount as number) + added);
  assert.equal(await ask(cb, 'COMMAND', 'COUNT'), baseCount, 'the other server\'s table is untouched');
  const role = await ask(ca, 'ROLE');
  assert.ok(Array.isArray(role) && asText(role[0] as Reply) === 'master', `ROLE on the replicated server: ${JSON.stringify(role)}`);
  assert.ok(isUnknown(await ask(cb, 'ROLE'), 'ROLE'));
  assert.ok(isUnknown(await ask(cb, 'REPLICAOF', 'NO', 'ONE'), 'REPLICAOF'));
  // COMMAND INFO / DOCS / LIST / GETKEYS read the asking server's table.
  const infoA = await ask(ca, 'COMMAND', 'INFO', 'replicaof', 'get');
  const infoB = await ask(cb, 'COMMAND', 'INFO', 'replicaof', 'get');
  assert.ok(Array.isArray(infoA) && Array.isArray(infoB));
  assert.equal(asText((infoA[0] as Reply[])[0] as Reply), 'replicaof');
  assert.equal(infoB[0], null);
  assert.equal(asText((infoB[1] as Reply[])[0] as Reply), 'get');
  const docsA = await ask(ca, 'COMMAND', 'DOCS', 'role');
  const docsB = await ask(cb, 'COMMAND', 'DOCS', 'role');
  assert.ok(Array.isArray(docsA) && docsA.length === 2 && asText(docsA[0] as Reply) === 'role', `DOCS on a: ${JSON.stringify(docsA)}`);
  assert.deepEqual(docsB, []);
  const listA = await ask(ca, 'COMMAND', 'LIST', 'FILTERBY', 'PATTERN', 'r*');
  const listB = await ask(cb, 'COMMAND', 'LIST', 'FILTERBY', 'PATTERN', 'r*');
  assert.ok(Array.isArray(listA) && Array.isArray(listB));
  assert.ok(listA.map((x) => asText(x)).includes('role'));
  assert.ok(!listB.map((x) => asText(x)).includes('role'));
  assert.ok(listB.map((x) => asText(x)).includes('rename'));
  const all = await ask(ca, 'COMMAND');
  assert.ok(Array.isArray(all) && all.length === a.server.commands.size);
  const keys = await ask(ca, 'COMMAND', 'GETKEYS', 'SET', 'k', 'v');
  assert.ok(Array.isArray(keys));
  assert.deepEqual(keys.map((k) => asText(k)), ['k']);
  assert.ok((await ask(cb, 'COMMAND', 'GETKEYS', 'REPLICAOF', 'h', '1')) instanceof ReplyError);

  // Replication attaches to the second server too (one global table refused it as a duplicate).
  await attach(b);
  assert.equal(await ask(cb, 'COMMAND', 'COUNT'), (baseCount as number) + added);
  const roleB = await ask(cb, 'ROLE');
  assert.ok(Array.isArray(roleB) && asText(roleB[0] as Reply) === 'master');
});

test('attaching replication twice to one server is refused before it changes anything', async (t) => {
  let a: Running | undefined;
  let c: RawConn | undefined;
  t.after(async () => {
    c?.close();
    await stop(a);
  });
  a = await startServer();
  await attach(a);
  const count = a.server.commands.size;
  await assert.rejects(attach(a), /duplicate command 'replicaof': this command table already has it \(was its module added twice\?\)/);
  assert.equal(a.server.commands.size, count);
  c = await RawConn.open(a.port);
  const role = await ask(c, 'ROLE');
  assert.ok(Array.isArray(role) && asText(role[0] as Reply) === 'master', 'the first attachment still answers');
  assert.equal(await ask(c, 'SET', 'k', 'v'), 'OK');
  assert.equal(await ask(c, 'GET', 'k'), 'v');
});
