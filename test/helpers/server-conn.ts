// A raw RESP connection for tests that need exact bytes: send anything (including malformed
// frames), read replies (RESP2 and RESP3) as the wire's tagged tree or as plain values, observe
// the close. Replies are decoded by ./resp.ts. 127.0.0.1 only.

import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { asText, cmd, parseReply, showReply, toValue, type Reply, type Resp } from './resp.js';
import { waitFor } from './wait.js';

export class RawConn {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  closed = false;
  readonly socket: Socket;
  private wake: (() => void) | null = null;

  private wakeUp(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buf = this.pos === this.buf.length ? d : Buffer.concat([this.buf.subarray(this.pos), d]);
      this.pos = 0;
      this.wakeUp();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wakeUp();
    });
    socket.on('error', () => {
      this.closed = true;
      this.wakeUp();
    });
  }

  static open(port: number): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => resolve(new RawConn(s)));
      s.once('error', reject);
    });
  }

  send(data: Buffer | string): void {
    this.socket.write(data);
  }

  /** Next reply as plain values (see toValue). */
  async read(timeoutMs?: number): Promise<Reply> {
    return toValue(await this.readResp(timeoutMs));
  }

  /** Next reply as the wire's tagged tree, waiting (event-driven, no polling) up to the deadline. */
  async readResp(timeoutMs = 10_000): Promise<Resp> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = parseReply(this.buf, this.pos);
      if (r !== null) {
        this.pos = r.end;
        return r.v;
      }
      if (this.closed) throw new Error('connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a reply');
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, left);
        function done(): void {
          clearTimeout(t);
          resolve();
        }
        this.wake = done;
      });
    }
  }

  /** One command; the reply as plain values, a top-level bulk as text. */
  async call(...args: Array<string | Buffer>): Promise<Reply> {
    this.send(cmd(...args));
    return asText(await this.read());
  }

  /** One command; the reply as the wire's tagged tree. */
  async request(...args: Array<string | Buffer>): Promise<Resp> {
    this.send(cmd(...args));
    return this.readResp();
  }

  /** One command; the reply as showReply's text (errors included), for comparing. */
  async show(...args: Array<string | Buffer>): Promise<string> {
    return showReply(await this.request(...args));
  }

  /** Several commands written at once (one pipeline); their replies in order, as the wire's tagged trees. */
  async requestMany(commands: ReadonlyArray<ReadonlyArray<string | Buffer>>): Promise<Resp[]> {
    this.send(Buffer.concat(commands.map((c) => cmd(...c))));
    const out: Resp[] = [];
    for (let i = 0; i < commands.length; i++) out.push(await this.readResp());
    return out;
  }

  waitClosed(timeoutMs = 10_000): Promise<true> {
    return waitFor('connection close', () => this.closed, { timeoutMs, intervalMs: 5 });
  }

  close(): void {
    this.socket.destroy();
  }
}

let markers = 0;

/**
 * Send `commands` then a PING marker on `c`; every frame `c` receives up to the marker's reply,
 * shown (showReply). The marker follows everything the server had queued for `c` before it read
 * the PING, so the frames are exactly what the commands (and anything pushed meanwhile) produced.
 */
export async function framesUntilMarker(c: RawConn, commands: ReadonlyArray<readonly string[]>): Promise<string[]> {
  const mark = `mark-${++markers}`;
  c.send(Buffer.concat([...commands.map((a) => cmd(...a)), cmd('PING', mark)]));
  const frames: string[] = [];
  for (;;) {
    const shown = showReply(await c.readResp());
    if (shown.includes(JSON.stringify(mark))) return frames;
    frames.push(shown);
  }
}

/** The seq of the last entry in the node's log (POSITION "epoch:seq"), through `c`. */
export async function logSeq(c: RawConn): Promise<number> {
  return Number((await c.show('POSITION')).replace(/^"?\d+:(\d+)"?$/, '$1'));
}

/** Each write succeeds and is one log entry: POSITION moves by one. */
export async function assertOneEntryEach(c: RawConn, writes: ReadonlyArray<readonly string[]>): Promise<void> {
  for (const w of writes) {
    const before = await logSeq(c);
    const r = await c.request(...w);
    assert.notEqual(r.t, 'error', `${w.join(' ')}: ${showReply(r)}`);
    assert.equal(await logSeq(c), before + 1, `${w.join(' ')} is one entry`);
  }
}

/** The commands (reads, writes that change nothing) log no entry. */
export async function assertNoEntry(c: RawConn, commands: ReadonlyArray<readonly string[]>): Promise<void> {
  const before = await logSeq(c);
  for (const r of commands) await c.request(...r);
  assert.equal(await logSeq(c), before, 'reads and no-op writes log nothing');
}

/** A connection to each server of a differential pair (procs.ts serverPairPerFile), in RESP2 or RESP3. */
export async function openPairConns(pair: { kvPort(): number; redisPort(): number }, protocol: 2 | 3): Promise<{ kv: RawConn; redis: RawConn }> {
  const kv = await RawConn.open(pair.kvPort());
  const redis = await RawConn.open(pair.redisPort());
  if (protocol === 3) for (const c of [kv, redis]) await c.request('HELLO', '3');
  return { kv, redis };
}

/**
 * Send `commands` to both servers of a pair, in order, after `reset` (e.g. FLUSHALL), and fail
 * with every command whose replies differ (shown side by side).
 */
export async function compareReplies(
  pair: { kvPort(): number; redisPort(): number },
  protocol: 2 | 3,
  commands: ReadonlyArray<readonly string[]>,
  reset: ReadonlyArray<readonly string[]> = [['FLUSHALL']],
): Promise<void> {
  const { kv, redis } = await openPairConns(pair, protocol);
  try {
    for (const c of [kv, redis]) for (const r of reset) await c.request(...r);
    const diffs: string[] = [];
    for (const argv of commands) {
      const [a, b] = [await kv.request(...argv), await redis.request(...argv)];
      if (showReply(a) !== showReply(b)) diffs.push(`${JSON.stringify(argv)}\n  kv:    ${showReply(a)}\n  redis: ${showReply(b)}`);
    }
    if (diffs.length > 0) throw new Error(`replies differ:\n${diffs.join('\n')}`);
  } finally {
    kv.close();
    redis.close();
  }
}
