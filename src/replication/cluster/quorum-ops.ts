// Quorum reads and writes for clients (CONSISTENCY QUORUM, `GET key QUORUM`, `SET ... QUORUM`):
// runs the command against a ReplyRecorder, submits the core's quorumWrite (it wrote) or
// quorumRead (it only read: the state read now is the state at readSeq), and writes the recorded
// reply only when the core confirms. Owns the pending operations and their texts; it never
// decides commit or leadership (the core does) and never replies before that confirmation.

import type { ClientState, CommandContext, CommandSpec } from '../../server/command-types.js';
import type { Seq } from '../../storage/types.js';
import type { ReadFailure } from '../core/types.js';
import { ReplyRecorder } from './reply-recorder.js';
import { ERR_REMOVED } from './member-commands.js';

/** Quorum operations waiting for the core at once; beyond it new ones fail at once (bounded memory). */
export const PENDING_QUORUM_OPS_MAX = 100_000;

/** Runs the normal checks (arity, auth, gate) and the handler with the given context and arguments. */
export type RunCommand = (ctx: CommandContext, spec: CommandSpec, argv: readonly Buffer[]) => void;

/** What quorum operations need from the replication host. */
export interface QuorumBackend {
  /** Why this node cannot do quorum operations at all (manual mode), or null. */
  quorumUnavailable(): string | null;
  submitRead(readId: number): void;
  submitWrite(writeId: number, seq: Seq): void;
}

interface Pending {
  readonly recorder: ReplyRecorder;
  readonly finish: NonNullable<ReturnType<NonNullable<CommandContext['defer']>>>;
}

export function noQuorumWrite(reason: string): string {
  return `NOQUORUM outcome unknown: the write may or may not take effect (${reason})`;
}

/** A quorum read on a replica: redirected (not forwarded) to the primary, like READONLY for writes. */
export function notPrimary(redirect: string | null): string {
  return `NOTPRIMARY quorum reads and writes are served by the primary; primary=${redirect ?? 'unknown'}`;
}

function isWord(b: Buffer | undefined, word: string): boolean {
  return b !== undefined && b.length === word.length && b.toString('latin1').toUpperCase() === word;
}

/**
 * The per-command shorthand: `GET key QUORUM` (exactly) and `SET key value [options] QUORUM`
 * (a trailing word after at least key and value, so `SET key QUORUM` still stores "QUORUM").
 */
export function quorumSuffix(spec: CommandSpec, argv: readonly Buffer[]): boolean {
  if (spec.name === 'get') return argv.length === 3 && isWord(argv[2], 'QUORUM');
  if (spec.name === 'set') return argv.length >= 4 && isWord(argv[argv.length - 1], 'QUORUM');
  return false;
}


/**
 * EVAL and EVALSHA are not flagged write (whether a script writes is known once it ran), yet may
 * write: they are quorum operations, a write when the position advanced, else a read.
 */
const SCRIPT_RUNNERS: ReadonlySet<string> = new Set(['eval', 'evalsha']);
export class QuorumOps {
  private nextId = 1;
  private readonly reads = new Map<number, Pending>();
  private readonly writes = new Map<number, Pending>();

  constructor(
    private readonly backend: QuorumBackend,
    private readonly quorumMode: (client: ClientState) => boolean,
  ) {}

  get pending(): number {
    return this.reads.size + this.writes.size;
  }

  /**
   * Dispatcher interceptor: returns false when the command is not a quorum operation (the
   * dispatcher runs it normally); otherwise it has replied or deferred the reply.
   */
  intercept = (spec: CommandSpec, ctx: CommandContext, argv: readonly Buffer[], run: RunCommand): boolean => {
    const suffix = quorumSuffix(spec, argv);
    if (!suffix && !this.quorumMode(ctx.client)) return false;
    const isWrite = spec.flags.includes('write') || SCRIPT_RUNNERS.has(spec.name);
    if (!isWrite && !spec.flags.includes('readonly')) return false; // PING, INFO, CONSISTENCY...: nothing to confirm
    const unavailable = this.backend.quorumUnavailable();
    if (unavailable !== null) {
      ctx.out.error(`NOQUORUM ${unavailable}`);
      return true;
    }
    const args = suffix ? argv.slice(0, -1) : argv;
    const recorder = new ReplyRecorder(ctx.out.protocol);
    const before = ctx.store.lastPosition.seq;
    const quiet: CommandContext = {
      store: ctx.store,
      out: recorder,
      write: (ops) => ctx.write(ops),
      client: ctx.client,
      server: ctx.server,
    };
    run(quiet, spec, args);
    const after = ctx.store.lastPosition.seq;
    if (after === before && recorder.errors > 0) {
      // Rejected before touching data (arity, syntax, READONLY, TOOSTALE...): nothing to confirm.
      recorder.replay(ctx.out);
      return true;
    }
    if (this.pending >= PENDING_QUORUM_OPS_MAX) {
      ctx.out.error(after > before ? noQuorumWrite(`more than ${PENDING_QUORUM_OPS_MAX} quorum operations pending`) : `NOQUORUM more than ${PENDING_QUORUM_OPS_MAX} quorum operations pending; retry`);
      return true;
    }
    const finish = ctx.defer?.();
    if (finish === undefined) {
      ctx.out.error(after > before ? noQuorumWrite('this server cannot defer replies') : 'NOQUORUM this server cannot defer replies');
      return true;
    }
    const id = this.nextId++;
    if (after > before) {
      this.writes.set(id, { recorder, finish });
      this.backend.submitWrite(id, after);
    } else {
      // The reply was computed from the keyspace as of now (= readSeq); the core says when it is safe.
      this.reads.set(id, { recorder, finish });
      this.backend.submitRead(id);
    }
    return true;
  };

  // ================================================================ results from the core

  onReadReady(readId: number): void {
    const p = this.reads.get(readId);
    if (p === undefined) return;
    this.reads.delete(readId);
    p.finish((out) => p.recorder.replay(out));
  }

  onReadFailed(readId: number, failure: ReadFailure): void {
    const p = this.reads.get(readId);
    if (p === undefined) return;
    this.reads.delete(readId);
    const text =
      failure.reason === 'notPrimary'
        ? notPrimary(failure.redirect)
        : failure.reason === 'removed'
          ? ERR_REMOVED
          : failure.reason === 'manualMode'
            ? 'NOQUORUM quorum needs cluster mode (--cluster)'
            : `NOQUORUM read not confirmed by a majority (${failure.reason === 'timeout' ? 'timed out' : 'the primary stepped down'}); retry`;
    p.finish((out) => out.error(text));
  }

  onWriteResult(writeId: number, outcome: 'ok' | 'unknown', reason: string): void {
    const p = this.writes.get(writeId);
    if (p === undefined) return;
    this.writes.delete(writeId);
    if (outcome === 'ok') p.finish((out) => p.recorder.replay(out));
    else p.finish((out) => out.error(noQuorumWrite(reason)));
  }
}
