// One ordered request/reply RESP connection for tools (kv-cli, kv-bench's per-connection
// handshake): connect, call, close, or hand the socket over to the bench hot loop.
// Owns its socket and its reply queue; never retries, never reconnects, never throws for
// network or server errors (they are values: CallResult / ConnectResult).

import assert from 'node:assert';
import { connect, type Socket } from 'node:net';
import { decodeReply, encodeCommand, INCOMPLETE, MALFORMED, scanReply, type Reply } from './resp-wire.js';

/** How long a TCP connect may take before we give up (a local server answers in microseconds). */
export const CONNECT_TIMEOUT_MS = 5_000;

export type CallResult = { readonly ok: true; readonly reply: Reply } | { readonly ok: false; readonly error: string };
export type ConnectResult = { readonly ok: true; readonly conn: RespConnection } | { readonly ok: false; readonly error: string };

/** strerror-like text for socket errors, so tools print what redis-cli prints. */
export function socketErrorText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'Connection refused';
    case 'ECONNRESET':
      return 'Connection reset by peer';
    case 'ETIMEDOUT':
      return 'Connection timed out';
    case 'EHOSTUNREACH':
      return 'No route to host';
    case 'ENETUNREACH':
      return 'Network is unreachable';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'Name or service not known';
    case 'EPIPE':
      return 'Broken pipe';
    default:
      return e instanceof Error ? e.message : String(e);
  }
}

/** connectResp's error when the connection was not made within its timeout. */
export const CONNECT_TIMED_OUT = 'Connection timed out';

export async function connectResp(host: string, port: number, timeoutMs = CONNECT_TIMEOUT_MS): Promise<ConnectResult> {
  return new Promise((resolve) => {
    const sock = connect({ host, port, noDelay: true });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ ok: false, error: CONNECT_TIMED_OUT });
    }, timeoutMs);
    sock.once('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, error: socketErrorText(e) });
    });
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      resolve({ ok: true, conn: new RespConnection(sock) });
    });
  });
}

type Waiter = (r: CallResult) => void;

export class RespConnection {
  private buf: Buffer = Buffer.alloc(0);
  private readonly waiters: Waiter[] = [];
  private failure: string | undefined;
  private readonly onData = (d: Buffer): void => this.receive(d);
  private readonly onError = (e: Error): void => this.fail(socketErrorText(e));
  private readonly onClose = (): void => this.fail('Server closed the connection');

  constructor(private readonly sock: Socket) {
    sock.on('data', this.onData);
    sock.on('error', this.onError);
    sock.on('close', this.onClose);
  }

  /** Send one command; resolves with its reply, or an error value if the connection fails. */
  call(args: readonly (string | Buffer)[]): Promise<CallResult> {
    if (this.failure !== undefined) return Promise.resolve({ ok: false, error: this.failure });
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.sock.write(encodeCommand(args));
    });
  }

  close(): void {
    this.fail('connection closed');
    this.sock.destroy();
  }

  /**
   * Give the socket to another owner (the bench hot loop). Only valid with nothing in flight:
   * otherwise replies owed to our callers would reach the new owner.
   */
  detach(): Socket {
    assert.equal(this.waiters.length, 0, 'detach with calls in flight');
    assert.equal(this.buf.length, 0, 'detach with unread reply bytes');
    this.sock.off('data', this.onData);
    this.sock.off('error', this.onError);
    this.sock.off('close', this.onClose);
    this.failure = 'detached';
    return this.sock;
  }

  private receive(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let pos = 0;
    for (;;) {
      const end = scanReply(this.buf, pos);
      if (end === INCOMPLETE) break;
      if (end === MALFORMED) {
        this.fail('Protocol error: malformed reply from server');
        this.sock.destroy();
        return;
      }
      const r = decodeReply(this.buf, pos);
      // scanReply said complete and well-framed; the decoder must agree.
      assert(typeof r !== 'number' && r.end === end, 'decoder disagrees with framer');
      pos = end;
      const w = this.waiters.shift();
      if (w !== undefined) w({ ok: true, reply: r.reply });
      // A reply nobody asked for (e.g. an unsolicited RESP3 push) is dropped.
    }
    this.buf = pos === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
  }

  private fail(error: string): void {
    if (this.failure === undefined) this.failure = error;
    const ws = this.waiters.splice(0);
    for (const w of ws) w({ ok: false, error: this.failure });
  }
}
