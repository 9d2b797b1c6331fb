// Restarts, graceful and not, with a real BIRD 2.0.12 in a node namespace, an FRR
// 8.4 ToR as graceful-restart helper, the agent against the in-process API server, and the
// ToR's kernel table sampled every 20 ms while things restart:
//   - an agent restart changes nothing at the ToR (no new session, no missing sample, BIRD not
//     reconfigured, the blackhole untouched);
//   - `graceful restart` + BIRD started again with -R (what the DaemonSet does on a rolling
//     update) keeps the node's routes at the ToR throughout; a plain SIGTERM (what the kubelet
//     sends without the preStop) makes the ToR drop them, so the first result means something;
//   - withdrawAll (uninstall) removes the routes at the ToR and the node's blackhole.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeConfig } from '@kubernetes/client-node';
import { AGENT_SERVICE_ACCOUNT, applyLabObject, networkTeamClient } from '../src/lab/lab.js';
import { pino } from 'pino';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { Agent } from '../src/agent/agent.js';
import { API_VERSION } from '../src/api/types.js';
import { withdrawAll } from '../src/agent/withdraw.js';
import { startApiServer, type ApiServer } from '../src/apiserver/index.js';
import { BirdControl } from '../src/bgp/bird-control.js';
import { birdInitialConfig } from '../src/bgp/render.js';
import { KubeClient } from '../src/kube/client.js';
import { startBird, type BirdProcess } from '../src/lab/bird-process.js';
import { startFrr, type FrrRouter } from '../src/lab/frr.js';
import { NetnsSandbox, waitFor } from '../src/lab/netns.js';
import { labObjects } from '../src/lab/objects.js';
import { adminKubeConfig } from '../testkit/api-client.js';

const NODE_ADDR = '172.31.1.2';
const TOR_ADDR = '172.31.1.1';
const POD_CIDR = '10.244.1.0/24';
const log = pino({ level: 'silent' });

// The bird container of the DaemonSet: its extra args (-R) and its preStop command.
const DS_SOCKET = '/run/bird/bird.ctl';
interface DsContainer {
  name: string;
  args?: string[];
  lifecycle?: { preStop?: { exec?: { command?: string[] } } };
}
const dsBird = parseAllDocuments(readFileSync(new URL('../daemonset/daemonset.yaml', import.meta.url), 'utf8'))
  .map((d) => d.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: DsContainer[] } } } })
  .find((d) => d?.kind === 'DaemonSet')
  ?.spec?.template?.spec?.containers?.find((c) => c.name === 'bird');
const birdArgs = dsBird?.args ?? [];
const preStop = dsBird?.lifecycle?.preStop?.exec?.command ?? [];
const preStopFor = (socket: string) => preStop.map((a) => a.replaceAll(DS_SOCKET, socket));

let sb: NetnsSandbox;
let torNs: string;
let nodeNs: string;
let frr: FrrRouter;
let bird: BirdProcess;
let birdDir: string;
let api: ApiServer;
let kc: KubeConfig;
let adminKc: KubeConfig;
let agent: Agent | undefined;

const newAgent = () =>
  Agent.create({
    nodeName: 'node1',
    kubeConfig: kc,
    log,
    bird: { socketPath: bird.socketPath, configPath: bird.configPath },
    kernel: { netns: nodeNs },
    statusIntervalMs: 500,
  });

async function torHasRoute(): Promise<boolean> {
  const out = await sb.exec(torNs, 'ip', ['-json', 'route', 'show', POD_CIDR]);
  return (JSON.parse(out || '[]') as { dst: string; gateway?: string }[]).some((r) => r.dst === POD_CIDR && r.gateway === NODE_ADDR);
}

async function blackholes(): Promise<{ dst: string; type?: string; metric?: number }[]> {
  return JSON.parse((await sb.exec(nodeNs, 'ip', ['-json', 'route', 'show', 'proto', '201'])) || '[]') as { dst: string; type?: string; metric?: number }[];
}

/** The first BIRD apply a (new) agent made, from its reload counter: a run report is gone after the next run. */
async function birdApply(a: Agent): Promise<{ result: string } | undefined> {
  const text = await a.metrics.registry.metrics();
  const m = /^podlb_bird_reloads_total\{result="(\w+)"\} [1-9]/m.exec(text);
  return m ? { result: m[1]! } : undefined;
}

async function neighbor() {
  return (await frr.bgpNeighbors())[NODE_ADDR];
}

async function birdStatus(): Promise<string> {
  const c = new BirdControl(bird.socketPath, { timeoutMs: 2000 });
  try {
    return (await c.command('show status')).lines.map((l) => l.text).join('\n');
  } finally {
    await c.close();
  }
}

/** Samples the ToR's kernel table every 20 ms until stopped. */
function sampleTor() {
  const samples: { at: number; present: boolean }[] = [];
  let stop = false;
  const done = (async () => {
    while (!stop) {
      const t = Date.now();
      samples.push({ at: t, present: await torHasRoute() });
      await new Promise((r) => setTimeout(r, Math.max(0, 20 - (Date.now() - t))));
    }
  })();
  return {
    samples,
    async stop() {
      stop = true;
      await done;
      const missing = samples.filter((s) => !s.present);
      const gaps = samples.slice(1).map((s, i) => s.at - samples[i]!.at);
      return {
        count: samples.length,
        missing: missing.length,
        firstMissingAt: missing[0]?.at,
        maxGapMs: Math.max(0, ...gaps),
        spanMs: samples.length ? samples.at(-1)!.at - samples[0]!.at : 0,
      };
    },
  };
}

async function established(transitions: number, timeoutMs = 30_000) {
  return waitFor(
    `session Established (${transitions} transitions)`,
    async () => {
      const n = await neighbor();
      return n?.state === 'Established' && n.establishedTransitions === transitions ? n : undefined;
    },
    timeoutMs,
    20,
  );
}

beforeAll(async () => {
  sb = new NetnsSandbox();
  torNs = await sb.addNetns('tor');
  nodeNs = await sb.addNetns('node1');
  await sb.veth({ ns: torNs, ifname: 'node1', addrs: [`${TOR_ADDR}/24`] }, { ns: nodeNs, ifname: 'eth0', addrs: [`${NODE_ADDR}/24`] });
  await sb.exec(nodeNs, 'ip', ['route', 'add', 'default', 'via', TOR_ADDR]);
  birdDir = sb.memoryTempDir('bird-restarts');
  [frr, bird] = await Promise.all([
    startFrr(sb, torNs, { asn: 65000, routerId: TOR_ADDR, neighbors: [{ address: NODE_ADDR, asn: 64512 }], gracefulRestartHelper: true }),
    startBird(sb, nodeNs, { dir: birdDir, initialConfig: birdInitialConfig(NODE_ADDR) }),
  ]);
  api = await startApiServer();
  api.installManifests();
  adminKc = adminKubeConfig(api);
  const client = new KubeClient(adminKc);
  const networkTeam = networkTeamClient(api);
  const objs = labObjects({ nodes: [{ name: 'node1', podCidr: POD_CIDR, rack: 'r1', address: NODE_ADDR, torAddress: TOR_ADDR }], haproxyRuntimes: [] });
  const plural: Record<string, string> = {
    Namespace: '/api/v1/namespaces',
    Node: '/api/v1/nodes',
    PodAddressPool: `/apis/${API_VERSION}/podaddresspools`,
    BGPPeer: `/apis/${API_VERSION}/bgppeers`,
  };
  for (const o of objs) {
    const path = plural[o.kind];
    if (!path) continue; // the LB class and Service: no load balancer here
    await applyLabObject(client, networkTeam, o);
    if (o.kind === 'Node') await client.patch(`${path}/${o.metadata.name}/status`, { status: o.status }, 'merge');
  }
  // Every agent of this suite is the DaemonSet's Pod on node1 (its own ServiceAccount token).
  kc = api.podIdentity({ serviceAccount: AGENT_SERVICE_ACCOUNT, nodeName: 'node1', hostNetwork: true }).kubeConfig();
  agent = await newAgent();
  await agent.start();
  await waitFor('route at the ToR', async () => ((await torHasRoute()) ? true : undefined), 30_000, 50);
  await established(1);
}, 90_000);

afterAll(async () => {
  await agent?.stop();
  const denied = api?.deniedRequests() ?? [];
  await api?.close();
  expect(denied, 'calls the shipped RBAC does not grant').toEqual([]);
  await frr?.stop();
  await sb?.cleanup();
});

describe('restarts', () => {
  it('the DaemonSet starts BIRD with -R and asks it for a graceful restart before stopping it', () => {
    expect(birdArgs).toEqual(['-R']);
    expect(preStop.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(preStop[2]).toContain(`birdcl -s ${DS_SOCKET} graceful restart`);
  });

  it('with PODLB_WITHDRAW_ON_STOP=true (uninstall) the preStop leaves BIRD running, for SIGTERM to send a Cease', async () => {
    await sb.exec(nodeNs, 'env', ['PODLB_WITHDRAW_ON_STOP=true', ...preStopFor(bird.socketPath)]);
    await new Promise((r) => setTimeout(r, 200));
    expect(await birdStatus()).toMatch(/Daemon is up and running/);
    expect((await neighbor())?.state).toBe('Established');
  });

  it('an agent restart: no new session, the route never leaves the ToR, BIRD not reconfigured, blackhole untouched', async () => {
    const bh = await waitFor('blackhole', async () => ((await blackholes()).length > 0 ? blackholes() : undefined), 10_000, 50);
    expect(bh).toEqual([expect.objectContaining({ dst: POD_CIDR, type: 'blackhole' })]);
    const lastReconf = /Last reconfiguration on (.*)/.exec(await birdStatus())?.[1];
    expect(lastReconf).toBeDefined();
    const sampler = sampleTor();
    await agent!.stop();
    await new Promise((r) => setTimeout(r, 300));
    agent = await newAgent();
    await agent.start();
    const report = await waitFor('first BIRD apply of the new agent', () => birdApply(agent!), 15_000, 20);
    await new Promise((r) => setTimeout(r, 500));
    const s = await sampler.stop();
    console.log(`agent restart: ${s.count} ToR samples over ${s.spanMs} ms (max gap ${s.maxGapMs} ms), ${s.missing} without the route`);
    expect(report.result).toBe('Unchanged');
    expect(s.missing).toBe(0);
    expect(s.maxGapMs).toBeLessThan(1000); // the sampler kept sampling (slower on a loaded machine)
    expect((await neighbor())?.establishedTransitions).toBe(1);
    expect(/Last reconfiguration on (.*)/.exec(await birdStatus())?.[1]).toBe(lastReconf);
    expect(await blackholes()).toEqual(bh);
  });

  it('graceful restart of BIRD (preStop) and a start with -R: the ToR keeps the route throughout', async () => {
    const before = (await neighbor())!.establishedTransitions!;
    const sampler = sampleTor();
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    // The DaemonSet's own preStop command, pointed at this BIRD's socket.
    const reply = await sb.exec(nodeNs, 'env', ['-u', 'PODLB_WITHDRAW_ON_STOP', ...preStopFor(bird.socketPath)]);
    await bird.exited;
    const exitedAt = Date.now();
    expect(reply).toMatch(/graceful restart/i);
    // While BIRD is gone the ToR keeps the route as stale (helper mode, RFC 4724).
    const stale = await waitFor(
      'route stale at the ToR',
      async () => (/"stale":\s*true/.test(await frr.vtysh(`show bgp ipv4 unicast ${POD_CIDR} json`)) ? true : undefined),
      5000,
      10,
    );
    expect(stale).toBe(true);
    // The container restarts; in the lab, as fast as we can start it again.
    bird = await startBird(sb, nodeNs, { dir: birdDir, extraArgs: birdArgs });
    expect(await birdStatus()).toMatch(/Graceful restart recovery in progress/);
    await established(before + 1);
    const upAt = Date.now();
    // BIRD leaves recovery once the session is back and the ToR sent End-of-RIB.
    await waitFor('BIRD out of graceful-restart recovery', async () => (/recovery/i.test(await birdStatus()) ? undefined : true), 30_000, 50);
    const recoveredAt = Date.now();
    await waitFor(
      'route fresh at the ToR',
      async () => (/"stale":\s*true/.test(await frr.vtysh(`show bgp ipv4 unicast ${POD_CIDR} json`)) ? undefined : true),
      10_000,
      20,
    );
    const freshAt = Date.now();
    await new Promise((r) => setTimeout(r, 300));
    const s = await sampler.stop();
    console.log(
      `graceful restart: BIRD exited ${exitedAt - t0} ms after the command, session Established again after ${upAt - t0} ms, BIRD recovered after ${recoveredAt - t0} ms, route no longer stale after ${freshAt - t0} ms; ` +
        `ToR kept the route in ${s.count - s.missing}/${s.count} samples over ${s.spanMs} ms (max gap ${s.maxGapMs} ms)`,
    );
    expect(s.missing).toBe(0);
    expect(s.maxGapMs).toBeLessThan(1000); // the sampler kept sampling (slower on a loaded machine)
    expect(await torHasRoute()).toBe(true);
    expect((await neighbor())?.prefixReceivedCount).toBe(1);
  });

  // A rolling update replaces the Pod. What BIRD starts on decides whether the ToR keeps the
  // route: with the previous bird.conf (a volume that outlives the Pod), BIRD starts its BGP
  // protocol in recovery and announces Restart and Forwarding-preserved, so the ToR keeps the
  // stale route until End-of-RIB; with a fresh emptyDir, BIRD starts on the init container's
  // config (no peers), leaves recovery at once, and the protocol the new agent adds opens the
  // session without the Forwarding bit: the ToR flushes the stale route (RFC 4724 4.2) and
  // learns it again a moment later.
  it.each([
    { volume: 'kept across Pods (hostPath on /run)', keepConfig: true },
    { volume: 'a fresh emptyDir (today’s DaemonSet)', keepConfig: false },
  ])('a rolling update of the DaemonSet, bird.conf $volume: preStop graceful restart, BIRD -R, a new agent', async ({ keepConfig }) => {
    const before = (await neighbor())!.establishedTransitions!;
    const previous = readFileSync(bird.configPath, 'utf8');
    const sampler = sampleTor();
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    // The old Pod: the agent gets SIGTERM, BIRD's preStop asks for a graceful restart.
    await agent!.stop();
    await bird.gracefulRestart();
    // The new Pod; the init container keeps an existing bird.conf, else writes the minimal one.
    birdDir = sb.memoryTempDir('bird-new-pod');
    bird = await startBird(sb, nodeNs, { dir: birdDir, initialConfig: keepConfig ? previous : birdInitialConfig(NODE_ADDR), extraArgs: birdArgs });
    agent = await newAgent();
    await agent.start();
    await waitFor('new agent rendered', () => birdApply(agent!), 15_000, 20);
    const renderedAt = Date.now();
    await established(before + 1);
    const upAt = Date.now();
    await waitFor(
      'route fresh at the ToR',
      async () => ((await torHasRoute()) && !/"stale":\s*true/.test(await frr.vtysh(`show bgp ipv4 unicast ${POD_CIDR} json`)) ? true : undefined),
      10_000,
      20,
    );
    const freshAt = Date.now();
    await new Promise((r) => setTimeout(r, 300));
    const s = await sampler.stop();
    const missing = sampler.samples.filter((x) => !x.present).map((x) => x.at - t0);
    console.log(
      `rolling update, bird.conf ${keepConfig ? 'kept' : 'fresh'}: new agent ran after ${renderedAt - t0} ms, session back after ${upAt - t0} ms, route fresh after ${freshAt - t0} ms; ` +
        `ToR had the route in ${s.count - s.missing}/${s.count} samples (max gap ${s.maxGapMs} ms)${missing.length ? `, missing from ${missing[0]} to ${missing.at(-1)} ms` : ''}`,
    );
    expect(readFileSync(bird.configPath, 'utf8')).toBe(previous);
    expect(await blackholes()).toEqual([expect.objectContaining({ dst: POD_CIDR, type: 'blackhole' })]);
    if (keepConfig) expect(s.missing).toBe(0);
    else expect(missing.length === 0 ? 0 : missing.at(-1)! - missing[0]!).toBeLessThan(1500); // a short hole, not an outage; see the comment above
  });

  it('contrast: BIRD stopped without the preStop (SIGTERM sends a Cease) makes the ToR drop the route', async () => {
    const before = (await neighbor())!.establishedTransitions!;
    const sampler = sampleTor();
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    await bird.kill('SIGTERM');
    await waitFor('route gone at the ToR', async () => ((await torHasRoute()) ? undefined : true), 10_000, 20);
    const goneAt = Date.now();
    await new Promise((r) => setTimeout(r, 100)); // let the sampler record the absence
    const s = await sampler.stop();
    console.log(`SIGTERM without graceful restart: the ToR dropped the route ${goneAt - t0} ms after the signal (${s.missing} samples without it)`);
    expect(s.missing).toBeGreaterThan(0);
    bird = await startBird(sb, nodeNs, { dir: birdDir });
    await established(before + 1);
    await waitFor('route back at the ToR', async () => ((await torHasRoute()) ? true : undefined), 15_000, 50);
  });

  it('a crash (SIGKILL) with graceful restart negotiated keeps the route, stale; without graceful restart the ToR drops it', async () => {
    // With GR negotiated, a TCP session lost without a NOTIFICATION is a restart to the helper
    // (RFC 4724): the route stays, stale, for the restart time BIRD announced (120 s here).
    let before = (await neighbor())!.establishedTransitions!;
    let sampler = sampleTor();
    await new Promise((r) => setTimeout(r, 200));
    await bird.kill('SIGKILL');
    await waitFor(
      'route stale at the ToR',
      async () => (/"stale":\s*true/.test(await frr.vtysh(`show bgp ipv4 unicast ${POD_CIDR} json`)) ? true : undefined),
      5000,
      10,
    );
    await new Promise((r) => setTimeout(r, 1000));
    let s = await sampler.stop();
    console.log(`SIGKILL with GR: ${s.count - s.missing}/${s.count} samples with the route over ${s.spanMs} ms`);
    expect(s.missing).toBe(0);
    bird = await startBird(sb, nodeNs, { dir: birdDir });
    await established(before + 1);

    // The same crash with graceful restart off on the BGPPeer (the agent renders
    // `graceful restart off`; the change restarts the session once).
    const client = new KubeClient(adminKc); // the network team edits its BGPPeer
    const peerPath = `/apis/${API_VERSION}/bgppeers/rack-r1-tor`;
    await client.patch(peerPath, { spec: { gracefulRestart: { enabled: false } } }, 'merge');
    await established(before + 2);
    await waitFor('route at the ToR', async () => ((await torHasRoute()) ? true : undefined), 15_000, 20);
    before += 2;
    sampler = sampleTor();
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    await bird.kill('SIGKILL');
    await waitFor('route gone at the ToR', async () => ((await torHasRoute()) ? undefined : true), 10_000, 20);
    const goneAt = Date.now();
    await new Promise((r) => setTimeout(r, 100)); // let the sampler record the absence
    s = await sampler.stop();
    console.log(`SIGKILL without GR: the ToR dropped the route ${goneAt - t0} ms after the kill`);
    expect(s.missing).toBeGreaterThan(0);
    bird = await startBird(sb, nodeNs, { dir: birdDir });
    await established(before + 1);
    await client.patch(peerPath, { spec: { gracefulRestart: { enabled: true, restartTimeSeconds: 120 } } }, 'merge');
    await established(before + 2);
    await waitFor('route back at the ToR', async () => ((await torHasRoute()) ? true : undefined), 15_000, 50);
  });

  it('withdrawAll (uninstall): the ToR loses the node’s routes and the node its blackhole', async () => {
    // Withdraw runs after the agent's loop stopped, or the agent would render its config again.
    await agent!.stop();
    agent = undefined;
    expect(await blackholes()).toHaveLength(1);
    const t0 = Date.now();
    const res = await withdrawAll({ bird: { socketPath: bird.socketPath, configPath: bird.configPath }, netns: nodeNs, log });
    expect(res.bird.result).toBe('Applied');
    expect(res.blackholesRemoved).toEqual([POD_CIDR]);
    await waitFor('route gone at the ToR', async () => ((await torHasRoute()) ? undefined : true), 10_000, 20);
    console.log(`withdraw: route gone at the ToR ${Date.now() - t0} ms after withdrawAll started`);
    expect(await blackholes()).toEqual([]);
    const n = await neighbor();
    expect(n?.state).not.toBe('Established');
    const status = await birdStatus();
    expect(status).toMatch(/Daemon is up and running/);
    // Idempotent: a second withdraw changes nothing.
    const again = await withdrawAll({ bird: { socketPath: bird.socketPath, configPath: bird.configPath }, netns: nodeNs, log });
    expect(again.bird.result).toBe('Unchanged');
    expect(again.blackholesRemoved).toEqual([]);
  });

  it('withdrawAll with BIRD already gone still removes podlb’s blackholes, and only those', async () => {
    await sb.exec(nodeNs, 'ip', ['route', 'add', 'blackhole', POD_CIDR, 'proto', '201', 'metric', '4000000000']);
    await sb.exec(nodeNs, 'ip', ['route', 'add', 'blackhole', '10.244.9.0/24', 'proto', 'static']);
    const res = await withdrawAll({ bird: { socketPath: `${birdDir}/no-such.ctl`, configPath: `${birdDir}/gone.conf` }, netns: nodeNs, log });
    expect(res.bird.result).toBe('Failed');
    expect(res.blackholesRemoved).toEqual([POD_CIDR]);
    expect(await blackholes()).toEqual([]);
    expect(await sb.exec(nodeNs, 'ip', ['route', 'show', '10.244.9.0/24'])).toContain('blackhole');
  });
});
