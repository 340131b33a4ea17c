// Start-up warm-up: before the real store opens, a scratch KvServer on a scratch store in a new
// temp directory is driven with SET/GET over loopback, through the same accept, parse, dispatch,
// store and reply code the clients will use, so V8 has profiled and compiled those paths (the
// functions and class methods are shared; only the instances are thrown away) before the first
// client arrives. Owns the scratch server, store and directory, all gone when it returns; never
// touches the real data directory or log, and serves nobody else (a random password guards the
// scratch port, which exists for a fraction of a second).

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MALFORMED, INCOMPLETE, scanReply } from '../client/resp-wire.js';
import { openReplicatedStore } from '../storage/store.js';
import { defaultConfig } from './config.js';
import type { FsyncPolicy } from '../storage/types.js';
import { KvServer, type ServerLog } from './server.js';

/** The warm-up stops issuing requests this long after its scratch server listens (start-up delay bound). */
export const WARMUP_MS_MAX = 250;
/** ... or after this many requests: past it, V8 has optimized the hot paths. */
export const WARMUP_REQUESTS_MAX = 40_000;
const WARMUP_CONNECTIONS = 8;
/** Half the connections send one command at a time (the -P 1 path), half a pipelined batch. */
const WARMUP_PIPELINE = 16;
const WARMUP_VALUE_BYTES = 100;
export const WARMUP_DIR_PREFIX = 'kvts-warmup-';

export interface WarmupReport {
  readonly requests: number;
  readonly ms: number;
}

const SILENT: ServerLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

function bulk(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  return Buffer.concat([Buffer.from(`$${b.length}\r\n`, 'latin1'), b, Buffer.from('\r\n', 'latin1')]);
}

function command(args: readonly (string | Buffer)[]): Buffer {
  return Buffer.concat([Buffer.from(`*${args.length}\r\n`, 'latin1'), ...args.map(bulk)]);
}

/** Shared request budget of the warm-up clients. */
interface Budget {
  left: number;
  readonly deadlineMs: number;
  done: number;
}

/**
 * One client: AUTH, then batches of `pipeline` alternating SET/GET until the budget is spent.
 * Resolves when it stopped; rejects on a refused AUTH, an error reply or a broken stream.
 */
function drive(port: number, password: string, pipeline: number, first: number, budget: Budget): Promise<void> {
  const value = Buffer.alloc(WARMUP_VALUE_BYTES, 0x78);
  return new Promise((resolve, reject) => {
    const sock: Socket = connect({ host: '127.0.0.1', port, noDelay: true });
    let pending: Buffer = Buffer.alloc(0);
    let owed = 1;
    let n = first;
    const fail = (e: Error): void => {
      sock.destroy();
      reject(e);
    };
    const next = (): void => {
      const k = Math.min(pipeline, budget.left);
      if (k <= 0 || performance.now() > budget.deadlineMs) {
        sock.end();
        return resolve();
      }
      budget.left -= k;
      const cmds: Buffer[] = [];
      for (let i = 0; i < k; i++, n++) {
        // Every SET a new key: a fresh server's first writes are inserts (table and slab growth).
        const key = `warmup:${n}`;
        cmds.push(n % 2 === 0 ? command(['SET', key, value]) : command(['GET', `warmup:${n - 1}`]));
      }
      owed = k;
      sock.write(Buffer.concat(cmds));
    };
    sock.on('error', fail);
    sock.on('data', (d: Buffer) => {
      const buf = pending.length === 0 ? d : Buffer.concat([pending, d]);
      let pos = 0;
      for (;;) {
        const end = scanReply(buf, pos);
        if (end === INCOMPLETE) break;
        if (end === MALFORMED || buf[pos] === 45 /* - */) return fail(new Error(`warm-up: unexpected reply ${buf.subarray(pos, pos + 60).toString('latin1')}`));
        pos = end;
        owed--;
        budget.done++;
      }
      pending = buf.subarray(pos);
      if (owed === 0) next();
    });
    sock.write(command(['AUTH', password]));
    budget.done--; // the AUTH reply is not a warm-up request
  });
}

/**
 * Run the warm-up with the configured fsync policy (the same durability path) and return what it
 * did. The caller opens the real store afterwards; nothing of this one survives.
 */
export async function warmUp(fsync: FsyncPolicy): Promise<WarmupReport> {
  const t0 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), WARMUP_DIR_PREFIX));
  try {
    const cfg = defaultConfig();
    cfg.dir = dir;
    cfg.host = '127.0.0.1';
    cfg.port = 0;
    cfg.fsync = fsync;
    cfg.requirepass = randomBytes(24).toString('hex');
    const store = await openReplicatedStore({ dir, fsync });
    const server = new KvServer({ config: cfg, store, log: SILENT });
    try {
      const { port } = await server.listen();
      const budget: Budget = { left: WARMUP_REQUESTS_MAX, deadlineMs: performance.now() + WARMUP_MS_MAX, done: 0 };
      const clients = Array.from({ length: WARMUP_CONNECTIONS }, (_, i) => drive(port, cfg.requirepass as string, i % 2 === 0 ? 1 : WARMUP_PIPELINE, i * 7919, budget));
      await Promise.all(clients);
      return { requests: budget.done, ms: performance.now() - t0 };
    } finally {
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
