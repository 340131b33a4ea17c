// CLIENT PAUSE: the server's pause (mode and end time) and the clients it holds, in the order
// they were held. Owns that state and its end timer; it never decides which command a pause
// holds (the dispatcher classifies, see Dispatcher.pauseHolds), never runs a held command (the
// connection does when released) and never touches a socket. Replication links are not client
// connections, so a pause never holds them: a paused primary keeps shipping entries already
// written, answers its replicas and takes part in elections.

import type { PauseMode } from './command-types.js';

/** What a held client must offer: whether it closed meanwhile, and a way to go on once the pause ends. */
export interface PausedClient {
  readonly isClosed: boolean;
  /** The pause ended: run the held command and the rest of the pipeline (in a later turn). */
  releaseFromPause(): void;
}

/** List length at which held clients that closed meanwhile are dropped (see ClientPause.held). */
const HELD_PRUNE_AT = 1024;

export class ClientPause {
  private modeNow: PauseMode | null = null;
  private endMs = 0;
  private timer: NodeJS.Timeout | null = null;
  /**
   * Held clients, first held first released. A live client is in it at most once (it runs
   * nothing while held), so live entries are bounded by maxclients; closed ones are dropped
   * whenever the list reaches HELD_PRUNE_AT entries.
   */
  private held: PausedClient[] = [];

  /**
   * @param onChange told when a pause starts or ends (the store stops or resumes expiry and
   *   eviction deletes, so a WRITE pause leaves the dataset unchanged).
   */
  constructor(private readonly onChange: (paused: boolean) => void) {}

  /** The mode in effect, or null (read by every connection before each command while set). */
  get mode(): PauseMode | null {
    return this.modeNow;
  }

  /** Milliseconds left (0 when not paused). */
  remainingMs(nowMs: number): number {
    return this.modeNow === null ? 0 : Math.max(0, this.endMs - nowMs);
  }

  /** Clients held now (INFO blocked_clients counts them, as Redis counts postponed clients). */
  get heldCount(): number {
    let n = 0;
    for (const c of this.held) if (!c.isClosed) n++;
    return n;
  }

  /**
   * Pause until `endMs`. Like Redis 7.0, a pause in effect keeps the stricter of the two modes
   * and the later of the two end times.
   */
  pause(mode: PauseMode, endMs: number, nowMs: number): void {
    const was = this.modeNow;
    this.modeNow = was === 'all' || mode === 'all' ? 'all' : 'write';
    if (was === null || endMs > this.endMs) this.endMs = endMs;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.unpause(), Math.max(0, this.endMs - nowMs));
    this.timer.unref();
    if (was === null) this.onChange(true);
  }

  /** End the pause now: held clients go on in the order they were held. */
  unpause(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.modeNow === null) return;
    this.modeNow = null;
    this.endMs = 0;
    this.onChange(false);
    const held = this.held;
    this.held = [];
    for (const c of held) if (!c.isClosed) c.releaseFromPause();
  }

  /** A client's next command waits for the end of the pause. */
  hold(c: PausedClient): void {
    if (this.held.length >= HELD_PRUNE_AT) this.held = this.held.filter((h) => !h.isClosed);
    this.held.push(c);
  }

  /** Server shutdown: no timer keeps running; held clients are closed by the server. */
  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.held = [];
  }
}
