// Client-side caching (Redis's CLIENT TRACKING): the tracking table (key → ids of the clients
// that read it), the BCAST prefix table with the keys changed under each prefix since the last
// broadcast, each client's tracking mode, and the CLIENT TRACKING / CACHING / GETREDIR /
// TRACKINGINFO subcommands. Owns who is told about which key and when; it never changes the
// keyspace (it hears of writes after they were applied: the server's write path and the store's
// delete and replicated-apply listeners, the hooks keyspace notifications use) and never writes to
// a socket (a peer's PushSink encodes into its connection's output, like a pub/sub message).

import type { ReplyWriter } from '../protocol/reply.js';
import type { AppliedChange } from '../storage/api.js';
import { isKeyOp, type Key, type Op } from '../storage/types.js';
import type { ClientState, CommandContext, CommandSpec } from './command-types.js';
import { ERR_NOT_INTEGER, ERR_SYNTAX, parseInt64 } from './commands/args.js';
import { pushHeader, type PushSink } from './pubsub.js';
import { keyPositions, keySpecsOf } from './commands/key-specs.js';

/** Where a RESP2 client redirects its invalidations: a connection subscribed to anything gets them as messages of this channel. */
export const TRACKING_CHANNEL = '__redis__:invalidate';

/** Redis's default tracking-table-max-keys (0: no bound). */
export const TRACKING_TABLE_KEYS_MAX_DEFAULT = 1_000_000;

/** Keys one bound check invalidates per pass over the limit; each pass in a row that stays over adds as many (Redis's effort). */
const LIMIT_EFFORT_KEYS = 100;

/** One client's tracking mode (Redis's CLIENT_TRACKING_* flags and redirection). */
export class ClientTracking {
  on = false;
  bcast = false;
  optin = false;
  optout = false;
  noloop = false;
  /** CLIENT CACHING YES/NO was given for the next command (or transaction). */
  caching = false;
  /** The redirect target was gone when an invalidation was due. */
  brokenRedirect = false;
  /** Client id the invalidations go to; 0: this connection. */
  redirect = 0;
  /** BCAST prefixes ('' when none was given). */
  readonly prefixes = new Set<string>();
}

/** What tracking needs of a connection: its state, its subscriptions and its push sink. */
export interface TrackingPeer extends PushSink {
  readonly client: ClientState;
  /** Subscriptions of any kind: a RESP2 redirect target gets invalidations only while subscribed. */
  readonly subs: { readonly total: number };
}

/** A prefix's clients and the keys changed under it since the last broadcast (key → id of the writer, 0 for none). */
interface BcastState {
  readonly clients: Set<number>;
  keys: Map<Key, number>;
}

/** What an invalidation carries: one key, the keys of a broadcast, or null (a flush: every key). */
type Payload = Key | readonly Key[] | null;

const keyOf = (b: Buffer): Key => b.latin1Slice(0, b.length);
const idsOf = (ids: number | Set<number>): Iterable<number> => (typeof ids === 'number' ? [ids] : ids);
const countOf = (ids: number | Set<number>): number => (typeof ids === 'number' ? 1 : ids.size);
const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class TrackingHub {
  /** Clients with tracking on. Every hook on the command and write paths is skipped while it is 0. */
  clients = 0;
  /** Their ids (a flush tells each of them). */
  private readonly tracking = new Set<number>();
  /** Key → the one client that read it, or a set once several did (most keys have one reader: a set each would cost far more). */
  private readonly table = new Map<Key, number | Set<number>>();
  private items = 0;
  private readonly prefixTable = new Map<string, BcastState>();
  /** Some prefix has changed keys to broadcast at the end of the turn. */
  private bcastDue = false;
  /** Invalidations for the client whose write caused them: they follow its reply (Redis's tracking_pending_keys). */
  private pending: Array<{ readonly target: TrackingPeer; readonly payload: Payload }> = [];
  /** Bound checks in a row that ended over the limit. */
  private overLimitRuns = 0;

  constructor(
    private readonly peers: (id: number) => TrackingPeer | undefined,
    private readonly maxKeys: () => number,
    /** Ask for an end-of-turn pass (broadcast, pending invalidations). */
    private readonly wake: () => void,
  ) {}

  get totalKeys(): number {
    return this.table.size;
  }

  get totalItems(): number {
    return this.items;
  }

  get totalPrefixes(): number {
    return this.prefixTable.size;
  }

  // ---- modes

  /** CLIENT TRACKING ON with options already checked (Redis's enableTracking). */
  enable(client: ClientState, redirect: number, o: { bcast: boolean; optin: boolean; optout: boolean; noloop: boolean }, prefixes: readonly string[]): void {
    const t = (client.tracking ??= new ClientTracking());
    if (!t.on) {
      this.tracking.add(client.id);
      this.clients = this.tracking.size;
    }
    t.on = true;
    t.brokenRedirect = false;
    t.redirect = redirect;
    t.bcast = o.bcast;
    t.optin = o.optin;
    t.optout = o.optout;
    t.noloop = o.noloop;
    if (o.bcast) for (const p of prefixes.length === 0 ? [''] : prefixes) this.addPrefix(client.id, t, p);
  }

  /**
   * Whether writes must be looked at: a client tracks, or the table still names keys (a client
   * that turned tracking off and on again is told of keys it read before, as Redis).
   */
  get active(): boolean {
    return this.clients > 0 || this.table.size > 0;
  }

  /**
   * CLIENT TRACKING OFF, a closed connection, RESET: the client leaves its prefixes and the count.
   * Its ids in the table are dropped lazily (the next write of each key), as Redis does; once no
   * client tracks, the ids of closed connections are swept at once (ids are never reused, so
   * nothing would ever read them).
   */
  disable(client: ClientState): void {
    const t = client.tracking;
    if (t === undefined || t === null || !t.on) return;
    for (const p of t.prefixes) {
      const bs = this.prefixTable.get(p);
      if (bs === undefined) continue;
      bs.clients.delete(client.id);
      if (bs.clients.size === 0) this.prefixTable.delete(p);
    }
    client.tracking = null;
    this.tracking.delete(client.id);
    this.clients = this.tracking.size;
    if (this.clients === 0) this.sweepClosed();
  }

  private sweepClosed(): void {
    for (const [key, ids] of this.table) {
      const live = [...idsOf(ids)].filter((id) => this.peers(id) !== undefined);
      this.items -= countOf(ids) - live.length;
      if (live.length === 0) this.table.delete(key);
      else if (live.length < countOf(ids)) this.table.set(key, live.length === 1 ? (live[0] as number) : new Set(live));
    }
  }

  private addPrefix(id: number, t: ClientTracking, p: string): void {
    let bs = this.prefixTable.get(p);
    if (bs === undefined) this.prefixTable.set(p, (bs = { clients: new Set(), keys: new Map() }));
    bs.clients.add(id);
    t.prefixes.add(p);
  }

  // ---- reads

  /** After a read command of a tracking client in default mode: remember the keys it read (Redis's trackingRememberKeys). */
  remember(client: ClientState, spec: CommandSpec, argv: readonly Buffer[]): void {
    const t = client.tracking;
    if (t === undefined || t === null || !t.on || t.bcast || spec.flags.includes('pubsub')) return;
    if ((t.optin && !t.caching) || (t.optout && t.caching)) return;
    forEachReadKey(spec, argv, (key) => {
      const ids = this.table.get(key);
      const id = client.id;
      if (ids === undefined) this.table.set(key, id);
      else if (ids === id || (typeof ids !== 'number' && ids.has(id))) return;
      else if (typeof ids === 'number') this.table.set(key, new Set([ids, id]));
      else ids.add(id);
      this.items++;
    });
  }

  /** A command of this client finished (at top level): CLIENT CACHING applies to one command or one transaction. */
  commandDone(client: ClientState): void {
    const t = client.tracking;
    if (t === undefined || t === null || !t.caching) return;
    if (client.tx?.inMulti !== true && client.lastCommand !== 'client') t.caching = false;
  }

  // ---- writes

  /** A write's ops were applied; `writer` is the client that made it (its own invalidations follow its reply). */
  written(ops: readonly Op[], writer: number): void {
    for (const op of ops) {
      if (op.t === 'flushall') this.flushed(writer);
      else if (isKeyOp(op)) this.invalidate(op.key, writer, true, true);
    }
  }

  /** An entry a replica applied: its changes, as the primary's write was. */
  replicated(changes: readonly AppliedChange[]): void {
    for (const c of changes) {
      if (c.t === 'flushall') this.flushed(0);
      else if (c.t !== 'acl' && c.t !== 'members' && c.t !== 'functions') this.invalidate(c.key, 0, true, false);
    }
  }

  /**
   * A key changed (Redis's trackingInvalidateKey): its tracking clients are told once and the key
   * is forgotten; with `bcast` it is also queued for the prefixes it falls under. The writer in
   * NOLOOP mode is not told; told otherwise, it hears after its reply when `deferOwn`.
   */
  invalidate(key: Key, writer: number, bcast: boolean, deferOwn: boolean): void {
    if (bcast && this.prefixTable.size > 0) this.queueBroadcast(key, writer);
    const ids = this.table.get(key);
    if (ids === undefined) return;
    this.table.delete(key);
    this.items -= countOf(ids);
    for (const id of idsOf(ids)) {
      const target = this.peers(id);
      const t = target?.client.tracking;
      // A client that switched to BCAST since it read the key hears only of its prefixes.
      if (target === undefined || t === undefined || t === null || !t.on || t.bcast) continue;
      if (id === writer && t.noloop) continue;
      if (id === writer && deferOwn) this.defer(target, key);
      else this.send(target, key);
    }
  }

  /** FLUSHALL / FLUSHDB: every tracking client gets a null invalidation (every key), and the table is emptied. */
  flushed(writer: number): void {
    for (const id of [...this.tracking].sort((a, b) => a - b)) {
      const target = this.peers(id);
      if (target === undefined) continue;
      if (id === writer) this.defer(target, null);
      else this.send(target, null);
    }
    this.table.clear();
    this.items = 0;
  }

  private defer(target: TrackingPeer, payload: Payload): void {
    this.pending.push({ target, payload });
    this.wake();
  }

  /** The invalidations that waited for their writer's reply (end of its command, or of the turn). */
  flushPending(): void {
    if (this.pending.length === 0) return;
    const due = this.pending;
    this.pending = [];
    for (const p of due) this.send(p.target, p.payload);
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  private queueBroadcast(key: Key, writer: number): void {
    for (const [prefix, bs] of this.prefixTable) {
      if (!key.startsWith(prefix)) continue;
      bs.keys.set(key, writer);
      if (!this.bcastDue) {
        this.bcastDue = true;
        this.wake();
      }
    }
  }

  /** End of the event-loop turn: each prefix's changed keys to its clients, in one message each (Redis's beforeSleep broadcast). */
  broadcast(): void {
    if (!this.bcastDue) return;
    this.bcastDue = false;
    // Prefixes, keys and clients in byte / id order (Redis walks radix trees).
    for (const prefix of [...this.prefixTable.keys()].sort(byteOrder)) {
      const bs = this.prefixTable.get(prefix) as BcastState;
      if (bs.keys.size === 0) continue;
      const changed = bs.keys;
      bs.keys = new Map();
      const all = [...changed.keys()].sort(byteOrder);
      for (const id of [...bs.clients].sort((a, b) => a - b)) {
        const target = this.peers(id);
        if (target === undefined) continue;
        // NOLOOP: leave out the keys this client itself changed last.
        const keys = target.client.tracking?.noloop === true ? all.filter((k) => changed.get(k) !== id) : all;
        if (keys.length > 0) this.send(target, keys);
      }
    }
  }

  /**
   * tracking-table-max-keys: past it, forget keys (oldest first) telling their clients as if the
   * keys had changed, with an effort that grows while a run ends still over (Redis runs it before
   * each command and on its cron).
   */
  limit(): void {
    const max = this.maxKeys();
    if (max === 0 || this.table.size <= max) {
      this.overLimitRuns = 0;
      return;
    }
    let effort = LIMIT_EFFORT_KEYS * (this.overLimitRuns + 1);
    for (const key of this.table.keys()) {
      if (effort-- <= 0) break;
      this.invalidate(key, 0, false, false);
      if (this.table.size <= max) {
        this.overLimitRuns = 0;
        return;
      }
    }
    this.overLimitRuns++;
  }

  /**
   * One invalidation to a tracking client (Redis's sendTrackingMessage): a RESP3 push on its own
   * connection, or to its redirect target (a push when that one speaks RESP3, a message on
   * __redis__:invalidate when it is a RESP2 subscriber). A redirect target that is gone marks the
   * client's redirection broken and, in RESP3, tells it so.
   */
  private send(target: TrackingPeer, payload: Payload): void {
    const t = target.client.tracking;
    if (t === undefined || t === null) return;
    let receiver = target;
    if (t.redirect !== 0) {
      const r = this.peers(t.redirect);
      if (r === undefined) {
        t.brokenRedirect = true;
        if (target.client.protocol === 3) {
          target.push((out) => {
            pushHeader(out, 2);
            out.bulk('tracking-redir-broken');
            out.integer(t.redirect);
          });
        }
        return;
      }
      receiver = r;
    }
    if (receiver.client.protocol === 3) {
      receiver.push((out) => {
        pushHeader(out, 2);
        out.bulk('invalidate');
        writePayload(out, payload);
      });
    } else if (receiver !== target && receiver.subs.total > 0) {
      receiver.push((out) => {
        out.array(3);
        out.bulk('message');
        out.bulk(TRACKING_CHANNEL);
        writePayload(out, payload);
      });
    }
    // A RESP2 client without a redirection has no channel to be told on (as Redis).
  }
}

function writePayload(out: ReplyWriter, payload: Payload): void {
  if (payload === null) return out.nullBulk();
  const keys = typeof payload === 'string' ? [payload] : payload;
  out.array(keys.length);
  for (const k of keys) out.bulk(Buffer.from(k, 'latin1'));
}

/**
 * The keys a read command names: its legacy key range's positions (GET, MGET...), or those its key
 * specs find (numkeys commands such as SINTERCARD and ZUNION, OBJECT ENCODING's key).
 */
export function forEachReadKey(spec: CommandSpec, argv: readonly Buffer[], f: (key: Key) => void): void {
  if (spec.firstKey > 0) {
    const last = spec.lastKey < 0 ? argv.length + spec.lastKey : spec.lastKey;
    const step = Math.max(1, spec.keyStep);
    for (let i = spec.firstKey; i <= last && i < argv.length; i += step) f(keyOf(argv[i] as Buffer));
    return;
  }
  const sub = spec.subcommands !== undefined && argv.length > 1 ? (argv[1] as Buffer).toString('latin1').toLowerCase() : null;
  for (const [i] of keyPositions(keySpecsOf(spec, sub), argv) ?? []) f(keyOf(argv[i] as Buffer));
}

// ---- CLIENT subcommands

const str = (b: Buffer | undefined): string => (b === undefined ? '' : b.toString('latin1'));
const lower = (b: Buffer | undefined): string => str(b).toLowerCase();

/** Prefixes overlap when one starts with the other: both would announce the same keys. */
const overlaps = (a: string, b: string): boolean => a.startsWith(b) || b.startsWith(a);

/** The tracking subcommands of CLIENT (the CLIENT switch sends `sub` here); false when `sub` is not one. */
export function clientTrackingSubcommand(ctx: CommandContext, sub: string, argv: readonly Buffer[]): boolean {
  const out = ctx.out;
  const hub = ctx.server.tracking;
  if (hub === undefined) return false;
  const wrongArgs = (): void => out.error(`ERR wrong number of arguments for 'client|${sub}' command`);
  switch (sub) {
    case 'tracking':
      if (argv.length < 3) wrongArgs();
      else clientTracking(ctx, hub, argv);
      return true;
    case 'caching':
      if (argv.length !== 3) wrongArgs();
      else clientCaching(ctx, argv);
      return true;
    case 'getredir': {
      if (argv.length !== 2) wrongArgs();
      else out.integer(ctx.client.tracking?.on === true ? ctx.client.tracking.redirect : -1);
      return true;
    }
    case 'trackinginfo':
      if (argv.length !== 2) wrongArgs();
      else trackingInfo(out, ctx.client.tracking ?? null);
      return true;
    default:
      return false;
  }
}

/** CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p]... [OPTIN] [OPTOUT] [NOLOOP], checked in Redis's order. */
function clientTracking(ctx: CommandContext, hub: TrackingHub, argv: readonly Buffer[]): void {
  const out = ctx.out;
  let redirect = 0;
  const o = { bcast: false, optin: false, optout: false, noloop: false };
  const prefixes: string[] = [];
  for (let j = 3; j < argv.length; j++) {
    const opt = lower(argv[j]);
    const more = j < argv.length - 1;
    if (opt === 'redirect' && more) {
      j++;
      if (redirect !== 0) return out.error('ERR A client can only redirect to a single other client');
      const id = parseInt64(argv[j] as Buffer);
      if (id === null) return out.error(ERR_NOT_INTEGER);
      // The target must exist now (it may go later: then the redirection is broken).
      if (id <= 0n || id > BigInt(Number.MAX_SAFE_INTEGER) || !ctx.server.clientExists?.(Number(id))) {
        return out.error('ERR The client ID you want redirect to does not exist');
      }
      redirect = Number(id);
    } else if (opt === 'bcast') o.bcast = true;
    else if (opt === 'optin') o.optin = true;
    else if (opt === 'optout') o.optout = true;
    else if (opt === 'noloop') o.noloop = true;
    else if (opt === 'prefix' && more) prefixes.push(str(argv[++j]));
    else return out.error(ERR_SYNTAX);
  }
  const mode = lower(argv[2]);
  if (mode === 'off') {
    hub.disable(ctx.client);
    return out.ok();
  }
  if (mode !== 'on') return out.error(ERR_SYNTAX);
  const cur = ctx.client.tracking?.on === true ? ctx.client.tracking : null;
  if (!o.bcast && prefixes.length > 0) return out.error('ERR PREFIX option requires BCAST mode to be enabled');
  if (cur !== null && cur.bcast !== o.bcast) {
    return out.error('ERR You can\'t switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.');
  }
  if (o.bcast && (o.optin || o.optout)) return out.error('ERR OPTIN and OPTOUT are not compatible with BCAST');
  if (o.optin && o.optout) return out.error('ERR You can\'t specify both OPTIN mode and OPTOUT mode');
  if (cur !== null && ((o.optin && cur.optout) || (o.optout && cur.optin))) {
    return out.error('ERR You can\'t switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.');
  }
  if (o.bcast) {
    const err = prefixCollision(cur === null ? [] : [...cur.prefixes].sort(byteOrder), prefixes);
    if (err !== null) return out.error(err);
  }
  hub.enable(ctx.client, redirect, o, prefixes);
  out.ok();
}

function prefixCollision(existing: readonly string[], given: readonly string[]): string | null {
  for (let i = 0; i < given.length; i++) {
    const p = given[i] as string;
    const old = existing.find((e) => overlaps(e, p));
    if (old !== undefined) return `ERR Prefix '${p}' overlaps with an existing prefix '${old}'. Prefixes for a single client must not overlap.`;
    for (let j = i + 1; j < given.length; j++) {
      const q = given[j] as string;
      if (overlaps(p, q)) return `ERR Prefix '${p}' overlaps with another provided prefix '${q}'. Prefixes for a single client must not overlap.`;
    }
  }
  return null;
}

function clientCaching(ctx: CommandContext, argv: readonly Buffer[]): void {
  const out = ctx.out;
  const t = ctx.client.tracking;
  if (t === undefined || t === null || !t.on) {
    return out.error('ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled');
  }
  const v = lower(argv[2]);
  if (v === 'yes') {
    if (!t.optin) return out.error('ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.');
  } else if (v === 'no') {
    if (!t.optout) return out.error('ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.');
  } else return out.error(ERR_SYNTAX);
  t.caching = true;
  out.ok();
}

/** CLIENT TRACKINGINFO: flags (a set), redirect, prefixes (in byte order). */
function trackingInfo(out: ReplyWriter, t: ClientTracking | null): void {
  const on = t !== null && t.on;
  const flags = [on ? 'on' : 'off'];
  if (on) {
    if (t.bcast) flags.push('bcast');
    if (t.optin) flags.push('optin', ...(t.caching ? ['caching-yes'] : []));
    if (t.optout) flags.push('optout', ...(t.caching ? ['caching-no'] : []));
    if (t.noloop) flags.push('noloop');
    if (t.brokenRedirect) flags.push('broken_redirect');
  }
  out.map(3);
  out.bulk('flags');
  out.set(flags.length);
  for (const f of flags) out.bulk(f);
  out.bulk('redirect');
  out.integer(on ? t.redirect : -1);
  out.bulk('prefixes');
  const prefixes = on ? [...t.prefixes].sort(byteOrder) : [];
  out.array(prefixes.length);
  for (const p of prefixes) out.bulk(Buffer.from(p, 'latin1'));
}

/** RESET's part (Redis's clearClientConnectionState): tracking off for the calling client. */
export function resetClientTracking(ctx: CommandContext): void {
  ctx.server.tracking?.disable(ctx.client);
}
