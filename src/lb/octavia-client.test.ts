// A reply whose body stalls after the headers is no answer: the request timeout covers the
// body, and the cut-off reply is an error, never an empty success (an empty member listing
// would look like a pool without this node's members).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { UnreachableError } from '../util/errors.js';
import { OctaviaClient } from './octavia-client.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

async function start(stall: 'keystone' | 'octavia'): Promise<string> {
  server = createServer((req, res) => {
    const base = `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
    if (req.url === '/v3/auth/tokens' && stall === 'octavia') {
      const now = Date.now();
      res.writeHead(201, { 'content-type': 'application/json', 'x-subject-token': 'tok' });
      res.end(
        JSON.stringify({
          token: {
            issued_at: new Date(now).toISOString(),
            expires_at: new Date(now + 3_600_000).toISOString(),
            catalog: [{ type: 'load-balancer', endpoints: [{ interface: 'public', region_id: 'r', url: base }] }],
          },
        }),
      );
      return;
    }
    res.writeHead(req.url === '/v3/auth/tokens' ? 201 : 200, { 'content-type': 'application/json', 'x-subject-token': 'tok' });
    res.write('{"members": ['); // and nothing more
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v3`;
}

describe('OctaviaClient and a reply that stalls after the headers', () => {
  it.each([
    ['Octavia', 'octavia' as const, 'OCTAVIA_UNREACHABLE'],
    ['Keystone', 'keystone' as const, 'KEYSTONE_UNREACHABLE'],
  ])(
    '%s: the call fails as unreachable within the request timeout',
    async (_n, stall, code) => {
      const authURL = await start(stall);
      const client = new OctaviaClient({ authURL, region: 'r', credentials: { type: 'applicationCredential', id: 'i', secret: 's' }, requestTimeoutMs: 300 });
      const started = Date.now();
      const err = await client.request('GET', '/v2/lbaas/pools/p/members').then(
        (reply) => reply,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(UnreachableError);
      expect((err as UnreachableError).code).toBe(code);
      expect(Date.now() - started).toBeLessThan(3000);
    },
    8000,
  );
});
