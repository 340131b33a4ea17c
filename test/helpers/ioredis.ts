// An ioredis client for tests: one attempt per command and no reconnects (a test sees a failure as
// it happens), errors not raised as events, and kept in `track` so the file's `after` closes it.

import { Redis, type RedisOptions } from 'ioredis';

export function ioredisClient(port: number, track: Set<Redis>, opts: RedisOptions = {}): Redis {
  const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, retryStrategy: () => null, ...opts });
  c.on('error', () => undefined);
  track.add(c);
  return c;
}
