// Durability through the server: acknowledged writes survive SIGKILL with fsync always,
// SIGTERM with everysec flushes everything, SHUTDOWN exits 0 with the data on disk.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startKvServer, stopAndClean, tempDir, type RunningProcess } from './helpers/procs.js';
import { cmd } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';
import { rng, testSeed } from './helpers/rng.js';

/** Write `n` keys over `conns` parallel connections (pipelined); resolves with what was acknowledged. */
async function writeMany(port: number, n: number, seed: number, conns = 8): Promise<Map<string, string>> {
  const r = rng(seed);
  const acked = new Map<string, string>();
  const cs = await Promise.all(Array.from({ length: conns }, () => RawConn.open(port)));
  await Promise.all(
    cs.map(async (c, ci) => {
      for (let i = ci; i < n; i += conns) {
        // Disjoint keys per connection: each key's last acknowledged value is well defined.
        const k = `key:${ci}:${r.int(n * 2)}`;
        const v = `v${i}:${r.bytes(8).toString('hex')}`;
        const reply = await c.call('SET', k, v);
        assert.equal(reply, 'OK');
        acked.set(k, v);
      }
    }),
  );
  for (const c of cs) c.close();
  return acked;
}

async function checkAll(port: number, expected: Map<string, string>): Promise<void> {
  const c = await RawConn.open(port);
  try {
    for (const [k, v] of expected) assert.equal(await c.call('GET', k), v, `key ${k}`);
  } finally {
    c.close();
  }
}

/** Under fsync always: `write` returns what the server acknowledged; SIGKILL, restart, check it all. */
async function survivesSigkill(write: (port: number) => Promise<Map<string, string>>): Promise<void> {
  const dir = tempDir();
  let s: RunningProcess | undefined = await startKvServer({ dir, args: ['--fsync', 'always'] });
  let s2: RunningProcess | undefined;
  try {
    const acked = await write(s.port);
    await s.kill('SIGKILL');
    s = undefined;
    s2 = await startKvServer({ dir, args: ['--fsync', 'always'] });
    await checkAll(s2.port, acked);
  } finally {
    await stopAndClean(s);
    await stopAndClean(s2);
  }
}

test('fsync always: every acknowledged write survives SIGKILL', () => survivesSigkill((port) => writeMany(port, 2000, testSeed(5), 4)));

test('fsync always, pipelined: commands arriving during an fsync wait run after it, replies stay in order, acknowledged writes survive SIGKILL', () =>
  survivesSigkill(async (port) => {
    const c = await RawConn.open(port);
    const r = rng(testSeed(7));
    const N = 3000;
    const want: Array<string | null> = [];
    const values = new Map<string, string>();
    let piece: Buffer[] = [];
    for (let i = 0; i < N; i++) {
      if (i % 7 === 3) {
        // A read of a key written earlier in the same stream must see that write.
        const k = `p${r.int(i)}`;
        piece.push(cmd('GET', k));
        want.push(values.get(k) ?? null);
      } else {
        const k = `p${i}`;
        const v = `v${i}-${r.int(1e9)}`;
        piece.push(cmd('SET', k, v));
        values.set(k, v);
        want.push('OK');
      }
      // Pieces go out while earlier writes wait for their fsync: they are held, then run.
      if (piece.length === 1 + r.int(60)) {
        c.send(Buffer.concat(piece));
        piece = [];
        if (r.int(3) === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    c.send(Buffer.concat(piece));
    for (let i = 0; i < N; i++) {
      const got = await c.read();
      assert.equal(Buffer.isBuffer(got) ? got.toString() : got, want[i], `reply ${i}`);
    }
    c.close();
    return values;
  }));

test('fsync everysec: SIGTERM flushes and exits 0 with all data there', async () => {
  const dir = tempDir();
  let s: RunningProcess | undefined = await startKvServer({ dir });
  let s2: RunningProcess | undefined;
  try {
    const acked = await writeMany(s.port, 3000, testSeed(6), 4);
    assert.equal(await s.kill('SIGTERM'), 0);
    assert.match(s.output(), /shutting down \(SIGTERM\)/);
    s = undefined;
    s2 = await startKvServer({ dir });
    await checkAll(s2.port, acked);
  } finally {
    await stopAndClean(s);
    await stopAndClean(s2);
  }
});

test('SHUTDOWN flushes, exits 0, data is there after restart', async () => {
  const dir = tempDir();
  let s: RunningProcess | undefined = await startKvServer({ dir, args: ['--fsync', 'no'] });
  let s2: RunningProcess | undefined;
  try {
    const acked = await writeMany(s.port, 500, testSeed(8), 4);
    const c = await RawConn.open(s.port);
    c.send('SHUTDOWN\r\n');
    assert.equal(await s.exited(), 0);
    await c.waitClosed();
    s = undefined;
    s2 = await startKvServer({ dir, args: ['--fsync', 'no'] });
    await checkAll(s2.port, acked);
  } finally {
    await stopAndClean(s);
    await stopAndClean(s2);
  }
});

test('fsync always with 50 concurrent clients: all acknowledged writes readable (throughput printed)', async () => {
  const s = await startKvServer({ args: ['--fsync', 'always'] });
  try {
    const t0 = Date.now();
    const acked = await writeMany(s.port, 4000, testSeed(9), 50);
    const ms = Date.now() - t0;
    process.stdout.write(`# fsync always: ${acked.size} distinct keys, 4000 SETs over 50 connections in ${ms} ms (${Math.round(4000 / (ms / 1000))} acked writes/s)\n`);
    await checkAll(s.port, acked);
  } finally {
    await stopAndClean(s);
  }
});
