// kv-server's answers under a failing disk (an in-process KvServer over a store whose log calls
// fail on demand): the process stays up, the write that met the failure and every reply held
// with it are answered -MISCONF (never +OK), writes are refused while reads, PING and INFO keep
// working for every client, INFO persistence names the error and since when, writes resume by
// themselves once the disk recovers, and a restart keeps exactly the acknowledged writes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { openReplicatedStore } from '../src/storage/store.js';
import { openStore } from '../src/storage/embedded.js';
import type { FsyncPolicy } from '../src/storage/types.js';
import { KvServer } from '../src/server/server.js';
import { defaultConfig } from '../src/server/config.js';
import { FaultyLogFs } from './helpers/faulty-log-fs.js';
import { tempDir } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';
import { RawConn } from './helpers/server-conn.js';
import { ReplyError, cmd, type Reply } from './helpers/resp.js';
import { parseInfo } from './helpers/info.js';
import { DEFAULT_REPLICATION_FLAGS, attachReplication } from '../src/replication/host/attach.js';

const RESUME_DEADLINE_MS = 5000;
const MISCONF = /^MISCONF Errors writing to the log: /;

function isMisconf(r: Reply, cause: RegExp): boolean {
  return r instanceof ReplyError && MISCONF.test(r.message) && cause.test(r.message);
}

async function persistence(c: RawConn): Promise<Map<string, string>> {
  const r = await c.call('INFO', 'persistence');
  assert.equal(typeof r, 'string');
  return parseInfo(r as string);
}

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** `asKvServer`: as kv-server runs it, with the replication layer attached. */
async function withServer(fsync: FsyncPolicy, fn: (fs: FaultyLogFs, port: number, server: KvServer) => Promise<void>, asKvServer = false): Promise<string> {
  const dir = tempDir('kvts-srv-diskerr-');
  const fs = new FaultyLogFs();
  const store = await openReplicatedStore({ dir, fsync, logFs: fs, fsyncOnLoopMaxMs: 2, onWarning: () => undefined });
  const server = new KvServer({ config: { ...defaultConfig(), port: 0, host: '127.0.0.1', dir, fsync }, store, log: quiet });
  const { port } = await server.listen();
  if (asKvServer) await attachReplication(server, store, DEFAULT_REPLICATION_FLAGS, `127.0.0.1:${port}`, quiet);
  try {
    await fn(fs, port, server);
  } finally {
    await server.close().catch(() => undefined);
  }
  return dir;
}

async function reopenAndRead(dir: string, keys: readonly string[]): Promise<Record<string, string | undefined>> {
  const s = await openReplicatedStore({ dir, onWarning: () => undefined });
  try {
    const out: Record<string, string | undefined> = {};
    for (const k of keys) out[k] = s.get(k)?.toString();
    return out;
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const fsync of ['always', 'everysec', 'no'] as const) {
  test(`disk full under ${fsync}: MISCONF for the failed write and its held replies, reads served, INFO shows it, resumes, restart exact`, async () => {
    const dir = await withServer(fsync, async (fs, port) => {
      const writer = await RawConn.open(port);
      const reader = await RawConn.open(port);
      assert.equal(await writer.call('SET', 'a', '1'), 'OK');
      fs.fail('write', 'ENOSPC');
      // One event: a write, a read of it, a PING; all held for the log, all refused with it.
      writer.send(Buffer.concat([cmd('SET', 'b', '2'), cmd('GET', 'b'), cmd('PING')]));
      for (let i = 0; i < 3; i++) {
        const r = await writer.read();
        assert.ok(isMisconf(r, /ENOSPC/), `reply ${i}: ${String(r instanceof ReplyError ? r.message : r)}`);
      }
      // The server is up; reads, PING and INFO work for every client; writes are refused.
      assert.equal(await reader.call('PING'), 'PONG');
      assert.equal(await reader.call('GET', 'a'), '1');
      assert.equal(await reader.call('GET', 'b'), null);
      assert.equal(await writer.call('GET', 'a'), '1');
      assert.ok(isMisconf(await reader.call('SET', 'c', '3'), /ENOSPC/));
      assert.ok(isMisconf(await writer.call('DEL', 'a'), /ENOSPC/));
      const info = await persistence(reader);
      assert.equal(info.get('log_write_status'), 'err');
      assert.match(info.get('log_last_error') ?? '', /ENOSPC: no space left on device/);
      const since = Number(info.get('log_error_since'));
      assert.ok(since > 0 && Math.abs(since - Date.now() / 1000) < 60, `log_error_since ${since}`);
      assert.ok(Number(info.get('log_write_errors')) >= 1);
      // Space returns: writes resume by themselves.
      fs.clear();
      await waitFor('writes resumed', async () => (await persistence(reader)).get('log_write_status') === 'ok', { timeoutMs: RESUME_DEADLINE_MS });
      assert.equal((await persistence(reader)).get('log_last_error'), '');
      assert.equal(await writer.call('SET', 'd', '4'), 'OK');
      assert.equal(await reader.call('GET', 'd'), '4');
      writer.close();
      reader.close();
    });
    assert.deepEqual(await reopenAndRead(dir, ['a', 'b', 'c', 'd']), { a: '1', b: undefined, c: undefined, d: '4' });
  });
}

test('fsync EIO under always: the waiting writes are refused, replies that show only durable data go out', async () => {
  const dir = await withServer('always', async (fs, port) => {
    const c1 = await RawConn.open(port);
    const c2 = await RawConn.open(port);
    assert.equal(await c1.call('SET', 'a', '1'), 'OK');
    fs.fail('fsync', 'EIO', { times: 1 });
    assert.ok(isMisconf(await c1.call('SET', 'b', '2'), /EIO/));
    assert.equal(await c2.call('GET', 'b'), null);
    assert.equal(await c2.call('GET', 'a'), '1');
    await waitFor('writes resumed', async () => (await persistence(c2)).get('log_write_status') === 'ok', { timeoutMs: RESUME_DEADLINE_MS });
    assert.equal(await c2.call('SET', 'c', '3'), 'OK');
    c1.close();
    c2.close();
  });
  assert.deepEqual(await reopenAndRead(dir, ['a', 'b', 'c']), { a: '1', b: undefined, c: '3' });
});

test('many clients write while the disk fills: every reply is OK or MISCONF, exactly the OK ones survive a restart', async () => {
  const CLIENTS = 8;
  const ROUNDS = 30;
  const acked = new Set<string>();
  const refused = new Set<string>();
  const dir = await withServer('always', async (fs, port) => {
    const conns = await Promise.all(Array.from({ length: CLIENTS }, () => RawConn.open(port)));
    const run = async (c: RawConn, id: number): Promise<void> => {
      for (let r = 0; r < ROUNDS; r++) {
        const key = `k${id}-${r}`;
        const reply = await c.call('SET', key, key);
        if (reply === 'OK') acked.add(key);
        else if (isMisconf(reply, /ENOSPC/)) refused.add(key);
        else assert.fail(`unexpected reply ${String(reply)}`);
      }
    };
    // The 20th write from now fails, and every one after it until the fault clears.
    fs.fail('write', 'ENOSPC', { after: 20 });
    const all = Promise.all(conns.map((c, i) => run(c, i)));
    await waitFor('a refusal', () => refused.size > 0, { timeoutMs: RESUME_DEADLINE_MS });
    fs.clear();
    await all;
    for (const c of conns) c.close();
  });
  assert.equal(acked.size + refused.size, CLIENTS * ROUNDS);
  assert.ok(acked.size > 0 && refused.size > 0);
  const got = await reopenAndRead(dir, [...acked, ...refused]);
  for (const k of acked) assert.equal(got[k], k, `acknowledged ${k} lost`);
  for (const k of refused) assert.equal(got[k], undefined, `refused ${k} survived`);
});

for (const fsync of ['always', 'everysec'] as const) {
  test(`as kv-server (replication attached) under ${fsync}: a failure that discarded writes is refused with MISCONF, then writes resume in-process in a new epoch`, async () => {
    const dir = await withServer(
      fsync,
      async (fs, port) => {
        const c = await RawConn.open(port);
        assert.equal(await c.call('SET', 'a', '1'), 'OK');
        const epochBefore = parseInfo((await c.call('INFO', 'replication')) as string).get('kv_epoch');
        // A session whose write is refused: the refused write must not stay required by it.
        const sc = await RawConn.open(port);
        assert.equal(await sc.call('CONSISTENCY', 'SESSION', (await sc.call('POSITION')) as string), 'OK');
        fs.fail('write', 'ENOSPC');
        assert.ok(isMisconf(await sc.call('SET', 'b', '2'), /ENOSPC/));
        assert.equal(await sc.call('GET', 'a'), '1', 'the session reads on: its refused write is not waited for');
        assert.ok(isMisconf(await c.call('SET', 'c', '3'), /ENOSPC/), 'refused while the disk is full');
        assert.equal(await c.call('GET', 'a'), '1');
        assert.equal(await c.call('GET', 'b'), null);
        assert.equal(await c.call('PING'), 'PONG');
        let info = await persistence(c);
        assert.equal(info.get('log_write_status'), 'err');
        const repl = parseInfo((await c.call('INFO', 'replication')) as string);
        assert.equal(repl.get('kv_log_failed'), '1', 'INFO replication says the log failed');
        fs.clear();
        // The store's retry succeeds; the replication core forgot the discarded position and
        // continues in a new epoch, so the write below takes a position no record had.
        await waitFor('writes resumed', async () => (await c.call('SET', 'd', '4')) === 'OK', { timeoutMs: RESUME_DEADLINE_MS });
        info = await persistence(c);
        assert.equal(info.get('log_write_status'), 'ok');
        const after = parseInfo((await c.call('INFO', 'replication')) as string);
        assert.ok(Number(after.get('kv_epoch')) > Number(epochBefore), `a new epoch (${epochBefore} → ${after.get('kv_epoch')})`);
        assert.equal(after.get('kv_log_failed'), '0');
        // Nor after the resume (another epoch owns that position now): no SESSIONLOST for a write answered MISCONF.
        assert.equal(await sc.call('GET', 'd'), '4');
        assert.match((await sc.call('POSITION')) as string, new RegExp(`^${after.get('kv_epoch') ?? ''}:`));
        sc.close();
        c.close();
      },
      true,
    );
    assert.deepEqual(await reopenAndRead(dir, ['a', 'b', 'c', 'd']), { a: '1', b: undefined, c: undefined, d: '4' });
  });
}

/** A list's elements as strings (replies are Buffers). */
async function listOf(c: RawConn, key: string): Promise<string[]> {
  return ((await c.call('LRANGE', key, '0', '-1')) as Buffer[]).map(String);
}

/** A list's elements after a restart over `dir` (then removed). */
async function listAfterRestart(dir: string, key: string): Promise<string[]> {
  const s = await openStore({ dir, onWarning: () => undefined });
  try {
    return (await s.lrange(key, 0, -1)).map(String);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const fsync of ['always', 'everysec'] as const) {
  test(`blocked pops under ${fsync}: a waiter served by a push whose log write fails gets MISCONF (not the element); restart agrees`, async () => {
    const dir = await withServer(fsync, async (fs, port, server) => {
      const waiter = await RawConn.open(port);
      const pusher = await RawConn.open(port);
      waiter.send(cmd('BLPOP', 'q', '0'));
      await waitFor('the waiter blocks', () => server.blocking.blockedClients === 1);
      fs.fail('write', 'ENOSPC');
      // The push and the pop it serves are two entries of one turn: the log takes neither.
      assert.ok(isMisconf(await pusher.call('RPUSH', 'q', 'x', 'y'), /ENOSPC/), 'the pusher is refused');
      const served = await waiter.read();
      assert.ok(isMisconf(served, /ENOSPC/), `the served waiter must be refused like its pop's entry, got ${JSON.stringify(served)}`);
      assert.equal(server.blocking.blockedClients, 0, 'the refused waiter is answered, not waiting');
      assert.deepEqual(await listOf(pusher, 'q'), [], 'neither the push nor the pop stays');
      fs.clear();
      await waitFor('writes resumed', async () => (await persistence(pusher)).get('log_write_status') === 'ok', { timeoutMs: RESUME_DEADLINE_MS });
      // The same connection blocks again and is served normally.
      waiter.send(cmd('BLPOP', 'q', '0'));
      await waitFor('the waiter blocks again', () => server.blocking.blockedClients === 1);
      assert.equal(await pusher.call('RPUSH', 'q', 'z', 'w'), 2);
      assert.deepEqual(((await waiter.read()) as Buffer[]).map(String), ['q', 'z']);
      waiter.close();
      pusher.close();
    });
    assert.deepEqual(await listAfterRestart(dir, 'q'), ['w'], 'after restart: exactly the acknowledged push minus the acknowledged pop');
  });

  test(`blocked pops under ${fsync}: a key a rolled-back write made non-empty again keeps its waiter waiting until writes resume, then serves it`, async () => {
    const dir = await withServer(fsync, async (fs, port, server) => {
      const c = await RawConn.open(port);
      const other = await RawConn.open(port);
      assert.equal(await c.call('RPUSH', 'q', 'a'), 1);
      fs.fail('write', 'ENOSPC');
      // One event: the pop empties q, the blocking pop waits on it; the log refuses the pop, and
      // the rollback makes q non-empty while writes are refused.
      c.send(Buffer.concat([cmd('LPOP', 'q'), cmd('BLPOP', 'q', '0')]));
      assert.ok(isMisconf(await c.read(), /ENOSPC/), 'the failed LPOP is refused');
      assert.deepEqual(await listOf(other, 'q'), ['a'], 'rolled back');
      assert.equal(server.blocking.blockedClients, 1, 'the waiter keeps waiting while writes are refused (no error, not dropped)');
      assert.ok(isMisconf(await other.call('RPUSH', 'q', 'b'), /ENOSPC/));
      assert.equal(server.blocking.blockedClients, 1);
      fs.clear();
      assert.deepEqual(((await c.read(RESUME_DEADLINE_MS)) as Buffer[]).map(String), ['q', 'a'], 'served once writes are accepted again');
      assert.equal(server.blocking.blockedClients, 0);
      assert.deepEqual(await listOf(other, 'q'), []);
      c.close();
      other.close();
    });
    assert.deepEqual(await listAfterRestart(dir, 'q'), [], 'after restart: the served pop is in the log');
  });
}
