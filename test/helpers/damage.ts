// Damaging a data directory's files as a failing disk or a careless operator would (truncated,
// bit-flipped, emptied), and kv-server's refusal and --repair run as separate processes. Owns
// nothing beyond the files it is told to damage.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { KV_SERVER_JS } from './procs.js';

export type Damage = 'truncate' | 'flip' | 'empty';

/** The files of `dir/sub` ending in `ext`, sorted (segments and snapshots sort by seq). */
export function files(dir: string, sub: string, ext: string): string[] {
  return readdirSync(join(dir, sub))
    .filter((n) => n.endsWith(ext))
    .sort()
    .map((n) => join(dir, sub, n));
}

/** Damage `file` at `at` (a fraction of its size); returns its bytes after the damage. */
export function damage(file: string, how: Damage, at: number): Buffer {
  const bytes = readFileSync(file);
  const off = Math.min(bytes.length - 1, Math.floor(bytes.length * at));
  if (how === 'truncate') truncateSync(file, off);
  else if (how === 'empty') truncateSync(file, 0);
  else {
    bytes[off] = (bytes[off] as number) ^ 0x20;
    writeFileSync(file, bytes);
  }
  return readFileSync(file);
}

/** Runs kv-server with `args` to its exit, without blocking this process (it may host proxies). */
function runKvServer(args: readonly string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [KV_SERVER_JS, ...args], { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ status: code, stdout, stderr });
    });
  });
}

/** kv-server on `dir` must refuse to start (exit 1), naming `file` and the repair command. */
export async function assertStartRefused(port: number, dir: string, file: string, args: readonly string[] = []): Promise<void> {
  const start = await runKvServer(['--port', String(port), '--host', '127.0.0.1', '--dir', dir, ...args]);
  assert.equal(start.status, 1, start.stderr);
  assert.ok(start.stderr.includes(`corrupt data in ${file} at offset`), start.stderr);
  assert.ok(start.stderr.includes(`kv-server --repair --dir ${dir}`), start.stderr);
}

/** `kv-server --repair --dir dir`: must succeed; returns what it printed. */
export async function repairDir(dir: string): Promise<string> {
  const rep = await runKvServer(['--repair', '--dir', dir]);
  assert.equal(rep.status, 0, rep.stderr);
  return rep.stdout;
}

/** Overwrite a snapshot file's format version (outside its checksums): an older or newer format's file. */
export function setSnapshotVersion(path: string, version: number): void {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(version, 0);
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, b, 0, 4, 8);
  } finally {
    closeSync(fd);
  }
}
