// A KvServer in this process on an ephemeral 127.0.0.1 port, over a fresh store in a temp
// directory, for tests that reach into its connections (server.clients) or its counters.
// Owns that server, store and directory: all closed and removed when the test function ends.

import { rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { openReplicatedStore as openStore } from '../../src/storage/store.js';
import { KvServer, type ServerLog } from '../../src/server/server.js';
import { defaultConfig } from '../../src/server/config.js';
import type { FsyncPolicy } from '../../src/storage/types.js';
import { tempDir } from './procs.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Run `fn` against a fresh in-process server (nodeReads: Node's 'data' path instead of accept.ts's buffers; `log`: the server's, quiet by default). */
export async function withServer(fsync: FsyncPolicy, nodeReads: boolean, fn: (server: KvServer, port: number) => Promise<void>, log: ServerLog = quiet): Promise<void> {
  const dir = tempDir('kvts-inproc-');
  const store = await openStore({ dir, fsync });
  const server = new KvServer({ config: { ...defaultConfig(), port: 0, host: '127.0.0.1', dir, fsync }, store, log, nodeReads });
  try {
    const { port } = await server.listen();
    await fn(server, port);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

type WriteFn = (chunk: Buffer, encoding: BufferEncoding, cb: (err?: Error | null) => void) => void;

/**
 * Keep every later write of a server-side socket in Node's queue, as when the peer stops reading
 * and the kernel's buffers are full. `writes()` counts the writes held; `release()` lets them go, in order.
 */
export function holdWrites(socket: Socket): { writes(): number; release(): void } {
  const s = socket as Socket & { _write: WriteFn };
  const write = s._write;
  const held: Array<() => void> = [];
  s._write = (chunk, encoding, cb) => void held.push(() => write.call(s, chunk, encoding, cb));
  return {
    writes: () => held.length,
    release: () => {
      s._write = write;
      for (const w of held.splice(0)) w();
    },
  };
}
