// The kv-bench engine's etcd driver: N keep-alive HTTP connections to etcd's own JSON gateway
// (POST /v3/kv/put, POST /v3/kv/range), each with one request in flight, measured and tallied
// exactly like RESP requests (run.ts Run/summarize): errors by kind, never as successes.
// Never talks to anything but the endpoints it is given; never retries a request.

import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { KEY_DIGITS, KEY_PREFIX, KIND_CONNECTION_LOST, KIND_TIMEOUT, prng, Run, STALL_TIMEOUT_MS_DEFAULT, summarize, templates, type BenchOptions, type BenchOutcome, type Endpoint } from './run.js';

export const ETCD_PUT_PATH = '/v3/kv/put';
export const ETCD_RANGE_PATH = '/v3/kv/range';
/** A refused TCP connect (nothing listens): distinct from a connection that broke mid-request. */
export const KIND_CONNECTION_REFUSED = 'CONNECTION_REFUSED';
/** Largest response body we buffer; a put/range reply for one 100 B key is a few hundred bytes. */
export const RESPONSE_BYTES_MAX = 1024 * 1024;
/** One-off calls (status, health) give up after this. */
export const ETCD_CALL_TIMEOUT_MS = 5_000;

/** gRPC status codes as etcd's gateway reports them in `{"code": n}`; the name is the error kind. */
const GRPC_CODES: readonly string[] = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

export type ParsedEndpoint = { readonly ok: true; readonly endpoint: Endpoint } | { readonly ok: false; readonly error: string };

/** `http://host:port` (a trailing slash is allowed) -> host and port. TLS is not supported. */
export function parseEtcdEndpoint(url: string): ParsedEndpoint {
  const m = /^http:\/\/([^/:]+|\[[^\]]+\]):(\d{1,5})\/?$/.exec(url);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || !(port >= 1 && port <= 65535)) return { ok: false, error: `etcd endpoint must look like http://127.0.0.1:2379, got '${url}'` };
  return { ok: true, endpoint: { host: (m[1] as string).replace(/^\[|\]$/g, ''), port } };
}

/** The error kind of a finished HTTP exchange, or undefined for success. */
export function etcdErrorKind(status: number, body: string): string | undefined {
  // The gateway reports gRPC errors as {"error": ..., "code": n}, usually with a 4xx/5xx status.
  const isError = status !== 200 || body.startsWith('{"error"');
  if (!isError) return undefined;
  try {
    const code = (JSON.parse(body) as { code?: unknown }).code;
    if (typeof code === 'number' && GRPC_CODES[code] !== undefined && code !== 0) return GRPC_CODES[code];
  } catch {
    // not JSON: fall through to the HTTP status
  }
  return `HTTP_${status}`;
}

function socketErrorKind(e: unknown): string {
  return (e as NodeJS.ErrnoException | undefined)?.code === 'ECONNREFUSED' ? KIND_CONNECTION_REFUSED : KIND_CONNECTION_LOST;
}

interface Exchange {
  /** undefined: success. */
  readonly kind: string | undefined;
  readonly status: number;
  readonly body: string;
}

/** One POST; resolves exactly once with the outcome (never rejects). */
function post(ep: Endpoint, agent: Agent | undefined, path: string, body: string, timeoutMs: number): Promise<Exchange> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (x: Exchange): void => {
      if (settled) return;
      settled = true;
      resolve(x);
    };
    const req = request(
      {
        host: ep.host,
        port: ep.port,
        method: 'POST',
        path,
        agent: agent ?? false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (text.length + d.length > RESPONSE_BYTES_MAX) {
            req.destroy();
            settle({ kind: 'RESPONSE_TOO_LARGE', status: res.statusCode ?? 0, body: '' });
            return;
          }
          text += d;
        });
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          settle({ kind: etcdErrorKind(status, text), status, body: text });
        });
        res.on('error', (e) => settle({ kind: socketErrorKind(e), status: 0, body: '' }));
      },
    );
    req.setTimeout(timeoutMs, () => {
      settle({ kind: KIND_TIMEOUT, status: 0, body: '' });
      req.destroy();
    });
    req.on('error', (e) => settle({ kind: socketErrorKind(e), status: 0, body: '' }));
    req.end(body);
  });
}

export type EtcdCallResult = { readonly ok: true; readonly json: unknown } | { readonly ok: false; readonly error: string };

/** One request on a fresh connection (status, health, leader discovery); errors are values. */
export async function etcdCall(ep: Endpoint, path: string, body: unknown, timeoutMs = ETCD_CALL_TIMEOUT_MS): Promise<EtcdCallResult> {
  const x = await post(ep, undefined, path, JSON.stringify(body), timeoutMs);
  if (x.kind !== undefined) return { ok: false, error: `${x.kind}${x.body !== '' ? ': ' + x.body.slice(0, 200) : ''}` };
  try {
    return { ok: true, json: JSON.parse(x.body) as unknown };
  } catch {
    return { ok: false, error: `not JSON: ${x.body.slice(0, 200)}` };
  }
}

function keyText(n: number): string {
  return KEY_PREFIX + String(n).padStart(KEY_DIGITS, '0');
}

/** One connection's loop: at most one request in flight (HTTP/1.1 without pipelining). */
async function worker(run: Run, ep: Endpoint, agent: Agent, valueB64: string, timeoutMs: number): Promise<void> {
  while (run.mayIssue()) {
    run.issued++;
    const isGet = run.nextIsGet();
    const key = Buffer.from(keyText(run.nextKey()), 'latin1').toString('base64');
    // A range with only `key` is linearizable (serializable defaults to false).
    const body = isGet ? `{"key":"${key}"}` : `{"key":"${key}","value":"${valueB64}"}`;
    if (isGet) run.gets++;
    else run.sets++;
    const t0 = performance.now();
    const x = await post(ep, agent, isGet ? ETCD_RANGE_PATH : ETCD_PUT_PATH, body, timeoutMs);
    if (x.kind === undefined) run.recordOk(performance.now() - t0);
    else run.countError(x.kind);
    run.finishedOne();
  }
}

/** runBench for etcd: options are validated by the caller (run.ts runBench). */
export async function runEtcdBench(o: BenchOptions, urls: readonly string[]): Promise<BenchOutcome> {
  const eps: Endpoint[] = [];
  for (const u of urls) {
    const p = parseEtcdEndpoint(u);
    if (!p.ok) return p;
    eps.push(p.endpoint);
  }
  const rand = prng(o.seed);
  const run = new Run(o, templates(o, rand), rand);
  const valueB64 = run.t.value.toString('base64');
  const timeoutMs = o.stallTimeoutMs ?? STALL_TIMEOUT_MS_DEFAULT;
  // One keep-alive agent per endpoint with a socket for each of its connections, so every
  // worker keeps its own connection open for the whole run (no connect per request).
  const perEndpoint = eps.map((_, i) => Math.floor(o.connections / eps.length) + (i < o.connections % eps.length ? 1 : 0));
  const agents = eps.map((_, i) => new Agent({ keepAlive: true, maxSockets: Math.max(1, perEndpoint[i] as number), maxFreeSockets: Math.max(1, perEndpoint[i] as number) }));
  const t0 = performance.now();
  run.begin(t0);
  try {
    await Promise.all(Array.from({ length: o.connections }, (_, i) => worker(run, eps[i % eps.length] as Endpoint, agents[i % eps.length] as Agent, valueB64, timeoutMs)));
  } finally {
    for (const a of agents) a.destroy();
  }
  return { ok: true, result: summarize(run, (performance.now() - t0) / 1000) };
}
