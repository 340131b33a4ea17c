// kv-cli on KvClient against a primary + replica (real processes): seeded with the replica it
// discovers the primary and writes there, in one-shot and REPL mode; --seeds skips dead seeds.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort, KV_CLI_JS, startKvServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';

const run = promisify(execFile);
const procs: RunningProcess[] = [];
after(async () => {
  for (const p of procs) await stopAndClean(p);
});

async function cli(port: number, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [KV_CLI_JS, '-p', String(port), ...args]);
}

/** A primary and a replica linked to it (the replica says so through kv-cli). */
async function primaryAndReplica(): Promise<{ primary: RunningProcess; replica: RunningProcess }> {
  const primary = await startKvServer();
  procs.push(primary);
  const replica = await startKvServer({ args: ['--replica-of', `127.0.0.1:${primary.port}`] });
  procs.push(replica);
  await waitFor('replica linked', async () => (await cli(replica.port, 'info', 'replication')).stdout.includes('master_link_status:up'));
  return { primary, replica };
}

test('kv-cli seeded with a replica sends writes to the primary (one-shot and REPL); node-local commands stay on the replica', async () => {
  const { primary, replica } = await primaryAndReplica();

  // Discovery (ROLE on the replica names the primary) sends the write where it can run.
  const w = await cli(replica.port, 'set', 'redirected', 'yes');
  assert.equal(w.stdout, 'OK\n');
  assert.equal(w.stderr, '');
  assert.equal((await cli(primary.port, 'get', 'redirected')).stdout, 'yes\n');

  // INFO describes the node you named, not the primary.
  assert.match((await cli(replica.port, 'info', 'replication')).stdout, /role:slave/);
  // A user made through the replica is made on the primary (the user table is replicated); ACL's
  // reads stay on the node named.
  assert.equal((await cli(replica.port, 'acl', 'setuser', 'cli-user', 'on', '>pw', '+get')).stdout, 'OK\n');
  assert.match((await cli(primary.port, 'acl', 'list')).stdout, /user cli-user on/);
  await waitFor('the user reached the replica', async () => (await cli(replica.port, 'acl', 'users')).stdout.includes('cli-user'));
  // Reads from the replica itself on request.
  await waitFor('replicated', async () => (await cli(replica.port, '--read-from', 'replica', 'get', 'redirected')).stdout === 'yes\n');

  // REPL: writes and reads keep going to the primary.
  const child = spawn(process.execPath, [KV_CLI_JS, '-p', String(replica.port)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdin.end('set a 1\nincr a\nget a\n');
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, err);
  assert.equal(out, 'OK\n2\n2\n');
});

test('kv-cli --seeds: a replica seed still writes; a dead seed is skipped', async () => {
  const { primary, replica } = await primaryAndReplica();
  const dead = await freePort();
  const r = await run(process.execPath, [KV_CLI_JS, '--seeds', `127.0.0.1:${dead},127.0.0.1:${replica.port}`, 'incr', 'seeded']);
  assert.equal(r.stdout, '1\n');
  assert.equal((await cli(primary.port, 'get', 'seeded')).stdout, '1\n');
  const bad = await run(process.execPath, [KV_CLI_JS, '--seeds', 'nonsense', 'ping']).catch((e: { code: number; stderr: string }) => e);
  assert.equal((bad as { code: number }).code, 2);
  assert.match((bad as { stderr: string }).stderr, /^Invalid --seeds: 'nonsense'/);
});
