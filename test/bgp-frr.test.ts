// BIRD on a node namespace, FRR as the ToR, joined by a veth: podlb renders bird.conf from
// objects, applies it through BirdApplier/BirdControl, and the ToR's kernel table shows
// what was advertised. Two-phase: a prefix change must not reset the session.
import { readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BGPPeer, Node } from '../src/api/types.js';
import { BirdApplier } from '../src/bgp/bird-apply.js';
import { BirdControl } from '../src/bgp/bird-control.js';
import { nodeFixture, peerFixture, poolFixture, secretFixture } from '../testkit/bgp-fixtures.js';
import { buildBgpPlan, protocolName } from '../src/bgp/model.js';
import { renderBirdConf } from '../src/bgp/render.js';
import { startBird, type BirdProcess } from '../src/lab/bird-process.js';
import { startFrr, type FrrRouter } from '../src/lab/frr.js';
import { NetnsSandbox, waitFor } from '../src/lab/netns.js';
import { UnreachableError } from '../src/util/errors.js';

const PASSWORD = 'Md5-Sekr1t';
const peer: BGPPeer = peerFixture('rack-r12-tor', { passwordSecretRef: { namespace: 'podlb-system', name: 'tor-md5', key: 'password' } });
const secrets = [secretFixture('tor-md5', 'password', PASSWORD)];

function confFor(podCIDRs: string[]): string {
  const node: Node = nodeFixture({ podCIDRs });
  const plan = buildBgpPlan({ node, pools: [poolFixture()], peers: [peer], secrets });
  expect(plan.problems.filter((p) => p.severity === 'Warning')).toEqual([]);
  return renderBirdConf(plan.model);
}

async function torRoutes(frr: FrrRouter): Promise<string[]> {
  return (await frr.kernelRoutes())
    .filter((r) => r.protocol === 'bgp')
    .map((r) => `${r.dst} via ${r.gateway}`)
    .sort();
}

describe('BIRD ↔ FRR ToR', () => {
  const sb = new NetnsSandbox();
  let bird: BirdProcess;
  let frr: FrrRouter;
  let ctl: BirdControl;
  let applier: BirdApplier;

  beforeAll(async () => {
    const nodeNs = await sb.addNetns('node');
    const torNs = await sb.addNetns('tor');
    await sb.veth({ ns: nodeNs, ifname: 'eth0', addrs: ['172.31.0.2/24'] }, { ns: torNs, ifname: 'eth0', addrs: ['172.31.0.1/24'] });
    frr = await startFrr(sb, torNs, { asn: 65000, routerId: '172.31.0.1', neighbors: [{ address: '172.31.0.2', asn: 64512, password: PASSWORD }] });
    // BIRD starts with what a fresh node has: the peer, nothing to export yet.
    bird = await startBird(sb, nodeNs, { dir: sb.memoryTempDir('bird'), initialConfig: confFor([]) });
    ctl = new BirdControl(bird.socketPath);
    applier = new BirdApplier({ control: ctl, configPath: bird.configPath });
  });

  afterAll(async () => {
    await ctl?.close();
    await sb.cleanup();
  });

  it('applies the rendered config: session Established, the prefix in the ToR kernel table', async () => {
    const t0 = performance.now();
    const r = await applier.apply(confFor(['10.244.1.0/24']));
    expect(r).toMatchObject({ result: 'Applied', birdCode: 3 });
    expect(r.error).toBeUndefined();
    await waitFor(
      'session Established at the ToR',
      async () => ((await frr.bgpNeighbors())['172.31.0.2']?.state === 'Established' ? true : undefined),
      30_000,
      50,
    );
    await waitFor('10.244.1.0/24 at the ToR', async () => ((await torRoutes(frr)).includes('10.244.1.0/24 via 172.31.0.2') ? true : undefined), 10_000, 20);
    console.log(`apply → established + route at ToR: ${(performance.now() - t0).toFixed(0)} ms (apply ${r.durationMs.toFixed(1)} ms)`);
    expect(statSync(bird.configPath).mode & 0o777).toBe(0o600);
    expect(readFileSync(bird.configPath, 'utf8')).toContain('route 10.244.1.0/24 blackhole;');
    expect(existsSync(applier.candidatePath)).toBe(false);

    const protos = await ctl.showProtocolsAll();
    expect(protos.find((p) => p.name === protocolName('rack-r12-tor'))).toMatchObject({
      proto: 'BGP',
      state: 'up',
      bgpState: 'Established',
      neighborAddress: '172.31.0.1',
      neighborAs: 65000,
      localAs: 64512,
      routesExported: 1,
    });
  });

  it('skips an unchanged config, also after an agent restart (compares with the file on disk)', async () => {
    const text = confFor(['10.244.1.0/24']);
    expect((await applier.apply(text)).result).toBe('Unchanged');
    const fresh = new BirdApplier({ control: ctl, configPath: bird.configPath });
    const r = await fresh.apply(text);
    expect(r.result).toBe('Unchanged');
    expect(r.hash).toBe(applier.appliedHash);
  });

  it('changes the prefix set without resetting the session', async () => {
    const before = (await frr.bgpNeighbors())['172.31.0.2'];
    expect(before?.establishedTransitions).toBe(1);

    const t0 = performance.now();
    expect((await applier.apply(confFor(['10.244.1.0/24', '10.244.7.0/24']))).result).toBe('Applied');
    await waitFor('10.244.7.0/24 at the ToR', async () => ((await torRoutes(frr)).includes('10.244.7.0/24 via 172.31.0.2') ? true : undefined), 10_000, 5);
    const addMs = performance.now() - t0;

    const t1 = performance.now();
    expect((await applier.apply(confFor(['10.244.7.0/24']))).result).toBe('Applied');
    await waitFor(
      '10.244.1.0/24 withdrawn at the ToR',
      async () => ((await torRoutes(frr)).join() === '10.244.7.0/24 via 172.31.0.2' ? true : undefined),
      10_000,
      5,
    );
    const withdrawMs = performance.now() - t1;
    console.log(`prefix added → ToR kernel: ${addMs.toFixed(0)} ms; withdrawn → ToR kernel: ${withdrawMs.toFixed(0)} ms`);

    const after = (await frr.bgpNeighbors())['172.31.0.2'];
    expect(after?.state).toBe('Established');
    expect(after?.establishedTransitions).toBe(1);
  });

  it('refuses a broken config with BIRD’s error; the old file and running config stay', async () => {
    const good = readFileSync(bird.configPath, 'utf8');
    const broken = good.replace('protocol device podlb_device {\n', 'protocol device podlb_device {\n  no such option;\n');
    const r = await applier.apply(broken);
    expect(r.result).toBe('Failed');
    expect(r.birdCode).toBe(8002);
    expect(r.error).toMatch(new RegExp(`^${applier.candidatePath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+ `));
    console.log(`BIRD refused: ${r.error}`);
    expect(readFileSync(bird.configPath, 'utf8')).toBe(good);
    expect(existsSync(applier.candidatePath)).toBe(false);
    expect(await torRoutes(frr)).toEqual(['10.244.7.0/24 via 172.31.0.2']);
    expect((await frr.bgpNeighbors())['172.31.0.2']).toMatchObject({ state: 'Established', establishedTransitions: 1 });
    // The same good text is still known as applied.
    expect((await applier.apply(good)).result).toBe('Unchanged');
  });

  it('a missing BIRD socket is UnreachableError, and apply reports a transient failure', async () => {
    const missing = new BirdControl(join(bird.dir, 'absent.ctl'), { timeoutMs: 2000 });
    await expect(missing.command('show status')).rejects.toBeInstanceOf(UnreachableError);
    await expect(missing.command('show status')).rejects.toMatchObject({ code: 'BIRD_UNREACHABLE' });
    const a = new BirdApplier({ control: missing, configPath: join(bird.dir, 'other.conf') });
    const r = await a.apply(confFor(['10.244.9.0/24']));
    expect(r).toMatchObject({ result: 'Failed', transient: true });
    expect(r.error).toMatch(/ENOENT/);
    await missing.close();
  });

  it("never reports the password: the results callers log carry hashes, phases and BIRD's messages only", async () => {
    const a = new BirdApplier({ control: ctl, configPath: bird.configPath });
    const applied = await a.apply(confFor(['10.244.7.0/24', '10.244.8.0/24']));
    const refused = await a.apply(confFor(['10.244.7.0/24', '10.244.8.0/24']).replace('protocol device', 'protocol devxce'));
    expect([applied.result, refused.result]).toEqual(['Applied', 'Failed']);
    expect(refused.error).toMatch(/syntax error/);
    expect(JSON.stringify([applied, refused])).not.toContain(PASSWORD);
  });
});

describe('BIRD ↔ FRR ToR, dual stack', () => {
  const sb = new NetnsSandbox();
  afterAll(() => sb.cleanup());

  it('advertises the IPv4 and IPv6 podCIDRs over one session per family', async () => {
    const nodeNs = await sb.addNetns('node6');
    const torNs = await sb.addNetns('tor6');
    // FRR needs the link-local address for IPv6 next hops: a tentative (DAD) one makes it
    // send an FSM error, after which BIRD waits its 60 s error-wait time.
    for (const ns of [nodeNs, torNs]) for (const k of ['all', 'default']) await sb.sysctl(ns, `net.ipv6.conf.${k}.accept_dad`, '0');
    await sb.veth(
      { ns: nodeNs, ifname: 'eth0', addrs: ['172.31.0.2/24', 'fd00:31::2/64'] },
      { ns: torNs, ifname: 'eth0', addrs: ['172.31.0.1/24', 'fd00:31::1/64'] },
    );
    const frr = await startFrr(sb, torNs, {
      asn: 65000,
      routerId: '172.31.0.1',
      neighbors: [
        { address: '172.31.0.2', asn: 64512 },
        { address: 'fd00:31::2', asn: 64512 },
      ],
    });
    const plan = buildBgpPlan({
      node: nodeFixture({ podCIDRs: ['10.244.1.0/24', 'fd00:244:0:1::/64'] }),
      pools: [poolFixture()],
      peers: [peerFixture('rack-r12-tor'), peerFixture('rack-r12-tor-v6', { peerAddress: 'fd00:31::1' })],
      secrets: [],
    });
    expect(plan.problems).toEqual([]);
    await startBird(sb, nodeNs, { dir: sb.memoryTempDir('bird6'), initialConfig: renderBirdConf(plan.model) });
    const want = ['10.244.1.0/24', 'fd00:244:0:1::/64'];
    const got = await waitFor(
      'both prefixes at the ToR',
      async () => {
        const dsts = (await frr.kernelRoutes())
          .filter((r) => r.protocol === 'bgp')
          .map((r) => r.dst)
          .sort();
        return want.every((w) => dsts.includes(w)) ? dsts : undefined;
      },
      20_000,
      50,
    );
    expect(got).toEqual(want);
    const n = await frr.bgpNeighbors();
    expect(n['172.31.0.2']?.state).toBe('Established');
    expect(n['fd00:31::2']).toMatchObject({ state: 'Established', prefixReceivedCount: 1 });
  });
});
