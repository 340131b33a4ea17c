// Output limits and per-turn fairness of client connections (src/server/connection.ts, the
// resume queue in server.ts, client-output-buffer-limit in config.ts): a client that stops
// reading is closed one reply past the hard limit (or after soft-seconds past the soft limit)
// and counted in INFO stats; while such clients are fed, other clients keep being answered;
// long pipelines that are read are neither cut nor reordered.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configGet, configSet, defaultConfig, parseConfigFile, setAtStartup } from '../src/server/config.js';
import { SLICE_COMMANDS_MAX } from '../src/server/connection.js';
import type { KvServer } from '../src/server/server.js';
import { measureSlowReaders } from '../tools/bench/slow-readers.js';
import { holdWrites, withServer } from './helpers/in-process-server.js';
import { parseInfo } from './helpers/info.js';
import { startKvServer, stopAndClean } from './helpers/procs.js';
import { asText, cmd } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';
import { waitFor } from './helpers/wait.js';

const VALUE_BYTES = 100 * 1024;
/** `$102400\r\n` + value + `\r\n`. */
const REPLY_BYTES = `$${VALUE_BYTES}\r\n`.length + VALUE_BYTES + 2;

/** A connection to `server` whose replies stay in the server's socket queue (it never reads), and its server-side Connection. */
async function nonReader(server: KvServer, port: number): Promise<{ c: RawConn; conn: NonNullable<ReturnType<KvServer['clients']['get']>> }> {
  const c = await RawConn.open(port);
  const id = (await c.call('CLIENT', 'ID')) as number;
  const conn = server.clients.get(id);
  assert.ok(conn !== undefined);
  holdWrites(conn.socket);
  return { c, conn };
}

function statsField(text: unknown, field: string): number {
  return Number(parseInfo(String(text)).get(field));
}

test('a client that stops reading is closed one reply past the hard limit, runs none of its later commands, and is counted', async () => {
  for (const nodeReads of [false, true]) {
    await withServer('no', nodeReads, async (server, port) => {
      const admin = await RawConn.open(port);
      // Small replies, many to a slice: the limit must stop the slice, not just the flush after it.
      const valueBytes = 1000;
      const replyBytes = `$${valueBytes}\r\n`.length + valueBytes + 2;
      assert.equal(await admin.call('SET', 'v', Buffer.alloc(valueBytes, 0x61)), 'OK');
      const limit = 1024 * 1024;
      assert.equal(await admin.call('CONFIG', 'SET', 'client-output-buffer-limit', `normal ${limit} 0 0`), 'OK');
      const { c, conn } = await nonReader(server, port);
      const getsBefore = server.commandStats.get('get').calls;
      c.send(Buffer.concat(Array.from({ length: 3 * Math.ceil(limit / replyBytes) }, () => cmd('GET', 'v'))));
      await waitFor('the non-reader to be closed', () => conn.isClosed);
      // Every reply is still in the socket's queue: the limit is passed by exactly one reply.
      const encoded = server.commandStats.get('get').calls - getsBefore;
      assert.equal(encoded, Math.floor(limit / replyBytes) + 1, `replies encoded for the non-reader: ${encoded}`);
      assert.equal(statsField(await admin.call('INFO', 'stats'), 'client_output_buffer_limit_disconnections'), 1);
      assert.equal(await admin.call('PING'), 'PONG');
      assert.equal(await admin.call('CONFIG', 'RESETSTAT'), 'OK');
      assert.equal(statsField(await admin.call('INFO', 'stats'), 'client_output_buffer_limit_disconnections'), 0);
      c.close();
      admin.close();
    });
  }
});

test('past the soft limit a client is closed only once it stayed there longer than soft-seconds', async () => {
  await withServer('no', false, async (server, port) => {
    const admin = await RawConn.open(port);
    assert.equal(await admin.call('SET', 'big', Buffer.alloc(VALUE_BYTES, 0x62)), 'OK');
    assert.equal(await admin.call('CONFIG', 'SET', 'client-output-buffer-limit', 'normal 0 512kb 1'), 'OK');
    const { c, conn } = await nonReader(server, port);
    const getsBefore = server.commandStats.get('get').calls;
    const sentMs = Date.now();
    c.send(Buffer.concat(Array.from({ length: 10 }, () => cmd('GET', 'big'))));
    // No hard limit: all ten run although their replies pass the soft limit.
    await waitFor('the ten GETs to run', () => server.commandStats.get('get').calls - getsBefore === 10);
    assert.equal(conn.isClosed, false);
    // The limit is checked as replies are produced: keep producing until the client is closed.
    await waitFor(
      'the soft limit to close the client',
      () => {
        if (!conn.isClosed) c.send(cmd('PING'));
        return conn.isClosed;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    assert.ok(Date.now() - sentMs >= 1000, `closed ${Date.now() - sentMs} ms after passing the soft limit`);
    assert.equal(statsField(await admin.call('INFO', 'stats'), 'client_output_buffer_limit_disconnections'), 1);
    c.close();
    admin.close();
  });
});

test("one client's pipeline of large replies runs in slices: another client's PINGs are answered in between", async () => {
  await withServer('no', false, async (server, port) => {
    const admin = await RawConn.open(port);
    assert.equal(await admin.call('SET', 'big', Buffer.alloc(VALUE_BYTES, 0x63)), 'OK');
    const { c, conn } = await nonReader(server, port);
    const gets = 300; // 30 MB of replies: under the default hard limit, so the whole pipeline runs
    const getsBefore = server.commandStats.get('get').calls;
    const done = (): number => server.commandStats.get('get').calls - getsBefore;
    c.send(Buffer.concat(Array.from({ length: gets }, () => cmd('GET', 'big'))));
    let answeredMeanwhile = 0;
    while (done() < gets) {
      assert.equal(await admin.call('PING'), 'PONG');
      if (done() > 0 && done() < gets) answeredMeanwhile++;
    }
    // Run to completion in one go (all 300 in one read event), none would be.
    assert.ok(answeredMeanwhile >= 5, `PINGs answered while the pipeline ran: ${answeredMeanwhile}`);
    assert.equal(conn.isClosed, false);
    c.close();
    admin.close();
  });
});

test('long pipelines that are read are neither cut nor reordered (slices, durability waits, both read paths)', async () => {
  const n = 10 * SLICE_COMMANDS_MAX + 7;
  for (const fsync of ['everysec', 'always'] as const) {
    for (const nodeReads of [false, true]) {
      await withServer(fsync, nodeReads, async (_server, port) => {
        const c = await RawConn.open(port);
        // Inline commands of 7-8 bytes: one 16 KiB read holds more than a slice's commands.
        let text = '';
        for (let i = 0; i < n; i++) text += i % 3 === 2 ? 'GET c\r\n' : 'INCR c\r\n';
        c.send(text);
        let incrs = 0;
        for (let i = 0; i < n; i++) {
          const r = await c.read();
          if (i % 3 === 2) assert.equal(asText(r), String(incrs), `reply ${i}`);
          else assert.equal(r, ++incrs, `reply ${i}`);
        }
        assert.equal(await c.call('PING'), 'PONG');
        c.close();
      });
    }
  }
});

test('client-output-buffer-limit: Redis class groups, all or nothing; a lone value sets the normal hard limit', () => {
  const cfg = defaultConfig();
  const get = (): string => (configGet(cfg, ['client-output-buffer-limit'])[0] as [string, string])[1];
  assert.equal(get(), `normal ${64 * 1024 * 1024} 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60`);
  assert.equal(configSet(cfg, 'client-output-buffer-limit', 'normal 10mb 5mb 30 replica 1gb 512mb 120 pubsub 1mb 0 0'), null);
  assert.equal(get(), 'normal 10485760 5242880 30 slave 1073741824 536870912 120 pubsub 1048576 0 0');
  assert.equal(configSet(cfg, 'client-output-buffer-limit', 'SLAVE 2mb 1mb 5'), null);
  assert.deepEqual(cfg.outputLimits.replica, { hardBytes: 2 * 1024 * 1024, softBytes: 1024 * 1024, softSeconds: 5 });
  assert.equal(configSet(cfg, 'client-output-buffer-limit', '4mb'), null);
  assert.deepEqual(cfg.outputLimits.normal, { hardBytes: 4 * 1024 * 1024, softBytes: 5 * 1024 * 1024, softSeconds: 30 });
  // redis.conf style: one line per class, each applied on its own.
  const file = parseConfigFile('client-output-buffer-limit normal 0 0 0\nclient-output-buffer-limit pubsub 64mb 16mb 90\n');
  assert.ok(Array.isArray(file));
  for (const [name, value] of file) assert.equal(setAtStartup(cfg, name, value), null);
  assert.equal(get(), 'normal 0 0 0 slave 2097152 1048576 5 pubsub 67108864 16777216 90');
  const before = get();
  for (const bad of ['normal 1mb 0', 'normal 1mb 0 0 master 1 1 1', 'normal x 0 0', 'pubsub 1mb 1mb -1', 'normal 2mb 0 0 pubsub 1mb 0 x', 'x']) {
    const err = configSet(cfg, 'client-output-buffer-limit', bad);
    assert.ok(err !== null && err.startsWith("CONFIG SET failed (possibly related to argument 'client-output-buffer-limit')"), `${bad}: ${String(err)}`);
    assert.equal(get(), before, `${bad} changed nothing`);
  }
});

test('slow readers pipelining large GETs: another client is answered within milliseconds, memory stays bounded', async () => {
  const srv = await startKvServer();
  try {
    const readers = 2;
    const limit = 64 * 1024 * 1024;
    const rssStart = vmKb(srv.child.pid, 'VmRSS');
    const r = await measureSlowReaders({ port: srv.port, readers, getsPerReader: 200_000, valueBytes: VALUE_BYTES, durationMs: 3000, untilClosed: { count: 1, maxMs: 60_000 } });
    // Run to completion, each slow reader's read events encode up to the limit at once: the
    // probe then waits hundreds of milliseconds nearly every time (median and p99 alike). The
    // bounds are generous for a shared machine, where GC and other processes alone can delay a
    // round trip by a few hundred milliseconds now and then.
    const shown = `p50 ${r.probeP50Ms.toFixed(1)} ms, p99 ${r.probeP99Ms.toFixed(1)} ms, max ${r.probeMaxMs.toFixed(1)} ms, ${r.probeCalls} calls`;
    assert.ok(r.readersClosed >= 1, `slow readers closed: ${r.readersClosed}`);
    assert.ok(r.probeP50Ms < 20, shown);
    assert.ok(r.probeP99Ms < 200, shown);
    assert.ok(r.probeMaxMs < 1000, shown);
    const admin = await RawConn.open(srv.port);
    assert.ok(statsField(await admin.call('INFO', 'stats'), 'client_output_buffer_limit_disconnections') >= r.readersClosed);
    admin.close();
    // Each open slow reader holds at most limit + one reply; closed ones are garbage until a GC.
    const peakGrowthBytes = (vmKb(srv.child.pid, 'VmHWM') - rssStart) * 1024;
    assert.ok(peakGrowthBytes < readers * (limit + REPLY_BYTES) + 256 * 1024 * 1024, `peak RSS grew by ${peakGrowthBytes} bytes`);
  } finally {
    await stopAndClean(srv);
  }
});

/** A /proc/<pid>/status field in kB (VmRSS: now, VmHWM: peak). */
function vmKb(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'));
  assert.ok(m !== null, `${field} of ${String(pid)}`);
  return Number(m[1]);
}
