// Linearizability checker for a key-value register history of reads, writes and compare-and-sets
// (Wing–Gong search with Lowe's memoization, as in Porcupine/Knossos), partitioned by key. Used
// by the replication simulator and the real-process fault tests. Never mutates the history it is given.

/** A put whose outcome is unknown (timeout, NOQUORUM, crashed node) has returnMs undefined: it may take effect at any time after its invocation, or never. */
export type KvOp =
  | { readonly kind: 'put'; readonly key: string; readonly value: string; readonly invokeMs: number; readonly returnMs: number | undefined }
  /** value null = key absent. Reads that never returned impose nothing: leave them out. */
  | { readonly kind: 'get'; readonly key: string; readonly value: string | null; readonly invokeMs: number; readonly returnMs: number }
  /**
   * Compare-and-set (WATCH k; GET k; MULTI; SET k v; EXEC): `value` replaces `expected` (null =
   * absent) atomically. Record only those that succeeded (returnMs set) or whose outcome is
   * unknown (returnMs undefined: it took effect at some point after invocation where the key
   * held `expected`, or it failed, or never ran). A known failure (EXEC's null: WATCH saw some
   * write, perhaps of the same value) imposes nothing: leave it out, keep its read as a get.
   */
  | { readonly kind: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string; readonly invokeMs: number; readonly returnMs: number | undefined };

export type CheckResult =
  | { readonly ok: true; readonly keys: number; readonly ops: number }
  | { readonly ok: false; readonly key: string; readonly ops: readonly KvOp[]; readonly reason: string }
  | { readonly ok: 'unknown'; readonly key: string; readonly reason: string };

/** Search budget per key (memoised states); beyond it the verdict is 'unknown' rather than a wrong answer. */
export const SEARCH_STATES_MAX = 2_000_000;

interface Node {
  readonly opIndex: number;
  readonly isCall: boolean;
  readonly timeMs: number;
  match: Node | null; // call ↔ return
  prev: Node | null;
  next: Node | null;
}

/** Check the whole history: linearizable iff every key's sub-history is (registers compose). */
export function checkLinearizable(history: readonly KvOp[]): CheckResult {
  const byKey = new Map<string, KvOp[]>();
  for (const op of history) {
    let list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, (list = []));
    list.push(op);
  }
  for (const [key, ops] of byKey) {
    const r = checkKey(key, ops);
    if (r !== null) return r;
  }
  return { ok: true, keys: byKey.size, ops: history.length };
}

/** Doubly linked list of call/return events in time order; returns at the same instant as a call come after it (treated as concurrent). */
function buildEvents(ops: readonly KvOp[]): Node {
  const horizon = ops.reduce((m, o) => Math.max(m, o.invokeMs, o.returnMs ?? 0), 0) + 1;
  const events: Node[] = [];
  ops.forEach((op, i) => {
    const call: Node = { opIndex: i, isCall: true, timeMs: op.invokeMs, match: null, prev: null, next: null };
    const ret: Node = { opIndex: i, isCall: false, timeMs: op.returnMs ?? horizon, match: null, prev: null, next: null };
    call.match = ret;
    ret.match = call;
    events.push(call, ret);
  });
  events.sort((a, b) => a.timeMs - b.timeMs || (a.isCall === b.isCall ? a.opIndex - b.opIndex : a.isCall ? -1 : 1));
  const head: Node = { opIndex: -1, isCall: false, timeMs: -Infinity, match: null, prev: null, next: null };
  let tail = head;
  for (const e of events) {
    tail.next = e;
    e.prev = tail;
    tail = e;
  }
  return head;
}

/** Remove a call and its return from the list (the op is linearized now). */
function lift(call: Node): void {
  const ret = call.match as Node;
  (call.prev as Node).next = call.next;
  if (call.next !== null) call.next.prev = call.prev;
  (ret.prev as Node).next = ret.next;
  if (ret.next !== null) ret.next.prev = ret.prev;
}

/** Undo lift (in reverse order of removal). */
function unlift(call: Node): void {
  const ret = call.match as Node;
  (ret.prev as Node).next = ret;
  if (ret.next !== null) ret.next.prev = ret;
  (call.prev as Node).next = call;
  if (call.next !== null) call.next.prev = call;
}

/** Register model step: null means the op is not allowed in this state. */
function stepModel(state: string | null, op: KvOp): { state: string | null } | null {
  switch (op.kind) {
    case 'put':
      return { state: op.value };
    case 'get':
      return op.value === state ? { state } : null;
    case 'cas':
      if (op.expected === state) return { state: op.value };
      // A CAS of unknown outcome may have failed its comparison here: a no-op. (One that may
      // never have run is linearized after everything else, where it changes nothing observed.)
      return op.returnMs === undefined ? { state } : null;
  }
}

function checkKey(key: string, ops: readonly KvOp[]): CheckResult | null {
  const head = buildEvents(ops);
  const linearized = new Uint8Array(ops.length);
  const seen = new Set<string>();
  const stack: { call: Node; state: string | null }[] = [];
  let state: string | null = null;
  let entry = head.next;
  let explored = 0;
  while (head.next !== null) {
    if (entry === null) return { ok: false, key, ops, reason: 'search ran off the history (bug)' };
    if (entry.isCall) {
      const op = ops[entry.opIndex] as KvOp;
      const next = stepModel(state, op);
      if (next !== null) {
        linearized[entry.opIndex] = 1;
        const memo = `${bitsKey(linearized)}|${next.state ?? '\u0000null'}`;
        if (!seen.has(memo)) {
          if (++explored > SEARCH_STATES_MAX) return { ok: 'unknown', key, reason: `more than ${SEARCH_STATES_MAX} states` };
          seen.add(memo);
          stack.push({ call: entry, state });
          state = next.state;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized[entry.opIndex] = 0;
      }
      entry = entry.next;
    } else {
      // A return event whose call is not linearized yet: backtrack.
      const top = stack.pop();
      if (top === undefined) return { ok: false, key, ops, reason: describeFailure(ops) };
      linearized[top.call.opIndex] = 0;
      state = top.state;
      unlift(top.call);
      entry = top.call.next;
    }
  }
  return null;
}

function bitsKey(bits: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bits.length; i += 16) {
    let w = 0;
    for (let j = i; j < i + 16 && j < bits.length; j++) w = (w << 1) | (bits[j] as number);
    s += String.fromCharCode(w + 32);
  }
  return s;
}

function describeFailure(ops: readonly KvOp[]): string {
  const lines = [...ops]
    .sort((a, b) => a.invokeMs - b.invokeMs)
    .slice(0, 40)
    .map((o) => `${o.kind} ${o.kind === 'cas' ? `${String(o.expected)}->` : ''}${String(o.value)} [${o.invokeMs}, ${o.returnMs ?? '?'}]`);
  return `no linearization; ops (by invocation): ${lines.join('; ')}`;
}
