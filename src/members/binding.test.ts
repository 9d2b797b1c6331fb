import { describe, expect, it } from 'vitest';
import { parseDurationMs, parseServiceBinding, parseLbClass } from './binding.js';
import { lbClass, service } from '../../testkit/member-fixtures.js';

describe('parseServiceBinding', () => {
  const classes = new Map([['l7lb', parseLbClass(lbClass()).model!]]);
  it.each<{ ann: Record<string, string>; ports?: { name?: string; port: number; protocol?: string }[]; ok: boolean; match?: RegExp }>([
    { ann: {}, ok: true },
    { ann: { 'podlb.io/ports': '80' }, ok: true },
    {
      ann: { 'podlb.io/ports': 'http,metrics' },
      ports: [
        { name: 'http', port: 80 },
        { name: 'metrics', port: 9090 },
      ],
      ok: true,
    },
    {
      ann: { 'podlb.io/ports': 'http,metrics', 'podlb.io/backend': 'one' },
      ports: [
        { name: 'http', port: 80 },
        { name: 'metrics', port: 9090 },
      ],
      ok: false,
      match: /several ports/,
    },
    {
      ann: { 'podlb.io/backend': 'http=ads.a,metrics=ads.b' },
      ports: [
        { name: 'http', port: 80 },
        { name: 'metrics', port: 9090 },
      ],
      ok: true,
    },
    {
      ann: { 'podlb.io/backend': 'http=a,nope=b' },
      ports: [
        { name: 'http', port: 80 },
        { name: 'metrics', port: 9090 },
      ],
      ok: false,
      match: /port=backend/,
    },
    { ann: { 'podlb.io/backend': 'evil backend\nserver x' }, ok: false, match: /must match/ },
    { ann: { 'podlb.io/drain-seconds': '-1' }, ok: false, match: /whole number/ },
    { ann: { 'podlb.io/drain-seconds': 'ten' }, ok: false, match: /whole number/ },
    { ann: { 'podlb.io/ports': 'dns' }, ports: [{ name: 'dns', port: 53, protocol: 'UDP' }], ok: false, match: /not TCP/ },
    { ann: {}, ports: [{ name: 'dns', port: 53, protocol: 'UDP' }], ok: false, match: /no TCP port/ },
    { ann: { 'podlb.io/load-balancer': 'Bad_Name' }, ok: false, match: /must name a LoadBalancerClass/ },
  ])('%j', ({ ann, ports, ok, match }) => {
    const r = parseServiceBinding(service(ann, ports ? { ports } : {}), classes);
    expect(r.result.kind).toBe(ok ? 'bound' : 'invalid');
    if (match) expect(r.problems[0]!.message).toMatch(match);
  });

  it('default backend names are <namespace>.<service>.<port>', () => {
    const r = parseServiceBinding(service({}, { ports: [{ name: 'http', port: 80 }, { port: 8443 }] }), classes);
    expect(r.result.kind === 'bound' && r.result.binding.ports.map((p) => p.backend)).toEqual(['ads.bidder.http', 'ads.bidder.8443']);
  });
});

describe('parseLbClass', () => {
  it.each([
    [{ provider: 'octavia' as const }, /spec.octavia: is required/],
    [{ provider: 'octavia' as const, octavia: { authURL: 'ftp://x', loadBalancerID: 'abc', credentialsSecretRef: { name: 's', key: 'k' } } }, /authURL/],
    [{ provider: 'nginx' }, /must be "haproxy" or "octavia"/],
    [{ haproxy: { instances: [] } }, /at least one/],
    [{ haproxy: { instances: ['http://x'] } }, /unix:\/\/\/path or tcp:\/\/host:port/],
    [{ haproxy: { instances: ['unix:///x'], healthCheck: { interval: 'soon' } } }, /duration/],
    [{ haproxy: { instances: ['unix:///x'], healthCheck: { rise: 0 } } }, /rise/],
    [{ readiness: { timeoutSeconds: -5 } }, /timeoutSeconds/],
    [{ readiness: { preRegister: 'yes' } }, /spec.readiness.preRegister: must be true or false/],
    [{ tenancy: {} }, /spec.tenancy.namespaces/],
    [{ tenancy: { namespaces: [{ name: 'Ads' }] } }, /spec.tenancy.namespaces\[0\].name/],
    [{ tenancy: { namespaces: [{ name: 'ads', backends: ['a*b'] }] } }, /spec.tenancy.namespaces\[0\].backends\[0\]/],
  ])('%j is refused', (spec, match) => {
    const r = parseLbClass(lbClass(spec as never));
    expect(r.model).toBeUndefined();
    expect(r.problems[0]!.message).toMatch(match);
  });

  it('octavia: one instance per load balancer, credentials Secret defaulting to podlb-system', () => {
    const m = parseLbClass(
      lbClass({
        provider: 'octavia',
        octavia: {
          authURL: 'https://keystone.example:5000/v3',
          region: 'RegionOne',
          loadBalancerID: 'f2b4c1d0-0000-4000-8000-000000000001',
          credentialsSecretRef: { name: 'os-creds', key: 'clouds.yaml' },
        },
      }),
    ).model;
    expect(m).toMatchObject({
      provider: 'octavia',
      instances: ['octavia://RegionOne/f2b4c1d0-0000-4000-8000-000000000001'],
      octavia: { credentialsSecret: { namespace: 'podlb-system', name: 'os-creds', key: 'clouds.yaml' } },
    });
  });

  it('defaults', () => {
    expect(parseLbClass(lbClass({ haproxy: { instances: ['tcp://[::1]:9999'] } })).model).toEqual({
      name: 'l7lb',
      provider: 'haproxy',
      instances: ['tcp://[::1]:9999'],
      withoutHealthCheck: 'Immediate',
      timeoutSeconds: 600,
      preRegister: true,
    });
    expect(parseLbClass(lbClass({ readiness: { preRegister: false } })).model?.preRegister).toBe(false);
  });

  it.each([
    ['1s', 1000],
    ['500ms', 500],
    ['1m30s', 90_000],
    ['1.5s', 1500],
    ['1', undefined],
    ['', undefined],
  ])('parseDurationMs(%s) = %s', (t, ms) => expect(parseDurationMs(t)).toBe(ms));
});
