// The I/O floor: a Node server that reads exactly as kv-server reads (user-buffer reads into a
// connection's region, server/accept.ts) and answers every PING_MBULK frame with +PONG from a
// reply prepared once, so its CPU per request is what Node's event loop, a read and a write cost
// before any parsing, dispatch or storage (tools/bench/cpu-per-request.ts measures it beside
// kv-server and redis-server). Owns nothing else; it understands no other command: any bytes
// count as frames of PING_MBULK's size.
//
// Usage: node dist/tools/bench/io-floor-server.js PORT

import { createServer } from 'node:net';
import { installUserBufferAccept } from '../../src/server/accept.js';

/** `*1\r\n$4\r\nPING\r\n`, redis-benchmark's PING_MBULK request. */
const FRAME_BYTES = 14;
const PONG = Buffer.from('+PONG\r\n');
/** Replies prepared at start: one read's worth of frames (a 16 KiB region holds fewer than this). */
const REPLIES_MAX = 4096;
const REPLIES = Buffer.alloc(PONG.length * REPLIES_MAX);
for (let i = 0; i < REPLIES_MAX; i++) PONG.copy(REPLIES, i * PONG.length);

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: io-floor-server PORT\n');
  process.exit(2);
}
const server = createServer({ noDelay: true });
server.listen(port, '127.0.0.1', () => {
  const installed = installUserBufferAccept(server, (socket, reads) => {
    let partial = 0;
    reads.deliver = (chunk) => {
      const bytes = partial + chunk.length;
      let frames = Math.floor(bytes / FRAME_BYTES);
      partial = bytes - frames * FRAME_BYTES;
      while (frames > 0) {
        const n = Math.min(frames, REPLIES_MAX);
        socket.write(REPLIES.subarray(0, n * PONG.length));
        frames -= n;
      }
      reads.rewind();
    };
    socket.on('error', () => socket.destroy());
  });
  if (!installed) {
    process.stderr.write('io-floor-server: this Node lacks the user-buffer accept path\n');
    process.exit(1);
  }
});
