// kv-server's --log-format (src/cli/log-format.ts): JSON lines when asked or when stderr is piped
// (auto), readable lines when asked or when stderr is a terminal (auto, run under script(1)'s
// pseudo-terminal); npm start refuses a bad value.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { resolveLogFormat } from '../src/cli/log-format.js';
import { freePort, KV_SERVER_JS, REPO_ROOT, startKvServer, tempDirsRemovedAfter, type RunningProcess } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';

const dirs = tempDirsRemovedAfter('kvts-logfmt-');
const procs: RunningProcess[] = [];
after(async () => {
  for (const p of procs) await p.kill();
});

/** The lines kv-server printed up to and including its "ready" log line. */
async function linesUntilReady(args: readonly string[]): Promise<string[]> {
  const p = await startKvServer({ dir: dirs(), args });
  procs.push(p);
  await waitFor('the ready log line', () => /"msg":"ready"|INFO.*ready/.test(p.output()));
  await p.kill();
  return p.output().split('\n').filter((l) => l !== '' && !l.startsWith('kv-server '));
}

test('resolveLogFormat: auto follows the terminal, explicit formats do not', () => {
  assert.equal(resolveLogFormat('auto', true), 'pretty');
  assert.equal(resolveLogFormat('auto', false), 'json');
  assert.equal(resolveLogFormat('json', true), 'json');
  assert.equal(resolveLogFormat('pretty', false), 'pretty');
});

for (const args of [['--log-format', 'json'], []]) {
  test(`${args.length === 0 ? 'auto with stderr piped' : '--log-format json'}: every log line is a JSON object`, async () => {
    const lines = await linesUntilReady(args);
    assert.ok(lines.length >= 2, lines.join('\n'));
    for (const l of lines) {
      const o = JSON.parse(l) as { level: number; msg: string };
      assert.equal(typeof o.level, 'number', l);
    }
    assert.ok(lines.some((l) => (JSON.parse(l) as { msg: string }).msg === 'ready'));
  });
}

test('--log-format pretty: readable lines (time, level, message), no JSON', async () => {
  const lines = await linesUntilReady(['--log-format', 'pretty']);
  assert.ok(lines.length >= 2, lines.join('\n'));
  for (const l of lines) assert.ok(!l.startsWith('{'), l);
  assert.ok(lines.some((l) => /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: ready/.test(l)), lines.join('\n'));
});

test('auto on a terminal: readable lines (kv-server under script(1)\'s pseudo-terminal)', async () => {
  const port = await freePort();
  const cmd = [process.execPath, KV_SERVER_JS, '--port', String(port), '--dir', dirs()].join(' ');
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    // Colours on a terminal: strip the escape sequences before matching.
    await waitFor('a readable ready line', () => /INFO.*ready/.test(out.replace(/\x1b\[[0-9;]*m/g, '')), { timeoutMs: 15_000 });
    assert.ok(!/"msg":"ready"/.test(out), out);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
});

test('npm start --log-format xml exits 1 naming the flag', async () => {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli', 'start-cluster.js'), '--log-format', 'xml'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 1);
  assert.match(out, /--log-format: expected auto\|json\|pretty, got 'xml'/);
});
