// A plain-HTTP server on loopback for tests that need an API server to misbehave in ways the
// in-process one never does (stall mid-body, shed load with 429), and a KubeConfig for it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export interface HttpStub {
  server: Server;
  url: string;
  kubeConfig(): KubeConfig;
  close(): Promise<void>;
}

export async function startHttpStub(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<HttpStub> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    server,
    url,
    kubeConfig: () => {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'stub', server: url, skipTLSVerify: true }],
        users: [{ name: 'u', token: 'stub-token' }],
        contexts: [{ name: 'stub', cluster: 'stub', user: 'u' }],
        currentContext: 'stub',
      });
      return kc;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** A 429 Status as the API server's priority and fairness sends it. */
export function tooManyRequests(res: ServerResponse, retryAfter: string): void {
  res.writeHead(429, { 'content-type': 'application/json', 'retry-after': retryAfter });
  res.end(
    JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'TooManyRequests',
      message: 'Too many requests, please try again later.',
      code: 429,
    }),
  );
}
