import { describe, expect, it } from 'vitest';
import type { Service } from '../api/types.js';
import { admissionResponse, decideGateInjection, type AdmissionRequest } from './webhook.js';

const GATE = 'podlb.io/load-balancer-ready';
const svc = (namespace: string, selector: Record<string, string> | undefined, optedIn = true): Service =>
  ({
    metadata: { name: 's', namespace, ...(optedIn ? { annotations: { 'podlb.io/load-balancer': 'l7' } } : {}) },
    spec: { ...(selector ? { selector } : {}), ports: [] },
  }) as unknown as Service;
const req = (o: Partial<AdmissionRequest> & { labels?: Record<string, string>; podNamespace?: string }): AdmissionRequest => ({
  uid: 'u',
  operation: 'CREATE',
  resource: { group: '', version: 'v1', resource: 'pods' },
  namespace: 'ads',
  object: { metadata: { ...(o.labels ? { labels: o.labels } : {}), ...(o.podNamespace ? { namespace: o.podNamespace } : {}) }, spec: { containers: [] } },
  ...o,
});

describe('decideGateInjection', () => {
  it.each([
    ['a subresource (pods/ephemeralcontainers)', req({ labels: { app: 'a' }, subResource: 'ephemeralcontainers' }), 'notPodCreate'],
    ['another resource', req({ labels: { app: 'a' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' } }), 'notPodCreate'],
    ['no object', { ...req({}), object: undefined }, 'notPodCreate'],
    ['the request namespace decides, not an unset object namespace', req({ labels: { app: 'a' } }), 'injected'],
    ['another namespace', req({ labels: { app: 'a' }, namespace: 'web' }), 'noSelectingService'],
    ['dry run is answered the same (no side effects)', req({ labels: { app: 'a' }, dryRun: true }), 'injected'],
  ] as const)('%s', (_n, r, reason) => {
    expect(decideGateInjection(r, [svc('ads', { app: 'a' })]).reason).toBe(reason);
  });

  it('an opted-in Service without a selector selects nothing; an empty selector neither', () => {
    expect(decideGateInjection(req({ labels: { app: 'a' } }), [svc('ads', undefined), svc('ads', {})]).reason).toBe('noSelectingService');
  });

  it('the response echoes the uid and carries a base64 JSONPatch only when injecting', () => {
    const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: req({ labels: { app: 'a' } }) };
    const r = admissionResponse(review, decideGateInjection(review.request, [svc('ads', { app: 'a' })]));
    expect(r.response).toMatchObject({ uid: 'u', allowed: true, patchType: 'JSONPatch' });
    expect(JSON.parse(Buffer.from(r.response.patch!, 'base64').toString())).toEqual([
      { op: 'add', path: '/spec/readinessGates', value: [{ conditionType: GATE }] },
    ]);
    expect(admissionResponse(review, { reason: 'noSelectingService', services: [] }).response).toEqual({ uid: 'u', allowed: true });
  });
});
