// The operators' HTTP endpoint (--metrics-port): GET /metrics (Prometheus text) and GET /health
// (JSON, 200 or 503). Owns that listener, its bounds and its shutdown; it never serves the data
// protocol and never changes the node's state.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { KvServer } from '../server/server.js';
import type { ReplicationHost } from '../replication/host/host.js';
import { evaluateHealth, healthInputOf, type HealthInput, type RoleWanted } from './health.js';
import { ServerMetrics } from './registry.js';

export { ServerMetrics };

/** Simultaneous connections (Prometheus, a load balancer's probes, an operator's curl). */
export const METRICS_CONNECTIONS_MAX = 16;
/** Request line and headers; there is never a body to read. */
export const METRICS_HEADER_BYTES_MAX = 8 * 1024;
/** A client slower than this to send its request is dropped (slowloris). */
export const METRICS_REQUEST_TIMEOUT_MS = 5_000;
/** Idle keep-alive connections are closed after this long. */
const METRICS_KEEPALIVE_MS = 5_000;

export interface MetricsSources {
  /** Prometheus text exposition and its content type. */
  metrics(): Promise<string>;
  readonly contentType: string;
  health(): HealthInput;
}

export interface MetricsEndpoint {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

function send(res: ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

function roleWanted(v: string | null): RoleWanted | 'bad' {
  if (v === null) return null;
  return v === 'primary' || v === 'replica' ? v : 'bad';
}

async function handle(src: MetricsSources, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // A request with a body is not one of ours: answer and close instead of reading it.
  if (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') res.shouldKeepAlive = false;
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'only GET\n');
  const url = new URL(req.url ?? '/', 'http://metrics');
  if (url.pathname === '/metrics') return send(res, 200, src.contentType, await src.metrics());
  if (url.pathname === '/health') {
    const wanted = roleWanted(url.searchParams.get('role'));
    if (wanted === 'bad') return send(res, 400, 'text/plain', 'role must be primary or replica\n');
    const h = evaluateHealth(src.health(), wanted);
    return send(res, h.code, 'application/json', JSON.stringify(h.body) + '\n');
  }
  send(res, 404, 'text/plain', 'GET /metrics or /health\n');
}

/** Listen on host:port (0 = any free port); rejects with the bind error (the caller exits). */
export function startMetricsEndpoint(src: MetricsSources, host: string, port: number, onError: (e: Error) => void): Promise<MetricsEndpoint> {
  const sockets = new Set<Socket>();
  const server: Server = createServer({ maxHeaderSize: METRICS_HEADER_BYTES_MAX, requestTimeout: METRICS_REQUEST_TIMEOUT_MS, headersTimeout: METRICS_REQUEST_TIMEOUT_MS, keepAliveTimeout: METRICS_KEEPALIVE_MS }, (req, res) => {
    handle(src, req, res).catch((e: unknown) => {
      onError(e as Error);
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      else res.destroy();
    });
  });
  server.maxConnections = METRICS_CONNECTIONS_MAX;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      server.on('error', onError);
      const a = server.address();
      const bound = typeof a === 'object' && a !== null ? a.port : port;
      resolve({
        host,
        port: bound,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const s of sockets) s.destroy();
          }),
      });
    });
  });
}

/** kv-server's endpoint: `metrics` (built before the store opened) attached to the running server. */
export function serveMetrics(metrics: ServerMetrics, server: KvServer, host: ReplicationHost, bindHost: string, port: number, onError: (e: Error) => void): Promise<MetricsEndpoint> {
  metrics.attach(server, host);
  const sources: MetricsSources = { metrics: () => metrics.text(), contentType: metrics.contentType, health: () => healthInputOf(host, server.store) };
  return startMetricsEndpoint(sources, bindHost, port, onError);
}
