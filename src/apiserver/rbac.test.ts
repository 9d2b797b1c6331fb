// The RBAC rule matcher and the request attributes it is fed, case by case against what the real
// RequestInfoFactory and RBAC authorizer decide.
import { describe, expect, it } from 'vitest';
import { ruleAllows, type RequestAttributes } from './rbac.js';
import { requestAttributes } from './request-info.js';

const user = { username: 'u', groups: [] };
const attrs = (method: string, url: string): RequestAttributes => {
  const u = new URL(url, 'https://x');
  return requestAttributes(user, method, u.pathname, u.searchParams);
};

describe('requestAttributes', () => {
  it.each([
    ['GET', '/api/v1/namespaces/ns/pods', { verb: 'list', resource: 'pods', namespace: 'ns', name: '' }],
    ['GET', '/api/v1/pods?watch=true&fieldSelector=spec.nodeName%3Dn1', { verb: 'watch', resource: 'pods', namespace: '', name: '' }],
    ['GET', '/api/v1/namespaces/ns/secrets?fieldSelector=metadata.name%3Dtls', { verb: 'list', resource: 'secrets', name: 'tls' }],
    ['PATCH', '/api/v1/namespaces/ns/pods/p/status', { verb: 'patch', resource: 'pods', subresource: 'status', name: 'p' }],
    ['POST', '/api/v1/namespaces/ns/serviceaccounts/sa/token', { verb: 'create', resource: 'serviceaccounts', subresource: 'token', name: 'sa' }],
    ['GET', '/api/v1/namespaces/ns', { verb: 'get', resource: 'namespaces', namespace: 'ns', name: 'ns' }],
    ['PUT', '/api/v1/namespaces/ns/finalize', { verb: 'update', resource: 'namespaces', subresource: 'finalize', name: 'ns' }],
    ['DELETE', '/apis/podlb.io/v1alpha1/podaddresspools', { verb: 'deletecollection', apiGroup: 'podlb.io', resource: 'podaddresspools' }],
    ['GET', '/apis/podlb.io/v1alpha1/podlbnodes/n1', { verb: 'get', apiGroup: 'podlb.io', resource: 'podlbnodes', name: 'n1', namespace: '' }],
  ] as const)('%s %s', (method, url, want) => {
    expect(attrs(method, url)).toMatchObject({ resourceRequest: true, ...want });
  });

  it.each(['/api', '/apis', '/api/v1', '/apis/podlb.io/v1alpha1', '/healthz', '/version'])('%s is a non-resource request', (path) => {
    expect(attrs('GET', path)).toMatchObject({ resourceRequest: false, verb: 'get', path });
  });
});

describe('ruleAllows', () => {
  const podStatusPatch = attrs('PATCH', '/api/v1/namespaces/ns/pods/p/status');
  it.each([
    ['exact verb, group, resource/subresource', { verbs: ['patch'], apiGroups: [''], resources: ['pods/status'] }, true],
    ['the resource alone does not cover its subresource', { verbs: ['patch'], apiGroups: [''], resources: ['pods'] }, false],
    ['*/status covers every status subresource', { verbs: ['patch'], apiGroups: [''], resources: ['*/status'] }, true],
    ['* covers everything', { verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, true],
    ['another group', { verbs: ['patch'], apiGroups: ['apps'], resources: ['pods/status'] }, false],
    ['another verb', { verbs: ['update'], apiGroups: [''], resources: ['pods/status'] }, false],
    ['resourceNames naming it', { verbs: ['patch'], apiGroups: [''], resources: ['pods/status'], resourceNames: ['p'] }, true],
    ['resourceNames naming another', { verbs: ['patch'], apiGroups: [''], resources: ['pods/status'], resourceNames: ['q'] }, false],
  ])('%s', (_name, rule, want) => {
    expect(ruleAllows(rule, podStatusPatch)).toBe(want);
  });

  it('resourceNames never match a request without a name (list, create)', () => {
    const rule = { verbs: ['list', 'create'], apiGroups: [''], resources: ['secrets'], resourceNames: ['tls'] };
    expect(ruleAllows(rule, attrs('GET', '/api/v1/namespaces/ns/secrets'))).toBe(false);
    expect(ruleAllows(rule, attrs('POST', '/api/v1/namespaces/ns/secrets'))).toBe(false);
    expect(ruleAllows(rule, attrs('GET', '/api/v1/namespaces/ns/secrets?fieldSelector=metadata.name%3Dtls'))).toBe(true);
  });

  it('nonResourceURLs: exact paths and a trailing * prefix; never a resource request', () => {
    const rule = { verbs: ['get'], nonResourceURLs: ['/healthz', '/apis/*'] };
    expect(ruleAllows(rule, attrs('GET', '/healthz'))).toBe(true);
    expect(ruleAllows(rule, attrs('GET', '/healthz/etcd'))).toBe(false);
    expect(ruleAllows(rule, attrs('GET', '/apis/podlb.io/v1alpha1'))).toBe(true);
    expect(ruleAllows(rule, attrs('GET', '/api'))).toBe(false);
    expect(ruleAllows({ verbs: ['*'], nonResourceURLs: ['*'] }, attrs('GET', '/api/v1/pods'))).toBe(false);
  });
});
