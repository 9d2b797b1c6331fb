// PodIPs advertisement and TCP-MD5 against the real daemons: PodIPs host routes reach the FRR ToR and are withdrawn
// when a Pod goes away (no session flap); TCP-MD5 sessions come up only with the password the
// ToR has; changing one peer's password restarts that session and no other.
// One node with two uplinks (eth0, eth1) to one FRR ToR, so two sessions with two passwords.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Secret } from '../src/api/types.js';
import { BirdApplier } from '../src/bgp/bird-apply.js';
import { BirdControl } from '../src/bgp/bird-control.js';
import { nodeFixture, peerFixture, poolFixture, secretFixture } from '../testkit/bgp-fixtures.js';
import { buildBgpPlan, protocolName, sessionResettingChanges, type BirdModel, type PodIPs } from '../src/bgp/model.js';
import { renderBirdConf } from '../src/bgp/render.js';
import { startBird, type BirdProcess } from '../src/lab/bird-process.js';
import { startFrr, type FrrRouter } from '../src/lab/frr.js';
import { NetnsSandbox, waitFor } from '../src/lab/netns.js';

const A = '172.31.0.2';
const B = '172.31.1.2';
const PW_A = 'Tor-A-md5';
const PW_B = 'Tor-B-md5';

interface World {
  podIPs: PodIPs[];
  secretA: string;
  secretB: string;
}

function modelOf(w: World): BirdModel {
  const peers = [
    peerFixture('tor-a', { peerAddress: '172.31.0.1', passwordSecretRef: { name: 'tor-a', key: 'password' } }),
    peerFixture('tor-b', { peerAddress: '172.31.1.1', passwordSecretRef: { name: 'tor-b', key: 'password' } }),
  ];
  const secrets: Secret[] = [secretFixture('tor-a', 'password', w.secretA), secretFixture('tor-b', 'password', w.secretB)];
  const plan = buildBgpPlan({
    node: nodeFixture({ podCIDRs: ['10.244.1.0/24'] }),
    pools: [
      poolFixture('agg', { cidrs: ['10.244.0.0/16'] }),
      poolFixture('hosts', { advertise: 'PodIPs', cidrs: ['10.250.0.0/16'], communities: ['65000:250'] }),
    ],
    peers,
    secrets,
    podIPs: w.podIPs,
  });
  expect(plan.problems.filter((p) => p.severity === 'Warning')).toEqual([]);
  return plan.model;
}

describe('PodIPs host routes and MD5 sessions with an FRR ToR', () => {
  const sb = new NetnsSandbox();
  let frr: FrrRouter;
  let bird: BirdProcess;
  let ctl: BirdControl;
  let applier: BirdApplier;
  let nodeNs: string;
  let world: World = { podIPs: [], secretA: PW_A, secretB: 'Wrong-pass' };
  let applied: BirdModel;

  const apply = async (w: World) => {
    const m = modelOf(w);
    const r = await applier.apply(renderBirdConf(m));
    expect(r.result).toBe('Applied');
    world = w;
    applied = m;
    return r;
  };
  const torBgpDsts = async () =>
    (await frr.kernelRoutes())
      .filter((r) => r.protocol === 'bgp')
      .map((r) => r.dst)
      .sort();
  const neighbors = () => frr.bgpNeighbors();

  beforeAll(async () => {
    nodeNs = await sb.addNetns('pnode');
    const torNs = await sb.addNetns('ptor');
    await sb.veth({ ns: nodeNs, ifname: 'eth0', addrs: [`${A}/24`] }, { ns: torNs, ifname: 'eth0', addrs: ['172.31.0.1/24'] });
    await sb.veth({ ns: nodeNs, ifname: 'eth1', addrs: [`${B}/24`] }, { ns: torNs, ifname: 'eth1', addrs: ['172.31.1.1/24'] });
    frr = await startFrr(sb, torNs, {
      asn: 65000,
      routerId: '172.31.0.1',
      neighbors: [
        { address: A, asn: 64512, password: PW_A },
        { address: B, asn: 64512, password: PW_B },
      ],
    });
    applied = modelOf(world);
    bird = await startBird(sb, nodeNs, { dir: sb.memoryTempDir('pbird'), initialConfig: renderBirdConf(applied) });
    ctl = new BirdControl(bird.socketPath);
    applier = new BirdApplier({ control: ctl, configPath: bird.configPath });
  });

  afterAll(async () => {
    await ctl?.close();
    await sb.cleanup();
  });

  it('the session whose password matches comes up; a wrong password keeps the other down', async () => {
    await waitFor('tor-a Established', async () => ((await neighbors())[A]?.state === 'Established' ? true : undefined), 20_000, 50);
    // FRR retries every 2 s (timers connect 2); give the wrong password several attempts.
    await new Promise((r) => setTimeout(r, 5000));
    const n = await neighbors();
    expect(n[B]?.state).not.toBe('Established');
    expect(n[B]?.establishedTransitions ?? 0).toBe(0);
    const protos = await ctl.showProtocolsAll();
    expect(protos.find((p) => p.name === protocolName('tor-b'))?.bgpState).not.toBe('Established');
    expect(protos.find((p) => p.name === protocolName('tor-a'))?.bgpState).toBe('Established');

    // The Secret is fixed: the session comes up, tor-a is not touched.
    expect(sessionResettingChanges(applied, modelOf({ ...world, secretB: PW_B })).map((r) => [r.peer, r.fields])).toEqual([['tor-b', ['password']]]);
    await apply({ ...world, secretB: PW_B });
    await waitFor('tor-b Established', async () => ((await neighbors())[B]?.state === 'Established' ? true : undefined), 20_000, 50);
    expect((await neighbors())[A]?.establishedTransitions).toBe(1);
  });

  it('advertises a host route per Pod IP and withdraws it when the Pod goes, without a flap', async () => {
    const before = await neighbors();
    const t0 = performance.now();
    await apply({
      ...world,
      podIPs: [
        { namespace: 'ads', name: 'bidder-0', ips: ['10.250.0.5'] },
        { namespace: 'ads', name: 'bidder-1', ips: ['10.250.0.6', '10.99.9.9'] },
      ],
    });
    const want = ['10.244.1.0/24', '10.250.0.5', '10.250.0.6'];
    await waitFor('host routes at the ToR', async () => (JSON.stringify(await torBgpDsts()) === JSON.stringify(want) ? true : undefined), 10_000, 5);
    const addMs = performance.now() - t0;

    // The static "blackhole" routes never reach the node's kernel: BIRD has no kernel
    // protocol, so the Pod's own route stays the only one for its address.
    const nodeRoutes = JSON.parse(await sb.exec(nodeNs, 'ip', ['-json', 'route', 'show', 'table', 'all'])) as {
      dst: string;
      type?: string;
      protocol?: string;
    }[];
    expect(nodeRoutes.filter((r) => r.type === 'blackhole' || r.protocol === 'bird' || r.dst.startsWith('10.250.'))).toEqual([]);

    const t1 = performance.now();
    await apply({ ...world, podIPs: [{ namespace: 'ads', name: 'bidder-1', ips: ['10.250.0.6'] }] });
    await waitFor(
      '10.250.0.5 withdrawn at the ToR',
      async () => (JSON.stringify(await torBgpDsts()) === JSON.stringify(['10.244.1.0/24', '10.250.0.6']) ? true : undefined),
      10_000,
      5,
    );
    const withdrawMs = performance.now() - t1;
    console.log(`host route added → ToR kernel ${addMs.toFixed(0)} ms; withdrawn → ToR kernel ${withdrawMs.toFixed(0)} ms`);

    const after = await neighbors();
    for (const a of [A, B])
      expect({ a, state: after[a]?.state, transitions: after[a]?.establishedTransitions }).toEqual({
        a,
        state: 'Established',
        transitions: before[a]?.establishedTransitions,
      });
  });

  it('one more Pod re-sends its route alone, not the table, with its pool’s community', async () => {
    const many = (n: number): PodIPs[] =>
      Array.from({ length: n }, (_, i) => ({ namespace: 'ads', name: `p${i}`, ips: [`10.250.${1 + Math.floor(i / 200)}.${i % 200}`] }));
    const exported = async () => (await ctl.showProtocolsAll()).find((p) => p.name === protocolName('tor-a'))?.channels[0]?.exportUpdates ?? -1;
    const keep = world.podIPs;
    await apply({ ...world, podIPs: many(200) });
    await waitFor('200 host routes at the ToR', async () => ((await torBgpDsts()).length === 201 ? true : undefined), 20_000, 20);
    const before = await exported();
    const extra = many(201).at(-1)!.ips[0]!;
    await apply({ ...world, podIPs: many(201) });
    await waitFor(`${extra} at the ToR`, async () => ((await torBgpDsts()).includes(extra) ? true : undefined), 10_000, 5);
    // A filter that listed host routes changed with every Pod, and BIRD re-exported all 201.
    expect(await exported()).toBe(before + 1);
    const path = JSON.parse(await frr.vtysh(`show bgp ipv4 unicast ${extra}/32 json`)) as { paths?: { community?: { string?: string } }[] };
    expect(path.paths?.[0]?.community?.string).toBe('65000:250');
    await apply({ ...world, podIPs: keep });
    await waitFor(
      'back to the earlier host routes',
      async () => ((await torBgpDsts()).length === 1 + keep.flatMap((p) => p.ips).length ? true : undefined),
      20_000,
      20,
    );
  });

  it('changing one peer’s password restarts that session only', async () => {
    const before = await neighbors();
    const next = { ...world, secretA: 'Tor-A-rotated' };
    expect(sessionResettingChanges(applied, modelOf(next)).map((r) => [r.peer, r.fields])).toEqual([['tor-a', ['password']]]);
    await apply(next);
    await waitFor('tor-a restarted by BIRD', async () => ((await neighbors())[A]?.state !== 'Established' ? true : undefined), 5000, 20);
    await frr.configure(['router bgp 65000', `neighbor ${A} password Tor-A-rotated`]);
    await waitFor('tor-a Established with the new password', async () => ((await neighbors())[A]?.state === 'Established' ? true : undefined), 20_000, 50);
    const after = await neighbors();
    expect(after[A]?.establishedTransitions).toBeGreaterThan(before[A]!.establishedTransitions!);
    expect(after[B]).toMatchObject({ state: 'Established', establishedTransitions: before[B]?.establishedTransitions });
    // Routes are back through tor-a as well.
    await waitFor('routes at the ToR', async () => ((await torBgpDsts()).includes('10.250.0.6') ? true : undefined), 10_000, 20);
  });
});
