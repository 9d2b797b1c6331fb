// What one agent costs while nothing concerns it, in a cluster of 1,000 Services and 1,000
// EndpointSlices of 100 endpoints each (none on the agent's node): CPU over an idle window after
// sync, and CPU per EndpointSlice update elsewhere in the cluster. The in-process API server
// shares the process, so its part is measured without an agent first and subtracted.
// `node dist/bench/agent-idle.js [idleSeconds]`; PODLB_AGENT_MODULE points at another build's
// agent.js to measure it against the same cluster (before/after comparisons).
import { pino } from 'pino';
import { startApiServer } from '../src/apiserver/index.js';
import { adminKubeConfig } from '../testkit/api-client.js';

const SERVICES = Number(process.env.PODLB_BENCH_SERVICES ?? 1000);
const ENDPOINTS = 100;
const UPDATES = 200;
const idleMs = Number(process.argv[2] ?? 60) * 1000;

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function slice(i: number, gen: number): Record<string, unknown> {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `svc${i}-x`, namespace: 'default', labels: { 'kubernetes.io/service-name': `svc${i}` } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: ENDPOINTS }, (_, e) => ({
      addresses: [`10.${(i >> 8) & 255}.${i & 255}.${e + 1}`],
      nodeName: `node${((i * ENDPOINTS + e) % 999) + 2}`,
      targetRef: { kind: 'Pod', namespace: 'default', name: `p${i}-${e}`, uid: `u${i}-${e}` },
      conditions: { ready: (e + gen) % 7 !== 0, serving: true, terminating: false },
      zone: 'z1',
    })),
  };
}

const api = await startApiServer();
api.store.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node1' }, spec: { podCIDRs: ['10.244.1.0/24'] } });
for (let i = 0; i < SERVICES; i++) {
  api.store.create('services', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `svc${i}`, namespace: 'default', ...(i % 10 === 0 ? { annotations: { 'podlb.io/load-balancer': 'l7lb' } } : {}) },
    spec: { selector: { app: `a${i}` }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  });
  api.store.create('endpointslices', slice(i, 0));
}

let gen = 0;
async function updates(): Promise<number> {
  const t0 = cpuMs();
  gen += 1;
  for (let k = 0; k < UPDATES; k++) {
    api.store.update('endpointslices', slice((k * 37) % SERVICES, gen));
    await sleep(5);
  }
  await sleep(500);
  return cpuMs() - t0;
}

const baseUpdates = await updates();
const mod = (await import(process.env.PODLB_AGENT_MODULE ?? '../src/agent/agent.js')) as typeof import('../src/agent/agent.js');
const agent = await mod.Agent.create({ nodeName: 'node1', kubeConfig: adminKubeConfig(api), log: pino({ level: 'silent' }), kernel: false });
const t0 = performance.now();
await agent.start();
while (!agent.synced) await sleep(50);
console.log(
  `synced in ${Math.round(performance.now() - t0)} ms; heap ${Math.round(process.memoryUsage().heapUsed / 1e6)} MB, rss ${Math.round(process.memoryUsage().rss / 1e6)} MB`,
);
await sleep(3000);
const idle0 = cpuMs();
await sleep(idleMs);
const idle = cpuMs() - idle0;
const withAgent = await updates();
console.log(`idle: ${idle.toFixed(0)} ms CPU over ${idleMs / 1000} s (${((idle / idleMs) * 100).toFixed(2)} % of a core)`);
console.log(
  `EndpointSlice update elsewhere: ${((withAgent - baseUpdates) / UPDATES).toFixed(3)} ms CPU each for the agent (${(withAgent / UPDATES).toFixed(3)} with, ${(baseUpdates / UPDATES).toFixed(3)} without it)`,
);
await agent.stop();
await api.close();
process.exit(0);
