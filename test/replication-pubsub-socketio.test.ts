// A program nobody here wrote on replicated pub/sub: two socket.io servers (separate Node
// processes, test/fixtures/socketio-node.ts) with @socket.io/redis-adapter over node-redis 4,
// each with its pub client and its sub client on different members of a 3-node kv-ts cluster,
// and a socket.io client on each. A broadcast on one server reaches the client of the other;
// the primary is SIGKILLed in the middle of a message stream and the stream resumes through the
// new primary (what was in flight may be lost: at most once); the killed member restarts, the
// adapters' clients reconnect to it on their own, and broadcasts flow the other way too.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { io as connectClient, type Socket } from 'socket.io-client';
import { Cluster } from './helpers/cluster.js';
import { REPO_ROOT } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';

const NODE_JS = join(REPO_ROOT, 'dist', 'test', 'fixtures', 'socketio-node.js');
/** The stream's pace: one broadcast per this many ms (it produces messages; nothing waits on it). */
const STREAM_INTERVAL_MS = 20;
/** Messages that must arrive before the kill, and after it (sent after the kill) for "resumed". */
const MESSAGES_BEFORE_KILL = 25;
const MESSAGES_AFTER_KILL = 25;
const RESUME_DEADLINE_MS = 15_000;

interface SocketNode {
  readonly child: ChildProcess;
  readonly port: number;
  output(): string;
}

/** A socket.io server process whose adapter publishes on `pubPort` and subscribes on `subPort`. */
async function startSocketNode(pubPort: number, subPort: number): Promise<SocketNode> {
  const child = spawn(process.execPath, [NODE_JS, String(pubPort), String(subPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const port = await waitFor('a socket.io server listening', () => {
    if (child.exitCode !== null) throw new Error(`socket.io server exited ${child.exitCode}: ${out}`);
    const m = /LISTENING (\d+)/.exec(out);
    return m === null ? null : Number(m[1]);
  });
  return { child, port, output: () => out };
}

function stopSocketNode(n: SocketNode | undefined): Promise<void> {
  if (n === undefined || n.child.exitCode !== null || n.child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    n.child.once('exit', () => resolve());
    n.child.kill('SIGKILL');
  });
}

interface Said {
  readonly from: string;
  readonly seq: number;
}

/** A socket.io client of `port` recording the seqs it hears from each sender. */
function listen(port: number): { socket: Socket; heard: Map<string, number[]> } {
  const socket = connectClient(`http://127.0.0.1:${port}`, { transports: ['websocket'] });
  const heard = new Map<string, number[]>();
  socket.on('heard', (d: Said) => {
    let l = heard.get(d.from);
    if (l === undefined) heard.set(d.from, (l = []));
    l.push(d.seq);
  });
  return { socket, heard };
}

test('socket.io with the redis adapter across cluster members: broadcasts cross servers and resume after the primary is killed', async () => {
  // Elections slower than the default, so that a loaded machine does not move the primary by itself.
  const cluster = await Cluster.start({ nodes: 3, args: ['--election-timeout-ms', '1500'] });
  let a: SocketNode | undefined;
  let b: SocketNode | undefined;
  const sockets: Socket[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    const primary = await cluster.waitForPrimary();
    const [r1, r2] = cluster.nodes.filter((n) => n.id !== primary);
    assert.ok(r1 !== undefined && r2 !== undefined);
    const p = cluster.node(primary);
    // A publishes on a replica and listens on the primary; B the other way round, on the other replica.
    a = await startSocketNode(r1.port, p.port);
    b = await startSocketNode(p.port, r2.port);
    const clientA = listen(a.port);
    const clientB = listen(b.port);
    sockets.push(clientA.socket, clientB.socket);
    await waitFor('both socket.io clients connected', () => clientA.socket.connected && clientB.socket.connected);

    // The stream: client A says seq 0, 1, 2... to server A, which broadcasts it to every server.
    let sent = 0;
    timer = setInterval(() => clientA.socket.emit('say', { from: 'A', seq: sent++ } satisfies Said), STREAM_INTERVAL_MS);
    const atB = (): number[] => clientB.heard.get('A') ?? [];
    await waitFor(`${MESSAGES_BEFORE_KILL} broadcasts from server A at server B's client`, () => atB().length >= MESSAGES_BEFORE_KILL, { timeoutMs: RESUME_DEADLINE_MS });

    // The member to kill must be the primary now (an unplanned election may have moved it).
    const current = await cluster.waitForPrimary();
    if (current !== primary) assert.ok((await cluster.call(current, ['FAILOVER', 'TO', primary], 10_000)).ok);
    assert.equal(await cluster.waitForPrimary(), primary);
    const killedAtSeq = sent;
    const t0 = performance.now();
    await cluster.kill(primary);
    await waitFor(`broadcasts sent after the primary's death at server B's client`, () => atB().some((s) => s >= killedAtSeq + MESSAGES_AFTER_KILL), { timeoutMs: RESUME_DEADLINE_MS });
    const resumedMs = performance.now() - t0;
    const next = await cluster.waitForPrimary(RESUME_DEADLINE_MS, [primary]);
    clearInterval(timer);
    timer = undefined;

    const seqs = atB();
    for (let i = 1; i < seqs.length; i++) assert.ok((seqs[i] as number) > (seqs[i - 1] as number), `in order, never twice: ${seqs.slice(Math.max(0, i - 3), i + 2).join(',')}`);
    const last = seqs[seqs.length - 1] as number;
    const lost = last + 1 - seqs.length;
    process.stdout.write(`# stream resumed ${resumedMs.toFixed(0)} ms after SIGKILL of ${primary} (new primary ${next}); ${lost} of ${last + 1} broadcasts lost in the window\n`);

    // The killed member comes back as a replica; the adapters' clients on it reconnect by themselves
    // (A's subscriber, B's publisher), and B's broadcasts reach A's client through it.
    await cluster.restart(primary);
    let fromB = 0;
    await waitFor(
      "a broadcast from server B at server A's client after the restart",
      () => {
        clientB.socket.emit('say', { from: 'B', seq: fromB++ } satisfies Said);
        return (clientA.heard.get('B') ?? []).length > 0;
      },
      { timeoutMs: RESUME_DEADLINE_MS, intervalMs: 50 },
    );
  } catch (e) {
    cluster.printLogs();
    process.stdout.write(`# socket.io server A:\n${(a?.output() ?? '').replace(/^/gm, '# ')}\n# socket.io server B:\n${(b?.output() ?? '').replace(/^/gm, '# ')}\n`);
    throw e;
  } finally {
    if (timer !== undefined) clearInterval(timer);
    for (const s of sockets) s.disconnect();
    await stopSocketNode(a);
    await stopSocketNode(b);
    await cluster.stop();
  }
});
