// The client's retry decision as pure functions: what one attempt's outcome means for the
// operation (return, follow a redirect, refresh and retry, or fail with which typed error), and
// how a pipelined batch's per-command outcomes reduce to one attempt outcome. Owns the rules the
// README's client section states; it never sends, sleeps, reads a clock or touches the topology
// (KvClient does, from the decision).

import { leastSafeKind, type CommandKind } from '../protocol/command-kinds.js';
import {
  AuthError,
  NoQuorumError,
  NotPrimaryError,
  ReadOnlyError,
  SessionLostError,
  TooStaleError,
  TryAgainError,
  type KvError,
} from './errors.js';

export type Consistency = 'eventual' | 'session' | 'quorum';

/** Redirect hops one operation may follow before it backs off instead (a loop of stale redirects ends here). */
export const REDIRECT_HOPS_MAX = 5;

/** The typed errors a server reply becomes (errors.ts, errorFromReply). */
export type ServerErrorName =
  | 'ReadOnlyError'
  | 'NotPrimaryError'
  | 'TooStaleError'
  | 'TryAgainError'
  | 'NoQuorumError'
  | 'SessionLostError'
  | 'AuthError'
  | 'ReplyError';

/** What one attempt came to. */
export type AttemptOutcome =
  | { readonly type: 'reply' }
  /** -READONLY: a write reached a replica. It did not run. */
  | { readonly type: 'readOnly'; readonly primary: string | undefined }
  /** -NOTPRIMARY: a quorum request reached a replica. It did not run. */
  | { readonly type: 'notPrimary'; readonly primary: string | undefined }
  /** -TOOSTALE: the replica is beyond its staleness bound or behind the session's position. It did not run. */
  | { readonly type: 'tooStale'; readonly primary: string | undefined }
  /** -TRYAGAIN or -LOADING: the node is changing role or loading. It did not run. */
  | { readonly type: 'tryAgain' }
  /** -NOQUORUM: `outcomeUnknown` when the server says a write may still commit; false when it refused before running. */
  | { readonly type: 'noQuorum'; readonly outcomeUnknown: boolean }
  /** -SESSIONLOST, or a write's owed position that cannot be asked for any more. */
  | { readonly type: 'sessionLost' }
  /** -NOAUTH / -WRONGPASS. */
  | { readonly type: 'auth' }
  /** Any other error reply (WRONGTYPE, syntax): the command ran and failed. */
  | { readonly type: 'replyError' }
  /** The node answered the connection's setup (AUTH, CONSISTENCY ...) with this error. */
  | { readonly type: 'setupRefused'; readonly error: ServerErrorName }
  /** No connection, or it failed before the command left the client: it certainly did not run. */
  | { readonly type: 'notSent' }
  /** Sent, then the connection failed or the command timeout killed it without a reply: it may have run. */
  | { readonly type: 'noReply' };

/** The operation's facts and budget at the moment the attempt's outcome is known. */
export interface AttemptState {
  /** The operation's kind (a batch: the least safe of its commands). */
  readonly kind: CommandKind;
  readonly consistency: Consistency;
  /** May an idempotent write be sent again after an attempt of unknown outcome (KvClientOptions). */
  readonly retryIdempotentWrites: boolean;
  /** The node the attempt went to. */
  readonly address: string;
  /** Redirects this operation already followed. */
  readonly redirectHops: number;
  /** The operation's deadline has passed: no further attempt. */
  readonly deadlinePassed: boolean;
  /** An earlier attempt of this operation was sent and lost, and may have taken effect. */
  readonly earlierMayHaveRun: boolean;
}

/** The errors the client builds itself, and the typed server errors it passes on. */
export type FailWith = ServerErrorName | 'OutcomeUnknownError' | 'UnavailableError';

export type RetryDecision =
  | { readonly action: 'return' }
  /**
   * Send the next attempt to `to` now, without backing off. `learnPrimary`: the redirect names
   * the primary, believe it before the refresh confirms it. `readsToPrimary`: from now on this
   * operation's reads go to the primary.
   */
  | { readonly action: 'redirect'; readonly to: string; readonly learnPrimary: boolean; readonly refresh: boolean; readonly readsToPrimary: boolean }
  /**
   * Refresh the topology (in the background), back off, route again. `markDown`: the node stopped
   * answering; avoid it until the refresh. `mayHaveRun`: this attempt may have taken effect, so a
   * later give-up is OutcomeUnknownError, not UnavailableError.
   */
  | { readonly action: 'retry'; readonly markDown: boolean; readonly readsToPrimary: boolean; readonly mayHaveRun: boolean }
  /**
   * Fail with `error`. From a server reply it is that reply's typed error; `at: 'deadline'` when
   * the attempt would have been retried but the deadline passed.
   */
  | { readonly action: 'fail'; readonly error: FailWith; readonly at: 'attempt' | 'deadline'; readonly refresh: boolean };

/** The one retry decision: one attempt's outcome, in this operation's state. */
export function decide(outcome: AttemptOutcome, s: AttemptState): RetryDecision {
  const d = decideIgnoringDeadline(outcome, s);
  if (!s.deadlinePassed || d.action === 'return' || d.action === 'fail') return d;
  const mayHaveRun = s.earlierMayHaveRun || (d.action === 'retry' && d.mayHaveRun);
  return { action: 'fail', error: giveUp(mayHaveRun, outcome), at: 'deadline', refresh: false };
}

function decideIgnoringDeadline(o: AttemptOutcome, s: AttemptState): RetryDecision {
  const retry = (extra: Partial<{ markDown: boolean; readsToPrimary: boolean; mayHaveRun: boolean }> = {}): RetryDecision => ({
    action: 'retry',
    markDown: extra.markDown ?? false,
    readsToPrimary: extra.readsToPrimary ?? false,
    mayHaveRun: extra.mayHaveRun ?? false,
  });
  const fail = (error: FailWith, refresh = false): RetryDecision => ({ action: 'fail', error, at: 'attempt', refresh });
  /** A redirect to a named primary is followed when it names another node and the hop budget allows. */
  const follows = (primary: string | undefined): primary is string => primary !== undefined && primary !== s.address && s.redirectHops < REDIRECT_HOPS_MAX;
  switch (o.type) {
    case 'reply':
      return { action: 'return' };
    case 'readOnly':
    case 'notPrimary':
      // The command did not run: follow the address the server named, and learn from it.
      return follows(o.primary) ? { action: 'redirect', to: o.primary, learnPrimary: true, refresh: true, readsToPrimary: false } : retry();
    case 'tooStale':
      // This replica cannot serve the read (too far behind, or not at our session position): the primary can.
      return follows(o.primary) ? { action: 'redirect', to: o.primary, learnPrimary: false, refresh: false, readsToPrimary: true } : retry({ readsToPrimary: true });
    case 'tryAgain':
      return retry();
    case 'noQuorum':
      // A quorum read that could not confirm leadership did nothing: retry. A write's is final
      // either way (NoQuorumError.outcomeUnknown tells the caller whether it may still commit).
      return isRefusal(o, s.kind, s.consistency) ? retry() : fail('NoQuorumError');
    case 'sessionLost':
      return fail('SessionLostError');
    case 'auth':
      return fail('AuthError');
    case 'replyError':
      return fail('ReplyError');
    case 'setupRefused':
      return fail(o.error);
    case 'notSent':
      return retry({ markDown: true });
    case 'noReply':
      if (s.kind === 'read') return retry({ markDown: true });
      if (s.kind === 'idempotentWrite' && s.retryIdempotentWrites) return retry({ markDown: true, mayHaveRun: true });
      return fail('OutcomeUnknownError', true);
    default: {
      const never: never = o;
      throw new Error(`unhandled outcome ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The error for an operation whose deadline passed. "Unavailable" promises nothing ran, which
 * is false once an attempt was lost in flight; otherwise the last refusal says best why not.
 */
export function giveUp(mayHaveRun: boolean, last: AttemptOutcome | null): FailWith {
  if (mayHaveRun) return 'OutcomeUnknownError';
  const name = last === null ? null : errorNameOf(last);
  return name === null || name === 'ReplyError' ? 'UnavailableError' : name;
}

/** The typed error an outcome stands for; null for a reply or a connection failure. */
function errorNameOf(o: AttemptOutcome): ServerErrorName | null {
  switch (o.type) {
    case 'readOnly':
      return 'ReadOnlyError';
    case 'notPrimary':
      return 'NotPrimaryError';
    case 'tooStale':
      return 'TooStaleError';
    case 'tryAgain':
      return 'TryAgainError';
    case 'noQuorum':
      return 'NoQuorumError';
    case 'sessionLost':
      return 'SessionLostError';
    case 'auth':
      return 'AuthError';
    case 'replyError':
      return 'ReplyError';
    case 'setupRefused':
      return o.error;
    case 'reply':
    case 'notSent':
    case 'noReply':
      return null;
    default: {
      const never: never = o;
      throw new Error(`unhandled outcome ${JSON.stringify(never)}`);
    }
  }
}

/** The outcome a typed server error stands for. */
export function outcomeOfError(e: KvError): AttemptOutcome {
  if (e instanceof ReadOnlyError) return { type: 'readOnly', primary: e.primary };
  if (e instanceof NotPrimaryError) return { type: 'notPrimary', primary: e.primary };
  if (e instanceof TooStaleError) return { type: 'tooStale', primary: e.primary };
  if (e instanceof TryAgainError) return { type: 'tryAgain' };
  if (e instanceof NoQuorumError) return { type: 'noQuorum', outcomeUnknown: e.outcomeUnknown };
  if (e instanceof SessionLostError) return { type: 'sessionLost' };
  if (e instanceof AuthError) return { type: 'auth' };
  return { type: 'replyError' };
}

/** What one command of an attempt came to, as the connection reports it (node-conn.ts SendOutcome). */
export type CommandOutcome =
  | { readonly kind: 'reply' }
  | { readonly kind: 'error'; readonly error: KvError }
  | { readonly kind: 'notSent' }
  | { readonly kind: 'unknown' };

export function outcomeOfCommand(c: CommandOutcome): AttemptOutcome {
  switch (c.kind) {
    case 'reply':
      return { type: 'reply' };
    case 'error':
      return outcomeOfError(c.error);
    case 'notSent':
      return { type: 'notSent' };
    case 'unknown':
      return { type: 'noReply' };
    default: {
      const never: never = c;
      throw new Error(`unhandled command outcome ${JSON.stringify(never)}`);
    }
  }
}

/**
 * A refusal: the node did not run the command because of its own state (role, staleness,
 * quorum), so another attempt may succeed and repeating it is safe. A write's NOQUORUM is never
 * one (it may still commit); a read's is one only where the policy retries it (quorum mode).
 */
export function isRefusal(o: AttemptOutcome, kind: CommandKind, consistency: Consistency): boolean {
  if (o.type === 'readOnly' || o.type === 'notPrimary' || o.type === 'tooStale' || o.type === 'tryAgain') return true;
  return o.type === 'noQuorum' && kind === 'read' && consistency === 'quorum';
}

/** An attempt reduced to one outcome, the kind to decide it for, and where the outcome came from. */
export interface ReducedAttempt {
  readonly outcome: AttemptOutcome;
  readonly kind: CommandKind;
  /** The outcome is the presented token's ('pre'), that command's (an index), or the batch's replies (null). */
  readonly from: 'pre' | number | null;
}

/**
 * One attempt of an operation (a single command, or a pipeline's batch) as one outcome. A batch is
 * retried whole only when that is as safe as retrying each of its commands: when nothing but
 * reads ran (every write refused, or the session token presented before the reads refused) it
 * counts as a read; when a command was lost, as its least safe command. Otherwise a batch's
 * results go back, each command's error in its own slot, while a single command's own outcome
 * is the attempt's.
 * `pre`: the outcome of the session token presented before the commands (null: none presented).
 */
export function reduceAttempt(kinds: readonly CommandKind[], outs: readonly AttemptOutcome[], pre: AttemptOutcome | null, consistency: Consistency, batch: boolean): ReducedAttempt {
  const kind = leastSafeKind(kinds);
  const noWriteRan = outs.every((o, i) => kinds[i] === 'read' || isRefusal(o, kinds[i] as CommandKind, consistency));
  if (pre !== null && pre.type !== 'reply' && noWriteRan) return { outcome: pre, kind: 'read', from: 'pre' };
  const lost = outs.findIndex((o) => o.type === 'noReply' || o.type === 'notSent');
  if (lost >= 0) return { outcome: outs.every((o) => o.type === 'notSent') ? { type: 'notSent' } : { type: 'noReply' }, kind, from: lost };
  if (!batch) return { outcome: outs[0] ?? { type: 'reply' }, kind, from: outs.length > 0 ? 0 : null };
  const refused = outs.map((o, i) => (isRefusal(o, kinds[i] as CommandKind, consistency) ? i : -1)).filter((i) => i >= 0);
  if (refused.length > 0 && noWriteRan) {
    const named = refused.find((i) => { const o = outs[i] as AttemptOutcome; return 'primary' in o && o.primary !== undefined; });
    const i = named ?? (refused[0] as number);
    return { outcome: outs[i] as AttemptOutcome, kind: 'read', from: i };
  }
  return { outcome: { type: 'reply' }, kind, from: null };
}

/**
 * Session mode, after an attempt whose outcome was a reply: what the POSITION sent after it
 * means. Its token advances the session; without it, an operation that may have written owes
 * its position (asked for again before the next read), and a read is retried instead.
 */
export function afterPosition(kind: CommandKind, pos: AttemptOutcome): 'advance' | 'owe' | 'retryRead' {
  if (pos.type === 'reply') return 'advance';
  return kind === 'read' ? 'retryRead' : 'owe';
}

/** The class name of a typed server error (errorFromReply's classes). */
export function serverErrorName(e: KvError): ServerErrorName {
  return errorNameOf(outcomeOfError(e)) ?? 'ReplyError';
}
