// The set of live connections: ids, maxclients accounting, CLIENT LIST lines and CLIENT KILL.
// Owns only membership and its formatting; it never reads from or writes to a socket
// (killing goes through Connection.destroy, which owns the socket).

import type { ClientState } from './command-types.js';
import type { Connection } from './connection.js';

export interface KillFilter {
  id?: number;
  addr?: string;
  laddr?: string;
}

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

  /** Redis CLIENT LIST line for one connection (the fields clients and tools look at). */
  line(c: Connection, nowMs: number): string {
    const s = c.client;
    const age = Math.floor((nowMs - s.createdMs) / 1000);
    const idle = Math.floor((nowMs - c.lastInteractionMs) / 1000);
    return (
      `id=${s.id} addr=${s.addr} laddr=${s.laddr} fd=-1 name=${s.name} age=${age} idle=${idle} flags=${clientFlags(s, c.subs.total > 0)} db=0 sub=${c.subs.channels.size} psub=${c.subs.patterns.size} ssub=${c.subs.shards.size} multi=${s.tx?.queue?.length ?? -1} ` +
      `qbuf=${c.parser.pendingBytes} qbuf-free=0 argv-mem=0 multi-mem=0 obl=0 oll=0 omem=${c.outputBytes} tot-mem=${c.parser.pendingBytes + c.outputBytes} ` +
      `events=r cmd=${s.lastCommand === '' ? 'NULL' : s.lastCommand} user=default redir=${s.tracking?.on === true ? s.tracking.redirect : -1} resp=${s.protocol} lib-name=${s.libName} lib-ver=${s.libVersion}`
    );
  }

  list(nowMs: number): string {
    let out = '';
    for (const c of this.conns.values()) out += this.line(c, nowMs) + '\n';
    return out;
  }

  /** Kill every client matching all given filters; returns how many. */
  kill(f: KillFilter): number {
    const victims: Connection[] = [];
    for (const c of this.conns.values()) {
      if (f.id !== undefined && c.client.id !== f.id) continue;
      if (f.addr !== undefined && c.client.addr !== f.addr) continue;
      if (f.laddr !== undefined && c.client.laddr !== f.laddr) continue;
      victims.push(c);
    }
    for (const c of victims) c.destroy();
    return victims.length;
  }
}

/** CLIENT LIST flags: b blocked (BLPOP...), x in MULTI, d when a watched key changed (EXEC will fail), else N. */
function clientFlags(s: ClientState, subscribed: boolean): string {
  const tx = s.tx;
  const t = s.tracking;
  const tf = t === undefined || t === null || !t.on ? '' : 't' + (t.brokenRedirect ? 'R' : '') + (t.bcast ? 'B' : '');
  const b = (subscribed ? 'P' : '') + (s.blocked === true ? 'b' : '') + tf;
  if (tx === undefined || tx === null) return b === '' ? 'N' : b;
  const f = b + (tx.inMulti ? 'x' : '') + (tx.dirty ? 'd' : '');
  return f === '' ? 'N' : f;
}
