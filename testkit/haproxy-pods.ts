// Small HTTP "Pods" for the HAProxy suites: each answers with its own name, counts the
// requests it served (health checks apart), has a `/healthz` that can be switched to fail
// and a `/slow?ms=N` for long requests. Plus an HTTP client through a unix-socket frontend.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TestPod {
  name: string;
  address: string;
  port: number;
  /** Non-health requests served, with the time each arrived. */
  hits: number[];
  healthChecks: number;
  /** TCP connections accepted, health checks' included. */
  connections: number;
  setHealthy(ok: boolean): void;
  close(): Promise<void>;
}

export async function startPod(name: string, address = '127.0.0.1'): Promise<TestPod> {
  let healthy = true;
  const sockets = new Set<import('node:net').Socket>();
  const pod: TestPod = {
    name,
    address,
    port: 0,
    hits: [],
    healthChecks: 0,
    connections: 0,
    setHealthy: (ok) => {
      healthy = ok;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/healthz') {
      pod.healthChecks++;
      res.statusCode = healthy ? 200 : 503;
      res.end(healthy ? 'ok' : 'failing');
      return;
    }
    pod.hits.push(Date.now());
    const ms = url.pathname === '/slow' ? Number(url.searchParams.get('ms') ?? '1000') : 0;
    setTimeout(() => res.end(name), ms);
  });
  server.on('connection', (s) => {
    pod.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, () => resolve());
  });
  pod.port = (server.address() as AddressInfo).port;
  return pod;
}

export interface HttpResult {
  status: number;
  body: string;
}

/** One request through a frontend bound on a unix socket; a fresh connection unless `agent`. */
export function requestVia(socketPath: string, path = '/', agent?: http.Agent): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path, agent: agent ?? false, headers: { host: 'podlb.test' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`request ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
