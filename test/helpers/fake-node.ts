// A scripted RESP node on 127.0.0.1 for client tests: it answers ROLE with a given reply,
// POSITION with a fixed token (or drops the connection instead, once), GET with "v", and
// everything else with +OK, and it can answer the next commands of a name with given error
// lines or leave one unanswered. Exact lost replies and refusals, not timing luck.

import { createServer, type Server, type Socket } from 'node:net';
import { parseAddress } from '../../src/net/address.js';
import { listenLoopback } from './loopback.js';
import { parseReply, type Resp } from './resp.js';

export interface FakeNode {
  readonly server: Server;
  readonly address: string;
  /** Commands received, by name, in order. */
  readonly seen: string[];
  /** The next POSITION closes the connection (after the replies before it were written). */
  dropNextPosition: boolean;
  /** Error lines (without '-') the next commands of a name (upper case) answer with, in order. */
  readonly failNext: Map<string, string[]>;
  /** Names (upper case) whose next command closes the connection unanswered (an unknown outcome), once each. */
  readonly dropNext: Set<string>;
  stop(): Promise<void>;
}

export const bulk = (s: string): string => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
export const portOf = (n: FakeNode): number => parseAddress(n.address)?.port ?? 0;

/** ROLE of a primary with the given replica ports (none by default). */
export const primaryRole = (replicaPorts: () => readonly number[] = () => []) => (): string =>
  `*3\r\n${bulk('master')}:0\r\n*${replicaPorts().length}\r\n${replicaPorts()
    .map((p) => `*3\r\n${bulk('127.0.0.1')}${bulk(String(p))}${bulk('0')}`)
    .join('')}`;

export async function fakeNode(role: (self: string) => string, position: string): Promise<FakeNode> {
  const sockets = new Set<Socket>();
  const node: FakeNode = {
    server: createServer(),
    address: '',
    seen: [],
    dropNextPosition: false,
    failNext: new Map(),
    dropNext: new Set(),
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
      if (sock.writableEnded) return; // dropped: what the client sent after it goes unanswered
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const p = parseReply(buf, 0);
        if (p === null) return;
        buf = buf.subarray(p.end);
        const argv = (p.v as Extract<Resp, { t: 'array' }>).a ?? [];
        const name = ((argv[0] as Extract<Resp, { t: 'bulk' }>).b as Buffer).toString().toUpperCase();
        node.seen.push(name);
        if (node.dropNext.delete(name)) {
          sock.end(); // the replies already written still arrive; this one never does
          return;
        }
        const fail = node.failNext.get(name)?.shift();
        if (fail !== undefined) {
          sock.write(`-${fail}\r\n`);
          continue;
        }
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
            sock.write("-ERR unknown command 'TOPOLOGY'\r\n");
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
