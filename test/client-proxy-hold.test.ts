// The proxy's hold mode (test/helpers/proxy.ts), which the client session tests use to lag a
// replica: bytes on matching connections are queued, not dropped, and arrive intact and in
// order on release; other connections through the same proxy keep flowing; nothing is reset.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { TcpProxy, isReplicationLink } from './helpers/proxy.js';
import { waitFor } from './helpers/wait.js';

interface Client {
  readonly sock: Socket;
  data: string;
  closed: boolean;
}

const sockets = new Set<Socket>();
const echo = createServer((s) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
  s.on('error', () => undefined);
  s.on('data', (d: Buffer) => s.write(d));
});
const echoPort = await new Promise<number>((resolve) =>
  echo.listen(0, '127.0.0.1', () => {
    const a = echo.address();
    resolve(a !== null && typeof a !== 'string' ? a.port : 0);
  }),
);
const proxy = await TcpProxy.start(echoPort);
const clients: Client[] = [];
after(async () => {
  for (const c of clients) c.sock.destroy();
  await proxy.close();
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => echo.close(() => resolve()));
});

async function dial(first: string): Promise<Client> {
  const sock = connect({ host: '127.0.0.1', port: proxy.port });
  const c: Client = { sock, data: '', closed: false };
  sock.on('data', (d: Buffer) => (c.data += d.toString()));
  sock.on('error', () => undefined);
  sock.on('close', () => (c.closed = true));
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  clients.push(c);
  sock.write(first);
  await waitFor('first bytes echoed', () => c.data === first);
  return c;
}

test('hold(toTarget, isReplicationLink): only the replication link waits; release delivers everything in order', async () => {
  const repl = await dial('*4\r\n$6\r\nKVREPL\r\n');
  const user = await dial('*1\r\n$4\r\nPING\r\n');
  const heldBefore = proxy.stats.bytesHeld;
  proxy.hold('toTarget', isReplicationLink);
  assert.equal(proxy.held, true);
  for (let i = 0; i < 100; i++) repl.sock.write(`[${i}]`);
  user.sock.write('user-bytes');
  await waitFor('the other connection still flows', () => user.data.endsWith('user-bytes'));
  await waitFor('the replication bytes are queued', () => proxy.stats.bytesHeld - heldBefore === Array.from({ length: 100 }, (_, i) => `[${i}]`).join('').length);
  assert.equal(repl.data, '*4\r\n$6\r\nKVREPL\r\n', 'nothing held reached the target');
  proxy.release();
  const want = '*4\r\n$6\r\nKVREPL\r\n' + Array.from({ length: 100 }, (_, i) => `[${i}]`).join('');
  await waitFor('held bytes delivered intact and in order', () => repl.data === want);
  assert.equal(repl.closed, false, 'a hold is a delay, not a reset');
  assert.equal(proxy.held, false);
});

test('hold toward the client, ended by pass(): delivered, not reset', async () => {
  const c = await dial('hello ');
  const resets = proxy.stats.resets;
  const heldBefore = proxy.stats.bytesHeld;
  proxy.hold('toClient');
  c.sock.write('world');
  await waitFor('echo held on the way back', () => proxy.stats.bytesHeld - heldBefore === 5);
  assert.equal(c.data, 'hello ');
  proxy.pass();
  await waitFor('delivered on pass', () => c.data === 'hello world');
  assert.equal(proxy.stats.resets, resets);
  assert.equal(c.closed, false);
});
