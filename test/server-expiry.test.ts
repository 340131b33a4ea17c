// The server's side of expiry as a logged event: a read that finds a key expired is answered
// only once the delete it logged is durable under the fsync policy (as a write's reply), so a
// crash and a restart with the clock stepped back never bring back a key a client saw expire.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { openReplicatedStore } from '../src/storage/store.js';
import { KvServer } from '../src/server/server.js';
import { defaultConfig } from '../src/server/config.js';
import { LOCK_FILE } from '../src/storage/lock.js';
import type { FsyncPolicy } from '../src/storage/types.js';
import { tempDirsRemovedAfter } from './helpers/procs.js';
import { RawConn } from './helpers/server-conn.js';

const HOUR_MS = 3600_000;
const T0 = 1_900_000_000_000;
const newDir = tempDirsRemovedAfter('kvts-srv-expiry-');

for (const fsync of ['always', 'everysec'] as FsyncPolicy[]) {
  test(`fsync ${fsync}: GET of an expired key is answered after its delete is durable; a crash and a clock an hour back keep it gone`, async () => {
    const dir = newDir();
    let clockMs = T0;
    const store = await openReplicatedStore({ dir, fsync, now: () => clockMs });
    const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const server = new KvServer({ config: { ...defaultConfig(), port: 0, host: '127.0.0.1', dir, fsync }, store, log: quiet });
    const { port } = await server.listen();
    const c = await RawConn.open(port);
    let copy: string;
    try {
      assert.equal(await c.call('SET', 'seen', 'v', 'PXAT', String(T0 + 1000)), 'OK');
      assert.equal(await c.call('SET', 'later', 'v', 'PXAT', String(T0 + 10 * HOUR_MS)), 'OK');
      const seq = store.lastPosition.seq;
      clockMs = T0 + 2000;
      // (Should the sweep find it first, its delete is logged just the same and the reply waits for it too.)
      assert.equal(await c.call('GET', 'seen'), null);
      assert.ok(store.lastPosition.seq > seq, 'the expiry was logged');
      // The reply arrived: the delete is durable (fsynced under always, handed to the OS under everysec).
      if (fsync === 'always') assert.ok(store.stats().durableSeq >= seq + 1, 'reply released before the fsync of its delete');
      copy = newDir();
      cpSync(dir, copy, { recursive: true, filter: (src) => !src.endsWith(`/${LOCK_FILE}`) });
    } finally {
      c.close();
      await server.close();
    }
    const back = await openReplicatedStore({ dir: copy, fsync, now: () => T0 - HOUR_MS });
    try {
      assert.equal(back.getValue('seen'), undefined, 'a key a client saw expire came back');
      assert.equal(back.getValue('later')?.toString(), 'v');
    } finally {
      await back.close();
    }
  });
}
