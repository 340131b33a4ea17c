// Accepting client sockets whose reads land in buffers this module hands out (net.Socket's
// `onread` option) instead of Node's default path, which mallocs a 64 KiB buffer per read, wraps
// it in a new ArrayBuffer and Buffer and runs it through Readable.push and a 'data' emit.
// Owns the listener's accept hook and the read regions; it never parses or interprets bytes.
//
// Node's net.Server has no `onread` option (only client sockets do), so the listening handle's
// `onconnection` is replaced by one that builds the Socket the way net.Server does (same options,
// same connection accounting) plus `onread`. These are Node internals (`_handle`, `_connections`,
// `_server`): installUserBufferAccept checks for them and returns false when they are missing, and
// the server then keeps Node's default path.
//
// Each connection reads into a 16 KiB region of its own (a separate allocation, so an idle
// connection pins exactly its region: regions cut from a shared slab let one idle connection pin
// the whole slab). A read lands after the bytes earlier reads filled, so a chunk (and every argv
// view into it) stays valid as a default 'data' chunk would, until the receiver calls `rewind()`
// to say it holds none of them any more (the connection does once it parsed and ran everything
// and no command keeps an argument view): then the region is reused from its start, and a busy
// connection reads into the same cache-warm 16 KiB instead of a fresh region every few reads.
// Cost: 16 KiB per open connection, like Redis's per-client 16 KiB reply buffer.

import { Socket, type Server } from 'node:net';

/** Bytes a connection reads into before it takes a fresh region (Redis reads 16 KiB at a time). */
export const READ_REGION_BYTES = 16 * 1024;
/** A region with less room than this left is replaced before the next read. */
const READ_ROOM_BYTES_MIN = 2 * 1024;
function newRegion(): Buffer {
  return Buffer.allocUnsafeSlow(READ_REGION_BYTES);
}

/** One socket's reads: where the next read goes, and who receives each chunk. */
export class SocketReads {
  /** Receives each chunk read; replaced when the socket changes hands. */
  deliver: (chunk: Buffer) => void = () => undefined;
  private region = newRegion();
  private pos = 0;
  /** Inside `deliver` (only a rewind asked there counts), and whether one was asked. */
  private delivering = false;
  private rewindAsked = false;

  /** onread.buffer: where the next read lands: after the bytes earlier reads filled, or at the region's start after a rewind. */
  nextBuffer(): Buffer {
    if (this.region.length - this.pos < READ_ROOM_BYTES_MIN) {
      this.region = newRegion();
      this.pos = 0;
    }
    return this.pos === 0 ? this.region : this.region.subarray(this.pos);
  }

  /**
   * Called from `deliver`: the receiver holds no byte of any chunk delivered so far (it parsed
   * them all and keeps no view), so the next read may land at the start of the same region.
   * Outside `deliver` it does nothing: Node asks for the next read's buffer right after each
   * delivery, so by then the next read already has its place, after the bytes read so far.
   */
  rewind(): void {
    if (this.delivering) this.rewindAsked = true;
  }

  /** onread.callback: `buf` is the buffer nextBuffer returned; its first `nread` bytes are new. */
  onRead(nread: number, buf: Buffer): void {
    this.pos += nread;
    this.delivering = true;
    this.rewindAsked = false;
    try {
      this.deliver(buf.subarray(0, nread));
    } finally {
      this.delivering = false;
    }
    if (this.rewindAsked) this.pos = 0;
  }
}

interface ListenHandle {
  onconnection(this: ListenHandle, err: number, clientHandle: ClientHandle | undefined): void;
}
interface ClientHandle {
  setNoDelay?(on: boolean): void;
}
interface ServerInternals {
  _handle?: ListenHandle | null;
  _connections?: number;
}
interface SocketInternals {
  server?: Server;
  _server?: Server;
}
type SocketWithHandle = new (opts: {
  handle: ClientHandle;
  allowHalfOpen: boolean;
  readable: boolean;
  writable: boolean;
  onread: { buffer: () => Buffer; callback: (nread: number, buf: Buffer) => void };
}) => Socket;

/**
 * After `server` listens: accept its connections with user-buffer reads. `onSocket` gets each
 * socket with its SocketReads (set `deliver` to receive data; no 'data' events are emitted).
 * Returns false, changing nothing, when this Node lacks the internals used.
 */
export function installUserBufferAccept(server: Server, onSocket: (socket: Socket, reads: SocketReads) => void): boolean {
  const internals = server as unknown as ServerInternals;
  const handle = internals._handle;
  if (handle === null || handle === undefined || typeof handle.onconnection !== 'function' || typeof internals._connections !== 'number') return false;
  const nodeAccept = handle.onconnection;
  handle.onconnection = function (err, clientHandle) {
    // Errors (and anything unexpected) take Node's own path, which reports them.
    if (err !== 0 || clientHandle === undefined) return nodeAccept.call(this, err, clientHandle);
    const reads = new SocketReads();
    const socket = new (Socket as unknown as SocketWithHandle)({
      handle: clientHandle,
      allowHalfOpen: false, // KvServer's listener is created without allowHalfOpen
      readable: true,
      writable: true,
      onread: { buffer: () => reads.nextBuffer(), callback: (n, b) => reads.onRead(n, b) },
    });
    clientHandle.setNoDelay?.(true);
    // What net.Server's own accept does, so close() still waits for these connections.
    internals._connections = (internals._connections ?? 0) + 1;
    const s = socket as unknown as SocketInternals;
    s.server = server;
    s._server = server;
    onSocket(socket, reads);
  };
  return true;
}
