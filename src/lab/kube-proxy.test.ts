import { describe, expect, it } from 'vitest';
import type { EndpointSlice, Service } from '../api/types.js';
import { KUBE_PROXY_TABLE, nodePortRules, renderKubeProxyRules, type NodePortRule } from './kube-proxy.js';

const svc = (spec: Record<string, unknown> = {}): Service => ({
  metadata: { name: 'web', namespace: 'demo' },
  spec: { type: 'NodePort', ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 30080 } as never], ...spec },
});

const slice = (name: string, over: Partial<EndpointSlice> & { service?: string; namespace?: string } = {}): EndpointSlice => ({
  metadata: { name, namespace: over.namespace ?? 'demo', labels: { 'kubernetes.io/service-name': over.service ?? 'web' } },
  addressType: over.addressType ?? 'IPv4',
  endpoints: over.endpoints ?? [],
  ports: over.ports ?? [{ name: 'http', port: 8080, protocol: 'TCP' }],
});

describe('nodePortRules', () => {
  it('takes every ready endpoint of the Service on every node, once, with the slice port of the same name', () => {
    const rules = nodePortRules(svc(), [
      slice('web-a', {
        endpoints: [
          { addresses: ['10.244.2.3'], nodeName: 'node2', conditions: { ready: true } },
          { addresses: ['10.244.1.2'], nodeName: 'node1', conditions: { ready: true } },
          { addresses: ['10.244.1.9'], nodeName: 'node1', conditions: { ready: false, serving: true, terminating: true } },
        ],
        ports: [
          { name: 'metrics', port: 9090, protocol: 'TCP' },
          { name: 'http', port: 8080, protocol: 'TCP' },
        ],
      }),
      // The same endpoint in a second slice (slices may overlap while they are rewritten).
      slice('web-b', { endpoints: [{ addresses: ['10.244.2.3'], nodeName: 'node2' }] }),
      slice('web-v6', { addressType: 'IPv6', endpoints: [{ addresses: ['fd00:244::2'], nodeName: 'node2' }] }),
      slice('other', { service: 'api', endpoints: [{ addresses: ['10.244.1.50'], nodeName: 'node1' }] }),
      slice('web-elsewhere', { namespace: 'prod', endpoints: [{ addresses: ['10.244.1.51'], nodeName: 'node1' }] }),
    ]);
    expect(rules).toEqual<NodePortRule[]>([
      {
        servicePort: 'demo/web/tcp/http',
        nodePort: 30080,
        endpoints: [
          { ip: '10.244.1.2', port: 8080, nodeName: 'node1' },
          { ip: '10.244.2.3', port: 8080, nodeName: 'node2' },
        ],
      },
    ]);
  });

  it.each<[string, Record<string, unknown>]>([
    ['a ClusterIP Service has no NodePort', { type: 'ClusterIP' }],
    ['a UDP port is not proxied here', { ports: [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 }] }],
    ['a port without nodePort', { ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }],
  ])('%s', (_name, spec) => {
    expect(nodePortRules(svc(spec), [slice('web-a', { endpoints: [{ addresses: ['10.244.1.2'] }] })])).toEqual([]);
  });

  it('refuses externalTrafficPolicy Local, which it does not model', () => {
    expect(() => nodePortRules(svc({ externalTrafficPolicy: 'Local' }), [])).toThrow(/externalTrafficPolicy Local/);
  });
});

describe('renderKubeProxyRules', () => {
  const rule: NodePortRule = {
    servicePort: 'demo/web/tcp/http',
    nodePort: 30080,
    endpoints: [
      { ip: '10.244.1.2', port: 8080 },
      { ip: '10.244.2.2', port: 8080 },
      { ip: '10.244.2.3', port: 8080 },
    ],
  };

  it('replaces the whole table in one transaction', () => {
    const lines = renderKubeProxyRules([rule]).split('\n');
    expect(lines.slice(0, 3)).toEqual([`add table ip ${KUBE_PROXY_TABLE}`, `delete table ip ${KUBE_PROXY_TABLE}`, `table ip ${KUBE_PROXY_TABLE} {`]);
  });

  it('DNATs a local-destination NodePort to a random endpoint of all, marked for masquerade', () => {
    const text = renderKubeProxyRules([rule]);
    expect(text).toContain('fib daddr type local ip daddr != 127.0.0.0/8 jump nodeports');
    expect(text).toContain('tcp dport 30080 goto external-demo_web_tcp_http');
    expect(text).toMatch(/chain external-demo_web_tcp_http \{\n\s+jump mark-for-masquerade\n\s+goto service-demo_web_tcp_http\n/);
    expect(text).toContain(
      'numgen random mod 3 vmap { 0 : goto endpoint-0-demo_web_tcp_http, 1 : goto endpoint-1-demo_web_tcp_http, 2 : goto endpoint-2-demo_web_tcp_http }',
    );
    for (const [i, ep] of rule.endpoints.entries()) {
      expect(text).toMatch(
        new RegExp(
          `chain endpoint-${i}-demo_web_tcp_http \\{\\n\\s+ip saddr ${ep.ip} jump mark-for-masquerade\\n\\s+meta l4proto tcp dnat to ${ep.ip}:8080\\n`,
        ),
      );
    }
    expect(text).toMatch(
      /type nat hook postrouting priority srcnat; policy accept;\n\s+meta mark & 0x4000 == 0 return\n\s+meta mark set meta mark \^ 0x4000\n\s+masquerade fully-random/,
    );
  });

  it('sends nothing anywhere for a NodePort without endpoints', () => {
    const text = renderKubeProxyRules([{ ...rule, endpoints: [] }]);
    expect(text).not.toContain('dport 30080');
    expect(text).not.toContain('dnat');
  });

  it.each<[string, NodePortRule]>([
    ['a nodePort out of range', { ...rule, nodePort: 70000 }],
    ['an endpoint that is not IPv4', { ...rule, endpoints: [{ ip: '10.244.1.2; flush ruleset', port: 8080 }] }],
    ['an endpoint port of 0', { ...rule, endpoints: [{ ip: '10.244.1.2', port: 0 }] }],
  ])('refuses %s', (_name, bad) => {
    expect(() => renderKubeProxyRules([bad])).toThrow();
  });
});
