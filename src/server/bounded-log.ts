// A warning that can repeat without bound (failed TLS handshakes, failed accepts): every one is
// counted, and at most one line per interval is logged, saying how many were not. Owns only the
// rate; never decides what failed or what happens to the connection.

export class RateBoundedLog {
  private unlogged = 0;
  private lastLogMs = Number.NEGATIVE_INFINITY;

  constructor(
    /** The line's start, e.g. "TLS handshake failed". */
    private readonly what: string,
    private readonly intervalMs: number,
    private readonly count: () => void,
    private readonly log: (msg: string) => void,
    private readonly nowMs: () => number = Date.now,
  ) {}

  failed(reason: string, from: string): void {
    this.count();
    const now = this.nowMs();
    if (now - this.lastLogMs < this.intervalMs) {
      this.unlogged++;
      return;
    }
    const more = this.unlogged > 0 ? ` (and ${this.unlogged} more since the last report)` : '';
    this.log(`${this.what} from ${from}: ${reason}${more}`);
    this.lastLogMs = now;
    this.unlogged = 0;
  }
}
