// Small durable-file helpers shared by the WAL, snapshots, meta and the lock:
// directory fsync, atomic replace (temp + fsync + rename + fsync dir), file naming.
// Never holds state; never swallows an error other than the documented ENOENT cases.

import { closeSync, fsyncSync, openSync, renameSync, writeSync, readdirSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

/** Sequence numbers in file names are zero-padded to 20 digits so names sort like numbers. */
export const SEQ_NAME_DIGITS = 20;

export function seqName(seq: number, ext: string): string {
  return `${String(seq).padStart(SEQ_NAME_DIGITS, '0')}${ext}`;
}

/** Files named `<20 digits><ext>` in `dir`, sorted by their number. Missing dir = []. */
export function listSeqFiles(dir: string, ext: string): Array<{ seq: number; name: string; path: string }> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const re = new RegExp(`^(\\d{${SEQ_NAME_DIGITS}})${ext.replace('.', '\\.')}$`);
  const out: Array<{ seq: number; name: string; path: string }> = [];
  for (const name of names) {
    const m = re.exec(name);
    if (m === null || m[1] === undefined) continue;
    out.push({ seq: Number(m[1]), name, path: join(dir, name) });
  }
  out.sort((a, b) => a.seq - b.seq);
  return out;
}

/** fsync a directory so renames/creates/unlinks in it survive power loss. */
export function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Create (or replace) `path` with `data` and fsync it; the caller fsyncs the directory. */
export function writeFileFsyncSync(path: string, data: Buffer): void {
  const fd = openSync(path, 'w');
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Atomically replace `path` with `data`: write temp, fsync, rename, fsync dir. */
export function atomicWriteFileSync(dir: string, name: string, data: Buffer): void {
  const tmp = join(dir, `${name}.tmp`);
  writeFileFsyncSync(tmp, data);
  renameSync(tmp, join(dir, name));
  fsyncDirSync(dir);
}

export async function atomicWriteFile(dir: string, name: string, data: Buffer): Promise<void> {
  const tmp = join(dir, `${name}.tmp`);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  const { rename } = await import('node:fs/promises');
  await rename(tmp, join(dir, name));
  await fsyncDir(dir);
}

export function unlinkIfExists(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** Write every byte of `bufs` back to back from file offset `position` (loops over short writes). */
export function writeAllSync(
  fd: number,
  bufs: readonly Buffer[],
  position: number,
  write: (fd: number, buf: Buffer, offset: number, length: number, position: number) => number = writeSync,
): number {
  let total = 0;
  for (const b of bufs) {
    let off = 0;
    while (off < b.length) off += write(fd, b, off, b.length - off, position + total + off);
    total += b.length;
  }
  return total;
}
