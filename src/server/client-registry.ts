// The set of live connections: ids, maxclients accounting, CLIENT LIST lines and CLIENT KILL.
// Owns only membership and its formatting; it never reads from or writes to a socket
// (killing goes through Connection.destroy, which owns the socket).

import type { ClientKillFilter, ClientState } from './command-types.js';
import type { Connection } from './connection.js';

export class ClientRegistry {
  private readonly conns = new Map<number, Connection>();
  private nextId = 1;

  allocateId(): number {
    return this.nextId++;
  }

  add(c: Connection): void {
    this.conns.set(c.client.id, c);
  }

  remove(c: Connection): void {
    this.conns.delete(c.client.id);
  }

  get size(): number {
    return this.conns.size;
  }

  all(): IterableIterator<Connection> {
    return this.conns.values();
  }

  get(id: number): Connection | undefined {
    return this.conns.get(id);
  }

  /**
   * Redis CLIENT LIST line for one connection (the fields clients and tools look at). The client
   * running the command (`runningId`) counts that command in its qbuf, as Redis's query buffer
   * still holds it; rbs is the read region's size, rbp the input held now.
   */
  line(c: Connection, nowMs: number, runningId: number): string {
    const s = c.client;
    const age = Math.floor((nowMs - s.createdMs) / 1000);
    const idle = Math.floor((nowMs - c.lastInteractionMs) / 1000);
    const qbuf = c.parser.pendingBytes + (s.id === runningId ? c.parser.frameBytes : 0);
    const cmd = s.lastCommand === '' ? 'NULL' : s.lastSubcommand === undefined ? s.lastCommand : `${s.lastCommand}|${s.lastSubcommand}`;
    return (
      `id=${s.id} addr=${s.addr} laddr=${s.laddr} fd=-1 name=${s.name} age=${age} idle=${idle} flags=${clientFlags(s, c.subs.total > 0)} db=0 sub=${c.subs.channels.size} psub=${c.subs.patterns.size} ssub=${c.subs.shards.size} multi=${s.tx?.queue?.length ?? -1} ` +
      `qbuf=${qbuf} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=${c.readBufferBytes} rbp=${qbuf} obl=0 oll=0 omem=${c.outputBytes} tot-mem=${qbuf + c.outputBytes} ` +
      `events=r cmd=${cmd} user=${s.user?.name ?? 'default'} redir=${s.tracking?.on === true ? s.tracking.redirect : -1} resp=${s.protocol} lib-name=${s.libName} lib-ver=${s.libVersion}`
    );
  }

  list(nowMs: number, runningId: number): string {
    let out = '';
    for (const c of this.conns.values()) out += this.line(c, nowMs, runningId) + '\n';
    return out;
  }

  /**
   * Kill every client matching all given filters; returns how many. The caller, when it matches
   * (skipMe off), is closed once its reply is written, as Redis does; the others at once.
   */
  kill(f: ClientKillFilter, nowMs: number): number {
    const victims: Connection[] = [];
    let killed = 0;
    for (const c of this.conns.values()) {
      const s = c.client;
      if (f.id !== undefined && s.id !== f.id) continue;
      if (f.addr !== undefined && s.addr !== f.addr) continue;
      if (f.laddr !== undefined && s.laddr !== f.laddr) continue;
      if (f.type !== undefined && clientType(c) !== f.type) continue;
      if (f.user !== undefined && (s.user?.name ?? 'default') !== f.user) continue;
      if (f.maxAgeSec !== undefined && Math.floor((nowMs - s.createdMs) / 1000) <= f.maxAgeSec) continue;
      if (s.id === f.callerId) {
        if (f.skipMe) continue;
        s.closeAfterReply = true;
        killed++;
      } else victims.push(c);
    }
    for (const c of victims) c.destroy();
    return killed + victims.length;
  }
}

/** Redis's client class of a connection on the client port: replicas and masters use links, not these. */
export function clientType(c: Connection): 'normal' | 'pubsub' {
  // A monitor is a normal client for the output limits and CLIENT KILL TYPE, as in Redis.
  return c.subs.total > 0 ? 'pubsub' : 'normal';
}

/**
 * CLIENT LIST flags, in Redis's order: O monitor, P subscribed, x in MULTI, b blocked (BLPOP...),
 * t tracking (R its redirect is gone, B broadcast mode), d when a watched key changed (EXEC will fail), c closing after its reply, r READONLY
 * (Redis Cluster), e no-evict, T no-touch; N when none.
 */
function clientFlags(s: ClientState, subscribed: boolean): string {
  const tx = s.tx;
  const inTx = tx !== undefined && tx !== null;
  const t = s.tracking;
  const tracking = t === undefined || t === null || !t.on ? '' : 't' + (t.brokenRedirect ? 'R' : '') + (t.bcast ? 'B' : '');
  const f =
    (s.monitor === true ? 'O' : '') +
    (subscribed ? 'P' : '') +
    (inTx && tx.inMulti ? 'x' : '') +
    (s.blocked === true ? 'b' : '') +
    tracking +
    (inTx && tx.dirty ? 'd' : '') +
    (s.closeAfterReply ? 'c' : '') +
    (s.clusterReadonly === true ? 'r' : '') +
    (s.noEvict === true ? 'e' : '') +
    (s.noTouch === true ? 'T' : '');
  return f === '' ? 'N' : f;
}
