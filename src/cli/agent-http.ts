// The agent's HTTP endpoints. The agent runs with hostNetwork, so a port is a port on the node:
// /healthz and /readyz (ok or not, nothing more) listen where the kubelet's probes reach them,
// while /metrics (peer addresses, member counts, error rates) listens on loopback by default,
// as kube-proxy's metrics do; an operator who scrapes from elsewhere binds it to an address
// of their choosing (and secures that path) with --metrics-address.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

// Not `import ... from 'node:http'`: an ES module import of a builtin builds its namespace from
// every export, and node:http's lazy WebSocket exports then load Node's bundled copy of undici:
// 16 MB of RSS in a process that only answers probes (and uses undici from npm for the API).
const { createServer } = process.getBuiltinModule('node:http');

export interface Endpoint {
  address: string;
  /** 0: not served. */
  port: number;
}

export interface AgentHttpOptions {
  health: Endpoint;
  metrics: Endpoint;
  healthy: () => boolean;
  ready: () => boolean;
  metricsText: () => Promise<{ contentType: string; text: string }>;
}

export interface AgentHttp {
  /** Resolves once every server listens (rejects when one cannot). */
  listening: Promise<void>;
  servers: Server[];
  close(): void;
}

type Route = (req: IncomingMessage, res: ServerResponse) => void;

export function serveAgentHttp(o: AgentHttpOptions): AgentHttp {
  const probe =
    (ok: () => boolean): Route =>
    (_req, res) => {
      const yes = ok();
      res.writeHead(yes ? 200 : 503, { 'content-type': 'text/plain' }).end(yes ? 'ok\n' : 'not ok\n');
    };
  const healthRoutes: Record<string, Route> = { '/healthz': probe(o.healthy), '/readyz': probe(o.ready) };
  const metricsRoutes: Record<string, Route> = {
    '/metrics': (_req, res) => {
      o.metricsText().then(
        (m) => res.writeHead(200, { 'content-type': m.contentType }).end(m.text),
        () => res.writeHead(500).end(),
      );
    },
  };
  // One listener when both name the same address and port (the lab), else one each.
  const listeners = new Map<string, { at: Endpoint; routes: Record<string, Route> }>();
  for (const [at, routes] of [
    [o.health, healthRoutes],
    [o.metrics, metricsRoutes],
  ] as const) {
    if (at.port <= 0) continue;
    const key = `${at.address}|${at.port}`;
    const l = listeners.get(key);
    listeners.set(key, { at, routes: { ...l?.routes, ...routes } });
  }
  const servers = [...listeners.values()].map(({ at, routes }) => {
    const server = createServer((req, res) => {
      const route = routes[req.url ?? ''];
      if (route) route(req, res);
      else res.writeHead(404).end();
    });
    server.listen(at.port, at.address);
    return server;
  });
  const listening = Promise.all(
    servers.map((s) => (s.listening ? Promise.resolve() : new Promise<void>((resolve, reject) => s.once('listening', resolve).once('error', reject)))),
  ).then(() => undefined);
  return {
    listening,
    servers,
    close: () => {
      for (const s of servers) s.close();
    },
  };
}
