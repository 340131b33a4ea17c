// Damaged files of every kind (log segments, snapshots, meta.json, epochs.json), truncated,
// bit-flipped or emptied: the open refuses naming the file, the offset and what a cut there
// loses; repair (embedded `repair: true`, and `kv-server --repair`) cuts exactly there, reports
// the records and seq range it dropped, keeps the cut bytes, and keeps every record before them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { damage, files, type Damage } from './helpers/damage.js';
import { join } from 'node:path';
import { CorruptLogError } from '../src/index.js';
import { openReplicatedStore as openStore } from '../src/storage/store.js';
import { verifySnapshot } from '../src/storage/snapshot.js';
import { freePort, KV_SERVER_JS, tempDir } from './helpers/procs.js';

const SMALL_SEGMENT_BYTES = 4096;
const KEYS = 300;
/** The case: enough keys for a snapshot of many blocks. */
const SNAPSHOT_KEYS = 20_000;

/** key:i is written at seq i + 1. */
async function populated(keys: number, opts: { compact?: boolean; segmentBytesMax?: number } = {}): Promise<string> {
  const dir = tempDir('kvts-damage-');
  const s = await openStore({ dir, fsync: 'no', segmentBytesMax: opts.segmentBytesMax ?? SMALL_SEGMENT_BYTES, compactMinBytes: Number.MAX_SAFE_INTEGER });
  for (let i = 0; i < keys; i++) s.apply([{ t: 'set', key: `key:${i}`, value: Buffer.from(`value-${i}-${'x'.repeat(i % 50)}`), expireAtMs: 0 }]);
  await s.whenDurable(keys);
  if (opts.compact === true) await s.compact();
  await s.close();
  return dir;
}

function repairFolder(dir: string): string {
  const found = readdirSync(dir).filter((n) => n.startsWith('repair-'));
  assert.equal(found.length, 1, 'one repair folder');
  return join(dir, found[0] as string);
}

async function refused(dir: string, file: string): Promise<CorruptLogError> {
  let err: CorruptLogError | undefined;
  await assert.rejects(openStore({ dir, onWarning: () => undefined }), (e: unknown) => {
    assert.ok(e instanceof CorruptLogError, String(e));
    err = e;
    return true;
  });
  const e = err as CorruptLogError;
  assert.equal(e.file, file);
  assert.match(e.message, new RegExp(`at offset ${e.offset}: .*cutting there loses .*kv-server --repair --dir ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  return e;
}

const segmentCases: Array<{ name: string; how: Damage; at: number }> = [
  { name: 'bit flip at its head', how: 'flip', at: 0.001 },
  { name: 'bit flip in its middle', how: 'flip', at: 0.5 },
  { name: 'bit flip at its tail', how: 'flip', at: 0.995 },
  { name: 'truncated in its middle', how: 'truncate', at: 0.5 },
  { name: 'emptied', how: 'empty', at: 0 },
];

for (const c of segmentCases) {
  test(`a sealed log segment ${c.name}: refused naming it and the records lost; repair drops exactly those, keeps them, keeps all before`, async () => {
    const dir = await populated(KEYS);
    try {
      const segs = files(dir, 'log', '.wal');
      assert.ok(segs.length > 3, 'small segments rotate');
      const seg = segs[1] as string;
      const firstSeq = Number((seg.split('/').pop() as string).slice(0, 20));
      const damaged = damage(seg, c.how, c.at);
      const laterBytes = segs.slice(2).map((p) => readFileSync(p));
      const e = await refused(dir, seg);
      const lost = /loses (\d+) record\(s\), seq (\d+)\.\.(\d+) in \d+ byte\(s\) after seq (\d+)/.exec(e.message);
      assert.ok(lost !== null, e.message);
      const [dropped, from, to, keptThrough] = lost.slice(1).map(Number) as [number, number, number, number];
      assert.equal(to, KEYS, 'the later segments are counted');
      assert.ok(keptThrough >= firstSeq - 1 && from > keptThrough && dropped <= KEYS - keptThrough, e.message);
      if (c.how === 'flip') assert.equal(dropped, KEYS - keptThrough - 1, 'only the flipped record is unreadable');
      if (c.how === 'empty') assert.equal(keptThrough, firstSeq - 1);

      const warnings: string[] = [];
      const s = await openStore({ dir, repair: true, onWarning: (m) => warnings.push(m) });
      try {
        assert.equal(warnings.length, 1, warnings.join('\n'));
        assert.ok((warnings[0] as string).includes(`dropped ${dropped} record(s), seq ${from}..${to}`), warnings[0]);
        assert.equal(s.lastPosition.seq, keptThrough);
        for (let i = 0; i < KEYS; i++) assert.equal(s.has(`key:${i}`), i + 1 <= keptThrough, `key:${i}`);
      } finally {
        await s.close();
      }
      // The cut bytes are kept: the damaged file's rest and every later segment, byte for byte.
      const kept = join(repairFolder(dir), 'log');
      const cutAt = e.offset;
      const rest = cutAt === 0 ? join(kept, seg.split('/').pop() as string) : join(kept, `${seg.split('/').pop() as string}.from-${cutAt}`);
      assert.deepEqual(readFileSync(rest), damaged.subarray(cutAt));
      segs.slice(2).forEach((p, k) => assert.deepEqual(readFileSync(join(kept, p.split('/').pop() as string)), laterBytes[k]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('the active segment: damage with whole records after it is refused; a damaged last record is a torn tail, cut with a warning naming the last whole seq', async () => {
  const dir = await populated(KEYS);
  try {
    const active = files(dir, 'log', '.wal').at(-1) as string;
    const original = readFileSync(active);
    damage(active, 'flip', 0.01);
    await refused(dir, active);
    // The last record damaged: indistinguishable from a write the crash tore, so it is cut (the
    // AOF rule); everything before it stays and the warning says where.
    writeFileSync(active, original);
    damage(active, 'flip', (original.length - 3) / original.length);
    const warnings: string[] = [];
    const s = await openStore({ dir, onWarning: (m) => warnings.push(m) });
    try {
      assert.equal(warnings.length, 1);
      assert.match(warnings[0] as string, new RegExp(`torn record at the end of .* at offset \\d+ .*no whole record after seq ${KEYS - 1}`));
      assert.equal(s.lastPosition.seq, KEYS - 1);
      assert.equal(s.size, KEYS - 1);
    } finally {
      await s.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(`a truncated snapshot (${SNAPSHOT_KEYS} keys, no writes after the compaction) never opens empty: refused naming it; repair keeps its whole blocks`, async () => {
  const dir = await populated(SNAPSHOT_KEYS, { compact: true, segmentBytesMax: 64 * 1024 * 1024 });
  try {
    const [snap] = files(dir, 'snap', '.snap');
    assert.ok(snap !== undefined);
    assert.deepEqual(files(dir, 'log', '.wal').map((p) => statSync(p).size), [0], 'the log it replaced is gone');
    const damaged = damage(snap, 'truncate', 0.5);
    const e = await refused(dir, snap);
    assert.match(e.message, /written up to seq 20000\), keeping the (\d+) keys before them; no other file holds them/);
    const keptKeys = Number(/keeping the (\d+) keys/.exec(e.message)?.[1]);
    assert.ok(keptKeys > 0 && keptKeys < SNAPSHOT_KEYS);

    const warnings: string[] = [];
    const s = await openStore({ dir, repair: true, onWarning: (m) => warnings.push(m) });
    try {
      assert.equal(warnings.length, 1);
      assert.match(warnings[0] as string, /^repair: cut snapshot .* dropped the keys .* keeping the \d+ keys before them/);
      assert.equal(s.size, keptKeys);
      assert.equal(s.lastPosition.seq, SNAPSHOT_KEYS, 'the position is the snapshot\'s');
      for (const k of s.keys()) {
        const i = Number(k.slice(4));
        assert.equal(s.get(k)?.toString(), `value-${i}-${'x'.repeat(i % 50)}`);
      }
      await s.set('after-repair', '1');
    } finally {
      await s.close();
    }
    assert.deepEqual(readFileSync(join(repairFolder(dir), 'snap', snap.split('/').pop() as string)), damaged);
    const again = await openStore({ dir });
    assert.equal(again.size, keptKeys + 1);
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bit-flipped or emptied snapshot whose log is gone is refused; repair says how many keys it drops', async () => {
  for (const how of ['flip', 'empty'] as const) {
    const dir = await populated(KEYS * 10, { compact: true, segmentBytesMax: 64 * 1024 * 1024 });
    try {
      const [snap] = files(dir, 'snap', '.snap');
      assert.ok(snap !== undefined);
      damage(snap, how, 0.5);
      const e = await refused(dir, snap);
      const warnings: string[] = [];
      const s = await openStore({ dir, repair: true, onWarning: (m) => warnings.push(m) });
      try {
        assert.equal(warnings.length, 1);
        if (how === 'flip') {
          const m = /loses (\d+) of its (\d+) keys/.exec(e.message);
          assert.ok(m !== null, e.message);
          assert.equal(Number(m[2]), KEYS * 10);
          assert.equal(s.size + Number(m[1]), KEYS * 10, 'kept + dropped = all');
        } else {
          assert.match(e.message, /loses all of its keys/);
          assert.equal(s.size, 0);
        }
      } finally {
        await s.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('a damaged snapshot falls back to the log it replaced while that log still exists', async () => {
  const dir = await populated(KEYS);
  const oldLog = tempDir('kvts-oldlog-');
  try {
    cpSync(join(dir, 'log'), oldLog, { recursive: true });
    const s = await openStore({ dir, compactMinBytes: Number.MAX_SAFE_INTEGER });
    await s.compact();
    await s.close();
    // What a crash between the snapshot's rename and the segments' removal leaves behind.
    cpSync(oldLog, join(dir, 'log'), { recursive: true });
    const [snap] = files(dir, 'snap', '.snap');
    damage(snap as string, 'flip', 0.5);
    const warnings: string[] = [];
    const r = await openStore({ dir, onWarning: (m) => warnings.push(m) });
    try {
      assert.equal(warnings.length, 1);
      assert.match(warnings[0] as string, /invalid snapshot .*: replaying the log it replaced instead/);
      assert.equal(r.size, KEYS);
      assert.equal(r.lastPosition.seq, KEYS);
    } finally {
      await r.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(oldLog, { recursive: true, force: true });
  }
});

test('compaction reads its snapshot back without holding the event loop: verifySnapshot accepts a whole one and names the offset of damage', async () => {
  const dir = tempDir('kvts-verify-');
  try {
    const s = await openStore({ dir, fsync: 'no' });
    for (let i = 0; i < 4000; i++) s.apply([{ t: 'set', key: `key:${i}`, value: Buffer.alloc(1000, i % 251), expireAtMs: 0 }]);
    await s.compact();
    await s.close();
    const [snap] = files(dir, 'snap', '.snap');
    // Other work runs between its reads: count event-loop turns while it verifies ~16 blocks.
    let turns = 0;
    let spinning = true;
    const spin = (): void => {
      turns++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    const verdict = await verifySnapshot(snap as string);
    spinning = false;
    assert.equal(verdict, null);
    assert.ok(turns >= 10, `verification yielded to the loop (${turns} turns)`);
    damage(snap as string, 'flip', 0.5);
    assert.match((await verifySnapshot(snap as string)) ?? '', /^offset \d+: block checksum mismatch/);
    truncateSync(snap as string, 100);
    assert.match((await verifySnapshot(snap as string)) ?? '', /^offset \d+: /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a damaged resync.snap (an unfinished full-resync commit) is refused by name; repair removes it and keeps the data before it', async () => {
  const dir = await populated(KEYS, { compact: true });
  try {
    const [snap] = files(dir, 'snap', '.snap');
    const resync = join(dir, 'snap', 'resync.snap');
    cpSync(snap as string, resync);
    damage(resync, 'flip', 0.5);
    await refused(dir, resync);
    const warnings: string[] = [];
    const s = await openStore({ dir, repair: true, onWarning: (m) => warnings.push(m) });
    try {
      assert.equal(warnings.length, 1);
      assert.match(warnings[0] as string, /^repair: removed .*resync\.snap .*dropped the full resync/);
      assert.equal(s.size, KEYS);
    } finally {
      await s.close();
    }
    assert.ok(existsSync(join(repairFolder(dir), 'snap', 'resync.snap')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const doc of ['meta.json', 'epochs.json'] as const) {
  for (const how of ['truncate', 'flip', 'empty'] as const) {
    test(`${doc} ${how === 'flip' ? 'bit-flipped' : how === 'empty' ? 'emptied' : 'truncated'}: refused naming it; repair moves it aside`, async () => {
      const dir = tempDir('kvts-doc-');
      try {
        const s = await openStore({ dir });
        await s.set('k', 'v');
        await s.writeMeta({ nodeId: 'node-a', votedFor: 'node-b', term: 7 });
        await s.beginEpoch(3);
        await s.close();
        const path = join(dir, doc);
        const text = readFileSync(path, 'utf8');
        // Flip a byte of the body (not the checksum field): only the checksum can tell.
        const damaged = damage(path, how, how === 'flip' ? (text.length - 4) / text.length : 0.6);
        await refused(dir, path);
        const warnings: string[] = [];
        const r = await openStore({ dir, repair: true, onWarning: (m) => warnings.push(m) });
        try {
          assert.equal(warnings.length, 1);
          assert.match(warnings[0] as string, new RegExp(`^repair: removed .*${doc.replace('.', '\\.')} .*dropped `));
          assert.equal(r.get('k')?.toString(), 'v', 'the data is untouched');
          if (doc === 'meta.json') assert.deepEqual(r.readMeta(), {});
          else assert.equal(r.epoch, 1, 'only the begun-but-empty epoch is lost');
        } finally {
          await r.close();
        }
        assert.ok(!existsSync(path));
        assert.deepEqual(readFileSync(join(repairFolder(dir), doc)), damaged);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
}

test('meta.json and epochs.json written by earlier versions (plain JSON) still open', async () => {
  const dir = tempDir('kvts-olddoc-');
  try {
    const s = await openStore({ dir });
    await s.set('k', 'v');
    await s.close();
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ nodeId: 'old' }) + '\n');
    writeFileSync(join(dir, 'epochs.json'), JSON.stringify({ history: [[1, 1], [4, 2]] }) + '\n');
    const r = await openStore({ dir });
    try {
      assert.deepEqual(r.readMeta(), { nodeId: 'old' });
      assert.equal(r.epoch, 4);
      await r.writeMeta({ nodeId: 'new' });
    } finally {
      await r.close();
    }
    assert.match(readFileSync(join(dir, 'meta.json'), 'utf8'), /^\{"crc32c":"[0-9a-f]{8}","body":\{"nodeId":"new"\}\}\n$/);
    // An earlier version's meta.json that is valid JSON but not an object is refused by name.
    writeFileSync(join(dir, 'meta.json'), 'null\n');
    await refused(dir, join(dir, 'meta.json'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kv-server refuses a damaged directory naming the file and the repair command; --repair cuts, reports and exits', async () => {
  const dir = await populated(KEYS);
  try {
    const seg = files(dir, 'log', '.wal')[1] as string;
    damage(seg, 'flip', 0.5);
    const port = await freePort();
    const start = spawnSync(process.execPath, [KV_SERVER_JS, '--port', String(port), '--host', '127.0.0.1', '--dir', dir], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(start.status, 1, start.stderr);
    assert.ok(start.stderr.includes(`corrupt data in ${seg} at offset`), start.stderr);
    assert.ok(start.stderr.includes(`kv-server --repair --dir ${dir}`), start.stderr);
    const lost = /loses (\d+) record\(s\), seq (\d+)\.\.(\d+) .* after seq (\d+)/.exec(start.stderr);
    assert.ok(lost !== null, start.stderr);

    const rep = spawnSync(process.execPath, [KV_SERVER_JS, '--repair', '--dir', dir], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(rep.status, 0, rep.stderr);
    assert.ok(rep.stdout.includes(`dropped ${lost[1]} record(s), seq ${lost[2]}..${lost[3]}`), rep.stdout);
    assert.ok(rep.stdout.includes(`repaired ${dir}: ${lost[4]} keys, log up to seq ${lost[4]}`), rep.stdout);
    assert.ok(existsSync(join(repairFolder(dir), 'log')));

    const again = spawnSync(process.execPath, [KV_SERVER_JS, '--repair', '--dir', dir], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /no damage found in/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
