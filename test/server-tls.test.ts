// TLS with real kv-server processes on 127.0.0.1 and the committed test CA (test/fixtures/tls):
// bad certificate files stop the start; redis-cli, ioredis, node-redis, KvClient and kv-cli
// connect with a client certificate; no certificate, an untrusted CA, plain text on the TLS port
// and a handshake never started are refused, counted (the log line bounded) and never disturb
// other clients; tls-auth-clients optional/no; the tls-* settings in a config file and CONFIG
// GET; certificate files loaded again by CONFIG SET; a replica replicating over TLS; and a 3-node
// cluster whose links use TLS electing a new primary after its primary is killed.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { KvClient } from '../src/client/index.js';
import { callOnce, replyText } from './helpers/call.js';
import { Cluster } from './helpers/cluster.js';
import { info } from './helpers/info.js';
import { TLS_FAILURE_LOG_INTERVAL_MS, TLS_HANDSHAKE_TIMEOUT_MS, TlsFailureLog } from '../src/server/tls.js';
import { freePort, KV_CLI_JS, REPO_ROOT, startKvServer, stopAndClean, tempDir, type RunningProcess } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';

const run = promisify(execFile);
const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'tls');
const fixture = (name: string): string => join(FIXTURES, name);
const pem = (name: string): Buffer => readFileSync(fixture(name));
/** The node's files: what every TLS server in this file starts with. */
const SERVER_TLS = ['--tls-cert-file', fixture('server.crt'), '--tls-key-file', fixture('server.key'), '--tls-ca-cert-file', fixture('ca.crt')];
/** An application's TLS options: trusts the test CA, presents the client certificate. */
const CLIENT_TLS: ConnectionOptions = { ca: pem('ca.crt'), cert: pem('client.crt'), key: pem('client.key') };

const procs = new Set<RunningProcess>();
after(async () => {
  for (const p of procs) await stopAndClean(p);
});

/** A kv-server with a plain port (`port`, the one the helpers wait on) and a TLS port. */
async function tlsServer(extra: readonly string[] = []): Promise<{ proc: RunningProcess; tlsPort: number }> {
  const tlsPort = await freePort();
  const proc = await startKvServer({ args: ['--tls-port', String(tlsPort), ...SERVER_TLS, ...extra] });
  procs.add(proc);
  await waitFor('the TLS listener', () => proc.output().includes(`TLS on port ${tlsPort}`), { timeoutMs: 30_000 }); // slow on a loaded machine
  return { proc, tlsPort };
}

/**
 * PING over a fresh TLS connection: 'PONG', or why there was none (the client's own check of
 * the server, or the server's refusal). Never throws.
 */
function tlsPing(port: number, opts: ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ...opts });
    let got = '';
    const done = (why: string): void => {
      s.destroy();
      resolve(why);
    };
    s.once('secureConnect', () => s.write('PING\r\n'));
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes('\r\n')) done(got.startsWith('+PONG') ? 'PONG' : got.trim());
    });
    s.once('error', (e: NodeJS.ErrnoException) => done(`error ${e.code ?? e.message}`));
    s.once('close', () => done(got === '' ? 'closed' : got.trim()));
  });
}

/** One command on a fresh plain connection; the reply's text. */
async function call(port: number, args: readonly string[]): Promise<string | null> {
  const r = await callOnce(port, args);
  assert.ok(r.ok, `${args.join(' ')}: ${r.ok ? '' : r.error}`);
  return replyText(r.reply);
}

/** An ioredis client that never retries (a test must see every failure); with `tls`, over TLS. */
function ioredis(port: number, tls?: ConnectionOptions): Redis {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...(tls !== undefined ? { tls } : {}) });
  c.on('error', () => undefined);
  return c;
}

async function tlsFailures(port: number): Promise<number> {
  return Number((await info(port, 'stats')).get('kv_tls_handshake_failures'));
}

/** Start kv-server with `args`; it must exit with `code` and print `message`. */
async function startRefused(args: readonly string[], code: number, message: RegExp): Promise<void> {
  const p = await startKvServer({ args, waitReady: false });
  procs.add(p);
  assert.equal(await p.exited(), code, p.output());
  assert.match(p.output(), message);
}

test('bad TLS files stop the start with a message naming the file', async () => {
  const dir = tempDir('kvts-tls-files-');
  const notPem = join(dir, 'not.pem');
  writeFileSync(notPem, 'not a certificate\n');
  const tlsPort = String(await freePort());
  const files = (cert: string, key: string, ca: string): string[] => ['--tls-port', tlsPort, '--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', ca];
  // A setting left out is a usage error; a file that cannot serve is a startup failure.
  await startRefused(['--tls-port', tlsPort, '--tls-key-file', fixture('server.key'), '--tls-ca-cert-file', fixture('ca.crt')], 2, /tls-cert-file is required/);
  await startRefused(files(join(dir, 'missing.crt'), fixture('server.key'), fixture('ca.crt')), 1, /tls-cert-file .*missing\.crt: cannot read \(ENOENT\)/);
  await startRefused(files(notPem, fixture('server.key'), fixture('ca.crt')), 1, /tls-cert-file .*not\.pem: not a PEM certificate/);
  await startRefused(files(fixture('server.crt'), notPem, fixture('ca.crt')), 1, /tls-key-file .*not\.pem: not a PEM private key/);
  await startRefused(files(fixture('server.crt'), fixture('client.key'), fixture('ca.crt')), 1, /tls-key-file .*client\.key: not the key of the certificate/);
  await startRefused(files(fixture('server.crt'), fixture('server.key'), notPem), 1, /tls-ca-cert-file .*not\.pem: not a PEM certificate/);
  await startRefused(['--tls-port', tlsPort, '--tls-auth-clients', 'maybe', ...SERVER_TLS], 2, /--tls-auth-clients: bad value/);
  // tls-replication alone needs the files too (the node presents its certificate to its primary).
  await startRefused(['--tls-replication', 'yes'], 2, /tls-cert-file is required/);
  await startRefused(['--node-id', 'n1', '--cluster', `n1=127.0.0.1:${tlsPort}`, '--tls-cluster', 'yes', ...SERVER_TLS], 2, /--tls-cluster yes needs --tls-port/);
});

test('failed handshakes: every one counted, one log line per interval with the number not logged', () => {
  let now = 1_000_000;
  let counted = 0;
  const lines: string[] = [];
  const f = new TlsFailureLog(() => counted++, (m) => lines.push(m), () => now);
  f.failed('no certificate', '127.0.0.1:1');
  for (let i = 0; i < 50; i++) f.failed('no certificate', '127.0.0.1:2');
  now += TLS_FAILURE_LOG_INTERVAL_MS - 1;
  f.failed('wrong CA', '127.0.0.1:3');
  assert.equal(lines.length, 1);
  now += 1;
  f.failed('wrong CA', '127.0.0.1:4');
  assert.equal(counted, 53);
  assert.deepEqual(lines, ['TLS handshake failed from 127.0.0.1:1: no certificate', 'TLS handshake failed from 127.0.0.1:4: wrong CA (and 51 more since the last report)']);
});

test('redis-cli, ioredis, node-redis, KvClient and kv-cli connect with a client certificate', async () => {
  const { proc, tlsPort } = await tlsServer();
  const cli = ['-h', '127.0.0.1', '-p', String(tlsPort), '--tls', '--cacert', fixture('ca.crt'), '--cert', fixture('client.crt'), '--key', fixture('client.key')];
  assert.equal((await run('redis-cli', [...cli, 'SET', 'cli:k', 'from redis-cli'])).stdout.trim(), 'OK');
  assert.equal((await run('redis-cli', [...cli, 'GET', 'cli:k'])).stdout.trim(), 'from redis-cli');

  const io = ioredis(tlsPort, CLIENT_TLS);
  try {
    await io.connect();
    assert.equal(await io.set('io:k', 'from ioredis'), 'OK');
    assert.equal(await io.get('cli:k'), 'from redis-cli');
    const p = io.pipeline();
    for (let i = 0; i < 500; i++) p.set(`io:p:${i}`, 'x'.repeat(i));
    for (let i = 0; i < 500; i++) p.strlen(`io:p:${i}`);
    const res = (await p.exec()) ?? [];
    for (let i = 0; i < 500; i++) assert.deepEqual(res[500 + i], [null, i]);
  } finally {
    io.disconnect();
  }

  const nr = createClient({ socket: { host: '127.0.0.1', port: tlsPort, tls: true, ...CLIENT_TLS, reconnectStrategy: false } });
  nr.on('error', () => undefined);
  try {
    await nr.connect();
    assert.equal(await nr.set('nr:k', 'from node-redis'), 'OK');
    assert.equal(await nr.get('io:k'), 'from ioredis');
  } finally {
    await nr.disconnect();
  }

  const kv = await KvClient.connect({ seeds: [`127.0.0.1:${tlsPort}`], tls: CLIENT_TLS, timeoutMs: 5000 });
  try {
    assert.equal(await kv.set('kv:k', 'from KvClient'), 'OK');
    assert.equal(await kv.get('nr:k'), 'from node-redis');
  } finally {
    await kv.close();
  }
  const kvCli = [KV_CLI_JS, '-p', String(tlsPort), '--tls', '--cacert', fixture('ca.crt'), '--cert', fixture('client.crt'), '--key', fixture('client.key')];
  assert.equal((await run(process.execPath, [...kvCli, 'SET', 'cli2:k', 'from kv-cli'])).stdout.trim(), 'OK');
  assert.equal((await run(process.execPath, [...kvCli, 'GET', 'kv:k'])).stdout.trim(), 'from KvClient');
  // The plain port serves the same data.
  assert.equal(await call(proc.port, ['GET', 'kv:k']), 'from KvClient');
  assert.equal(await tlsFailures(proc.port), 0);
});

test('no client certificate, an untrusted CA and plain text on the TLS port are refused and counted; other clients go on', async () => {
  const { proc, tlsPort } = await tlsServer();
  // A TCP client that never starts its handshake is dropped after the handshake timeout.
  const openedMs = Date.now();
  const idle = tcpConnect({ host: '127.0.0.1', port: tlsPort });
  idle.on('error', () => undefined);
  const idleClosed = new Promise<number>((resolve) => idle.once('close', () => resolve(Date.now() - openedMs)));
  // Clients connected before the failures keep working through them: one plain, one TLS.
  const plain = ioredis(proc.port);
  const kept = ioredis(tlsPort, CLIENT_TLS);
  try {
    await kept.connect();
    await plain.connect();
    assert.equal(await kept.set('kept', '1'), 'OK');
    assert.equal(await tlsPing(tlsPort, CLIENT_TLS), 'PONG');

    const noCert = await tlsPing(tlsPort, { ca: pem('ca.crt') });
    assert.notEqual(noCert, 'PONG');
    const otherCaCert = await tlsPing(tlsPort, { ca: pem('ca.crt'), cert: pem('other-client.crt'), key: pem('other-client.key') });
    assert.notEqual(otherCaCert, 'PONG');
    // The client's own check: the server's certificate is not signed by the CA it trusts.
    assert.match(await tlsPing(tlsPort, { ca: pem('other-ca.crt'), cert: pem('client.crt'), key: pem('client.key') }), /error SELF_SIGNED_CERT_IN_CHAIN|error UNABLE_TO/);
    // A plain-text client on the TLS port gets no reply, only a closed connection.
    const raw = await callOnce(tlsPort, ['PING']);
    assert.ok(!raw.ok, 'a plain-text PING on the TLS port got a reply');
    // redis-cli without a certificate fails too.
    await assert.rejects(run('redis-cli', ['-h', '127.0.0.1', '-p', String(tlsPort), '--tls', '--cacert', fixture('ca.crt'), 'PING']));
    // KvClient without a certificate: connect fails (no seed answers).
    await assert.rejects(KvClient.connect({ seeds: [`127.0.0.1:${tlsPort}`], tls: { ca: pem('ca.crt') }, discoverTimeoutMs: 0, timeoutMs: 2000 }));

    // The server saw each refused handshake once (the client-side CA check too: the client hung up).
    await waitFor('refused handshakes counted', async () => (await tlsFailures(proc.port)) === 6);
    // Logged at a bounded rate: the first failure, not every one.
    await waitFor('the first failure logged', () => proc.output().includes('TLS handshake failed from'));
    assert.equal(proc.output().split('TLS handshake failed from').length - 1, 1, proc.output());
    const idleMs = await idleClosed;
    assert.ok(idleMs >= TLS_HANDSHAKE_TIMEOUT_MS - 1000, `the idle connection was closed after ${idleMs} ms`);
    await waitFor('the timed-out handshake counted', async () => (await tlsFailures(proc.port)) === 7);

    assert.equal(await plain.get('kept'), '1');
    assert.equal(await kept.incr('kept'), 2);
    assert.equal(await tlsPing(tlsPort, CLIENT_TLS), 'PONG');
  } finally {
    kept.disconnect();
    plain.disconnect();
  }
});

test('tls-auth-clients optional takes clients without a certificate but refuses an untrusted one; no asks for none', async () => {
  const optional = await tlsServer(['--tls-auth-clients', 'optional']);
  assert.equal(await tlsPing(optional.tlsPort, { ca: pem('ca.crt') }), 'PONG');
  assert.equal(await tlsPing(optional.tlsPort, CLIENT_TLS), 'PONG');
  assert.notEqual(await tlsPing(optional.tlsPort, { ca: pem('ca.crt'), cert: pem('other-client.crt'), key: pem('other-client.key') }), 'PONG');
  await waitFor('the refused certificate counted', async () => (await tlsFailures(optional.proc.port)) === 1);
  const none = await tlsServer(['--tls-auth-clients', 'no']);
  assert.equal(await tlsPing(none.tlsPort, { ca: pem('ca.crt') }), 'PONG');
});

test('tls-* settings come from a config file; CONFIG GET reports them; CONFIG SET takes only the current value', async () => {
  const dir = tempDir('kvts-tls-conf-');
  const tlsPort = await freePort();
  const conf = join(dir, 'kv.conf');
  writeFileSync(
    conf,
    [`tls-port ${tlsPort}`, `tls-cert-file ${fixture('server.crt')}`, `tls-key-file ${fixture('server.key')}`, `tls-ca-cert-file "${fixture('ca.crt')}"`, 'tls-auth-clients optional', 'tls-replication yes', 'tls-cluster no', ''].join('\n'),
  );
  const proc = await startKvServer({ args: ['--config', conf] });
  procs.add(proc);
  await waitFor('the TLS listener', () => proc.output().includes(`TLS on port ${tlsPort}`), { timeoutMs: 30_000 }); // slow on a loaded machine
  assert.equal(await tlsPing(tlsPort, { ca: pem('ca.crt') }), 'PONG');
  const c = ioredis(proc.port);
  try {
    await c.connect();
    const pairs = (await c.call('CONFIG', 'GET', 'tls-*')) as string[];
    const got = new Map<string, string>();
    for (let i = 0; i < pairs.length; i += 2) got.set(pairs[i] as string, pairs[i + 1] as string);
    assert.deepEqual(Object.fromEntries(got), {
      'tls-port': String(tlsPort),
      'tls-cert-file': fixture('server.crt'),
      'tls-key-file': fixture('server.key'),
      'tls-ca-cert-file': fixture('ca.crt'),
      'tls-auth-clients': 'optional',
      'tls-replication': 'yes',
      'tls-cluster': 'no',
    });
    assert.equal(await c.call('CONFIG', 'SET', 'tls-auth-clients', 'optional'), 'OK');
    await assert.rejects(c.call('CONFIG', 'SET', 'tls-auth-clients', 'no'), /reads it only at startup/);
    await assert.rejects(c.call('CONFIG', 'SET', 'tls-port', '1'), /reads it only at startup/);
  } finally {
    c.disconnect();
  }
});

test('CONFIG SET of the certificate files loads them again; files that do not serve are refused and change nothing', async () => {
  const { proc, tlsPort } = await tlsServer();
  const c = ioredis(proc.port);
  // A TLS client connected before the reload keeps its connection.
  const kept = ioredis(tlsPort, CLIENT_TLS);
  try {
    await c.connect();
    await kept.connect();
    assert.equal(await kept.set('reload', '1'), 'OK');
    // A key that is not the certificate's: refused, both settings keep their values.
    await assert.rejects(c.call('CONFIG', 'SET', 'tls-cert-file', fixture('server.crt'), 'tls-key-file', fixture('client.key')), /tls-key-file .*not the key of the certificate/);
    assert.deepEqual(await c.call('CONFIG', 'GET', 'tls-key-file'), ['tls-key-file', fixture('server.key')]);
    await assert.rejects(c.call('CONFIG', 'SET', 'tls-ca-cert-file', join(FIXTURES, 'missing.crt')), /cannot read/);
    assert.equal(await tlsPing(tlsPort, CLIENT_TLS), 'PONG');
    // Another pair that loads: new connections get it. The client certificate is not made for
    // serving (clientAuth only), so a client that checks the server now refuses it.
    assert.equal(await c.call('CONFIG', 'SET', 'tls-cert-file', fixture('client.crt'), 'tls-key-file', fixture('client.key')), 'OK');
    assert.match(await tlsPing(tlsPort, CLIENT_TLS), /^error /);
    assert.equal(await kept.incr('reload'), 2);
    // And back.
    assert.equal(await c.call('CONFIG', 'SET', 'tls-cert-file', fixture('server.crt'), 'tls-key-file', fixture('server.key')), 'OK');
    assert.equal(await tlsPing(tlsPort, CLIENT_TLS), 'PONG');
    // Trusting the other CA for clients: our client certificate is refused, the other CA's taken.
    assert.equal(await c.call('CONFIG', 'SET', 'tls-ca-cert-file', fixture('other-ca.crt')), 'OK');
    assert.notEqual(await tlsPing(tlsPort, CLIENT_TLS), 'PONG');
    assert.equal(await tlsPing(tlsPort, { ca: pem('ca.crt'), cert: pem('other-client.crt'), key: pem('other-client.key') }), 'PONG');
  } finally {
    kept.disconnect();
    c.disconnect();
  }
});

test('--port 0 next to --tls-port: TLS only', async () => {
  const tlsPort = await freePort();
  // The helper waits on `port`: here the TLS port (a TCP connect is enough for it).
  const proc = await startKvServer({ port: tlsPort, args: ['--port', '0', '--tls-port', String(tlsPort), ...SERVER_TLS] });
  procs.add(proc);
  await waitFor('ready', () => proc.output().includes(`ready on 127.0.0.1:0 `));
  assert.equal(await tlsPing(tlsPort, CLIENT_TLS), 'PONG');
});

test('a replica replicates over TLS (--tls-replication yes) from the primary\'s TLS port', async () => {
  // The primary serves TLS only: the replica cannot reach it without TLS.
  const tlsPort = await freePort();
  const p = await startKvServer({ port: tlsPort, args: ['--port', '0', '--tls-port', String(tlsPort), ...SERVER_TLS] });
  procs.add(p);
  const replica = await tlsServer(['--replica-of', `127.0.0.1:${tlsPort}`, '--tls-replication', 'yes']);
  const kv = await KvClient.connect({ seeds: [`127.0.0.1:${tlsPort}`], tls: CLIENT_TLS, timeoutMs: 5000 });
  try {
    for (let i = 0; i < 100; i++) assert.equal(await kv.set(`r:${i}`, `v${i}`), 'OK');
    await waitFor('the replica holds the writes', async () => (await call(replica.proc.port, ['GET', 'r:99'])) === 'v99', { timeoutMs: 15_000 });
    // The replica announced its TLS port (its clients use TLS too): the primary's INFO names it.
    const primaryInfo = String(await kv.rawTypedAt(`127.0.0.1:${tlsPort}`, ['INFO', 'replication']));
    assert.match(primaryInfo, new RegExp(`slave0:ip=127\\.0\\.0\\.1,port=${replica.tlsPort},`));
    const i = await info(replica.proc.port);
    assert.equal(i.get('role'), 'slave');
    assert.equal(i.get('master_link_status'), 'up');
    // The replica redirects writes to the primary's TLS address.
    assert.match((await call(replica.proc.port, ['SET', 'x', '1'])) ?? '', new RegExp(`^READONLY .*127\\.0\\.0\\.1:${tlsPort}`));
  } finally {
    await kv.close();
  }
});

test('a 3-node cluster with TLS links fails over when its primary is killed; writes continue', async () => {
  const cluster = await Cluster.start({ nodes: 3, tlsArgs: ['--tls-cluster', 'yes', ...SERVER_TLS] });
  try {
    const first = await cluster.waitForPrimary();
    const seeds = cluster.nodes.map((n) => n.address);
    const kv = await KvClient.connect({ seeds, tls: CLIENT_TLS, timeoutMs: 15_000 });
    try {
      for (let i = 0; i < 50; i++) assert.equal(await kv.set(`c:${i}`, `v${i}`), 'OK');
      await cluster.waitConverged();
      await cluster.kill(first);
      const next = await cluster.waitForPrimary(15_000, [first]);
      assert.notEqual(next, first);
      // The client follows the new primary over TLS.
      for (let i = 50; i < 100; i++) assert.equal(await kv.set(`c:${i}`, `v${i}`), 'OK');
      assert.equal(await kv.get('c:0'), 'v0');
      assert.equal(await kv.get('c:99'), 'v99');
      await cluster.restart(first);
      await cluster.waitConverged();
    } finally {
      await kv.close();
    }
  } catch (e) {
    cluster.printLogs();
    throw e;
  } finally {
    await cluster.stop();
  }
});
