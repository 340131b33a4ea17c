// kv-bench --etcd-grpc: drive etcd over gRPC with the etcd3 client, as etcd's Node users do.
// One Etcd3 client (one HTTP/2 channel) per endpoint; `connections` callers each keep one unary
// Put or Range in flight, all multiplexed over those channels. Measured and tallied exactly like
// RESP requests (run.ts Run/summarize): errors by kind, never as successes.
// Never retries a request (the client's retry and circuit-breaker policies are replaced by a
// no-op) and never talks to anything but the endpoints it is given.

import { performance } from 'node:perf_hooks';
import { noop } from 'cockatiel';
import { Etcd3, GRPCDeadlineExceededError } from 'etcd3';
import { parseAddress } from '../net/address.js';
import { KEY_DIGITS, KEY_PREFIX, KIND_TIMEOUT, prng, Run, STALL_TIMEOUT_MS_DEFAULT, summarize, templates, type BenchOptions, type BenchOutcome, type Endpoint } from './run.js';

/** The connect check before the clock starts gives up after this. */
export const ETCD_GRPC_CONNECT_TIMEOUT_MS = 5_000;

export type ParsedGrpcEndpoint = { readonly ok: true; readonly endpoint: Endpoint } | { readonly ok: false; readonly error: string };

/** `host:port` (the form etcdctl --endpoints takes without a scheme) -> host and port. */
export function parseEtcdGrpcEndpoint(s: string): ParsedGrpcEndpoint {
  const a = parseAddress(s);
  if (a === null) return { ok: false, error: `etcd gRPC endpoint must look like 127.0.0.1:2379, got '${s}'` };
  return { ok: true, endpoint: a };
}

/** The error kind of a failed call: the etcd3 error class without its `GRPC` prefix and `Error` suffix. */
export function grpcErrorKind(e: unknown): string {
  if (e instanceof GRPCDeadlineExceededError) return KIND_TIMEOUT;
  const name = e instanceof Error ? e.constructor.name : '';
  const m = /^GRPC(\w+?)Error$/.exec(name);
  if (m !== null) return `GRPC_${(m[1] as string).replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`;
  return name === '' || name === 'Error' ? 'GRPC_ERROR' : name;
}

function client(ep: Endpoint): Etcd3 {
  const host = ep.host.includes(':') ? `[${ep.host}]` : ep.host;
  return new Etcd3({
    hosts: `http://${host}:${ep.port}`,
    faultHandling: { global: noop, host: () => noop },
  });
}

/** One caller's loop: one unary call at a time; its channel carries the other callers' too. */
async function caller(run: Run, c: Etcd3, value: Buffer, timeoutMs: number): Promise<void> {
  while (run.mayIssue()) {
    run.issued++;
    const isGet = run.nextIsGet();
    const key = Buffer.from(KEY_PREFIX + String(run.nextKey()).padStart(KEY_DIGITS, '0'), 'latin1');
    if (isGet) run.gets++;
    else run.sets++;
    const opts = { deadline: Date.now() + timeoutMs };
    const t0 = performance.now();
    try {
      // A Range with only `key` is linearizable (serializable defaults to false).
      if (isGet) await c.kv.range({ key }, opts);
      else await c.kv.put({ key, value }, opts);
      run.recordOk(performance.now() - t0);
    } catch (e) {
      run.countError(grpcErrorKind(e));
    }
    run.finishedOne();
  }
}

/** runBench for etcd over gRPC: options are validated by the caller (run.ts runBench). */
export async function runEtcdGrpcBench(o: BenchOptions, endpoints: readonly string[]): Promise<BenchOutcome> {
  const eps: Endpoint[] = [];
  for (const s of endpoints) {
    const p = parseEtcdGrpcEndpoint(s);
    if (!p.ok) return p;
    eps.push(p.endpoint);
  }
  const rand = prng(o.seed);
  const run = new Run(o, templates(o, rand), rand);
  const timeoutMs = o.stallTimeoutMs ?? STALL_TIMEOUT_MS_DEFAULT;
  const clients = eps.map(client);
  try {
    // Connect (and check) every channel before the clock starts, so a dead endpoint fails the
    // run and no request's latency includes the HTTP/2 handshake.
    for (const [i, c] of clients.entries()) {
      try {
        await c.maintenance.status({ deadline: Date.now() + Math.min(timeoutMs, ETCD_GRPC_CONNECT_TIMEOUT_MS) });
      } catch (e) {
        const ep = eps[i] as Endpoint;
        return { ok: false, error: `Could not reach etcd over gRPC at ${ep.host}:${ep.port}: ${e instanceof Error ? e.message : String(e)}` };
      }
    }
    const t0 = performance.now();
    run.begin(t0);
    await Promise.all(Array.from({ length: o.connections }, (_, i) => caller(run, clients[i % clients.length] as Etcd3, run.t.value, timeoutMs)));
    return { ok: true, result: summarize(run, (performance.now() - t0) / 1000) };
  } finally {
    for (const c of clients) c.close();
  }
}
