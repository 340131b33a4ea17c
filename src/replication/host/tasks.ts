// The host's ordered task FIFO: received frames and the core's effect batches run one at a
// time, each to completion (awaiting the store), in arrival order, so the store and the core
// never see two log changes interleave. Owns the queue, its bound and its idle waiters; never
// looks inside a task.

import assert from 'node:assert';

/** Frames queued behind a slow task (a snapshot commit) before the link is dropped. */
export const TASK_QUEUE_MAX = 1_000_000;

export type Task = () => void | Promise<void>;

export class TaskQueue {
  private readonly tasks: Array<{ readonly run: Task; readonly frame: boolean }> = [];
  /** Frame tasks among `tasks`: the part the bound applies to (effects cannot be refused). */
  private frames = 0;
  private running = false;
  private idleWaiters: Array<() => void> = [];

  /** `onError` gets what a task threw; the queue is emptied first. */
  constructor(private readonly onError: (e: unknown) => void) {}

  get busy(): boolean {
    return this.running || this.tasks.length > 0;
  }

  /** Queue a received frame's task; false (nothing queued) past TASK_QUEUE_MAX. */
  pushFrame(t: Task): boolean {
    if (this.frames >= TASK_QUEUE_MAX) return false;
    this.frames++;
    this.enqueue(t, true);
    return true;
  }

  push(t: Task): void {
    this.enqueue(t, false);
  }

  private enqueue(run: Task, frame: boolean): void {
    this.tasks.push({ run, frame });
    if (!this.running) void this.run();
  }

  /** Resolves when no task is queued or running. */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      for (let t = this.tasks.shift(); t !== undefined; t = this.tasks.shift()) {
        if (t.frame) this.frames--;
        assert(this.frames >= 0 && this.frames <= TASK_QUEUE_MAX, 'frame tasks counted within their bound');
        const r = t.run();
        if (r !== undefined) await r;
      }
    } catch (e) {
      this.tasks.length = 0;
      this.frames = 0;
      this.onError(e);
    } finally {
      this.running = false;
    }
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }
}
