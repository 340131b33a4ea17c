// The partition proxy (test/helpers/proxy.ts) against a loopback echo server: pass, black-hole
// per direction without resets, heal (tainted connections reset, new ones pass), reset.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { TcpProxy } from './helpers/proxy.js';
import { waitFor } from './helpers/wait.js';

interface Echo {
  readonly server: Server;
  readonly port: number;
  /** Bytes the echo server received, over all connections. */
  received: number;
  readonly sockets: Set<Socket>;
}

async function startEcho(): Promise<Echo> {
  const server = createServer();
  const echo: Echo = { server, port: 0, received: 0, sockets: new Set() };
  server.on('connection', (s) => {
    echo.sockets.add(s);
    s.on('close', () => echo.sockets.delete(s));
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      echo.received += d.length;
      s.write(d);
    });
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve(a !== null && typeof a !== 'string' ? a.port : 0);
    }),
  );
  return Object.assign(echo, { port });
}

interface Client {
  readonly sock: Socket;
  data: string;
  closed: boolean;
  error: string | null;
}

async function dial(port: number): Promise<Client> {
  const sock = connect({ host: '127.0.0.1', port });
  const c: Client = { sock, data: '', closed: false, error: null };
  sock.on('data', (d: Buffer) => (c.data += d.toString()));
  sock.on('error', (e: NodeJS.ErrnoException) => (c.error = e.code ?? e.message));
  sock.on('close', () => (c.closed = true));
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  return c;
}

const echo = await startEcho();
const proxy = await TcpProxy.start(echo.port);
const clients: Client[] = [];
after(async () => {
  for (const c of clients) c.sock.destroy();
  await proxy.close();
  for (const s of echo.sockets) s.destroy();
  await new Promise<void>((resolve) => echo.server.close(() => resolve()));
});

test('pass forwards both ways', async () => {
  const c = await dial(proxy.port);
  clients.push(c);
  c.sock.write('hello');
  await waitFor('echo through the proxy', () => c.data === 'hello');
  assert.equal(proxy.stats.bytesForwarded, 10);
});

test('black-hole toward the target: bytes discarded, nothing arrives, connection stays open', async () => {
  const c = await dial(proxy.port);
  clients.push(c);
  const receivedBefore = echo.received;
  const discardedBefore = proxy.stats.bytesDiscarded;
  proxy.blackhole('toTarget');
  c.sock.write('lost-bytes');
  await waitFor('proxy discarded the bytes', () => proxy.stats.bytesDiscarded === discardedBefore + 10);
  assert.equal(echo.received, receivedBefore, 'the target must not receive black-holed bytes');
  assert.equal(c.data, '');
  assert.equal(c.closed, false, 'a black hole holds the connection, it does not reset it');
  assert.equal(c.error, null);
  // Heal: this connection lost bytes, so it is reset; a new connection passes.
  const resetsBefore = proxy.stats.resets;
  proxy.pass();
  await waitFor('tainted connection reset on heal', () => c.closed);
  assert.equal(proxy.stats.resets, resetsBefore + 1);
  const d = await dial(proxy.port);
  clients.push(d);
  d.sock.write('again');
  await waitFor('new connection passes after heal', () => d.data === 'again');
});

test('black-hole toward the client only: the target receives, the client hears nothing', async () => {
  const c = await dial(proxy.port);
  clients.push(c);
  const receivedBefore = echo.received;
  const discardedBefore = proxy.stats.bytesDiscarded;
  proxy.blackhole('toClient');
  assert.equal(proxy.mode('toTarget'), 'pass');
  c.sock.write('one-way');
  await waitFor('target received', () => echo.received === receivedBefore + 7);
  await waitFor('echo discarded on the way back', () => proxy.stats.bytesDiscarded === discardedBefore + 7);
  assert.equal(c.data, '');
  assert.equal(c.closed, false);
  proxy.pass();
  await waitFor('tainted connection reset on heal', () => c.closed);
});

test('a healthy connection survives pass() untouched', async () => {
  const c = await dial(proxy.port);
  clients.push(c);
  proxy.pass();
  c.sock.write('still');
  await waitFor('echo', () => c.data === 'still');
  assert.equal(c.closed, false);
});

test('reset destroys every current connection; new connections are accepted', async () => {
  const a = await dial(proxy.port);
  const b = await dial(proxy.port);
  clients.push(a, b);
  await waitFor('both proxied', () => proxy.connections >= 2);
  proxy.reset();
  await waitFor('both closed', () => a.closed && b.closed);
  assert.equal(proxy.connections, 0);
  const c = await dial(proxy.port);
  clients.push(c);
  c.sock.write('fresh');
  await waitFor('fresh connection echoes', () => c.data === 'fresh');
});
