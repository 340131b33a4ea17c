// MIGRATE's connections to target servers: one cached RESP connection per host:port, reused for
// MIGRATE_LINK_IDLE_MS after its last use (Redis's migrate cached sockets), at most
// MIGRATE_LINKS_MAX of them, each with the database it last SELECTed. Owns those sockets and
// their idle timers; never interprets a MIGRATE (commands/migrate.ts does) and never touches
// the store.

import { CONNECT_TIMED_OUT, connectResp, type CallResult, type RespConnection } from '../client/resp-conn.js';

/** How long an unused cached connection stays open (Redis: 10 s). */
export const MIGRATE_LINK_IDLE_MS = 10_000;
/** Cached connections at most; past it the least recently used is closed (Redis: 64). */
export const MIGRATE_LINKS_MAX = 64;

export interface MigrateLink {
  readonly conn: RespConnection;
  /** The database the last SELECT chose on it (-1: none yet). */
  lastDb: number;
  lastUseMs: number;
  /** Taken from the cache rather than opened for this MIGRATE (a stale one may be retried once). */
  readonly reused: boolean;
}

export class MigrateLinks {
  private readonly links = new Map<string, MigrateLink>();
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.timer = setInterval(() => this.closeIdle(Date.now()), 1000);
    this.timer.unref();
  }

  get size(): number {
    return this.links.size;
  }

  /**
   * The cached connection to host:port, or a new one; 'timeout' when none was made within
   * timeoutMs, 'refused' when the attempt failed at once (Redis notices that at its first write).
   */
  async get(host: string, port: number, timeoutMs: number): Promise<MigrateLink | 'timeout' | 'refused'> {
    const name = `${host}:${port}`;
    const have = this.links.get(name);
    if (have !== undefined) {
      have.lastUseMs = Date.now();
      return { ...have, reused: true, conn: have.conn };
    }
    const r = await connectResp(host, port, timeoutMs);
    if (!r.ok) return r.error === CONNECT_TIMED_OUT ? 'timeout' : 'refused';
    if (this.links.size >= MIGRATE_LINKS_MAX) this.closeOldest();
    const link: MigrateLink = { conn: r.conn, lastDb: -1, lastUseMs: Date.now(), reused: false };
    this.links.set(name, link);
    return link;
  }

  /** Remember the database a SELECT chose on host:port's cached connection. */
  selected(host: string, port: number, db: number): void {
    const l = this.links.get(`${host}:${port}`);
    if (l !== undefined) l.lastDb = db;
  }

  /** A call on a link, failing with 'timeout' past timeoutMs (the link is then closed: its replies would arrive out of step). */
  async call(host: string, port: number, link: MigrateLink, args: readonly (string | Buffer)[], timeoutMs: number): Promise<CallResult | 'timeout'> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const r = await Promise.race([link.conn.call(args), timedOut]);
    clearTimeout(timer);
    if (r === 'timeout' || !r.ok) this.drop(host, port, link.conn);
    return r;
  }

  /** Close host:port's cached connection (after an I/O error or a timeout). */
  drop(host: string, port: number, conn: RespConnection): void {
    const name = `${host}:${port}`;
    if (this.links.get(name)?.conn === conn) this.links.delete(name);
    conn.close();
  }

  close(): void {
    clearInterval(this.timer);
    for (const l of this.links.values()) l.conn.close();
    this.links.clear();
  }

  private closeIdle(nowMs: number): void {
    for (const [name, l] of this.links) {
      if (nowMs - l.lastUseMs < MIGRATE_LINK_IDLE_MS) continue;
      this.links.delete(name);
      l.conn.close();
    }
  }

  private closeOldest(): void {
    let oldest: [string, MigrateLink] | null = null;
    for (const e of this.links) if (oldest === null || e[1].lastUseMs < oldest[1].lastUseMs) oldest = e;
    if (oldest === null) return;
    this.links.delete(oldest[0]);
    oldest[1].conn.close();
  }
}
