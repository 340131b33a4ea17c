// Restore (kv-server --restore FILE --dir DIR): builds a fresh data directory from a checked
// backup file. Owns the order of the steps: refuse a non-empty DIR, verify the whole file,
// load its snapshot items into a new store, commit them at the backup's start position (the
// full resync's loader), apply its log records through the replica path up to the backup's
// end, make that durable, and only then move the directory into place. Never writes into a
// DIR that holds anything, never reads a damaged file as data, and leaves no half-restored DIR
// behind (the work happens in a sibling directory renamed onto DIR at the end).
//
// The restored directory has the source's data, positions and epoch history, and none of its
// identity (node id, cluster membership, votes: meta.json is not in a backup), so the node
// that starts on it takes the ids of its own flags and begins its own epoch when it becomes
// primary (docs/operations.md, 'Backups and the restore drill'). Nor does it keep the source's
// membership configurations: the snapshot part is loaded without them, and each membership entry
// of the log part is applied as an empty entry at its position, so the restored node starts a
// new cluster from its own --cluster.

import assert from 'node:assert';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { openReplicatedStore } from '../../storage/store.js';
import { fsyncDirSync } from '../../storage/fsutil.js';
import { formatPosition } from '../../storage/types.js';
import type { ReplicatedStore } from '../../storage/api.js';
import { recordEndAt, recordEpochAt, recordMembersConfig, recordSeqAt } from '../../storage/record.js';
import type { NodeId } from '../core/types.js';
import { readBackupFile, type BackupSummary } from './backup-file.js';

export type RestoreResult = { readonly ok: true; readonly summary: BackupSummary } | { readonly ok: false; readonly error: string };

/** Null when `dir` is missing or an empty directory, else why it cannot be restored into. */
export function restoreTargetRefusal(dir: string): string | null {
  if (!existsSync(dir)) return null;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (e) {
    return `cannot read ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  if (entries.length > 0) return `${dir} is not empty (${entries.length} entries, e.g. ${entries[0] ?? ''}): --restore starts a new data directory; give an empty or missing --dir`;
  return null;
}

/**
 * Ids the restored node must not take: the source's own id and its cluster's members, so a
 * member of the old cluster (still running, or restarted from its old directory) can never be
 * mistaken for, or join, the restored one. Null when `ids` avoid them.
 */
export function reusedIdRefusal(summary: BackupSummary, ids: readonly NodeId[]): string | null {
  const old = new Set<NodeId>([summary.sourceNodeId, ...(summary.sourceMembers ?? [])]);
  const clash = ids.filter((id) => old.has(id));
  if (clash.length === 0) return null;
  return `node id(s) ${clash.join(',')} belong to the backup's source (${[...old].join(',')}): give the restored node(s) new ids, so no member of the old deployment can join or be mistaken for them`;
}

/** Check the file whole, without building anything (the first step of a restore; also a drill's check). */
export function verifyBackup(file: string, progress: (bytes: number, total: number) => void = () => undefined): RestoreResult {
  return readBackupFile(file, {}, progress);
}

/**
 * Build `dir` from `file` (already verified by the caller through verifyBackup, and `dir`
 * checked with restoreTargetRefusal). `say` gets progress lines.
 */
export async function restoreBackup(file: string, dir: string, summary: BackupSummary, say: (line: string) => void): Promise<RestoreResult> {
  const target = resolve(dir);
  const work = join(dirname(target), `.${basename(target)}.restoring-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const store = await openReplicatedStore({ dir: work, fsync: 'always', compactMinBytes: 0 });
  let ok = false;
  try {
    // The source decided every delete: the restore logs none of its own (an expired key is
    // deleted by the restored node once it runs, through its log, as the source would have).
    store.setExpiryAuthority({ mayDelete: () => false, deleted: () => assert.fail('a restore logs no deletes') });
    const loader = store.beginLoad();
    let lastSay = Date.now();
    const loaded = readBackupFile(file, { items: (items) => loader.add(items) }, (bytes, total) => {
      if (Date.now() - lastSay < 1000) return;
      lastSay = Date.now();
      say(`loading snapshot: ${loader.keys} keys, ${Math.floor((bytes * 100) / total)}% of the file`);
    });
    if (!loaded.ok) {
      loader.abort();
      return loaded;
    }
    if (summary.users !== null) loader.setUsers(summary.users);
    if (summary.functions !== null) loader.setFunctions(summary.functions);
    await loader.commit(summary.from, summary.fromHistory);
    say(`snapshot loaded: ${loader.keys} keys at ${formatPosition(summary.from)}; applying ${summary.records} log records`);
    const replayed = readBackupFile(file, { records: (records) => applyWithoutMembership(store, records) });
    if (!replayed.ok) return replayed;
    const last = store.lastPosition;
    if (last.seq !== summary.end.seq || last.epoch !== summary.end.epoch) return { ok: false, error: `the restore ended at ${formatPosition(last)}, not at the backup's ${formatPosition(summary.end)}` };
    store.flush();
    await store.whenDurable(last.seq);
    ok = true;
  } finally {
    await store.close();
    if (!ok) rmSync(work, { recursive: true, force: true });
  }
  // rename(2) replaces an empty directory atomically: DIR is either as it was or whole.
  renameSync(work, target);
  fsyncDirSync(dirname(target));
  return { ok: true, summary };
}

/**
 * Apply a backup's checked records, each membership entry as an empty entry at its position (the
 * positions stay the source's; the configuration does not come along). Runs between them go whole.
 */
function applyWithoutMembership(store: ReplicatedStore, records: Buffer): void {
  let run = 0;
  for (let off = 0; off < records.length; off = recordEndAt(records, off)) {
    if (recordMembersConfig(records, off) === null) continue;
    if (off > run) store.applyRecords(records.subarray(run, off));
    store.applyEntry({ epoch: recordEpochAt(records, off), seq: recordSeqAt(records, off), ops: [] });
    run = recordEndAt(records, off);
  }
  if (run < records.length) store.applyRecords(records.subarray(run));
}
