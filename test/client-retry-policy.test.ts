// client/retry-policy.ts, exhaustively: every attempt outcome × command kind × consistency mode
// × retryIdempotentWrites × redirect budget × deadline × earlier lost attempt is decided, and
// each cell is checked against the rules as the README's client section states them (first
// matching rule wins). Then the batch reduction a pipeline's attempt goes through. Pure: no
// sockets, no clock.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CommandKind } from '../src/protocol/command-kinds.js';
import {
  afterPosition,
  decide,
  outcomeOfCommand,
  giveUp,
  reduceAttempt,
  serverErrorName,
  REDIRECT_HOPS_MAX,
  type AttemptOutcome,
  type AttemptState,
  type Consistency,
  type FailWith,
  type RetryDecision,
  type ServerErrorName,
} from '../src/client/retry-policy.js';
import { errorFromReply } from '../src/client/errors.js';

const HERE = '127.0.0.1:7001';
const OTHER = '127.0.0.1:7002';

const SERVER_ERRORS: readonly ServerErrorName[] = ['ReadOnlyError', 'NotPrimaryError', 'TooStaleError', 'TryAgainError', 'NoQuorumError', 'SessionLostError', 'AuthError', 'ReplyError'];
const KINDS: readonly CommandKind[] = ['read', 'idempotentWrite', 'write'];
const MODES: readonly Consistency[] = ['eventual', 'session', 'quorum'];

function outcomes(): AttemptOutcome[] {
  const primaries = [undefined, HERE, OTHER];
  return [
    { type: 'reply' },
    ...primaries.map((primary): AttemptOutcome => ({ type: 'readOnly', primary })),
    ...primaries.map((primary): AttemptOutcome => ({ type: 'notPrimary', primary })),
    ...primaries.map((primary): AttemptOutcome => ({ type: 'tooStale', primary })),
    { type: 'tryAgain' },
    { type: 'noQuorum', outcomeUnknown: true },
    { type: 'noQuorum', outcomeUnknown: false },
    { type: 'sessionLost' },
    { type: 'auth' },
    { type: 'replyError' },
    ...SERVER_ERRORS.map((error): AttemptOutcome => ({ type: 'setupRefused', error })),
    { type: 'notSent' },
    { type: 'noReply' },
  ];
}

interface Cell {
  readonly o: AttemptOutcome;
  readonly s: AttemptState;
}

function cells(): Cell[] {
  const out: Cell[] = [];
  for (const o of outcomes())
    for (const kind of KINDS)
      for (const consistency of MODES)
        for (const retryIdempotentWrites of [false, true])
          for (const redirectHops of [0, REDIRECT_HOPS_MAX - 1, REDIRECT_HOPS_MAX])
            for (const deadlinePassed of [false, true])
              for (const earlierMayHaveRun of [false, true]) out.push({ o, s: { kind, consistency, retryIdempotentWrites, address: HERE, redirectHops, deadlinePassed, earlierMayHaveRun } });
  return out;
}

const RETURN: RetryDecision = { action: 'return' };
const fail = (error: FailWith, refresh = false): RetryDecision => ({ action: 'fail', error, at: 'attempt', refresh });
const retry = (markDown: boolean, mayHaveRun: boolean, readsToPrimary = false): RetryDecision => ({ action: 'retry', markDown, readsToPrimary, mayHaveRun });

const isRedirect = (o: AttemptOutcome): o is Extract<AttemptOutcome, { type: 'readOnly' | 'notPrimary' }> => o.type === 'readOnly' || o.type === 'notPrimary';
const namesAnother = (o: AttemptOutcome): boolean => 'primary' in o && o.primary !== undefined && o.primary !== HERE;
/** A plain SET/MSET outside quorum mode (retryIdempotentWrites is that default, or the application's choice). */
const resendable = (s: AttemptState): boolean => s.kind === 'read' || (s.kind === 'idempotentWrite' && s.retryIdempotentWrites);
const quorumRead = (s: AttemptState): boolean => s.kind === 'read' && s.consistency === 'quorum';
const ERROR_OF: Partial<Record<AttemptOutcome['type'], FailWith>> = {
  readOnly: 'ReadOnlyError',
  notPrimary: 'NotPrimaryError',
  tooStale: 'TooStaleError',
  tryAgain: 'TryAgainError',
  noQuorum: 'NoQuorumError',
  sessionLost: 'SessionLostError',
  auth: 'AuthError',
  replyError: 'ReplyError',
};

interface Rule {
  readonly rule: string;
  readonly when: (c: Cell) => boolean;
  readonly expect: (c: Cell) => RetryDecision;
}

/** The client's rules, in order; the first that applies to a cell says what it must decide. */
const RULES: readonly Rule[] = [
  { rule: 'a reply is returned', when: ({ o }) => o.type === 'reply', expect: () => RETURN },
  {
    rule: 'a node that refuses the connection setup (password, mode) fails the operation with that error',
    when: ({ o }) => o.type === 'setupRefused',
    expect: ({ o }) => fail((o as Extract<AttemptOutcome, { type: 'setupRefused' }>).error),
  },
  {
    rule: 'SESSIONLOST, auth errors and other error replies are final: the command ran or cannot run',
    when: ({ o }) => o.type === 'sessionLost' || o.type === 'auth' || o.type === 'replyError',
    expect: ({ o }) => fail(ERROR_OF[o.type] as FailWith),
  },
  {
    rule: 'NOQUORUM is final except for a quorum-mode read, which did nothing',
    when: ({ o, s }) => o.type === 'noQuorum' && !quorumRead(s),
    expect: () => fail('NoQuorumError'),
  },
  {
    rule: 'a write whose reply was lost is never resent (only reads and plain SET/MSET outside quorum mode are): OutcomeUnknownError',
    when: ({ o, s }) => o.type === 'noReply' && !resendable(s),
    expect: () => fail('OutcomeUnknownError', true),
  },
  // From here on the operation would be attempted again.
  {
    rule: 'past the deadline: OutcomeUnknownError if any attempt may have run, else the last refusal, else UnavailableError',
    when: ({ s }) => s.deadlinePassed,
    expect: ({ o, s }) => ({
      action: 'fail',
      error: s.earlierMayHaveRun || (o.type === 'noReply' && s.kind !== 'read') ? 'OutcomeUnknownError' : (ERROR_OF[o.type] ?? 'UnavailableError'),
      at: 'deadline',
      refresh: false,
    }),
  },
  {
    rule: 'READONLY/NOTPRIMARY naming another node: go there now and believe it is the primary, within the hop budget',
    when: ({ o, s }) => isRedirect(o) && namesAnother(o) && s.redirectHops < REDIRECT_HOPS_MAX,
    expect: () => ({ action: 'redirect', to: OTHER, learnPrimary: true, refresh: true, readsToPrimary: false }),
  },
  {
    rule: 'TOOSTALE naming the primary: the read goes there now, and later attempts to the primary',
    when: ({ o, s }) => o.type === 'tooStale' && namesAnother(o) && s.redirectHops < REDIRECT_HOPS_MAX,
    expect: () => ({ action: 'redirect', to: OTHER, learnPrimary: false, refresh: false, readsToPrimary: true }),
  },
  { rule: 'TOOSTALE otherwise: refresh, back off, read from the primary', when: ({ o }) => o.type === 'tooStale', expect: () => retry(false, false, true) },
  {
    rule: 'a connection that failed before or after sending a resendable command: avoid that node, refresh, back off; a lost write may have run',
    when: ({ o }) => o.type === 'notSent' || o.type === 'noReply',
    expect: ({ o, s }) => retry(true, o.type === 'noReply' && s.kind !== 'read'),
  },
  {
    rule: 'any other refusal (redirect without a new address or budget, TRYAGAIN/LOADING, a quorum read without quorum): refresh, back off, retry',
    when: ({ o }) => isRedirect(o) || o.type === 'tryAgain' || o.type === 'noQuorum',
    expect: () => retry(false, false),
  },
];

test('decide: every cell of outcome × kind × mode × budget × deadline follows the rules', () => {
  const all = cells();
  assert.equal(all.length, 26 * 3 * 3 * 2 * 3 * 2 * 2);
  const used = new Map<string, number>();
  for (const c of all) {
    const rule = RULES.find((r) => r.when(c));
    assert.ok(rule !== undefined, `no rule for ${JSON.stringify(c)}`);
    used.set(rule.rule, (used.get(rule.rule) ?? 0) + 1);
    assert.deepEqual(decide(c.o, c.s), rule.expect(c), `${rule.rule}: ${JSON.stringify(c)}`);
  }
  for (const r of RULES) assert.ok((used.get(r.rule) ?? 0) > 0, `rule never applies: ${r.rule}`);
});

test('decide: the safety properties hold in every cell', () => {
  for (const { o, s } of cells()) {
    const d = decide(o, s);
    const at = JSON.stringify({ o, s, d });
    // Never a second copy of a write that may have run, unless it is an allowed idempotent one.
    if (o.type === 'noReply' && d.action !== 'fail') assert.ok(resendable(s), at);
    if (o.type === 'noReply' && s.kind === 'write') assert.deepEqual(d.action === 'fail' && d.error, 'OutcomeUnknownError', at);
    // Only a reply returns; only a lost write may have run.
    assert.equal(d.action === 'return', o.type === 'reply', at);
    if (d.action === 'retry' && d.mayHaveRun) assert.ok(o.type === 'noReply' && s.kind !== 'read', at);
    // Redirects go somewhere else, within the budget, and never past the deadline.
    if (d.action === 'redirect') assert.ok(d.to !== s.address && s.redirectHops < REDIRECT_HOPS_MAX && !s.deadlinePassed, at);
    if (d.action === 'retry') assert.ok(!s.deadlinePassed, at);
    // Once an attempt may have run, giving up says so.
    if (d.action === 'fail' && d.at === 'deadline' && s.earlierMayHaveRun) assert.equal(d.error, 'OutcomeUnknownError', at);
    if (d.action === 'fail' && d.error === 'UnavailableError') assert.ok(!s.earlierMayHaveRun, at);
  }
});

test('every server error line and connection event maps to its outcome', () => {
  const fromLine = (line: string): AttemptOutcome => outcomeOfCommand({ kind: 'error', error: errorFromReply(line) });
  const lines: Array<[string, AttemptOutcome]> = [
    [`READONLY You can't write against a read only replica. primary=${OTHER}`, { type: 'readOnly', primary: OTHER }],
    ['READONLY You can\'t write against a read only replica. primary=unknown', { type: 'readOnly', primary: undefined }],
    [`NOTPRIMARY quorum reads and writes are served by the primary; primary=${OTHER}`, { type: 'notPrimary', primary: OTHER }],
    [`TOOSTALE replica is 3 ops / 40 ms behind; primary=${OTHER} (lagging)`, { type: 'tooStale', primary: OTHER }],
    ['TRYAGAIN this node is becoming primary; retry shortly', { type: 'tryAgain' }],
    ['LOADING Redis is loading the dataset in memory', { type: 'tryAgain' }],
    ['NOQUORUM outcome unknown: the write may or may not take effect (timed out)', { type: 'noQuorum', outcomeUnknown: true }],
    ['NOQUORUM read not confirmed by a majority (timed out); retry', { type: 'noQuorum', outcomeUnknown: false }],
    ['SESSIONLOST position 1:9 is not in this node\'s history (a failover discarded it); primary=x:1', { type: 'sessionLost' }],
    ['NOAUTH Authentication required.', { type: 'auth' }],
    ['WRONGPASS invalid username-password pair', { type: 'auth' }],
    ['WRONGTYPE Operation against a key holding the wrong kind of value', { type: 'replyError' }],
    ['ERR syntax error', { type: 'replyError' }],
  ];
  for (const [line, outcome] of lines) assert.deepEqual(fromLine(line), outcome, line);
  // Connection events (node-conn.ts): refused or closed before sending; failed or timed out after.
  assert.deepEqual(outcomeOfCommand({ kind: 'notSent' }), { type: 'notSent' });
  assert.deepEqual(outcomeOfCommand({ kind: 'unknown' }), { type: 'noReply' }, 'a command timeout kills the connection: no reply');
  assert.deepEqual(outcomeOfCommand({ kind: 'reply' }), { type: 'reply' });
});

test('giveUp: an operation that never got an attempt out, or only lost reads, is unavailable', () => {
  assert.equal(giveUp(false, null), 'UnavailableError');
  assert.equal(giveUp(true, null), 'OutcomeUnknownError');
  assert.equal(giveUp(false, { type: 'notSent' }), 'UnavailableError');
  assert.equal(giveUp(false, { type: 'replyError' }), 'UnavailableError');
  assert.equal(giveUp(false, { type: 'tryAgain' }), 'TryAgainError');
  assert.equal(giveUp(false, { type: 'tooStale', primary: undefined }), 'TooStaleError');
});

test('serverErrorName: the class errorFromReply builds for each code', () => {
  const lines: Array<[string, ServerErrorName]> = [
    ['READONLY no. primary=127.0.0.1:1', 'ReadOnlyError'],
    ['NOTPRIMARY no', 'NotPrimaryError'],
    ['TOOSTALE behind', 'TooStaleError'],
    ['TRYAGAIN later', 'TryAgainError'],
    ['LOADING loading', 'TryAgainError'],
    ['NOQUORUM outcome unknown: x', 'NoQuorumError'],
    ['SESSIONLOST position 1:2 gone', 'SessionLostError'],
    ['NOAUTH needed', 'AuthError'],
    ['WRONGPASS bad', 'AuthError'],
    ['WRONGTYPE no', 'ReplyError'],
  ];
  for (const [line, expected] of lines) {
    const e = errorFromReply(line);
    assert.equal(serverErrorName(e), expected, line);
    assert.equal(e.name, expected, line);
  }
});

// ------------------------------------------------------------------ batches

const R: AttemptOutcome = { type: 'reply' };
const LOST: AttemptOutcome = { type: 'noReply' };
const NOT_SENT: AttemptOutcome = { type: 'notSent' };
const RO = (primary?: string): AttemptOutcome => ({ type: 'readOnly', primary });
const STALE: AttemptOutcome = { type: 'tooStale', primary: undefined };
const NOQ_READ: AttemptOutcome = { type: 'noQuorum', outcomeUnknown: false };
const NOQ_WRITE: AttemptOutcome = { type: 'noQuorum', outcomeUnknown: true };
const ERR: AttemptOutcome = { type: 'replyError' };

test('reduceAttempt: a batch is retried whole only when that is as safe as retrying each command', () => {
  const batch = (kinds: CommandKind[], outs: AttemptOutcome[], pre: AttemptOutcome | null = null, mode: Consistency = 'eventual') => reduceAttempt(kinds, outs, pre, mode, true);
  // A lost command: the batch counts as its least safe command.
  assert.deepEqual(batch(['idempotentWrite', 'write'], [R, LOST]), { outcome: LOST, kind: 'write', from: 1 });
  assert.deepEqual(batch(['idempotentWrite', 'idempotentWrite'], [LOST, LOST]), { outcome: LOST, kind: 'idempotentWrite', from: 0 });
  assert.deepEqual(batch(['read', 'write'], [NOT_SENT, NOT_SENT]), { outcome: NOT_SENT, kind: 'write', from: 0 });
  assert.deepEqual(batch(['read', 'write'], [R, NOT_SENT]), { outcome: LOST, kind: 'write', from: 1 }, 'one command out: it may have run');
  // Every write refused: nothing but reads ran; a refusal naming the primary is preferred.
  assert.deepEqual(batch(['read', 'write', 'write'], [R, { type: 'tryAgain' }, RO('p:1')]), { outcome: RO('p:1'), kind: 'read', from: 2 });
  assert.deepEqual(batch(['write'], [RO()]), { outcome: RO(), kind: 'read', from: 0 });
  // A write ran: the results go back, refusals in their slots.
  assert.deepEqual(batch(['write', 'write'], [R, RO('p:1')]), { outcome: R, kind: 'write', from: null });
  // Errors that are results, not refusals.
  assert.deepEqual(batch(['read', 'write'], [ERR, ERR]), { outcome: R, kind: 'write', from: null });
  assert.deepEqual(batch(['write'], [NOQ_WRITE], null, 'quorum'), { outcome: R, kind: 'write', from: null }, "a write's NOQUORUM may still commit");
  // A quorum read without quorum did nothing: retried whole (new for pipelines); outside quorum mode a result.
  assert.deepEqual(batch(['read', 'read'], [R, NOQ_READ], null, 'quorum'), { outcome: NOQ_READ, kind: 'read', from: 1 });
  assert.deepEqual(batch(['read', 'read'], [R, NOQ_READ], null, 'eventual'), { outcome: R, kind: 'read', from: null });
  // TOOSTALE in a pipeline: retried whole when only reads ran.
  assert.deepEqual(batch(['read', 'read'], [STALE, R]), { outcome: STALE, kind: 'read', from: 0 });
  // The session token presented before the reads was refused.
  assert.deepEqual(batch(['read'], [STALE], STALE, 'session'), { outcome: STALE, kind: 'read', from: 'pre' });
  assert.deepEqual(batch(['read'], [LOST], { type: 'sessionLost' }, 'session'), { outcome: { type: 'sessionLost' }, kind: 'read', from: 'pre' });
  assert.deepEqual(batch(['write', 'read'], [R, STALE], STALE, 'session'), { outcome: R, kind: 'write', from: null }, 'the write ran: results');
  assert.deepEqual(batch(['write', 'read'], [RO(), STALE], STALE, 'session'), { outcome: STALE, kind: 'read', from: 'pre' }, 'the write was refused');
  assert.deepEqual(batch(['read'], [R], R, 'session'), { outcome: R, kind: 'read', from: null });
  assert.deepEqual(batch([], []), { outcome: R, kind: 'read', from: null });
});

test('reduceAttempt: a single command is its own outcome', () => {
  const one = (kind: CommandKind, out: AttemptOutcome, pre: AttemptOutcome | null = null) => reduceAttempt([kind], [out], pre, 'session', false);
  assert.deepEqual(one('write', ERR), { outcome: ERR, kind: 'write', from: 0 });
  assert.deepEqual(one('write', NOQ_WRITE), { outcome: NOQ_WRITE, kind: 'write', from: 0 });
  assert.deepEqual(one('read', R), { outcome: R, kind: 'read', from: 0 });
  assert.deepEqual(one('write', LOST), { outcome: LOST, kind: 'write', from: 0 });
  assert.deepEqual(one('read', R, STALE), { outcome: STALE, kind: 'read', from: 'pre' });
  // Whatever it came to, a single command's attempt is decided on its own outcome and kind.
  for (const o of outcomes()) {
    if (o.type === 'setupRefused') continue; // a connection's outcome, not a command's
    for (const kind of KINDS) assert.deepEqual(reduceAttempt([kind], [o], null, 'quorum', false), { outcome: o, kind, from: 0 }, JSON.stringify({ o, kind }));
  }
});

test('afterPosition: a lost POSITION is owed after a write, and retries a read', () => {
  assert.equal(afterPosition('write', R), 'advance');
  assert.equal(afterPosition('read', R), 'advance');
  assert.equal(afterPosition('write', LOST), 'owe');
  assert.equal(afterPosition('idempotentWrite', { type: 'tryAgain' }), 'owe');
  assert.equal(afterPosition('read', LOST), 'retryRead');
  assert.equal(afterPosition('read', ERR), 'retryRead');
});
