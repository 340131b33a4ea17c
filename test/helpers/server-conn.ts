// A raw RESP connection for server tests that need exact bytes: send anything (including
// malformed frames), read replies (RESP2 and RESP3) as parsed values, observe the close. 127.0.0.1 only.

import { connect, type Socket } from 'node:net';
import { waitFor } from './wait.js';

export type Reply = string | number | bigint | null | boolean | Buffer | ReplyError | Reply[] | Map<Reply, Reply>;

export class ReplyError {
  constructor(readonly message: string) {}
}

/** Parse one reply at buf[pos]; returns [value, nextPos] or undefined when incomplete. */
export function parseReply(buf: Buffer, pos: number): [Reply, number] | undefined {
  if (pos >= buf.length) return undefined;
  const cr = buf.indexOf('\r\n', pos);
  if (cr < 0) return undefined;
  const type = String.fromCharCode(buf[pos] as number);
  const line = buf.toString('latin1', pos + 1, cr);
  const next = cr + 2;
  switch (type) {
    case '+':
      return [line, next];
    case '-':
      return [new ReplyError(line), next];
    case ':':
      return [Number(line), next];
    case '_':
      return [null, next];
    case '#':
      return [line === 't', next];
    case ',':
      return [Number(line), next];
    case '$':
    case '=': {
      const n = Number(line);
      if (n < 0) return [null, next];
      if (buf.length < next + n + 2) return undefined;
      return [buf.subarray(next, next + n), next + n + 2];
    }
    case '*':
    case '~':
    case '%': {
      const n = Number(line);
      if (n < 0) return [null, next];
      const items: Reply[] = [];
      let p = next;
      const count = type === '%' ? 2 * n : n;
      for (let i = 0; i < count; i++) {
        const r = parseReply(buf, p);
        if (r === undefined) return undefined;
        items.push(r[0]);
        p = r[1];
      }
      if (type === '%') {
        const m = new Map<Reply, Reply>();
        for (let i = 0; i < items.length; i += 2) m.set(asText(items[i] as Reply), items[i + 1] as Reply);
        return [m, p];
      }
      return [items, p];
    }
    default:
      throw new Error(`bad reply type byte ${JSON.stringify(type)} in ${JSON.stringify(buf.toString('latin1', pos, pos + 40))}`);
  }
}

/** Bulk strings as text (for assertions); other values unchanged. */
export function asText(r: Reply): Reply {
  return Buffer.isBuffer(r) ? r.toString('utf8') : r;
}

export function cmd(...args: Array<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

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

  /** Next reply, waiting (event-driven, no polling) up to the deadline. */
  async read(timeoutMs = 10_000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = parseReply(this.buf, this.pos);
      if (r !== undefined) {
        this.pos = r[1];
        return r[0];
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

  async call(...args: Array<string | Buffer>): Promise<Reply> {
    this.send(cmd(...args));
    return asText(await this.read());
  }

  waitClosed(timeoutMs = 10_000): Promise<true> {
    return waitFor('connection close', () => this.closed, { timeoutMs, intervalMs: 5 });
  }

  close(): void {
    this.socket.destroy();
  }
}
