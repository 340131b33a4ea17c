// Session mode when the POSITION pipelined after an acknowledged write never arrives: the
// client asks that node again before its next read, and if it cannot, reads fail with
// SessionLostError instead of silently dropping read-your-writes. Two scripted RESP nodes on
// 127.0.0.1 stand in for a primary and a replica, so the lost reply is exact, not timing luck.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { KvClient, SessionLostError } from '../src/client/index.js';
import { parseAddress } from '../src/net/address.js';
import { listenLoopback } from './helpers/loopback.js';
import { parseReply, type Resp } from './helpers/resp.js';

interface FakeNode {
  readonly server: Server;
  readonly address: string;
  /** Commands received, by name, in order. */
  readonly seen: string[];
  /** The next POSITION closes the connection (after the replies before it were written). */
  dropNextPosition: boolean;
  stop(): Promise<void>;
}

const bulk = (s: string): string => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
const portOf = (n: FakeNode): number => parseAddress(n.address)?.port ?? 0;

async function fakeNode(role: (self: string) => string, position: string): Promise<FakeNode> {
  const sockets = new Set<Socket>();
  const node: FakeNode = {
    server: createServer(),
    address: '',
    seen: [],
    dropNextPosition: false,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => node.server.close(() => resolve()));
    },
  };
  node.server.on('connection', (sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const p = parseReply(buf, 0);
        if (p === null) return;
        buf = buf.subarray(p.end);
        const argv = (p.v as Extract<Resp, { t: 'array' }>).a ?? [];
        const name = ((argv[0] as Extract<Resp, { t: 'bulk' }>).b as Buffer).toString().toUpperCase();
        node.seen.push(name);
        switch (name) {
          case 'ROLE':
            sock.write(role(node.address));
            break;
          case 'POSITION':
            if (node.dropNextPosition) {
              node.dropNextPosition = false;
              sock.end(); // the replies already written still arrive; this one never does
              return;
            }
            sock.write(bulk(position));
            break;
          case 'GET':
            sock.write(bulk('v'));
            break;
          case 'TOPOLOGY':
            sock.write('-ERR unknown command \'TOPOLOGY\'\r\n');
            break;
          default:
            sock.write('+OK\r\n'); // SET, CONSISTENCY
        }
      }
    });
  });
  (node as { address: string }).address = `127.0.0.1:${await listenLoopback(node.server)}`;
  return node;
}

const master = (replicaPort: () => number) => (): string => `*3\r\n${bulk('master')}:0\r\n*1\r\n*3\r\n${bulk('127.0.0.1')}${bulk(String(replicaPort()))}${bulk('0')}`;

test('session: a write whose POSITION reply was lost is asked for again before the next read', async () => {
  const primary = await fakeNode(() => `*3\r\n${bulk('master')}:0\r\n*0\r\n`, '1:7');
  const kv = await KvClient.connect({ seeds: [primary.address], consistency: 'session', refreshIntervalMs: 0, timeoutMs: 3000 });
  try {
    primary.dropNextPosition = true;
    assert.equal(await kv.set('k', 'v'), 'OK'); // acknowledged: the write ran
    assert.equal(kv.sessionToken(), null); // ...but its position never arrived
    assert.equal(await kv.get('k'), 'v');
    assert.equal(kv.sessionToken(), '1:7');
    // After the SET: the lost POSITION, the owed one asked again, then the read.
    const afterSet = primary.seen.lastIndexOf('SET');
    const order = primary.seen.slice(afterSet + 1).filter((c) => c === 'POSITION' || c === 'GET');
    assert.deepEqual(order.slice(0, 3), ['POSITION', 'POSITION', 'GET']);
  } finally {
    await kv.close();
    await primary.stop();
  }
});

test('session: if the node that acknowledged the write cannot be asked, reads throw SessionLostError until resetSession()', async () => {
  let replicaPort = 0;
  const primary = await fakeNode(master(() => replicaPort), '1:7');
  const replica = await fakeNode(() => `*5\r\n${bulk('slave')}${bulk('127.0.0.1')}:${portOf(primary)}\r\n${bulk('connected')}:0\r\n`, '1:7');
  replicaPort = portOf(replica);
  const kv = await KvClient.connect({ seeds: [primary.address], consistency: 'session', readFrom: 'replica', refreshIntervalMs: 0, timeoutMs: 3000 });
  try {
    assert.deepEqual(kv.topology()?.replicas, [replica.address]);
    primary.dropNextPosition = true;
    assert.equal(await kv.set('k', 'v'), 'OK');
    await primary.stop();
    await assert.rejects(kv.get('k'), (e: unknown) => e instanceof SessionLostError && /never arrived/.test(e.message));
    await assert.rejects(kv.get('k'), SessionLostError); // still owed: no silent recovery
    kv.resetSession();
    assert.equal(await kv.get('k'), 'v'); // the application accepted the loss
  } finally {
    await kv.close();
    await replica.stop();
  }
});
