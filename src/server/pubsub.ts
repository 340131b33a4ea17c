// Pub/sub routing for one server: which connections listen on which channels, patterns and
// shard channels, and the delivery of a published message to each (Redis 7.0 frames, RESP2
// arrays or RESP3 pushes). Owns the channel → subscribers maps and each connection's own
// subscription sets (PubSubSession); it never writes to a socket (a session's sink encodes into
// its connection's output and the connection decides when it goes out, or closes past its
// pubsub output limit) and never touches the keyspace.

import type { ReplyWriter } from '../protocol/reply.js';
import { globMatch } from '../storage/glob.js';

/** Where a session's messages go: its connection's encoder, with the pubsub-class output limit. */
export interface PushSink {
  /** Encode one push; false when the connection is closed (or closed by this push's limit). */
  push(write: (out: ReplyWriter) => void): boolean;
}

export type SubscriptionKind = 'channel' | 'pattern' | 'shard';

/**
 * Channel names are binary: maps are keyed by their latin1 text (one char per byte, reversible),
 * the form the glob matcher takes too.
 */
const keyOf = (b: Buffer): string => b.latin1Slice(0, b.length);
const bytesOf = (k: string): Buffer => Buffer.from(k, 'latin1');

/**
 * Redis matches channels with stringmatchlen, which never matches an empty name against a
 * non-empty pattern (not even '*'); KEYS differs only because it special-cases '*'.
 */
function channelMatches(pattern: string, channel: string): boolean {
  if (channel === '') return pattern === '';
  return globMatch(pattern, channel);
}

/** One connection's subscriptions, in the order they were made (UNSUBSCRIBE with no argument replies in it). */
export class PubSubSession {
  readonly channels = new Set<string>();
  readonly patterns = new Set<string>();
  readonly shards = new Set<string>();

  constructor(readonly sink: PushSink) {}

  /** SUBSCRIBE/PSUBSCRIBE replies count channels and patterns together (Redis's clientSubscriptionsCount). */
  get count(): number {
    return this.channels.size + this.patterns.size;
  }

  /** Every kind: the connection is in subscribed mode while this is above 0. */
  get total(): number {
    return this.channels.size + this.patterns.size + this.shards.size;
  }

  setOf(kind: SubscriptionKind): Set<string> {
    return kind === 'channel' ? this.channels : kind === 'pattern' ? this.patterns : this.shards;
  }

  /** The count a (un)subscribe confirmation of this kind carries. */
  countFor(kind: SubscriptionKind): number {
    return kind === 'shard' ? this.shards.size : this.count;
  }
}

/** The confirmation/message type words, by kind. */
const WORDS: Record<SubscriptionKind, { sub: string; unsub: string; message: string }> = {
  channel: { sub: 'subscribe', unsub: 'unsubscribe', message: 'message' },
  pattern: { sub: 'psubscribe', unsub: 'punsubscribe', message: 'pmessage' },
  shard: { sub: 'ssubscribe', unsub: 'sunsubscribe', message: 'smessage' },
};

/** A push of `n` elements: RESP3 '>' (its own type), RESP2 a plain array. */
export function pushHeader(out: ReplyWriter, n: number): void {
  if (out.protocol === 3 && out.pushArray !== undefined) out.pushArray(n);
  else out.array(n);
}

/**
 * Where a message a client published goes besides this node's subscribers (the replication
 * group's other members). Keyspace notifications and relayed messages never go there.
 */
export type PublishRelay = (kind: 'channel' | 'shard', channel: Buffer, message: Buffer) => void;

export class PubSubHub {
  /** Set by the replication layer; null on a standalone server. */
  relay: PublishRelay | null = null;
  private readonly byChannel = new Map<string, Set<PubSubSession>>();
  private readonly byPattern = new Map<string, Set<PubSubSession>>();
  private readonly byShard = new Map<string, Set<PubSubSession>>();

  private mapOf(kind: SubscriptionKind): Map<string, Set<PubSubSession>> {
    return kind === 'channel' ? this.byChannel : kind === 'pattern' ? this.byPattern : this.byShard;
  }

  /** Channels with at least one subscriber (INFO pubsub_channels). */
  get channelCount(): number {
    return this.byChannel.size;
  }

  /** Distinct patterns (INFO pubsub_patterns, PUBSUB NUMPAT). */
  get patternCount(): number {
    return this.byPattern.size;
  }

  get shardChannelCount(): number {
    return this.byShard.size;
  }

  /** (P|S)SUBSCRIBE: one confirmation per name, in order, written to the subscriber's own reply. */
  subscribe(s: PubSubSession, kind: SubscriptionKind, names: readonly Buffer[], out: ReplyWriter): void {
    const own = s.setOf(kind);
    const map = this.mapOf(kind);
    for (const name of names) {
      const k = keyOf(name);
      if (!own.has(k)) {
        own.add(k);
        let subs = map.get(k);
        if (subs === undefined) map.set(k, (subs = new Set()));
        subs.add(s);
      }
      pushHeader(out, 3);
      out.bulk(WORDS[kind].sub);
      out.bulk(name);
      out.integer(s.countFor(kind));
    }
  }

  /**
   * (P|S)UNSUBSCRIBE: the given names, or every subscription of the kind when none is given;
   * with none to drop, one confirmation with a null name (Redis's reply to a client with none).
   */
  unsubscribe(s: PubSubSession, kind: SubscriptionKind, names: readonly Buffer[], out: ReplyWriter): void {
    const own = s.setOf(kind);
    const targets = names.length > 0 ? names.map(keyOf) : [...own];
    if (targets.length === 0) {
      pushHeader(out, 3);
      out.bulk(WORDS[kind].unsub);
      out.nullBulk();
      out.integer(s.countFor(kind));
      return;
    }
    for (const k of targets) {
      this.drop(s, kind, k);
      pushHeader(out, 3);
      out.bulk(WORDS[kind].unsub);
      out.bulk(bytesOf(k));
      out.integer(s.countFor(kind));
    }
  }

  private drop(s: PubSubSession, kind: SubscriptionKind, k: string): void {
    if (!s.setOf(kind).delete(k)) return;
    const map = this.mapOf(kind);
    const subs = map.get(k);
    if (subs === undefined) return;
    subs.delete(s);
    if (subs.size === 0) map.delete(k);
  }

  /** The connection closed: forget every subscription it had, without replies. */
  removeSession(s: PubSubSession): void {
    for (const kind of ['channel', 'pattern', 'shard'] as const) {
      for (const k of [...s.setOf(kind)]) this.drop(s, kind, k);
    }
  }

  /**
   * PUBLISH: channel subscribers first (in subscription order), then each matching pattern's.
   * Returns how many deliveries were attempted (Redis counts a client once per matching
   * subscription, a closed or over-limit one included).
   */
  publish(channel: Buffer, message: Buffer): number {
    let receivers = 0;
    const k = keyOf(channel);
    const subs = this.byChannel.get(k);
    if (subs !== undefined) {
      for (const s of subs) {
        receivers++;
        s.sink.push((out) => {
          pushHeader(out, 3);
          out.bulk('message');
          out.bulk(channel);
          out.bulk(message);
        });
      }
    }
    for (const [pattern, psubs] of this.byPattern) {
      if (!channelMatches(pattern, k)) continue;
      const p = bytesOf(pattern);
      for (const s of psubs) {
        receivers++;
        s.sink.push((out) => {
          pushHeader(out, 4);
          out.bulk('pmessage');
          out.bulk(p);
          out.bulk(channel);
          out.bulk(message);
        });
      }
    }
    return receivers;
  }

  /**
   * PUBLISH / SPUBLISH run by a client: this node's subscribers, then the relay. The reply is
   * this node's receiver count, as Redis Cluster answers (other members deliver on their own).
   */
  publishFromClient(kind: 'channel' | 'shard', channel: Buffer, message: Buffer): number {
    const receivers = kind === 'shard' ? this.spublish(channel, message) : this.publish(channel, message);
    this.relay?.(kind, channel, message);
    return receivers;
  }

  /** SPUBLISH: shard channel subscribers only (one node is the whole shard). */
  spublish(channel: Buffer, message: Buffer): number {
    const subs = this.byShard.get(keyOf(channel));
    if (subs === undefined) return 0;
    for (const s of subs) {
      s.sink.push((out) => {
        pushHeader(out, 3);
        out.bulk('smessage');
        out.bulk(channel);
        out.bulk(message);
      });
    }
    return subs.size;
  }

  /** PUBSUB CHANNELS / SHARDCHANNELS: names with subscribers, optionally matching a glob. */
  activeChannels(kind: 'channel' | 'shard', pattern: Buffer | undefined): Buffer[] {
    const p = pattern === undefined ? undefined : keyOf(pattern);
    const names: Buffer[] = [];
    for (const k of this.mapOf(kind).keys()) if (p === undefined || channelMatches(p, k)) names.push(bytesOf(k));
    return names;
  }

  /** PUBSUB NUMSUB / SHARDNUMSUB: subscribers of one channel. */
  subscriberCount(kind: 'channel' | 'shard', channel: Buffer): number {
    return this.mapOf(kind).get(keyOf(channel))?.size ?? 0;
  }
}
