// Recovery rules on damaged directories: torn tail truncated with a warning naming file and
// offset; corruption elsewhere refused (CorruptLogError with file and offset) unless repair;
// temp snapshots removed; an invalid snapshot passed over only while its log still exists;
// the LOCK file refuses a second owner and takes over stale ones.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, closeSync, cpSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CorruptLogError, DirectoryLockedError } from '../src/index.js';
import { openReplicatedStore as openStore } from '../src/storage/store.js';
import { PREZERO_BYTES } from '../src/storage/wal.js';
import { tempDir } from './helpers/procs.js';

const SMALL_SEGMENT_BYTES = 4096;
const KEYS = 300;

async function populated(opts: { compact?: boolean } = {}): Promise<string> {
  const dir = tempDir('kvts-corrupt-');
  const s = await openStore({ dir, fsync: 'no', segmentBytesMax: SMALL_SEGMENT_BYTES, compactMinBytes: 0 });
  for (let i = 0; i < KEYS; i++) {
    await s.set(`key:${i}`, `value-${i}-${'x'.repeat(i % 50)}`);
    if (opts.compact === true && i === KEYS / 2) await s.compact();
  }
  await s.close();
  return dir;
}

function segments(dir: string): string[] {
  return readdirSync(join(dir, 'log'))
    .filter((n) => n.endsWith('.wal'))
    .sort()
    .map((n) => join(dir, 'log', n));
}

async function withDir(fn: (dir: string) => Promise<void>, opts?: { compact?: boolean }): Promise<void> {
  const dir = await populated(opts);
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('torn tail (partial record appended) opens with a warning naming file and offset', () =>
  withDir(async (dir) => {
    const segs = segments(dir);
    assert.ok(segs.length > 3, 'small segments rotate');
    const last = segs[segs.length - 1] as string;
    const goodSize = statSync(last).size;
    appendFileSync(last, Buffer.from([40, 0, 0, 0, 1, 2, 3])); // a header promising 40 bytes, then EOF
    const warnings: string[] = [];
    const s = await openStore({ dir, onWarning: (m) => warnings.push(m) });
    try {
      assert.equal(warnings.length, 1);
      assert.match(warnings[0] as string, new RegExp(`${last.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} at offset ${goodSize}`));
      assert.equal(statSync(last).size, goodSize, 'truncated back to the last whole record');
      assert.equal(s.size, KEYS);
      assert.equal(s.get(`key:${KEYS - 1}`)?.toString(), `value-${KEYS - 1}-${'x'.repeat((KEYS - 1) % 50)}`);
    } finally {
      await s.close();
    }
  }));

test('torn tail (last record cut short) loses only that record', () =>
  withDir(async (dir) => {
    const segs = segments(dir);
    const last = segs[segs.length - 1] as string;
    truncateSync(last, statSync(last).size - 3);
    const warnings: string[] = [];
    const s = await openStore({ dir, onWarning: (m) => warnings.push(m) });
    try {
      assert.equal(warnings.length, 1);
      assert.match(warnings[0] as string, /torn record .* at offset \d+/);
      assert.equal(s.size, KEYS - 1);
      assert.equal(s.get(`key:${KEYS - 1}`), undefined);
      assert.equal(s.lastPosition.seq, KEYS - 1);
    } finally {
      await s.close();
    }
  }));

/** What a crash would leave of an open store's directory: its files as they are (the lock aside). */
function crashImage(dir: string): string {
  const image = tempDir('kvts-image-');
  cpSync(dir, image, { recursive: true, filter: (src) => !src.endsWith('LOCK') });
  return image;
}

test("under 'always' the active segment is zero-filled ahead of its records: a crash image recovers them all silently, a torn record in the zeros still warns, sealing and close cut the zeros", async () => {
  const dir = tempDir('kvts-prezero-');
  const images: string[] = [];
  try {
    const s = await openStore({ dir, fsync: 'always', segmentBytesMax: SMALL_SEGMENT_BYTES, compactMinBytes: 0 });
    for (let i = 0; i < KEYS; i++) assert.equal((await s.set(`key:${i}`, `value-${i}`)).seq, i + 1);
    const segs = segments(dir);
    assert.ok(segs.length > 3, 'small segments rotate');
    for (const sealed of segs.slice(0, -1)) {
      const b = readFileSync(sealed);
      assert.ok(b.length <= SMALL_SEGMENT_BYTES && b.readUInt32LE(0) > 0, `${sealed} was cut to its records when sealed`);
    }
    const active = segs[segs.length - 1] as string;
    const activeBytes = readFileSync(active);
    assert.ok(activeBytes.length > PREZERO_BYTES / 2, `the active segment runs past its records (${activeBytes.length} bytes)`);
    assert.ok(activeBytes.subarray(activeBytes.length - PREZERO_BYTES / 2).every((x) => x === 0), 'with zeros');

    // Every acknowledged record was fsynced, and so were the zeros after them.
    images.push(crashImage(dir));
    const warnings: string[] = [];
    const r = await openStore({ dir: images[0] as string, onWarning: (m) => warnings.push(m) });
    const recordsEnd = statSync(segments(images[0] as string).at(-1) as string).size;
    try {
      assert.deepEqual(warnings, [], 'the zeros are not a torn record');
      assert.equal(r.size, KEYS);
      assert.equal(r.get(`key:${KEYS - 1}`)?.toString(), `value-${KEYS - 1}`);
      assert.ok(recordsEnd > 0 && recordsEnd < activeBytes.length && activeBytes.readUInt32LE(recordsEnd) === 0, 'recovery cut the zeros after the last record');
    } finally {
      await r.close();
    }

    // A record cut short where the zeros begin (a crash in the middle of its write) is a torn tail.
    images.push(crashImage(dir));
    const fd = openSync(segments(images[1] as string).at(-1) as string, 'r+');
    writeSync(fd, Buffer.from([40, 0, 0, 0, 1, 2, 3]), 0, 7, recordsEnd);
    closeSync(fd);
    const torn: string[] = [];
    const t = await openStore({ dir: images[1] as string, onWarning: (m) => torn.push(m) });
    try {
      assert.equal(torn.length, 1);
      assert.match(torn[0] as string, new RegExp(`torn record .* at offset ${recordsEnd}`));
      assert.equal(t.size, KEYS);
    } finally {
      await t.close();
    }

    await s.close();
    assert.equal(statSync(active).size, recordsEnd, 'a clean close cuts the zeros');
  } finally {
    for (const d of [dir, ...images]) rmSync(d, { recursive: true, force: true });
  }
});

test('a bit flip in a sealed segment refuses to open with file and offset; repair truncates there', () =>
  withDir(async (dir) => {
    const seg = segments(dir)[1] as string;
    const bytes = readFileSync(seg);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] as number) ^ 0x10;
    writeFileSync(seg, bytes);
    await assert.rejects(openStore({ dir }), (e: unknown) => {
      assert.ok(e instanceof CorruptLogError);
      assert.equal(e.file, seg);
      assert.ok(e.offset <= at && e.offset >= 0);
      assert.match(e.message, /corrupt data in .*\.wal at offset \d+/);
      return true;
    });
    // The refusal released the lock and changed nothing; repair opens with the prefix only.
    const warnings: string[] = [];
    const s = await openStore({ dir, repair: true, onWarning: (m) => warnings.push(m) });
    try {
      assert.equal(warnings.length, 1);
      assert.match(warnings[0] as string, /repair: cut .* at offset \d+/);
      const n = s.lastPosition.seq;
      assert.ok(n > 0 && n < KEYS, `kept a prefix (${n})`);
      assert.equal(s.size, n);
      for (let i = 0; i < KEYS; i++) assert.equal(s.has(`key:${i}`), i < n, `key:${i}`);
      assert.equal(segments(dir).length, 2, 'later segments dropped');
      await s.set('after-repair', '1');
    } finally {
      await s.close();
    }
    const again = await openStore({ dir });
    assert.equal(again.get('after-repair')?.toString(), '1');
    await again.close();
  }));

test('a bit flip mid-way in the LAST segment (valid records after it) is corruption, not a torn tail', () =>
  withDir(async (dir) => {
    const segs = segments(dir);
    const last = segs[segs.length - 1] as string;
    const bytes = readFileSync(last);
    assert.ok(bytes.length > 200);
    bytes[20] = (bytes[20] as number) ^ 0x01;
    writeFileSync(last, bytes);
    await assert.rejects(openStore({ dir }), CorruptLogError);
  }));

test('temp snapshot files are removed; an invalid snapshot the log does not cover is refused, naming it', () =>
  withDir(
    async (dir) => {
      const snapDir = join(dir, 'snap');
      const snaps = readdirSync(snapDir).filter((n) => n.endsWith('.snap'));
      assert.equal(snaps.length, 1);
      // A half-written temp file is removed; a garbage "newer" snapshot claims data no file has.
      writeFileSync(join(snapDir, '00000000000000099999.snap.tmp'), 'partial');
      writeFileSync(join(snapDir, '00000000000000099999.snap'), 'KVTSSNAP garbage');
      await assert.rejects(openStore({ dir, onWarning: () => undefined }), (e: unknown) => {
        assert.ok(e instanceof CorruptLogError);
        assert.match(e.file, /99999\.snap$/);
        assert.match(e.message, /the log ends at seq 300/);
        return true;
      });
      assert.ok(!readdirSync(snapDir).some((n) => n.endsWith('.tmp')), 'temp files removed at open');
      rmSync(join(snapDir, '00000000000000099999.snap'));
      let s = await openStore({ dir });
      assert.equal(s.size, KEYS);
      assert.equal(s.lastPosition.seq, KEYS);
      await s.close();
      // Corrupt the real snapshot: the segments it covered are deleted, so it is the only copy.
      const real = join(snapDir, snaps[0] as string);
      const bytes = readFileSync(real);
      bytes[bytes.length - 40] = (bytes[bytes.length - 40] as number) ^ 0xff;
      writeFileSync(real, bytes);
      await assert.rejects(openStore({ dir, onWarning: () => undefined }), (e: unknown) => e instanceof CorruptLogError && e.file === real);
      s = await openStore({ dir, repair: true, onWarning: () => undefined });
      // Repair keeps only what is provably complete: nothing invented.
      for (const k of s.keys()) assert.match(k, /^key:\d+$/);
      const snapSeq = Number((snaps[0] as string).slice(0, 20));
      for (let i = snapSeq; i < KEYS; i++) assert.ok(s.has(`key:${i}`), `key:${i} (logged after the snapshot) is kept`);
      await s.close();
    },
    { compact: true },
  ));

test('a second open of a locked directory fails clearly; a stale lock from a dead pid is taken over', async () => {
  const dir = tempDir('kvts-lock-');
  try {
    const s = await openStore({ dir });
    await assert.rejects(openStore({ dir }), (e: unknown) => {
      assert.ok(e instanceof DirectoryLockedError);
      assert.equal(e.pid, process.pid);
      assert.equal(e.message, `data directory ${dir} is in use by pid ${process.pid}`);
      return true;
    });
    await s.set('k', 'v');
    await s.close();
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout);
    assert.ok(deadPid > 0);
    writeFileSync(join(dir, 'LOCK'), `${deadPid}\n`);
    const t = await openStore({ dir });
    assert.equal(t.get('k')?.toString(), 'v');
    assert.equal(readFileSync(join(dir, 'LOCK'), 'utf8').trim(), String(process.pid));
    await t.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
