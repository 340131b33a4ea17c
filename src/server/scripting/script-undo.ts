// What a running script's writes replaced, so that a script aborted at its time limit can be
// taken back before its batch is logged: each key's value and expiry before the script's first
// write to it. Owns that record, bounded by UNDO_BYTES_MAX; it never writes (the server applies
// the ops `undoOps` returns inside the script's batch).

import type { ReplicatedStore } from '../../storage/api.js';
import { isKeyOp, type Key, type Op } from '../../storage/types.js';
import { decodeDump, dumpKey, isRefusal, restoreOp } from '../../storage/dump-payload.js';

/**
 * Bytes of saved values one script may hold. Past it (or after a FLUSHALL, which no per-key
 * record can undo) the script can no longer be taken back: at its time limit it is still
 * stopped, but the writes it made are kept, logged as one entry.
 */
export const UNDO_BYTES_MAX = 64 * 1024 * 1024;

type Saved = { readonly key: Key; readonly payload: Buffer | undefined; readonly expireAtMs: number };

export class ScriptUndo {
  private readonly saved = new Map<Key, Saved>();
  private bytes = 0;
  /** False once the script did something this record cannot undo. */
  complete = true;

  constructor(private readonly store: ReplicatedStore) {}

  /** Before `ops` are applied: remember the keys they change, as they are now. */
  record(ops: readonly Op[]): void {
    if (!this.complete) return;
    for (const op of ops) {
      // Neither a flush nor a user-table change (scripts cannot run ACL; kept whole for safety) is undone.
      if (!isKeyOp(op)) {
        this.drop();
        return;
      }
      if (this.saved.has(op.key)) continue;
      const payload = dumpKey(this.store, op.key);
      // A stream has no DUMP form: a script that changed one cannot be undone.
      if (payload === null) {
        this.drop();
        return;
      }
      this.bytes += (payload?.length ?? 0) + op.key.length;
      if (this.bytes > UNDO_BYTES_MAX) {
        this.drop();
        return;
      }
      this.saved.set(op.key, { key: op.key, payload, expireAtMs: payload === undefined ? 0 : (this.store.getExpireAt(op.key) ?? 0) });
    }
  }

  private drop(): void {
    this.complete = false;
    this.saved.clear();
    this.bytes = 0;
  }

  /** The ops that put every changed key back as it was (null when the record is incomplete). */
  undoOps(): Op[] | null {
    if (!this.complete) return null;
    const ops: Op[] = [];
    for (const s of this.saved.values()) {
      if (s.payload === undefined) {
        ops.push({ t: 'del', key: s.key });
        continue;
      }
      const d = decodeDump(s.payload);
      if (isRefusal(d)) throw new Error(`bug: a script's undo record does not decode (${d.reason})`);
      ops.push(restoreOp(s.key, d, s.expireAtMs));
    }
    return ops;
  }
}
