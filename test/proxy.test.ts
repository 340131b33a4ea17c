// The partition proxy (test/helpers/proxy.ts) against a loopback echo server: pass, black-hole
// per direction without resets, or only the replication links named nodes dialled, heal (tainted connections reset, new ones pass), reset; and hold
// mode, which the client session tests use to lag a replica: bytes on matching connections are
// queued, not dropped, and arrive intact and in order on release; other connections through the
// same proxy keep flowing; nothing is reset.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { listenLoopback } from './helpers/loopback.js';
import { TcpProxy, isReplicationLink, replicationLinkFrom } from './helpers/proxy.js';
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
  const port = await listenLoopback(server);
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
/** The hold tests' own proxy, so no mode left by the tests above can mix with a hold. */
const holding = await TcpProxy.start(echo.port);
const clients: Client[] = [];
after(async () => {
  for (const c of clients) c.sock.destroy();
  await proxy.close();
  await holding.close();
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

test('blackholeMatching(replicationLinkFrom): only links dialled by the named nodes are cut, both ways; pass() heals', async () => {
  const dialWith = async (first: string): Promise<Client> => {
    const c = await dial(proxy.port);
    clients.push(c);
    c.sock.write(first);
    await waitFor('first bytes echoed', () => c.data === first);
    return c;
  };
  const fromA = await dialWith('*4\r\n$6\r\nKVREPL\r\n$2\r\nnA\r\n');
  // A prefix of nA's id is another node.
  const fromAb = await dialWith('*4\r\n$6\r\nKVREPL\r\n$3\r\nnAb\r\n');
  const user = await dialWith('*2\r\n$3\r\nGET\r\n$2\r\nnA\r\n');
  const discarded = proxy.stats.bytesDiscarded;
  proxy.blackholeMatching(replicationLinkFrom(['nA']));
  fromA.sock.write('cut');
  fromAb.sock.write('+ab');
  user.sock.write('+user');
  await waitFor('the other connections still flow', () => fromAb.data.endsWith('+ab') && user.data.endsWith('+user'));
  await waitFor('the named link is black-holed', () => proxy.stats.bytesDiscarded === discarded + 3);
  assert.equal(fromA.data.endsWith('cut'), false);
  assert.equal(fromA.closed, false, 'a black hole holds the connection');
  // A new link from the same node is cut too.
  const again = await dial(proxy.port);
  clients.push(again);
  again.sock.write('*4\r\n$6\r\nKVREPL\r\n$2\r\nnA\r\n');
  await waitFor('the new link is black-holed', () => proxy.stats.bytesDiscarded > discarded + 3);
  assert.equal(again.data, '');
  proxy.pass();
  await waitFor('tainted links reset on heal', () => fromA.closed && again.closed);
  assert.equal(fromAb.closed, false);
  const healed = await dialWith('*4\r\n$6\r\nKVREPL\r\n$2\r\nnA\r\n');
  assert.equal(healed.closed, false);
});

/** A connection through the hold tests' proxy whose first bytes have come back. */
async function dialHolding(first: string): Promise<Client> {
  const c = await dial(holding.port);
  clients.push(c);
  c.sock.write(first);
  await waitFor('first bytes echoed', () => c.data === first);
  return c;
}

test('hold(toTarget, isReplicationLink): only the replication link waits; release delivers everything in order', async () => {
  const repl = await dialHolding('*4\r\n$6\r\nKVREPL\r\n');
  const user = await dialHolding('*1\r\n$4\r\nPING\r\n');
  const heldBefore = holding.stats.bytesHeld;
  holding.hold('toTarget', isReplicationLink);
  assert.equal(holding.held, true);
  for (let i = 0; i < 100; i++) repl.sock.write(`[${i}]`);
  user.sock.write('user-bytes');
  await waitFor('the other connection still flows', () => user.data.endsWith('user-bytes'));
  await waitFor('the replication bytes are queued', () => holding.stats.bytesHeld - heldBefore === Array.from({ length: 100 }, (_, i) => `[${i}]`).join('').length);
  assert.equal(repl.data, '*4\r\n$6\r\nKVREPL\r\n', 'nothing held reached the target');
  holding.release();
  const want = '*4\r\n$6\r\nKVREPL\r\n' + Array.from({ length: 100 }, (_, i) => `[${i}]`).join('');
  await waitFor('held bytes delivered intact and in order', () => repl.data === want);
  assert.equal(repl.closed, false, 'a hold is a delay, not a reset');
  assert.equal(holding.held, false);
});

test('hold toward the client, ended by pass(): delivered, not reset', async () => {
  const c = await dialHolding('hello ');
  const resets = holding.stats.resets;
  const heldBefore = holding.stats.bytesHeld;
  holding.hold('toClient');
  c.sock.write('world');
  await waitFor('echo held on the way back', () => holding.stats.bytesHeld - heldBefore === 5);
  assert.equal(c.data, 'hello ');
  holding.pass();
  await waitFor('delivered on pass', () => c.data === 'hello world');
  assert.equal(holding.stats.resets, resets);
  assert.equal(c.closed, false);
});
