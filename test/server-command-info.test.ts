// COMMAND INFO and COMMAND GETKEYS / GETKEYSANDFLAGS (server/commands/admin.ts, key-specs.ts)
// against a real redis-server: every command both servers have, in RESP2 and RESP3, field by
// field (name, arity, flags with `movablekeys`, the legacy key triple, ACL categories, key specs,
// subcommands);
// the differences kv-ts keeps on purpose are listed here with their reason and must be exactly
// those. Then the keys (and their flags) of command lines with numkeys arguments, variable flags
// and subcommands, and GETKEYS's errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverPairPerFile } from './helpers/procs.js';
import { showReply, type Resp } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';

const servers = serverPairPerFile();

const FIELDS = ['name', 'arity', 'flags', 'first', 'last', 'step', 'acl', 'tips', 'keyspecs', 'subcommands'] as const;

/**
 * Fields kv-ts reports differently on purpose, as `command field`. Command tips are not compared
 * (kv-ts gives none; see docs/compatibility.md).
 */
const KNOWN_DIFFERENCES: Readonly<Record<string, string>> = {
  // DEBUG has subcommands in kv-ts (DIGEST, SLEEP...), so it is reported as a container.
  'debug flags': 'a container in kv-ts',
  'debug subcommands': 'a container in kv-ts',
  'debug acl': 'a container in kv-ts',
  // kv-ts containers have no flags of their own; Redis gives COMMAND loading and stale.
  'command flags': 'containers have no flags in kv-ts',
  'command acl': 'containers are @slow only in kv-ts',
  // PING answers while loading and on a stale replica: kv-ts's replicas serve health checks.
  'ping flags': 'PING is allowed while loading and stale',
  // kv-ts has no async loading (replicas load the log, not an RDB over the link).
  'bgrewriteaof flags': 'no no_async_loading flag',
  'save flags': 'no no_async_loading flag',
  'bgsave flags': 'no no_async_loading flag',
  'replicaof flags': 'no no_async_loading flag',
  'slaveof flags': 'no no_async_loading flag',
  // Subcommands carry their container's flags and arity rules in kv-ts; Redis gives each its own.
  'object subcommands': 'subcommands share their container flags',
  'memory subcommands': 'subcommands share their container flags',
  'client subcommands': 'subcommands share their container flags',
  'command subcommands': 'subcommands share their container flags',
  'config subcommands': 'subcommands share their container flags',
  'pubsub subcommands': 'subcommands share their container flags',
  'slowlog subcommands': 'subcommands share their container flags',
  'latency subcommands': 'subcommands share their container flags',
  'acl subcommands': 'subcommands share their container flags (ACL WHOAMI, CAT, GENPASS, HELP are @admin too)',
  'script subcommands': 'subcommands share their container flags',
  // One kv-ts cluster is one Redis Cluster shard: no slot assignment, resharding or bus subcommands.
  'cluster subcommands': 'the read-only subcommands of one shard (SLOTS SHARDS NODES INFO MYID KEYSLOT COUNTKEYSINSLOT GETKEYSINSLOT HELP)',
  'function subcommands': 'subcommands share their container flags',
  'xgroup subcommands': 'subcommands share their container flags',
  'xinfo subcommands': 'subcommands share their container flags',
  // A readonly command is @read in kv-ts's derivation; Redis lists EVAL_RO under @scripting only.
  'eval_ro acl': 'readonly implies @read',
  'evalsha_ro acl': 'readonly implies @read',
  'fcall_ro acl': 'readonly implies @read',
};

const COMPARED = new Set(['name', 'arity', 'flags', 'first', 'last', 'step', 'acl', 'keyspecs', 'subcommands']);

/** One COMMAND INFO entry's fields as shown text; subcommands sorted by name (Redis's are in hash order). */
function fieldsOf(entry: Resp): Map<string, string> {
  assert.ok(entry.t === 'array' && entry.a !== null, `an entry, not ${showReply(entry)}`);
  const out = new Map<string, string>();
  entry.a.forEach((v, i) => {
    const name = FIELDS[i] as string;
    if (name === 'subcommands' && (v.t === 'array' || v.t === 'set') && v.a !== null) {
      out.set(name, v.a.map((s) => showReply(s)).sort().join('\n'));
    } else out.set(name, showReply(v));
  });
  return out;
}

async function namesOf(c: RawConn): Promise<string[]> {
  const r = await c.call('COMMAND', 'LIST');
  assert.ok(Array.isArray(r));
  return r.map((n) => String(n)).filter((n) => !n.includes('|'));
}

for (const protocol of ['2', '3']) {
  test(`COMMAND INFO of every command both servers have agrees with Redis (RESP${protocol}), but for the listed differences`, async () => {
    const kv = await RawConn.open(servers.kvPort());
    const redis = await RawConn.open(servers.redisPort());
    try {
      for (const c of [kv, redis]) await c.request('HELLO', protocol);
      const redisNames = new Set(await namesOf(redis));
      const shared = (await namesOf(kv)).filter((n) => redisNames.has(n));
      assert.ok(shared.length > 150, `${shared.length} shared commands`);
      const found: string[] = [];
      const details: string[] = [];
      for (const name of shared) {
        const [a, b] = await Promise.all([kv.request('COMMAND', 'INFO', name), redis.request('COMMAND', 'INFO', name)]);
        assert.ok(a.t === 'array' && b.t === 'array' && a.a !== null && b.a !== null);
        const fa = fieldsOf(a.a[0] as Resp);
        const fb = fieldsOf(b.a[0] as Resp);
        for (const f of COMPARED) {
          if (fa.get(f) === fb.get(f)) continue;
          found.push(`${name} ${f}`);
          if (KNOWN_DIFFERENCES[`${name} ${f}`] === undefined) details.push(`${name} ${f}: kv ${fa.get(f)} / redis ${fb.get(f)}`);
        }
      }
      assert.deepEqual(details, [], 'differences not listed');
      assert.deepEqual(found.sort(), Object.keys(KNOWN_DIFFERENCES).sort(), 'every listed difference still holds');
    } finally {
      kv.close();
      redis.close();
    }
  });
}

/** Command lines GETKEYS and GETKEYSANDFLAGS must answer as Redis does (keys, flags or error). */
const GETKEYS_LINES: readonly string[][] = [
  ['get', 'k'],
  ['set', 'k1', 'v1'],
  ['set', 'k1', 'v1', 'GET'],
  ['set', 'k1', 'v1', 'EX', '10', 'get'],
  ['mset', 'k1', 'v1', 'k2', 'v2'],
  ['lmove', 'k1', 'k2', 'left', 'right'],
  ['bitfield', 'k', 'GET', 'u8', '0'],
  ['bitfield', 'k', 'GET', 'u8', '0', 'INCRBY', 'u8', '0', '1'],
  ['bitfield_ro', 'k', 'GET', 'u8', '0'],
  ['bitop', 'and', 'dest', 'a', 'b', 'c'],
  ['zunionstore', 'dst', '3', 'a', 'b', 'c', 'WEIGHTS', '1', '2', '3'],
  ['zinterstore', 'dst', '1', 'a'],
  ['zdiffstore', 'dst', '2', 'a', 'b'],
  ['zunion', '2', 'a', 'b', 'WITHSCORES'],
  ['zintercard', '2', 'a', 'b', 'LIMIT', '1'],
  ['sintercard', '3', 'a', 'b', 'c'],
  ['lmpop', '2', 'a', 'b', 'LEFT', 'COUNT', '2'],
  ['blmpop', '0', '2', 'a', 'b', 'RIGHT'],
  ['zmpop', '1', 'a', 'MIN'],
  ['bzmpop', '1.5', '3', 'a', 'b', 'c', 'MAX'],
  ['blpop', 'a', 'b', '0'],
  ['rename', 'a', 'b'],
  ['smove', 'a', 'b', 'm'],
  ['sunionstore', 'd', 'a', 'b'],
  ['lcs', 'key1', 'key2'],
  ['memory', 'usage', 'key'],
  ['object', 'encoding', 'key'],
  ['watch', 'a', 'b'],
  ['spublish', 'ch', 'msg'],
  // Errors: a numkeys that is not a positive count or is more than the arguments, no keys at all,
  // an unknown command or subcommand, a wrong count of arguments.
  ['zunionstore', 'dst', '0', 'a'],
  ['zunionstore', 'dst', '3', 'a', 'b'],
  ['lmpop', 'x', 'a', 'LEFT'],
  ['ping'],
  ['nosuchcommand', 'a'],
  ['memory', 'nosuch', 'key'],
  ['memory', 'help'],
  ['get', 'a', 'b'],
];

test('COMMAND GETKEYS and GETKEYSANDFLAGS agree with Redis, numkeys commands and variable flags included', async () => {
  const kv = await RawConn.open(servers.kvPort());
  const redis = await RawConn.open(servers.redisPort());
  try {
    for (const protocol of ['2', '3']) {
      for (const c of [kv, redis]) await c.request('HELLO', protocol);
      for (const line of GETKEYS_LINES) {
        for (const sub of ['GETKEYS', 'GETKEYSANDFLAGS']) {
          const argv = ['COMMAND', sub, ...line];
          const [a, b] = await Promise.all([kv.request(...argv), redis.request(...argv)]);
          assert.equal(showReply(a), showReply(b), `RESP${protocol} ${argv.join(' ')}`);
        }
      }
    }
    // More keys than any fixed buffer: all of them, in order.
    const many = Array.from({ length: 260 }, (_, i) => `key${i + 1}`);
    assert.deepEqual(await kv.call('COMMAND', 'GETKEYS', 'ZUNIONSTORE', 'target', String(many.length), ...many), ['target', ...many].map((k) => Buffer.from(k)));
  } finally {
    kv.close();
    redis.close();
  }
});
