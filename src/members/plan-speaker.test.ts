// Which node reports a Service's problems (Events): one node among those hosting its Pods,
// the same for every agent, so 1,000 agents do not make 1,000 Events.
import { describe, expect, it } from 'vitest';
import { planMembers } from './plan.js';
import { NODE, lbClass, pod, service, slice } from '../../testkit/member-fixtures.js';

describe("planMembers: a Service's problems come from one node hosting its Pods", () => {
  // One Service naming an unknown class, one with a malformed annotation, one refused by the
  // class's tenancy, and one bound to a class that is itself invalid; all with Pods on node-a only.
  const nodes = Array.from({ length: 50 }, (_, i) => `node-${i}`);
  const snapFor = (nodeName: string) => ({
    nodeName,
    // Each agent's Pod cache holds only its node's Pods.
    pods: nodeName === NODE ? [pod('p1')] : [],
    services: [
      service({ 'podlb.io/load-balancer': 'typo' }, { name: 'a' }),
      service({ 'podlb.io/ports': 'grpc' }, { name: 'b' }),
      service({ 'podlb.io/backend': 'other.team' }, { name: 'c' }),
      service({ 'podlb.io/load-balancer': 'broken' }, { name: 'd' }),
    ],
    endpointSlices: ['a', 'b', 'c', 'd'].map((svc) => slice([{ pod: 'p1', ip: '10.244.1.10' }], { service: svc })),
    classes: [lbClass(), lbClass({ haproxy: { instances: [] } }, 'broken')],
  });

  it('N agents without its endpoints write nothing; the one hosting them reports each problem once', () => {
    const elsewhere = nodes.filter((n) => n !== NODE).flatMap((n) => planMembers(snapFor(n)).problems);
    expect(elsewhere).toEqual([]);
    const here = planMembers(snapFor(NODE)).problems;
    expect(here.map((p) => `${p.object.kind}/${p.object.name} ${p.reason}`).sort()).toEqual([
      'LoadBalancerClass/broken InvalidLoadBalancerClass',
      'Service/a UnknownLoadBalancerClass',
      'Service/b InvalidAnnotation',
      'Service/c BackendNotAllowed',
      'Service/d UnknownLoadBalancerClass',
    ]);
  });

  it('a forged slice claiming a node for a Pod that is not there makes that node write nothing', () => {
    const plan = planMembers({ ...snapFor('node-7'), endpointSlices: [slice([{ pod: 'p1', ip: '10.244.1.10', node: 'node-7' }], { service: 'a' })] });
    expect(plan.problems).toEqual([]);
  });

  it('with Pods on every node, one node in the cluster reports each problem, the same one for every agent', () => {
    // Every node hosts a Pod of every Service: before, each of them reported every problem.
    const everywhere = (nodeName: string) => {
      const i = nodes.indexOf(nodeName);
      const own = (svc: string) => `p-${svc}-${i}`;
      return {
        ...snapFor(nodeName),
        pods: ['a', 'b', 'c', 'd'].map((svc) => pod(own(svc), { node: nodeName, ip: `10.244.${i}.${svc.charCodeAt(0)}` })),
        endpointSlices: ['a', 'b', 'c', 'd'].map((svc) =>
          slice(
            // Listed out of name order, as a slice may be.
            [...nodes].reverse().map((n) => ({ pod: `p-${svc}-${nodes.indexOf(n)}`, ip: `10.244.${nodes.indexOf(n)}.${svc.charCodeAt(0)}`, node: n })),
            { service: svc },
          ),
        ),
      };
    };
    const byNode = new Map(nodes.map((n) => [n, planMembers(everywhere(n)).problems]));
    const all = [...byNode.values()].flat();
    expect(all.map((p) => `${p.object.kind}/${p.object.name} ${p.reason}`).sort()).toEqual([
      'LoadBalancerClass/broken InvalidLoadBalancerClass',
      'Service/a UnknownLoadBalancerClass',
      'Service/b InvalidAnnotation',
      'Service/c BackendNotAllowed',
      'Service/d UnknownLoadBalancerClass',
    ]);
    expect([...byNode].filter(([, ps]) => ps.length > 0).map(([n]) => n)).toEqual(['node-0']);
  });

  it("a node's own problem (an address that is not its Pod's) is still reported by that node", () => {
    const other = 'node-9';
    const plan = planMembers({
      nodeName: other,
      pods: [pod('p1', { node: other, ip: '10.244.9.10' })],
      services: [service()],
      endpointSlices: [
        slice([
          { pod: 'p0', ip: '10.244.0.10', node: 'node-0' },
          { pod: 'p1', ip: '10.96.0.1', node: other },
        ]),
      ],
      classes: [lbClass()],
    });
    expect(plan.problems.map((p) => p.reason)).toEqual(['EndpointAddressNotPodIP']);
  });
});
