// The command dispatcher (src/server/dispatch.ts) over the real command table, with a recording
// writer and no store: command lookup (case, bytes, commands added later) and the chained
// per-command timing that feeds the command stats; and, in an in-process server, handlers that
// throw (answered as internal errors, or not survived once a write began).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Dispatcher } from '../src/server/dispatch.js';
import { AclTable } from '../src/server/acl.js';
import { RespEncoder } from '../src/protocol/encoder.js';
import { CommandStatsTable } from '../src/server/latency.js';
import { CommandTable } from '../src/server/commands/table.js';
import { SERVER_COMMAND_MODULES } from '../src/server/commands/modules.js';
import type { ClientState, CommandContext, CommandSpec, ServerServices } from '../src/server/command-types.js';
import type { ReplicatedStore } from '../src/storage/api.js';
import { RecordingWriter } from './helpers/recording-writer.js';
import { withServer } from './helpers/in-process-server.js';
import { RawConn } from './helpers/server-conn.js';
import { asText, cmd, ReplyError, type Reply } from './helpers/resp.js';
import { parseInfo } from './helpers/info.js';

/** A dispatcher over a server's real command table with a recording writer; the store is never touched. */
function dispatcher(): { d: Dispatcher; ctx: CommandContext; run: (...args: Array<string | Buffer>) => unknown; stats: CommandStatsTable; table: CommandTable } {
  const stats = new CommandStatsTable();
  const table = new CommandTable(SERVER_COMMAND_MODULES);
  const d = new Dispatcher(table, stats, { commandsProcessed: 0, errorReplies: 0 }, () => false);
  const client: ClientState = {
    id: 1, name: '', protocol: 2, authenticated: true, libName: '', libVersion: '', addr: 'a', laddr: 'b', createdMs: 0, lastCommand: '', closeAfterReply: false,
  };
  const out = new RecordingWriter();
  const unused = (): never => assert.fail('not used');
  const services: ServerServices = {
    commands: table, info: unused, configGet: unused, configSet: unused, clientList: unused, clientKill: unused, requirePass: () => null, shutdown: unused, compact: unused,
  };
  const ctx: CommandContext = { store: undefined as unknown as ReplicatedStore, out, client, server: services, write: unused };
  return {
    d,
    ctx,
    stats,
    table,
    run: (...args) => {
      d.run(ctx, args.map((a) => (typeof a === 'string' ? Buffer.from(a, 'latin1') : a)));
      const replies = out.take();
      assert.equal(replies.length, 1);
      return replies[0];
    },
  };
}

test('command lookup is case-insensitive, exact on bytes, and sees commands added later', () => {
  const { run, stats, table } = dispatcher();
  for (const name of ['ping', 'PING', 'PiNg', 'pInG']) assert.equal(run(name), '+PONG');
  // Longer than the packed-name limit: goes through the table's own lookup.
  assert.equal(run('ECHO', 'x'), 'x');
  // Near misses must not hit a cached entry (length sentinel, NUL bytes, non-ASCII case folding).
  for (const name of ['pin', 'pingg', '\0ping', 'ping\0', 'p\0ng', 'PİNG', '\xd0ing', '']) {
    assert.match(String(run(name)), /^-ERR unknown command/, JSON.stringify(name));
  }
  // 'hp-zz' is unknown; once added (the table only grows) it must be found, in any case.
  assert.match(String(run('HP-ZZ')), /^-ERR unknown command/);
  const spec: CommandSpec = {
    name: 'hp-zz', arity: 1, flags: ['fast'], firstKey: 0, lastKey: 0, keyStep: 0, summary: 'test only', syntax: '', group: 'server',
    handler: (ctx) => ctx.out.simple('ZZ'),
  };
  table.add([spec]);
  assert.equal(run('hp-zz'), '+ZZ');
  assert.equal(run('HP-ZZ'), '+ZZ');
  assert.equal(stats.get('ping').calls, 4);
  assert.equal(stats.get('hp-zz').calls, 2);
});

test('chained command timing: every command is counted once and the durations never exceed the event', () => {
  const { d, ctx, stats } = dispatcher();
  const ping = [Buffer.from('PING')];
  const echo = [Buffer.from('ECHO'), Buffer.from('x'.repeat(1000))];
  const t0 = performance.now();
  d.beginEvent();
  for (let i = 0; i < 50; i++) d.run(ctx, i % 2 === 0 ? ping : echo);
  d.endEvent();
  // Outside an event each command reads its own start: also counted, also bounded.
  for (let i = 0; i < 10; i++) d.run(ctx, ping);
  const elapsedUs = (performance.now() - t0) * 1000;
  const p = stats.get('ping');
  const e = stats.get('echo');
  assert.equal(p.calls, 35);
  assert.equal(e.calls, 25);
  assert.equal(p.histogram.totalCount + e.histogram.totalCount, 60);
  // Chained intervals tile the event without overlapping, so their sum cannot exceed wall time.
  assert.ok(p.usecTotal >= 0 && e.usecTotal >= 0);
  assert.ok(p.usecTotal + e.usecTotal <= elapsedUs + 1e-6, `${p.usecTotal + e.usecTotal} us > ${elapsedUs} us`);
});

/** Commands only this test adds to its server (no production build has them): handlers with a bug. */
function buggyCommands(): CommandSpec[] {
  const base = { firstKey: 0, lastKey: 0, keyStep: 0, summary: 'test only', syntax: '', group: 'server' } as const;
  // Throws halfway through its reply: the partial reply must not reach the client.
  return [{ ...base, name: 'test-throw', arity: 1, flags: ['readonly'], handler: (ctx) => (ctx.out.array(2), ctx.out.bulk(Buffer.from('half')), assert.fail('bug\r\nwith a newline')) }];
}

test("a handler that throws is answered `ERR internal error in '<cmd>'`, logged and counted; the client and the others go on (also inside EXEC)", async () => {
  const logged: string[] = [];
  const log = { info: () => undefined, warn: () => undefined, error: (m: string) => void logged.push(m) };
  await withServer('everysec', false, async (server, port) => {
    server.addCommands(buggyCommands());
    const c = await RawConn.open(port);
    const other = await RawConn.open(port);
    try {
      c.send(Buffer.concat([cmd('SET', 'a', '1'), cmd('TEST-THROW'), cmd('GET', 'a')]));
      assert.equal(await c.read(), 'OK');
      const r = await c.read();
      assert.ok(r instanceof ReplyError, `an error reply, got ${JSON.stringify(r)}`);
      assert.equal(r.message, "ERR internal error in 'test-throw': bug with a newline");
      assert.equal(asText(await c.read()), '1', 'the connection goes on with its next command');
      assert.equal(await other.call('PING'), 'PONG');
      assert.deepEqual(await c.call('MULTI'), 'OK');
      assert.equal(await c.call('INCR', 'a'), 'QUEUED');
      assert.equal(await c.call('TEST-THROW'), 'QUEUED');
      assert.equal(await c.call('INCR', 'a'), 'QUEUED');
      const ex = (await c.call('EXEC')) as Reply[];
      assert.equal(ex[0], 2);
      assert.ok(ex[1] instanceof ReplyError && /^ERR internal error in 'test-throw'/.test(ex[1].message));
      assert.equal(ex[2], 3, 'the rest of the transaction ran, as after a run-time error');
      const stats = parseInfo((await other.call('INFO', 'stats')) as string);
      assert.equal(stats.get('kv_internal_errors'), '2');
      assert.match((await other.call('INFO', 'errorstats')) as string, /errorstat_ERR:count=2/);
      assert.equal(logged.length, 2);
      assert.match(logged[0] ?? '', /internal error in 'test-throw'.*bug/s);
    } finally {
      c.close();
      other.close();
    }
  }, log);
});

test('a handler that throws after a store mutation began is not answered: the exception escapes the dispatcher (kv-server exits; a restart replays the log)', () => {
  const guard = { writeRefusal: null, mutationsStarted: 0 };
  const table = new CommandTable(SERVER_COMMAND_MODULES);
  const counters = { commandsProcessed: 0, errorReplies: 0, internalErrors: 0 };
  const d = new Dispatcher(table, new CommandStatsTable(), counters, () => false, guard);
  const base = { firstKey: 0, lastKey: 0, keyStep: 0, summary: 'test only', syntax: '', group: 'server' } as const;
  table.add([
    { ...base, name: 'test-mutate-throw', arity: 1, flags: ['write'], handler: () => (guard.mutationsStarted++, assert.fail('mid-apply')) },
    { ...base, name: 'test-read-throw', arity: 1, flags: ['readonly'], handler: () => assert.fail('read bug') },
  ]);
  const out = new RespEncoder();
  const client: ClientState = { id: 1, name: '', protocol: 2, authenticated: true, libName: '', libVersion: '', addr: 'a', laddr: 'b', createdMs: 0, lastCommand: '', closeAfterReply: false };
  const ctx = { out, client } as unknown as CommandContext;
  assert.throws(() => d.run(ctx, [Buffer.from('test-mutate-throw')]), /mid-apply/);
  assert.equal(counters.internalErrors, 0);
  d.run(ctx, [Buffer.from('test-read-throw')]);
  assert.equal(out.take()?.toString(), "-ERR internal error in 'test-read-throw': read bug\r\n");
  assert.equal(counters.internalErrors, 1);
});

test('the permission check runs only for a restricted user, after arity and before the handler', () => {
  const { d, ctx, run, table } = dispatcher();
  const users = new AclTable(table);
  let checks = 0;
  d.acl = (client, spec, argv) => {
    checks++;
    return users.check(client.user as NonNullable<ClientState['user']>, spec, argv);
  };
  ctx.client.user = users.defaultUser;
  assert.equal(run('PING'), '+PONG');
  assert.equal(checks, 0, 'the default user (all commands, keys, channels) is never checked');
  const limited = users.edit('limited', ['on', 'nopass', '+ping']);
  assert.ok(typeof limited !== 'string');
  ctx.client.user = limited;
  assert.equal(run('PING'), '+PONG');
  assert.match(String(run('GET')), /^-ERR wrong number of arguments/, 'arity first, as Redis');
  assert.equal(run('ECHO', 'x'), "-NOPERM this user has no permissions to run the 'echo' command");
  assert.equal(checks, 2);
});
