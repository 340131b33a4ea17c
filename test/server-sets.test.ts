// Set and sorted-set commands on a real kv-server: their logged effects (SPOP's random pick,
// ZINCRBY's result, the *STORE replacements, keys emptied by a removal, expiries) go through the
// record codec and replay to the same state after SIGKILL + restart; and the bound on negative
// random counts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startKvServer, stopAndClean, tempDir, type RunningProcess } from './helpers/procs.js';
import { rng, testSeed } from './helpers/rng.js';
import { showReply } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';

const KEYS = ['s1', 's2', 'z1', 'z2', 'dst', 'zdst'];

test('set and sorted-set writes replay to the same state after SIGKILL and restart', async () => {
  const dir = tempDir();
  let s: RunningProcess | undefined = await startKvServer({ dir, args: ['--fsync', 'always'] });
  let s2: RunningProcess | undefined;
  try {
    const c = await RawConn.open(s.port);
    const r = rng(testSeed(31));
    for (let i = 0; i < 600; i++) {
      const m = `m${r.int(40)}`;
      const k = r.int(12);
      if (k === 0) await c.request('SADD', r.pick(['s1', 's2']), m, `m${r.int(40)}`);
      else if (k === 1) await c.request('SPOP', r.pick(['s1', 's2']), String(r.int(3)));
      else if (k === 2) await c.request('SREM', 's1', m);
      else if (k === 3) await c.request('SMOVE', 's1', 's2', m);
      else if (k === 4) await c.request('ZADD', r.pick(['z1', 'z2']), r.pick(['1', '-0', '2.5', 'inf', '0.1']), m);
      else if (k === 5) await c.request('ZINCRBY', r.pick(['z1', 'z2']), r.pick(['1', '-0.5', '0.1']), m);
      else if (k === 6) await c.request('ZPOPMIN', r.pick(['z1', 'z2']), String(r.int(3)));
      else if (k === 7) await c.request('ZUNIONSTORE', 'zdst', '2', 'z1', 'z2', 'WEIGHTS', '2', '-1');
      else if (k === 8) await c.request('SINTERSTORE', 'dst', 's1', 's2');
      else if (k === 9) await c.request('ZRANGESTORE', 'zdst', 'z1', '0', '-1', 'REV');
      else if (k === 10) await c.request('ZREMRANGEBYSCORE', 'z2', '(0', '2');
      else await c.request('EXPIRE', r.pick(KEYS), '1000');
    }
    const before = await dumpSorted(c);
    c.close();
    await s.kill('SIGKILL');
    s = undefined;
    s2 = await startKvServer({ dir, args: ['--fsync', 'always'] });
    const c2 = await RawConn.open(s2.port);
    assert.equal(await dumpSorted(c2), before);
    c2.close();
  } finally {
    await stopAndClean(s);
    await stopAndClean(s2);
  }
});

/** Sets as sorted member lists (their order is the table's), sorted sets with scores, TTL class. */
async function dumpSorted(c: RawConn): Promise<string> {
  const parts: string[] = [];
  for (const key of KEYS) {
    const type = showReply(await c.request('TYPE', key));
    const ttl = showReply(await c.request('TTL', key)) === ':-1' ? 'persistent' : 'expiring';
    let body = '';
    if (type === '+set') {
      const v = await c.request('SMEMBERS', key);
      body = v.t === 'array' && v.a !== null ? v.a.map(showReply).sort().join(',') : showReply(v);
    } else if (type === '+zset') {
      body = showReply(await c.request('ZRANGE', key, '0', '-1', 'WITHSCORES'));
    }
    parts.push(`${key} ${type} ${ttl} ${body}`);
  }
  return parts.join('\n');
}

test('negative random counts beyond the reply bound are refused, not built', async () => {
  const s = await startKvServer({ args: ['--fsync', 'no'] });
  try {
    const c = await RawConn.open(s.port);
    await c.request('SADD', 's', 'a');
    await c.request('ZADD', 'z', '1', 'a');
    assert.equal(showReply(await c.request('SRANDMEMBER', 's', '-100000000')), '-ERR value is out of range');
    assert.equal(showReply(await c.request('ZRANDMEMBER', 'z', '-100000000')), '-ERR value is out of range');
    assert.equal(showReply(await c.request('SRANDMEMBER', 's', '-3')), '["a", "a", "a"]');
    c.close();
  } finally {
    await stopAndClean(s);
  }
});
