// Server-side connection reuse on a real HAProxy 2.6: a member podlb adds at runtime must keep
// its connections to the Pod between requests as a `server` line of the config does, or every
// request through the LB pays a TCP handshake to the Pod.
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsSandbox } from '../src/lab/netns.js';
import { startHaproxy, type HaproxyProcess } from '../src/lab/haproxy-process.js';
import { HaproxyInstance } from '../src/lb/haproxy-instance.js';
import { memberName } from '../src/lb/naming.js';
import { connectionCounters } from '../testkit/haproxy-stats.js';
import { requestVia, startPod, type TestPod } from '../testkit/haproxy-pods.js';

const REQUESTS = 200;
/** A few fresh connections are fine (thread changes, a race with the idle pool); one per request is not. */
const MAX_NEW = 10;
const CHECK = { intervalMs: 300, rise: 2, fall: 2, httpPath: '/healthz' };

let sb: NetnsSandbox;
let hp: HaproxyProcess;
let lb: HaproxyInstance;
let dir: string;
let configPod: TestPod;
const pods: TestPod[] = [];

beforeAll(async () => {
  sb = new NetnsSandbox();
  dir = sb.tempDir('haproxy');
  configPod = await startPod('config');
  pods.push(configPod);
  hp = await startHaproxy(sb, null, {
    dir,
    backends: [
      { name: 'cfg', servers: [{ name: 'config', address: `127.0.0.1:${configPod.port}` }] },
      { name: 'dyn' },
      { name: 'dyn_checked', httpCheckPath: '/healthz' },
    ],
    frontends: ['cfg', 'dyn', 'dyn_checked'].map((b) => ({ name: `fe_${b}`, bind: `unix@${join(dir, `${b}.sock`)}`, backend: b })),
  });
  lb = new HaproxyInstance(hp.runtimeAddress);
});

afterAll(async () => {
  await lb?.close();
  await Promise.all(pods.map((p) => p.close()));
  await sb?.cleanup();
});

interface ReuseRun {
  connect: number;
  reuse: number;
  podAccepts: number;
}

/** REQUESTS keep-alive requests on one client connection; the server's connect/reuse deltas and the Pod's accepts. */
async function keepAliveRun(backend: string, server: string, pod: TestPod): Promise<ReuseRun> {
  const counters = async (): Promise<{ connect: number; reuse: number }> => {
    const c = connectionCounters(await lb.runtime.command('show stat'), backend, server);
    if (!c) throw new Error(`no show stat row ${backend}/${server}`);
    return c;
  };
  const before = await counters();
  const acceptsBefore = pod.connections - pod.healthChecks;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; i < REQUESTS; i++) expect(await requestVia(join(dir, `${backend}.sock`), '/', agent)).toEqual({ status: 200, body: pod.name });
  } finally {
    agent.destroy();
  }
  const after = await counters();
  return { connect: after.connect - before.connect, reuse: after.reuse - before.reuse, podAccepts: pod.connections - pod.healthChecks - acceptsBefore };
}

/**
 * Every request went to the server, and few of them on a new connection: by HAProxy's count and,
 * unless `podAccepts` is false (a Pod whose accepts the health checks muddle), by the Pod's.
 */
function expectReused(r: ReuseRun, { podAccepts = true } = {}): void {
  expect(r.connect + r.reuse).toBe(REQUESTS);
  expect(r.connect, JSON.stringify(r)).toBeLessThanOrEqual(MAX_NEW);
  if (podAccepts) expect(r.podAccepts, JSON.stringify(r)).toBeLessThanOrEqual(MAX_NEW);
}

describe('server connection reuse on HAProxy 2.6', () => {
  it(`a config server: ${REQUESTS} keep-alive requests reuse its connections (the baseline)`, async () => {
    const r = await keepAliveRun('cfg', 'config', configPod);
    expectReused(r);
  });

  it('a member podlb added (no health check) reuses its connections as a config server does', async () => {
    const pod = await startPod('dynamic');
    pods.push(pod);
    const name = memberName('node-a', pod.address, pod.port);
    await lb.addMember({ backend: 'dyn', name, address: pod.address, port: pod.port });
    const r = await keepAliveRun('dyn', name, pod);
    expectReused(r);
  });

  it('a health-checked member podlb added reuses its connections once healthy', async () => {
    const pod = await startPod('checked');
    pods.push(pod);
    const name = memberName('node-a', pod.address, pod.port);
    await lb.addMember({ backend: 'dyn_checked', name, address: pod.address, port: pod.port, healthCheck: CHECK });
    await expect.poll(async () => (await lb.listMembers(['dyn_checked'], name)).members[0]?.health, { timeout: 10_000, interval: 100 }).toBe('healthy');
    const r = await keepAliveRun('dyn_checked', name, pod);
    // Checks open their own connections to the Pod; HAProxy's `connect` counts only traffic.
    expectReused(r, { podAccepts: false });
  });
});
