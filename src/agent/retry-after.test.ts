// A 429 with Retry-After is the API server shedding load: neither the readiness-gate writes
// nor the PodLBNode status write may come back before the server's time, whatever wakes the
// loop, and they write again once it has passed.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpStub, tooManyRequests, type HttpStub } from '../../testkit/http-stub.js';
import type { Pod } from '../api/types.js';
import { KubeClient } from '../kube/client.js';
import type { GateDecision } from '../members/gates.js';
import { GateWriter } from './gate-writer.js';
import { NodeStatusWriter } from './status.js';

let stub: HttpStub | undefined;
afterEach(async () => {
  await stub?.close();
  stub = undefined;
});

/** Answers 429 (Retry-After: 7) until `open` is set, then 200; counts what reached it. */
async function sheddingServer(): Promise<{ client: KubeClient; seen: string[]; open: () => void }> {
  const seen: string[] = [];
  let shedding = true;
  stub = await startHttpStub((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}`);
      if (shedding) return tooManyRequests(res, '7');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ metadata: { name: 'n1' }, status: {} }));
    });
  });
  return { client: new KubeClient(stub.kubeConfig()), seen, open: () => (shedding = false) };
}

const pod: Pod = { metadata: { namespace: 'ads', name: 'bidder-1', uid: 'u1' }, spec: { containers: [] }, status: {} } as unknown as Pod;
const decision: GateDecision = {
  pod: { namespace: 'ads', name: 'bidder-1', uid: 'u1' },
  status: 'False',
  reason: 'RegistrationInProgress',
  message: 'registering',
} as GateDecision;

describe('Retry-After on readiness-gate writes', () => {
  it('sends no gate write before the time the server gave, and writes again after it', async () => {
    const { client, seen, open } = await sheddingServer();
    const gates = new GateWriter(client);
    const t0 = 1_000_000;
    const err = await gates.write(pod, decision, t0).catch((e: unknown) => e);
    expect(seen).toHaveLength(1);
    expect(gates.retryAt(err, t0)).toBeGreaterThanOrEqual(t0 + 7000);

    // Another Pod's gate, a second later (any event wakes the loop): held back, nothing sent.
    const other = { ...decision, pod: { ...decision.pod, name: 'bidder-2', uid: 'u2' } };
    const held = await gates.write(pod, other, t0 + 1000).catch((e: unknown) => e);
    expect(held).toBeInstanceOf(Error);
    expect(seen).toHaveLength(1);
    expect(gates.retryAt(held, t0 + 1000)).toBeGreaterThanOrEqual(t0 + 7000);

    open();
    await gates.write(pod, decision, t0 + 7000);
    expect(seen).toEqual(['PATCH /api/v1/namespaces/ads/pods/bidder-1/status', 'PATCH /api/v1/namespaces/ads/pods/bidder-1/status']);
  });
});

describe('Retry-After on the PodLBNode status write', () => {
  it('backs off at least as long as the server asked, not the short 5xx backoff', async () => {
    const { client, seen, open } = await sheddingServer();
    let now = 2_000_000;
    const w = new NodeStatusWriter(client, 'n1', pino({ level: 'silent' }), { now: () => now, random: () => 0.5 });
    const first = await w.write(undefined, () => ({ members: { registered: 1, healthy: 0, draining: 0 } }));
    expect(first.failed?.code).toBe(429);
    expect(first.retryAt).toBeGreaterThanOrEqual(now + 7000);

    now += 3000;
    expect(await w.write(undefined, () => ({ members: { registered: 2, healthy: 0, draining: 0 } }))).toEqual({ retryAt: first.retryAt });
    expect(seen).toHaveLength(1);

    open();
    now = first.retryAt!;
    expect((await w.write(undefined, () => ({ members: { registered: 2, healthy: 0, draining: 0 } }))).failed).toBeUndefined();
    expect(seen.slice(1)).toEqual(['GET /apis/podlb.io/v1alpha1/podlbnodes/n1', 'PATCH /apis/podlb.io/v1alpha1/podlbnodes/n1/status']);
  });
});
