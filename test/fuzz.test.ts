// Protocol fuzzing against a running kv-server: ≥100k seeded random and mutated frames
// (byte flips, truncation, huge/negative lengths, garbage) over many connections; then the
// server must answer PING on a fresh connection and keys written before are unchanged.
// KV_LONG=1 runs millions of frames. Replay a failure with KV_SEED=<seed>.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startKvServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { cmd } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';
import { rng, testSeed, type Rng } from './helpers/rng.js';

const LONG = process.env['KV_LONG'] === '1';
const FRAMES_TOTAL = LONG ? 3_000_000 : 120_000;
/**
 * A batch is valid frames then one mutated frame last: every frame reaches the parser (a
 * protocol error closes the connection, so frames after it would never be read).
 */
const FRAMES_PER_BATCH = 10;
const PARALLEL_CONNECTIONS = 64;
/** How long a batch may wait for its marker before the connection is dropped (frames may be incomplete on purpose). */
const BATCH_WAIT_MS = 100;
const BASE_KEYS = 100;

/** Only commands that cannot change data, so the keyspace check is meaningful. */
function validFrame(r: Rng): Buffer {
  const key = `fz:${r.int(50)}`;
  const choices: Array<Array<string | Buffer>> = [
    ['PING'],
    ['PING', r.bytes(r.int(20))],
    ['ECHO', r.bytes(r.int(r.int(8) === 0 ? 3000 : 30))],
    ['GET', key],
    ['EXISTS', key, `fz:${r.int(50)}`],
    ['STRLEN', key],
    ['GET'],
    ['NOSUCHCMD', 'a'],
  ];
  const args = r.pick(choices);
  if (r.int(6) === 0) {
    // Inline form, sometimes with quotes.
    const words = args.map((a) => (typeof a === 'string' ? a : `"${a.toString('hex')}"`));
    return Buffer.from(words.join(' ') + (r.int(2) === 0 ? '\r\n' : '\n'), 'latin1');
  }
  return cmd(...args);
}

function mutate(r: Rng, f: Buffer): Buffer {
  switch (r.int(9)) {
    case 0:
    case 1: {
      const b = Buffer.from(f);
      for (let n = 1 + r.int(3); n > 0; n--) b[r.int(b.length)] = r.int(256);
      return b;
    }
    case 2:
      return f.subarray(0, r.int(f.length));
    case 3:
      return Buffer.concat([Buffer.from(`*1\r\n$${r.pick(['999999999999', '536870913', '-7', '-1', '2147483648', 'x1'])}\r\n`), f]);
    case 4:
      return Buffer.from(`*${r.pick(['-3', '1048577', '99999999999', 'abc', '0', '-1'])}\r\n`);
    case 5:
      return r.bytes(1 + r.int(64));
    case 6: {
      const i = r.int(f.length);
      return Buffer.concat([f.subarray(0, i), r.bytes(1 + r.int(8)), f.subarray(i)]);
    }
    case 7:
      return Buffer.from(f.toString('latin1').replace(/\r\n/, r.pick(['\r', '\n', '', '\r\r\n'])), 'latin1');
    default:
      return Buffer.from(`"unbalanced ${r.int(100)}\r\n`);
  }
}

/** Send one batch on a fresh connection; resolves when the marker came back, the server closed, or the wait ran out. */
function sendBatch(port: number, batch: Buffer, marker: string): Promise<'marker' | 'closed' | 'timeout'> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let tail = '';
    let settled = false;
    const finish = (how: 'marker' | 'closed' | 'timeout'): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve(how);
    };
    const timer = setTimeout(() => finish('timeout'), BATCH_WAIT_MS);
    s.on('error', () => finish('closed'));
    s.on('close', () => finish('closed'));
    s.on('data', (d: Buffer) => {
      tail = (tail + d.toString('latin1')).slice(-4096);
      if (tail.includes(marker)) finish('marker');
    });
    s.on('connect', () => {
      s.write(batch);
      s.write(cmd('ECHO', marker));
    });
  });
}

test(`fuzz: ${FRAMES_TOTAL} random and mutated frames; server keeps serving with unchanged data`, { timeout: LONG ? 3_600_000 : 180_000 }, async () => {
  const seed = testSeed(20240607);
  const r = rng(seed);
  let srv: RunningProcess | undefined;
  try {
    srv = await startKvServer({ args: ['--log-level', 'error'] });
    const port = srv.port;
    // Base data under names the fuzz cannot produce (random hex, never in a frame).
    const base = new Map<string, Buffer>();
    const admin = await RawConn.open(port);
    for (let i = 0; i < BASE_KEYS; i++) {
      const k = `base:${r.bytes(16).toString('hex')}`;
      const v = r.bytes(r.int(200));
      assert.equal(await admin.call('SET', k, v), 'OK');
      base.set(k, v);
    }
    admin.close();
    const counts = { marker: 0, closed: 0, timeout: 0 };
    let sent = 0;
    let batchNo = 0;
    const worker = async (): Promise<void> => {
      while (sent < FRAMES_TOTAL) {
        const frames: Buffer[] = [];
        for (let i = 0; i < FRAMES_PER_BATCH && sent < FRAMES_TOTAL; i++, sent++) {
          const f = validFrame(r);
          const last = i === FRAMES_PER_BATCH - 1;
          frames.push(last && r.int(8) !== 0 ? mutate(r, f) : f);
        }
        const how = await sendBatch(port, Buffer.concat(frames), `MARK${seed}x${batchNo++}`);
        counts[how]++;
      }
    };
    await Promise.all(Array.from({ length: PARALLEL_CONNECTIONS }, () => worker()));
    process.stdout.write(`# fuzz seed ${seed}: ${sent} frames in ${batchNo} batches; ended by marker ${counts.marker}, close ${counts.closed}, timeout ${counts.timeout}\n`);
    assert.ok(counts.closed > 0, 'some batches must have hit protocol errors');
    assert.ok(counts.marker > 0, 'some batches must have been served completely');
    assert.equal(srv.child.exitCode, null, `server died: ${srv.output()}`);
    const check = await RawConn.open(port);
    try {
      assert.equal(await check.call('PING'), 'PONG', `seed ${seed}`);
      for (const [k, v] of base) {
        check.send(cmd('GET', k));
        const got = await check.read();
        assert.ok(Buffer.isBuffer(got) && got.equals(v), `seed ${seed}: key ${k} changed`);
      }
      const info = String(await check.call('INFO', 'clients'));
      assert.match(info, /connected_clients:\d+/);
    } finally {
      check.close();
    }
  } finally {
    await stopAndClean(srv);
  }
});
