// kv-cli follows the READONLY redirect a replica sends for a write, to the primary it names,
// in one-shot and REPL mode (real processes: one primary, one replica).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { KV_CLI_JS, startKvServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';

const run = promisify(execFile);
const procs: RunningProcess[] = [];
after(async () => {
  for (const p of procs) await stopAndClean(p);
});

async function cli(port: number, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [KV_CLI_JS, '-p', String(port), ...args]);
}

test('kv-cli follows READONLY from a replica to the primary (one-shot and REPL)', async () => {
  const primary = await startKvServer();
  procs.push(primary);
  const replica = await startKvServer({ args: ['--replica-of', `127.0.0.1:${primary.port}`] });
  procs.push(replica);
  await waitFor('replica linked', async () => (await cli(replica.port, 'info', 'replication')).stdout.includes('master_link_status:up'));

  const w = await cli(replica.port, 'set', 'redirected', 'yes');
  assert.equal(w.stdout, 'OK\n');
  assert.match(w.stderr, new RegExp(`Redirected \\(READONLY\\) to 127\\.0\\.0\\.1:${primary.port}`));
  assert.equal((await cli(primary.port, 'get', 'redirected')).stdout, 'yes\n');

  // Without a redirect (a read on the replica), nothing is printed on stderr.
  await waitFor('replicated', async () => (await cli(replica.port, 'get', 'redirected')).stdout === 'yes\n');
  assert.equal((await cli(replica.port, 'get', 'redirected')).stderr, '');

  // REPL: the write is redirected and the session stays on the primary afterwards.
  const child = spawn(process.execPath, [KV_CLI_JS, '-p', String(replica.port)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdin.end('set a 1\nincr a\n');
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0);
  assert.equal(out, 'OK\n2\n');
  assert.equal(err.split('Redirected').length - 1, 1, `one redirect only: ${err}`);
});
