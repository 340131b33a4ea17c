// Hash commands on a running kv-server where kv-ts deliberately differs from redis-server (the
// differential test covers everything else): a negative HRANDFIELD count whose reply Redis would
// build without bound is refused instead of holding the event loop; the server keeps serving.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKvServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { RawConn } from './helpers/server-conn.js';
import { showReply } from './helpers/resp.js';
import { RANDOM_REPLY_ELEMENTS_MAX } from '../src/server/commands/collection-args.js';

let server: RunningProcess | undefined;
let conn: RawConn | undefined;
after(async () => {
  conn?.close();
  await stopAndClean(server);
});

test('HRANDFIELD with a huge negative count is refused (bounded reply); counts within the bound reply that many fields', async () => {
  server = await startKvServer({ args: ['--fsync', 'no'] });
  conn = await RawConn.open(server.port);
  assert.equal(showReply(await conn.request('HSET', 'h', 'a', '1', 'b', '2')), ':2');
  for (const count of ['-9223372036854775807', String(-RANDOM_REPLY_ELEMENTS_MAX - 1)]) {
    assert.equal(showReply(await conn.request('HRANDFIELD', 'h', count)), '-ERR value is out of range');
  }
  const r = await conn.request('HRANDFIELD', 'h', '-1000', 'WITHVALUES');
  assert.ok(r.t === 'array' && r.a !== null && r.a.length === 2000);
  assert.equal(showReply(await conn.request('PING')), '+PONG');
});
