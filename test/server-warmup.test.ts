// The start-up warm-up (src/server/warmup.ts, kv-server --warmup): it drives the request path on a
// scratch store in a temp directory that is gone afterwards, never writes into the real data
// directory or its log, and a server that warmed up starts and serves normally.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { warmUp, WARMUP_DIR_PREFIX, WARMUP_MS_MAX } from '../src/server/warmup.js';
import { callOnce, replyText } from './helpers/call.js';
import { startKvServer, tempDirsRemovedAfter, type RunningProcess } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';

const dirs = tempDirsRemovedAfter('kvts-warmup-test-');
const procs: RunningProcess[] = [];
after(async () => {
  for (const p of procs) await p.kill();
});

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

test('warmUp: runs requests through a scratch server and removes its directory', async () => {
  const tmp = dirs();
  const saved = process.env['TMPDIR'];
  process.env['TMPDIR'] = tmp; // os.tmpdir() reads it per call: the scratch dir lands here
  try {
    const w = await warmUp('everysec');
    assert.ok(w.requests > 100, `only ${w.requests} warm-up requests`);
    // The request budget is cut at WARMUP_MS_MAX; the scratch server's start and close come on top.
    assert.ok(w.ms < WARMUP_MS_MAX + 10_000, `warm-up took ${w.ms} ms`);
  } finally {
    if (saved === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = saved;
  }
  assert.deepEqual(readdirSync(tmp), [], 'the scratch directory is removed');
});

test('kv-server with warm-up: serves, its data directory and log hold none of the warm-up keys', async () => {
  const tmp = dirs();
  const dir = dirs();
  const p = await startKvServer({ dir, args: ['--warmup', 'yes', '--log-level', 'info'], env: { TMPDIR: tmp } });
  procs.push(p);
  await waitFor('the warm-up log line', () => /warm-up: \d+ requests/.test(p.output()));
  const size = await callOnce(p.port, ['DBSIZE']);
  assert.ok(size.ok && size.reply.type === 'integer' && size.reply.value === 0n, 'no warm-up key is visible');
  const set = await callOnce(p.port, ['SET', 'k', 'v']);
  assert.ok(set.ok && replyText(set.reply) === 'OK');
  const get = await callOnce(p.port, ['GET', 'k']);
  assert.ok(get.ok && replyText(get.reply) === 'v');
  await p.kill('SIGTERM');
  for (const f of filesUnder(dir)) assert.ok(!readFileSync(f).includes('warmup:'), `${f} holds a warm-up key`);
  assert.ok(filesUnder(dir).length > 0, 'the real log was written');
  assert.deepEqual(readdirSync(tmp).filter((n) => n.startsWith(WARMUP_DIR_PREFIX)), [], 'no scratch directory is left');
  // The data directory reopens with exactly the client's key (no warm-up: the default).
  const again = await startKvServer({ dir, args: ['--log-level', 'info'] });
  procs.push(again);
  const size2 = await callOnce(again.port, ['DBSIZE']);
  assert.ok(size2.ok && size2.reply.type === 'integer' && size2.reply.value === 1n);
  assert.doesNotMatch(again.output(), /warm-up/);
  await again.kill('SIGTERM');
});

test('kv-server --warmup: a value other than yes or no is a usage error', async () => {
  const p = await startKvServer({ dir: dirs(), args: ['--warmup', 'maybe'], waitReady: false });
  procs.push(p);
  assert.equal(await p.exited(), 2);
  assert.match(p.output(), /--warmup: expected yes or no/);
});
