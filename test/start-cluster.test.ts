// `npm start` (dist/src/cli/start-cluster.js) end to end: three members come up, a primary is
// elected and printed, the client writes and reads through the printed seeds, and Ctrl-C
// (SIGINT) stops every member cleanly; started again with --nodes 5 over that data, the cluster
// grows to five voters. Ports and data dir are moved with KV_START_PORT/KV_START_DIR.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { KvClient } from '../src/client/index.js';
import { lowPorts, REPO_ROOT, tempDir } from './helpers/procs.js';
import { callOnce } from './helpers/call.js';
import type { Reply } from '../src/client/resp-wire.js';
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

/** Run start-cluster with `args`; `out()` is what it printed so far; `stop()` SIGINTs it and resolves with its exit code. */
function startCluster(port: number, dir: string, args: readonly string[]): { child: ChildProcess; out(): string; stop(): Promise<number | null> } {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli', 'start-cluster.js'), ...args], {
    env: { ...process.env, KV_START_PORT: String(port), KV_START_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return {
    child,
    out: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** The voters the primary of the local cluster lists (MEMBER LIST), or null. */
async function votersOf(ports: readonly number[]): Promise<string[] | null> {
  for (const p of ports) {
    const info = await callOnce(p, ['INFO', 'replication']);
    if (!info.ok || info.reply.type !== 'bulk' || !/^role:master/m.test(info.reply.value.toString())) continue;
    const r = await callOnce(p, ['MEMBER', 'LIST']);
    if (!r.ok || r.reply.type !== 'array') return null;
    const voters: string[] = [];
    for (const item of r.reply.items) {
      const f = (item as Extract<Reply, { items: readonly Reply[] }>).items;
      const get = (k: string): string | undefined => {
        for (let i = 0; i + 1 < f.length; i += 2) if ((f[i] as { value?: Buffer }).value?.toString() === k) return (f[i + 1] as { value?: Buffer }).value?.toString();
        return undefined;
      };
      if (get('role') === 'voter') voters.push(get('id') as string);
    }
    return voters.sort();
  }
  return null;
}

test('npm start -- --nodes 5 over a 3-member cluster\'s data grows it: n4 and n5 join and become voters', async () => {
  const ports = (await lowPorts(5, true)) as number[];
  const dir = tempDir('kvts-start-grow-');
  let run = startCluster(ports[0] as number, dir, []);
  try {
    await waitFor('primary printed', () => /^primary: n\d/m.test(run.out()) || null, { timeoutMs: 30_000 });
    assert.equal(await run.stop(), 0, run.out());
    run = startCluster(ports[0] as number, dir, ['--nodes', '5']);
    assert.deepEqual(
      await waitFor('five voters', async () => {
        const v = await votersOf(ports);
        return v !== null && v.length === 5 ? v : null;
      }, { timeoutMs: 60_000, intervalMs: 200 }).catch((e: unknown) => assert.fail(`${(e as Error).message}\n${run.out()}`)),
      ['n1', 'n2', 'n3', 'n4', 'n5'],
    );
    assert.match(run.out(), /n4 on 127\.0\.0\.1:\d+ \(\S+, joining\)/);
    assert.equal(await run.stop(), 0, run.out());
  } finally {
    await run.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
