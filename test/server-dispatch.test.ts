// The command dispatcher (src/server/dispatch.ts) over the real command table, with a recording
// writer and no store: command lookup (case, bytes, commands added later) and the chained
// per-command timing that feeds the command stats.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Dispatcher } from '../src/server/dispatch.js';
import { CommandStatsTable } from '../src/server/latency.js';
import { CommandTable } from '../src/server/commands/table.js';
import { SERVER_COMMAND_MODULES } from '../src/server/commands/modules.js';
import type { ClientState, CommandContext, CommandSpec, ServerServices } from '../src/server/command-types.js';
import type { ReplicatedStore } from '../src/storage/api.js';
import { RecordingWriter } from './helpers/recording-writer.js';

/** A dispatcher over a server's real command table with a recording writer; the store is never touched. */
function dispatcher(): { d: Dispatcher; ctx: CommandContext; run: (...args: Array<string | Buffer>) => unknown; stats: CommandStatsTable; table: CommandTable } {
  const stats = new CommandStatsTable();
  const table = new CommandTable(SERVER_COMMAND_MODULES);
  const d = new Dispatcher(table, stats, { commandsProcessed: 0, errorReplies: 0 }, () => null);
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
