// Calico mode against a Calico node: podlb's objects rendered by the controller's Calico
// renderer, joined with a cluster's own Calico objects (testkit/calico-confd/scenario.ts),
// turned into the BIRD configuration calico-node's confd (v3.32.1) writes for the node, and
// run by the real BIRD next to Felix-like workload routes, peering the FRR ToR. What the ToR
// learns is what a network team would see: Calico's own export (blocks, not per-Pod /32s
// beneath them; borrowed /32s; never a disableBGPExport pool; BGPConfiguration's communities)
// restricted to what lies inside an approved CIDR (not an unapproved pool, not the unapproved
// part of a Calico pool, not a supernet of an approved CIDR); and the ToR's routes (another
// rack's block, the default route) reach the node's BIRD and kernel.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PodAddressPool } from '../src/api/types.js';
import { BirdControl } from '../src/bgp/bird-control.js';
import { capabilitiesOf } from '../src/controller/calico/capabilities.js';
import { renderCalico } from '../src/controller/calico/render.js';
import type { BirdProcess } from '../src/lab/bird-process.js';
import { startFrr, type FrrRouter } from '../src/lab/frr.js';
import { NetnsSandbox, waitFor } from '../src/lab/netns.js';
import { parsePrefix, prefixInside, type IpPrefix } from '../src/net/ip.js';
import { peerFixture, poolFixture } from '../testkit/bgp-fixtures.js';
import { addWorkloadRoute, startCalicoBird } from '../testkit/calico-confd/lab-node.js';
import type { CalicoObj } from '../testkit/calico-confd/model.js';
import {
  CALICO_NODE,
  CALICO_NODE_IP,
  CLUSTER_ASN,
  OTHER_RACK_BLOCK,
  OWN_BLOCK,
  POD_COMMUNITIES,
  rackCluster,
  SUPERNET_ROUTE,
  UNAPPROVED_BLOCK,
  UNAPPROVED_HALF_BLOCK,
  TOR_ASN,
  TOR_IP,
  WORKLOADS,
} from '../testkit/calico-confd/scenario.js';
import { CALICO_VERSION, confdBirdFiles } from '../testkit/calico-confd/text.js';

const podSelector = { matchLabels: { 'podlb.io/bgp': 'true' } };
const peers = [
  // keepaliveSeconds: a per-peer field Calico has since 3.32, so it reaches the node's BIRD.
  peerFixture('rack-r12-tor', { peerAddress: TOR_IP, peerASN: TOR_ASN, localASN: CLUSTER_ASN, holdTimeSeconds: undefined, keepaliveSeconds: 30 }),
];
const pools: PodAddressPool[] = [
  poolFixture('pods', { cidrs: ['10.244.0.0/16'], nodeSelector: podSelector }),
  // Approved by the network team, but the Calico IPPool says disableBGPExport: Calico wins.
  poolFixture('quiet', { cidrs: ['10.250.0.0/24'], nodeSelector: podSelector }),
  // Never approved.
  poolFixture('lab', { cidrs: ['10.251.0.0/24'], nodeSelector: podSelector, approval: undefined }),
];

/** Calico's default export of this node, restricted to the approved pools. */
const EXPECTED_AT_TOR = [OWN_BLOCK, `${WORKLOADS.borrowed}/32`].sort();
const APPROVED = ['10.244.0.0/16', '10.250.0.0/24'];

const prefix = (s: string): IpPrefix => {
  const r = parsePrefix(s);
  if (!r.ok) throw new Error(r.reason);
  return r.prefix;
};
const insideApproved = (p: string) => APPROVED.some((a) => prefixInside(prefix(p), prefix(a)));

/**
 * The peer's export filter as confd wrote it, without podlb's BGPFilter call: Calico's own
 * export, as for a peer with no filter. Routes from the peer itself are left out (BIRD never
 * sends a route back to the session it came from).
 */
function calicoDefaultExport(birdCfg: string, protocol: string): string {
  const body = /\n {4}export filter \{\n([\s\S]*?)\n {4}\};/.exec(birdCfg)?.[1];
  if (!body) throw new Error('no export filter in bird.cfg');
  const lines = body.split('\n').filter((l) => !/_exportFilterV4'\(/.test(l));
  return `if (proto = "${protocol}") then reject; ${lines.map((l) => l.trim()).join(' ')}`;
}

interface Learned {
  prefix: string;
  communities: string[];
  largeCommunities: string[];
}

async function torLearned(frr: FrrRouter): Promise<Learned[]> {
  const table = JSON.parse(await frr.vtysh(`show bgp ipv4 unicast neighbors ${CALICO_NODE_IP} routes json`)) as { routes?: Record<string, unknown> };
  const out: Learned[] = [];
  for (const prefix of Object.keys(table.routes ?? {}).sort()) {
    const detail = JSON.parse(await frr.vtysh(`show bgp ipv4 unicast ${prefix} json`)) as {
      paths?: { peer?: { peerId?: string }; community?: { string?: string }; largeCommunity?: { string?: string } }[];
    };
    const path = detail.paths?.find((p) => p.peer?.peerId === CALICO_NODE_IP);
    const split = (s: string | undefined) => (s ? s.split(' ').sort() : []);
    out.push({ prefix, communities: split(path?.community?.string), largeCommunities: split(path?.largeCommunity?.string) });
  }
  return out;
}

/** IPv4 prefixes of `show route <filter>` in the Calico node's BIRD. */
async function birdRoutes(ctl: BirdControl, filter: string): Promise<string[]> {
  const reply = await ctl.command(`show route ${filter}`);
  return reply.lines
    .map((l) => /^(\d+\.\d+\.\d+\.\d+\/\d+)\s/.exec(l.text)?.[1])
    .filter((p): p is string => p !== undefined)
    .sort();
}

describe('a Calico node (confd v3.32.1, real BIRD) peering the FRR ToR with podlb-rendered filters', () => {
  const sb = new NetnsSandbox();
  let frr: FrrRouter;
  let bird: BirdProcess;
  let ctl: BirdControl;
  let nodeNs: string;
  let torProtocol: string;
  let birdCfg: string;

  beforeAll(async () => {
    const rendered = renderCalico({ peers, pools, clusterAsn: CLUSTER_ASN, capabilities: capabilitiesOf(CALICO_VERSION) });
    expect(rendered.problems.filter((p) => p.severity === 'Warning')).toEqual([]);
    const files = confdBirdFiles(rackCluster(rendered.peers as unknown as CalicoObj[], rendered.filters as unknown as CalicoObj[]), CALICO_NODE);
    birdCfg = files['bird.cfg'];
    torProtocol = /protocol bgp (\S+) from bgp_template/.exec(birdCfg)?.[1] ?? '';
    expect(torProtocol).toBe(`Node_${TOR_IP.replaceAll('.', '_')}`);
    expect(files['bird.cfg']).toContain('  keepalive time 30;\n');

    nodeNs = await sb.addNetns('calico');
    const torNs = await sb.addNetns('ctor');
    await sb.veth({ ns: nodeNs, ifname: 'eth0', addrs: [`${CALICO_NODE_IP}/24`] }, { ns: torNs, ifname: 'eth0', addrs: [`${TOR_IP}/24`] });
    const ips = Object.values(WORKLOADS).flat();
    for (const [i, ip] of ips.entries()) await addWorkloadRoute(sb, nodeNs, ip, i + 1);
    await sb.exec(nodeNs, 'ip', ['route', 'add', 'blackhole', SUPERNET_ROUTE, 'proto', 'static']);

    frr = await startFrr(sb, torNs, { asn: TOR_ASN, routerId: TOR_IP, neighbors: [{ address: CALICO_NODE_IP, asn: CLUSTER_ASN }] });
    // What the ToR has for the node: another rack's block and a default route.
    await frr.configure([
      `router bgp ${TOR_ASN}`,
      'no bgp network import-check',
      'address-family ipv4 unicast',
      `network ${OTHER_RACK_BLOCK}`,
      `neighbor ${CALICO_NODE_IP} default-originate`,
    ]);
    bird = await startCalicoBird(sb, nodeNs, files);
    ctl = new BirdControl(bird.socketPath);
  });

  afterAll(async () => {
    await ctl?.close();
    await sb.cleanup();
  });

  it("the ToR learns Calico's own export, restricted to the approved pools, with Calico's communities", async () => {
    // Precondition: BIRD learned every workload /32 from the kernel, so a /32 missing at the
    // ToR was filtered, not unseen.
    const workloads = [
      ...Object.values(WORKLOADS)
        .flat()
        .map((ip) => `${ip}/32`),
      SUPERNET_ROUTE,
    ];
    const fromKernel = await waitFor(
      'the workload routes in BIRD',
      async () => {
        const got = await birdRoutes(ctl, 'where source = RTS_INHERIT');
        return workloads.every((p) => got.includes(p)) ? got : undefined;
      },
      10_000,
      100,
    ).catch(async () => birdRoutes(ctl, 'where source = RTS_INHERIT'));
    expect(fromKernel).toEqual(workloads.sort());
    await waitFor(
      'session Established at the ToR',
      async () => ((await frr.bgpNeighbors())[CALICO_NODE_IP]?.state === 'Established' ? true : undefined),
      30_000,
      50,
    );
    // Settled when the ToR holds exactly what the node's BIRD says it exports to it.
    const learned = await waitFor(
      "the ToR's table to match the node's export",
      async () => {
        const [tor, exported] = await Promise.all([torLearned(frr), birdRoutes(ctl, `export ${torProtocol}`)]);
        return exported.length > 0 && tor.map((l) => l.prefix).join() === exported.join() ? tor : undefined;
      },
      30_000,
      100,
    );
    console.log(`ToR learned from the Calico node: ${JSON.stringify(learned)}`);

    // Calico's own export, evaluated by the node's BIRD with confd's filter minus podlb's: what
    // the ToR gets must be exactly its part inside the approved CIDRs. The baseline must hold
    // what podlb has to cut, or the comparison proves nothing.
    const calicoOwn = await birdRoutes(ctl, `filter { ${calicoDefaultExport(birdCfg, torProtocol)} }`);
    console.log(`Calico's own export (no BGPFilter): ${calicoOwn.join(' ')}`);
    expect(calicoOwn).toEqual(expect.arrayContaining([...EXPECTED_AT_TOR, SUPERNET_ROUTE, UNAPPROVED_HALF_BLOCK, UNAPPROVED_BLOCK]));
    expect(calicoOwn.filter((p) => p.startsWith('10.250.'))).toEqual([]);
    expect(learned.map((l) => l.prefix)).toEqual(calicoOwn.filter(insideApproved));

    // Per prefix, so a failure names what leaked or what went missing.
    expect(learned.map((l) => l.prefix)).toEqual(EXPECTED_AT_TOR);
    for (const l of learned) {
      expect(l.communities, `${l.prefix} standard communities`).toEqual(POD_COMMUNITIES.standard);
      expect(l.largeCommunities, `${l.prefix} large communities`).toEqual(POD_COMMUNITIES.large);
    }
    const routes = (await frr.kernelRoutes()).filter((r) => r.protocol === 'bgp').map((r) => `${r.dst} via ${r.gateway}`);
    expect(routes.sort()).toEqual(EXPECTED_AT_TOR.map((p) => `${p.replace(/\/32$/, '')} via ${CALICO_NODE_IP}`).sort());
  });

  it("the ToR's routes (another rack's block, the default route) reach the Calico node's BIRD and kernel", async () => {
    const imported = await waitFor(
      "the ToR's routes in the node's BIRD",
      async () => {
        const got = await birdRoutes(ctl, `protocol ${torProtocol}`);
        return got.includes('0.0.0.0/0') && got.includes(OTHER_RACK_BLOCK) ? got : undefined;
      },
      15_000,
      100,
    ).catch(async () => birdRoutes(ctl, `protocol ${torProtocol}`));
    expect(imported).toEqual(['0.0.0.0/0', OTHER_RACK_BLOCK]);
    // calico_kernel_programming installs them (and the block blackhole BIRD's static protocol makes).
    const kernel = await waitFor(
      'the routes in the node kernel',
      async () => {
        const raw = JSON.parse(await sb.exec(nodeNs, 'ip', ['-json', '-4', 'route', 'show', 'proto', 'bird'])) as {
          dst: string;
          gateway?: string;
          type?: string;
        }[];
        const got = raw.map((r) => `${r.type === 'blackhole' ? 'blackhole ' : ''}${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}`).sort();
        return got.includes(`default via ${TOR_IP}`) && got.includes(`${OTHER_RACK_BLOCK} via ${TOR_IP}`) ? got : undefined;
      },
      10_000,
      100,
    );
    expect(kernel).toContain(`blackhole ${OWN_BLOCK}`);
    expect(kernel).toContain(`default via ${TOR_IP}`);
    expect(kernel).toContain(`${OTHER_RACK_BLOCK} via ${TOR_IP}`);
  });
});
