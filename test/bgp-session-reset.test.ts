// Which BGPPeer changes really restart a session: each step changes one field of the peer,
// applies the rendered config to a real BIRD 2.0.12 with `configure`, and watches the FRR
// ToR (established transitions, state). The observed truth table must equal what
// sessionResettingChanges() predicts, so the agent's SessionRestarted Events tell the truth.
//
// Truth table (BIRD 2.0.12 + FRR 8.4, recorded by this test; see RESETTING_FIELDS in model.ts):
//   field changed                          session restarts
//   pool prefixes (export filter, static)  no
//   pool prefixes with BFD on              no
//   holdTime                               yes
//   keepaliveTime                          yes
//   gracefulRestart.restartTime            yes
//   gracefulRestart.enabled                yes
//   multihop                               yes
//   sourceAddress                          yes
//   bfd on                                 no  (BIRD adds the BFD request in place)
//   bfd intervals/multiplier               no  (BIRD updates the BFD session in place)
//   bfd off                                yes (the ToR, still configured for BFD, sees the
//                                               BFD session time out and drops BGP)
//   localAsn                               yes
//   password                               yes
//   peerAsn                                yes
//   address                                yes
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BGPPeer } from '../src/api/types.js';
import { BirdApplier } from '../src/bgp/bird-apply.js';
import { BirdControl } from '../src/bgp/bird-control.js';
import { nodeFixture, peerFixture, poolFixture, secretFixture } from '../testkit/bgp-fixtures.js';
import { buildBgpPlan, sessionResettingChanges, type BirdModel } from '../src/bgp/model.js';
import { renderBirdConf } from '../src/bgp/render.js';
import { startBird } from '../src/lab/bird-process.js';
import { startFrr, type FrrRouter } from '../src/lab/frr.js';
import { NetnsSandbox, waitFor } from '../src/lab/netns.js';

const NODE = '172.31.0.2';
type Spec = Partial<BGPPeer['spec']>;
interface State {
  spec: Spec;
  podCIDRs: string[];
  password?: string;
}

function modelOf(s: State): BirdModel {
  const spec: Spec = { ...s.spec, ...(s.password ? { passwordSecretRef: { namespace: 'podlb-system', name: 'md5', key: 'pw' } } : {}) };
  const plan = buildBgpPlan({
    node: nodeFixture({ podCIDRs: s.podCIDRs }),
    pools: [poolFixture('p', { cidrs: ['10.244.0.0/16'] })],
    peers: [peerFixture('tor', spec)],
    secrets: s.password ? [secretFixture('md5', 'pw', s.password)] : [],
  });
  expect(plan.problems.filter((p) => p.severity === 'Warning')).toEqual([]);
  expect(plan.model.peers).toHaveLength(1);
  return plan.model;
}

interface Step {
  name: string;
  change: (s: State) => State;
  /** FRR lines to run after the observation, so the session can come back (password, ASN). */
  frrAfter?: string[];
}

// BFD steps come before multihop: with ebgpMultihop BIRD runs a multihop BFD session
// (RFC 5883, UDP 4784), which FRR's `neighbor X bfd` on a connected peer does not answer.
const steps: Step[] = [
  { name: 'pool prefixes', change: (s) => ({ ...s, podCIDRs: ['10.244.1.0/24', '10.244.2.0/24'] }) },
  { name: 'holdTime', change: (s) => ({ ...s, spec: { ...s.spec, holdTimeSeconds: 60 } }) },
  { name: 'keepaliveTime', change: (s) => ({ ...s, spec: { ...s.spec, keepaliveSeconds: 20 } }) },
  { name: 'gracefulRestart.restartTime', change: (s) => ({ ...s, spec: { ...s.spec, gracefulRestart: { enabled: true, restartTimeSeconds: 100 } } }) },
  { name: 'gracefulRestart.enabled', change: (s) => ({ ...s, spec: { ...s.spec, gracefulRestart: { enabled: false } } }) },
  { name: 'bfd on', change: (s) => ({ ...s, spec: { ...s.spec, bfd: { enabled: true, minIntervalMilliseconds: 300, multiplier: 3 } } }) },
  { name: 'bfd intervals', change: (s) => ({ ...s, spec: { ...s.spec, bfd: { enabled: true, minIntervalMilliseconds: 200, multiplier: 5 } } }) },
  { name: 'pool prefixes with BFD on', change: (s) => ({ ...s, podCIDRs: ['10.244.3.0/24'] }) },
  { name: 'bfd off', change: (s) => ({ ...s, spec: { ...s.spec, bfd: { enabled: false } } }) },
  { name: 'multihop', change: (s) => ({ ...s, spec: { ...s.spec, ebgpMultihop: 2 } }) },
  { name: 'sourceAddress', change: (s) => ({ ...s, spec: { ...s.spec, sourceAddress: NODE } }) },
  { name: 'localAsn', change: (s) => ({ ...s, spec: { ...s.spec, localASN: 64513 } }) },
  { name: 'password set', change: (s) => ({ ...s, password: 'Pass-One' }), frrAfter: ['router bgp 65000', `neighbor ${NODE} password Pass-One`] },
  { name: 'password changed', change: (s) => ({ ...s, password: 'Pass-Two' }), frrAfter: ['router bgp 65000', `neighbor ${NODE} password Pass-Two`] },
  { name: 'peerAsn', change: (s) => ({ ...s, spec: { ...s.spec, peerASN: 65001 } }), frrAfter: [] },
  { name: 'address', change: (s) => ({ ...s, spec: { ...s.spec, peerASN: 65000, peerAddress: '172.31.0.11' } }) },
];

describe('which peer changes restart the BGP session (real BIRD + FRR)', () => {
  const sb = new NetnsSandbox();
  let frr: FrrRouter;
  let ctl: BirdControl;
  let applier: BirdApplier;
  let state: State = { spec: {}, podCIDRs: ['10.244.1.0/24'] };
  const observed: { step: string; restarted: boolean; predicted: string[] }[] = [];

  const neighbor = async () => (await frr.bgpNeighbors())[NODE];
  const established = (what: string) => waitFor(what, async () => ((await neighbor())?.state === 'Established' ? true : undefined), 20_000, 50);

  beforeAll(async () => {
    const nodeNs = await sb.addNetns('rnode');
    const torNs = await sb.addNetns('rtor');
    await sb.veth({ ns: nodeNs, ifname: 'eth0', addrs: [`${NODE}/24`] }, { ns: torNs, ifname: 'eth0', addrs: ['172.31.0.1/24', '172.31.0.11/24'] });
    frr = await startFrr(sb, torNs, { asn: 65000, routerId: '172.31.0.1', neighbors: [{ address: NODE, asn: 'external', bfd: true }] });
    const bird = await startBird(sb, nodeNs, { dir: sb.memoryTempDir('rbird'), initialConfig: renderBirdConf(modelOf(state)) });
    ctl = new BirdControl(bird.socketPath);
    applier = new BirdApplier({ control: ctl, configPath: bird.configPath });
    await established('first session');
  });

  afterAll(async () => {
    if (observed.length > 0)
      console.log(
        `session restarts observed:\n${observed.map((o) => `  ${o.step.padEnd(28)} ${o.restarted ? 'restart' : 'kept   '}  predicted: ${o.predicted.join(', ') || '-'}`).join('\n')}`,
      );
    await ctl?.close();
    await sb.cleanup();
  });

  it.each(steps)('$name', async ({ name, change, frrAfter }) => {
    const before = await neighbor();
    expect(before?.state).toBe('Established');
    const oldModel = modelOf(state);
    state = change(state);
    const newModel = modelOf(state);
    const predicted = sessionResettingChanges(oldModel, newModel).flatMap((r) => r.fields);
    const r = await applier.apply(renderBirdConf(newModel));
    expect(r.result).toBe('Applied');
    // BIRD restarts a protocol within the configure call and FRR sees the NOTIFICATION at
    // once; 1.5 s without a change means the session was kept. BFD steps wait 3 s, longer
    // than the BFD detection time (at most 300 ms x 5 here), for the ToR's reaction.
    let restarted = false;
    const deadline = Date.now() + (name.startsWith('bfd') || name.includes('BFD') ? 3000 : 1500);
    while (Date.now() < deadline && !restarted) {
      const n = await neighbor();
      restarted = n?.state !== 'Established' || n.establishedTransitions !== before?.establishedTransitions;
      await new Promise((res) => setTimeout(res, 50));
    }
    observed.push({ step: name, restarted, predicted });
    if (frrAfter) {
      if (frrAfter.length > 0) await frr.configure(frrAfter);
      if (name === 'peerAsn') {
        // Put the ASN back (itself a restart) so the next step starts Established.
        state = { ...state, spec: { ...state.spec, peerASN: 65000 } };
        expect((await applier.apply(renderBirdConf(modelOf(state)))).result).toBe('Applied');
      }
    }
    await established(`session back after ${name}`);
    expect({ step: name, restarted }).toEqual({ step: name, restarted: predicted.length > 0 });
    // BFD changes are kept because BIRD updates the BFD request in place: prove it did.
    const bfd = state.spec.bfd;
    if (bfd?.enabled) {
      const want = {
        status: 'up',
        remoteReceiveIntervalMs: bfd.minIntervalMilliseconds,
        remoteTransmitIntervalMs: bfd.minIntervalMilliseconds,
        remoteDetectMultiplier: bfd.multiplier,
      };
      await waitFor(
        `BFD ${JSON.stringify(want)} at the ToR`,
        async () => {
          const p = (await frr.bfdPeers())[NODE];
          return p && JSON.stringify(p) === JSON.stringify(want) ? true : undefined;
        },
        10_000,
        100,
      ).catch(async (e: unknown) => {
        throw new Error(`${String(e)}; ToR has ${JSON.stringify(await frr.bfdPeers())}`);
      });
    } else if (name === 'bfd off') {
      await waitFor('BFD peer down at the ToR', async () => ((await frr.bfdPeers())[NODE]?.status !== 'up' ? true : undefined), 10_000, 100);
    }
  });
});
