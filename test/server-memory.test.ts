// INFO memory: used_memory counts the process's allocations once (heapUsed + external, which
// already includes arrayBuffers), never more than RSS, and tracks RSS as data grows (within the
// factor docs/storage.md documents), data outside the server's own keyspace included (after the
// cron's samples); used_memory_peak never falls below used_memory.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { openReplicatedStore } from '../src/storage/store.js';
import { Keyspace } from '../src/storage/keyspace.js';
import { KvServer } from '../src/server/server.js';
import { defaultConfig } from '../src/server/config.js';
import { parseInfo } from './helpers/info.js';
import { tempDir } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';

/** RSS beyond used_memory allowed once data dominates: the process's fixed overhead plus this share of the data. */
const RSS_OVER_USED_FRACTION_MAX = 0.25;
const KEYS = 100_000;
const VALUE_BYTES = 1024;

const dir = tempDir('kvts-mem-');
after(() => rmSync(dir, { recursive: true, force: true }));

function memoryInfo(server: KvServer): { used: number; rss: number; peak: number; fields: Map<string, string> } {
  const fields = parseInfo(server.services.info(['memory']));
  const num = (name: string): number => {
    const v = fields.get(name);
    assert.ok(v !== undefined, `INFO memory lacks ${name}`);
    return Number(v);
  };
  return { used: num('used_memory'), rss: num('used_memory_rss'), peak: num('used_memory_peak'), fields };
}

test('used_memory is at most RSS, counts Buffers once, and follows RSS from empty to 100k keys of 1 KiB', async () => {
  const store = await openReplicatedStore({ dir, fsync: 'no' });
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const server = new KvServer({ config: { ...defaultConfig(), port: 0, host: '127.0.0.1', dir, fsync: 'no' }, store, log: quiet });
  try {
    const empty = memoryInfo(server);
    assert.ok(empty.used > 0 && empty.used <= empty.rss, `empty: used ${empty.used} > rss ${empty.rss}`);
    assert.ok(empty.peak >= empty.used);
    for (const f of ['used_memory_human', 'used_memory_rss_human', 'used_memory_peak_human']) assert.match(empty.fields.get(f) ?? '', /^\d+(\.\d+)?[BKMGT]$/, f);
    // The INFO figure is the last sample (taken after each collection, on a sampler's turn): a
    // collection whose sample has not been taken yet can leave it above the heap for a moment, so
    // this waits for a sample at most heapUsed + external (never, if arrayBuffers were added twice).
    await waitFor('used_memory within heapUsed + external', () => {
      const m = process.memoryUsage();
      return memoryInfo(server).used <= m.heapUsed + m.external;
    }, { timeoutMs: 10_000 });
    // What the process holds besides data (code, the heap's free space, allocator slack).
    const overhead = empty.rss - empty.used;

    const ks = new Keyspace();
    const value = Buffer.alloc(VALUE_BYTES, 0x61);
    for (let i = 0; i < KEYS; i++) ks.put(`key:${i}`, value, 0);
    const data = KEYS * VALUE_BYTES;
    // Memory outside the server's keyspace (this test's Keyspace) enters used_memory within a
    // second of the cron's samples (their floor, which ignores the GC's sawtooth).
    await waitFor('used_memory follows the new data', () => memoryInfo(server).used - empty.used >= 0.9 * data, { timeoutMs: 10_000 });
    const full = memoryInfo(server);
    assert.ok(full.used <= full.rss, `full: used ${full.used} > rss ${full.rss}`);
    assert.ok(full.used - empty.used >= 0.9 * data, `used grew by ${full.used - empty.used} for ${data} bytes of values`);
    assert.ok(full.rss - full.used <= overhead + RSS_OVER_USED_FRACTION_MAX * data, `rss ${full.rss} exceeds used ${full.used} by more than the overhead ${overhead} + ${RSS_OVER_USED_FRACTION_MAX} of the data`);
    assert.ok(full.peak >= full.used);
    assert.equal(ks.size, KEYS);
    // The server samples the peak on its ops cron; INFO shows the larger of it and the current reading.
    const sampled = await waitFor('the server samples the peak', () => (server.counters.usedMemoryPeak >= empty.used + 0.9 * data ? server.counters.usedMemoryPeak : false));
    ks.clear();
    assert.ok(memoryInfo(server).peak >= sampled, 'the peak remembers the high point');
  } finally {
    await server.close();
  }
});
