// `npm start` (dist/src/cli/start-cluster.js) end to end: three members come up, a primary is
// elected and printed, the client writes and reads through the printed seeds, and Ctrl-C
// (SIGINT) stops every member cleanly. Ports and data dir are moved with KV_START_PORT/KV_START_DIR.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { KvClient } from '../src/client/index.js';
import { lowPorts, REPO_ROOT, tempDir } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';

test('npm start: a 3-node cluster elects a primary, serves the client, stops cleanly on SIGINT', async () => {
  const [port] = (await lowPorts(3, true)) as [number];
  const dir = tempDir('kvts-start-');
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli', 'start-cluster.js')], {
    env: { ...process.env, KV_START_PORT: String(port), KV_START_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    // The probe throws while the primary is not printed, so a timeout reports what npm start said.
    await waitFor(
      'primary printed',
      () => {
        if (/^primary: n\d at 127\.0\.0\.1:\d+/m.test(out)) return true;
        throw new Error(`npm start printed so far:\n${out}`);
      },
      { timeoutMs: 30_000 },
    );
    const seeds = /--seeds (\S+)/.exec(out)?.[1];
    assert.ok(seeds !== undefined, out);
    assert.deepEqual(seeds.split(','), [0, 1, 2].map((i) => `127.0.0.1:${port + i}`));
    const kv = await KvClient.connect({ seeds: seeds.split(','), consistency: 'quorum' });
    try {
      assert.equal(await kv.set('started', 'yes'), 'OK');
      assert.equal(await kv.get('started'), 'yes');
      assert.equal(kv.topology()?.members.length, 3);
    } finally {
      await kv.close();
    }
    child.kill('SIGINT');
    assert.equal(await exited, 0, out);
    assert.match(out, /all members stopped cleanly/);
  } finally {
    // SIGTERM makes start-cluster stop its members (they run in their own process groups, so
    // only it can); SIGKILL only if it does not exit.
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
