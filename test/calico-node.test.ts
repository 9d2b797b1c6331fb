// Calico mode against a Calico node: podlb's objects rendered by the controller's Calico
// renderer, joined with a cluster's own Calico objects (testkit/calico-confd/scenario.ts),
// turned into the BIRD configuration calico-node's confd (v3.32.1) writes for the node, and
// run by the real BIRD next to Felix-like workload routes, peering the FRR ToR. What the ToR
// learns is what a network team would see: Calico's own export (blocks, not per-Pod /32s
// beneath them; borrowed /32s; never a disableBGPExport pool; BGPConfiguration's communities)
// restricted to what lies inside an approved CIDR (not an unapproved pool, not the unapproved
// part of a Calico pool, not a supernet of an approved CIDR); and the ToR's routes (another
// rack's block, the default route) reach the node's BIRD and kernel. The same over IPv6, where
// the node's second BIRD runs confd's bird6.cfg and peers the ToR's IPv6 address. Every Calico
// object, podlb's and the cluster's, goes through the in-process API server with Calico's
// v3.32.1 CRDs first: confd reads what a cluster would have stored.
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
import { storedDatastore } from '../testkit/calico-confd/datastore.js';
import { addWorkloadRoute, startCalicoBird } from '../testkit/calico-confd/lab-node.js';
import type { CalicoObj } from '../testkit/calico-confd/model.js';
import {
  CALICO_NODE,
  CALICO_NODE_IP,
  CALICO_NODE_IPV6,
  CLUSTER_ASN,
  OTHER_RACK_BLOCK,
  OTHER_RACK_BLOCK_V6,
  OWN_BLOCK,
  OWN_BLOCK_V6,
  POD_COMMUNITIES,
  QUIET_BLOCK_V6,
  rackCluster,
  SUPERNET_ROUTE,
  UNAPPROVED_BLOCK,
  UNAPPROVED_BLOCK_V6,
  UNAPPROVED_HALF_BLOCK,
  TOR_ASN,
  TOR_IP,
  TOR_IPV6,
  WORKLOADS,
  WORKLOADS_V6,
} from '../testkit/calico-confd/scenario.js';
import { CALICO_VERSION, confdBird6Files, confdBirdFiles } from '../testkit/calico-confd/text.js';

const podSelector = { matchLabels: { 'podlb.io/bgp': 'true' } };
const peers = [
  // keepaliveSeconds: a per-peer field Calico has since 3.32, so it reaches the node's BIRD.
  peerFixture('rack-r12-tor', { peerAddress: TOR_IP, peerASN: TOR_ASN, localASN: CLUSTER_ASN, holdTimeSeconds: undefined, keepaliveSeconds: 30 }),
  peerFixture('rack-r12-tor6', { peerAddress: TOR_IPV6, peerASN: TOR_ASN, localASN: CLUSTER_ASN, holdTimeSeconds: undefined, keepaliveSeconds: 30 }),
];
const pools: PodAddressPool[] = [
  poolFixture('pods', { cidrs: ['10.244.0.0/16', 'fd00:244::/56'], nodeSelector: podSelector }),
  // Approved by the network team, but the Calico IPPool says disableBGPExport: Calico wins.
  poolFixture('quiet', { cidrs: ['10.250.0.0/24', 'fd00:250::/64'], nodeSelector: podSelector }),
  // Never approved.
  poolFixture('lab', { cidrs: ['10.251.0.0/24', 'fd00:251::/64'], nodeSelector: podSelector, approval: undefined }),
];

/** Calico's default export of this node, restricted to the approved pools. */
const EXPECTED_AT_TOR = [OWN_BLOCK, `${WORKLOADS.borrowed}/32`].sort();
const EXPECTED_AT_TOR_V6 = [OWN_BLOCK_V6, `${WORKLOADS_V6.borrowed}/128`].sort();
const APPROVED = ['10.244.0.0/16', '10.250.0.0/24', 'fd00:244::/56', 'fd00:250::/64'];

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
  const lines = body.split('\n').filter((l) => !/_exportFilterV[46]'\(/.test(l));
  return `if (proto = "${protocol}") then reject; ${lines.map((l) => l.trim()).join(' ')}`;
}

interface Learned {
  prefix: string;
  communities: string[];
  largeCommunities: string[];
}

/** What the ToR learned from the node's session of one address family (`from`: the node's address). */
async function torLearned(frr: FrrRouter, from: string): Promise<Learned[]> {
  const afi = from.includes(':') ? 'ipv6' : 'ipv4';
  const table = JSON.parse(await frr.vtysh(`show bgp ${afi} unicast neighbors ${from} routes json`)) as { routes?: Record<string, unknown> };
  const out: Learned[] = [];
  for (const prefix of Object.keys(table.routes ?? {}).sort()) {
    const detail = JSON.parse(await frr.vtysh(`show bgp ${afi} unicast ${prefix} json`)) as {
      paths?: { peer?: { peerId?: string }; community?: { string?: string }; largeCommunity?: { string?: string } }[];
    };
    const path = detail.paths?.find((p) => p.peer?.peerId === from);
    const split = (s: string | undefined) => (s ? s.split(' ').sort() : []);
    out.push({ prefix, communities: split(path?.community?.string), largeCommunities: split(path?.largeCommunity?.string) });
  }
  return out;
}

/** The prefixes of `show route <filter>` in one of the Calico node's BIRDs. */
async function birdRoutes(ctl: BirdControl, filter: string): Promise<string[]> {
  const reply = await ctl.command(`show route ${filter}`);
  return reply.lines
    .map((l) => /^(\d+\.\d+\.\d+\.\d+\/\d+|[0-9a-f]*:[0-9a-f:]*\/\d+)\s/.exec(l.text)?.[1])
    .filter((p): p is string => p !== undefined)
    .sort();
}

describe('a Calico node (confd v3.32.1, real BIRD) peering the FRR ToR with podlb-rendered filters', () => {
  const sb = new NetnsSandbox();
  let frr: FrrRouter;
  let bird: BirdProcess;
  let ctl: BirdControl;
  let ctl6: BirdControl;
  let nodeNs: string;
  let torNs: string;
  let torProtocol: string;
  let torProtocol6: string;
  let birdCfg: string;
  let bird6Cfg: string;

  beforeAll(async () => {
    const rendered = renderCalico({ peers, pools, clusterAsn: CLUSTER_ASN, capabilities: capabilitiesOf(CALICO_VERSION) });
    expect(rendered.problems.filter((p) => p.severity === 'Warning')).toEqual([]);
    const cluster = storedDatastore(rackCluster(rendered.peers as unknown as CalicoObj[], rendered.filters as unknown as CalicoObj[]), CALICO_VERSION);
    const files = confdBirdFiles(cluster, CALICO_NODE);
    const files6 = confdBird6Files(cluster, CALICO_NODE);
    birdCfg = files['bird.cfg'];
    bird6Cfg = files6['bird6.cfg'];
    torProtocol = /protocol bgp (\S+) from bgp_template/.exec(birdCfg)?.[1] ?? '';
    expect(torProtocol).toBe(`Node_${TOR_IP.replaceAll('.', '_')}`);
    torProtocol6 = /protocol bgp (\S+) from bgp_template/.exec(bird6Cfg)?.[1] ?? '';
    expect(torProtocol6).toBe(`Node_${TOR_IPV6.replaceAll(':', '_')}`);
    expect(files['bird.cfg']).toContain('  keepalive time 30;\n');

    nodeNs = await sb.addNetns('calico');
    torNs = await sb.addNetns('ctor');
    await sb.veth(
      { ns: nodeNs, ifname: 'eth0', addrs: [`${CALICO_NODE_IP}/24`, `${CALICO_NODE_IPV6}/64`] },
      { ns: torNs, ifname: 'eth0', addrs: [`${TOR_IP}/24`, `${TOR_IPV6}/64`] },
    );
    const ips = [...Object.values(WORKLOADS).flat(), ...Object.values(WORKLOADS_V6).flat()];
    for (const [i, ip] of ips.entries()) await addWorkloadRoute(sb, nodeNs, ip, i + 1);
    await sb.exec(nodeNs, 'ip', ['route', 'add', 'blackhole', SUPERNET_ROUTE, 'proto', 'static']);

    frr = await startFrr(sb, torNs, {
      asn: TOR_ASN,
      routerId: TOR_IP,
      neighbors: [
        { address: CALICO_NODE_IP, asn: CLUSTER_ASN },
        { address: CALICO_NODE_IPV6, asn: CLUSTER_ASN },
      ],
    });
    // What the ToR has for the node: another rack's block and a default route, in each family.
    await frr.configure([
      `router bgp ${TOR_ASN}`,
      'no bgp network import-check',
      'address-family ipv4 unicast',
      `network ${OTHER_RACK_BLOCK}`,
      `neighbor ${CALICO_NODE_IP} default-originate`,
      'exit-address-family',
      'address-family ipv6 unicast',
      `network ${OTHER_RACK_BLOCK_V6}`,
      `neighbor ${CALICO_NODE_IPV6} default-originate`,
    ]);
    bird = await startCalicoBird(sb, nodeNs, files);
    ctl = new BirdControl(bird.socketPath);
    ctl6 = new BirdControl((await startCalicoBird(sb, nodeNs, files6)).socketPath);
  });

  afterAll(async () => {
    await ctl?.close();
    await ctl6?.close();
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
        const [tor, exported] = await Promise.all([torLearned(frr, CALICO_NODE_IP), birdRoutes(ctl, `export ${torProtocol}`)]);
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
    const routes = (await frr.kernelRoutes()).filter((r) => r.protocol === 'bgp' && !r.dst.includes(':')).map((r) => `${r.dst} via ${r.gateway}`);
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

  it("over IPv6 (the node's bird6), the ToR learns the approved v6 pools' part of Calico's export, with Calico's communities", async () => {
    const workloads = Object.values(WORKLOADS_V6)
      .flat()
      .map((ip) => `${ip}/128`)
      .sort();
    const fromKernel = await waitFor(
      'the IPv6 workload routes in bird6',
      async () => {
        const got = await birdRoutes(ctl6, 'where source = RTS_INHERIT');
        return workloads.every((p) => got.includes(p)) ? got : undefined;
      },
      10_000,
      100,
    ).catch(async () => birdRoutes(ctl6, 'where source = RTS_INHERIT'));
    expect(fromKernel).toEqual(workloads);
    await waitFor(
      'the IPv6 session Established at the ToR',
      async () => ((await frr.bgpNeighbors())[CALICO_NODE_IPV6]?.state === 'Established' ? true : undefined),
      30_000,
      50,
    );
    const learned = await waitFor(
      "the ToR's IPv6 table to match bird6's export",
      async () => {
        const [tor, exported] = await Promise.all([torLearned(frr, CALICO_NODE_IPV6), birdRoutes(ctl6, `export ${torProtocol6}`)]);
        return exported.length > 0 && tor.map((l) => l.prefix).join() === exported.join() ? tor : undefined;
      },
      30_000,
      100,
    );
    console.log(`ToR learned from the Calico node over IPv6: ${JSON.stringify(learned)}`);

    // Calico's own v6 export holds the unapproved pool's block and nothing of the
    // disableBGPExport pool; the ToR gets exactly its part inside the approved v6 CIDRs.
    const calicoOwn = await birdRoutes(ctl6, `filter { ${calicoDefaultExport(bird6Cfg, torProtocol6)} }`);
    console.log(`Calico's own IPv6 export (no BGPFilter): ${calicoOwn.join(' ')}`);
    expect(calicoOwn).toEqual(expect.arrayContaining([...EXPECTED_AT_TOR_V6, UNAPPROVED_BLOCK_V6]));
    expect(calicoOwn).not.toContain(QUIET_BLOCK_V6);
    expect(calicoOwn.filter((p) => p.startsWith('fd00:250:'))).toEqual([]);
    expect(learned.map((l) => l.prefix)).toEqual(calicoOwn.filter(insideApproved));

    expect(learned.map((l) => l.prefix)).toEqual(EXPECTED_AT_TOR_V6);
    for (const l of learned) {
      expect(l.communities, `${l.prefix} standard communities`).toEqual(POD_COMMUNITIES.standard);
      expect(l.largeCommunities, `${l.prefix} large communities`).toEqual(POD_COMMUNITIES.large);
    }
    const routes = (await frr.kernelRoutes()).filter((r) => r.protocol === 'bgp' && r.dst.includes(':'));
    expect(routes.map((r) => r.dst).sort()).toEqual(EXPECTED_AT_TOR_V6.map((p) => p.replace(/\/128$/, '')).sort());
    for (const r of routes) expect(r.gateway, r.dst).toBe(CALICO_NODE_IPV6);
  });

  it("over IPv6, the ToR's routes (another rack's v6 block, the default route) reach bird6 and the node's kernel", async () => {
    const imported = await waitFor(
      "the ToR's IPv6 routes in bird6",
      async () => {
        const got = await birdRoutes(ctl6, `protocol ${torProtocol6}`);
        return got.includes('::/0') && got.includes(OTHER_RACK_BLOCK_V6) ? got : undefined;
      },
      15_000,
      100,
    ).catch(async () => birdRoutes(ctl6, `protocol ${torProtocol6}`));
    expect(imported).toEqual(['::/0', OTHER_RACK_BLOCK_V6]);
    // FRR sends its link-local address beside the global one (RFC 2545) to a neighbor on its
    // link, and BIRD installs the route through it: either names the ToR on eth0.
    const torAddrs = JSON.parse(await sb.exec(torNs, 'ip', ['-json', '-6', 'addr', 'show', 'dev', 'eth0'])) as {
      addr_info?: { local: string; scope: string }[];
    }[];
    const torLinkLocal = torAddrs.flatMap((l) => l.addr_info ?? []).find((a) => a.scope === 'link')?.local;
    expect(torLinkLocal).toMatch(/^fe80:/);
    const viaTor = (dst: string, got: string[]) => [TOR_IPV6, torLinkLocal].some((gw) => got.includes(`${dst} via ${gw}`));
    const kernel = await waitFor(
      'the IPv6 routes in the node kernel',
      async () => {
        const raw = JSON.parse(await sb.exec(nodeNs, 'ip', ['-json', '-6', 'route', 'show', 'proto', 'bird'])) as {
          dst: string;
          gateway?: string;
          type?: string;
        }[];
        const got = raw.map((r) => `${r.type === 'blackhole' ? 'blackhole ' : ''}${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}`).sort();
        return viaTor('default', got) && viaTor(OTHER_RACK_BLOCK_V6, got) ? got : undefined;
      },
      10_000,
      100,
    ).catch(async () => (await sb.exec(nodeNs, 'ip', ['-6', 'route', 'show', 'proto', 'bird'])).split('\n'));
    expect(kernel).toContain(`blackhole ${OWN_BLOCK_V6}`);
    expect(viaTor('default', kernel), `default via the ToR in ${kernel.join(', ')}`).toBe(true);
    expect(viaTor(OTHER_RACK_BLOCK_V6, kernel), `${OTHER_RACK_BLOCK_V6} via the ToR in ${kernel.join(', ')}`).toBe(true);
  });
});
