// Listening for in-process fake servers and proxies: an ephemeral port on 127.0.0.1, never
// another address.

import type { Server } from 'node:net';

export const LOOPBACK = '127.0.0.1';

/** Listen on an ephemeral 127.0.0.1 port; resolves with the port, rejects when listening fails. */
export function listenLoopback(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const a = server.address();
      if (a === null || typeof a === 'string') return reject(new Error('a loopback listener without a port'));
      resolve(a.port);
    });
  });
}
