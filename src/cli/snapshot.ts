// kv-cli --snapshot FILE: asks one node for a backup stream (KVSNAPSHOT) and writes it to FILE
// through the backup file writer (FILE.tmp, checked frame by frame as it arrives, fsync,
// rename), with progress on stderr. Owns that flow and its exit codes; never writes FILE unless
// the whole stream arrived and passed every check, and never retries (a cron job reruns it).

import type { Socket } from 'node:net';
import { connectResp, socketErrorText } from '../client/resp-conn.js';
import { encodeCommand } from '../client/resp-wire.js';
import { parseAddress } from '../net/address.js';
import { BackupChecker, BackupFileWriter } from '../replication/host/backup-file.js';
import { FrameDecoder } from '../replication/host/framing.js';
import { formatPosition } from '../storage/types.js';

/** The node's first reply line (+KVSNAPSHOT <id> or an error) is at most this long. */
const REPLY_LINE_BYTES_MAX = 4096;
/** Stop reading the socket while this many bytes wait for the disk (the node then holds its chunks). */
const FILE_QUEUE_BYTES_MAX = 8 * 1024 * 1024;
/** Progress lines at most this often. */
const PROGRESS_INTERVAL_MS = 1000;
/** A stream silent this long (no byte at all) is given up. */
const STALL_TIMEOUT_MS = 60_000;

export interface SnapshotOptions {
  readonly address: string;
  readonly password: string | undefined;
  readonly file: string;
  readonly say: (line: string) => void;
}

/** Runs the transfer; resolves with null when FILE is complete, else the reason it is not. */
export async function takeSnapshot(o: SnapshotOptions): Promise<string | null> {
  const addr = parseAddress(o.address);
  if (addr === null) return `bad address ${o.address}`;
  const c = await connectResp(addr.host, addr.port);
  if (!c.ok) return `Could not connect to kv-server at ${o.address}: ${c.error}`;
  if (o.password !== undefined) {
    const r = await c.conn.call(['AUTH', o.password]);
    if (!r.ok || (typeof r.reply === 'object' && r.reply !== null && 'message' in r.reply)) {
      c.conn.close();
      return `AUTH failed: ${r.ok ? String((r.reply as { message: string }).message) : r.error}`;
    }
  }
  const sock = c.conn.detach();
  let writer: BackupFileWriter;
  try {
    writer = await BackupFileWriter.create(o.file);
  } catch (e) {
    sock.destroy();
    return `cannot write ${o.file}.tmp: ${(e as Error).message}`;
  }
  const t0 = Date.now();
  const failure = await receive(sock, writer, o);
  if (failure !== null) {
    await writer.abort();
    return failure;
  }
  return null;

  async function receive(s: Socket, w: BackupFileWriter, opts: SnapshotOptions): Promise<string | null> {
    const checker = new BackupChecker();
    const decoder = new FrameDecoder();
    return new Promise<string | null>((resolve) => {
      let settled = false;
      let replied = false;
      let head: Buffer = Buffer.alloc(0);
      let lastSay = Date.now();
      const done = (r: string | null): void => {
        if (settled) return;
        settled = true;
        clearInterval(stall);
        s.destroy();
        resolve(r);
      };
      let heard = Date.now();
      const stall = setInterval(() => {
        if (Date.now() - heard > STALL_TIMEOUT_MS) done(`no data from the node for ${STALL_TIMEOUT_MS / 1000} s; gave up`);
      }, 1000);
      const finish = async (): Promise<void> => {
        const sum = checker.summary;
        if (sum === null) return;
        try {
          const bytes = await w.finish();
          const secs = (Date.now() - t0) / 1000;
          opts.say(`snapshot: ${opts.file}: ${sum.items} snapshot items and ${sum.records} log records, ${bytes} bytes in ${secs.toFixed(1)} s; exact at ${formatPosition(sum.end)} (walk began at ${formatPosition(sum.from)}, source node ${sum.sourceNodeId})`);
          done(null);
        } catch (e) {
          done(`cannot complete ${opts.file}: ${(e as Error).message}`);
        }
      };
      const onFrames = (chunk: Buffer): void => {
        w.write(chunk);
        decoder.push(chunk);
        for (;;) {
          const f = decoder.next();
          if (f === null) break;
          if (typeof f === 'string') return done(`bad stream from the node: ${f}`);
          const bad = checker.frame(f);
          if (bad !== null) return done(`bad stream from the node: ${bad}`);
          if (checker.summary !== null) {
            if (decoder.bufferedBytes > 0) return done('bad stream from the node: bytes after its end');
            void finish();
            return;
          }
        }
        if (Date.now() - lastSay >= PROGRESS_INTERVAL_MS) {
          lastSay = Date.now();
          const pct = checker.keysAtStart > 0 ? ` (~${Math.min(100, Math.floor((checker.items * 100) / checker.keysAtStart))}% of ${checker.keysAtStart} keys)` : '';
          opts.say(`snapshot: ${checker.items} items, ${checker.records} log records, ${(checker.bytes / 1e6).toFixed(1)} MB so far${pct}`);
        }
        if (w.queuedBytes > FILE_QUEUE_BYTES_MAX) {
          s.pause();
          void w.drain().then(() => {
            if (!settled) s.resume();
          });
        }
      };
      s.on('data', (d: Buffer) => {
        heard = Date.now();
        if (settled || checker.summary !== null) return;
        if (replied) return onFrames(d);
        head = head.length === 0 ? d : Buffer.concat([head, d]);
        const eol = head.indexOf('\r\n');
        if (eol < 0) {
          if (head.length > REPLY_LINE_BYTES_MAX) done('the node did not answer KVSNAPSHOT');
          return;
        }
        const line = head.toString('utf8', 0, eol);
        if (!/^\+KVSNAPSHOT \S+$/.test(line)) return done(line.startsWith('-') ? line.slice(1) : `unexpected reply to KVSNAPSHOT: ${line.slice(0, 200)}`);
        replied = true;
        const rest = head.subarray(eol + 2);
        if (rest.length > 0) onFrames(rest);
      });
      s.on('error', (e: Error) => done(`connection to the node failed mid-transfer: ${socketErrorText(e)}`));
      s.on('close', () => {
        if (checker.summary === null) done(`the node closed the connection before the end of the snapshot (${checker.items} items received)`);
      });
      s.resume();
      s.write(encodeCommand(['KVSNAPSHOT']));
    });
  }
}
