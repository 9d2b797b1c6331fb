// Transient faults must not tear BGP sessions down. A node (BIRD + the agent) peers with an FRR
// ToR through a `Gateway` BGPPeer with a TCP-MD5 password from a Secret. The node's default
// route disappears for a moment, and the password Secret is deleted and re-created: before the
// hold-down, each made the agent drop the peer, BIRD sent a Cease and the ToR flushed the
// node's routes (graceful restart does not cover a deliberate removal). Now the ToR keeps the
// route throughout, the session is never re-established, and the node reports what it holds.
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../src/agent/agent.js';
import { API_VERSION, type PodLBNode } from '../src/api/types.js';
import { startApiServer, type ApiServer } from '../src/apiserver/index.js';
import { birdInitialConfig } from '../src/bgp/render.js';
import type { KubeClient } from '../src/kube/client.js';
import { startBird, type BirdProcess } from '../src/lab/bird-process.js';
import { startFrr, type FrrRouter } from '../src/lab/frr.js';
import { AGENT_SERVICE_ACCOUNT, applyLabObject, networkTeamClient } from '../src/lab/lab.js';
import { NetnsSandbox, waitFor } from '../src/lab/netns.js';
import { labObjects } from '../src/lab/objects.js';
import { hasReal } from '../src/lab/real-components.js';
import { adminClient } from '../testkit/api-client.js';

const NODE_ADDR = '172.31.1.2';
const TOR_ADDR = '172.31.1.1';
const POD_CIDR = '10.244.1.0/24';
const PASSWORD = 'Tor-md5-s3cret';
const log = pino({ level: 'silent' });

describe.runIf(hasReal('root', 'bird', 'frr'))('transient faults keep BGP sessions', () => {
  let sb: NetnsSandbox;
  let torNs: string;
  let nodeNs: string;
  let frr: FrrRouter;
  let bird: BirdProcess;
  let api: ApiServer;
  let admin: KubeClient;
  let agent: Agent | undefined;

  const torHasRoute = async (): Promise<boolean> =>
    (JSON.parse((await sb.exec(torNs, 'ip', ['-json', 'route', 'show', POD_CIDR])) || '[]') as { dst: string; gateway?: string }[]).some(
      (r) => r.dst === POD_CIDR && r.gateway === NODE_ADDR,
    );
  const neighbor = async () => (await frr.bgpNeighbors())[NODE_ADDR];
  const conditions = async () => (await admin.get<PodLBNode>(`/apis/${API_VERSION}/podlbnodes/node1`).catch(() => undefined))?.status?.conditions ?? [];
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'tor-md5', namespace: 'podlb-system' }, stringData: { password: PASSWORD } };

  /** Samples the ToR's table every 20 ms while `during` runs. */
  async function torThroughout(during: () => Promise<void>): Promise<{ samples: number; missing: number }> {
    let stop = false;
    let samples = 0;
    let missing = 0;
    const sampling = (async () => {
      while (!stop) {
        samples++;
        if (!(await torHasRoute())) missing++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      await during();
    } finally {
      stop = true;
      await sampling;
    }
    return { samples, missing };
  }

  beforeAll(async () => {
    sb = new NetnsSandbox();
    torNs = await sb.addNetns('tor');
    nodeNs = await sb.addNetns('node1');
    await sb.veth({ ns: torNs, ifname: 'node1', addrs: [`${TOR_ADDR}/24`] }, { ns: nodeNs, ifname: 'eth0', addrs: [`${NODE_ADDR}/24`] });
    await sb.exec(nodeNs, 'ip', ['route', 'add', 'default', 'via', TOR_ADDR]);
    const dir = sb.memoryTempDir('bird-transient');
    [frr, bird] = await Promise.all([
      startFrr(sb, torNs, { asn: 65000, routerId: TOR_ADDR, neighbors: [{ address: NODE_ADDR, asn: 64512, password: PASSWORD }], gracefulRestartHelper: true }),
      startBird(sb, nodeNs, { dir, initialConfig: birdInitialConfig(NODE_ADDR) }),
    ]);
    api = await startApiServer();
    api.installManifests();
    admin = adminClient(api);
    const networkTeam = networkTeamClient(api);
    const objs = labObjects({ nodes: [{ name: 'node1', podCidr: POD_CIDR, rack: 'r1', address: NODE_ADDR, torAddress: TOR_ADDR }], haproxyRuntimes: [] });
    for (const o of objs) {
      if (o.kind === 'BGPPeer') {
        // The lab's peer, turned into a Gateway peer with a password.
        const spec = {
          ...(o as unknown as { spec: Record<string, unknown> }).spec,
          peerAddress: 'Gateway',
          passwordSecretRef: { name: 'tor-md5', key: 'password' },
        };
        await applyLabObject(admin, networkTeam, { ...o, spec } as typeof o);
      } else if (['Namespace', 'Node', 'PodAddressPool'].includes(o.kind)) {
        await applyLabObject(admin, networkTeam, o);
        if (o.kind === 'Node') await admin.patch(`/api/v1/nodes/${o.metadata.name}/status`, { status: o.status }, 'merge');
      }
    }
    await admin.create('/api/v1/namespaces/podlb-system/secrets', secret);
    const kc = api.podIdentity({ serviceAccount: AGENT_SERVICE_ACCOUNT, nodeName: 'node1', hostNetwork: true }).kubeConfig();
    agent = await Agent.create({
      nodeName: 'node1',
      kubeConfig: kc,
      log,
      bird: { socketPath: bird.socketPath, configPath: bird.configPath },
      kernel: { netns: nodeNs },
      statusIntervalMs: 500,
    });
    await agent.start();
    await waitFor('route at the ToR', async () => ((await torHasRoute()) ? true : undefined), 30_000, 50);
    await waitFor('session Established', async () => ((await neighbor())?.state === 'Established' ? true : undefined), 30_000, 50);
  }, 90_000);

  afterAll(async () => {
    await agent?.stop();
    await api?.close();
    await frr?.stop();
    await sb?.cleanup();
  });

  it('the default route gone for 3 s: no Cease, the ToR keeps the route, the node reports GatewayHeld', async () => {
    const before = (await neighbor())!.establishedTransitions!;
    const s = await torThroughout(async () => {
      await sb.exec(nodeNs, 'ip', ['route', 'del', 'default']);
      try {
        await waitFor(
          'GatewayHeld reported',
          async () => ((await conditions()).some((c) => c.type === 'GatewayHeld' && c.status === 'True') ? true : undefined),
          10_000,
          100,
        );
        await new Promise((r) => setTimeout(r, 2_000));
        expect(readFileSync(bird.configPath, 'utf8')).toContain(`neighbor ${TOR_ADDR} as`);
      } finally {
        await sb.exec(nodeNs, 'ip', ['route', 'replace', 'default', 'via', TOR_ADDR]);
      }
      await waitFor('GatewayHeld cleared', async () => ((await conditions()).some((c) => c.type === 'GatewayHeld') ? undefined : true), 10_000, 100);
    });
    expect(s.samples).toBeGreaterThan(20);
    expect(s.missing).toBe(0);
    expect(await neighbor()).toMatchObject({ state: 'Established', establishedTransitions: before });
  }, 30_000);

  it('the password Secret deleted and re-created: the session keeps its password, no Cease, PeerPasswordHeld while missing', async () => {
    const before = (await neighbor())!.establishedTransitions!;
    const s = await torThroughout(async () => {
      await admin.request('DELETE', '/api/v1/namespaces/podlb-system/secrets/tor-md5');
      await waitFor(
        'PeerPasswordHeld reported',
        async () => ((await conditions()).some((c) => c.type === 'PeerPasswordHeld' && c.status === 'True') ? true : undefined),
        10_000,
        100,
      );
      await new Promise((r) => setTimeout(r, 2_000));
      expect(readFileSync(bird.configPath, 'utf8')).toContain(`password "${PASSWORD}"`);
      // Status still shows the session BIRD runs, not "no peers".
      const status = (await admin.get<PodLBNode>(`/apis/${API_VERSION}/podlbnodes/node1`)).status;
      expect(status?.bgp?.sessions?.map((x) => [x.peerAddress, x.state])).toEqual([[TOR_ADDR, 'Established']]);
      expect(status?.conditions?.find((c) => c.type === 'BGPReady')?.status).toBe('True');
      await admin.create('/api/v1/namespaces/podlb-system/secrets', secret);
      await waitFor('PeerPasswordHeld cleared', async () => ((await conditions()).some((c) => c.type === 'PeerPasswordHeld') ? undefined : true), 10_000, 100);
    });
    expect(s.missing).toBe(0);
    expect(await neighbor()).toMatchObject({ state: 'Established', establishedTransitions: before });
  }, 30_000);
});
