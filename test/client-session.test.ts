// KvClient in session mode against a real 3-node cluster. Property test: random writes and
// reads through one session client reading from every member while the primary's replication
// stream to one replica at a time is held back (a slow link, via the proxies): every read sees
// the client's own latest write, and reads of another writer's keys never go backwards. Then a
// failover that discards one of the session's acknowledged async writes: reads fail with
// SessionLostError (never older data) until resetSession().
// Default 10 000 operations; KV_LONG=1 runs 30 000. KV_SEED replays a schedule.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { KvClient, ReadOnlyError, SessionLostError, TryAgainError } from '../src/client/index.js';
import { Cluster } from './helpers/cluster.js';
import { info } from './helpers/info.js';
import { ErrorCounts } from './helpers/client-workload.js';
import { isReplicationLink } from './helpers/proxy.js';
import { rng as makeRng, testSeed } from './helpers/rng.js';
import { waitFor } from './helpers/wait.js';

const LONG = process.env['KV_LONG'] === '1';
const SESSION_OPS = LONG ? 30_000 : 10_000;
/** Keys the session client writes itself, and keys a background writer counts up. */
const OWN_KEYS = 40;
const BG_KEYS = 10;
/**
 * A hold on the primary → replica stream lasts up to this: far beyond the server's 100 ms
 * session wait (so reads there time out into TOOSTALE and fall back to the primary) but below
 * the 500 ms minimum election timeout, so the held replica does not start elections.
 */
const HOLD_MS_MAX = 400;
const CALM_MS_MAX = 150;


test(`session property: ${SESSION_OPS} random ops over all members with lagged replicas: read-your-writes, monotonic reads`, { timeout: LONG ? 600_000 : 240_000 }, async () => {
  const seed = testSeed(6101);
  const r = makeRng(seed);
  // Its own stream, so the lag schedule's timing cannot shift the operation sequence.
  const lagRng = makeRng(seed + 1);
  const cluster = await Cluster.start({ nodes: 3, proxies: true });
  const clients: KvClient[] = [];
  let stopping = false;
  const background: Promise<void>[] = [];
  try {
    const p = await cluster.waitForPrimary();
    const replicas = cluster.nodes.filter((n) => n.id !== p).map((n) => n.id);
    // A primary accepts writes once one replica holds them (a majority); the client's first
    // topology comes from the primary, so wait until it lists both.
    await waitFor('both replicas linked to the primary', async () => (await info(cluster.node(p).port)).get('connected_slaves') === '2', { timeoutMs: 15_000, intervalMs: 50 });
    const seeds = [cluster.node(p).address];
    const kv = await KvClient.connect({ seeds, consistency: 'session', readFrom: 'any', timeoutMs: 10_000, commandTimeoutMs: 2_000 });
    clients.push(kv);
    const bgClient = await KvClient.connect({ seeds, consistency: 'eventual', timeoutMs: 10_000 });
    clients.push(bgClient);
    assert.equal(kv.topology()?.primary, cluster.node(p).address);
    assert.equal(kv.topology()?.replicas.length, 2, 'the client knows both replicas');

    // Another writer counts keys up, so "never backwards" is tested against someone else's writes.
    const bgCount = new Array<number>(BG_KEYS).fill(0);
    background.push(
      (async () => {
        for (let i = 0; !stopping; i++) {
          const k = i % BG_KEYS;
          try {
            await bgClient.set(`bg:${k}`, String((bgCount[k] as number) + 1));
            bgCount[k] = (bgCount[k] as number) + 1;
          } catch {
            // A failed background write only means fewer versions; the session checks do not depend on it.
          }
        }
      })(),
    );
    // The fault schedule: hold the primary's replication stream to one replica, release, repeat.
    let holds = 0;
    background.push(
      (async () => {
        while (!stopping) {
          const px = cluster.proxy(p, lagRng.pick(replicas));
          px.hold('toTarget', isReplicationLink);
          holds++;
          await delay(50 + lagRng.int(HOLD_MS_MAX - 50));
          px.release();
          await delay(lagRng.int(CALM_MS_MAX));
        }
      })(),
    );

    /** Own keys: the values a read may return (exactly one unless a write failed). */
    const own = new Map<string, Set<string>>();
    const lastBg = new Array<number>(BG_KEYS).fill(0);
    const errors = new ErrorCounts();
    const violations: string[] = [];
    let reads = 0;
    let writes = 0;
    for (let i = 0; i < SESSION_OPS && violations.length === 0; i++) {
      const x = r.next();
      if (x < 0.4) {
        const key = `own:${r.int(OWN_KEYS)}`;
        const value = `v${i}`;
        try {
          assert.equal(await kv.set(key, value), 'OK');
          own.set(key, new Set([value]));
          writes++;
        } catch (e) {
          errors.add(e);
          // Not known to have happened or not: either value may be read until the next write.
          own.set(key, new Set([...(own.get(key) ?? ['<absent>']), value]));
        }
      } else if (x < 0.8) {
        const key = `own:${r.int(OWN_KEYS)}`;
        try {
          const got = (await kv.get(key)) ?? '<absent>';
          reads++;
          const allowed = own.get(key) ?? new Set(['<absent>']);
          if (!allowed.has(got)) violations.push(`op ${i}: ${key} read ${got}, own latest write ${[...allowed].join('|')} (token ${String(kv.sessionToken())})`);
          // Once observed, an uncertain key is settled: later reads must not go back.
          own.set(key, new Set([got]));
        } catch (e) {
          errors.add(e);
        }
      } else {
        const k = r.int(BG_KEYS);
        try {
          const got = Number((await kv.get(`bg:${k}`)) ?? '0');
          reads++;
          if (got < (lastBg[k] as number)) violations.push(`op ${i}: bg:${k} went back from ${lastBg[k] as number} to ${got} (token ${String(kv.sessionToken())})`);
          lastBg[k] = Math.max(lastBg[k] as number, got);
        } catch (e) {
          errors.add(e);
        }
      }
    }
    stopping = true;
    await Promise.all(background);
    for (const id of replicas) cluster.proxy(p, id).release();

    let waits = 0;
    let timedOut = 0;
    for (const id of replicas) {
      const inf = await info(cluster.node(id).port);
      waits += Number(inf.get('kv_session_waits') ?? '0');
      timedOut += Number(inf.get('kv_session_waits_timed_out') ?? '0');
    }
    const held = replicas.reduce((s, id) => s + cluster.proxy(p, id).stats.bytesHeld, 0);
    const summary = `seed ${seed}: ${writes} writes, ${reads} reads, errors: ${errors}; ${holds} holds (${held} bytes held back); replicas waited for the token ${waits} times, ${timedOut} timed out (TOOSTALE → primary)`;
    process.stdout.write(`# ${summary}\n`);
    assert.deepEqual(violations, [], `session guarantees violated\n${summary}\nreplay: KV_SEED=${seed}`);
    assert.deepEqual(errors.untyped(), [], summary);
    // The test exercised what it claims: replicas really lagged and reads there had to wait or fall back.
    assert.ok(reads > SESSION_OPS / 2 && writes > SESSION_OPS / 5, summary);
    assert.ok(held > 0 && waits > 0 && timedOut > 0, `lag was not exercised\n${summary}`);
    assert.equal(errors.total, 0, `no failover ran, so no read or write should fail\n${summary}`);
  } catch (e) {
    cluster.printLogs();
    throw e;
  } finally {
    stopping = true;
    await Promise.allSettled(background);
    for (const c of clients) await c.close();
    await cluster.stop();
  }
});

test('session reads through a primary SIGKILL: own latest write or a typed error (SessionLostError if a write was lost), never older data', { timeout: 90_000 }, async () => {
  const seed = testSeed(6102);
  const r = makeRng(seed);
  const cluster = await Cluster.start({ nodes: 3, proxies: false });
  let kv: KvClient | null = null;
  try {
    await cluster.waitForPrimary();
    kv = await KvClient.connect({ seeds: cluster.nodes.map((n) => n.address), consistency: 'session', readFrom: 'any', timeoutMs: 10_000, commandTimeoutMs: 1_000 });
    const own = new Map<string, Set<string>>();
    const errors = new ErrorCounts();
    const violations: string[] = [];
    let lostSessions = 0;
    let victim = '';
    let opsAfterKill = 0;
    for (let i = 0; opsAfterKill < 1_000 && violations.length === 0; i++) {
      if (i === 1_000) {
        victim = (await cluster.primary()) ?? '';
        await cluster.kill(victim);
      }
      if (victim !== '') opsAfterKill++;
      const key = `own:${r.int(OWN_KEYS)}`;
      if (r.next() < 0.5) {
        const value = `v${i}`;
        try {
          assert.equal(await kv.set(key, value), 'OK');
          own.set(key, new Set([value]));
        } catch (e) {
          errors.add(e);
          own.set(key, new Set([...(own.get(key) ?? ['<absent>']), value]));
        }
        continue;
      }
      try {
        const got = (await kv.get(key)) ?? '<absent>';
        const allowed = own.get(key);
        if (allowed !== undefined && !allowed.has(got)) violations.push(`op ${i}: ${key} read ${got}, own latest write ${[...allowed].join('|')}`);
        own.set(key, new Set([got]));
      } catch (e) {
        errors.add(e);
        if (e instanceof SessionLostError) {
          // The failover lost one of our acknowledged writes and the client said so. Accept the
          // loss: from here on the model is whatever the cluster now holds.
          lostSessions++;
          kv.resetSession();
          own.clear();
        }
      }
    }
    const summary = `seed ${seed}: killed ${victim}; errors: ${errors}; sessions lost and reset: ${lostSessions}`;
    process.stdout.write(`# ${summary}\n`);
    assert.deepEqual(violations, [], `read-your-writes violated across the failover\n${summary}`);
    assert.deepEqual(errors.untyped(), [], summary);
    assert.ok(victim !== '' && opsAfterKill >= 1_000, summary);
  } catch (e) {
    cluster.printLogs();
    throw e;
  } finally {
    await kv?.close();
    await cluster.stop();
  }
});

test('a failover discards a session write: reads throw SessionLostError until resetSession()', { timeout: 120_000 }, async () => {
  // Election timeouts of 1-2 s (default 0.5-1 s) widen the window the isolated primary still accepts writes in.
  const cluster = await Cluster.start({ nodes: 3, proxies: true, args: ['--election-timeout-ms', '1000'] });
  const clients: KvClient[] = [];
  try {
    const p0 = await cluster.waitForPrimary();
    // Seeded with the primary's own address: the client reaches it directly, not through the
    // proxies that the partition below cuts, so it can write to it while it is isolated.
    const kv = await KvClient.connect({ seeds: [cluster.node(p0).address], consistency: 'session', readFrom: 'primary', timeoutMs: 10_000, commandTimeoutMs: 2_000 });
    clients.push(kv);
    assert.equal(await kv.set('base', 'b'), 'OK');
    await cluster.waitConverged();
    assert.equal(await kv.get('base'), 'b');

    // Cut the primary off from its peers. It still acknowledges async writes until check-quorum
    // notices (one election timeout, 1 s here): a write acknowledged meanwhile can never replicate.
    // A stalled machine can let check-quorum win that race: the isolated node then refuses the write
    // (READONLY, it knows no primary) or the client finds the next primary and writes there (the
    // session token shows its epoch). Nothing is lost either way; the next attempt isolates that primary.
    let lost: { key: string; token: string; p: string; discardedBefore: number } | null = null;
    for (let attempt = 1; lost === null; attempt++) {
      assert.ok(attempt <= 3, 'in 3 attempts, the isolated primary always stepped down before the write reached it');
      const p = await cluster.waitForPrimary();
      await cluster.waitConverged();
      const pInfo = await info(cluster.node(p).port);
      const epoch = Number(pInfo.get('kv_epoch'));
      const discardedBefore = Number(pInfo.get('kv_discarded_writes') ?? '0');
      const before = kv.sessionToken();
      cluster.isolate(p);
      const key = `orphan${attempt}`;
      let token: string | null = null;
      let refused = '';
      try {
        assert.equal(await kv.set(key, 'o'), 'OK');
        token = kv.sessionToken();
        assert.ok(token !== null && token !== before);
      } catch (e) {
        if (!(e instanceof ReadOnlyError || e instanceof TryAgainError)) throw e;
        refused = e.message;
      }
      const q = await cluster.waitForPrimary(20_000, [p]);
      cluster.heal();
      if (token !== null && Number(token.split(':')[0]) === epoch) lost = { key, token, p, discardedBefore };
      else process.stdout.write(`# attempt ${attempt}: ${p} stepped down before ${key} reached it (${token === null ? refused : `${q} took it at ${token}`}); again\n`);
    }
    const { key: orphan, token: lostToken, p, discardedBefore } = lost;
    // The old primary rejoins the new one and discards its diverged suffix (the orphan write).
    await waitFor('old primary discarded its suffix', async () => Number((await info(cluster.node(p).port)).get('kv_discarded_writes') ?? '0') > discardedBefore, { timeoutMs: 20_000 });
    await cluster.waitConverged();

    // Every read now refuses, wherever it goes, rather than return data older than the session's own write.
    await assert.rejects(kv.get('base'), (e: unknown) => e instanceof SessionLostError && e.token === lostToken);
    await assert.rejects(kv.get(orphan), SessionLostError);
    // The application accepts the loss: a fresh session reads the cluster as it is.
    kv.resetSession();
    assert.equal(kv.sessionToken(), null);
    assert.equal(await kv.get('base'), 'b');
    assert.equal(await kv.get(orphan), null);
    assert.equal(await kv.set('after', 'a'), 'OK');
    assert.equal(await kv.get('after'), 'a');
    assert.equal(kv.topology()?.primary !== undefined, true);
    process.stdout.write(`# lost token ${lostToken} (${p}); token after reset ${String(kv.sessionToken())}\n`);
  } catch (e) {
    cluster.printLogs();
    throw e;
  } finally {
    for (const c of clients) await c.close();
    await cluster.stop();
  }
});
