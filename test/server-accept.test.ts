// Tests of the user-buffer accept path (src/server/accept.ts) and of replies sent at the
// end of the event-loop turn: reads never land on bytes an earlier read filled until the receiver
// rewinds (so chunks and argv views stay valid), the hook really installs on this Node (else the
// server silently falls back), accepted sockets keep net.Server's connection accounting, a real
// kv-server answers pipelines that cross read-region boundaries in order (partial frames are kept
// across reads although regions are reused), and replies held in Node's socket queue are never
// written over by later replies (the encoder reuses its chunk only after a write completed).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { installUserBufferAccept, READ_REGION_BYTES, SocketReads } from '../src/server/accept.js';
import { asText, cmd } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';
import { listenLoopback } from './helpers/loopback.js';
import { freePort, KV_SERVER_JS, startKvServer, stopAndClean, tempDir, type RunningProcess } from './helpers/procs.js';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { holdWrites, withServer } from './helpers/in-process-server.js';
import { waitFor } from './helpers/wait.js';
import { rng, testSeed } from './helpers/rng.js';

test('SocketReads never hands out bytes an earlier read filled, across regions and interleaved sockets', () => {
  const r = rng(testSeed(0xacce));
  const sockets = [new SocketReads(), new SocketReads(), new SocketReads()];
  const kept: Array<{ chunk: Buffer; want: Buffer }> = [];
  for (const s of sockets) s.deliver = (chunk) => kept.push({ chunk, want: Buffer.from(chunk) });
  const regions = new Set<ArrayBufferLike>();
  for (let i = 0; i < 20_000; i++) {
    const s = sockets[r.int(sockets.length)] as SocketReads;
    const buf = s.nextBuffer();
    assert.ok(buf.length >= 2 * 1024 && buf.length <= READ_REGION_BYTES, `read buffer of ${buf.length} bytes`);
    // Mostly small reads (pipelined commands), sometimes a read that fills the buffer.
    const n = r.int(4) === 0 ? buf.length : 1 + r.int(Math.min(buf.length, 3000));
    buf.set(r.bytes(n));
    regions.add(buf.buffer);
    // A region of its own: an idle connection pins its 16 KiB, never a slab shared with others.
    assert.equal(buf.buffer.byteLength, READ_REGION_BYTES);
    s.onRead(n, buf);
    assert.equal(kept[kept.length - 1]?.chunk.length, n);
  }
  assert.ok(regions.size > 10, `reads used ${regions.size} regions`);
  // Every chunk still holds what was read into it: no later read wrote over it.
  for (const [i, k] of kept.entries()) assert.ok(k.chunk.equals(k.want), `chunk ${i} was overwritten`);
});

test('SocketReads.rewind during a delivery: the next read lands at the start of the same region', () => {
  const s = new SocketReads();
  let rewindNow = false;
  s.deliver = () => {
    if (rewindNow) s.rewind();
  };
  // Node's order: the buffer for a read, the read, the delivery, then at once the next buffer.
  const first = s.nextBuffer();
  s.onRead(3, first);
  const second = s.nextBuffer();
  assert.equal(second.buffer, first.buffer, 'same region');
  assert.equal(second.byteOffset, first.byteOffset + 3, 'after the bytes read, without a rewind');
  rewindNow = true;
  s.onRead(5, second);
  const third = s.nextBuffer();
  assert.equal(third.buffer, first.buffer, 'same region after a rewind');
  assert.equal(third.byteOffset, first.byteOffset, 'from the start after a rewind');
  assert.equal(third.length, READ_REGION_BYTES);
});

test('SocketReads.rewind outside a delivery changes nothing: the read Node already placed is not overlapped', () => {
  const s = new SocketReads();
  const kept: Array<{ chunk: Buffer; want: Buffer }> = [];
  s.deliver = (chunk) => kept.push({ chunk, want: Buffer.from(chunk) });
  const first = s.nextBuffer();
  first.fill(1, 0, 3);
  s.onRead(3, first);
  // Node already holds the next read's buffer (after the 3 bytes) when, later in the turn, the
  // receiver finds it holds nothing (a reply released after an fsync) and rewinds.
  const second = s.nextBuffer();
  s.rewind();
  second.fill(2, 0, 5);
  s.onRead(5, second);
  const third = s.nextBuffer();
  assert.equal(third.byteOffset, first.byteOffset + 8, 'the next read goes after both reads');
  third.fill(3, 0, 100);
  s.onRead(100, third);
  for (const [i, k] of kept.entries()) assert.ok(k.chunk.equals(k.want), `chunk ${i} was overwritten`);
});

test('installUserBufferAccept works on this Node: data arrives through SocketReads, in order, and close() counts the connection', async () => {
  const server = createServer(() => assert.fail('the default accept path ran'));
  const port = await listenLoopback(server);
  const received: Buffer[] = [];
  let serverSide: Socket | null = null;
  let dataEvents = 0;
  assert.equal(
    installUserBufferAccept(server, (socket, reads) => {
      serverSide = socket;
      socket.on('data', () => dataEvents++);
      reads.deliver = (chunk) => {
        received.push(chunk);
        socket.write(chunk); // echo
      };
    }),
    true,
    'this Node lacks the internals the fast accept path uses: the server would fall back to the default path',
  );
  const r = rng(testSeed(0xacc1));
  const payload = r.bytes(300_000);
  const client = connect({ host: '127.0.0.1', port });
  const echoed: Buffer[] = [];
  client.on('data', (d: Buffer) => echoed.push(d));
  await new Promise<void>((resolve) => client.once('connect', resolve));
  for (let off = 0; off < payload.length; ) {
    const n = Math.min(payload.length - off, 1 + r.int(r.int(2) === 0 ? 7 : 40_000));
    client.write(payload.subarray(off, off + n));
    off += n;
  }
  await waitFor('the echo', () => echoed.reduce((a, b) => a + b.length, 0) >= payload.length);
  assert.ok(Buffer.concat(echoed).equals(payload), 'echo differs from what was sent');
  // The chunks handed out earlier are still intact (no read reused their bytes).
  assert.ok(Buffer.concat(received).equals(payload), 'kept chunks were overwritten');
  assert.equal(dataEvents, 0, "chunks must come through SocketReads, not 'data'");
  const count = (): Promise<number> => new Promise((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
  assert.equal(await count(), 1, 'the accepted socket counts as a connection of the server');
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  client.end();
  await closed; // close() resolves only once the accepted socket is gone
  assert.ok(serverSide !== null);
  assert.equal(await count(), 0);
});

/** Pipelines dribbled across reads and read regions, then two clients in one turn: every reply right and in order. */
async function pipelineChecks(port: number, seed: number): Promise<void> {
  const c = await RawConn.open(port);
  const d = await RawConn.open(port);
  try {
    const r = rng(testSeed(seed));
    const sizes = [0, 1, 2047, 2048, 2049, READ_REGION_BYTES - 40, READ_REGION_BYTES, READ_REGION_BYTES + 1, 100_000];
    const values = sizes.map((n) => r.bytes(n));
    // One stream: SETs, then GETs and reads of missing keys mixed in, sent in odd-sized pieces.
    const parts: Buffer[] = [];
    values.forEach((v, i) => parts.push(cmd('SET', `k${i}`, v)));
    values.forEach((_, i) => parts.push(cmd('GET', `k${i}`), cmd('GET', 'missing'), cmd('STRLEN', `k${i}`)));
    const stream = Buffer.concat(parts);
    for (let off = 0; off < stream.length; ) {
      const n = Math.min(stream.length - off, 1 + r.int(r.int(3) === 0 ? 5 : 9000));
      c.send(stream.subarray(off, off + n));
      off += n;
    }
    for (let i = 0; i < values.length; i++) assert.equal(asText(await c.read()), 'OK');
    for (const [i, v] of values.entries()) {
      const got = await c.read();
      assert.ok(Buffer.isBuffer(got) && got.equals(v), `GET k${i} (${v.length} bytes)`);
      assert.equal(await c.read(), null);
      assert.equal(await c.read(), v.length);
    }
    // A read-only event and a writing event on two clients in the same turn: each gets its own replies.
    c.send(Buffer.concat([cmd('GET', 'k1'), cmd('PING')]));
    d.send(Buffer.concat([cmd('SET', 'k1', 'new'), cmd('GET', 'k1')]));
    assert.equal(asText(await d.read()), 'OK');
    assert.equal(asText(await d.read()), 'new');
    const first = asText(await c.read());
    assert.ok(first === 'new' || first === (values[1] as Buffer).toString('utf8'), `GET k1 saw ${String(first)}`);
    assert.equal(asText(await c.read()), 'PONG');
  } finally {
    c.close();
    d.close();
  }
}

test('a real kv-server answers pipelines dribbled across reads and regions, replies in order', async (t) => {
  let p: RunningProcess | undefined;
  t.after(() => stopAndClean(p));
  p = await startKvServer();
  await pipelineChecks(p.port, 0xacc2);
});

test("both read paths (reused regions, Node's 'data' events) answer the same pipelines, under fsync everysec and always", async () => {
  for (const nodeReads of [false, true]) {
    for (const fsync of ['everysec', 'always'] as const) await withServer(fsync, nodeReads, (_s, port) => pipelineChecks(port, 0xacc3));
  }
});

test('replies still in the socket\'s queue are never written over by later replies: the encoder reuses its chunk only after a write completed', async () => {
  await withServer('no', false, async (server, port) => {
    const c = await RawConn.open(port);
    const r = rng(testSeed(0xacc4));
    const values = Array.from({ length: 8 }, () => r.bytes(50));
    for (const [i, v] of values.entries()) {
      c.send(cmd('SET', `v${i}`, v));
      assert.equal(asText(await c.read()), 'OK');
    }
    const [conn, ...others] = [...server.clients.all()];
    assert.ok(conn !== undefined && others.length === 0, 'one client');
    // Writes of this socket stay in Node's queue (as when the kernel's buffer is full) until released.
    const socket = conn.socket;
    const held = holdWrites(socket);
    const want: Buffer[] = [];
    let queued = 0;
    for (let batch = 0; batch < 5; batch++) {
      const keys = Array.from({ length: 20 }, () => r.int(values.length));
      c.send(Buffer.concat(keys.map((k) => cmd('GET', `v${k}`))));
      for (const k of keys) want.push(values[k] as Buffer);
      queued += keys.length * (5 + 50 + 2); // $50 CRLF value CRLF
      // Each batch is its own read event whose replies join the queue, below the high-water mark
      // (so the server goes on reading and encoding).
      await waitFor(`batch ${batch} queued`, () => socket.writableLength >= queued);
      assert.ok(socket.writableLength < socket.writableHighWaterMark);
    }
    assert.equal(held.writes(), 1, 'one write in progress, the rest buffered behind it');
    held.release();
    for (const [i, v] of want.entries()) {
      const got = await c.read();
      assert.ok(Buffer.isBuffer(got) && got.equals(v), `reply ${i} differs from what was stored`);
    }
    c.close();
  });
});

test('out of file descriptors (EMFILE): the server stays up through a connection flood and answers once descriptors are free', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const dir = tempDir('kv-emfile');
  // A descriptor limit a few dozen connections exhaust (Node itself holds about 30).
  const child = spawn('sh', ['-c', `ulimit -n 150 && exec "${process.execPath}" "${KV_SERVER_JS}" --port ${port} --host 127.0.0.1 --dir "${dir}"`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += String(d)));
  child.stderr.on('data', (d: Buffer) => (output += String(d)));
  const socks: Socket[] = [];
  try {
    await waitFor('kv-server ready', () => output.includes('ready on'), { timeoutMs: 30_000 });
    for (let i = 0; i < 250; i++) {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      socks.push(s);
    }
    await waitFor('the flood connected or was refused', () => socks.every((s) => s.readyState !== 'opening'), { timeoutMs: 20_000 });
    // The fault is held for a while (a duration of the fault, not a wait for an event): the memory
    // sampler, which reads /proc every 100 ms, and the accepts meet the exhausted table meanwhile.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(child.exitCode, null, `the server is still running: ${output}`);
    for (const s of socks) s.destroy();
    const c = await waitFor('a new client is answered', async () => {
      try {
        const conn = await RawConn.open(port);
        return (await conn.call('PING')) === 'PONG' ? conn : (conn.close(), null);
      } catch {
        return null;
      }
    }, { timeoutMs: 20_000 });
    c.close();
    assert.equal(child.exitCode, null, output);
  } finally {
    for (const s of socks) s.destroy();
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
