// The members reconciler with the agent's own instance factory: Octavia credentials come from
// the Secret cache, and whatever is wrong with them reaches status and Events instead of
// stopping the run. No load balancer is contacted: every failure here happens before a call.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { LABEL_CREDENTIALS, type Secret } from '../api/types.js';
import { lbClass, NODE, pod, service, slice } from '../../testkit/member-fixtures.js';
import type { MemberOutcome } from '../members/reconciler.js';
import type { MemberPlan } from '../members/plan.js';
import { LB_IN_ERROR } from '../lb/provider.js';
import { failingInstance, LbInstanceFactory } from './lb-instances.js';
import { lbStatus, LbMembersReconciler, MAX_STATUS_MEMBERS } from './lb-members.js';
import { AgentMetrics } from './metrics.js';
import type { AgentSnapshot } from './snapshot.js';
import { agentSnapshot } from '../../testkit/agent-snapshot.js';

const log = pino({ level: 'silent' });
const octavia = lbClass(
  {
    provider: 'octavia',
    haproxy: undefined,
    octavia: {
      authURL: 'https://keystone.example:5000/v3',
      region: 'RegionOne',
      loadBalancerID: '6c1b2f0e-1f0a-4c47-9d38-3f5e1b1a2c3d',
      credentialsSecretRef: { namespace: 'podlb-system', name: 'os-creds', key: 'clouds.yaml' },
    },
  },
  'octa',
);

function snapshot(secrets: Secret[], classes = [octavia]): AgentSnapshot {
  return agentSnapshot({
    nodeName: NODE,
    pods: [pod('p1', { containersReady: true, gateStatus: 'False' })],
    services: [service({ 'podlb.io/load-balancer': 'octa' })],
    slices: [slice([{ pod: 'p1', ip: '10.244.1.10', ready: false }])],
    classes,
    secrets,
    observedAt: performance.now(),
  });
}

function setup(secrets: Secret[]): { r: LbMembersReconciler; secrets: Secret[]; metrics: AgentMetrics } {
  const factory = new LbInstanceFactory({
    nodeName: NODE,
    secretsNamespace: 'podlb-system',
    secret: (name, ns) => secrets.find((s) => s.metadata.name === name && s.metadata.namespace === ns),
  });
  const metrics = new AgentMetrics();
  const r = new LbMembersReconciler({ nodeName: NODE, factory, makeInstance: (ref, cls) => factory.make(ref, cls), log, metrics, random: () => 0.5 });
  return { r, secrets, metrics };
}

describe('LbMembersReconciler', () => {
  it('a load balancer in ERROR is reported as LoadBalancerError, not as unreachable', async () => {
    const factory = new LbInstanceFactory({ nodeName: NODE, secretsNamespace: 'podlb-system', secret: () => undefined });
    const r = new LbMembersReconciler({
      nodeName: NODE,
      factory,
      makeInstance: (ref) => failingInstance(ref.id, 'load balancer in provisioning_status ERROR', LB_IN_ERROR),
      log,
      metrics: new AgentMetrics(),
      random: () => 0.5,
    });
    const res = await r.reconcile(snapshot([]), Date.parse('2026-12-06T10:00:00Z'));
    expect(res.status?.conditions?.[0]).toMatchObject({ type: 'LoadBalancerReachable', status: 'False', reason: 'LoadBalancerError' });
    expect(res.events?.map((e) => e.reason)).toContain('LoadBalancerError');
    await r.close();
  });

  it('a missing credentials Secret: the instance is unreachable in status and an Event, and the run completes', async () => {
    const { r, metrics } = setup([]);
    const now = Date.parse('2026-12-06T10:00:00Z');
    const res = await r.reconcile(snapshot([]), now);
    expect(res.status?.conditions?.[0]).toMatchObject({ type: 'LoadBalancerReachable', status: 'False', reason: 'InstanceUnreachable' });
    // Counted once, under the failure's code: the label says why without naming the Secret.
    expect(await metrics.registry.getSingleMetricAsString('podlb_reconcile_errors_total')).toContain(
      'podlb_reconcile_errors_total{component="members",code="LB_NOT_CONFIGURED"} 1',
    );
    expect(res.status?.conditions?.[0]?.message).toMatch(/credentials Secret podlb-system\/os-creds \(key clouds\.yaml\) not found/);
    expect(res.events?.map((e) => e.reason)).toContain('LoadBalancerUnreachable');
    expect(res.nextWakeAt).toBeGreaterThan(now);
    // The status shows the instance id, never the credentials version its client was built with.
    expect(res.status?.fields?.lb?.instances?.map((x) => x.id)).toEqual(['octavia://RegionOne/6c1b2f0e-1f0a-4c47-9d38-3f5e1b1a2c3d']);
    expect(r.current?.at).toBe(now);
    await r.close();
  });

  it('a Secret that appears gives a new client at once, and its parse error is reported', async () => {
    const secrets: Secret[] = [];
    const { r, metrics } = setup(secrets);
    const now = Date.parse('2026-12-06T10:00:00Z');
    await r.reconcile(snapshot(secrets), now);
    secrets.push({
      metadata: { name: 'os-creds', namespace: 'podlb-system', resourceVersion: '7', labels: { [LABEL_CREDENTIALS]: 'true' } },
      data: { 'clouds.yaml': Buffer.from('not: [valid').toString('base64') },
    } as Secret);
    // One millisecond later: well inside the first client's backoff, yet the new client is asked.
    const res = await r.reconcile(snapshot(secrets), now + 1);
    expect(res.status?.conditions?.[0]?.message).toMatch(/credentials Secret podlb-system\/os-creds: /);
    expect(res.status?.conditions?.[0]?.message).not.toMatch(/not found/);
    // The client changed with the Secret's version; the instance, in status and metrics, did not.
    expect(res.status?.fields?.lb?.instances?.map((x) => x.id)).toEqual(['octavia://RegionOne/6c1b2f0e-1f0a-4c47-9d38-3f5e1b1a2c3d']);
    const up = (await metrics.lbInstanceUp.get()).values.map((v) => v.labels.instance);
    expect(up).toEqual(['octavia://RegionOne/6c1b2f0e-1f0a-4c47-9d38-3f5e1b1a2c3d']);
    await r.close();
  });

  it.each([
    ['a Secret not labelled for podlb', {}, /credentials Secret podlb-system\/os-creds is not labelled podlb\.io\/credentials=true/],
    [
      'a Keystone the operator did not choose',
      { [LABEL_CREDENTIALS]: 'true' },
      /spec\.octavia\.authURL https:\/\/keystone\.example:5000\/v3 is neither allowed/,
    ],
  ])('refused credentials (%s) are reported as CredentialsRefused, not as an unreachable load balancer', async (_n, labels, why) => {
    const clouds = Buffer.from(
      JSON.stringify({
        clouds: { c: { auth: { auth_url: 'https://elsewhere.example:5000/v3', application_credential_id: 'i', application_credential_secret: 's' } } },
      }),
    ).toString('base64');
    const { r } = setup([
      { metadata: { name: 'os-creds', namespace: 'podlb-system', resourceVersion: '3', labels }, data: { 'clouds.yaml': clouds } } as Secret,
    ]);
    const res = await r.reconcile(snapshot([]), Date.parse('2026-12-06T10:00:00Z'));
    expect(res.events?.filter((e) => e.type === 'Warning').map((e) => e.reason)).toEqual(['CredentialsRefused']);
    expect(res.status?.conditions?.[0]?.message).toMatch(why);
    await r.close();
  });

  it('a class naming a credentials Secret outside podlb-system is refused, however usable the Secret is', async () => {
    // A careless class author points at credentials of another namespace; even were they in
    // the agent's cache, labelled and naming this very Keystone, they are not the agent's to use.
    const ref = { namespace: 'kube-system', name: 'cloud-admin', key: 'clouds.yaml' };
    const elsewhere = lbClass({ provider: 'octavia', haproxy: undefined, octavia: { ...octavia.spec.octavia!, credentialsSecretRef: ref } }, 'octa');
    const clouds = Buffer.from(
      JSON.stringify({
        clouds: { c: { auth: { auth_url: 'https://keystone.example:5000/v3', application_credential_id: 'i', application_credential_secret: 's' } } },
      }),
    ).toString('base64');
    const { r } = setup([
      { metadata: { ...ref, resourceVersion: '1', labels: { [LABEL_CREDENTIALS]: 'true' } }, data: { 'clouds.yaml': clouds } } as unknown as Secret,
    ]);
    const res = await r.reconcile(snapshot([], [elsewhere]), Date.parse('2026-12-06T10:00:00Z'));
    expect(res.status?.conditions?.[0]).toMatchObject({ status: 'False' });
    expect(res.status?.conditions?.[0]?.message).toMatch(
      /credentials Secret kube-system\/cloud-admin is outside podlb-system, the only namespace the agent reads Secrets in/,
    );
    expect(res.events?.filter((e) => e.type === 'Warning').map((e) => e.reason)).toContain('CredentialsRefused');
    // The member is planned, and registered on no instance.
    expect(res.status?.fields?.lb?.members?.flatMap((m) => m.instances)).toEqual([]);
    await r.close();
  });
});

describe('lbStatus', () => {
  it('bounds the member list and reports each instance by its id', () => {
    const members = Array.from({ length: MAX_STATUS_MEMBERS + 1 }, (_, i) => ({
      name: `m${String(i).padStart(4, '0')}`,
      backend: 'b',
      pod: { namespace: 'ads', name: `p${i}`, uid: `u${i}` },
      state: 'active',
    }));
    const plan = { members } as unknown as MemberPlan;
    const outcome = {
      details: new Map([['b/m0000', [{ instance: 'octavia://R/x', admin: 'up', health: 'healthy', detail: '' }]]]),
      instances: [{ className: 'c', id: 'octavia://R/x', reachable: true, missingBackends: [] }],
    } as unknown as MemberOutcome;
    const s = lbStatus(plan, outcome);
    expect(s.members).toHaveLength(MAX_STATUS_MEMBERS);
    expect(s.truncated).toBe(true);
    expect(s.instances?.[0]?.id).toBe('octavia://R/x');
  });
});
