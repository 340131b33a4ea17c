// The effects of one stream command as one 'xstream' op carries them: entries added with their
// resolved ids, the trim done (whole nodes, then entries up to an id), ids deleted, the stream's
// counters set, consumer groups, consumers and pending entries set or removed, every time already
// resolved by the primary, and the command's keyspace event where those do not tell it. Owns that
// byte form (encode, check, apply to a StreamObject); never decides what a command does
// (commands/streams.ts) and never touches the keyspace.
//
// The op is applied at most once per stream by its replay stamp (keyspace.ts, 'list stamps'), so
// an effect may be a deterministic function of the stream it finds (a trim of n head nodes).
//
// body = effect*, each [u8 tag][fields]; strings [u32 len][bytes], ids 16 bytes, numbers f64 LE.

import { ENTRY_NODE_START, entryFault, StreamGroup, type StreamObject } from './stream-object.js';
import { STREAM_ID_CHARS, type StreamId } from './stream-id.js';
import type { Key } from './types.js';

export type StreamEffect =
  /** Append an entry string (stream-object.ts form; ENTRY_NODE_START: in a new node): also sets last id and counts it added. */
  | { readonly k: 'add'; readonly entry: string }
  /** `deleted`: live entries it removes (the xtrim event fires only when some go, as in Redis). */
  | { readonly k: 'trim'; readonly nodes: number; readonly upTo: StreamId | null; readonly deleted: number }
  | { readonly k: 'del'; readonly id: StreamId }
  /** The stream's counters, absolute (XSETID, XDEL's max deleted id). */
  | { readonly k: 'meta'; readonly lastId: StreamId; readonly entriesAdded: number; readonly maxDeletedId: StreamId }
  /** Create the group, or set its last delivered id and entries read. */
  | { readonly k: 'group'; readonly group: Key; readonly lastId: StreamId; readonly entriesRead: number }
  | { readonly k: 'group-del'; readonly group: Key }
  /** Create the consumer (`created`: the command made it), or set when it was last seen. */
  | { readonly k: 'consumer'; readonly group: Key; readonly consumer: Key; readonly seenMs: number; readonly created: boolean }
  | { readonly k: 'consumer-del'; readonly group: Key; readonly consumer: Key }
  /** Set a pending entry (delivered to `consumer` at `deliveryMs`, `deliveries` times). */
  | { readonly k: 'nack'; readonly group: Key; readonly id: StreamId; readonly consumer: Key; readonly deliveryMs: number; readonly deliveries: number }
  | { readonly k: 'ack'; readonly group: Key; readonly id: StreamId }
  /**
   * The command's own keyspace event where the other effects cannot tell it (a 'meta' or 'group'
   * effect is XSETID, XGROUP CREATE or SETID, or XCLAIM's LASTID); applying it changes nothing.
   * Records written before it existed lack it: a replica then emits no event for those commands.
   */
  | { readonly k: 'event'; readonly name: AnnouncedStreamEvent };

/** The events an 'event' effect may name, by code (the byte form holds the index). */
export const ANNOUNCED_STREAM_EVENTS = ['xsetid', 'xgroup-create', 'xgroup-setid'] as const;
export type AnnouncedStreamEvent = (typeof ANNOUNCED_STREAM_EVENTS)[number];

const TAGS = ['add', 'trim', 'del', 'meta', 'group', 'group-del', 'consumer', 'consumer-del', 'nack', 'ack', 'event'] as const;

class Writer {
  private parts: Buffer[] = [];

  u8(n: number): void {
    this.parts.push(Buffer.from([n]));
  }

  f64(n: number): void {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleLE(n, 0);
    this.parts.push(b);
  }

  str(s: string): void {
    const b = Buffer.allocUnsafe(4 + s.length);
    b.writeUInt32LE(s.length, 0);
    b.latin1Write(s, 4, s.length);
    this.parts.push(b);
  }

  id(id: StreamId): void {
    this.parts.push(Buffer.from(id, 'latin1'));
  }

  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export function encodeEffects(fx: readonly StreamEffect[]): Buffer {
  const w = new Writer();
  for (const f of fx) {
    w.u8(TAGS.indexOf(f.k) + 1);
    switch (f.k) {
      case 'add':
        w.str(f.entry);
        break;
      case 'trim':
        w.f64(f.nodes);
        w.f64(f.deleted);
        w.u8(f.upTo === null ? 0 : 1);
        if (f.upTo !== null) w.id(f.upTo);
        break;
      case 'del':
        w.id(f.id);
        break;
      case 'meta':
        w.id(f.lastId);
        w.f64(f.entriesAdded);
        w.id(f.maxDeletedId);
        break;
      case 'group':
        w.str(f.group);
        w.id(f.lastId);
        w.f64(f.entriesRead);
        break;
      case 'group-del':
        w.str(f.group);
        break;
      case 'consumer':
        w.str(f.group);
        w.str(f.consumer);
        w.f64(f.seenMs);
        w.u8(f.created ? 1 : 0);
        break;
      case 'consumer-del':
        w.str(f.group);
        w.str(f.consumer);
        break;
      case 'nack':
        w.str(f.group);
        w.id(f.id);
        w.str(f.consumer);
        w.f64(f.deliveryMs);
        w.f64(f.deliveries);
        break;
      case 'ack':
        w.str(f.group);
        w.id(f.id);
        break;
      case 'event':
        w.u8(ANNOUNCED_STREAM_EVENTS.indexOf(f.name));
        break;
    }
  }
  return w.done();
}

class Reader {
  constructor(
    private readonly b: Buffer,
    public p: number,
    private readonly end: number,
  ) {}

  get more(): boolean {
    return this.p < this.end;
  }

  u8(): number {
    if (this.p + 1 > this.end) throw new RangeError('stream effect runs past its op');
    return this.b[this.p++] as number;
  }

  f64(): number {
    if (this.p + 8 > this.end) throw new RangeError('stream effect runs past its op');
    const v = this.b.readDoubleLE(this.p);
    this.p += 8;
    return v;
  }

  int(): number {
    const v = this.f64();
    if (!Number.isSafeInteger(v)) throw new RangeError(`bad stream effect number ${v}`);
    return v;
  }

  str(): string {
    if (this.p + 4 > this.end) throw new RangeError('stream effect runs past its op');
    const len = this.b.readUInt32LE(this.p);
    this.p += 4;
    if (this.p + len > this.end) throw new RangeError('stream effect runs past its op');
    const s = this.b.latin1Slice(this.p, this.p + len);
    this.p += len;
    return s;
  }

  id(): StreamId {
    if (this.p + STREAM_ID_CHARS > this.end) throw new RangeError('stream effect runs past its op');
    const s = this.b.latin1Slice(this.p, this.p + STREAM_ID_CHARS);
    this.p += STREAM_ID_CHARS;
    return s;
  }
}

function readEffect(r: Reader): StreamEffect {
  const k = TAGS[r.u8() - 1];
  switch (k) {
    case 'add': {
      const entry = r.str();
      const bad = entryFault(entry, ENTRY_NODE_START);
      if (bad !== null) throw new RangeError(bad);
      return { k, entry };
    }
    case 'trim': {
      const nodes = r.int();
      const deleted = r.int();
      return { k, nodes, deleted, upTo: r.u8() === 0 ? null : r.id() };
    }
    case 'del':
      return { k, id: r.id() };
    case 'meta':
      return { k, lastId: r.id(), entriesAdded: r.int(), maxDeletedId: r.id() };
    case 'group':
      return { k, group: r.str(), lastId: r.id(), entriesRead: r.int() };
    case 'group-del':
      return { k, group: r.str() };
    case 'consumer':
      return { k, group: r.str(), consumer: r.str(), seenMs: r.int(), created: r.u8() === 1 };
    case 'consumer-del':
      return { k, group: r.str(), consumer: r.str() };
    case 'nack':
      return { k, group: r.str(), id: r.id(), consumer: r.str(), deliveryMs: r.int(), deliveries: r.int() };
    case 'ack':
      return { k, group: r.str(), id: r.id() };
    case 'event': {
      const name = ANNOUNCED_STREAM_EVENTS[r.u8()];
      if (name === undefined) throw new RangeError('unknown stream event');
      return { k, name };
    }
    default:
      throw new RangeError('unknown stream effect');
  }
}

/** The effects of a body (checked or our own). */
export function decodeEffects(buf: Buffer, off: number, len: number): StreamEffect[] {
  const r = new Reader(buf, off, off + len);
  const out: StreamEffect[] = [];
  while (r.more) out.push(readEffect(r));
  return out;
}

/** Null when `buf[off, +len)` is a valid body, else why not. */
export function checkEffects(buf: Buffer, off: number, len: number): string | null {
  try {
    decodeEffects(buf, off, len);
    return null;
  } catch (e) {
    if (e instanceof RangeError) return e.message;
    throw e;
  }
}

/** Apply effects to `s` (deterministic: every replica and replay reaches the same stream). */
export function applyEffects(s: StreamObject, fx: readonly StreamEffect[]): void {
  for (const f of fx) {
    switch (f.k) {
      case 'add':
        s.append(f.entry);
        break;
      case 'trim':
        s.trim(f.nodes, f.upTo);
        break;
      case 'del':
        s.delete(f.id);
        break;
      case 'meta':
        s.lastId = f.lastId;
        s.entriesAdded = f.entriesAdded;
        s.maxDeletedId = f.maxDeletedId;
        break;
      case 'group': {
        const g = s.groups.get(f.group);
        if (g === undefined) s.groups.set(f.group, new StreamGroup(f.lastId, f.entriesRead));
        else {
          g.lastId = f.lastId;
          g.entriesRead = f.entriesRead;
        }
        break;
      }
      case 'group-del':
        s.groups.delete(f.group);
        break;
      case 'consumer':
        groupOf(s, f.group).consumer(f.consumer, f.seenMs).seenMs = f.seenMs;
        break;
      case 'consumer-del':
        s.groups.get(f.group)?.deleteConsumer(f.consumer);
        break;
      case 'nack':
        groupOf(s, f.group).setNack(f.id, f.consumer, f.deliveryMs, f.deliveries);
        break;
      case 'ack':
        s.groups.get(f.group)?.deleteNack(f.id);
        break;
      case 'event':
        break;
    }
  }
}

/** The group `name` (created empty when missing: a replay over a state that lacks it). */
function groupOf(s: StreamObject, name: Key): StreamGroup {
  let g = s.groups.get(name);
  if (g === undefined) {
    g = new StreamGroup('\0'.repeat(STREAM_ID_CHARS), 0);
    s.groups.set(name, g);
  }
  return g;
}

/**
 * A stream's counters, groups, consumers and pending entries as effects (what a payload carries
 * before its entries, object-codec.ts): applying them to an empty stream rebuilds all but the entries.
 */
export function streamStateEffects(s: StreamObject): StreamEffect[] {
  const fx: StreamEffect[] = [{ k: 'meta', lastId: s.lastId, entriesAdded: s.entriesAdded, maxDeletedId: s.maxDeletedId }];
  for (const [group, g] of s.groups) {
    fx.push({ k: 'group', group, lastId: g.lastId, entriesRead: g.entriesRead });
    for (const c of g.consumers.values()) fx.push({ k: 'consumer', group, consumer: c.name, seenMs: c.seenMs, created: false });
    for (const id of g.pendingFrom('\0'.repeat(STREAM_ID_CHARS))) {
      const n = g.pel.get(id);
      if (n !== undefined) fx.push({ k: 'nack', group, id, consumer: n.consumer, deliveryMs: n.deliveryMs, deliveries: n.deliveries });
    }
  }
  return fx;
}
