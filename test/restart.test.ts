// Durability through the server: acknowledged writes survive SIGKILL with fsync always (strings,
// and a seeded SIGKILL loop over every data type checked against a model), SIGTERM with everysec
// flushes everything, SHUTDOWN exits 0 with the data on disk.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startKvServer, stopAndClean, tempDir, type RunningProcess } from './helpers/procs.js';
import { cmd, ReplyError } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';
import { rng, testSeed } from './helpers/rng.js';
import { info } from './helpers/info.js';
import { waitFor } from './helpers/wait.js';
import { rmSync } from 'node:fs';

/** Write `n` keys over `conns` parallel connections (pipelined); resolves with what was acknowledged. */
async function writeMany(port: number, n: number, seed: number, conns = 8): Promise<Map<string, string>> {
  const r = rng(seed);
  const acked = new Map<string, string>();
  const cs = await Promise.all(Array.from({ length: conns }, () => RawConn.open(port)));
  await Promise.all(
    cs.map(async (c, ci) => {
      for (let i = ci; i < n; i += conns) {
        // Disjoint keys per connection: each key's last acknowledged value is well defined.
        const k = `key:${ci}:${r.int(n * 2)}`;
        const v = `v${i}:${r.bytes(8).toString('hex')}`;
        const reply = await c.call('SET', k, v);
        assert.equal(reply, 'OK');
        acked.set(k, v);
      }
    }),
  );
  for (const c of cs) c.close();
  return acked;
}

async function checkAll(port: number, expected: Map<string, string>): Promise<void> {
  const c = await RawConn.open(port);
  try {
    for (const [k, v] of expected) assert.equal(await c.call('GET', k), v, `key ${k}`);
  } finally {
    c.close();
  }
}

/** Under fsync always: `write` returns what the server acknowledged; SIGKILL, restart, check it all. */
async function survivesSigkill(write: (port: number) => Promise<Map<string, string>>): Promise<void> {
  const dir = tempDir();
  let s: RunningProcess | undefined = await startKvServer({ dir, args: ['--fsync', 'always'] });
  let s2: RunningProcess | undefined;
  try {
    const acked = await write(s.port);
    await s.kill('SIGKILL');
    s = undefined;
    s2 = await startKvServer({ dir, args: ['--fsync', 'always'] });
    await checkAll(s2.port, acked);
  } finally {
    await stopAndClean(s);
    await stopAndClean(s2);
  }
}

test('fsync always: every acknowledged write survives SIGKILL', () => survivesSigkill((port) => writeMany(port, 2000, testSeed(5), 4)));

test('fsync always, pipelined: commands arriving during an fsync wait run after it, replies stay in order, acknowledged writes survive SIGKILL', () =>
  survivesSigkill(async (port) => {
    const c = await RawConn.open(port);
    const r = rng(testSeed(7));
    const N = 3000;
    const want: Array<string | null> = [];
    const values = new Map<string, string>();
    let piece: Buffer[] = [];
    for (let i = 0; i < N; i++) {
      if (i % 7 === 3) {
        // A read of a key written earlier in the same stream must see that write.
        const k = `p${r.int(i)}`;
        piece.push(cmd('GET', k));
        want.push(values.get(k) ?? null);
      } else {
        const k = `p${i}`;
        const v = `v${i}-${r.int(1e9)}`;
        piece.push(cmd('SET', k, v));
        values.set(k, v);
        want.push('OK');
      }
      // Pieces go out while earlier writes wait for their fsync: they are held, then run.
      if (piece.length === 1 + r.int(60)) {
        c.send(Buffer.concat(piece));
        piece = [];
        if (r.int(3) === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    c.send(Buffer.concat(piece));
    for (let i = 0; i < N; i++) {
      const got = await c.read();
      assert.equal(Buffer.isBuffer(got) ? got.toString() : got, want[i], `reply ${i}`);
    }
    c.close();
    return values;
  }));

test('fsync everysec: SIGTERM flushes and exits 0 with all data there', async () => {
  const dir = tempDir();
  let s: RunningProcess | undefined = await startKvServer({ dir });
  let s2: RunningProcess | undefined;
  try {
    const acked = await writeMany(s.port, 3000, testSeed(6), 4);
    assert.equal(await s.kill('SIGTERM'), 0);
    assert.match(s.output(), /shutting down \(SIGTERM\)/);
    s = undefined;
    s2 = await startKvServer({ dir });
    await checkAll(s2.port, acked);
  } finally {
    await stopAndClean(s);
    await stopAndClean(s2);
  }
});

test('SHUTDOWN flushes, exits 0, data is there after restart', async () => {
  const dir = tempDir();
  let s: RunningProcess | undefined = await startKvServer({ dir, args: ['--fsync', 'no'] });
  let s2: RunningProcess | undefined;
  try {
    const acked = await writeMany(s.port, 500, testSeed(8), 4);
    const c = await RawConn.open(s.port);
    c.send('SHUTDOWN\r\n');
    assert.equal(await s.exited(), 0);
    await c.waitClosed();
    s = undefined;
    s2 = await startKvServer({ dir, args: ['--fsync', 'no'] });
    await checkAll(s2.port, acked);
  } finally {
    await stopAndClean(s);
    await stopAndClean(s2);
  }
});

test('SAVE answers once a snapshot is durable; BGSAVE starts one; LASTSAVE moves; SAVE is refused inside MULTI', async () => {
  const s = await startKvServer();
  const c = await RawConn.open(s.port);
  try {
    const persistence = (): Promise<Map<string, string>> => info(s.port, 'persistence');
    const text = (r: unknown): string => (r instanceof ReplyError ? r.message : String(r));
    const startedAt = Number(await c.call('LASTSAVE'));
    assert.ok(Math.abs(startedAt - Date.now() / 1000) < 120, `LASTSAVE before any snapshot is the start time (${startedAt})`);
    await writeMany(s.port, 500, testSeed(11), 2);
    assert.ok(Number((await persistence()).get('rdb_changes_since_last_save')) >= 500);
    const before = Number((await persistence()).get('compactions'));
    assert.equal(await c.call('SAVE'), 'OK');
    const after = await persistence();
    assert.equal(Number(after.get('compactions')), before + 1, 'SAVE answered after its snapshot completed');
    assert.equal(after.get('rdb_changes_since_last_save'), '0');
    assert.ok(Number(await c.call('LASTSAVE')) >= startedAt);
    assert.equal(await c.call('MULTI'), 'OK');
    assert.match(text(await c.call('SET', 'k', 'v')), /QUEUED/);
    assert.match(text(await c.call('SAVE')), /Command not allowed inside a transaction/);
    assert.match(text(await c.call('EXEC')), /EXECABORT/);
    assert.match(text(await c.call('BGSAVE', 'NOW')), /syntax error/);
    assert.equal(await c.call('SET', 'k', 'v'), 'OK');
    assert.equal(await c.call('BGSAVE'), 'Background saving started');
    await waitFor('the background snapshot', async () => Number((await persistence()).get('compactions')) === before + 2);
  } finally {
    c.close();
    await stopAndClean(s);
  }
});

test('fsync always with 50 concurrent clients: all acknowledged writes readable (throughput printed)', async () => {
  const s = await startKvServer({ args: ['--fsync', 'always'] });
  try {
    const t0 = Date.now();
    const acked = await writeMany(s.port, 4000, testSeed(9), 50);
    const ms = Date.now() - t0;
    process.stdout.write(`# fsync always: ${acked.size} distinct keys, 4000 SETs over 50 connections in ${ms} ms (${Math.round(4000 / (ms / 1000))} acked writes/s)\n`);
    await checkAll(s.port, acked);
  } finally {
    await stopAndClean(s);
  }
});

// --- SIGKILL loop with every type --------------------------------------------------------------
// Several connections each own a disjoint set of keys (strings, hashes, sets, sorted sets, lists) and
// issue one seeded write at a time, so each key has at most one command in flight when the server
// dies. The model holds every acknowledged effect; after the restart a key must equal the model,
// or the model with its connection's in-flight command applied whole.

type TypeName = 'string' | 'hash' | 'set' | 'zset' | 'list';
type Val =
  | { type: 'string'; v: string }
  | { type: 'hash'; m: Map<string, number> }
  | { type: 'set'; s: Set<string> }
  | { type: 'zset'; z: Map<string, number> }
  | { type: 'list'; l: string[] };
interface Entry {
  val: Val;
  ttl: boolean;
}
interface MixedOp {
  key: string;
  args: string[];
}

const MIXED_TYPES: readonly TypeName[] = ['string', 'hash', 'set', 'zset', 'list'];
const MIXED_CONNS = 6;
const MIXED_KEYS_PER_TYPE = 4;
const MIXED_ROUNDS = process.env['KV_LONG'] === '1' ? 40 : 4;

function mixedKey(type: TypeName, conn: number, i: number): string {
  return `${type}:${conn}:${i}`;
}

function mixedOp(r: ReturnType<typeof rng>, conn: number): MixedOp {
  const type = r.pick(MIXED_TYPES);
  const key = mixedKey(type, conn, r.int(MIXED_KEYS_PER_TYPE));
  const roll = r.int(20);
  if (roll === 0) return { key, args: ['DEL', key] };
  if (roll === 1) return { key, args: ['EXPIRE', key, String(1000 + r.int(100_000))] };
  const f = `f${r.int(6)}`;
  const n = String(r.int(200) - 100);
  switch (type) {
    case 'string':
      return { key, args: ['SET', key, `v${r.int(1e6)}`] };
    case 'hash':
      return { key, args: r.pick([['HSET', key, f, n, `f${r.int(6)}`, String(r.int(50))], ['HDEL', key, f], ['HINCRBY', key, f, n]]) };
    case 'set':
      return { key, args: r.pick([['SADD', key, f, `f${r.int(6)}`], ['SREM', key, f]]) };
    case 'zset':
      return { key, args: r.pick([['ZADD', key, n, f], ['ZINCRBY', key, n, f], ['ZREM', key, f]]) };
    case 'list':
      return { key, args: r.pick([['RPUSH', key, f, `f${r.int(6)}`], ['LPUSH', key, f], ['LPOP', key], ['RPOP', key], ['LREM', key, String(r.int(3) - 1), f], ['LINSERT', key, r.pick(['BEFORE', 'AFTER']), f, `i${r.int(3)}`], ['LTRIM', key, String(r.int(3)), String(-1 - r.int(3))]]) };
  }
}

function cloneEntry(e: Entry | undefined): Entry | undefined {
  if (e === undefined) return undefined;
  const v = e.val;
  switch (v.type) {
    case 'string': return { ttl: e.ttl, val: { type: 'string', v: v.v } };
    case 'hash': return { ttl: e.ttl, val: { type: 'hash', m: new Map(v.m) } };
    case 'set': return { ttl: e.ttl, val: { type: 'set', s: new Set(v.s) } };
    case 'zset': return { ttl: e.ttl, val: { type: 'zset', z: new Map(v.z) } };
    case 'list': return { ttl: e.ttl, val: { type: 'list', l: [...v.l] } };
  }
}

/** Redis semantics of one op on one key: the key's next state and the reply (keys never change type here). */
function applyMixed(before: Entry | undefined, args: readonly string[]): { next: Entry | undefined; reply: string | number } {
  const e = cloneEntry(before);
  const a = (i: number): string => args[i] as string;
  const empty = (size: number): Entry | undefined => (size === 0 ? undefined : e);
  switch (a(0)) {
    case 'DEL':
      return { next: undefined, reply: e === undefined ? 0 : 1 };
    case 'EXPIRE':
      if (e !== undefined) e.ttl = true;
      return { next: e, reply: e === undefined ? 0 : 1 };
    case 'SET':
      return { next: { ttl: false, val: { type: 'string', v: a(2) } }, reply: 'OK' };
    case 'HSET': {
      const h = e ?? { ttl: false, val: { type: 'hash', m: new Map<string, number>() } };
      if (h.val.type !== 'hash') throw new Error('model type');
      let added = 0;
      for (let i = 2; i < args.length; i += 2) {
        if (!h.val.m.has(a(i))) added++;
        h.val.m.set(a(i), Number(a(i + 1)));
      }
      return { next: h, reply: added };
    }
    case 'HINCRBY': {
      const h = e ?? { ttl: false, val: { type: 'hash', m: new Map<string, number>() } };
      if (h.val.type !== 'hash') throw new Error('model type');
      const v = (h.val.m.get(a(2)) ?? 0) + Number(a(3));
      h.val.m.set(a(2), v);
      return { next: h, reply: v };
    }
    case 'HDEL': {
      if (e === undefined || e.val.type !== 'hash') return { next: e, reply: 0 };
      const n = e.val.m.delete(a(2)) ? 1 : 0;
      return { next: empty(e.val.m.size), reply: n };
    }
    case 'SADD': {
      const s = e ?? { ttl: false, val: { type: 'set', s: new Set<string>() } };
      if (s.val.type !== 'set') throw new Error('model type');
      let added = 0;
      for (const m of args.slice(2)) if (!s.val.s.has(m)) (s.val.s.add(m), added++);
      return { next: s, reply: added };
    }
    case 'SREM': {
      if (e === undefined || e.val.type !== 'set') return { next: e, reply: 0 };
      const n = e.val.s.delete(a(2)) ? 1 : 0;
      return { next: empty(e.val.s.size), reply: n };
    }
    case 'ZADD':
    case 'ZINCRBY': {
      const z = e ?? { ttl: false, val: { type: 'zset', z: new Map<string, number>() } };
      if (z.val.type !== 'zset') throw new Error('model type');
      const had = z.val.z.get(a(3));
      const score = a(0) === 'ZADD' ? Number(a(2)) : (had ?? 0) + Number(a(2));
      z.val.z.set(a(3), score);
      return { next: z, reply: a(0) === 'ZADD' ? (had === undefined ? 1 : 0) : String(score) };
    }
    case 'ZREM': {
      if (e === undefined || e.val.type !== 'zset') return { next: e, reply: 0 };
      const n = e.val.z.delete(a(2)) ? 1 : 0;
      return { next: empty(e.val.z.size), reply: n };
    }
    case 'RPUSH':
    case 'LPUSH': {
      const l = e ?? { ttl: false, val: { type: 'list', l: [] as string[] } };
      if (l.val.type !== 'list') throw new Error('model type');
      for (const v of args.slice(2)) {
        if (a(0) === 'LPUSH') l.val.l.unshift(v);
        else l.val.l.push(v);
      }
      return { next: l, reply: l.val.l.length };
    }
    case 'LPOP':
    case 'RPOP': {
      if (e === undefined || e.val.type !== 'list') return { next: e, reply: null as unknown as string };
      const v = (a(0) === 'LPOP' ? e.val.l.shift() : e.val.l.pop()) as string;
      return { next: empty(e.val.l.length), reply: v };
    }
    case 'LREM': {
      if (e === undefined || e.val.type !== 'list') return { next: e, reply: 0 };
      const count = Number(a(2));
      const l = e.val.l;
      const idx = [...l.keys()];
      if (count < 0) idx.reverse();
      const drop = new Set<number>();
      for (const i of idx) if ((count === 0 || drop.size < Math.abs(count)) && l[i] === a(3)) drop.add(i);
      e.val.l = l.filter((_, i) => !drop.has(i));
      return { next: empty(e.val.l.length), reply: drop.size };
    }
    case 'LINSERT': {
      if (e === undefined || e.val.type !== 'list') return { next: e, reply: 0 };
      const at = e.val.l.indexOf(a(3));
      if (at < 0) return { next: e, reply: -1 };
      e.val.l.splice(a(2) === 'AFTER' ? at + 1 : at, 0, a(4));
      return { next: e, reply: e.val.l.length };
    }
    case 'LTRIM': {
      if (e === undefined || e.val.type !== 'list') return { next: e, reply: 'OK' };
      const len = e.val.l.length;
      const start = Number(a(2));
      const stop = len + Number(a(3));
      e.val.l = e.val.l.slice(start, Math.max(start, stop + 1));
      return { next: empty(e.val.l.length), reply: 'OK' };
    }
    default:
      throw new Error(`no model for ${a(0)}`);
  }
}

/** One canonical line for a key's state, from the model. */
function describeEntry(e: Entry | undefined): string {
  if (e === undefined) return 'none';
  const v = e.val;
  const pairs = (m: Map<string, number>): string => [...m].sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, n]) => `${k}=${n}`).join(',');
  const body = v.type === 'string' ? v.v : v.type === 'set' ? [...v.s].sort().join(',') : v.type === 'hash' ? pairs(v.m) : v.type === 'list' ? v.l.join(',') : pairs(v.z);
  return `${v.type} ${body} ttl=${e.ttl}`;
}

/** The same canonical line, read from the server. */
async function describeKey(c: RawConn, key: string): Promise<string> {
  const type = await c.call('TYPE', key);
  if (type === 'none') return 'none';
  const text = (r: unknown): string[] => (r as Buffer[]).map((b) => b.toString());
  const pairs = (flat: string[]): string => {
    const out: Array<[string, string]> = [];
    for (let i = 0; i < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
    return out.sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, n]) => `${k}=${n}`).join(',');
  };
  let body: string;
  if (type === 'string') body = String(await c.call('GET', key));
  else if (type === 'set') body = text(await c.call('SMEMBERS', key)).sort().join(',');
  else if (type === 'hash') body = pairs(text(await c.call('HGETALL', key)));
  else if (type === 'zset') body = pairs(text(await c.call('ZRANGE', key, '0', '-1', 'WITHSCORES')));
  else if (type === 'list') body = text(await c.call('LRANGE', key, '0', '-1')).join(',');
  else throw new Error(`unexpected type ${String(type)} for ${key}`);
  const pttl = await c.call('PTTL', key);
  return `${String(type)} ${body} ttl=${pttl !== -1}`;
}

test(`fsync always, mixed types: a SIGKILL loop loses no acknowledged write, compaction included (${MIXED_ROUNDS} rounds)`, { timeout: MIXED_ROUNDS * 60_000 }, async () => {
  const seed = testSeed(2121);
  const R = rng(seed);
  const streams = Array.from({ length: MIXED_CONNS }, (_, i) => rng(seed * 31 + i + 1));
  const dir = tempDir();
  const model = new Map<string, Entry>();
  const allKeys = MIXED_TYPES.flatMap((t) => Array.from({ length: MIXED_CONNS * MIXED_KEYS_PER_TYPE }, (_, j) => mixedKey(t, j % MIXED_CONNS, Math.floor(j / MIXED_CONNS))));
  let s: RunningProcess | undefined;
  let totalAcks = 0;
  let inFlightApplied = 0;
  let compactionsDone = 0;
  let killsDuringCompaction = 0;
  let pending = new Map<number, MixedOp>();
  /** Restart on `dir` and check it against the model: each in-flight command applied whole or not at all. */
  const restartAndCheck = async (where: string): Promise<RunningProcess> => {
    const p = await startKvServer({ dir, args: ['--fsync', 'always'] });
    const c = await RawConn.open(p.port);
    try {
      for (const [ci, op] of pending) {
        const got = await describeKey(c, op.key);
        const without = model.get(op.key);
        const { next: withOp } = applyMixed(without, op.args);
        if (got !== describeEntry(without)) {
          assert.equal(got, describeEntry(withOp), `${where}: in-flight ${op.args.join(' ')} on conn ${ci} half applied, or acknowledged state lost`);
          inFlightApplied++;
          if (withOp === undefined) model.delete(op.key);
          else model.set(op.key, withOp);
        }
      }
      for (const k of allKeys) assert.equal(await describeKey(c, k), describeEntry(model.get(k)), `${where}: ${k} after restart`);
      assert.equal(await c.call('DBSIZE'), model.size, `${where}: key count`);
    } catch (e) {
      await p.kill(); // not handed back: the caller cannot stop it
      throw e;
    } finally {
      c.close();
    }
    return p;
  };
  try {
    for (let round = 0; round < MIXED_ROUNDS; round++) {
      const where = `round ${round} seed ${seed}`;
      s = await restartAndCheck(where);
      const port = s.port;
      const killAtAcks = 200 + R.int(1500);
      // A third of the rounds compact at a seeded moment: half of those die while it runs.
      const compactAtAcks = R.int(3) === 0 ? R.int(killAtAcks) : -1;
      const killMidCompaction = R.int(2) === 0;
      let acks = 0;
      let stopped = false;
      pending = new Map<number, MixedOp>();
      const conns = await Promise.all(Array.from({ length: MIXED_CONNS + 1 }, () => RawConn.open(port)));
      const admin = conns[MIXED_CONNS] as RawConn;
      const workers = conns.slice(0, MIXED_CONNS).map(async (c, ci) => {
        const r = streams[ci] as ReturnType<typeof rng>;
        while (!stopped) {
          const op = mixedOp(r, ci);
          pending.set(ci, op);
          let reply;
          try {
            reply = await c.call(...op.args);
          } catch {
            return; // the server died with `op` in flight
          }
          const { next, reply: want } = applyMixed(model.get(op.key), op.args);
          assert.deepEqual(reply, want, `${where}: reply to ${op.args.join(' ')}`);
          if (next === undefined) model.delete(op.key);
          else model.set(op.key, next);
          pending.delete(ci);
          acks++;
        }
      });
      // A failed reply check stops the round at once instead of waiting for the ack count.
      const failed = new Promise<never>((_, reject) => {
        for (const w of workers) w.catch((e: unknown) => ((stopped = true), reject(e)));
      });
      failed.catch(() => {});
      const reach = (what: string, cond: () => boolean | Promise<boolean>): Promise<unknown> => Promise.race([failed, waitFor(`${where}: ${what}`, cond, { timeoutMs: 60_000, intervalMs: 2 })]);
      if (compactAtAcks >= 0) {
        await reach('compaction point', () => acks >= compactAtAcks);
        const before = Number((await info(port, 'persistence')).get('compactions'));
        // An automatic compaction may be running already: that one serves as well.
        assert.match(String(await admin.call('BGREWRITEAOF')), /^Background append only file rewriting started$|already in progress/);
        if (killMidCompaction) {
          if ((await info(port, 'persistence')).get('aof_rewrite_in_progress') === '1') killsDuringCompaction++;
        } else {
          await reach('compaction to finish', async () => Number((await info(port, 'persistence')).get('compactions')) > before);
          compactionsDone++;
        }
      }
      if (!(compactAtAcks >= 0 && killMidCompaction)) await reach(`${killAtAcks} acks`, () => acks >= killAtAcks);
      await s.kill('SIGKILL');
      s = undefined;
      stopped = true;
      await Promise.all(workers);
      for (const c of conns) c.close();
      totalAcks += acks;
    }
    s = await restartAndCheck(`final check, seed ${seed}`);
    process.stdout.write(`# mixed-type SIGKILL loop: ${MIXED_ROUNDS} rounds, ${totalAcks} acknowledged writes, ${inFlightApplied} in-flight writes found applied, ${compactionsDone} finished compactions, ${killsDuringCompaction} kills during a compaction, seed ${seed}\n`);
    assert.ok(totalAcks > MIXED_ROUNDS * 200, 'the workload made progress');
  } finally {
    await stopAndClean(s);
    rmSync(dir, { recursive: true, force: true });
  }
});
