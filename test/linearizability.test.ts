// Unit tests of the linearizability checker with hand-made histories whose verdict is known.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLinearizable, type KvOp } from './helpers/linearizability.js';
import { rng } from './helpers/rng.js';

const put = (key: string, value: string, invokeMs: number, returnMs: number | undefined): KvOp => ({ kind: 'put', key, value, invokeMs, returnMs });
const get = (key: string, value: string | null, invokeMs: number, returnMs: number): KvOp => ({ kind: 'get', key, value, invokeMs, returnMs });
const cas = (key: string, expected: string | null, value: string, invokeMs: number, returnMs: number | undefined): KvOp => ({ kind: 'cas', key, expected, value, invokeMs, returnMs });

test('empty and sequential histories are linearizable', () => {
  assert.equal(checkLinearizable([]).ok, true);
  const r = checkLinearizable([get('k', null, 0, 1), put('k', 'a', 2, 3), get('k', 'a', 4, 5), put('k', 'b', 6, 7), get('k', 'b', 8, 9)]);
  assert.deepEqual(r, { ok: true, keys: 1, ops: 5 });
});

test('a stale read after a completed write is not linearizable', () => {
  const r = checkLinearizable([put('k', 'a', 0, 1), put('k', 'b', 2, 3), get('k', 'a', 4, 5)]);
  assert.equal(r.ok, false);
});

test('reading a value that was never written is not linearizable', () => {
  assert.equal(checkLinearizable([put('k', 'a', 0, 1), get('k', 'z', 2, 3)]).ok, false);
});

test('a read concurrent with a write may see either value', () => {
  assert.equal(checkLinearizable([put('k', 'a', 0, 1), put('k', 'b', 2, 10), get('k', 'a', 3, 4)]).ok, true);
  assert.equal(checkLinearizable([put('k', 'a', 0, 1), put('k', 'b', 2, 10), get('k', 'b', 3, 4)]).ok, true);
});

test('two reads must not observe a concurrent write in opposite orders (new then old)', () => {
  // Both reads are concurrent with put b, but the second starts after the first returned b.
  const h = [put('k', 'a', 0, 1), put('k', 'b', 2, 20), get('k', 'b', 3, 4), get('k', 'a', 5, 6)];
  assert.equal(checkLinearizable(h).ok, false);
});

test('an unknown-outcome put may take effect late or never', () => {
  assert.equal(checkLinearizable([put('k', 'a', 0, undefined), get('k', null, 5, 6)]).ok, true);
  assert.equal(checkLinearizable([put('k', 'a', 0, undefined), get('k', null, 5, 6), get('k', 'a', 100, 101)]).ok, true);
  // ...but once seen it cannot be un-seen.
  assert.equal(checkLinearizable([put('k', 'a', 0, undefined), get('k', 'a', 5, 6), get('k', null, 7, 8)]).ok, false);
  // ...and it cannot take effect before it was invoked.
  assert.equal(checkLinearizable([get('k', 'a', 0, 1), put('k', 'a', 2, undefined)]).ok, false);
});

test('compare-and-set: a chain of successful CAS is linearizable; one whose expected value never held is not', () => {
  assert.equal(checkLinearizable([cas('k', null, '1', 0, 1), cas('k', '1', '2', 2, 3), get('k', '2', 4, 5)]).ok, true);
  // Concurrent, in either order the search must find.
  assert.equal(checkLinearizable([cas('k', '1', '2', 0, 10), cas('k', null, '1', 1, 9), get('k', '2', 11, 12)]).ok, true);
  // Read as a plain write, this would pass.
  assert.equal(checkLinearizable([put('k', '1', 0, 1), cas('k', '0', '2', 2, 3)]).ok, false);
  assert.equal(checkLinearizable([put('k', '1', 0, 1), cas('k', null, '2', 2, 3)]).ok, false);
});

test('compare-and-set: two successful CAS from the same value are a lost update, even when concurrent', () => {
  const h = [put('k', '1', 0, 1), cas('k', '1', '2a', 2, 10), cas('k', '1', '2b', 3, 9)];
  assert.equal(checkLinearizable(h).ok, false);
  // Sequential ones from different values are fine.
  assert.equal(checkLinearizable([put('k', '1', 0, 1), cas('k', '1', '2a', 2, 3), cas('k', '2a', '2b', 4, 5)]).ok, true);
});

test('compare-and-set of unknown outcome: took effect where its expected value held, or failed, or never ran', () => {
  // Took effect (after its invocation).
  assert.equal(checkLinearizable([put('k', '0', 0, 1), cas('k', '0', '5', 2, undefined), get('k', '5', 10, 11)]).ok, true);
  // Failed its comparison: the key keeps its value.
  assert.equal(checkLinearizable([put('k', '1', 0, 1), cas('k', '0', '5', 2, undefined), get('k', '1', 10, 11)]).ok, true);
  // Never ran, although its comparison would have held.
  assert.equal(checkLinearizable([put('k', '0', 0, 1), cas('k', '0', '5', 2, undefined), get('k', '0', 10, 11)]).ok, true);
  // It cannot take effect where its expected value did not hold (as a plain unknown write could).
  assert.equal(checkLinearizable([put('k', '1', 0, 1), cas('k', '0', '5', 2, undefined), get('k', '5', 10, 11)]).ok, false);
  // Nor before its invocation, nor be un-seen.
  assert.equal(checkLinearizable([put('k', '0', 0, 1), get('k', '5', 2, 3), cas('k', '0', '5', 4, undefined)]).ok, false);
  assert.equal(checkLinearizable([put('k', '0', 0, 1), cas('k', '0', '5', 2, undefined), get('k', '5', 10, 11), get('k', '0', 12, 13)]).ok, false);
  // Two unknown CAS from one value: at most one takes effect.
  const lost = [put('k', '1', 0, 1), cas('k', '1', '2a', 2, undefined), cas('k', '1', '2b', 2, undefined), get('k', '2a', 10, 11), get('k', '2b', 12, 13)];
  assert.equal(checkLinearizable(lost).ok, false);
});

test('keys are checked independently; a violation on one key is reported with that key', () => {
  const r = checkLinearizable([put('x', '1', 0, 1), get('x', '1', 2, 3), put('y', '1', 0, 1), put('y', '2', 2, 3), get('y', '1', 4, 5)]);
  assert.equal(r.ok, false);
  assert.equal(r.ok === false ? r.key : '', 'y');
});

test('random sequential executions are linearizable and a corrupted read in one is caught', () => {
  const r = rng(42);
  for (let trial = 0; trial < 200; trial++) {
    // Build a real execution of a register with overlapping operations: each op takes effect at a
    // point inside its interval, so the history is linearizable by construction.
    const ops: KvOp[] = [];
    const events: { at: number; op: () => KvOp }[] = [];
    let value: string | null = null;
    let t = 0;
    for (let i = 0; i < 12; i++) {
      t += 1 + r.int(3);
      const invoke = t;
      const effectAt = t + r.int(4);
      const ret = effectAt + r.int(4);
      const isPut = r.next() < 0.5;
      const v = `v${trial}_${i}`;
      events.push({
        at: effectAt + i / 100,
        op: (): KvOp => {
          if (isPut) {
            value = v;
            return put('k', v, invoke, ret);
          }
          return get('k', value, invoke, ret);
        },
      });
    }
    events.sort((a, b) => a.at - b.at);
    for (const e of events) ops.push(e.op());
    assert.equal(checkLinearizable(ops).ok, true, `trial ${trial} should be linearizable`);
    // Corrupt one read that returned a written value into a value nobody wrote.
    const idx = ops.findIndex((o) => o.kind === 'get');
    if (idx >= 0) {
      const g = ops[idx] as Extract<KvOp, { kind: 'get' }>;
      ops[idx] = { ...g, value: 'never-written' };
      assert.equal(checkLinearizable(ops).ok, false, `trial ${trial} corrupted should fail`);
    }
  }
});
