// INFO: the sections and fields redis-cli, redis_exporter and Redis's own INFO tests read, in
// the format redis-server 7 prints them (checked side by side with a real redis-server), section
// selection (default / all / everything / names, unions without repeats), and counters that
// move with what the server does (hits, misses, error kinds, CPU, commands) and reset with
// CONFIG RESETSTAT.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKvServer, startRedisServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { parseInfo } from './helpers/info.js';
import { RawConn } from './helpers/server-conn.js';

/** Field -> the shape of its value, identical in redis-server 7.0 and kv-server. */
const FIELDS: ReadonlyArray<readonly [section: string, field: string, shape: RegExp]> = [
  ['server', 'redis_version', /^7\.0\.\d+$/],
  ['server', 'redis_mode', /^standalone$/],
  ['server', 'os', /\S/],
  ['server', 'arch_bits', /^(32|64)$/],
  ['server', 'multiplexing_api', /^(epoll|kqueue|evport|iocp)$/],
  ['server', 'process_id', /^[1-9]\d*$/],
  ['server', 'run_id', /^[0-9a-f]{40}$/],
  ['server', 'tcp_port', /^[1-9]\d*$/],
  ['server', 'server_time_usec', /^\d{16}$/],
  ['server', 'uptime_in_seconds', /^\d+$/],
  ['server', 'uptime_in_days', /^\d+$/],
  ['server', 'hz', /^[1-9]\d*$/],
  ['server', 'configured_hz', /^[1-9]\d*$/],
  ['server', 'executable', /\S/],
  ['server', 'config_file', /^.*$/],
  ['server', 'io_threads_active', /^0$/],
  ['clients', 'connected_clients', /^[1-9]\d*$/],
  ['clients', 'maxclients', /^\d+$/],
  ['clients', 'client_recent_max_input_buffer', /^\d+$/],
  ['clients', 'client_recent_max_output_buffer', /^\d+$/],
  ['clients', 'blocked_clients', /^\d+$/],
  ['memory', 'used_memory', /^\d+$/],
  ['memory', 'used_memory_human', /^\d+(\.\d\d[KMGT])?B?$/],
  ['memory', 'used_memory_rss', /^\d+$/],
  ['memory', 'used_memory_peak', /^\d+$/],
  ['memory', 'total_system_memory', /^\d+$/],
  ['memory', 'mem_fragmentation_ratio', /^\d+\.\d\d$/],
  ['memory', 'mem_allocator', /\S/],
  ['memory', 'maxmemory', /^\d+$/],
  ['memory', 'maxmemory_policy', /^[a-z-]+$/],
  ['persistence', 'loading', /^0$/],
  ['persistence', 'rdb_changes_since_last_save', /^\d+$/],
  ['persistence', 'rdb_bgsave_in_progress', /^0$/],
  ['persistence', 'aof_rewrite_in_progress', /^0$/],
  ['stats', 'total_connections_received', /^[1-9]\d*$/],
  ['stats', 'total_commands_processed', /^\d+$/],
  ['stats', 'instantaneous_ops_per_sec', /^\d+$/],
  ['stats', 'total_net_input_bytes', /^\d+$/],
  ['stats', 'total_net_output_bytes', /^\d+$/],
  ['stats', 'instantaneous_input_kbps', /^\d+\.\d\d$/],
  ['stats', 'instantaneous_output_kbps', /^\d+\.\d\d$/],
  ['stats', 'rejected_connections', /^\d+$/],
  ['stats', 'expired_keys', /^\d+$/],
  ['stats', 'evicted_keys', /^\d+$/],
  ['stats', 'keyspace_hits', /^\d+$/],
  ['stats', 'keyspace_misses', /^\d+$/],
  ['stats', 'total_error_replies', /^\d+$/],
  ['replication', 'role', /^master$/],
  ['replication', 'connected_slaves', /^\d+$/],
  ['replication', 'master_repl_offset', /^\d+$/],
  ['cpu', 'used_cpu_sys', /^\d+\.\d{6}$/],
  ['cpu', 'used_cpu_user', /^\d+\.\d{6}$/],
  ['cpu', 'used_cpu_sys_children', /^\d+\.\d{6}$/],
  ['cpu', 'used_cpu_user_children', /^\d+\.\d{6}$/],
];

const procs: RunningProcess[] = [];
const conns: RawConn[] = [];
after(async () => {
  for (const c of conns) c.close();
  for (const p of procs) await stopAndClean(p);
});

async function infoText(c: RawConn, ...sections: string[]): Promise<string> {
  const r = await c.call('INFO', ...sections);
  assert.equal(typeof r, 'string', `INFO ${sections.join(' ')}`);
  return r as string;
}

function headers(text: string): string[] {
  return text.split('\r\n').filter((l) => l.startsWith('# ')).map((l) => l.slice(2).toLowerCase());
}

test('INFO fields have the shapes redis-server 7 prints, in both servers', { timeout: 60_000 }, async () => {
  const redis = await startRedisServer();
  const kv = await startKvServer({ args: ['--fsync', 'no'] });
  procs.push(redis, kv);
  const [a, b] = [await RawConn.open(redis.port), await RawConn.open(kv.port)];
  conns.push(a, b);
  for (const [name, c] of [['redis-server', a], ['kv-server', b]] as const) {
    for (const section of new Set(FIELDS.map((f) => f[0]))) {
      const fields = parseInfo(await infoText(c, section));
      for (const [s, field, shape] of FIELDS) {
        if (s !== section) continue;
        const v = fields.get(field);
        assert.ok(v !== undefined, `${name}: INFO ${section} has ${field}`);
        assert.match(v, shape, `${name}: ${field}:${v}`);
      }
    }
  }
  // The default sections, in Redis's order (kv-ts has no modules section).
  const skip = new Set(['modules']);
  assert.deepEqual(headers(await infoText(b)), headers(await infoText(a)).filter((h) => !skip.has(h)));
});

test('INFO section selection: default, all, everything, names in any case, unions without repeats', { timeout: 60_000 }, async () => {
  const kv = await startKvServer({ args: ['--fsync', 'no'] });
  procs.push(kv);
  const c = await RawConn.open(kv.port);
  conns.push(c);
  await c.call('GET', 'x');
  const defaults = headers(await infoText(c));
  assert.deepEqual(defaults, ['server', 'clients', 'memory', 'persistence', 'stats', 'replication', 'cpu', 'errorstats', 'cluster', 'keyspace']);
  assert.deepEqual(headers(await infoText(c, 'default')), defaults);
  const all = headers(await infoText(c, 'all'));
  assert.deepEqual(all, ['server', 'clients', 'memory', 'persistence', 'stats', 'replication', 'cpu', 'commandstats', 'errorstats', 'latencystats', 'cluster', 'keyspace']);
  assert.deepEqual(headers(await infoText(c, 'everything')), all);
  assert.deepEqual(headers(await infoText(c, 'CPU')), ['cpu']);
  assert.deepEqual(headers(await infoText(c, 'cpu', 'all')), all);
  assert.deepEqual(headers(await infoText(c, 'cpu', 'default')), defaults);
  assert.deepEqual(headers(await infoText(c, 'keyspace', 'server', 'nosuch')), ['server', 'keyspace']);
  assert.match(await infoText(c, 'commandSTATS'), /cmdstat_get:calls=\d+,.*rejected_calls=0/);
});

test('INFO counters follow the server: keyspace hits and misses, error kinds, CPU, changes; CONFIG RESETSTAT clears them', { timeout: 60_000 }, async () => {
  const kv = await startKvServer({ args: ['--fsync', 'no'] });
  procs.push(kv);
  const c = await RawConn.open(kv.port);
  conns.push(c);
  const stats = async (): Promise<Map<string, string>> => parseInfo(await infoText(c, 'stats', 'errorstats', 'persistence', 'cpu'));
  const s0 = await stats();
  await c.call('SET', 'k', 'v');
  await c.call('GET', 'k'); // hit
  await c.call('GET', 'missing'); // miss
  await c.call('EXISTS', 'k', 'missing'); // hit, miss
  await c.call('INCR', 'n'); // a write: Redis counts no lookup
  await c.call('INCR', 'k'); // ERR not an integer
  await c.call('GETBIT', 'k', '-1'); // ERR bit offset
  await c.call('NOSUCHCOMMAND'); // ERR unknown command
  await c.call('GET'); // ERR arity
  const s1 = await stats();
  const delta = (f: string): number => Number(s1.get(f)) - Number(s0.get(f) ?? 0);
  assert.equal(delta('keyspace_hits'), 2);
  assert.equal(delta('keyspace_misses'), 2);
  assert.equal(delta('total_error_replies'), 4);
  assert.equal(s1.get('errorstat_ERR'), 'count=4');
  assert.equal(delta('rdb_changes_since_last_save'), 2, 'SET and the first INCR are the only writes');
  // Give the server work (pipelined PINGs): its CPU time must move.
  const pings = 20_000;
  c.send('PING\r\n'.repeat(pings));
  for (let i = 0; i < pings; i++) await c.readResp();
  const s3 = await stats();
  const cpu0 = Number(s0.get('used_cpu_user')) + Number(s0.get('used_cpu_sys'));
  const cpu1 = Number(s3.get('used_cpu_user')) + Number(s3.get('used_cpu_sys'));
  assert.ok(cpu1 > cpu0, `CPU time moves (${cpu0} -> ${cpu1})`);
  assert.equal(await c.call('CONFIG', 'RESETSTAT'), 'OK');
  const s2 = await stats();
  assert.equal(s2.get('keyspace_hits'), '0');
  assert.equal(s2.get('keyspace_misses'), '0');
  assert.equal(s2.get('errorstat_ERR'), undefined);
});
