// daemonset/controller.yaml and daemonset/webhook.yaml against what src/controller/ does: the
// RBAC grants equal a table of the controller's API calls, the Deployment's flags parse with
// the controller's own parser, and names (Lease, Secret, webhook configuration, Service, path,
// ports) agree between the manifests and the code's defaults.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, startApiServer } from '../src/apiserver/index.js';
import { KubeClient } from '../src/kube/client.js';
import { join } from 'node:path';
import { loadYamlDocs, repoRoot } from '../testkit/install-schema.js';
import { parseControllerFlags } from '../src/controller/main.js';
import { WEBHOOK_PATH } from '../src/controller/webhook-server.js';
import { CONTROLLER_SERVICE_ACCOUNT, controllerResources, mutatingWebhookConfigurationResource } from '../testkit/controller-resources.js';

import type { Obj } from '../src/apiserver/resource-type.js';
const ROOT = repoRoot();
const docs = loadYamlDocs(join(ROOT, 'daemonset/controller.yaml')) as Obj[];
const [mwc] = loadYamlDocs(join(ROOT, 'daemonset/webhook.yaml')) as Obj[];
const one = (kind: string, name?: string): Obj => {
  const found = docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
  expect(found, kind).toHaveLength(1);
  return found[0]!;
};
const defaults = parseControllerFlags([], {}).options;

describe('controller RBAC', () => {
  // Every call the controller makes (src/controller/*.ts, src/kube/events.ts): informers on
  // Services, Nodes, LoadBalancerClasses, PodAddressPools, PodLBNodes and the TLS Secret (by
  // name); PodAddressPool status (merge PATCH, pool-status.ts); the Lease (GET, POST,
  // PUT); the Secret (GET, POST, PUT); the webhook configuration (GET, JSON PATCH); Events on
  // LoadBalancerClasses and PodAddressPools (created in `default`, repeats patched); Calico mode
  // (calico/): BGPPeer informer, Calico BGPPeers/BGPFilters (list/watch, POST, PUT, DELETE),
  // BGPConfigurations and ClusterInformations (informers), Nodes (informer, shared with member
  // GC), Events on BGPPeers; the Octavia batch writer (octavia-batch.ts):
  // Pod and EndpointSlice informers, and GET of the Octavia credentials Secret by name. scope: 'cluster' or a namespace;
  // names: resourceNames ('' = any).
  const GRANTS: [scope: string, group: string, resource: string, names: string, verbs: string][] = [
    ['cluster', '', 'services', '', 'get list watch'],
    ['cluster', '', 'nodes', '', 'get list watch'],
    ['cluster', 'podlb.io', 'loadbalancerclasses', '', 'get list watch'],
    ['cluster', '', 'pods', '', 'list watch'],
    ['cluster', 'discovery.k8s.io', 'endpointslices', '', 'list watch'],
    ['podlb-system', '', 'secrets', 'octavia-credentials', 'get'],
    ['cluster', 'podlb.io', 'podaddresspools', '', 'get list watch'],
    ['cluster', 'podlb.io', 'podlbnodes', '', 'get list watch'],
    ['cluster', 'podlb.io', 'podaddresspools/status', '', 'patch'],
    ['cluster', 'podlb.io', 'bgppeers', '', 'get list watch'],
    ['cluster', 'crd.projectcalico.org', 'bgppeers', '', 'get list watch create update delete'],
    ['cluster', 'crd.projectcalico.org', 'bgpfilters', '', 'get list watch create update delete'],
    ['cluster', 'crd.projectcalico.org', 'bgpconfigurations', '', 'get list watch'],
    ['cluster', 'crd.projectcalico.org', 'clusterinformations', '', 'get list watch'],
    ['cluster', 'admissionregistration.k8s.io', 'mutatingwebhookconfigurations', 'podlb', 'get patch'],
    ['podlb-system', 'coordination.k8s.io', 'leases', 'podlb-controller', 'get update'],
    ['podlb-system', 'coordination.k8s.io', 'leases', '', 'create'],
    ['podlb-controller', '', 'secrets', 'podlb-webhook-tls', 'get list watch update'],
    ['podlb-controller', '', 'secrets', '', 'create'],
    ['default', '', 'events', '', 'create patch'],
  ];
  const expand = (rows: typeof GRANTS): string[] =>
    rows.flatMap(([s, g, r, n, v]) => v.split(' ').map((verb) => `${s} ${g || 'core'} ${r} [${n}] ${verb}`)).sort();

  it('grants exactly the table, bound to the podlb-controller ServiceAccount, no wildcards', () => {
    const sa = one('ServiceAccount', 'podlb-controller');
    const granted: string[] = [];
    const bindings = docs.filter((d) => d.kind === 'ClusterRoleBinding' || d.kind === 'RoleBinding');
    expect(bindings.length).toBe(4);
    for (const b of bindings) {
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
      const role = one(b.roleRef.kind, b.roleRef.name);
      if (b.kind === 'RoleBinding') expect(role.metadata.namespace).toBe(b.metadata.namespace);
      const scope = b.kind === 'ClusterRoleBinding' ? 'cluster' : b.metadata.namespace;
      for (const rule of role.rules as Obj[]) {
        for (const x of [rule.verbs, rule.resources, rule.apiGroups]) expect(x).not.toContain('*');
        const names: string[] = rule.resourceNames ?? [''];
        for (const g of rule.apiGroups)
          for (const r of rule.resources) for (const n of names) for (const v of rule.verbs) granted.push(`${scope} ${g || 'core'} ${r} [${n}] ${v}`);
      }
    }
    expect([...new Set(granted)].sort()).toEqual(expand(GRANTS));
  });

  // Behaviour, not text: the manifests installed into the API server and each row asked of its
  // RBAC authorizer as the controller's own Pod-bound token; a sample of other calls is refused.
  describe('as the controller, against the API server with the manifests installed', () => {
    let api: ApiServer;
    let ctl: KubeClient;
    beforeAll(async () => {
      api = await startApiServer({ resources: controllerResources() });
      api.installManifests();
      ctl = new KubeClient(api.podIdentity({ serviceAccount: CONTROLLER_SERVICE_ACCOUNT, nodeName: 'control-plane' }).kubeConfig());
    });
    afterAll(() => api.close());

    const allowed = async (scope: string, group: string, resource: string, name: string, verb: string): Promise<boolean> => {
      const [res, sub] = resource.split('/');
      const r = await ctl.create<{ status: { allowed: boolean } }>('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        kind: 'SelfSubjectAccessReview',
        spec: {
          resourceAttributes: {
            verb,
            group,
            resource: res,
            ...(sub ? { subresource: sub } : {}),
            ...(name ? { name } : {}),
            ...(scope === 'cluster' ? {} : { namespace: scope }),
          },
        },
      });
      return r.status.allowed;
    };

    it.each(GRANTS.flatMap(([scope, g, r, n, verbs]) => verbs.split(' ').map((v) => [scope, g, r, n, v] as const)))(
      'allows %s %s %s [%s] %s',
      async (scope, g, r, n, v) => {
        expect(await allowed(scope, g, r, n, v)).toBe(true);
      },
    );

    it.each([
      // The Octavia batch writer lists and watches Pods; it never reads one by name or writes one.
      ['cluster', '', 'pods', '', 'get'],
      ['cluster', '', 'pods/status', '', 'patch'],
      ['cluster', '', 'secrets', '', 'list'],
      ['podlb-system', '', 'secrets', '', 'get'],
      ['podlb-controller', '', 'secrets', 'other', 'get'],
      ['podlb-system', 'coordination.k8s.io', 'leases', 'other-lease', 'update'],
      ['cluster', 'admissionregistration.k8s.io', 'mutatingwebhookconfigurations', 'someone-elses', 'patch'],
      ['cluster', 'podlb.io', 'podaddresspools', '', 'patch'],
      ['cluster', 'podlb.io', 'podlbnodes/status', '', 'patch'],
      ['cluster', '', 'nodes', '', 'delete'],
    ] as const)('refuses %s %s %s [%s] %s', async (scope, g, r, n, v) => {
      expect(await allowed(scope, g, r, n, v)).toBe(false);
    });

    it('an informer on the TLS Secret by name is allowed (list/watch with a metadata.name field selector), others are not', async () => {
      await ctl.list('/api/v1/namespaces/podlb-controller/secrets', { fieldSelector: 'metadata.name=podlb-webhook-tls' });
      await expect(ctl.list('/api/v1/namespaces/podlb-controller/secrets')).rejects.toThrow('403');
    });
  });

  it('the named grants name what the controller uses by default', () => {
    expect(defaults).toMatchObject({
      namespace: 'podlb-system',
      leaseName: 'podlb-controller',
      tlsSecretName: 'podlb-webhook-tls',
      tlsSecretNamespace: 'podlb-controller',
      webhookConfigName: mwc!.metadata.name,
      webhookServiceName: 'podlb-webhook',
    });
  });

  it('the webhook CA key lives where no agent may read Secrets', () => {
    // The agent reads every Secret in the namespaces its Roles grant (BGP passwords, Octavia
    // credentials); a node holding the CA key could sign a certificate for the webhook.
    const agentRbac = loadYamlDocs(join(ROOT, 'daemonset/rbac.yaml')) as Obj[];
    const agentSecretScopes = agentRbac
      .filter((d) => (d.kind === 'Role' || d.kind === 'ClusterRole') && (d.rules as Obj[]).some((r) => r.resources.includes('secrets')))
      .map((d) => (d.kind === 'ClusterRole' ? 'cluster' : d.metadata.namespace));
    expect(agentSecretScopes).toEqual(['podlb-system']);
    expect(agentSecretScopes).not.toContain(defaults.tlsSecretNamespace);
    const namespaces = (loadYamlDocs(join(ROOT, 'daemonset/namespace.yaml')) as Obj[]).filter((d) => d.kind === 'Namespace').map((d) => d.metadata.name);
    expect(namespaces).toContain(defaults.tlsSecretNamespace);
  });
});

describe('controller Deployment, Service, PDB', () => {
  const dep = one('Deployment', 'podlb-controller');
  const pod = dep.spec.template.spec;
  const c = pod.containers[0];

  it('2 replicas in podlb-system, rolled without losing a serving replica, spread over nodes', () => {
    expect(dep.metadata.namespace).toBe('podlb-system');
    expect(dep.spec.replicas).toBe(2);
    expect(dep.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 });
    expect(pod.serviceAccountName).toBe('podlb-controller');
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
  });

  it('its args are `podlb controller` flags the controller parses', () => {
    expect(c.args[0]).toBe('controller');
    const env = { POD_NAME: 'podlb-controller-abc', POD_NAMESPACE: 'podlb-system', POD_IP: '10.244.1.7' };
    const args = (c.args as string[]).slice(1).map((a) => a.replace(/\$\((\w+)\)/g, (_m, k: keyof typeof env) => env[k]));
    const parsed = parseControllerFlags(args, {});
    expect(parsed.options).toMatchObject({ identity: 'podlb-controller-abc', namespace: 'podlb-system', webhookPort: 9443 });
    expect(parsed.healthPort).toBe(9253);
    // Listeners on the Pod IP only, and the webhook certificate names it (URL clientConfigs).
    expect(parsed.options).toMatchObject({ webhookHost: '10.244.1.7', ownIpAddresses: ['10.244.1.7'] });
    expect(parsed.healthAddress).toBe('10.244.1.7');
    for (const e of c.env) expect(e.valueFrom.fieldRef.fieldPath).toMatch(/^(metadata\.(name|namespace)|status\.podIP)$/);
  });

  it('probes /healthz and /readyz on the health port; runs non-root, read-only, no capabilities', () => {
    const port = (name: string) => (c.ports as Obj[]).find((p) => p.name === name)!.containerPort;
    expect(port('webhook')).toBe(9443);
    expect(port('metrics')).toBe(9253);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(c.resources.limits.memory).toBeTruthy();
  });

  it('the webhook Service and the PDB select the Deployment Pods', () => {
    const labels = dep.spec.template.metadata.labels;
    const svc = one('Service', 'podlb-webhook');
    for (const [k, v] of Object.entries(svc.spec.selector)) expect(labels[k]).toBe(v);
    expect(svc.spec.ports).toEqual([{ name: 'webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' }]);
    const pdb = one('PodDisruptionBudget', 'podlb-controller');
    expect(pdb.spec.minAvailable).toBe(1);
    for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) expect(labels[k]).toBe(v);
    // Not the agent's Pods.
    expect(labels['app.kubernetes.io/component']).toBe('controller');
  });
});

describe('MutatingWebhookConfiguration', () => {
  const w = mwc!.webhooks[0];

  it('is valid for the API server (the in-process validation of the real rules)', () => {
    expect(mwc!.apiVersion).toBe('admissionregistration.k8s.io/v1');
    expect(mutatingWebhookConfigurationResource().validate!(structuredClone(mwc!))).toEqual([]);
    expect(mwc!.webhooks).toHaveLength(1);
  });

  it('Pod CREATE only, Ignore on failure, no side effects, a small timeout, v1 reviews', () => {
    expect(w.rules).toEqual([{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
    expect(w.failurePolicy).toBe('Ignore');
    expect(w.sideEffects).toBe('None');
    expect(w.timeoutSeconds).toBeLessThanOrEqual(5);
    expect(w.admissionReviewVersions).toEqual(['v1']);
  });

  it('excludes kube-system and podlb-system, has no objectSelector', () => {
    expect(w.namespaceSelector).toEqual({
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'podlb-system'] }],
    });
    expect(w.objectSelector).toBeUndefined();
  });

  it('calls the podlb-webhook Service on the path the server serves, with an empty caBundle the controller fills', () => {
    const svc = one('Service', 'podlb-webhook');
    expect(w.clientConfig).toEqual({
      service: { name: svc.metadata.name, namespace: svc.metadata.namespace, path: WEBHOOK_PATH, port: svc.spec.ports[0].port },
      caBundle: '',
    });
  });
});
