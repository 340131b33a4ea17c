// Unit tests of the GET hot path and its neighbours: the GET path that probes by key bytes and
// copies the value range straight into the encoder (Store.readValueInto + RespEncoder.bulkRange),
// the store reading the clock only when some key has a TTL, the dispatcher's chained command
// timing, and the interleaved slot addresses of the keyspace under churn.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { openReplicatedStore as openStore } from '../src/storage/store.js';
import type { ReplicatedStore as Store, StoreOptions, ValueSink } from '../src/storage/api.js';
import { Keyspace } from '../src/storage/keyspace.js';
import { RespEncoder } from '../src/protocol/encoder.js';
import { Dispatcher } from '../src/server/dispatch.js';
import { CommandTable } from '../src/server/commands/table.js';
import { SERVER_COMMAND_MODULES } from '../src/server/commands/modules.js';
import { CommandStatsTable } from '../src/server/latency.js';
import type { ClientState, CommandContext, ServerServices } from '../src/server/command-types.js';
import { RecordingWriter } from './helpers/recording-writer.js';
import { tempDir } from './helpers/procs.js';
import { rng, testSeed } from './helpers/rng.js';

async function withStore(opts: Partial<StoreOptions>, fn: (s: Store) => Promise<void> | void): Promise<void> {
  const dir = tempDir('kvts-hpr-');
  const s = await openStore({ dir, fsync: 'no', ...opts });
  try {
    await fn(s);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A sink that keeps a copy of what it was handed (the range is only valid during the call). */
class CopySink implements ValueSink {
  got: Buffer[] = [];
  bulkRange(src: Buffer, off: number, len: number): void {
    this.got.push(Buffer.from(src.subarray(off, off + len)));
  }
}

test('bulkRange encodes exactly what bulk(view) encodes, for every length around the copy switch and past a chunk', () => {
  const r = rng(testSeed(0x6e7));
  const src = r.bytes(300_000);
  const lengths = [0, 1, 15, 16, 17, 31, 32, 100, 1023, 1024, 65_535, 65_536, 70_000, 200_000];
  for (const proto of [2, 3] as const) {
    const a = new RespEncoder();
    const b = new RespEncoder();
    a.protocol = b.protocol = proto;
    for (const n of lengths) {
      const off = r.int(src.length - n + 1);
      a.bulkRange(src, off, n);
      b.bulk(src.subarray(off, off + n));
      // Interleave small replies so ranges start at odd output positions and cross chunk ends.
      a.integer(n);
      b.integer(n);
    }
    const wa = a.take();
    const wb = b.take();
    assert.ok(wa !== null && wb !== null);
    assert.ok(wa.equals(wb), `RESP${proto}: bulkRange differs from bulk`);
  }
  // A range outside its source is a caller bug, caught before any byte is written.
  assert.throws(() => new RespEncoder().bulkRange(src, src.length - 1, 2));
});

test('readValueInto finds keys by bytes, hands over exactly the value, and honours expiry like getStored', async () => {
  let t = 5_000_000;
  await withStore({ now: () => t }, (s) => {
    const r = rng(testSeed(0x2ead));
    const keys: Buffer[] = [];
    for (let i = 0; i < 500; i++) {
      const k = r.bytes(1 + r.int(40)); // binary keys: latin1 strings in the store, bytes on the wire
      keys.push(k);
      s.apply([{ t: 'set', key: k.toString('latin1'), value: r.bytes(r.int(3000)), expireAtMs: i % 5 === 0 ? t + 1000 : 0 }]);
    }
    for (const k of keys) {
      const sink = new CopySink();
      const want = s.getStored(k.toString('latin1'));
      assert.equal(s.readValueInto(k, sink), want !== undefined);
      if (want !== undefined) assert.deepEqual(sink.got, [Buffer.from(want)]);
    }
    const missing = new CopySink();
    assert.equal(s.readValueInto(Buffer.from('no such key'), missing), false);
    assert.equal(missing.got.length, 0, 'a miss never calls the sink');
    // Past the TTL, readValueInto misses and removes the key, exactly as a lazy-expiring read does.
    const sizeBefore = s.size;
    t += 1000;
    let expired = 0;
    for (let i = 0; i < keys.length; i += 5) {
      const sink = new CopySink();
      if (!s.readValueInto(keys[i] as Buffer, sink)) expired++;
      assert.equal(sink.got.length, 0);
    }
    assert.ok(expired > 0);
    assert.equal(s.size, sizeBefore - expired);
    assert.equal(s.stats().expiredKeys, expired);
  });
});

test('reads consult the clock only while some key has a TTL', async () => {
  let reads = 0;
  let t = 1_000_000;
  await withStore(
    {
      now: () => {
        reads++;
        return t;
      },
    },
    (s) => {
      s.apply([{ t: 'set', key: 'plain', value: Buffer.from('v'), expireAtMs: 0 }]);
      reads = 0;
      const sink = new CopySink();
      for (let i = 0; i < 10; i++) {
        assert.equal(s.readValueInto(Buffer.from('plain'), sink), true);
        assert.equal(s.getStored('plain')?.toString(), 'v');
        assert.equal(s.has('plain'), true);
        assert.equal(s.getExpireAt('plain'), 0);
      }
      assert.equal(reads, 0, 'no key has a TTL: the clock is not read');
      s.apply([{ t: 'set', key: 'ttl', value: Buffer.from('w'), expireAtMs: t + 10 }]);
      reads = 0;
      assert.equal(s.readValueInto(Buffer.from('plain'), sink), true);
      assert.ok(reads > 0, 'with a TTL present every read checks the time');
      t += 10;
      assert.equal(s.readValueInto(Buffer.from('ttl'), sink), false, 'and the expired key misses');
    },
  );
});

test('chained command timing: every command is counted once and the durations never exceed the event', () => {
  const stats = new CommandStatsTable();
  const table = new CommandTable(SERVER_COMMAND_MODULES);
  const d = new Dispatcher(table, stats, { commandsProcessed: 0, errorReplies: 0 }, () => null);
  const client: ClientState = {
    id: 1, name: '', protocol: 2, authenticated: true, libName: '', libVersion: '', addr: 'a', laddr: 'b', createdMs: 0, lastCommand: '', closeAfterReply: false,
  };
  const unused = (): never => assert.fail('not used');
  const services: ServerServices = {
    commands: table, info: unused, configGet: unused, configSet: unused, clientList: unused, clientKill: unused, requirePass: () => null, shutdown: unused, compact: unused,
  };
  const ctx: CommandContext = { store: undefined as unknown as Store, out: new RecordingWriter(), client, server: services, write: unused };
  const ping = [Buffer.from('PING')];
  const echo = [Buffer.from('ECHO'), Buffer.from('x'.repeat(1000))];
  const t0 = performance.now();
  d.beginEvent();
  for (let i = 0; i < 50; i++) d.run(ctx, i % 2 === 0 ? ping : echo);
  d.endEvent();
  // Outside an event each command reads its own start: also counted, also bounded.
  for (let i = 0; i < 10; i++) d.run(ctx, ping);
  const elapsedUs = (performance.now() - t0) * 1000;
  const p = stats.get('ping');
  const e = stats.get('echo');
  assert.equal(p.calls, 35);
  assert.equal(e.calls, 25);
  assert.equal(p.histogram.totalCount + e.histogram.totalCount, 60);
  // Chained intervals tile the event without overlapping, so their sum cannot exceed wall time.
  assert.ok(p.usecTotal >= 0 && e.usecTotal >= 0);
  assert.ok(p.usecTotal + e.usecTotal <= elapsedUs + 1e-6, `${p.usecTotal + e.usecTotal} us > ${elapsedUs} us`);
});

test('keyspace with interleaved slot addresses stays consistent under seeded churn, growth and defrag', () => {
  const r = rng(testSeed(0x510f));
  const ks = new Keyspace();
  const model = new Map<string, Buffer>();
  for (let step = 0; step < 40_000; step++) {
    const key = `k${r.int(3000)}`;
    const op = r.int(10);
    if (op < 6) {
      const v = r.bytes(r.int(4) === 0 ? 2000 + r.int(3000) : r.int(120));
      ks.put(key, v, 0);
      model.set(key, v);
    } else {
      assert.equal(ks.remove(key), model.delete(key));
    }
    if (step % 5000 === 4999) {
      ks.verify();
      ks.trim();
    }
  }
  ks.verify();
  assert.equal(ks.size, model.size);
  const sink = new CopySink();
  for (const [k, v] of model) {
    assert.equal(ks.readValueBytes(Buffer.from(k, 'latin1'), 0, sink), true);
    assert.deepEqual(sink.got.pop(), v);
  }
});
