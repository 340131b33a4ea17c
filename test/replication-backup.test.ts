// Backups (KVSNAPSHOT, kv-cli --snapshot, kv-server --restore) with real processes on 127.0.0.1:
// a snapshot taken under a steady write load of every type restores, into a new node and into a
// new 3-node cluster, to exactly the source's dataset at the snapshot's position; damaged,
// truncated and cut transfers never become a file that restores; a non-empty directory and the
// source's own node ids are refused.
//
// How the source's dataset at the snapshot's position is known: one client is the only writer
// and every command it sends changes something (unique values, members never repeated, pops only
// from lists the generator knows are non-empty, expiries an hour ahead so no key expires), so
// command k of the sequence is log entry base+k, which the test checks at the end (the source's
// last seq is base + commands sent). Replaying the first end.seq - base commands into a fresh
// reference node gives the source's state at `end`; its DEBUG DIGEST is what a restore must show.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { ioredisClient } from './helpers/ioredis.js';
import { Cluster } from './helpers/cluster.js';
import { KV_CLI_JS, KV_SERVER_JS, startKvServer, stopAndClean, tempDirsRemovedAfter, type RunningProcess } from './helpers/procs.js';
import { TcpProxy } from './helpers/proxy.js';
import { waitFor } from './helpers/wait.js';

const tempDir = tempDirsRemovedAfter('kvts-backup-');
const procs = new Set<RunningProcess>();
const clients = new Set<Redis>();
after(async () => {
  for (const c of clients) c.disconnect();
  for (const p of procs) await stopAndClean(p);
});

/** Commands written before the snapshot: enough keys and members that the walk spans many turns and chunks big collections. */
const PRELOAD_COMMANDS = 60_000;
/** Commands per pipelined round of the writer. */
const PIPELINE = 200;
/** Expiries sit this far ahead of the test's start: nothing expires while it runs. */
const TTL_AHEAD_MS = 3_600_000;
const T0 = Date.now();

async function node(args: string[], opts: { dir?: string } = {}): Promise<RunningProcess> {
  const p = await startKvServer({ args: ['--fsync', 'everysec', '--log-level', 'warn', ...args], readyTimeoutMs: 120_000, ...opts });
  procs.add(p);
  return p;
}

const client = (port: number): Redis => ioredisClient(port, clients);

/**
 * The write sequence: command k (from 0) depends only on k and on the commands before it, and
 * each one changes the dataset (one log entry). Strings, hashes, sets, sorted sets, lists (pushes
 * and pops) and keys with expiries; a few big collections so the snapshot chunks them.
 */
class Workload {
  private readonly cmds: string[][] = [];
  private readonly listLen = new Map<string, number>();

  get(k: number): string[] {
    while (this.cmds.length <= k) this.cmds.push(this.next(this.cmds.length));
    return this.cmds[k] as string[];
  }

  private next(i: number): string[] {
    switch (i % 7) {
      case 0:
        return ['SET', `s:${i % 20_000}`, `v${i}`];
      case 1:
        return ['HSET', `h:${i % 5}`, `f${i % 3000}`, `v${i}`];
      case 2:
        return ['SADD', `set:${i % 5}`, `m${i}`];
      case 3:
        return ['ZADD', `z:${i % 5}`, String(i), `m${i % 3000}`];
      case 4:
      case 5: {
        const key = `l:${i % 5}`;
        const n = this.listLen.get(key) ?? 0;
        if (i % 3 === 0 && n > 0) {
          this.listLen.set(key, n - 1);
          return ['LPOP', key];
        }
        this.listLen.set(key, n + 1);
        return ['RPUSH', key, `e${i}`];
      }
      default:
        return ['SET', `t:${i % 2000}`, `v${i}`, 'PXAT', String(T0 + TTL_AHEAD_MS + i)];
    }
  }
}

/** Send commands from..to-1 of `w` to `c` in pipelined rounds; every reply must be a success. */
async function replay(c: Redis, w: Workload, from: number, to: number): Promise<void> {
  for (let k = from; k < to; k += PIPELINE) {
    const p = c.pipeline();
    for (let j = k; j < Math.min(to, k + PIPELINE); j++) p.call(...(w.get(j) as [string, ...string[]]));
    const res = (await p.exec()) ?? [];
    for (const [err] of res) assert.equal(err, null, `command failed: ${String(err)}`);
  }
}

async function seqOf(c: Redis): Promise<{ epoch: number; seq: number }> {
  const [e, s] = String(await c.call('POSITION')).split(':').map(Number);
  return { epoch: e as number, seq: s as number };
}

async function digest(port: number): Promise<string> {
  const c = client(port);
  try {
    return String(await c.call('DEBUG', 'DIGEST'));
  } finally {
    c.disconnect();
    clients.delete(c);
  }
}

interface Run {
  readonly code: number | null;
  readonly stderr: string;
}

/** Run a node script (kv-cli, or a kv-server expected to exit) to its end. */
function run(script: string, args: readonly string[], timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} ${args.join(' ')} did not finish in ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** "exact at E:S" from kv-cli's final line. */
function endOf(r: Run): { epoch: number; seq: number; records: number } {
  const m = /(\d+) log records, \d+ bytes in [\d.]+ s; exact at (\d+):(\d+)/.exec(r.stderr);
  assert.ok(m !== null, `no final line in: ${r.stderr}`);
  return { records: Number(m[1]), epoch: Number(m[2]), seq: Number(m[3]) };
}

// The source, its backup and the reference digest at the backup's position, shared by the tests below.
let backupFile = '';
let wantDigest = '';
let sourceEpoch = 0;
let sourcePort = 0;
let sourceNodeId = '';

before(async () => {
  const src = await node([]);
  sourcePort = src.port;
  const w = new Workload();
  const c = client(src.port);
  sourceNodeId = /kv_node_id:(\S+)/.exec(await c.info('replication'))?.[1] ?? '';
  const base = (await seqOf(c)).seq;
  await replay(c, w, 0, PRELOAD_COMMANDS);
  // The steady load: pipelined rounds until the snapshot is done.
  let sent = PRELOAD_COMMANDS;
  let stop = false;
  const load = (async () => {
    while (!stop) {
      await replay(c, w, sent, sent + PIPELINE);
      sent += PIPELINE;
    }
  })();
  backupFile = join(tempDir(), 'node.kvbackup');
  const snap = await run(KV_CLI_JS, ['-p', String(src.port), '--snapshot', backupFile]);
  stop = true;
  await load;
  assert.equal(snap.code, 0, snap.stderr);
  const end = endOf(snap);
  // The load ran through the walk: the file ends past where the walk began.
  assert.ok(end.records > 0, `no write landed during the snapshot: ${snap.stderr}`);
  // Every command was exactly one entry (what makes command k entry base+k).
  assert.equal((await seqOf(c)).seq, base + sent, 'every command of the workload is one log entry');
  assert.ok(end.seq > base + PRELOAD_COMMANDS && end.seq <= base + sent);
  sourceEpoch = end.epoch;
  const ref = await node([]);
  const rc = client(ref.port);
  await replay(rc, w, 0, end.seq - base);
  wantDigest = await digest(ref.port);
  assert.notEqual(wantDigest, await digest(src.port), 'the load went on after the snapshot (else the comparison proves little)');
});

test('kv-cli --snapshot under load restores into a new node with the source digest at the snapshot position; it begins a newer epoch', async () => {
  assert.ok(!existsSync(`${backupFile}.tmp`), 'no temp file left beside a finished backup');
  const dir = join(tempDir(), 'restored');
  const r = await node(['--restore', backupFile], { dir });
  assert.match(r.output(), /restore: .* is whole: \d+ snapshot items and \d+ log records/);
  assert.equal(await digest(r.port), wantDigest);
  const c = client(r.port);
  const pos = await seqOf(c);
  assert.ok(pos.epoch > sourceEpoch, `the restored node writes in its own epoch (${pos.epoch} > ${sourceEpoch})`);
  assert.notEqual(String(await c.info('replication')).match(/kv_node_id:(\S+)/)?.[1], sourceNodeId, 'the restored node has an id of its own');
  await c.set('after-restore', 'x');
  assert.equal(await c.get('after-restore'), 'x');
});

test('a snapshot of a replica restores to the same digest as one of its primary', async () => {
  const replica = await node(['--replica-of', `127.0.0.1:${sourcePort}`]);
  const want = await waitFor('the replica caught up', async () => {
    const d = await digest(sourcePort);
    return (await digest(replica.port)) === d ? d : null;
  }, { timeoutMs: 60_000, intervalMs: 200 });
  const file = join(tempDir(), 'replica.kvbackup');
  const snap = await run(KV_CLI_JS, ['-p', String(replica.port), '--snapshot', file]);
  assert.equal(snap.code, 0, snap.stderr);
  const r = await node(['--restore', file]);
  assert.equal(await digest(r.port), want);
});

test('one backup restored into each member of a new 3-node cluster (new node ids): every member has the digest, then a primary takes writes', async () => {
  const cluster = await Cluster.start({ nodes: 3, proxies: false, readyTimeoutMs: 120_000, args: ['--fsync', 'everysec', '--log-level', 'warn', '--restore', backupFile] });
  try {
    const d = await cluster.waitConverged(60_000);
    assert.equal(d, wantDigest);
    const p = await cluster.waitForPrimary(30_000);
    const r = await cluster.call(p, ['SET', 'new-cluster', 'yes']);
    assert.ok(r.ok);
    assert.notEqual(await cluster.waitConverged(30_000), wantDigest);
  } catch (e) {
    cluster.printLogs();
    throw e;
  } finally {
    await cluster.stop();
  }
});

test('a truncated or damaged backup is refused before anything is written; so are a non-empty directory and the source node id', async () => {
  const whole = readFileSync(backupFile);
  const cases: Array<[string, Buffer]> = [
    ['cut in the middle', whole.subarray(0, Math.floor(whole.length / 2))],
    ['cut before its trailer', whole.subarray(0, whole.length - 12)],
    ['one trailer byte short', whole.subarray(0, whole.length - 1)],
    ['a byte flipped in the middle', Buffer.from(whole)],
    ['a byte flipped in the first frame', Buffer.from(whole)],
  ];
  (cases[3] as [string, Buffer])[1][Math.floor(whole.length / 2)] ^= 0x40;
  (cases[4] as [string, Buffer])[1][20] ^= 0x01;
  for (const [what, bytes] of cases) {
    const file = join(tempDir(), 'bad.kvbackup');
    writeFileSync(file, bytes);
    const dir = join(tempDir(), 'target');
    const r = await run(KV_SERVER_JS, ['--port', '0', '--dir', dir, '--restore', file, '--log-level', 'warn']);
    assert.equal(r.code, 1, `${what}: ${r.stderr}`);
    assert.match(r.stderr, /cannot restore: .*(damaged|incomplete|checksum)/, what);
    assert.ok(!existsSync(dir) || readdirSync(dir).length === 0, `${what}: nothing written to the directory`);
  }
  const full = tempDir();
  mkdirSync(join(full, 'log'));
  const nonEmpty = await run(KV_SERVER_JS, ['--port', '0', '--dir', full, '--restore', backupFile]);
  assert.equal(nonEmpty.code, 2, nonEmpty.stderr);
  assert.match(nonEmpty.stderr, /is not empty/);
  const sameId = await run(KV_SERVER_JS, ['--port', '0', '--dir', join(tempDir(), 'x'), '--node-id', sourceNodeId, '--restore', backupFile]);
  assert.equal(sameId.code, 2, sameId.stderr);
  assert.match(sameId.stderr, /belong to the backup's source/);
});

test('a transfer cut midway leaves neither FILE nor FILE.tmp, and the node goes on serving', async () => {
  const proxy = await TcpProxy.start(sourcePort);
  try {
    proxy.cutAfter('toClient', 300_000);
    const dir = tempDir();
    const file = join(dir, 'cut.kvbackup');
    const r = await run(KV_CLI_JS, ['-p', String(proxy.port), '--snapshot', file]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /snapshot failed: /);
    assert.deepEqual(readdirSync(dir), [], 'no file, complete or not');
    // The source is unharmed and serves another full snapshot.
    const c = client(sourcePort);
    assert.equal(await c.ping(), 'PONG');
    const again = await run(KV_CLI_JS, ['-p', String(sourcePort), '--snapshot', file]);
    assert.equal(again.code, 0, again.stderr);
  } finally {
    await proxy.close();
  }
});

test('a reader that stops reading holds only its own stream: other clients write and read meanwhile, and it completes once it reads again', async () => {
  const proxy = await TcpProxy.start(sourcePort);
  try {
    proxy.stall('toClient');
    const dir = tempDir();
    const file = join(dir, 'slow.kvbackup');
    const pending = run(KV_CLI_JS, ['-p', String(proxy.port), '--snapshot', file]);
    await waitFor('the snapshot reader connected', () => proxy.stats.accepted > 0);
    const c = client(sourcePort);
    for (let i = 0; i < 20; i++) {
      const p = c.pipeline();
      for (let j = 0; j < 100; j++) p.set(`during-slow:${j}`, `${i}`);
      const res = (await p.exec()) ?? [];
      assert.ok(res.every(([err]) => err === null));
    }
    assert.equal(await c.get('during-slow:7'), '19');
    assert.ok(!existsSync(file), 'nothing complete yet');
    proxy.unstall();
    const r = await pending;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(file));
  } finally {
    await proxy.close();
  }
});

test('users travel with a backup: a user the source made logs in on the restored node with its permissions', async () => {
  const src = await node([]);
  const c = client(src.port);
  assert.equal(await c.call('ACL', 'SETUSER', 'app', 'on', '>app-secret', '~app:*', '+get', '+set'), 'OK');
  await c.set('app:1', 'v');
  const file = join(tempDir(), 'users.kvbackup');
  const snap = await run(KV_CLI_JS, ['-p', String(src.port), '--snapshot', file]);
  assert.equal(snap.code, 0, snap.stderr);
  const r = await node(['--restore', file], { dir: join(tempDir(), 'restored-users') });
  const u = ioredisClient(r.port, clients, { username: 'app', password: 'app-secret' });
  assert.equal(await u.get('app:1'), 'v');
  await assert.rejects(u.get('other'), /NOPERM/);
});

test('function libraries travel with a backup: the restored node answers FCALL of the source\'s function', async () => {
  const src = await node([]);
  const c = client(src.port);
  const code = "#!lua name=blib\nredis.register_function('bget', function(keys) return redis.call('get', keys[1]) end)";
  assert.equal(await c.call('FUNCTION', 'LOAD', code), 'blib');
  await c.set('b:1', 'v');
  const file = join(tempDir(), 'functions.kvbackup');
  const snap = await run(KV_CLI_JS, ['-p', String(src.port), '--snapshot', file]);
  assert.equal(snap.code, 0, snap.stderr);
  const r = await node(['--restore', file], { dir: join(tempDir(), 'restored-functions') });
  assert.equal(await client(r.port).call('FCALL', 'bget', '1', 'b:1'), 'v');
});
